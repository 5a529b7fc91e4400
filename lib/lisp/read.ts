/**
 * An incremental Common Lisp reader working on bytes.
 *
 * @module
 */

import { BYTE_CLASS, CONSTITUENT, WHITESPACE } from "./_chars.ts";
import { MORE_RESULT, Reader } from "./_reader.ts";
import { LispReadError } from "./errors.ts";
import type { LispDatum, ReadResult } from "./types.ts";

/**
 * Bounds that keep a hostile peer from making the reader buffer or recurse without end.
 *
 * @example Rejecting long tokens early
 * ```ts
 * import { LispLimitError, parseLisp, type ReadLimits } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const limits: ReadLimits = { maxTokenLength: 8, maxDepth: 4, maxDatumLength: 64 };
 * assert.throws(() => parseLisp("123456789012", limits), LispLimitError);
 * ```
 */
export interface ReadLimits {
  /**
   * The most bytes in one token (number or symbol), string body or
   * character name.
   *
   * @default {4096}
   */
  maxTokenLength?: number;
  /**
   * The deepest nesting of lists, vectors and quotes. Any value is safe:
   * the reader keeps open forms on its own stack, not the call stack, so a
   * raised limit costs memory in proportion to the depth reached (which
   * `maxDatumLength` bounds), never a stack overflow.
   *
   * @default {64}
   */
  maxDepth?: number;
  /**
   * The most bytes one call may scan from `start` without completing a
   * datum, leading whitespace and comments included. A caller that keeps at
   * most this many unread bytes (plus what arrived last) never buffers more.
   *
   * @default {65536}
   */
  maxDatumLength?: number;
}

export type { ReadResult } from "./types.ts";

const DEFAULT_MAX_TOKEN = 4096;
const DEFAULT_MAX_DEPTH = 64;
const DEFAULT_MAX_DATUM = 65536;

function limit(
  value: number | undefined,
  fallback: number,
  name: string,
): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `Cannot read datum: ${name} must be a positive integer, got ${value}`,
    );
  }
  return value;
}

/**
 * Reads one Common Lisp datum from `bytes[start..end)`, incrementally.
 *
 * Leading whitespace and comments (`; …` and `#| … |#`) are skipped. A
 * number or symbol is complete only when a terminator follows it (whitespace,
 * `(`, `)`, `"`, `'`, `;`, `` ` `` or `,`) or `eof` is true: with `"1 3 "`
 * and `eof` false the reader returns 1 then 3, while with `"1 3"` the second
 * call returns `more` until `eof` is true. Callers that get `more` read more
 * bytes and call again from the same `start`; the work per call is linear in
 * the bytes scanned and stops at the {@linkcode ReadLimits}.
 *
 * Supported syntax: Common Lisp numbers (integers with optional sign or
 * trailing dot, ratios, floats with exponent markers `e f s d l`, `#x #b #o
 * #NNr` radixes, `#C(re im)`), symbols (upcased unless escaped with `\` or
 * `|…|`; keywords), strings, characters (`#\a`, `#\Space`), lists, dotted
 * lists, `'x`, `#'x`, and `#(…)` vectors. As in Common Lisp, `()` is the
 * symbol `NIL`. Floats are rounded exactly as SBCL's
 * reader rounds them; without a marker they are single-floats.
 *
 * @param bytes The buffer, UTF-8 text.
 * @param start Index of the first byte to read.
 * @param end Index just after the last byte available.
 * @param eof Whether the input ends at `end`.
 * @param limits Bounds on token length, nesting depth and datum length.
 * @returns The datum and the index after it, or `more`, or `eof`.
 * @throws {LispReadError} For invalid input: an unbalanced `)`, `#.` (read-time evaluation is never honoured), unsupported `#` syntax, a zero denominator, a float out of range, or the end of input inside a datum.
 * @throws {LispLimitError} As soon as the bytes seen exceed one of the limits.
 * @throws {RangeError} If `start`/`end` are outside the buffer or a limit is not a positive integer.
 *
 * @example Reading a request as it arrives
 * ```ts
 * import assert from "node:assert/strict";
 * import { readDatum } from "@sock/sock";
 *
 * const bytes = new TextEncoder().encode("1 3");
 * const first = readDatum(bytes, 0, bytes.length, false);
 * assert.deepEqual(first, { kind: "datum", datum: 1n, next: 1 });
 * assert.deepEqual(readDatum(bytes, 1, bytes.length, false), { kind: "more" });
 * assert.deepEqual(readDatum(bytes, 1, bytes.length, true), {
 *   kind: "datum",
 *   datum: 3n,
 *   next: 3,
 * });
 * assert.deepEqual(readDatum(bytes, 3, bytes.length, true), { kind: "eof" });
 * ```
 */
export function readDatum(
  bytes: Uint8Array,
  start: number,
  end: number,
  eof: boolean,
  limits?: ReadLimits,
): ReadResult {
  if (
    !Number.isInteger(start) || !Number.isInteger(end) || start < 0 ||
    start > end || end > bytes.length
  ) {
    throw new RangeError(
      `Cannot read datum: range ${start}..${end} is outside the buffer of ${bytes.length} bytes`,
    );
  }
  const maxToken = limit(
    limits?.maxTokenLength,
    DEFAULT_MAX_TOKEN,
    "maxTokenLength",
  );
  const maxDepth = limit(limits?.maxDepth, DEFAULT_MAX_DEPTH, "maxDepth");
  const maxDatum = limit(
    limits?.maxDatumLength,
    DEFAULT_MAX_DATUM,
    "maxDatumLength",
  );
  // Fast path: a small decimal integer.
  const scanEnd = Math.min(end, start + maxDatum);
  let i = start;
  while (i < scanEnd && BYTE_CLASS[bytes[i]!] === WHITESPACE) i++;
  if (i < scanEnd) {
    let j = i;
    const sign = bytes[j];
    if (sign === 0x2d || sign === 0x2b) j++;
    const digits = j;
    let value = 0;
    while (j < end && j - digits < 15) {
      const d = bytes[j]! - 48;
      if (d < 0 || d > 9) break;
      value = value * 10 + d;
      j++;
    }
    if (j > digits && j - i <= maxToken && j - start <= maxDatum) {
      if (j < end) {
        if (BYTE_CLASS[bytes[j]!] !== CONSTITUENT) {
          return {
            kind: "datum",
            datum: BigInt(sign === 0x2d ? -value : value),
            next: j,
          };
        }
      } else if (eof) {
        return {
          kind: "datum",
          datum: BigInt(sign === 0x2d ? -value : value),
          next: j,
        };
      } else {
        return MORE_RESULT;
      }
    }
  }
  return new Reader(bytes, start, end, eof, maxToken, maxDepth, maxDatum)
    .read();
}

const ENCODER = new TextEncoder();

/**
 * Parses text holding exactly one Common Lisp datum, surrounded by optional
 * whitespace and comments. Error offsets are UTF-8 byte offsets.
 *
 * @param text The text to parse.
 * @param limits Bounds on token length, nesting depth and datum length.
 * @returns The datum.
 * @throws {LispReadError} If the text is not exactly one valid datum.
 *
 * @example Parsing numbers and data
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatLisp, makeRatio, parseLisp } from "@sock/sock";
 *
 * assert.equal(parseLisp(" -42 "), -42n);
 * assert.deepEqual(parseLisp("#xFF/2"), makeRatio(255n, 2n));
 * assert.equal(formatLisp(parseLisp("(:error \"x\")")), '(:ERROR "x")');
 * assert.throws(() => parseLisp("1 2"));
 * ```
 */
export function parseLisp(text: string, limits?: ReadLimits): LispDatum {
  const bytes = ENCODER.encode(text);
  const result = readDatum(bytes, 0, bytes.length, true, limits);
  if (result.kind !== "datum") {
    throw new LispReadError("Cannot parse text: no datum found", bytes.length);
  }
  const rest = readDatum(bytes, result.next, bytes.length, true, limits);
  if (rest.kind !== "eof") {
    throw new LispReadError(
      "Cannot parse text: more than one datum",
      result.next,
    );
  }
  return result.datum;
}
