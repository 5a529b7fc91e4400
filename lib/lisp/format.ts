/**
 * Printing Common Lisp data as SBCL's `(format nil "~s" x)` does.
 *
 * @module
 */

import { DOUBLE, type FloatFormat, shortestDigits, SINGLE } from "./_float.ts";
import { CHAR_NAMES } from "./_chars.ts";
import { formatSymbolName } from "./_symbol_name.ts";
import {
  Complex,
  DoubleFloat,
  LispChar,
  type LispDatum,
  LispList,
  LispSymbol,
  LispVector,
  Ratio,
  SingleFloat,
} from "./types.ts";

/**
 * Prints a datum exactly as SBCL's `(format nil "~s" x)` prints it, for every
 * number:
 *
 * - integers in decimal, ratios as `n/d`, complexes as `#C(re im)`;
 * - floats with the shortest digits that read back to the same value in the
 *   value's own format (binary32 for single-floats), positional when
 *   1e-3 ≤ |x| < 1e7 (`100.0`, `0.001`, `3.0d0`) and in exponent form
 *   otherwise (`1.0e7`, `9.0e-4`, `1.5d-7`); double-floats always carry a
 *   `d` exponent.
 *
 * Other data print readably as SBCL prints them with the standard readtable:
 * symbols upcased, between bars when needed (`|a b|`, `|1|`), keywords as
 * `:FOO`, strings with `"` and `\` escaped, characters as `#\a` or
 * `#\Newline`, lists (`NIL` when empty, `'X` for `(QUOTE X)`) and `#(…)`
 * vectors. Everything prints on one line (SBCL's pretty printer would break
 * lines longer than its right margin), and characters beyond ASCII print as
 * themselves rather than by their Unicode names. Data nested to any depth
 * print without recursion, so deep data cannot overflow the call stack.
 *
 * @param datum The datum to print.
 * @returns Its printed representation.
 *
 * @example Printing numbers
 * ```ts
 * import assert from "node:assert/strict";
 * import { DoubleFloat, formatLisp, makeRatio, SingleFloat } from "@sock/sock";
 *
 * assert.equal(formatLisp(4n), "4");
 * assert.equal(formatLisp(makeRatio(1n, 3n)), "1/3");
 * assert.equal(formatLisp(new SingleFloat(1e7)), "1.0e7");
 * assert.equal(formatLisp(new SingleFloat(0.001)), "0.001");
 * assert.equal(formatLisp(new DoubleFloat(0.1 + 0.2)), "0.30000000000000004d0");
 * ```
 *
 * @example Printing other data
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatLisp, LispList, LispSymbol } from "@sock/sock";
 *
 * const reply = new LispList([new LispSymbol("ERROR", true), "FOO is not a number"]);
 * assert.equal(formatLisp(reply), '(:ERROR "FOO is not a number")');
 * ```
 */
export function formatLisp(datum: LispDatum): string {
  if (datum instanceof LispList || datum instanceof LispVector) {
    return formatNested(datum);
  }
  return formatAtom(datum);
}

/** Prints a datum that is neither a list nor a vector. */
function formatAtom(datum: LispDatum): string {
  if (typeof datum === "bigint") return String(datum);
  if (typeof datum === "string") return formatString(datum);
  if (datum instanceof SingleFloat) return formatFloat(datum.value, SINGLE);
  if (datum instanceof DoubleFloat) return formatFloat(datum.value, DOUBLE);
  if (datum instanceof Ratio) return `${datum.num}/${datum.den}`;
  if (datum instanceof Complex) {
    return `#C(${formatAtom(datum.re)} ${formatAtom(datum.im)})`;
  }
  if (datum instanceof LispSymbol) {
    const name = formatSymbolName(datum.name);
    return datum.keyword ? `:${name}` : name;
  }
  if (datum instanceof LispChar) return formatChar(datum.char);
  throw new TypeError(`Cannot print value: ${String(datum)} is not Lisp data`);
}

function formatFloat(value: number, format: FloatFormat): string {
  const sign = value < 0 || Object.is(value, -0) ? "-" : "";
  const suffix = format.single ? "" : "d0";
  if (value === 0) return `${sign}0.0${suffix}`;
  const { digits, k } = shortestDigits(Math.abs(value), format);
  if (k > -3 && k < 8) {
    if (k <= 0) return `${sign}0.${"0".repeat(-k)}${digits}${suffix}`;
    if (digits.length <= k) {
      return `${sign}${digits}${"0".repeat(k - digits.length)}.0${suffix}`;
    }
    return `${sign}${digits.slice(0, k)}.${digits.slice(k)}${suffix}`;
  }
  const marker = format.single ? "e" : "d";
  return `${sign}${digits[0]}.${digits.slice(1) || "0"}${marker}${k - 1}`;
}

function formatString(text: string): string {
  return `"${text.replace(/["\\]/g, "\\$&")}"`;
}

function formatChar(char: string): string {
  const code = char.codePointAt(0)!;
  if (code < 32) return `#\\${CHAR_NAMES[code]}`;
  if (code === 127) return "#\\Rubout";
  return `#\\${char}`;
}

/** A list or vector being printed: its elements left, then its end. */
interface Open {
  readonly items: readonly LispDatum[];
  next: number;
  /** The first element printed (1 after a `'` or `#'` prefix). */
  readonly first: number;
  tail: LispDatum | undefined;
  readonly close: string;
}

/**
 * Prints a list or vector, keeping the open ones on an explicit stack so
 * that no nesting depth can overflow the call stack.
 */
function formatNested(root: LispList | LispVector): string {
  const open: Open[] = [];
  let out = "";
  let datum: LispDatum | undefined = root;
  for (;;) {
    if (datum instanceof LispList) {
      out += openList(datum, open);
    } else if (datum instanceof LispVector) {
      out += "#(";
      open.push({
        items: datum.items,
        next: 0,
        first: 0,
        tail: undefined,
        close: ")",
      });
    } else if (datum !== undefined) {
      out += formatAtom(datum);
    }
    const frame = open[open.length - 1];
    if (frame === undefined) return out;
    if (frame.next < frame.items.length) {
      if (frame.next > frame.first) out += " ";
      datum = frame.items[frame.next++];
    } else if (frame.tail !== undefined) {
      out += " . ";
      datum = frame.tail;
      frame.tail = undefined;
    } else {
      out += frame.close;
      open.pop();
      datum = undefined;
    }
  }
}

/** Starts printing a list: pushes what is left to print and returns its opening. */
function openList(list: LispList, open: Open[]): string {
  const { items, tail } = list;
  if (items.length === 0 && tail === undefined) return "NIL";
  if (items.length === 2 && tail === undefined) {
    const head = items[0];
    if (head instanceof LispSymbol && !head.keyword) {
      const prefix = head.name === "QUOTE"
        ? "'"
        : head.name === "FUNCTION"
        ? "#'"
        : undefined;
      if (prefix !== undefined) {
        open.push({ items, next: 1, first: 1, tail: undefined, close: "" });
        return prefix;
      }
    }
  }
  open.push({ items, next: 0, first: 0, tail, close: ")" });
  return "(";
}
