// The read buffer: the bytes that came from a source and have not been
// read yet, and the scans that find lines, records and counts in them. It
// reads from any ByteSource and knows nothing of sockets, deadlines or the
// order of reads (the read queue owns that).
import {
  CR,
  decodeText,
  EMPTY,
  indexOfByte,
  indexOfBytes,
  LF,
} from "./_bytes.ts";
import { mapError } from "./_map_error.ts";
import { givePiece, PIECE_SIZE, takePiece } from "./_pieces.ts";
import {
  ConnectionClosedError,
  EndOfStreamError,
  LimitExceededError,
  type SocketError,
} from "./errors.ts";

/** Where a read buffer's bytes come from: a `Deno.Conn` is one. */
export interface ByteSource {
  /** Reads into `into`: how many bytes came, or null at the end. */
  read(into: Uint8Array): Promise<number | null>;
}

/** What a scan returns when the buffer does not hold its result yet. */
export const NEED: unique symbol = Symbol("need more input");
/** {@linkcode NEED}'s type. */
export type Need = typeof NEED;

/**
 * What a parser given to {@linkcode Socket.prototype.readWith} returns
 * once it has a result.
 *
 * @typeParam T What the parser makes.
 *
 * @example A parser that takes one byte
 * ```ts
 * import type { Parsed } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const firstByte = (bytes: Uint8Array): Parsed<number> | undefined =>
 *   bytes.length > 0 ? { value: bytes[0]!, length: 1 } : undefined;
 * assert.deepEqual(firstByte(new Uint8Array([7, 8])), { value: 7, length: 1 });
 * ```
 */
export interface Parsed<T> {
  /** The value made from the bytes. */
  value: T;
  /** How many of the bytes it used; they are consumed. */
  length: number;
}

/**
 * A parser for {@linkcode Socket.prototype.readWith} and
 * {@linkcode Socket.prototype.readBatch}: it looks at the buffered
 * `bytes` (a view valid only during the call) and returns what it made
 * and how many bytes that used, `undefined` when it needs more bytes, or
 * a number: how many bytes in all it needs before it is worth calling
 * again (more than `bytes.length`).
 *
 * @typeParam T What the parser makes.
 *
 * @example A parser of messages with a one-byte length before them
 * ```ts
 * import type { Parser } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const message: Parser<Uint8Array> = (bytes) => {
 *   if (bytes.length < 1) return undefined;
 *   const total = 1 + bytes[0]!;
 *   if (bytes.length < total) return total;
 *   return { value: bytes.slice(1, total), length: total };
 * };
 * assert.equal(message(new Uint8Array([3, 1]), false), 4);
 * assert.deepEqual(message(new Uint8Array([1, 9, 9]), false), {
 *   value: new Uint8Array([9]),
 *   length: 2,
 * });
 * ```
 */
export type Parser<T> = (
  bytes: Uint8Array,
  eof: boolean,
) => Parsed<T> | number | undefined;

// Reads of this much or more, with nothing buffered, may go straight into
// the caller's array.
const DIRECT_READ = 16 * 1024;
const GROW_READ_LIMIT = 256 * 1024;
const DONE: Promise<void> = Promise.resolve();

/**
 * Buffered input from one source. Bytes `[start, end)` of `buf` are
 * buffered; at most one read of the source is outstanding (`pending`), and
 * what it brings lands in the buffer whoever waits for it, so a caller
 * that gives up waiting loses nothing.
 */
export class ReadBuffer {
  /** The source; replaced when the stream underneath changes (STARTTLS). */
  source: ByteSource;
  /** The most bytes the buffer may hold. */
  readonly max: number;
  /** Names the peer in messages. */
  readonly peer: () => string;
  buf: Uint8Array = EMPTY;
  start = 0;
  end = 0;
  /** The source has ended. */
  eof = false;
  /** What reading failed with; every later read fails with it too. */
  error: SocketError | undefined;
  /** The read of the source in flight, settled once its bytes are in. */
  pending: Promise<void> | undefined;
  /** The source's own promise for that read. */
  pendingRead: Promise<unknown> | undefined;
  /** Reads of the source so far that brought bytes. */
  traffic = 0;
  /** Bytes read from the source so far. */
  bytes = 0;
  /** A reset seen on the way out: the end of stream after it is not clean. */
  resetSeen: unknown;
  /** After a scan returned NEED: how many buffered bytes it ruled out. */
  scanned = 0;
  /** Closed by its owner: reads fail with `closeReason` or a plain close. */
  closed = false;
  closeReason: ConnectionClosedError | undefined;
  // The next read of the source goes straight into this array (set only
  // for a read that cannot be abandoned); #directGot is what it brought.
  #direct: Uint8Array | undefined;
  #directGot = 0;
  #grow = false;
  #isPiece = false;

  constructor(source: ByteSource, max: number, peer: () => string) {
    this.source = source;
    this.max = max;
    this.peer = peer;
  }

  /** How many bytes are buffered. */
  get size(): number {
    return this.end - this.start;
  }

  /** A read will not wait: bytes, the end or an error are there. */
  get ready(): boolean {
    return this.end > this.start || this.eof || this.error !== undefined ||
      this.closed;
  }

  /** Has the next read of the source go into `into` (when none is in flight). */
  readInto(into: Uint8Array): void {
    if (this.pending === undefined) this.#direct = into;
  }

  /** Forgets a direct read asked for but not started. */
  noDirect(): void {
    this.#direct = undefined;
  }

  /** Takes the count a direct read brought (0 when none did). */
  takeDirect(): number {
    const got = this.#directGot;
    this.#directGot = 0;
    return got;
  }

  /** Starts a read of the source unless one is in flight; settles when it has. */
  fill(): Promise<void> {
    const direct = this.#direct;
    this.#direct = undefined;
    if (this.pending !== undefined) return this.pending;
    if (this.closed) {
      this.error ??= this.closedError();
      return DONE;
    }
    if (this.eof || this.error !== undefined) return DONE;
    let into: Uint8Array;
    if (direct !== undefined) into = direct;
    else {
      this.#makeSpace();
      into = this.end === 0 ? this.buf : this.buf.subarray(this.end);
    }
    let read: Promise<number | null>;
    try {
      read = this.source.read(into);
    } catch (error) {
      read = Promise.reject(error);
    }
    this.pendingRead = read;
    return this.pending = read.then(
      direct !== undefined
        ? (n) => n === null ? this.#gotEnd() : this.#gotDirect(n)
        : (n) => n === null ? this.#gotEnd() : this.#gotBytes(n),
      (error) => this.#gotError(error),
    );
  }

  /** Gives the slab piece back once no read of the source can land in it. */
  release(): void {
    if (!this.#isPiece || this.pending !== undefined) return;
    const piece = this.buf;
    const rest = this.end - this.start;
    this.buf = rest === 0 ? EMPTY : piece.slice(this.start, this.end);
    this.start = 0;
    this.end = rest;
    this.#isPiece = false;
    givePiece(piece);
  }

  /** Marks the buffer closed; what it holds can still be read. */
  close(reason: ConnectionClosedError | undefined): void {
    this.closed = true;
    this.closeReason ??= reason;
    this.release();
  }

  /** What a read fails with once the buffer is closed. */
  closedError(): ConnectionClosedError {
    return this.closeReason ?? new ConnectionClosedError(
      `Cannot read from ${this.peer()}: the socket is closed`,
    );
  }

  /**
   * Drops `n` buffered bytes for a caller that peeked at them; `busy`: a
   * read is waiting, and they are its.
   */
  consume(n: number, busy: boolean): void {
    if (!(Number.isInteger(n) && n >= 0 && n <= this.size)) {
      throw new RangeError(
        `Cannot consume ${n} bytes: it must be a whole number, and only ${this.size} are buffered`,
      );
    }
    if (busy) {
      throw new TypeError(
        `Cannot consume bytes from ${this.peer()} while a read is waiting: they belong to it`,
      );
    }
    this.start += n;
  }

  /** The next `n` buffered bytes, copied out. */
  take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    out.set(this.buf.subarray(this.start, this.start + n));
    this.start += n;
    return out;
  }

  /** Copies buffered bytes into `into` from `at`; how many it copied. */
  copyTo(into: Uint8Array, at: number): number {
    const n = Math.min(into.length - at, this.end - this.start);
    into.set(this.buf.subarray(this.start, this.start + n), at);
    this.start += n;
    return n;
  }

  /** Whether a read of `n` bytes with nothing buffered may go direct. */
  static direct(n: number): boolean {
    return n >= DIRECT_READ;
  }

  /**
   * Continues a read of `into.length` bytes that has `have` of them:
   * copies what is buffered, and for a large rest has the next read of
   * the source go straight into `into`. The new count.
   */
  fillUp(into: Uint8Array, have: number): number {
    have += this.takeDirect();
    have += this.copyTo(into, have);
    const rest = into.length - have;
    if (rest >= DIRECT_READ && !this.eof) this.readInto(into.subarray(have));
    return have;
  }

  /** Throws a LimitExceededError for a `what` longer than `limit`. */
  tooLong(what: string, limit: number): never {
    throw new LimitExceededError(
      `Cannot read a ${what} from ${this.peer()}: it is longer than ${limit} bytes`,
      limit,
    );
  }

  /**
   * The next line, without its LF or CRLF, when a whole one is buffered;
   * `scanned` bytes are known to hold no LF.
   */
  line(maxLength: number, scanned: number): string | undefined {
    const buf = this.buf;
    const start = this.start;
    const end = this.end;
    // Search the whole buffer when little lies past the input: that saves
    // a subarray per line, and a stale LF past `end` is ignored.
    const lf = buf.length - end <= 4096
      ? buf.indexOf(LF, start + scanned)
      : indexOfByte(buf, LF, start + scanned, end);
    if (lf >= 0 && lf < end) {
      const stop = lf > start && buf[lf - 1] === CR ? lf - 1 : lf;
      if (stop - start > maxLength) this.tooLong("line", maxLength);
      this.start = lf + 1;
      return decodeText(buf, start, stop);
    }
    if (end - start > maxLength + 1) this.tooLong("line", maxLength);
    return undefined;
  }

  /** The next line as bytes of its own; as {@linkcode line}. */
  lineBytes(maxLength: number, scanned: number): Uint8Array | undefined {
    const buf = this.buf;
    const start = this.start;
    const end = this.end;
    const lf = indexOfByte(buf, LF, start + scanned, end);
    if (lf >= 0) {
      const stop = lf > start && buf[lf - 1] === CR ? lf - 1 : lf;
      if (stop - start > maxLength) this.tooLong("line", maxLength);
      this.start = lf + 1;
      return buf.slice(start, stop);
    }
    if (end - start > maxLength + 1) this.tooLong("line", maxLength);
    return undefined;
  }

  /** At the end: the last line as bytes; null when none is left. */
  lastLineBytes(maxLength: number): Uint8Array | null {
    const n = this.end - this.start;
    if (n === 0) return null;
    if (n > maxLength) this.tooLong("line", maxLength);
    return this.take(n);
  }

  /** Every whole line buffered, when there is one; as {@linkcode line}. */
  lines(maxLength: number, scanned: number): string[] | undefined {
    const buf = this.buf;
    const start = this.start;
    const end = this.end;
    // A line end among the bytes not yet looked at, first, so that a line
    // arriving a byte at a time is not searched from the far end each time.
    const first = buf.length - end <= 4096
      ? buf.indexOf(LF, start + scanned)
      : indexOfByte(buf, LF, start + scanned, end);
    if (first < 0 || first >= end) {
      if (end - start > maxLength + 1) this.tooLong("line", maxLength);
      return undefined;
    }
    let last = first === end - 1 ? first : buf.lastIndexOf(LF, end - 1);
    if (last === first) {
      // One line: no split.
      const stop = first > start && buf[first - 1] === CR ? first - 1 : first;
      if (stop - start > maxLength) this.tooLong("line", maxLength);
      this.start = first + 1;
      return [decodeText(buf, start, stop)];
    }
    if (last - start > maxLength) {
      // Some line may be too long: stop the batch before it.
      for (let from = start;;) {
        const lf = buf.indexOf(LF, from);
        const stop = lf > from && buf[lf - 1] === CR ? lf - 1 : lf;
        if (stop - from > maxLength) {
          if (from === start) this.tooLong("line", maxLength);
          last = from - 1;
          break;
        }
        if (lf === last) break;
        from = lf + 1;
      }
    }
    const text = decodeText(buf, start, last);
    this.start = last + 1;
    const lines = text.split("\n");
    if (text.includes("\r")) {
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!;
        if (line.charCodeAt(line.length - 1) === CR) {
          lines[i] = line.slice(0, -1);
        }
      }
    }
    return lines;
  }

  /** At the end: the last line, without a line end; null when none is left. */
  lastLine(maxLength: number): string | null {
    if (this.end === this.start) return null;
    if (this.end - this.start > maxLength) this.tooLong("line", maxLength);
    const text = decodeText(this.buf, this.start, this.end);
    this.start = this.end;
    return text;
  }

  /**
   * The bytes before `delim` (which is consumed too) when it is buffered;
   * the first `scanned` bytes are known to hold none of it. Null at the
   * end with nothing buffered. On NEED, {@linkcode scanned} says how many
   * bytes the next call may skip.
   */
  until(
    delim: Uint8Array,
    maxLength: number,
    scanned: number,
  ): Uint8Array | null | Need {
    const at = indexOfBytes(this.buf, delim, this.start + scanned, this.end);
    if (at >= 0) {
      if (at - this.start > maxLength) this.tooLong("record", maxLength);
      const record = this.take(at - this.start);
      this.start += delim.length;
      return record;
    }
    if (this.eof) {
      if (this.end === this.start) return null;
      throw new EndOfStreamError(
        `Cannot read a record from ${this.peer()}: the stream ended before the delimiter`,
        this.take(this.end - this.start),
      );
    }
    const skip = Math.max(0, this.end - this.start - delim.length + 1);
    if (skip > maxLength) this.tooLong("record", maxLength);
    this.scanned = skip;
    return NEED;
  }

  #gotEnd(): void {
    if (this.resetSeen !== undefined) this.#gotError(this.resetSeen);
    else {
      this.pending = undefined;
      this.eof = true;
      if (this.closed) this.release();
    }
  }

  #gotBytes(n: number): void {
    this.pending = undefined;
    this.end += n;
    if (this.end === this.buf.length) this.#grow = true;
    this.traffic++;
    this.bytes += n;
    if (this.closed) this.release();
  }

  #gotDirect(n: number): void {
    this.pending = undefined;
    this.#directGot = n;
    this.traffic++;
    this.bytes += n;
    if (this.closed) this.release();
  }

  #gotError(error: unknown): void {
    // A TLS peer that closed without close_notify (as a killed process
    // does) has ended the stream all the same.
    if (error instanceof Deno.errors.UnexpectedEof) return this.#gotEnd();
    this.pending = undefined;
    this.error = this.closed ? this.closedError() : (mapError(error, {
      action: `read from ${this.peer()}`,
    }) as SocketError);
    if (this.closed) this.release();
  }

  #makeSpace(): void {
    const used = this.end - this.start;
    if (used === 0) this.start = this.end = 0;
    const size = this.buf.length;
    const free = size - this.end;
    if (size === 0) {
      if (this.max >= PIECE_SIZE) {
        this.buf = takePiece();
        this.#isPiece = true;
      } else {
        this.buf = new Uint8Array(this.max);
      }
      return;
    }
    if (free >= size >> 2 && !(this.#grow && size < GROW_READ_LIMIT)) return;
    if (!this.#grow && this.start > 0 && used <= size >> 1) {
      this.#compact(used);
      return;
    }
    this.#grow = false;
    if (free > 0 && size >= GROW_READ_LIMIT && used < size >> 1) {
      this.#compact(used);
      return;
    }
    const bigger = Math.min(size * 2, this.max);
    if (bigger - used <= 0) {
      if (free > 0) return;
      if (this.start > 0) {
        this.#compact(used);
        return;
      }
      throw new LimitExceededError(
        `Cannot buffer more than ${this.max} bytes from ${this.peer()}: raise maxBufferSize or read in smaller pieces`,
        this.max,
      );
    }
    const buf = new Uint8Array(bigger);
    buf.set(this.buf.subarray(this.start, this.end));
    if (this.#isPiece) {
      this.#isPiece = false;
      givePiece(this.buf);
    }
    this.buf = buf;
    this.end = used;
    this.start = 0;
  }

  #compact(used: number): void {
    this.buf.copyWithin(0, this.start, this.end);
    this.end = used;
    this.start = 0;
  }
}
