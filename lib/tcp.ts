/**
 * Passive and active TCP sockets: {@linkcode listen} and {@linkcode connect}.
 *
 * @module
 */
import { describeAddr, formatHostPort } from "./_addr.ts";
import {
  checkTimeout,
  Deadline,
  hasDeadline,
  untilClosed,
  type WaitOptions,
  waitUntil,
} from "./_deadline.ts";
import { mapError } from "./_map_error.ts";
import {
  ConnectionClosedError,
  type SocketError,
  TimeoutError,
} from "./errors.ts";
import { Socket, type SocketOptions } from "./socket.ts";

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
 * });
 * assert.equal(listener.hostname, "127.0.0.1");
 * ```
 */
export interface ListenOptions extends SocketOptions {
  /**
   * The local address to listen on. The default accepts connections from
   * this machine only; use `"0.0.0.0"` or `"::"` for every interface.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The port to listen on; 0 lets the operating system choose a free one,
   * which {@linkcode Listener.prototype.port} then tells.
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
   * Send small writes of accepted sockets at once (`TCP_NODELAY`).
   *
   * @default {true}
   */
  noDelay?: boolean;
  /**
   * Turn on TCP keep-alive probes on accepted sockets.
   *
   * @default {false}
   */
  keepAlive?: boolean;
}

/**
 * Options for {@linkcode connect}.
 *
 * @example A connect that gives up
 * ```ts
 * import { connect, listen } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = listen({ port: 0 });
 * await using socket = await connect({
 *   hostname: "127.0.0.1",
 *   port: listener.port,
 *   timeout: 1000,
 *   noDelay: true,
 *   keepAlive: false,
 * });
 * assert.equal(socket.remoteAddr.transport, "tcp");
 * ```
 */
export interface ConnectOptions extends SocketOptions, WaitOptions {
  /**
   * The host to connect to: a name or an IP address.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /** The port to connect to. */
  port: number;
  /**
   * Send small writes at once (`TCP_NODELAY`); sock buffers writes until
   * `flush()` anyway.
   *
   * @default {true}
   */
  noDelay?: boolean;
  /**
   * Turn on TCP keep-alive probes.
   *
   * @default {false}
   */
  keepAlive?: boolean;
}

const TRANSIENT_ACCEPT_ERRORS = [
  Deno.errors.NotConnected,
  Deno.errors.ConnectionAborted,
  Deno.errors.ConnectionReset,
];

/**
 * A passive socket: it waits for connections and accepts them. Made by
 * {@linkcode listen}.
 *
 * `accept()` takes a timeout without ever losing a connection, and
 * `for await` over the listener yields sockets until `close()`, then ends
 * without an error. A client that resets before it is accepted is skipped.
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
export class Listener {
  readonly #listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr>;
  readonly #options: ListenOptions;
  #ready: Deno.TcpConn | undefined;
  #pending: Promise<void> | undefined;
  #accepting = false;
  #error: SocketError | undefined;
  #closed = false;

  /**
   * Wraps a `Deno.Listener`. {@linkcode listen} makes listeners; use this
   * only for a TCP listener you opened yourself.
   *
   * @param listener The listener to own; this object closes it.
   * @param options The options for accepted sockets.
   */
  constructor(
    listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr>,
    options: ListenOptions = {},
  ) {
    this.#listener = listener;
    this.#options = options;
  }

  /** The address listened on, with the real port when 0 was asked for. */
  get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  /** The port listened on. */
  get port(): number {
    return this.#listener.addr.port;
  }

  /** The local address listened on. */
  get hostname(): string {
    return this.#listener.addr.hostname;
  }

  /** True once `close()` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True when `accept()` would not wait. */
  get hasInput(): boolean {
    return this.#ready !== undefined || this.#error !== undefined ||
      this.#closed;
  }

  /**
   * Waits until a connection is ready to be accepted, like usocket's
   * `wait-for-input` on a listening socket.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns `true` when `accept()` would not wait, `false` on timeout.
   */
  waitForInput(options: WaitOptions = {}): Promise<boolean> {
    return waitUntil(this.hasInput, () => this.#startAccept(), options);
  }

  /**
   * Accepts the next connection.
   *
   * @param options `timeout` in milliseconds and an abort `signal`; a
   * connection that arrives after the timeout is kept for the next call.
   * @returns The connected socket.
   * @throws {ConnectionClosedError} when the listener is or gets closed.
   * @throws {TimeoutError} when the timeout passes first.
   */
  async accept(options?: WaitOptions): Promise<Socket> {
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
        const conn = this.#ready;
        if (conn !== undefined) {
          this.#ready = undefined;
          return this.#wrap(conn);
        }
        if (this.#error !== undefined) throw this.#error;
        const pending = this.#startAccept();
        await (deadline ? deadline.race(pending) : pending);
      }
    } finally {
      deadline?.clear();
    }
  }

  /** Yields accepted sockets until the listener is closed. */
  [Symbol.asyncIterator](): AsyncGenerator<Socket, void, undefined> {
    return untilClosed(() => this.accept(), () => this.#closed);
  }

  /** Stops listening. Calling it again does nothing; a waiting `accept()` rejects. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#error ??= new ConnectionClosedError(
      `Cannot accept on ${this.#where()}: the listener is closed`,
    );
    try {
      this.#listener.close();
    } catch {
      // Already closed underneath.
    }
    const conn = this.#ready;
    this.#ready = undefined;
    conn?.close();
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
    return formatHostPort(this.addr.hostname, this.addr.port);
  }

  #wrap(conn: Deno.TcpConn): Socket {
    return wrap(conn, this.#options);
  }

  /** The one outstanding accept, started if none is. */
  #startAccept(): Promise<void> {
    if (this.#pending !== undefined) return this.#pending;
    if (this.#ready !== undefined || this.#error !== undefined) {
      return Promise.resolve();
    }
    const pending = this.#acceptOne();
    if (this.#accepting) this.#pending = pending;
    return pending;
  }

  async #acceptOne(): Promise<void> {
    this.#accepting = true;
    try {
      for (;;) {
        try {
          this.#ready = await this.#listener.accept();
          return;
        } catch (error) {
          if (this.#closed) throw error;
          if (!TRANSIENT_ACCEPT_ERRORS.some((type) => error instanceof type)) {
            throw error;
          }
        }
      }
    } catch (error) {
      this.#error = this.#closed
        ? new ConnectionClosedError(
          `Cannot accept on ${this.#where()}: the listener is closed`,
          { cause: error },
        )
        : mapError(error, {
          action: `accept on ${this.#where()}`,
        }) as SocketError;
    } finally {
      this.#accepting = false;
      this.#pending = undefined;
    }
  }
}

/**
 * Opens a passive socket (usocket's `socket-listen`, Allegro's
 * `make-socket :connect :passive`).
 *
 * Requires `allow-net` permission for `HOST:PORT` as given: port 0 needs
 * `--allow-net=127.0.0.1:0`.
 *
 * @param options Where to listen, and options for accepted sockets.
 * @returns The listener.
 * @throws {AddressInUseError} when the port is taken.
 * @throws {PermissionError} when the `--allow-net` grant is missing; its
 * message names the flag.
 *
 * @example Listening on a port the OS chooses
 * ```ts
 * import { listen } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = listen({ port: 0 });
 * assert.ok(listener.port > 0);
 * assert.equal(listener.hostname, "127.0.0.1");
 * ```
 *
 * @tags allow-net
 */
export function listen(options: ListenOptions = {}): Listener {
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 0;
  try {
    const listener = Deno.listen({
      transport: "tcp",
      hostname,
      port,
      tcpBacklog: options.backlog ?? 511,
      ...(options.reusePort ? { reusePort: true } : {}),
    });
    return new Listener(listener, options);
  } catch (error) {
    throw mapError(error, {
      action: `listen on ${formatHostPort(hostname, port)}`,
      address: { hostname, port },
    });
  }
}

/**
 * Connects to a server (usocket's `socket-connect`, Allegro's
 * `make-socket :remote-host … :remote-port …`).
 *
 * Requires `allow-net` permission for `HOST:PORT`, written exactly as
 * given: `localhost` and `127.0.0.1` are different grants.
 *
 * @param options Where to connect, a `timeout` in milliseconds or an abort
 * `signal`, and socket options.
 * @returns The connected socket.
 * @throws {ConnectionRefusedError} when nothing listens there.
 * @throws {HostNotFoundError} when the host name does not resolve.
 * @throws {TimeoutError} when the timeout passes first.
 * @throws {PermissionError} when the `--allow-net` grant is missing.
 *
 * @example A client and a server on loopback
 * ```ts
 * import { connect, listen } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = listen({ port: 0 });
 * await using client = await connect({ port: listener.port, timeout: 1000 });
 * await using server = await listener.accept();
 * assert.equal(server.remoteAddr.transport, "tcp");
 * assert.match(String(client), /^#<multivalent stream socket connected from/);
 * ```
 *
 * @tags allow-net
 */
export async function connect(options: ConnectOptions): Promise<Socket> {
  const hostname = options.hostname ?? "127.0.0.1";
  const { port, timeout, signal } = options;
  const where = formatHostPort(hostname, port);
  checkTimeout(timeout);
  signal?.throwIfAborted();
  const controller = new AbortController();
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const onAbort = () => controller.abort(signal?.reason);
  if (timeout !== undefined && timeout !== Infinity) {
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeout);
  }
  signal?.addEventListener("abort", onAbort, { once: true });
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({
      transport: "tcp",
      hostname,
      port,
      ...(timer !== undefined || signal ? { signal: controller.signal } : {}),
    });
  } catch (error) {
    if (timedOut) {
      throw new TimeoutError(
        `Cannot connect to ${where}: timed out after ${timeout} ms`,
        timeout!,
        { cause: error, address: { hostname, port } },
      );
    }
    if (signal?.aborted) throw signal.reason;
    throw mapError(error, {
      action: `connect to ${where}`,
      address: { hostname, port },
    });
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
  return wrap(conn, options);
}

/** Makes the socket for a new connection, with its TCP options. */
function wrap(
  conn: Deno.TcpConn,
  options: SocketOptions & { noDelay?: boolean; keepAlive?: boolean },
): Socket {
  const socket = new Socket(conn, options);
  try {
    if (options.noDelay === false) socket.setNoDelay(false);
    if (options.keepAlive) socket.setKeepAlive(true);
  } catch {
    // The peer may already be gone; reads will tell.
  }
  return socket;
}
