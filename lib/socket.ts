/**
 * The connected stream socket: one buffer, read as bytes or as text.
 *
 * @module
 */
import { checkTimeout, type WaitOptions, waitUntil } from "./_deadline.ts";
import { deadlineOf, Expiry } from "./_expiry.ts";
import { flushWithin } from "./_flush_limit.ts";
import { describeAddr } from "./_addr.ts";
import { IdleClock } from "./_idle.ts";
import { abortWith, connectedAs, setProxy, tally } from "./_internal.ts";
import { readableOf, writableOf } from "./_streams.ts";
import { mapError } from "./_map_error.ts";
import {
  checkOptionName,
  TcpTuning,
  type TuningContext,
} from "./_tcp_tuning.ts";
import { type Parser, ReadBuffer } from "./_read_buffer.ts";
import { batchStep, parseStep } from "./_parse_steps.ts";
import {
  allStep,
  bodyStep,
  exactStep,
  fullStep,
  lineBytesStep,
  linesBytesStep,
  linesStep,
  lineStep,
  mayReadDirect,
  overBuffer,
  peekStep,
  someStep,
  untilStep,
} from "./_read_steps.ts";
import { ReadQueue } from "./_read_queue.ts";
import { settleSocketOptions, type SocketSettings } from "./_settings.ts";
import { handled, WriteBuffer } from "./_write_buffer.ts";
import type { ProxyHeader } from "./proxy.ts";
import {
  ConnectionClosedError,
  type SocketError,
  TimeoutError,
  TlsError,
} from "./errors.ts";
import {
  checkStartTlsOptions,
  handshakeOf,
  type StartTlsOptions,
  type TlsHandshakeInfo,
  upgradeToTls,
} from "./tls.ts";

export type { WaitOptions } from "./_deadline.ts";
export type { Parsed, Parser } from "./_read_buffer.ts";

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
  /**
   * How long `close()` and `await using` may spend flushing output to a
   * peer that does not read, in milliseconds; then the connection is
   * aborted. `Infinity` waits for as long as it takes.
   *
   * @default {30000}
   */
  closeTimeout?: number;
  /**
   * The timeout of every read that gives no `timeout` of its own, in
   * milliseconds: a read waiting longer fails with a `TimeoutError` and,
   * like any timed-out read, loses nothing. It bounds each pull of
   * `readable` as well (a stream whose read times out fails), but not
   * `waitForInput()`. It costs no timer per read (see
   * {@linkcode Socket.prototype.setDeadline}).
   *
   * @default {Infinity}
   */
  readTimeout?: number;
  /**
   * The timeout of every flush (also one a `write()` starts) that gives no
   * `timeout` of its own, in milliseconds; a flush that times out aborts
   * the connection, as `flush()` says.
   *
   * @default {Infinity}
   */
  writeTimeout?: number;
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
  /**
   * The most milliseconds to spend flushing output before closing; then the
   * connection is aborted and `close()` rejects with a `TimeoutError`.
   *
   * @default {the socket's closeTimeout}
   */
  timeout?: number;
}

const DEFAULT_MAX_LINE = 65536;
const DONE: Promise<void> = Promise.resolve();
const encoder = new TextEncoder();

/** An address as Deno.startTls() gives it lacks its `transport`. */
function withTransport<A extends Deno.Addr>(addr: A): A {
  return addr.transport === undefined ? { ...addr, transport: "tcp" } : addr;
}

/**
 * A connected TCP (or Unix) stream socket. It is bivalent, like an Allegro
 * CL multivalent socket: bytes and text are read from one buffer, so
 * `readLine()`, `readExactly()` and `read()` can be mixed freely, and writes
 * of strings and bytes go to one output buffer that `flush()` sends.
 *
 * Every read takes a `timeout` and a `signal`; the socket's `readTimeout`
 * and `writeTimeout` options and its deadline
 * ({@linkcode Socket.prototype.setDeadline}) bound the calls that give
 * none, and none of these arms a timer per call. A timed-out read loses
 * nothing: underneath there is at most one outstanding read per socket,
 * feeding the buffer, and the bytes it brings are there for the next call.
 *
 * Reads are served one at a time, in the order they were called: a read
 * starts when the one before it has settled, so two parts of a program
 * that read the same socket each get whole lines (or records, or byte
 * counts), never pieces of one another's. A read still waiting for its
 * turn when its timeout passes (or its signal aborts) leaves the queue and
 * consumes nothing. Writes keep their order the same way: each `write()`
 * is appended to the output buffer whole, before any later one.
 *
 * The end of the stream is the peer's clean close (a FIN). When the peer
 * resets the connection instead (an RST, for example a process killed
 * with unread input, or `SO_LINGER` 0), reads fail with
 * `ConnectionResetError` once the bytes that came before it are read, so a
 * cut-off last line is not mistaken for a complete one, also when a write
 * met the reset first (the operating system reports it only once).
 *
 * Writes are buffered; `flush()` (Lisp's `force-output`) sends them, and
 * `write()` flushes by itself once 64 KiB are waiting. `close()` and
 * `await using` flush before they close, for at most `closeTimeout`
 * milliseconds.
 *
 * @typeParam A The kind of address: `Deno.NetAddr` for TCP.
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
 * assert.equal(client.remoteAddr.port, listener.port);
 * ```
 */
export class Socket<A extends Deno.Addr = Deno.Addr> {
  // Replaced once, by startTls().
  #conn: Deno.Conn<A>;
  readonly #closeTimeout: number;
  #localAddr: A;
  #remoteAddr: A;
  // Set when the connection began with a PROXY header: the header, and
  // the balancer's own address.
  #proxyHeader: ProxyHeader | undefined;
  #proxyAddr: A | undefined;
  // The host name given to connect(): what STARTTLS checks the
  // certificate against.
  #name: string | undefined;

  readonly #in: ReadBuffer;
  readonly #queue: ReadQueue;
  readonly #out: WriteBuffer;
  readonly #clock = new IdleClock();
  readonly #expiry = new Expiry();
  #writeClosed = false;
  // close() was called (#closing while it flushes); #closed: the
  // connection underneath is closed; #closeError: why, when it was cut.
  #closeCalled = false;
  #closing: Promise<void> | undefined;
  #closed = false;
  #closeError: ConnectionClosedError | undefined;
  // A TCP connection's options; none once TLS is started on it.
  #tcp: TcpTuning | undefined;

  /**
   * Wraps a connection that is already open. `connect()` and
   * `Listener.accept()` make sockets; use this only for a `Deno.Conn` you got
   * elsewhere (for example from `Deno.connectTls`).
   *
   * @param conn The connection to own; the socket closes it, also when
   * the options are invalid.
   * @param options Buffer limits.
   * @throws {RangeError} when an option is out of range.
   */
  constructor(conn: Deno.Conn<A>, options: SocketOptions = {}) {
    this.#conn = conn;
    let settings: SocketSettings;
    try {
      settings = settleSocketOptions(options);
    } catch (error) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
      throw error;
    }
    this.#closeTimeout = settings.closeTimeout;
    const peer = () => this.#peer();
    this.#in = new ReadBuffer(conn, settings.maxBufferSize, peer);
    const out = this.#out = new WriteBuffer(conn, peer, this.#clock, this.#in);
    this.#expiry.readTimeout = settings.readTimeout;
    this.#expiry.writeTimeout = settings.writeTimeout;
    this.#queue = new ReadQueue(
      this.#in,
      this.#clock,
      this.#expiry,
      () =>
        out.length > 0 && out.flushing === undefined
          ? `${out.length} bytes written to it are not flushed (call flush() before waiting for a reply)`
          : "",
    );
    // A TCP socket gets TCP_NODELAY (see #noDelayLater) unless its owner
    // calls setNoDelay() first.
    if ("setNoDelay" in conn) {
      this.#tcp = new TcpTuning(
        conn as unknown as Deno.TcpConn,
        this.#out,
      );
    }
    this.#localAddr = withTransport(conn.localAddr);
    this.#remoteAddr = withTransport(conn.remoteAddr);
  }

  /**
   * This end's address; behind a PROXY load balancer, the address the
   * client connected to, from the header.
   */
  get localAddr(): A {
    return this.#localAddr;
  }

  /**
   * The peer's address. Behind a load balancer that speaks the PROXY
   * protocol (`proxyProtocol` on `listen()` or `serve()`), it is the
   * client's address from the header; the balancer's is `proxyAddr`.
   */
  get remoteAddr(): A {
    return this.#remoteAddr;
  }

  /**
   * The load balancer's own address, for a connection that began with a
   * PROXY header (see `proxyProtocol`); `undefined` otherwise.
   */
  get proxyAddr(): A | undefined {
    return this.#proxyAddr;
  }

  /**
   * The PROXY header the connection began with, TLVs and all, for a
   * listener with `proxyProtocol` set; `undefined` otherwise.
   */
  get proxyHeader(): ProxyHeader | undefined {
    return this.#proxyHeader;
  }

  /** How many bytes can be read now without waiting. */
  get buffered(): number {
    return this.#in.size;
  }

  /**
   * True when a read would not wait: bytes are buffered, the peer has ended
   * the stream, or the socket has failed or been closed. It looks only at
   * what has already arrived in this socket's buffer: bytes still in the
   * operating system count once a read (or `waitForInput()`) has fetched
   * them.
   */
  get hasInput(): boolean {
    return this.#in.ready;
  }

  /** True from the moment `close()` is called. */
  get closed(): boolean {
    return this.#closeCalled;
  }

  /**
   * The input as a byte stream (`type: "bytes"`, so a BYOB reader works).
   * It starts with what is already buffered and reads through the same
   * queue as `readLine()` and the other reads, so they can be mixed: after
   * a read from the stream has settled, release the reader (or cancel the
   * stream) and go on with `readLine()`; bytes the stream has not handed
   * out are still in the socket. A stream joins the queue when it pulls,
   * which a new stream first does a turn of the event loop after it is
   * made: a `readLine()` called right after a new stream's first `read()`
   * is served before it, so await that read first.
   *
   * The stream ends at the peer's end of stream without closing this
   * side, so the socket can still answer a half-closed peer (a
   * `Deno.Conn`'s `readable` closes the connection there). Cancelling it
   * stops reading and withdraws a read it was waiting for; the socket stays
   * open. The same stream is returned until it is cancelled, has ended or
   * has failed; then a new one, which starts from what the socket holds.
   *
   * @example Decoding text as it arrives
   * ```ts
   * import { connect, listen } from "@sock/sock";
   * import assert from "node:assert/strict";
   *
   * using listener = listen({ port: 0 });
   * await using client = await connect({ port: listener.port });
   * await using server = await listener.accept();
   * await client.write("héllo");
   * await client.closeWrite();
   * let text = "";
   * for await (const part of server.readable.pipeThrough(new TextDecoderStream())) {
   *   text += part;
   * }
   * assert.equal(text, "héllo");
   * await server.write("still open\n"); // the stream's end closed nothing
   * await server.flush();
   * assert.equal(await client.readLine(), "still open");
   * ```
   */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return readableOf(this);
  }

  /**
   * The output as a writable stream through the same buffer as `write()`.
   * Each chunk is written and flushed before the next is taken, so a peer
   * that reads slowly holds back a `pipeTo()`. Closing it is a half-close
   * (`closeWrite()`): the peer sees the end of the stream and this socket
   * can still read its reply. Aborting it aborts the connection
   * (`close({ abort: true })`).
   *
   * @example Compressing on the way out
   * ```ts
   * import { connect, listen } from "@sock/sock";
   * import assert from "node:assert/strict";
   *
   * using listener = listen({ port: 0 });
   * await using client = await connect({ port: listener.port });
   * await using server = await listener.accept();
   * const sent = ReadableStream.from([new TextEncoder().encode("abc".repeat(1000))]);
   * await sent.pipeThrough(new CompressionStream("gzip")).pipeTo(client.writable);
   * const text = await new Response(
   *   server.readable.pipeThrough(new DecompressionStream("gzip")),
   * ).text();
   * assert.equal(text, "abc".repeat(1000));
   * ```
   */
  get writable(): WritableStream<Uint8Array> {
    return writableOf(this);
  }

  /**
   * Milliseconds this socket has been waiting on its peer with no byte
   * arriving or leaving: it counts only while a read (or `waitForInput()`)
   * waits for input or a flush waits for the peer to take bytes, and is 0
   * otherwise. This is what `serve()`'s `idleTimeout` checks, so a handler
   * busy with its own work is never idle. Bytes leaving are seen when the
   * operating system takes more of them, which for a full send buffer
   * happens in steps (see {@linkcode Socket.prototype.flush}): a client
   * that reads slower than about a third of the send buffer per
   * `idleTimeout` looks idle. Traffic is timed when `idleTime` is next
   * read, so the figure is never more than the true idle time, and at most
   * the time between two looks less (`serve()` looks every `idleTimeout / 4`,
   * at least every second).
   */
  get idleTime(): number {
    return this.#clock.idleTime(this.#in.traffic + this.#out.traffic);
  }

  /**
   * Waits until a read would not wait (see {@linkcode Socket.prototype.hasInput}),
   * like usocket's `wait-for-input` on one socket.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns `true` when input is ready, `false` when the timeout passed first.
   */
  waitForInput(options: WaitOptions = {}): Promise<boolean> {
    if (this.hasInput) {
      try {
        checkTimeout(options.timeout);
      } catch (error) {
        return Promise.reject(error);
      }
      return Promise.resolve(true);
    }
    const clock = this.#clock;
    clock.beginWait();
    const waited = waitUntil(false, () => this.#in.fill(), options);
    return waited.finally(() => clock.endWait());
  }

  /**
   * Reads up to `into.length` bytes into `into`.
   *
   * @param into Where to put the bytes.
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns The number of bytes read: at least 1, or 0 when `into` is
   * empty; `null` at the end of the stream.
   */
  read(into: Uint8Array, options?: WaitOptions): Promise<number | null> {
    if (into.length === 0) return Promise.resolve(0);
    const direct = mayReadDirect(into) && !this.#queue.limited(options);
    return this.#queue.run(someStep(this.#in, into, direct), options, "read");
  }

  /**
   * Reads exactly `into.length` bytes into `into`, like Go's
   * `io.ReadFull`: the way to read fixed-size records without an array
   * per record. Without a timeout or signal, large reads go from the
   * operating system straight into `into`, with no copy through the
   * socket's buffer.
   *
   * @param into Where to put the bytes; it is filled completely.
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns `into`.
   * @throws {EndOfStreamError} when the stream ends first; its `partial`
   * is the part of `into` that was filled. After any other failure
   * without a deadline (a reset, a close), `into` holds an unknown part
   * of the record, and those bytes are gone from the socket.
   * @throws {LimitExceededError} when a timeout or signal is given and
   * `into` is longer than `maxBufferSize`: with one, the bytes wait in the
   * buffer until all have come, so that a timeout loses none of them
   * ({@linkcode Socket.prototype.readBody} reads such a body).
   *
   * @example Fixed-size records into one reused array
   * ```ts
   * import { connect, listen } from "@sock/sock";
   * import assert from "node:assert/strict";
   *
   * using listener = listen({ port: 0 });
   * await using client = await connect({ port: listener.port });
   * await using server = await listener.accept();
   * await client.write(new Uint8Array([1, 2, 3, 4, 5, 6]));
   * await client.flush();
   *
   * const record = new Uint8Array(3);
   * assert.deepEqual(await server.readFull(record), new Uint8Array([1, 2, 3]));
   * assert.deepEqual(await server.readFull(record), new Uint8Array([4, 5, 6]));
   * ```
   */
  readFull(into: Uint8Array, options?: WaitOptions): Promise<Uint8Array> {
    const deadline = this.#queue.limited(options);
    const tooMany = deadline ? overBuffer(this.#in, into.length) : undefined;
    if (tooMany) return Promise.reject(tooMany);
    const step = fullStep(this.#in, into, deadline);
    return this.#queue.run(step, options, `read ${into.length} bytes`);
  }

  /**
   * Reads a body of `into.length` bytes into `into` with a timeout, however
   * large: the bytes are copied out of the socket's buffer as they arrive,
   * so the body is bound neither by `maxBufferSize` nor by memory for a
   * second copy. This is how a length-prefixed message larger than the
   * buffer is read: its header with `readWith()`, its body with this.
   * Without a timeout or signal it is `readFull()`.
   *
   * A timeout loses nothing here either, in its own way: the
   * `TimeoutError`'s `partial` is the part of `into` already filled (those
   * bytes have left the socket), so `readBody(into.subarray(partial.length))`
   * goes on where it stopped. After an abort by a signal the count is not
   * known: give the message up (close the socket).
   *
   * @param into Where to put the body; it is filled completely.
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns `into`.
   * @throws {TimeoutError} when the timeout passes first; see `partial`.
   * @throws {EndOfStreamError} when the stream ends first; its `partial`
   * is the part of `into` that was filled.
   *
   * @example A body larger than maxBufferSize, with a timeout
   * ```ts
   * import { connect, listen } from "@sock/sock";
   * import assert from "node:assert/strict";
   *
   * using listener = listen({ port: 0, maxBufferSize: 1024 });
   * await using client = await connect({ port: listener.port });
   * await using server = await listener.accept();
   * const sent = new Uint8Array(100_000).fill(7);
   * await client.write(sent);
   * await client.flush();
   * const body = await server.readBody(new Uint8Array(100_000), { timeout: 5000 });
   * assert.deepEqual(body, sent);
   * ```
   */
  readBody(into: Uint8Array, options?: WaitOptions): Promise<Uint8Array> {
    if (!this.#queue.limited(options)) return this.readFull(into);
    const { step, partial } = bodyStep(this.#in, into);
    const what = `read ${into.length} bytes`;
    return this.#queue.run(step, options, what, partial);
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
  readExactly(n: number, options?: WaitOptions): Promise<Uint8Array> {
    if (!Number.isInteger(n) || n < 0) {
      return Promise.reject(
        new RangeError(
          `Cannot read ${n} bytes: the count must be a whole number >= 0`,
        ),
      );
    }
    const buffer = this.#in;
    if (this.#queue.reading === 0 && buffer.size >= n) {
      return Promise.resolve(buffer.take(n));
    }
    const deadline = this.#queue.limited(options);
    const tooMany = deadline ? overBuffer(buffer, n) : undefined;
    if (tooMany) return Promise.reject(tooMany);
    const step = exactStep(buffer, n, deadline);
    return this.#queue.run(step, options, `read ${n} bytes`);
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
    const buffer = this.#in;
    if (this.#queue.reading === 0) {
      // A line already buffered: no closure, no queue.
      try {
        const line = buffer.line(maxLength, 0);
        if (line !== undefined) return Promise.resolve(line);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.#queue.run(lineStep(buffer, maxLength), options, "read a line");
  }

  /**
   * Reads every complete line already buffered, waiting for at least one:
   * the fast way to serve a line protocol, since a whole batch of pipelined
   * requests costs one promise and one decode. Each line is what
   * {@linkcode Socket.prototype.readLine} would return; bytes after the
   * last line end stay buffered for the next read. Answer the batch, then
   * `flush()` once.
   *
   * @param options `maxLength` (of each line), `timeout` in milliseconds
   * and an abort `signal`.
   * @returns The lines, at least one; `null` at the end of the stream.
   * @throws {LimitExceededError} when the first line is longer than
   * `maxLength`; its bytes stay buffered. A long line after others ends
   * the batch before it, and the next call throws.
   *
   * @example Answering pipelined requests, one flush per batch
   * ```ts
   * import { connect, listen } from "@sock/sock";
   * import assert from "node:assert/strict";
   *
   * using listener = listen({ port: 0 });
   * await using client = await connect({ port: listener.port });
   * await using server = await listener.accept();
   * await client.write("1 2\n3 4\n5 6\n");
   * await client.closeWrite();
   *
   * for (let lines; (lines = await server.readLines()) !== null;) {
   *   for (const line of lines) {
   *     const [a, b] = line.split(" ").map(Number);
   *     await server.write(`${a! + b!}\n`);
   *   }
   *   await server.flush();
   * }
   * await server.closeWrite();
   * assert.equal(new TextDecoder().decode(await client.readAll()), "3\n7\n11\n");
   * ```
   */
  readLines(options?: ReadLineOptions): Promise<string[] | null> {
    const maxLength = options?.maxLength ?? DEFAULT_MAX_LINE;
    const buffer = this.#in;
    if (this.#queue.reading === 0) {
      try {
        const lines = buffer.lines(maxLength, 0);
        if (lines !== undefined) return Promise.resolve(lines);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.#queue.run(linesStep(buffer, maxLength), options, "read lines");
  }

  /**
   * Reads one line as bytes: {@linkcode Socket.prototype.readLine} for a
   * protocol that parses bytes, with no decoding and no string, and every
   * byte as it came (a non-UTF-8 byte is not replaced by U+FFFD).
   *
   * The line is a copy the caller owns and may keep, not a view of the
   * socket's buffer valid until the next read (as Go's `ReadSlice` gives):
   * in JavaScript a view is an object just as a copy is, so for a line
   * (at most `maxLength` bytes) the copy costs only the bytes moved, and
   * nothing can change under a caller that keeps it.
   *
   * @param options `maxLength`, `timeout` in milliseconds and an abort `signal`.
   * @returns The line without its LF or CRLF, or `null` at the end of the
   * stream.
   * @throws {LimitExceededError} when the line is longer than `maxLength`;
   * its bytes stay buffered.
   *
   * @example A byte that is not UTF-8 comes back as it was
   * ```ts
   * import { connect, listen } from "@sock/sock";
   * import assert from "node:assert/strict";
   *
   * using listener = listen({ port: 0 });
   * await using client = await connect({ port: listener.port });
   * await using server = await listener.accept();
   * await client.write(new Uint8Array([0x2b, 0xff, 0x0d, 0x0a]));
   * await client.flush();
   * assert.deepEqual(await server.readLineBytes({ timeout: 1000 }), new Uint8Array([0x2b, 0xff]));
   * ```
   */
  readLineBytes(options?: ReadLineOptions): Promise<Uint8Array | null> {
    const step = lineBytesStep(
      this.#in,
      options?.maxLength ?? DEFAULT_MAX_LINE,
    );
    return this.#queue.run(step, options, "read a line");
  }

  /**
   * Reads every complete line already buffered as bytes, waiting for at
   * least one: {@linkcode Socket.prototype.readLines} without decoding.
   * Each line is a copy, as {@linkcode Socket.prototype.readLineBytes}
   * gives.
   *
   * @param options `maxLength` (of each line), `timeout` in milliseconds
   * and an abort `signal`.
   * @returns The lines, at least one; `null` at the end of the stream.
   * @throws {LimitExceededError} when the first line is longer than
   * `maxLength`; a long line after others ends the batch before it.
   */
  readLinesBytes(options?: ReadLineOptions): Promise<Uint8Array[] | null> {
    const step = linesBytesStep(
      this.#in,
      options?.maxLength ?? DEFAULT_MAX_LINE,
    );
    return this.#queue.run(step, options, "read lines");
  }

  /**
   * The lines of the stream, one at a time, until its end: `for await
   * (const line of socket.lines())`. Each is what
   * {@linkcode Socket.prototype.readLine} returns, read when the loop asks
   * for it, so other reads may be mixed in between; leaving the loop early
   * leaves the socket open with the rest unread. For a pipelined protocol
   * {@linkcode Socket.prototype.readLines} is faster: one promise per batch
   * rather than per line.
   *
   * @param options `maxLength`, `timeout` (for each line) in milliseconds
   * and an abort `signal`.
   * @returns An async iterable of the lines.
   *
   * @example Reading lines until the peer ends the stream
   * ```ts
   * import { connect, listen } from "@sock/sock";
   * import assert from "node:assert/strict";
   *
   * using listener = listen({ port: 0 });
   * await using client = await connect({ port: listener.port });
   * await using server = await listener.accept();
   * await client.write("one\r\ntwo\nthree");
   * await client.closeWrite();
   *
   * const seen: string[] = [];
   * for await (const line of server.lines({ timeout: 1000 })) seen.push(line);
   * assert.deepEqual(seen, ["one", "two", "three"]);
   * ```
   */
  lines(options?: ReadLineOptions): AsyncIterableIterator<string> {
    const next = (): Promise<IteratorResult<string, undefined>> =>
      this.readLine(options).then((line) =>
        line === null ? { value: undefined, done: true } : { value: line }
      );
    return {
      next,
      [Symbol.asyncIterator]() {
        return this;
      },
    };
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
  readUntil(
    delimiter: Uint8Array | string,
    options?: ReadUntilOptions,
  ): Promise<Uint8Array | null> {
    const delim = typeof delimiter === "string"
      ? encoder.encode(delimiter)
      : delimiter;
    if (delim.length === 0) {
      return Promise.reject(
        new RangeError("Cannot read until an empty delimiter"),
      );
    }
    const maxLength = options?.maxLength ?? DEFAULT_MAX_LINE;
    const step = untilStep(this.#in, delim, maxLength);
    return this.#queue.run(step, options, "read a record");
  }

  /**
   * Reads everything until the peer ends the stream. With a timeout or
   * signal the bytes wait in the buffer until the end, so a timeout loses
   * none of them, and the stream may be at most `maxBufferSize` long.
   *
   * @param options `maxLength`, `timeout` in milliseconds and an abort `signal`.
   * @returns All the bytes, in a new array the caller owns.
   */
  readAll(options?: ReadAllOptions): Promise<Uint8Array> {
    const maxLength = options?.maxLength ?? Infinity;
    const step = allStep(this.#in, maxLength, this.#queue.limited(options));
    return this.#queue.run(step, options, "read to the end");
  }

  /**
   * Reads with a parser of your own, the way `readLine()` reads with a
   * line parser. It runs as one read in the socket's queue, so no other
   * read can take bytes between its looks. This is how the Lisp reader
   * reads. The rules of the parser:
   *
   * - It is called with the buffered bytes and whether the stream has
   *   ended after them: at once, then again each time more bytes arrive,
   *   until it returns a result. Each call sees the message from its first
   *   byte.
   * - `bytes` is a view into the buffer, valid only during the call: copy
   *   what the result keeps (`bytes.slice()`).
   * - It returns `{ value, length }` when it has a message: the `length`
   *   bytes it used are consumed, and it is not called again.
   * - It returns `undefined` when it needs more bytes, or a number: how
   *   many bytes in all it needs (more than `bytes.length`, for example
   *   the header's length plus the body's). Then it is not called again
   *   until that many are buffered or the stream ends, so a long body is
   *   not parsed over and over as it arrives. A number beyond
   *   `maxBufferSize` is a `LimitExceededError` at once.
   * - If it throws, the read fails with that error and nothing is
   *   consumed.
   *
   * At the end of the stream with nothing buffered (a clean close between
   * messages) the read returns `null` when the parser has no result, as
   * `readLine()` does; with bytes of an unfinished message left it fails
   * with an `EndOfStreamError` holding them. A message longer than
   * `maxBufferSize` cannot be buffered: read its body with
   * {@linkcode Socket.prototype.readBody}.
   *
   * @typeParam T What the parser makes.
   * @param parse Looks at the buffered bytes; see above.
   * @param options `timeout` in milliseconds and an abort `signal`; one
   * deadline for the whole read, however many waits it takes.
   * @returns The parser's value, or `null` at a clean end of the stream.
   *
   * @example Reading a length-prefixed message
   * ```ts
   * import { connect, listen } from "@sock/sock";
   * import assert from "node:assert/strict";
   *
   * using listener = listen({ port: 0 });
   * await using client = await connect({ port: listener.port });
   * await using server = await listener.accept();
   * await client.write(new Uint8Array([3, 104, 105, 33, 9]));
   * await client.closeWrite();
   * const message = (bytes: Uint8Array) => {
   *   if (bytes.length < 1) return undefined;
   *   const total = 1 + bytes[0]!;
   *   if (bytes.length < total) return total; // wait for the whole message
   *   return { value: new TextDecoder().decode(bytes.subarray(1, total)), length: total };
   * };
   * assert.equal(await server.readWith(message, { timeout: 1000 }), "hi!");
   * assert.equal(await server.readWith((bytes) => bytes.length > 0 ? { value: bytes[0], length: 1 } : undefined), 9);
   * assert.equal(await server.readWith(message), null); // a clean end
   * ```
   */
  readWith<T>(parse: Parser<T>, options?: WaitOptions): Promise<T | null> {
    return this.#queue.run(parseStep(this.#in, parse), options, "read");
  }

  /**
   * Reads every message already buffered with a parser of your own,
   * waiting for at least one: {@linkcode Socket.prototype.readWith} in
   * batches, as {@linkcode Socket.prototype.readLines} is
   * {@linkcode Socket.prototype.readLine} in batches. A pipelined client
   * drains all the replies that came in one read with one promise.
   *
   * The parser follows `readWith()`'s rules; after each result it is
   * called again on the bytes after it, in the same turn, until it asks
   * for more (the batch then ends, the partial message staying buffered)
   * or returns a result of length 0 (which ends the batch after it).
   *
   * @typeParam T What the parser makes.
   * @param parse Looks at the buffered bytes; see `readWith()`.
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns The messages, at least one; `null` at a clean end of the
   * stream.
   * @throws {EndOfStreamError} when the stream ends inside a message (after
   * the messages before it have been returned).
   *
   * @example Draining pipelined replies
   * ```ts
   * import { connect, listen, type Parser } from "@sock/sock";
   * import assert from "node:assert/strict";
   *
   * using listener = listen({ port: 0 });
   * await using client = await connect({ port: listener.port });
   * await using server = await listener.accept();
   * const byte: Parser<number> = (bytes) =>
   *   bytes.length > 0 ? { value: bytes[0]!, length: 1 } : undefined;
   * await server.write(new Uint8Array([1, 2, 3]));
   * await server.close();
   * assert.deepEqual(await client.readBatch(byte, { timeout: 1000 }), [1, 2, 3]);
   * assert.equal(await client.readBatch(byte), null);
   * ```
   */
  readBatch<T>(parse: Parser<T>, options?: WaitOptions): Promise<T[] | null> {
    return this.#queue.run(batchStep(this.#in, parse), options, "read");
  }

  /**
   * Looks at the buffered input without consuming it, reading more only when
   * `more` is true or nothing is buffered. The view is valid until the next
   * read or `close()`. Another read may run between a `peek()` and the
   * `consume()` after it; a parser that must see the bytes and take them
   * in one go uses {@linkcode Socket.prototype.readWith}.
   *
   * @param more Wait for bytes beyond those already buffered.
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns The buffered bytes and whether the stream has ended after them.
   */
  peek(
    more: boolean,
    options?: WaitOptions,
  ): Promise<{ bytes: Uint8Array; eof: boolean }> {
    return this.#queue.run(peekStep(this.#in, more), options, "read");
  }

  /**
   * Drops `n` buffered bytes, after a {@linkcode Socket.prototype.peek}.
   *
   * @param n How many bytes to drop: a whole number, at most
   * {@linkcode Socket.prototype.buffered}.
   * @throws {RangeError} when `n` is not a whole number of buffered bytes.
   * @throws {TypeError} while a read is waiting: the bytes are its.
   */
  consume(n: number): void {
    this.#in.consume(n, this.#queue.reading > 0);
  }

  /**
   * Queues bytes or text (as UTF-8) for sending. Nothing is sent until
   * `flush()`, until 64 KiB are waiting, or until `close()`.
   *
   * The bytes are copied whatever their size, so the array may be changed
   * or reused as soon as `write()` returns, awaited or not, like a Go
   * `io.Writer` that does not keep `p`. (One rule for every size: an array
   * sent from where it is would have to stay unchanged until its write
   * settled, which an unawaited write makes easy to break.) To skip the
   * copy, encode straight into the output with
   * {@linkcode Socket.prototype.reserve}.
   *
   * The returned promise settles at once unless this write started a
   * flush; awaiting it is how a long stream of writes waits for the peer.
   * A loop that answers one batch of input (see
   * {@linkcode Socket.prototype.readLines}) may leave its writes unawaited
   * and await the `flush()` after them: the batch bounds the memory, a
   * failure to send is reported by that flush, and a socket closed in the
   * meantime by the next read. An unawaited write that fails is never an
   * unhandled rejection.
   *
   * @param data What to send.
   * @returns A promise that settles at once, or when a flush this write
   * started is done.
   */
  write(data: Uint8Array | string): Promise<void> {
    const out = this.#out;
    const refused = this.#writeRefused();
    if (refused !== undefined) return handled(refused);
    const sent = out.append(data);
    return sent === out.flushing ? this.#bound(sent) : sent;
  }

  /**
   * A view of at least `n` free bytes of the output buffer, to encode a
   * message straight into it, as Go's `bufio.Writer.AvailableBuffer`;
   * then {@linkcode Socket.prototype.commit} appends the bytes put at its
   * start. It saves the array and the copy a `write()` of an encoded
   * message costs. The view is valid only until the next write, commit,
   * flush or `await`: fill it and commit at once.
   *
   * @param n How many bytes at least: a whole number.
   * @returns The view; it may be longer than `n`.
   * @throws {RangeError} when `n` is not a whole number >= 0.
   *
   * @example A header and a body encoded in place
   * ```ts
   * import { connect, listen } from "@sock/sock";
   * import assert from "node:assert/strict";
   *
   * using listener = listen({ port: 0 });
   * await using client = await connect({ port: listener.port });
   * await using server = await listener.accept();
   * const view = client.reserve(4 + 5);
   * new DataView(view.buffer, view.byteOffset).setUint32(0, 5);
   * const { written } = new TextEncoder().encodeInto("hello", view.subarray(4));
   * await client.commit(4 + written);
   * await client.flush();
   * assert.deepEqual(await server.readExactly(9, { timeout: 1000 }), new Uint8Array([0, 0, 0, 5, 104, 101, 108, 108, 111]));
   * ```
   */
  reserve(n: number): Uint8Array {
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(
        `Cannot reserve ${n} bytes: the count must be a whole number >= 0`,
      );
    }
    return this.#out.reserve(n);
  }

  /**
   * Appends the first `n` bytes of the view {@linkcode Socket.prototype.reserve}
   * gave, as a `write()` of them would.
   *
   * @param n How many bytes were put at the start of the view.
   * @returns What `write()` returns: a promise that settles at once, or
   * when a flush this commit started is done.
   * @throws {TypeError} when nothing is reserved or the output changed
   * since (another write, a flush, the end of a send in progress).
   * @throws {RangeError} when `n` is more than the view holds.
   */
  commit(n: number): Promise<void> {
    const refused = this.#writeRefused();
    if (refused !== undefined) return handled(refused);
    const out = this.#out;
    const sent = out.commit(n);
    return sent === out.flushing ? this.#bound(sent) : sent;
  }

  /** Why a write would be refused now, if it would. */
  #writeRefused(): unknown {
    if (this.#out.error !== undefined) return this.#out.error;
    if (!this.#writeClosed && !this.#closeCalled) return undefined;
    return this.#closeError ?? new ConnectionClosedError(
      `Cannot write to ${this.#peer()}: the socket is ${
        this.#closeCalled ? "closed" : "closed for writing"
      }`,
    );
  }

  /**
   * Sends everything written so far (Lisp's `force-output`), looping until
   * the OS has taken every byte.
   *
   * A peer that stops reading makes a flush wait: give it a `timeout` (or
   * a `signal`) to bound that. When one expires the connection is aborted,
   * since a stream cut in the middle of a write cannot be resumed, and the
   * flush fails with a `TimeoutError` that says so (or with the signal's
   * reason). Deno cannot reset a connection (no `SO_LINGER`), so the peer
   * sees the abort as an ordinary end of stream after the bytes the
   * operating system had already taken: a protocol that must tell a
   * complete reply from a cut one needs its own framing (a length or an end
   * marker).
   *
   * The operating system takes bytes from a full send buffer in steps: on
   * Linux only once about a third of it (up to some 1.3 MB with its
   * automatic sizing) has reached the peer. A flush to a slow reader
   * therefore shows progress in those steps, which is what `idleTime` and
   * `serve()`'s `idleTimeout` see.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns A promise that settles when the bytes are sent.
   *
   * @example Giving up on a peer that does not read
   * ```ts
   * import { connect, listen, TimeoutError } from "@sock/sock";
   * import assert from "node:assert/strict";
   *
   * using listener = listen({ port: 0 });
   * await using client = await connect({ port: listener.port });
   * await using server = await listener.accept();
   * // The client never reads: the kernel's buffers fill up, and the write
   * // (not awaited, it would wait forever) stays unfinished.
   * server.write(new Uint8Array(64 * 1024 * 1024)).catch(() => {});
   * await assert.rejects(server.flush({ timeout: 100 }), TimeoutError);
   * assert.equal(server.closed, true);
   * ```
   */
  flush(options?: WaitOptions): Promise<void> {
    return this.#flush(options, true);
  }

  /** A flush; `close()` and `closeWrite()` keep to no write deadline. */
  #flush(options: WaitOptions | undefined, deadline: boolean): Promise<void> {
    const flushed = this.#out.flush();
    return flushed === this.#out.flushing
      ? this.#bound(flushed, options, deadline)
      : flushed;
  }

  /**
   * Sets one deadline for every read and flush from now on, like Go's
   * `SetDeadline`: a request's flush and the read of its reply share it.
   * A read or flush still waiting when it passes fails with a
   * `TimeoutError`; a read loses nothing, a flush aborts the connection
   * (as a flush's `timeout` does). A call's own `timeout` (or the
   * socket's `readTimeout`/`writeTimeout`) still applies: the earlier of
   * the two ends the wait. The deadline stays until it is set again; a
   * time already past makes every wait fail at once, with what is buffered
   * still served. No deadline costs a timer per call: the socket has one
   * timer, re-armed only when it fires. `close()` and `closeWrite()` keep
   * to their own timeout (`closeTimeout`), not to the deadline, and
   * `waitForInput()` to its own options.
   *
   * @param time A `Date`, milliseconds since the epoch (`Date.now() +
   * 500`), or `null` for none.
   * @throws {TypeError} when `time` is none of these.
   *
   * @example One deadline for a request and its reply
   * ```ts
   * import { connect, listen, TimeoutError } from "@sock/sock";
   * import assert from "node:assert/strict";
   *
   * using listener = listen({ port: 0 });
   * await using client = await connect({ port: listener.port });
   * await using server = await listener.accept();
   * client.setDeadline(Date.now() + 50);
   * await client.write("PING\r\n");
   * await client.flush();
   * assert.equal(await server.readLine(), "PING");
   * // The server never answers: the read fails when the deadline passes.
   * await assert.rejects(client.readLine(), TimeoutError);
   * client.setDeadline(null);
   * ```
   */
  setDeadline(time: Date | number | null): void {
    const at = deadlineOf(time);
    this.#expiry.readDeadline = this.#expiry.writeDeadline = at;
  }

  /**
   * Sets the deadline of reads only; see {@linkcode Socket.prototype.setDeadline}.
   *
   * @param time A `Date`, milliseconds since the epoch, or `null` for none.
   */
  setReadDeadline(time: Date | number | null): void {
    this.#expiry.readDeadline = deadlineOf(time);
  }

  /**
   * Sets the deadline of flushes only; see {@linkcode Socket.prototype.setDeadline}.
   *
   * @param time A `Date`, milliseconds since the epoch, or `null` for none.
   */
  setWriteDeadline(time: Date | number | null): void {
    this.#expiry.writeDeadline = deadlineOf(time);
  }

  /** A flush in progress within the write limits and `options`. */
  #bound(
    flushed: Promise<void>,
    options?: WaitOptions,
    useDeadline = true,
  ): Promise<void> {
    const peer = () => this.#peer();
    const abort = (error: ConnectionClosedError) => this.#abort(error);
    const expiry = this.#expiry;
    return flushWithin(flushed, expiry, useDeadline, options, peer, abort);
  }

  /**
   * Flushes, then ends this side of the stream (a half-close): the peer reads
   * end of stream, and this socket can still read what the peer sends.
   *
   * The flush is bounded like `close()`'s: by `timeout` (by default the
   * socket's `closeTimeout`) and `signal`; when one expires the connection
   * is aborted and a `TimeoutError` (or the signal's reason) says so.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns A promise that settles when the stream is half-closed.
   */
  async closeWrite(options?: WaitOptions): Promise<void> {
    if (this.#writeClosed || this.#closeCalled) return;
    this.#writeClosed = true;
    await this.#flush({
      timeout: options?.timeout ?? this.#closeTimeout,
      ...(options?.signal ? { signal: options.signal } : {}),
    }, false);
    try {
      await this.#conn.closeWrite();
    } catch (error) {
      throw mapError(error, { action: `end the stream to ${this.#peer()}` });
    }
  }

  /**
   * Flushes buffered output, then closes the socket. `closed` is true from
   * the moment it is called, and writes are refused from then on. Calling
   * it again while it flushes returns the same promise, and once the socket
   * is closed does nothing; `close({ abort: true })` during a flush cuts it
   * short. A pending read fails with `ConnectionClosedError`.
   * Output that cannot be sent because the peer is gone is dropped: call
   * `flush()` first to learn of that.
   *
   * The flush is bounded by `timeout` (by default the socket's
   * `closeTimeout`, 30 s): a peer that stops reading cannot keep the
   * socket open. When it expires the connection is aborted and the
   * promise rejects with a `TimeoutError` that says the output was lost.
   *
   * @param options `abort: true` closes at once without flushing; `timeout`
   * bounds the flush.
   * @returns A promise that settles when the socket is closed; it rejects
   * only when the flush timed out.
   */
  close(options?: CloseOptions): Promise<void> {
    if (this.#closed) return DONE;
    this.#closeCalled = true;
    if (options?.abort) {
      this.#shut();
      return DONE;
    }
    if (this.#closing !== undefined) return this.#closing;
    const out = this.#out;
    if (out.error === undefined && (out.length > 0 || out.flushing)) {
      try {
        checkTimeout(options?.timeout);
      } catch (error) {
        return Promise.reject(error);
      }
      const closing = this.#flushThenClose(
        options?.timeout ?? this.#closeTimeout,
      );
      this.#closing = closing;
      return closing;
    }
    this.#shut();
    return DONE;
  }

  async #flushThenClose(timeout: number): Promise<void> {
    try {
      await this.#flush({ timeout }, false);
    } catch (error) {
      // A timeout aborted the connection and lost output: say so. Any
      // other failure means the peer is gone and cannot get the bytes.
      if (error instanceof TimeoutError && this.#closed) throw error;
    } finally {
      if (!this.#closed) this.#shut();
    }
  }

  /** Closes at once; reads and writes from now on fail with `error`. */
  #abort(error: ConnectionClosedError): void {
    if (this.#closed) return;
    this.#closeError = error;
    this.#closeCalled = true;
    this.#shut();
  }

  #shut(): void {
    this.#closed = true;
    this.#closeCalled = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed underneath.
    }
    this.#in.close(this.#closeError);
    this.#out.close(this.#closeError);
    this.#expiry.stop();
  }

  /** Flushes (for at most `closeTimeout`), then closes; this is what `await using` calls. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Closes at once; reads and writes fail with `error` from then on. */
  [abortWith](error: ConnectionClosedError): void {
    this.#abort(error);
  }

  /** Records the host name the socket was connected by (for STARTTLS). */
  [connectedAs](name: string): void {
    this.#name = name;
  }

  /** Bytes received, bytes sent, and what reading or writing failed with. */
  [tally](): [number, number, unknown] {
    return [this.#in.bytes, this.#out.bytes, this.#in.error ?? this.#out.error];
  }

  /**
   * Records the PROXY header the connection began with: a `"proxy"` header
   * naming TCP addresses replaces the socket's addresses with the client's
   * (the balancer's stays as `proxyAddr`).
   */
  [setProxy](header: ProxyHeader): void {
    this.#proxyHeader = header;
    this.#proxyAddr = this.#remoteAddr;
    const { source, destination } = header;
    if (
      header.command === "proxy" && source?.transport === "tcp" &&
      destination?.transport === "tcp"
    ) {
      this.#remoteAddr = source as A;
      this.#localAddr = destination as A;
    }
  }

  /**
   * Enables or disables Nagle's algorithm (`TCP_NODELAY`), as
   * `setOption("noDelay", noDelay)` does.
   *
   * @param noDelay `true` sends small writes at once.
   * @throws {TypeError} on a TLS or Unix socket, which has no TCP options.
   */
  setNoDelay(noDelay: boolean): void {
    this.setOption("noDelay", noDelay);
  }

  /**
   * Enables or disables TCP keep-alive probes, as
   * `setOption("keepAlive", keepAlive)` does.
   *
   * @param keepAlive `true` turns them on.
   * @throws {TypeError} on a TLS or Unix socket, which has no TCP options.
   */
  setKeepAlive(keepAlive: boolean): void {
    this.setOption("keepAlive", keepAlive);
  }

  /**
   * Sets a TCP option of the connection (Allegro CL's
   * `set-socket-options`, usocket's `(setf socket-option)`): `"noDelay"`
   * (`TCP_NODELAY`) or `"keepAlive"` (`SO_KEEPALIVE`), as the options of
   * `connect()` and `listen()` do. Keep-alive probes start after the
   * system's idle time (Linux: `net.ipv4.tcp_keepalive_time`, 7200 s by
   * default): Deno's TCP connections cannot set it per socket.
   *
   * @param name The option.
   * @param value `true` turns it on.
   * @throws {TypeError} when `name` is not one of these, `value` is not a
   * boolean, or the socket is a TLS or Unix socket, which have no such
   * options in Deno.
   * @throws {ConnectionClosedError} when the socket is closed.
   *
   * @example Keep-alive after connecting
   * ```ts
   * import { connect, listen } from "@sock/sock";
   * import assert from "node:assert/strict";
   *
   * using listener = listen({ port: 0 });
   * await using client = await connect({ port: listener.port });
   * await using _server = await listener.accept();
   * client.setOption("keepAlive", true);
   * assert.equal(client.getOption("keepAlive"), true);
   * ```
   */
  setOption(name: "noDelay" | "keepAlive", value: boolean): void {
    checkOptionName(name, "set", this.#conn);
    if (typeof value !== "boolean") {
      throw new TypeError(
        `Cannot set ${name} to ${String(value)}: it must be true or false`,
      );
    }
    this.#tcp?.set(name, value, this.#tuningContext());
  }

  /**
   * Tells a TCP option of the connection (Allegro CL's and usocket's
   * `socket-option`): the value last set through `connect()`, `listen()`,
   * `setOption()` or the setters, since Deno cannot read it back from the
   * operating system. `noDelay` is `true` unless turned off.
   *
   * @param name The option: `"noDelay"` or `"keepAlive"`.
   * @returns Whether it is on.
   * @throws {TypeError} when `name` is not one of these, or the socket is a
   * TLS or Unix socket.
   *
   * @example The defaults
   * ```ts
   * import { connect, listen } from "@sock/sock";
   * import assert from "node:assert/strict";
   *
   * using listener = listen({ port: 0 });
   * await using client = await connect({ port: listener.port });
   * await using _server = await listener.accept();
   * assert.equal(client.getOption("noDelay"), true);
   * assert.equal(client.getOption("keepAlive"), false);
   * ```
   */
  getOption(name: "noDelay" | "keepAlive"): boolean {
    checkOptionName(name, "read", this.#conn);
    return this.#tcp?.[name] ?? false;
  }

  /** What a TCP option setting needs to know of this socket. */
  #tuningContext(): TuningContext {
    return {
      closed: this.#closed,
      closeError: this.#closeError,
      peer: this.#peer(),
    };
  }

  /** True when the connection is TLS (made with `tls`, or after `startTls()`). */
  get tls(): boolean {
    return "handshake" in this.#conn;
  }

  /**
   * Completes the TLS handshake, or tells how it went if it is done. A TLS
   * socket from `connect()` or `startTls()` has completed it already; one
   * from a TLS `Listener.accept()` completes it here or at its first read
   * or write (`serve()` completes it before calling the handler).
   *
   * @param options `timeout` in milliseconds and an abort `signal`; a
   * timeout leaves the connection open (close it: a peer that does not
   * finish a handshake rarely will).
   * @returns The ALPN protocol agreed on.
   * @throws {CertificateError} when a certificate was refused.
   * @throws {TlsError} when the peer does not speak TLS, or shares no ALPN
   * protocol or TLS version.
   * @throws {TimeoutError} when the timeout passes first.
   * @throws {TypeError} when the socket is not a TLS socket.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@sock/sock";
   *
   * await using socket = await connect({ hostname: "localhost", port: 4433, tls: { alpnProtocols: ["h2"] } });
   * console.log((await socket.handshake()).alpnProtocol);
   * ```
   */
  handshake(options?: WaitOptions): Promise<TlsHandshakeInfo> {
    const closed = this.#closed ? this.#closedError() : undefined;
    return handshakeOf(this.#conn, closed, this.#peer(), options);
  }

  /**
   * Upgrades this plain TCP client connection to TLS in place (STARTTLS,
   * as SMTP, IMAP and LDAP do), once the server has agreed: flushes what
   * was written, then handshakes. Every read and write after it goes
   * through TLS; the options of the `Socket` stay as they were.
   *
   * It refuses, leaving the connection as it was, when a read is waiting
   * (Deno would destroy the connection) or when bytes are buffered unread:
   * bytes after the server's go-ahead are plaintext an attacker injected,
   * or a protocol error, never data to carry into TLS. So read the
   * go-ahead with `readLine()` and call this before the next read.
   *
   * Deno has no server side of this (a server cannot upgrade an accepted
   * connection), and the client cannot send a client certificate here.
   *
   * @param options The name the certificate must be for (by default the
   * address connected to), `caCerts`, `alpnProtocols`, and a `timeout` or
   * `signal` for the handshake.
   * @returns A promise that settles when the handshake is complete.
   * @throws {TlsError} when a read is waiting or input is buffered, or
   * when the handshake fails; then the connection is closed.
   * @throws {CertificateError} when the server's certificate is refused.
   * @throws {TypeError} when the socket is not a plain TCP socket.
   *
   * @example An SMTP-style upgrade
   * ```ts ignore
   * import { connect } from "@sock/sock";
   *
   * await using socket = await connect({ hostname: "localhost", port: 2525 });
   * await socket.write("STARTTLS\r\n");
   * await socket.flush();
   * if ((await socket.readLine())?.startsWith("220")) {
   *   await socket.startTls({ caCerts: [await Deno.readTextFile("ca.crt")] });
   * }
   * ```
   */
  async startTls(options: StartTlsOptions = {}): Promise<void> {
    checkStartTlsOptions(options);
    const refuse = (why: string) =>
      new TlsError(
        `Cannot start TLS with ${this.#peer()}: ${why}; the connection is left as it was`,
      );
    const input = this.#in;
    const out = this.#out;
    const busyReading = () =>
      input.pending !== undefined || this.#queue.reading > 0;
    if (this.#closeCalled) throw this.#closedError();
    if ("handshake" in this.#conn) throw refuse("it is TLS already");
    if (!("setNoDelay" in this.#conn)) {
      throw new TypeError(
        `Cannot start TLS with ${this.#peer()}: only a TCP socket can be upgraded`,
      );
    }
    if (busyReading()) {
      throw refuse(
        "a read is waiting on the socket (upgrade between the go-ahead reply and the next read)",
      );
    }
    if (this.#writeClosed) throw refuse("it is closed for writing");
    await this.flush();
    if (busyReading()) {
      throw refuse("a read began while the output was being sent");
    }
    if (input.size > 0) {
      throw refuse(
        `${input.size} bytes arrived after the reply that allowed it (plaintext injected before the handshake, or a protocol error)`,
      );
    }
    if (input.eof || input.error !== undefined) {
      throw refuse("the peer has ended the stream");
    }
    const tcp = this.#conn as unknown as Deno.TcpConn;
    this.#tcp?.settle();
    // Until the handshake is done, reads wait for it and writes are refused.
    out.error = new TlsError(
      `Cannot write to ${this.#peer()}: TLS is being started (await startTls() first)`,
    );
    // The certificate must be for the name the socket was connected by.
    const hostname = this.#name ??
      ("hostname" in this.#remoteAddr ? this.#remoteAddr.hostname : "");
    let failure: unknown;
    // From when the TLS connection exists, close() closes it, which
    // cancels the handshake at once.
    const started = (conn: Deno.TlsConn) => {
      this.#conn = conn as unknown as Deno.Conn<A>;
      if (this.#closed) conn.close();
    };
    const upgrade = upgradeToTls(
      tcp,
      options,
      hostname,
      `start TLS with ${this.#peer()}`,
      started,
    ).then((conn) => {
      input.pending = undefined;
      this.#tcp = undefined;
      input.source = conn;
      out.sink = conn;
      out.error = undefined;
    }, (error) => {
      failure = this.#closed ? this.#closedError() : error;
      input.pending = undefined;
      input.error = failure as SocketError;
      out.error = failure;
      this.#shut();
    });
    input.pending = upgrade;
    await upgrade;
    if (failure !== undefined) throw failure;
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

  #peer(): string {
    const remote = this.#remoteAddr;
    // An accepted Unix connection's client has no name: say whose it is.
    if ("path" in remote && remote.path === null) {
      return `the client of ${describeAddr(this.#localAddr)}`;
    }
    return describeAddr(remote, ":");
  }

  #closedError(): ConnectionClosedError {
    return this.#in.closedError();
  }
}
