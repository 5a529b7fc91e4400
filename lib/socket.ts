/**
 * The connected stream socket: one buffer, read as bytes or as text.
 *
 * @module
 */
import {
  checkTimeout,
  Deadline,
  hasDeadline,
  type WaitOptions,
  waitUntil,
} from "./_deadline.ts";
import { describeAddr } from "./_addr.ts";
import { mapError } from "./_map_error.ts";
import {
  ConnectionClosedError,
  EndOfStreamError,
  LimitExceededError,
  type SocketError,
} from "./errors.ts";

export type { WaitOptions } from "./_deadline.ts";

/**
 * Options for a {@linkcode Socket}, given to `connect()` or `listen()`.
 *
 * @example A small buffer for a line protocol
 * ```ts
 * import { LimitExceededError, listen, connect } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = listen({ port: 0, maxBufferSize: 1024 });
 * await using client = await connect({ port: listener.port });
 * await using server = await listener.accept();
 * await client.write("x".repeat(5000));
 * await client.flush();
 * await assert.rejects(server.readLine({ maxLength: 10_000 }), LimitExceededError);
 * ```
 */
export interface SocketOptions {
  /**
   * The most bytes the read buffer may hold. A line, a delimited record or a
   * Lisp datum longer than this cannot be read and gives a
   * `LimitExceededError`; this is what keeps a peer from making the program
   * buffer unbounded data. `readExactly()`, `readAll()` and `read()` copy out
   * as they go and are not bound by it.
   *
   * @default {16777216}
   */
  maxBufferSize?: number;
}

/**
 * Options for {@linkcode Socket.prototype.readLine}.
 *
 * @example Bounding a line
 * ```ts
 * import { connect, listen } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = listen({ port: 0 });
 * await using client = await connect({ port: listener.port });
 * await using server = await listener.accept();
 * await client.write("short\n");
 * await client.flush();
 * assert.equal(await server.readLine({ maxLength: 80, timeout: 1000 }), "short");
 * ```
 */
export interface ReadLineOptions extends WaitOptions {
  /**
   * The longest line accepted, in bytes, not counting the line end.
   *
   * @default {65536}
   */
  maxLength?: number;
}

/**
 * Options for {@linkcode Socket.prototype.readUntil}.
 *
 * @example Records ended by a blank line
 * ```ts
 * import { connect, listen } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = listen({ port: 0 });
 * await using client = await connect({ port: listener.port });
 * await using server = await listener.accept();
 * await client.write("a: 1\r\n\r\nrest");
 * await client.flush();
 * const head = await server.readUntil("\r\n\r\n", { maxLength: 8192, timeout: 1000 });
 * assert.equal(new TextDecoder().decode(head!), "a: 1");
 * ```
 */
export interface ReadUntilOptions extends WaitOptions {
  /**
   * The most bytes accepted before the delimiter.
   *
   * @default {65536}
   */
  maxLength?: number;
}

/**
 * Options for {@linkcode Socket.prototype.readAll}.
 *
 * @example Reading a whole reply
 * ```ts
 * import { connect, listen } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = listen({ port: 0 });
 * await using client = await connect({ port: listener.port });
 * await using server = await listener.accept();
 * await server.write("4");
 * await server.close();
 * const reply = await client.readAll({ maxLength: 1024, timeout: 1000 });
 * assert.equal(new TextDecoder().decode(reply), "4");
 * ```
 */
export interface ReadAllOptions extends WaitOptions {
  /**
   * The most bytes accepted before the end of the stream.
   *
   * @default {Infinity}
   */
  maxLength?: number;
}

/**
 * Options for {@linkcode Socket.prototype.close}.
 *
 * @example Dropping unsent output
 * ```ts
 * import { connect, listen } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = listen({ port: 0 });
 * await using client = await connect({ port: listener.port });
 * await using server = await listener.accept();
 * await server.write("never sent");
 * await server.close({ abort: true });
 * assert.equal((await client.readAll()).length, 0);
 * ```
 */
export interface CloseOptions {
  /**
   * Close at once and drop buffered output, like Lisp's `(close s :abort t)`.
   *
   * @default {false}
   */
  abort?: boolean;
}

const GROW_READ_LIMIT = 256 * 1024;
const WRITE_HIGH_WATER = 64 * 1024;
const DEFAULT_MAX_LINE = 65536;
const DEFAULT_MAX_BUFFER = 16 * 1024 * 1024;
const EMPTY = new Uint8Array(0);
const DONE: Promise<void> = Promise.resolve();
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const LF = 10;
const CR = 13;

// A new socket's first read buffer, and its first write buffer, is a piece
// of a shared slab: allocating an ArrayBuffer costs far more than a
// subarray, and most connections never need more than a piece. A closed
// socket gives its pieces back when no read or write still holds them.
const PIECE_SIZE = 1024;
const SLAB_SIZE = 64 * PIECE_SIZE;
const MAX_FREE_PIECES = 1024;
const freePieces: Uint8Array[] = [];

function takePiece(): Uint8Array {
  const piece = freePieces.pop();
  if (piece !== undefined) return piece;
  const slab = new Uint8Array(SLAB_SIZE);
  for (let at = SLAB_SIZE - PIECE_SIZE; at > 0; at -= PIECE_SIZE) {
    freePieces.push(slab.subarray(at, at + PIECE_SIZE));
  }
  return slab.subarray(0, PIECE_SIZE);
}

function givePiece(piece: Uint8Array): void {
  if (freePieces.length < MAX_FREE_PIECES) freePieces.push(piece);
}

/**
 * A connected TCP (or Unix) stream socket. It is bivalent, like an Allegro
 * CL multivalent socket: bytes and text are read from one buffer, so
 * `readLine()`, `readExactly()` and `read()` can be mixed freely, and writes
 * of strings and bytes go to one output buffer that `flush()` sends.
 *
 * Every read takes a `timeout` and a `signal`. A timed-out read loses
 * nothing: underneath there is at most one outstanding read per socket,
 * feeding the buffer, and the bytes it brings are there for the next call.
 *
 * Writes are buffered; `flush()` (Lisp's `force-output`) sends them, and
 * `write()` flushes by itself once 64 KiB are waiting. `close()` and
 * `await using` flush before they close.
 *
 * @example A request and a reply
 * ```ts
 * import { connect, listen } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * await using listener = listen({ port: 0 });
 * await using client = await connect({ port: listener.port });
 * await using server = await listener.accept();
 *
 * await client.write("hello\r\n");
 * await client.flush();
 * assert.equal(await server.readLine(), "hello");
 *
 * await server.write(new Uint8Array([1, 2, 3]));
 * await server.flush();
 * assert.deepEqual(await client.readExactly(3), new Uint8Array([1, 2, 3]));
 * ```
 */
export class Socket {
  readonly #conn: Deno.Conn;
  readonly #maxBufferSize: number;
  readonly #localAddr: Deno.Addr;
  readonly #remoteAddr: Deno.Addr;

  // Read side: bytes [#start, #end) of #buf are buffered input.
  #buf: Uint8Array = EMPTY;
  #start = 0;
  #end = 0;
  #eof = false;
  #readError: SocketError | undefined;
  #pending: Promise<void> | undefined;
  #grow = false;
  #bufIsPiece = false;

  // Write side: bytes [0, #wlen) of #wbuf wait to be sent.
  #wbuf: Uint8Array = EMPTY;
  #wlen = 0;
  #wbufIsPiece = false;
  #retiredPiece: Uint8Array | undefined;
  #flushing: Promise<void> | undefined;
  #draining = false;
  #writeError: unknown;
  #writeClosed = false;
  #closed = false;
  #lastActive = performance.now();
  // TCP_NODELAY for a TCP connection (the documented default), set just before the
  // connection's second write: Nagle's algorithm never holds back the
  // first, so a one-shot connection is spared the system call.
  #noDelayLater = false;
  #written = false;

  /**
   * Wraps a connection that is already open. `connect()` and
   * `Listener.accept()` make sockets; use this only for a `Deno.Conn` you got
   * elsewhere (for example from `Deno.connectTls`).
   *
   * @param conn The connection to own; the socket closes it.
   * @param options Buffer limits.
   */
  constructor(conn: Deno.Conn, options: SocketOptions = {}) {
    this.#conn = conn;
    this.#maxBufferSize = options.maxBufferSize ?? DEFAULT_MAX_BUFFER;
    if (!(this.#maxBufferSize >= 1)) {
      throw new RangeError(
        `Cannot use maxBufferSize ${options.maxBufferSize}: it must be at least 1`,
      );
    }
    // A TCP socket gets TCP_NODELAY (see #noDelayLater) unless its owner
    // calls setNoDelay() first.
    this.#noDelayLater = "setNoDelay" in conn;
    this.#localAddr = conn.localAddr;
    this.#remoteAddr = conn.remoteAddr;
  }

  /** This end's address. */
  get localAddr(): Deno.Addr {
    return this.#localAddr;
  }

  /** The peer's address. */
  get remoteAddr(): Deno.Addr {
    return this.#remoteAddr;
  }

  /** How many bytes can be read now without waiting. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * True when a read would not wait: bytes are buffered, the peer has ended
   * the stream, or the socket has failed or been closed.
   */
  get hasInput(): boolean {
    return this.#end > this.#start || this.#eof ||
      this.#readError !== undefined;
  }

  /** True once `close()` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Milliseconds since a byte last arrived or was sent on this socket; what
   * `serve()`'s `idleTimeout` checks.
   */
  get idleTime(): number {
    return performance.now() - this.#lastActive;
  }

  /**
   * Waits until a read would not wait (see {@linkcode Socket.prototype.hasInput}),
   * like usocket's `wait-for-input` on one socket.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns `true` when input is ready, `false` when the timeout passed first.
   */
  waitForInput(options: WaitOptions = {}): Promise<boolean> {
    return waitUntil(this.hasInput, () => this.#fill(), options);
  }

  /**
   * Reads up to `into.length` bytes into `into`.
   *
   * @param into Where to put the bytes.
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns The number of bytes read (at least 1), or `null` at the end of
   * the stream.
   */
  async read(into: Uint8Array, options?: WaitOptions): Promise<number | null> {
    if (into.length === 0) return 0;
    let deadline: Deadline | undefined;
    try {
      while (this.#end === this.#start) {
        await this.#wait(deadline ??= this.#deadline(options, "read"));
        if (!this.#more()) return null;
      }
      const n = Math.min(into.length, this.#end - this.#start);
      into.set(this.#buf.subarray(this.#start, this.#start + n));
      this.#start += n;
      return n;
    } finally {
      deadline?.clear();
    }
  }

  /**
   * Reads exactly `n` bytes.
   *
   * @param n How many bytes.
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns A new array of `n` bytes that the caller owns.
   * @throws {EndOfStreamError} when the stream ends first; its `partial`
   * holds the bytes that came.
   * @throws {LimitExceededError} when a timeout or signal is given and `n`
   * is more than `maxBufferSize`: with one, the bytes wait in the buffer so
   * that a timeout loses none of them.
   */
  async readExactly(n: number, options?: WaitOptions): Promise<Uint8Array> {
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(
        `Cannot read ${n} bytes: the count must be a whole number >= 0`,
      );
    }
    if (this.#end - this.#start >= n) return this.#take(n);
    if (hasDeadline(options)) return this.#readExactlyBefore(n, options!);
    const out = new Uint8Array(n);
    let have = 0;
    let deadline: Deadline | undefined;
    try {
      for (;;) {
        const k = Math.min(n - have, this.#end - this.#start);
        out.set(this.#buf.subarray(this.#start, this.#start + k), have);
        this.#start += k;
        have += k;
        if (have === n) return out;
        await this.#wait(
          deadline ??= this.#deadline(options, `read ${n} bytes`),
        );
        if (!this.#more()) {
          throw new EndOfStreamError(
            `Cannot read ${n} bytes from ${this.#peer()}: the stream ended after ${have} bytes`,
            out.slice(0, have),
          );
        }
      }
    } finally {
      deadline?.clear();
    }
  }

  /**
   * `readExactly()` with a timeout or signal: the bytes wait in the buffer
   * until all `n` are there, so a timeout leaves every one of them for the
   * next read.
   */
  async #readExactlyBefore(
    n: number,
    options: WaitOptions,
  ): Promise<Uint8Array> {
    if (n > this.#maxBufferSize) {
      throw new LimitExceededError(
        `Cannot read ${n} bytes from ${this.#peer()} with a timeout or signal: that is more than maxBufferSize (${this.#maxBufferSize}); raise it, or read without one`,
        this.#maxBufferSize,
      );
    }
    const deadline = this.#deadline(options, `read ${n} bytes`);
    try {
      while (this.#end - this.#start < n) {
        await this.#wait(deadline);
        if (!this.#more()) {
          const have = this.#end - this.#start;
          throw new EndOfStreamError(
            `Cannot read ${n} bytes from ${this.#peer()}: the stream ended after ${have} bytes`,
            this.#take(have),
          );
        }
      }
      return this.#take(n);
    } finally {
      deadline?.clear();
    }
  }

  /**
   * Reads one line of text, ending in LF or CRLF; the line end is not part of
   * the result. A last line without a line end is returned as it is.
   *
   * @param options `maxLength`, `timeout` in milliseconds and an abort `signal`.
   * @returns The line, or `null` at the end of the stream.
   * @throws {LimitExceededError} when the line is longer than `maxLength`;
   * its bytes stay buffered.
   */
  readLine(options?: ReadLineOptions): Promise<string | null> {
    const maxLength = options?.maxLength ?? DEFAULT_MAX_LINE;
    if (hasDeadline(options)) return this.#readLineBefore(maxLength, options!);
    // Without a deadline, waiting is a continuation rather than a suspended
    // async function: an idle connection holds less memory.
    try {
      const line = this.#scanLine(maxLength, 0);
      if (line !== undefined) return Promise.resolve(line);
      const scanned = this.#end - this.#start;
      return this.#fill().then(() => this.#lineAfterWait(maxLength, scanned));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #lineAfterWait(
    maxLength: number,
    scanned: number,
  ): string | null | Promise<string | null> {
    if (!this.#more()) return this.#lastLine(maxLength);
    const line = this.#scanLine(maxLength, scanned);
    if (line !== undefined) return line;
    const next = this.#end - this.#start;
    return this.#fill().then(() => this.#lineAfterWait(maxLength, next));
  }

  async #readLineBefore(
    maxLength: number,
    options: ReadLineOptions,
  ): Promise<string | null> {
    let scanned = 0;
    let deadline: Deadline | undefined;
    try {
      for (;;) {
        const line = this.#scanLine(maxLength, scanned);
        if (line !== undefined) return line;
        scanned = this.#end - this.#start;
        await this.#wait(
          deadline ??= this.#deadline(options, "read a line"),
        );
        if (!this.#more()) return this.#lastLine(maxLength);
      }
    } finally {
      deadline?.clear();
    }
  }

  /**
   * Takes a complete line from the buffer, looking for its end from
   * `scanned` bytes in; undefined when the line is not all here yet.
   */
  #scanLine(maxLength: number, scanned: number): string | undefined {
    const buf = this.#buf;
    const start = this.#start;
    const end = this.#end;
    // Search the whole buffer when little lies past the input: that saves
    // a subarray per line, and a stale LF past `end` is ignored.
    const lf = buf.length - end <= 4096
      ? buf.indexOf(LF, start + scanned)
      : indexOfByte(buf, LF, start + scanned, end);
    if (lf >= 0 && lf < end) {
      const stop = lf > start && buf[lf - 1] === CR ? lf - 1 : lf;
      if (stop - start > maxLength) this.#tooLong("line", maxLength);
      this.#start = lf + 1;
      return decodeText(buf, start, stop);
    }
    if (end - start > maxLength + 1) this.#tooLong("line", maxLength);
    return undefined;
  }

  /** At the end of the stream: what is left, as the last line, or null. */
  #lastLine(maxLength: number): string | null {
    if (this.#end === this.#start) return null;
    if (this.#end - this.#start > maxLength) this.#tooLong("line", maxLength);
    const text = decodeText(this.#buf, this.#start, this.#end);
    this.#start = this.#end;
    return text;
  }

  /**
   * Reads up to a delimiter, which is consumed but not returned.
   *
   * @param delimiter The bytes (or the text, as UTF-8) that end the record.
   * @param options `maxLength`, `timeout` in milliseconds and an abort `signal`.
   * @returns The bytes before the delimiter, or `null` at the end of the
   * stream when nothing is buffered.
   * @throws {EndOfStreamError} when the stream ends inside a record.
   * @throws {LimitExceededError} when more than `maxLength` bytes come before
   * the delimiter; they stay buffered.
   */
  async readUntil(
    delimiter: Uint8Array | string,
    options?: ReadUntilOptions,
  ): Promise<Uint8Array | null> {
    const delim = typeof delimiter === "string"
      ? encoder.encode(delimiter)
      : delimiter;
    if (delim.length === 0) {
      throw new RangeError("Cannot read until an empty delimiter");
    }
    const maxLength = options?.maxLength ?? DEFAULT_MAX_LINE;
    let scanned = 0;
    let deadline: Deadline | undefined;
    try {
      for (;;) {
        const at = indexOfBytes(
          this.#buf,
          delim,
          this.#start + scanned,
          this.#end,
        );
        if (at >= 0) {
          if (at - this.#start > maxLength) this.#tooLong("record", maxLength);
          const record = this.#take(at - this.#start);
          this.#start += delim.length;
          return record;
        }
        scanned = Math.max(0, this.#end - this.#start - delim.length + 1);
        if (scanned > maxLength) this.#tooLong("record", maxLength);
        await this.#wait(
          deadline ??= this.#deadline(options, "read a record"),
        );
        if (!this.#more()) {
          if (this.#end === this.#start) return null;
          const partial = this.#take(this.#end - this.#start);
          throw new EndOfStreamError(
            `Cannot read a record from ${this.#peer()}: the stream ended before the delimiter`,
            partial,
          );
        }
      }
    } finally {
      deadline?.clear();
    }
  }

  /**
   * Reads everything until the peer ends the stream. With a timeout or
   * signal the bytes wait in the buffer until the end, so a timeout loses
   * none of them, and the stream may be at most `maxBufferSize` long.
   *
   * @param options `maxLength`, `timeout` in milliseconds and an abort `signal`.
   * @returns All the bytes, in a new array the caller owns.
   */
  async readAll(options?: ReadAllOptions): Promise<Uint8Array> {
    const maxLength = options?.maxLength ?? Infinity;
    if (hasDeadline(options)) return this.#readAllBefore(maxLength, options!);
    const chunks: Uint8Array[] = [];
    let total = 0;
    let deadline: Deadline | undefined;
    try {
      for (;;) {
        const n = this.#end - this.#start;
        if (n > 0) {
          if (total + n > maxLength) this.#tooLong("stream", maxLength);
          chunks.push(this.#take(n));
          total += n;
        }
        await this.#wait(
          deadline ??= this.#deadline(options, "read to the end"),
        );
        if (!this.#more()) break;
      }
    } finally {
      deadline?.clear();
    }
    if (chunks.length === 1) return chunks[0]!;
    const all = new Uint8Array(total);
    let at = 0;
    for (const chunk of chunks) {
      all.set(chunk, at);
      at += chunk.length;
    }
    return all;
  }

  /**
   * `readAll()` with a timeout or signal: everything waits in the buffer
   * until the end of the stream, so a timeout leaves it all for the next read.
   */
  async #readAllBefore(
    maxLength: number,
    options: ReadAllOptions,
  ): Promise<Uint8Array> {
    const deadline = this.#deadline(options, "read to the end");
    try {
      for (;;) {
        if (this.#end - this.#start > maxLength) {
          this.#tooLong("stream", maxLength);
        }
        await this.#wait(deadline);
        if (!this.#more()) return this.#take(this.#end - this.#start);
      }
    } finally {
      deadline?.clear();
    }
  }

  /**
   * Looks at the buffered input without consuming it, reading more only when
   * `more` is true or nothing is buffered. The view is valid until the next
   * read or `close()`. This is the hook for parsers that work on bytes (the
   * Lisp reader uses it).
   *
   * @param more Wait for bytes beyond those already buffered.
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns The buffered bytes and whether the stream has ended after them.
   */
  peek(
    more: boolean,
    options?: WaitOptions,
  ): Promise<{ bytes: Uint8Array; eof: boolean }> {
    if (!more && this.#end > this.#start) {
      return Promise.resolve({
        bytes: this.#buf.subarray(this.#start, this.#end),
        eof: this.#eof,
      });
    }
    if (hasDeadline(options)) return this.#peekMore(options);
    let filled: Promise<void>;
    try {
      filled = this.#fill();
    } catch (error) {
      return Promise.reject(error);
    }
    return filled.then(() => {
      this.#more();
      return {
        bytes: this.#buf.subarray(this.#start, this.#end),
        eof: this.#eof,
      };
    });
  }

  async #peekMore(
    options: WaitOptions | undefined,
  ): Promise<{ bytes: Uint8Array; eof: boolean }> {
    const deadline = this.#deadline(options, "read");
    try {
      await this.#wait(deadline);
      this.#more();
    } finally {
      deadline?.clear();
    }
    return {
      bytes: this.#buf.subarray(this.#start, this.#end),
      eof: this.#eof,
    };
  }

  /**
   * Drops `n` buffered bytes, after a {@linkcode Socket.prototype.peek}.
   *
   * @param n How many bytes to drop; at most {@linkcode Socket.prototype.buffered}.
   */
  consume(n: number): void {
    if (!(n >= 0 && n <= this.#end - this.#start)) {
      throw new RangeError(
        `Cannot consume ${n} bytes: only ${
          this.#end - this.#start
        } are buffered`,
      );
    }
    this.#start += n;
  }

  /**
   * Queues bytes or text (as UTF-8) for sending. Nothing is sent until
   * `flush()`, until 64 KiB are waiting, or until `close()`.
   *
   * Arrays of 64 KiB or more are sent from the caller's memory without a
   * copy: leave them unchanged until the returned promise settles.
   *
   * @param data What to send.
   * @returns A promise that settles at once, or when a flush this write
   * started is done; await it to keep memory bounded.
   */
  write(data: Uint8Array | string): Promise<void> {
    if (this.#writeError !== undefined) return handled(this.#writeError);
    if (this.#writeClosed || this.#closed) {
      return handled(
        new ConnectionClosedError(
          `Cannot write to ${this.#peer()}: the socket is ${
            this.#closed ? "closed" : "closed for writing"
          }`,
        ),
      );
    }
    if (typeof data === "string") {
      const length = data.length;
      this.#reserve(length * 3);
      const wbuf = this.#wbuf;
      let at = this.#wlen;
      let i = 0;
      // Short ASCII text is copied by hand; encodeInto() costs more than
      // the copy for a few bytes.
      if (length <= 64) {
        for (; i < length; i++) {
          const code = data.charCodeAt(i);
          if (code >= 0x80) break;
          wbuf[at++] = code;
        }
      }
      if (i < length) {
        at += encoder.encodeInto(
          i === 0 ? data : data.slice(i),
          wbuf.subarray(at),
        ).written;
      }
      this.#wlen = at;
    } else if (
      data.length >= WRITE_HIGH_WATER && this.#wlen === 0 &&
      this.#flushing === undefined
    ) {
      return this.#startDrain(data);
    } else {
      this.#reserve(data.length);
      this.#wbuf.set(data, this.#wlen);
      this.#wlen += data.length;
    }
    return this.#wlen >= WRITE_HIGH_WATER ? this.flush() : DONE;
  }

  /**
   * Sends everything written so far (Lisp's `force-output`), looping until
   * the OS has taken every byte.
   *
   * @returns A promise that settles when the bytes are sent.
   */
  flush(): Promise<void> {
    if (this.#flushing !== undefined) return this.#flushing;
    if (this.#writeError !== undefined) return handled(this.#writeError);
    if (this.#wlen === 0) return DONE;
    return this.#startDrain(undefined);
  }

  /**
   * Flushes, then ends this side of the stream (a half-close): the peer reads
   * end of stream, and this socket can still read what the peer sends.
   *
   * @returns A promise that settles when the stream is half-closed.
   */
  async closeWrite(): Promise<void> {
    if (this.#writeClosed || this.#closed) return;
    this.#writeClosed = true;
    await this.flush();
    try {
      await this.#conn.closeWrite();
    } catch (error) {
      throw mapError(error, { action: `end the stream to ${this.#peer()}` });
    }
  }

  /**
   * Flushes buffered output, then closes the socket. Calling it again does
   * nothing. A pending read fails with `ConnectionClosedError`. Output that
   * cannot be sent (the peer is gone) is dropped: call `flush()` first to
   * learn of that.
   *
   * @param options `abort: true` closes at once without flushing.
   * @returns A promise that settles when the socket is closed; it never
   * rejects.
   */
  close(options?: CloseOptions): Promise<void> {
    if (this.#closed) return DONE;
    if (
      !options?.abort && this.#writeError === undefined &&
      (this.#wlen > 0 || this.#flushing !== undefined)
    ) {
      return this.#flushThenClose();
    }
    this.#shut();
    return DONE;
  }

  async #flushThenClose(): Promise<void> {
    // Writes made while closing would be dropped: refuse them instead.
    this.#writeClosed = true;
    try {
      await this.flush();
    } catch {
      // The peer is gone; the bytes cannot be delivered.
    }
    if (!this.#closed) this.#shut();
  }

  #shut(): void {
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed underneath.
    }
    this.#releaseRead();
    if (this.#wbufIsPiece && !this.#draining) {
      this.#wbufIsPiece = false;
      givePiece(this.#wbuf);
      this.#wbuf = EMPTY;
      this.#wlen = 0;
    }
  }

  /** Flushes, then closes; this is what `await using` calls. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Enables or disables Nagle's algorithm (`TCP_NODELAY`).
   *
   * @param noDelay `true` sends small writes at once.
   */
  setNoDelay(noDelay: boolean): void {
    this.#noDelayLater = false;
    if ("setNoDelay" in this.#conn) {
      (this.#conn as Deno.TcpConn).setNoDelay(noDelay);
    }
  }

  /**
   * Enables or disables TCP keep-alive probes.
   *
   * @param keepAlive `true` turns them on.
   */
  setKeepAlive(keepAlive: boolean): void {
    if ("setKeepAlive" in this.#conn) {
      (this.#conn as Deno.TcpConn).setKeepAlive(keepAlive);
    }
  }

  /**
   * Describes the socket the way Allegro CL prints one.
   *
   * @returns For example `#<multivalent stream socket connected from 127.0.0.1/40226 to 127.0.0.1/9231>`.
   */
  toString(): string {
    const link = `connected from ${describeAddr(this.#localAddr)} to ${
      describeAddr(this.#remoteAddr)
    }`;
    return `#<multivalent stream socket ${
      this.#closed ? `closed, was ${link}` : link
    }>`;
  }

  /** The same as {@linkcode Socket.prototype.toString}, for `console.log`. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }

  // --- reading underneath -------------------------------------------------

  #peer(): string {
    return describeAddr(this.#remoteAddr, ":");
  }

  #deadline(
    options: WaitOptions | undefined,
    what: string,
  ): Deadline | undefined {
    if (!hasDeadline(options)) return undefined;
    checkTimeout(options!.timeout);
    return new Deadline(options!, () => `Cannot ${what} from ${this.#peer()}`);
  }

  /**
   * Waits for the outstanding read (started if none is) to bring bytes, the
   * end of the stream or an error; or for the deadline. Settles at once when
   * nothing more can come. Then call `#more()`.
   */
  #wait(deadline: Deadline | undefined): Promise<void> {
    const filled = this.#fill();
    return deadline === undefined ? filled : deadline.race(filled);
  }

  /** After `#wait()`: throws what the read met; false when no more bytes will come. */
  #more(): boolean {
    if (this.#readError !== undefined) throw this.#readError;
    return !this.#eof;
  }

  /** The one outstanding read into the buffer, started if none is. */
  #fill(): Promise<void> {
    if (this.#pending !== undefined) return this.#pending;
    if (this.#closed) {
      this.#readError ??= this.#closedError();
      return DONE;
    }
    if (this.#eof || this.#readError !== undefined) return DONE;
    this.#makeSpace();
    let read: Promise<number | null>;
    try {
      const end = this.#end;
      read = this.#conn.read(end === 0 ? this.#buf : this.#buf.subarray(end));
    } catch (error) {
      read = Promise.reject(error);
    }
    return this.#pending = read.then(
      (n) => this.#gotBytes(n),
      (error) => this.#gotError(error),
    );
  }

  #gotBytes(n: number | null): void {
    this.#pending = undefined;
    if (n === null) {
      this.#eof = true;
    } else {
      this.#end += n;
      if (this.#end === this.#buf.length) this.#grow = true;
      this.#lastActive = performance.now();
    }
    if (this.#closed) this.#releaseRead();
  }

  #gotError(error: unknown): void {
    this.#pending = undefined;
    this.#readError = this.#closed ? this.#closedError() : (mapError(error, {
      action: `read from ${this.#peer()}`,
    }) as SocketError);
    if (this.#closed) this.#releaseRead();
  }

  /**
   * After close: gives the read piece back once no read holds it. Input
   * still buffered stays readable, moved to an array of its own.
   */
  #releaseRead(): void {
    if (!this.#bufIsPiece || this.#pending !== undefined) return;
    const piece = this.#buf;
    const rest = this.#end - this.#start;
    this.#buf = rest === 0 ? EMPTY : piece.slice(this.#start, this.#end);
    this.#start = 0;
    this.#end = rest;
    this.#bufIsPiece = false;
    givePiece(piece);
  }

  /** Makes room at the end of the buffer; only called with no read pending. */
  #makeSpace(): void {
    const used = this.#end - this.#start;
    if (used === 0) this.#start = this.#end = 0;
    const size = this.#buf.length;
    const free = size - this.#end;
    if (size === 0) {
      if (this.#maxBufferSize >= PIECE_SIZE) {
        this.#buf = takePiece();
        this.#bufIsPiece = true;
      } else {
        this.#buf = new Uint8Array(this.#maxBufferSize);
      }
      return;
    }
    if (free >= size >> 2 && !(this.#grow && size < GROW_READ_LIMIT)) return;
    if (!this.#grow && this.#start > 0 && used <= size >> 1) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end = used;
      this.#start = 0;
      return;
    }
    this.#grow = false;
    if (free > 0 && size >= GROW_READ_LIMIT && used < size >> 1) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end = used;
      this.#start = 0;
      return;
    }
    const bigger = Math.min(size * 2, this.#maxBufferSize);
    if (bigger - used <= 0) {
      if (free > 0) return;
      if (this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end = used;
        this.#start = 0;
        return;
      }
      throw new LimitExceededError(
        `Cannot buffer more than ${this.#maxBufferSize} bytes from ${this.#peer()}: raise maxBufferSize or read in smaller pieces`,
        this.#maxBufferSize,
      );
    }
    const buf = new Uint8Array(bigger);
    buf.set(this.#buf.subarray(this.#start, this.#end));
    if (this.#bufIsPiece) {
      this.#bufIsPiece = false;
      givePiece(this.#buf);
    }
    this.#buf = buf;
    this.#end = used;
    this.#start = 0;
  }

  #take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    out.set(this.#buf.subarray(this.#start, this.#start + n));
    this.#start += n;
    return out;
  }

  #tooLong(what: string, limit: number): never {
    throw new LimitExceededError(
      `Cannot read a ${what} from ${this.#peer()}: it is longer than ${limit} bytes`,
      limit,
    );
  }

  #closedError(): ConnectionClosedError {
    return new ConnectionClosedError(
      `Cannot read from ${this.#peer()}: the socket is closed`,
    );
  }

  // --- writing underneath -------------------------------------------------

  #reserve(n: number): void {
    const need = this.#wlen + n;
    if (need <= this.#wbuf.length) return;
    if (this.#wbuf.length === 0 && need <= PIECE_SIZE) {
      this.#wbuf = takePiece();
      this.#wbufIsPiece = true;
      return;
    }
    let size = Math.max(this.#wbuf.length * 2, PIECE_SIZE * 4);
    while (size < need) size *= 2;
    const buf = new Uint8Array(size);
    buf.set(this.#wbuf.subarray(0, this.#wlen));
    // A drain in progress may still be writing from the piece: it gives
    // the piece back when it ends.
    if (this.#wbufIsPiece) {
      if (this.#draining) this.#retiredPiece = this.#wbuf;
      else givePiece(this.#wbuf);
    }
    this.#wbufIsPiece = false;
    this.#wbuf = buf;
  }

  #startDrain(first: Uint8Array | undefined): Promise<void> {
    const drain = this.#drain(first);
    // A write whose promise nobody awaits must not crash the program when
    // the peer is gone; whoever awaits it, or the next flush, still sees
    // the error.
    drain.catch(() => {});
    if (this.#draining) this.#flushing = drain;
    return drain;
  }

  /** Counts a write; sets TCP_NODELAY before the second. */
  #noDelaySoon(): void {
    if (!this.#written) {
      this.#written = true;
      return;
    }
    this.#noDelayLater = false;
    try {
      (this.#conn as Deno.TcpConn).setNoDelay(true);
    } catch {
      // The peer may be gone; the write will tell.
    }
  }

  async #drain(first: Uint8Array | undefined): Promise<void> {
    this.#draining = true;
    try {
      for (let view = first; view !== undefined && view.length > 0;) {
        if (this.#noDelayLater) this.#noDelaySoon();
        const n = await this.#conn.write(view);
        this.#lastActive = performance.now();
        view = view.subarray(n);
      }
      while (this.#wlen > 0) {
        const n = this.#wlen;
        let view = this.#wbuf.subarray(0, n);
        for (;;) {
          if (this.#noDelayLater) this.#noDelaySoon();
          const k = await this.#conn.write(view);
          this.#lastActive = performance.now();
          if (k === view.length) break;
          view = view.subarray(k);
        }
        if (this.#wlen > n) this.#wbuf.copyWithin(0, n, this.#wlen);
        this.#wlen -= n;
      }
    } catch (error) {
      this.#wlen = 0;
      this.#writeError = this.#closed
        ? new ConnectionClosedError(
          `Cannot write to ${this.#peer()}: the socket is closed`,
          { cause: error },
        )
        : mapError(error, { action: `write to ${this.#peer()}` });
      throw this.#writeError;
    } finally {
      this.#draining = false;
      this.#flushing = undefined;
      if (this.#retiredPiece !== undefined) {
        givePiece(this.#retiredPiece);
        this.#retiredPiece = undefined;
      }
      if (this.#closed && this.#wbufIsPiece) {
        this.#wbufIsPiece = false;
        givePiece(this.#wbuf);
        this.#wbuf = EMPTY;
        this.#wlen = 0;
      }
    }
  }
}

/** Finds `byte` in `bytes[from, to)`; -1 when it is not there. */
function indexOfByte(
  bytes: Uint8Array,
  byte: number,
  from: number,
  to: number,
): number {
  const i = bytes.subarray(from, to).indexOf(byte);
  return i < 0 ? -1 : from + i;
}

/** Decodes `bytes[start, stop)` as UTF-8; short ASCII without a call out. */
function decodeText(bytes: Uint8Array, start: number, stop: number): string {
  if (stop - start <= 32) {
    let ascii = true;
    for (let i = start; i < stop; i++) {
      if (bytes[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      return String.fromCharCode.apply(
        null,
        bytes.subarray(start, stop) as unknown as number[],
      );
    }
  }
  return decoder.decode(bytes.subarray(start, stop));
}

/** Finds `needle` in `haystack[from, to)`; -1 when it is not there. */
function indexOfBytes(
  haystack: Uint8Array,
  needle: Uint8Array,
  from: number,
  to: number,
): number {
  const first = needle[0]!;
  const last = to - needle.length;
  const window = haystack.subarray(0, to);
  for (let i = window.indexOf(first, from); i >= 0 && i <= last;) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
    i = window.indexOf(first, i + 1);
  }
  return -1;
}

/**
 * A rejected promise that does not count as unhandled when nobody awaits
 * it: a forgotten `await` on a write must not crash a server.
 */
function handled(error: unknown): Promise<never> {
  const rejected = Promise.reject(error);
  rejected.catch(() => {});
  return rejected;
}
