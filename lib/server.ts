/**
 * Server loops: {@linkcode serve} for TCP and {@linkcode serveDatagram} for
 * UDP, usocket's `socket-server` made robust.
 *
 * @module
 */
import { formatHostPort } from "./_addr.ts";
import { PermissionError } from "./errors.ts";
import { listen, type Listener } from "./tcp.ts";
import type { Socket, SocketOptions } from "./socket.ts";
import { type Datagram, type DatagramSocket, listenDatagram } from "./udp.ts";

/**
 * Reports an error a handler threw, or one the loop met.
 *
 * @example Counting handler errors
 * ```ts
 * import { type ErrorReporter, serve } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * let errors = 0;
 * const onError: ErrorReporter = () => errors++;
 * await using server = serve(() => {
 *   throw new Error("bad");
 * }, { port: 0, onError });
 * assert.equal(errors, 0);
 * ```
 */
export type ErrorReporter = (error: unknown, where: string) => void;

/**
 * Options for {@linkcode serve}.
 *
 * @example A server with tight limits
 * ```ts
 * import { serve } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const stop = new AbortController();
 * const server = serve(async (socket) => {
 *   await socket.write("hi\n");
 * }, {
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   signal: stop.signal,
 *   maxConnections: 100,
 *   idleTimeout: 5000,
 *   shutdownTimeout: 1000,
 *   maxBufferSize: 64 * 1024,
 *   onError: (error, where) => console.error(where, error),
 * });
 * stop.abort();
 * await server.finished;
 * assert.equal(server.active, 0);
 * ```
 */
export interface ServeOptions extends SocketOptions {
  /**
   * The local address to listen on.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The port; 0 lets the operating system choose.
   *
   * @default {0}
   */
  port?: number;
  /**
   * Aborting it shuts the server down gracefully, as `shutdown()` does.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * The most connections handled at once. Past it the server stops
   * accepting: further clients wait in the operating system's backlog and
   * are accepted, in order, as handlers finish.
   *
   * @default {1024}
   */
  maxConnections?: number;
  /**
   * Milliseconds a connection may go without a byte in either direction
   * before it is closed (its handler's pending read fails). This is what
   * stops a client that connects and never sends, or sends a byte a minute.
   *
   * @default {30000}
   */
  idleTimeout?: number;
  /**
   * On shutdown, how long in-flight handlers may run on, in milliseconds,
   * before their connections are closed.
   *
   * @default {10000}
   */
  shutdownTimeout?: number;
  /**
   * How many bytes one connection may have buffered unread (the
   * per-connection read limit); a longer line or datum fails with
   * `LimitExceededError`.
   *
   * @default {1048576}
   */
  maxBufferSize?: number;
  /**
   * Let several servers share the port (Linux `SO_REUSEPORT`); needs
   * `--unstable-net`.
   *
   * @default {false}
   */
  reusePort?: boolean;
  /**
   * Where handler errors go.
   *
   * @default {one line on stderr}
   */
  onError?: ErrorReporter;
}

/**
 * A running server, returned by {@linkcode serve} and {@linkcode serveDatagram}.
 *
 * @example Stopping a server
 * ```ts
 * import { type Server, serve } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const server: Server = serve(() => {}, { port: 0 });
 * assert.ok(server.port > 0);
 * await server.shutdown();
 * ```
 */
export interface Server {
  /** The address listened on, with the real port when 0 was asked for. */
  readonly addr: Deno.NetAddr;
  /** The port listened on. */
  readonly port: number;
  /** Settles when the server has stopped and every handler has ended. */
  readonly finished: Promise<void>;
  /** How many connections (or datagrams) are being handled now. */
  readonly active: number;
  /**
   * Stops accepting, lets in-flight handlers finish (up to the shutdown
   * timeout), then closes what is left.
   *
   * @returns The same promise as `finished`.
   */
  shutdown(): Promise<void>;
  /** Shuts down; this is what `await using` calls. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A TCP connection handler; the socket is closed when it returns or throws.
 *
 * @example A handler
 * ```ts
 * import { type Handler, serve } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const echoLine: Handler = async (socket) => {
 *   await socket.write(`${await socket.readLine()}\n`);
 * };
 * await using server = serve(echoLine, { port: 0 });
 * assert.ok(server.port > 0);
 * ```
 */
export type Handler = (socket: Socket) => unknown;

const defaultReporter: ErrorReporter = (error, where) => {
  const text = error instanceof Error ? error.message : String(error);
  console.error(`${where}: ${text}`);
};

/** An error reporter that can never throw into the server loop. */
function guard(reporter: ErrorReporter): ErrorReporter {
  return (error, where) => {
    try {
      reporter(error, where);
    } catch {
      // A broken reporter must not stop the server.
    }
  };
}

function peerOf(addr: Deno.Addr): string {
  return addr.transport === "tcp" || addr.transport === "udp"
    ? formatHostPort(addr.hostname, addr.port)
    : addr.transport;
}

/**
 * A set held in an array of reusable slots, for the connections in flight.
 * Every connection adds and deletes an entry; churned like that, a `Set`
 * or `Map` tripled the garbage collector's time per connection.
 */
class Slots<T> implements Iterable<T> {
  #items: (T | undefined)[] = [];
  #free: number[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Adds an item; returns its slot. */
  add(item: T): number {
    const slot = this.#free.pop() ?? this.#items.length;
    this.#items[slot] = item;
    this.#size++;
    return slot;
  }

  delete(slot: number): void {
    if (this.#items[slot] === undefined) return;
    this.#items[slot] = undefined;
    this.#size--;
    this.#free.push(slot);
  }

  *[Symbol.iterator](): Iterator<T> {
    for (const item of this.#items) if (item !== undefined) yield item;
  }
}

/** Waits for `promises` to settle, or for `ms` milliseconds, whichever is first. */
async function settleWithin(
  promises: Iterable<Promise<unknown>>,
  ms: number,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(promises),
    new Promise((resolve) => timer = setTimeout(resolve, ms)),
  ]);
  clearTimeout(timer);
}

/** What a loop tells its `Server` object. */
interface Loop {
  addr(): Deno.NetAddr;
  active(): number;
  stop(): Promise<void>;
}

/** The `Server` around a loop: one shutdown, however often and however it is asked for. */
function running(signal: AbortSignal | undefined, loop: Loop): Server {
  let stopped: Promise<void> | undefined;
  let settle: () => void = () => {};
  const finished = new Promise<void>((resolve) => settle = resolve);
  const onAbort = () => void shutdown();
  function shutdown(): Promise<void> {
    return stopped ??= (async () => {
      await loop.stop();
      signal?.removeEventListener("abort", onAbort);
      settle();
    })();
  }
  if (signal?.aborted) void shutdown();
  else signal?.addEventListener("abort", onAbort, { once: true });
  return {
    get addr() {
      return loop.addr();
    },
    get port() {
      return loop.addr().port;
    },
    get active() {
      return loop.active();
    },
    get finished() {
      return finished;
    },
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

function positive(name: string, value: number): number {
  if (!(value > 0)) {
    throw new RangeError(`Cannot use ${name} ${value}: it must be more than 0`);
  }
  return value;
}

/**
 * Runs `handler` for every connection to a TCP port, concurrently, like
 * usocket's `socket-server`. Nothing a client does takes the server down:
 * a handler that throws is reported through `onError` and its connection
 * closed; idle clients are cut off after `idleTimeout`; no client can make
 * it buffer more than `maxBufferSize` bytes; a client that resets before it
 * is accepted is skipped.
 *
 * Requires `allow-net` permission for the address it listens on.
 *
 * @param handler Called with each connected socket; the socket is flushed
 * and closed when the handler's promise settles.
 * @param options Where to listen, the limits, and the shutdown signal.
 * @returns The running server.
 *
 * @example A line echo server
 * ```ts
 * import { connect, serve } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * await using server = serve(async (socket) => {
 *   const line = await socket.readLine();
 *   await socket.write(`echo: ${line}\n`);
 * }, { port: 0 });
 *
 * await using client = await connect({ port: server.port });
 * await client.write("hi\n");
 * await client.flush();
 * assert.equal(await client.readLine(), "echo: hi");
 * ```
 *
 * @tags allow-net
 */
export function serve(handler: Handler, options: ServeOptions = {}): Server {
  const maxConnections = positive(
    "maxConnections",
    options.maxConnections ?? 1024,
  );
  const idleTimeout = positive("idleTimeout", options.idleTimeout ?? 30_000);
  const shutdownTimeout = options.shutdownTimeout ?? 10_000;
  const report = guard(options.onError ?? defaultReporter);
  const listener: Listener = listen({
    ...options,
    maxBufferSize: options.maxBufferSize ?? 1024 * 1024,
  });
  // The sockets whose handlers are running: one per connection in flight.
  const sockets = new Slots<Socket>();
  let slotFreed: (() => void) | undefined;
  let drained: (() => void) | undefined;
  let stopping = false;
  let sweeper: ReturnType<typeof setInterval> | undefined;

  function sweep(): void {
    for (const socket of sockets) {
      if (socket.idleTime > idleTimeout) socket.close({ abort: true });
    }
  }

  async function handle(socket: Socket, slot: number): Promise<void> {
    try {
      await handler(socket);
    } catch (error) {
      if (!socket.closed) {
        report(error, `handler for ${peerOf(socket.remoteAddr)}`);
      }
    } finally {
      await socket.close();
      sockets.delete(slot);
      slotFreed?.();
      if (sockets.size === 0) drained?.();
    }
  }

  async function acceptLoop(): Promise<void> {
    while (!stopping) {
      if (sockets.size >= maxConnections) {
        await new Promise<void>((resolve) => slotFreed = resolve);
        slotFreed = undefined;
        continue;
      }
      let socket: Socket;
      try {
        socket = await listener.accept();
      } catch (error) {
        if (stopping || listener.closed) return;
        report(error, `accept on ${peerOf(listener.addr)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      void handle(socket, sockets.add(socket));
    }
  }

  if (idleTimeout !== Infinity) {
    sweeper = setInterval(sweep, Math.max(10, Math.min(1000, idleTimeout / 4)));
  }
  const accepting = acceptLoop();
  return running(options.signal, {
    addr: () => listener.addr,
    active: () => sockets.size,
    async stop() {
      stopping = true;
      listener.close();
      slotFreed?.();
      await accepting;
      if (sockets.size > 0) {
        const allDone = new Promise<void>((resolve) => drained = resolve);
        await settleWithin([allDone], shutdownTimeout);
        for (const socket of sockets) socket.close({ abort: true });
        await allDone;
      }
      if (sweeper !== undefined) clearInterval(sweeper);
    },
  });
}

/**
 * What a datagram handler may return: a reply to send back, or nothing.
 *
 * @example Replying with text
 * ```ts
 * import type { DatagramReply } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const reply: DatagramReply = "pong";
 * assert.equal(reply, "pong");
 * ```
 */
export type DatagramReply = Uint8Array | string | undefined | void;

/**
 * A datagram handler: gets each datagram, may return a reply for its sender.
 *
 * @example An echo handler
 * ```ts
 * import { type DatagramHandler, serveDatagram } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const echo: DatagramHandler = ({ data }) => data;
 * await using server = serveDatagram(echo, { port: 0 });
 * assert.ok(server.port > 0);
 * ```
 */
export type DatagramHandler = (
  datagram: Datagram,
) => DatagramReply | Promise<DatagramReply>;

/**
 * Options for {@linkcode serveDatagram}.
 *
 * @example Every option
 * ```ts
 * import { serveDatagram } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const stop = new AbortController();
 * const server = serveDatagram(({ data }) => data, {
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   signal: stop.signal,
 *   maxInFlight: 64,
 *   shutdownTimeout: 1000,
 *   onError: (error, where) => console.error(where, error),
 * });
 * stop.abort();
 * await server.finished;
 * assert.equal(server.active, 0);
 * ```
 */
export interface ServeDatagramOptions {
  /**
   * The local address to receive on.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The port; 0 lets the operating system choose.
   *
   * @default {0}
   */
  port?: number;
  /**
   * Aborting it shuts the server down gracefully.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * The most datagrams whose (async) handlers run at once; receiving
   * pauses past it.
   *
   * @default {1024}
   */
  maxInFlight?: number;
  /**
   * On shutdown, how long running handlers may go on, in milliseconds.
   *
   * @default {10000}
   */
  shutdownTimeout?: number;
  /**
   * Where handler errors go.
   *
   * @default {one line on stderr}
   */
  onError?: ErrorReporter;
}

const encoder = new TextEncoder();

/**
 * A datagram server answers each sender on whatever port it wrote from, and
 * Deno checks every destination: without the host-wide grant the first
 * reply would fail. Say so before opening the socket.
 */
function checkReplyPermission(hostname: string, port: number): void {
  if (hostname === "0.0.0.0" || hostname === "::") return;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  if (Deno.permissions.querySync({ name: "net", host }).state === "granted") {
    return;
  }
  throw new PermissionError(
    `Cannot serve datagrams on ${
      formatHostPort(hostname, port)
    }: replies go to each sender's own port`,
    `--allow-net=${host}`,
  );
}

/**
 * Runs `handler` for every datagram received on a UDP port and sends back
 * what it returns, like usocket's `socket-server` with `:protocol
 * :datagram`. A handler that throws is reported, not fatal.
 *
 * Requires `--unstable-net`, and `allow-net` permission for the bound
 * address and for every client answered: a server that replies to clients
 * on any port needs the host-wide grant, e.g. `--allow-net=127.0.0.1`; it
 * is checked before the socket opens, so a missing grant fails at once with
 * a `PermissionError` naming it rather than at the first reply.
 *
 * @param handler Called with each datagram; a returned array or string is
 * sent back to the sender.
 * @param options Where to listen, limits, and the shutdown signal.
 * @returns The running server.
 *
 * @example A reverse server
 * ```ts
 * import { connectDatagram, serveDatagram } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * await using server = serveDatagram(({ data }) => data.reverse(), { port: 0 });
 * using client = connectDatagram({ remotePort: server.port });
 * await client.send(new Uint8Array([1, 2, 3]));
 * assert.deepEqual((await client.receive({ timeout: 1000 })).data, new Uint8Array([3, 2, 1]));
 * ```
 *
 * @tags allow-net, unstable
 */
export function serveDatagram(
  handler: DatagramHandler,
  options: ServeDatagramOptions = {},
): Server {
  const report = guard(options.onError ?? defaultReporter);
  const maxInFlight = positive("maxInFlight", options.maxInFlight ?? 1024);
  const shutdownTimeout = options.shutdownTimeout ?? 10_000;
  checkReplyPermission(options.hostname ?? "127.0.0.1", options.port ?? 0);
  const socket: DatagramSocket = listenDatagram(options);
  const inFlight = new Slots<Promise<void>>();
  let slotFreed: (() => void) | undefined;
  let stopping = false;

  async function reply(
    datagram: Datagram,
    answer: DatagramReply,
  ): Promise<void> {
    if (answer === undefined || stopping && socket.closed) return;
    const bytes = typeof answer === "string" ? encoder.encode(answer) : answer;
    try {
      await socket.send(bytes, datagram.remoteAddr);
    } catch (error) {
      report(error, `reply to ${peerOf(datagram.remoteAddr)}`);
    }
  }

  /** Sends a reply at once: one promise, no async frame, per datagram. */
  function sendReply(
    datagram: Datagram,
    answer: Uint8Array | string,
  ): Promise<void> {
    const bytes = typeof answer === "string" ? encoder.encode(answer) : answer;
    return socket.send(bytes, datagram.remoteAddr).then(
      () => {},
      (error) => report(error, `reply to ${peerOf(datagram.remoteAddr)}`),
    );
  }

  /** Counts a reply in flight until it settles (it never rejects). */
  function track(done: Promise<void>): void {
    const slot = inFlight.add(done);
    done.then(() => {
      inFlight.delete(slot);
      slotFreed?.();
    });
  }

  async function handleAsync(
    datagram: Datagram,
    pending: Promise<DatagramReply>,
  ): Promise<void> {
    try {
      await reply(datagram, await pending);
    } catch (error) {
      report(error, `handler for ${peerOf(datagram.remoteAddr)}`);
    }
  }

  async function receiveLoop(): Promise<void> {
    while (!stopping) {
      if (inFlight.size >= maxInFlight) {
        await new Promise<void>((resolve) => slotFreed = resolve);
        slotFreed = undefined;
        continue;
      }
      let datagram: Datagram;
      try {
        datagram = await socket.receive();
      } catch (error) {
        if (stopping || socket.closed) return;
        report(error, `receive on ${peerOf(socket.addr)}`);
        continue;
      }
      let answer: DatagramReply | Promise<DatagramReply>;
      try {
        answer = handler(datagram);
      } catch (error) {
        report(error, `handler for ${peerOf(datagram.remoteAddr)}`);
        continue;
      }
      if (answer === undefined) continue;
      track(
        answer instanceof Promise
          ? handleAsync(datagram, answer)
          : sendReply(datagram, answer),
      );
    }
  }

  const receiving = receiveLoop();
  return running(options.signal, {
    addr: () => socket.addr,
    active: () => inFlight.size,
    async stop() {
      stopping = true;
      slotFreed?.();
      // Let a datagram whose handler asked for the shutdown be counted in flight.
      await null;
      if (inFlight.size > 0) await settleWithin(inFlight, shutdownTimeout);
      socket.close();
      await receiving;
    },
  });
}
