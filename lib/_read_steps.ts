// The steps of the socket's reads of counted bytes: each is run by the
// read queue over the read buffer until it returns a result. A step that
// needs no deadline may have the next read of the source go straight into
// the caller's array.
import { concat } from "./_bytes.ts";
import { NEED, type Need, ReadBuffer } from "./_read_buffer.ts";
import { EndOfStreamError, LimitExceededError } from "./errors.ts";

/** A step for the read queue. */
export type Step<T> = () => T | Need;

/** Some bytes into `into`: what is buffered, or one read of the source. */
export function someStep(
  buffer: ReadBuffer,
  into: Uint8Array,
  direct: boolean,
): Step<number | null> {
  return () => {
    const got = buffer.takeDirect();
    if (got > 0) return got;
    if (buffer.size > 0) return buffer.copyTo(into, 0);
    if (buffer.eof) return null;
    if (direct) buffer.readInto(into);
    return NEED;
  };
}

/**
 * Exactly `into.length` bytes into `into`. With a deadline they wait in
 * the buffer until all are there, so a timeout leaves every one of them for
 * the next read; without one they are copied out as they come.
 */
export function fullStep(
  buffer: ReadBuffer,
  into: Uint8Array,
  deadline: boolean,
): Step<Uint8Array> {
  const n = into.length;
  if (deadline) {
    return () => {
      const have = buffer.size;
      if (have < n && !buffer.eof) return NEED;
      buffer.copyTo(into, 0);
      if (have >= n) return into;
      throw endedAfter(buffer, n, have, into.subarray(0, have));
    };
  }
  let have = 0;
  return () => {
    have = buffer.fillUp(into, have);
    if (have === n) return into;
    if (buffer.eof) {
      throw endedAfter(buffer, n, have, into.subarray(0, have));
    }
    return NEED;
  };
}

/**
 * Exactly `into.length` bytes into `into`, copied out of the buffer as they
 * come even with a deadline (so not bound by the buffer's size); `have`
 * tells how many are in `into` so far.
 */
export function bodyStep(
  buffer: ReadBuffer,
  into: Uint8Array,
): { step: Step<Uint8Array>; partial: () => Uint8Array } {
  const n = into.length;
  let have = 0;
  return {
    step: () => {
      have += buffer.copyTo(into, have);
      if (have === n) return into;
      if (buffer.eof) {
        throw endedAfter(buffer, n, have, into.subarray(0, have));
      }
      return NEED;
    },
    partial: () => into.subarray(0, have),
  };
}

/** Exactly `n` bytes in an array of their own; as {@linkcode fullStep}. */
export function exactStep(
  buffer: ReadBuffer,
  n: number,
  deadline: boolean,
): Step<Uint8Array> {
  if (deadline) {
    return () => {
      const have = buffer.size;
      if (have >= n) return buffer.take(n);
      if (!buffer.eof) return NEED;
      throw endedAfter(buffer, n, have, buffer.take(have));
    };
  }
  // Copied out as they come, so `n` is not bound by maxBufferSize.
  let out: Uint8Array | undefined;
  let have = 0;
  return () => {
    if (out === undefined) {
      if (buffer.size >= n) return buffer.take(n);
      out = new Uint8Array(n);
    }
    have = buffer.fillUp(out, have);
    if (have === n) return out;
    if (buffer.eof) throw endedAfter(buffer, n, have, out.slice(0, have));
    return NEED;
  };
}

/** One line of text; at the end, what is left as the last line, or null. */
export function lineStep(
  buffer: ReadBuffer,
  maxLength: number,
): Step<string | null> {
  let scanned = 0;
  return () => {
    const line = buffer.line(maxLength, scanned);
    if (line !== undefined) return line;
    if (buffer.eof) return buffer.lastLine(maxLength);
    scanned = buffer.size;
    return NEED;
  };
}

/** Every whole line buffered, at least one; as {@linkcode lineStep}. */
export function linesStep(
  buffer: ReadBuffer,
  maxLength: number,
): Step<string[] | null> {
  let scanned = 0;
  return () => {
    const lines = buffer.lines(maxLength, scanned);
    if (lines !== undefined) return lines;
    if (buffer.eof) {
      const last = buffer.lastLine(maxLength);
      return last === null ? null : [last];
    }
    scanned = buffer.size;
    return NEED;
  };
}

/** One line as bytes of its own; at the end, the last line, or null. */
export function lineBytesStep(
  buffer: ReadBuffer,
  maxLength: number,
): Step<Uint8Array | null> {
  let scanned = 0;
  return () => {
    const line = buffer.lineBytes(maxLength, scanned);
    if (line !== undefined) return line;
    if (buffer.eof) return buffer.lastLineBytes(maxLength);
    scanned = buffer.size;
    return NEED;
  };
}

/** Every whole line buffered as bytes, at least one; as {@linkcode lineBytesStep}. */
export function linesBytesStep(
  buffer: ReadBuffer,
  maxLength: number,
): Step<Uint8Array[] | null> {
  const one = lineBytesStep(buffer, maxLength);
  return () => {
    const first = one();
    if (first === NEED || first === null) return first;
    const lines = [first];
    // A long line after others ends the batch; the next read throws.
    try {
      for (let line; (line = buffer.lineBytes(maxLength, 0)) !== undefined;) {
        lines.push(line);
      }
    } catch {
      // Left for the next read.
    }
    return lines;
  };
}

/** The bytes before `delim`; null at the end with nothing buffered. */
export function untilStep(
  buffer: ReadBuffer,
  delim: Uint8Array,
  maxLength: number,
): Step<Uint8Array | null> {
  let scanned = 0;
  return () => {
    const record = buffer.until(delim, maxLength, scanned);
    if (record === NEED) scanned = buffer.scanned;
    return record;
  };
}

/** Everything to the end of the stream, at most `maxLength` bytes. */
export function allStep(
  buffer: ReadBuffer,
  maxLength: number,
  deadline: boolean,
): Step<Uint8Array> {
  if (deadline) {
    return () => {
      const n = buffer.size;
      if (n > maxLength) buffer.tooLong("stream", maxLength);
      return buffer.eof ? buffer.take(n) : NEED;
    };
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  return () => {
    const n = buffer.size;
    if (n > 0) {
      if (total + n > maxLength) buffer.tooLong("stream", maxLength);
      chunks.push(buffer.take(n));
      total += n;
    }
    return buffer.eof ? concat(chunks, total) : NEED;
  };
}

/** A view of what is buffered, once there is something (`more`: more than now). */
export function peekStep(
  buffer: ReadBuffer,
  more: boolean,
): Step<{ bytes: Uint8Array; eof: boolean }> {
  let waited = false;
  return () => {
    if (!buffer.eof && (more ? !waited : buffer.size === 0)) {
      waited = true;
      return NEED;
    }
    if (waited && buffer.error !== undefined) throw buffer.error;
    return {
      bytes: buffer.buf.subarray(buffer.start, buffer.end),
      eof: buffer.eof,
    };
  };
}

/**
 * The error for a read of `n` bytes with a deadline when `n` is more than
 * the buffer may hold; undefined when it fits.
 */
export function overBuffer(
  buffer: ReadBuffer,
  n: number,
): LimitExceededError | undefined {
  if (n <= buffer.max) return undefined;
  return new LimitExceededError(
    `Cannot read ${n} bytes from ${buffer.peer()} with a timeout or signal: that is more than maxBufferSize (${buffer.max}); raise it, or read without one`,
    buffer.max,
  );
}

function endedAfter(
  buffer: ReadBuffer,
  n: number,
  have: number,
  partial: Uint8Array,
): EndOfStreamError {
  return new EndOfStreamError(
    `Cannot read ${n} bytes from ${buffer.peer()}: the stream ended after ${have} bytes`,
    partial,
  );
}

/** Whether a read into `into` may go straight into it. */
export function mayReadDirect(into: Uint8Array): boolean {
  return ReadBuffer.direct(into.length);
}
