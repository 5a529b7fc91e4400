/**
 * The passive socket: a {@linkcode Listener} accepts connections, with
 * back-off when the process runs out of descriptors and the PROXY gate.
 *
 * @module
 */
import { describeAddr } from "./_addr.ts";
import {
  checkTimeout,
  Deadline,
  hasDeadline,
  untilClosed,
  type WaitOptions,
  waitUntil,
} from "./_deadline.ts";
import { errorCode, mapError } from "./_map_error.ts";
import { checkHostname, checkNumber, checkPort } from "./_validate.ts";
import { ConnectionClosedError } from "./errors.ts";
import { checkProxyOptions, ProxyGate } from "./_proxy_accept.ts";
import type { ProxyProtocolOptions } from "./proxy.ts";
import { type ErrorReporter, report } from "./_report.ts";
import { settleSocketOptions, type SocketSettings } from "./_settings.ts";
import { Socket, type SocketOptions } from "./socket.ts";
import type { TlsListenOptions } from "./tls.ts";

/**
 * The TCP options of a connection, for {@linkcode connect},
 * {@linkcode listen} (for every accepted socket) and `serve()`; after the
 * fact, `Socket.setOption()` sets them and `Socket.getOption()` tells them.
 *
 * @example Keep-alive probes on a client
 * ```ts
 * import { connect, listen, type TcpOptions } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const options: TcpOptions = { keepAlive: true, noDelay: true };
 * using listener = listen({ port: 0, ...options });
 * await using client = await connect({ port: listener.port, ...options });
 * await using server = await listener.accept();
 * assert.equal(client.getOption("keepAlive"), true);
 * assert.equal(server.getOption("keepAlive"), true);
 * ```
 */
export interface TcpOptions {
  /**
   * Send small writes at once (`TCP_NODELAY`, Nagle's algorithm off), as
   * Allegro CL and usocket do by default. sock buffers writes until
   * `flush()` anyway, so this costs nothing.
   *
   * @default {true}
   */
  noDelay?: boolean;
  /**
   * Turn on TCP keep-alive probes (`SO_KEEPALIVE`), so that a peer that
   * vanished without a word is noticed. The first probe goes after the
   * system's idle time (on Linux `net.ipv4.tcp_keepalive_time`, 7200 s by
   * default), then one every `tcp_keepalive_intvl` (75 s), at most
   * `tcp_keepalive_probes` (9) times. Deno's TCP connections cannot set
   * these per socket (its `setKeepAlive()` takes only on or off); Node's
   * `node:net` can set the idle time (`socket.setKeepAlive(true, ms)`).
   *
   * @default {false}
   */
  keepAlive?: boolean;
}

/**
 * Options for {@linkcode listen}.
 *
 * @example Every option
 * ```ts
 * import { listen } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   backlog: 128,
 *   noDelay: true,
 *   keepAlive: true,
 *   maxBufferSize: 1 << 20,
 *   onError: (error, where) => console.error(`${where}: ${error}`),
 * });
 * assert.equal(listener.hostname, "127.0.0.1");
 * ```
 */
export interface ListenOptions
  extends SocketOptions, TcpOptions, ProxyProtocolOptions {
  /**
   * The local address to listen on. The default accepts connections from
   * this machine only; use `"0.0.0.0"` or `"::"` for every interface.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The port to listen on, 0–65535; 0 lets the operating system choose a
   * free one, which {@linkcode Listener.prototype.port} then tells.
   *
   * @default {0}
   */
  port?: number;
  /**
   * How many connections may wait to be accepted.
   *
   * @default {511}
   */
  backlog?: number;
  /**
   * Let several listeners (in several processes or workers) share the port,
   * each getting a share of the connections (Linux `SO_REUSEPORT`). Needs
   * `--unstable-net`.
   *
   * @default {false}
   */
  reusePort?: boolean;
  /**
   * Told when accepting fails for a reason that does not pass with the next
   * client: the process or the machine is out of file descriptors, buffers
   * or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`), or an error sock
   * does not know. The listener keeps going: it waits 5 ms, then twice as
   * long after each failure up to 1 s, and tries again until an accept
   * succeeds. It is called once per such run of failures (the first one),
   * not once per retry. `where` names the listener; an error thrown here is
   * ignored. It has the signature of `serve()`'s `ErrorReporter`.
   *
   * @default {one line on stderr: `${where}: ${error.message}`}
   */
  onError?: ErrorReporter;
  /**
   * Listen with TLS: the server's certificate and key (PEM text) and its
   * ALPN protocols. Accepted sockets complete the handshake at their first
   * read or write, or at `Socket.handshake()`.
   *
   * @default {undefined}
   */
  tls?: TlsListenOptions;
}

/**
 * Options for {@linkcode Listener.prototype.accept}.
 *
 * @example Polling for a connection
 * ```ts
 * import { type AcceptOptions, listen } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = listen({ port: 0 });
 * const options: AcceptOptions = { wait: false };
 * assert.equal(await listener.accept(options), null);
 * ```
 */
export interface AcceptOptions extends WaitOptions {
  /**
   * `false` returns at once (Allegro CL's `accept-connection :wait nil`):
   * the socket of a connection that is ready, or `null` when none is; the
   * `timeout` and the `signal` are not used then.
   *
   * @default {true}
   */
  wait?: boolean;
}

// A client that went away between its handshake and accept(), for example
// one that reset at once (as load balancers' health checks do): skipped
// without a report.
const CLIENT_GONE_ERRORS = [
  Deno.errors.NotConnected,
  Deno.errors.ConnectionAborted,
  Deno.errors.ConnectionReset,
];
const CLIENT_GONE_CODES = new Set([
  "ECONNABORTED",
  "ENOTCONN",
  "ECONNRESET",
  "EPROTO",
]);

function isClientGone(error: unknown): boolean {
  if (CLIENT_GONE_ERRORS.some((type) => error instanceof type)) return true;
  const code = errorCode(error);
  return code !== undefined && CLIENT_GONE_CODES.has(code);
}

/** Go's net/http accept back-off: 5 ms, doubling, at most 1 s. */
const FIRST_RETRY_MS = 5;
const LAST_RETRY_MS = 1000;

/** The most `backlog` that fits every operating system's `listen()` argument. */
export const MAX_BACKLOG = 0x7fffffff;

// The settings listen() has just checked, for the Listener it makes with
// them, which does not check its options again.
let checkedSettings: SocketSettings | undefined;

/**
 * Checks the options of {@linkcode listen} and of a `Listener`'s sockets:
 * the settings of the sockets it will accept.
 */
export function checkListenOptions(options: ListenOptions): SocketSettings {
  if (options.hostname !== undefined) {
    checkHostname("hostname", options.hostname);
  }
  if (options.port !== undefined) checkPort("port", options.port, true);
  if (options.backlog !== undefined) {
    checkNumber("backlog", options.backlog, 1, { integer: true });
  }
  const settings = settleSocketOptions(options);
  checkProxyOptions(options);
  if (options.onError !== undefined && typeof options.onError !== "function") {
    throw new TypeError(
      `Cannot use onError ${String(options.onError)}: it must be a function`,
    );
  }
  return settings;
}

/**
 * Makes the `Listener` for `listener` with `options` that listen() has just
 * checked into `settings`, without checking them again.
 */
export function listenerWith<A extends Deno.Addr>(
  listener: Deno.Listener<Deno.Conn<A>, A>,
  options: ListenOptions,
  settings: SocketSettings,
): Listener<A> {
  checkedSettings = settings;
  try {
    return new Listener(listener, options);
  } finally {
    checkedSettings = undefined;
  }
}

/**
 * A passive socket: it waits for connections and accepts them. Made by
 * {@linkcode listen}.
 *
 * `accept()` takes a timeout without ever losing a connection, and
 * `for await` over the listener yields sockets until `close()`, then ends
 * without an error. Only `close()` ends it:
 *
 * - A client that went away before it was accepted (a reset, as load
 *   balancers' health checks do) is skipped.
 * - When the process or the machine runs out of file descriptors, buffers or
 *   memory, accepting waits and tries again (5 ms, doubling up to 1 s, as
 *   Go's `net/http` does) until connections close and free them; the clients
 *   wait in the backlog meanwhile. `onError` hears of it once per run of
 *   failures.
 * - Any other failure is handled the same way rather than ending the loop:
 *   a server that stopped accepting for good would be down while its process
 *   looks alive, whereas a retry once a second costs nothing, is reported,
 *   and recovers from whatever passes.
 *
 * @example Accepting with a timeout
 * ```ts
 * import { listen, TimeoutError } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = listen({ port: 0 });
 * await assert.rejects(listener.accept({ timeout: 10 }), TimeoutError);
 * ```
 */
export class Listener<A extends Deno.Addr = Deno.NetAddr> {
  readonly #listener: Deno.Listener<Deno.Conn<A>, A>;
  readonly #options: ListenOptions;
  readonly #settings: SocketSettings;
  #ready: Deno.Conn<A> | undefined;
  #pending: Promise<void> | undefined;
  #closed = false;
  #closedError: ConnectionClosedError | undefined;
  /** The wait before the next retry; 0 when the last accept succeeded. */
  #retryDelay = 0;
  /** Ends the back-off wait early; set only while waiting. */
  #wake: (() => void) | undefined;
  /** Reads PROXY headers, when `proxyProtocol` is set. */
  readonly #gate: ProxyGate | undefined;

  /**
   * Wraps a `Deno.Listener`. {@linkcode listen} makes listeners; use this
   * only for a TCP listener you opened yourself.
   *
   * @param listener The listener to own; this object closes it, also when
   * the options are wrong.
   * @param options The options for accepted sockets and `onError`.
   * @throws {RangeError} when `maxBufferSize` or another number is out of
   * range.
   */
  constructor(
    listener: Deno.Listener<Deno.Conn<A>, A>,
    options: ListenOptions = {},
  ) {
    try {
      this.#settings = checkedSettings ?? checkListenOptions(options);
    } catch (error) {
      closeQuietly(listener);
      throw error;
    }
    this.#listener = listener;
    this.#options = options;
    if (options.proxyProtocol) {
      this.#gate = new ProxyGate(
        options,
        () => this.#acceptUnread(),
        (error, where) => this.#tell(error, where),
        () => this.#where(),
      );
    }
  }

  /** The address listened on, with the real port when 0 was asked for. */
  get addr(): A {
    return this.#listener.addr;
  }

  /** The port listened on (undefined on a Unix socket). */
  get port(): A extends Deno.NetAddr ? number : undefined {
    return (this.#listener.addr as Partial<Deno.NetAddr>).port as never;
  }

  /** The local address listened on (undefined on a Unix socket). */
  get hostname(): A extends Deno.NetAddr ? string : undefined {
    return (this.#listener.addr as Partial<Deno.NetAddr>).hostname as never;
  }

  /** The socket file listened on (undefined on a TCP socket). */
  get path(): A extends Deno.UnixAddr ? string : undefined {
    return ((this.#listener.addr as Partial<Deno.UnixAddr>).path ??
      undefined) as never;
  }

  /** True once `close()` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True when `accept()` would not wait. */
  get hasInput(): boolean {
    if (this.#gate) return this.#gate.ready || this.#closed;
    return this.#ready !== undefined || this.#closed;
  }

  /**
   * Waits until a connection is ready to be accepted, like usocket's
   * `wait-for-input` on a listening socket.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns `true` when `accept()` would not wait, `false` on timeout.
   */
  waitForInput(options: WaitOptions = {}): Promise<boolean> {
    return waitUntil(this.hasInput, () => this.#nextReady(), options);
  }

  /**
   * Accepts a connection if one is ready, else gives `null` at once
   * (Allegro CL's `accept-connection :wait nil`). A connection whose
   * handshake has completed is ready: the one accept this listener keeps
   * outstanding is given one turn of the event loop to bring it in. A
   * connection that arrives later is kept for the next call, so none is
   * lost.
   *
   * @param options `wait: false`.
   * @returns The connected socket, or `null` when none is ready.
   * @throws {ConnectionClosedError} when the listener is closed.
   *
   * @example Polling
   * ```ts
   * import { connect, listen } from "@sock/sock";
   * import assert from "node:assert/strict";
   *
   * using listener = listen({ port: 0 });
   * assert.equal(await listener.accept({ wait: false }), null);
   * await using client = await connect({ port: listener.port });
   * await using server = await listener.accept({ wait: false });
   * assert.ok(server !== null);
   * ```
   */
  accept(
    options: AcceptOptions & { wait: false },
  ): Promise<Socket<A> | null>;
  /**
   * Accepts the next connection. It waits through a shortage of file
   * descriptors (see {@linkcode Listener}); the timeout and the signal
   * still apply meanwhile.
   *
   * @param options `timeout` in milliseconds and an abort `signal`; a
   * connection that arrives after the timeout is kept for the next call.
   * @returns The connected socket.
   * @throws {ConnectionClosedError} when the listener is or gets closed.
   * @throws {TimeoutError} when the timeout passes first.
   */
  accept(
    options?: WaitOptions & { wait?: true },
  ): Promise<Socket<A>>;
  /**
   * Accepts the next connection, or with `wait: false` one that is ready
   * (else `null`).
   *
   * @param options `wait`, a `timeout` in milliseconds and an abort `signal`.
   * @returns The connected socket; with `wait: false`, `null` when no
   * connection is ready.
   * @throws {ConnectionClosedError} when the listener is or gets closed.
   * @throws {TimeoutError} when the timeout passes first.
   * @throws {TypeError} when `wait` is not a boolean.
   */
  accept(options: AcceptOptions): Promise<Socket<A> | null>;
  accept(options?: AcceptOptions): Promise<Socket<A> | null> {
    const wait = options?.wait;
    if (wait === false) return this.#acceptReady();
    if (wait !== undefined && wait !== true) {
      return Promise.reject(
        new TypeError(
          `Cannot accept with wait ${String(wait)}: it must be true or false`,
        ),
      );
    }
    return this.#acceptNext(options);
  }

  /** The socket of a connection that is ready, or null, after one turn. */
  async #acceptReady(): Promise<Socket<A> | null> {
    if (!this.hasInput) await Promise.race([this.#nextReady(), nextTurn()]);
    return this.hasInput ? this.#acceptNext(undefined) : null;
  }

  async #acceptNext(options?: WaitOptions): Promise<Socket<A>> {
    let deadline: Deadline | undefined;
    if (hasDeadline(options)) {
      checkTimeout(options!.timeout);
      deadline = new Deadline(
        options!,
        () => `Cannot accept on ${this.#where()}`,
      );
    }
    try {
      for (;;) {
        // PROXY headers are read on TCP listeners only (see listen()).
        const socket = this.#gate?.take() as Socket<A> | undefined;
        if (socket !== undefined) return socket;
        const conn = this.#gate ? undefined : this.#ready;
        if (conn !== undefined) {
          this.#ready = undefined;
          return wrap(conn, this.#settings);
        }
        if (this.#closed) throw this.#closedError;
        const pending = this.#nextReady();
        await (deadline ? deadline.race(pending) : pending);
      }
    } finally {
      deadline?.clear();
    }
  }

  /** Yields accepted sockets until the listener is closed. */
  [Symbol.asyncIterator](): AsyncGenerator<
    Socket<A>,
    void,
    undefined
  > {
    return untilClosed(() => this.accept(), () => this.#closed);
  }

  /**
   * Stops listening. Calling it again does nothing; a waiting `accept()`
   * rejects at once, also during a back-off.
   */
  close(): void {
    this.#closeWith(undefined);
  }

  /** Closes the listener; this is what `using` calls. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Describes the listener the way Allegro CL prints a passive socket.
   *
   * @returns For example `#<passive socket waiting for connection at 127.0.0.1/9231>`.
   */
  toString(): string {
    const at = `waiting for connection at ${describeAddr(this.addr)}`;
    return `#<passive socket ${this.#closed ? `closed, was ${at}` : at}>`;
  }

  /** The same as {@linkcode Listener.prototype.toString}, for `console.log`. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }

  #where(): string {
    return describeAddr(this.addr, ":");
  }

  #closeWith(cause: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closedError = new ConnectionClosedError(
      `Cannot accept on ${this.#where()}: the listener is closed`,
      cause === undefined ? {} : { cause },
    );
    closeQuietly(this.#listener);
    this.#gate?.close();
    this.#wake?.();
    const conn = this.#ready;
    this.#ready = undefined;
    conn?.close();
  }

  /** Settles when accept() would not wait (for PROXY, once a header is in). */
  #nextReady(): Promise<void> {
    return this.#gate?.wait() ?? this.#startAccept();
  }

  /** The next accepted socket, its PROXY header unread; none once closed. */
  async #acceptUnread(): Promise<Socket<Deno.NetAddr> | undefined> {
    for (;;) {
      const conn = this.#ready;
      if (conn !== undefined) {
        this.#ready = undefined;
        return wrap(conn, this.#settings) as unknown as Socket<Deno.NetAddr>;
      }
      if (this.#closed) return undefined;
      await this.#startAccept();
    }
  }

  /** The one outstanding accept, started if none is. */
  #startAccept(): Promise<void> {
    if (this.#ready !== undefined || this.#closed) return Promise.resolve();
    this.#pending ??= this.#acceptOne().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  /** Accepts one connection into `#ready`, retrying until it or close(). */
  async #acceptOne(): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.Conn<A>;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closed) return;
        if (error instanceof Deno.errors.BadResource) {
          // Closed underneath (not by close()): no retry can succeed.
          this.#closeWith(error);
          return;
        }
        if (isClientGone(error)) continue;
        if (this.#retryDelay === 0) this.#report(error);
        await this.#backOff();
        continue;
      }
      if (this.#closed) {
        conn.close();
        return;
      }
      this.#retryDelay = 0;
      this.#ready = conn;
      return;
    }
  }

  /** Waits the next back-off delay, or until close(). */
  #backOff(): Promise<void> {
    this.#retryDelay = Math.min(
      this.#retryDelay === 0 ? FIRST_RETRY_MS : this.#retryDelay * 2,
      LAST_RETRY_MS,
    );
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.#wake?.(), this.#retryDelay);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  /** Tells `onError` about the first failure of a run; never throws. */
  #report(error: unknown): void {
    const where = `listener on ${this.#where()} (retrying)`;
    const mapped = mapError(error, { action: `accept on ${this.#where()}` });
    this.#tell(mapped, where);
  }

  /** Tells `onError` about `error`; never throws. */
  #tell(error: unknown, where: string): void {
    report(this.#options.onError, error, where);
  }
}

/**
 * Settles after the event loop has polled its pending operations once: an
 * accept started just before, with a connection waiting, has completed by
 * then.
 */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function closeQuietly(closer: { close(): void }): void {
  try {
    closer.close();
  } catch {
    // Already closed.
  }
}

/**
 * Makes the socket for a new connection, with its TCP options (a TLS or
 * Unix connection has none: a TLS client's were set before its handshake).
 */
export function wrap<A extends Deno.Addr>(
  conn: Deno.Conn<A>,
  settings: SocketSettings,
): Socket<A> {
  const socket = new Socket(conn, settings);
  if (!("setNoDelay" in conn)) return socket;
  try {
    if (!settings.noDelay) socket.setNoDelay(false);
    if (settings.keepAlive) socket.setKeepAlive(true);
  } catch {
    // The peer may already be gone; reads will tell.
  }
  return socket;
}
