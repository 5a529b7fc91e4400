// The steps of reads with a parser of the caller's: one result, or every
// result already buffered. A parser may say how many bytes it needs in
// all; it is not called again until they are buffered (or the stream has
// ended), so a long message is not parsed from its first byte each time a
// few more bytes arrive.
import { NEED, type Parser, type ReadBuffer } from "./_read_buffer.ts";
import type { Step } from "./_read_steps.ts";
import { EndOfStreamError, LimitExceededError } from "./errors.ts";

/** One result of `parse`; null at a clean end between messages. */
export function parseStep<T>(
  buffer: ReadBuffer,
  parse: Parser<T>,
): Step<T | null> {
  let need = 0;
  return () => {
    if (buffer.size < need && !buffer.eof) return NEED;
    const parsed = parse(
      buffer.buf.subarray(buffer.start, buffer.end),
      buffer.eof,
    );
    if (typeof parsed === "object") {
      return consume(buffer, parsed.value, parsed.length);
    }
    need = needed(buffer, parsed);
    return ended(buffer);
  };
}

/**
 * Every result of `parse` buffered, at least one; null at a clean end
 * between messages. A result of length 0 ends the batch after it.
 */
export function batchStep<T>(
  buffer: ReadBuffer,
  parse: Parser<T>,
): Step<T[] | null> {
  let need = 0;
  return () => {
    if (buffer.size < need && !buffer.eof) return NEED;
    const results: T[] = [];
    for (;;) {
      const parsed = parse(
        buffer.buf.subarray(buffer.start, buffer.end),
        buffer.eof,
      );
      if (typeof parsed !== "object") {
        if (results.length > 0) return results;
        need = needed(buffer, parsed);
        return ended(buffer);
      }
      results.push(consume(buffer, parsed.value, parsed.length));
      if (parsed.length === 0) return results;
    }
  };
}

function consume<T>(buffer: ReadBuffer, value: T, length: number): T {
  if (!Number.isInteger(length) || length < 0 || length > buffer.size) {
    throw new RangeError(
      `Cannot consume ${length} bytes after parsing: only ${buffer.size} are buffered`,
    );
  }
  buffer.start += length;
  return value;
}

/** What a parser's "need more" asks for, checked. */
function needed(buffer: ReadBuffer, parsed: number | undefined): number {
  if (parsed === undefined) return 0;
  if (!Number.isInteger(parsed) || parsed <= buffer.size) {
    throw new RangeError(
      `Cannot wait for ${parsed} bytes in all: the parser must ask for more than the ${buffer.size} buffered`,
    );
  }
  if (parsed > buffer.max) {
    throw new LimitExceededError(
      `Cannot read a message of ${parsed} bytes from ${buffer.peer()}: it is more than maxBufferSize (${buffer.max})`,
      buffer.max,
    );
  }
  return buffer.eof ? 0 : parsed;
}

/** NEED before the end; at the end null, or an error for a cut message. */
function ended(buffer: ReadBuffer): null | typeof NEED {
  if (!buffer.eof) return NEED;
  if (buffer.size === 0) return null;
  throw new EndOfStreamError(
    `Cannot read from ${buffer.peer()}: the stream ended inside a message`,
    buffer.take(buffer.size),
  );
}
