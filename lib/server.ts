/**
 * The stream server loop: {@linkcode serve} for TCP, TLS and Unix
 * sockets, usocket's `socket-server` made robust.
 *
 * @module
 */
import { startTimer } from "./_deadline.ts";
import { checkNumber } from "./_validate.ts";
import {
  ConnectionClosedError,
  ConnectionResetError,
  TimeoutError,
} from "./errors.ts";
import type { Listener, TcpOptions } from "./listener.ts";
import { listen } from "./tcp.ts";
import type { ProxyProtocolOptions } from "./proxy.ts";
import type { TlsListenOptions } from "./tls.ts";
import type { UnixListenOptions } from "./unix.ts";
import { abortWith } from "./_internal.ts";
import type { Socket, SocketOptions } from "./socket.ts";
import {
  type ErrorReporter,
  guard,
  milliseconds,
  peerOf,
  positive,
  type Reporter,
  running,
  type Server,
  settleWithin,
  Slots,
} from "./_server_core.ts";

import { StatsCounter } from "./_server_stats.ts";
import { serverMetrics } from "./_server_metrics.ts";

export type { ErrorReporter, Server } from "./_server_core.ts";
export type { ServerStats } from "./_server_stats.ts";

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
export interface ServeOptions
  extends SocketOptions, TcpOptions, ProxyProtocolOptions {
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
   * Milliseconds a connection may wait on its client with no byte in
   * either direction before it is closed. A connection is idle only while
   * its handler waits on it: a read (or `waitForInput()`) with nothing
   * arriving, or a flush with nothing leaving. A handler busy with its own
   * work is never cut off, however long it takes. When it is closed, the
   * handler's pending read or flush fails with a `ConnectionClosedError`
   * that says the connection was idle for this long. This is what stops a
   * client that connects and never sends, or never reads its replies.
   *
   * @default {30000}
   */
  idleTimeout?: number;
  /**
   * On shutdown, how long in-flight handlers may run on, in milliseconds.
   * It is a hard bound: at the deadline every connection still open is
   * aborted, each handler still running is reported through `onError` as
   * not having finished, and `finished` settles.
   *
   * @default {10000}
   */
  shutdownTimeout?: number;
  /**
   * On shutdown, how long to go on accepting and serving as usual before
   * the listener closes, in milliseconds, so that a load balancer in front
   * takes the server out of rotation first: a connection that reaches a
   * closed port is refused (which a balancer retries elsewhere), but one
   * already waiting in the port's backlog when it closes is reset, and its
   * client gets nothing. While the delay runs, connections whose PROXY
   * header is `LOCAL` (the balancer's health checks) are closed at once,
   * unread, so that a check that expects an answer (HAProxy's
   * `tcp-check expect`) fails and the balancer marks the server down; set
   * the delay above the time that takes (HAProxy: `fall` × `inter`, and
   * some). Behind a balancer that learns of the shutdown by other means
   * (Kubernetes removing the pod's endpoints), it is the time those take to
   * reach every balancer. Handlers' `signal` aborts when the delay ends.
   *
   * @default {0}
   */
  drainDelay?: number;
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
  /**
   * Serve over TLS: the server's certificate and key (PEM text) and its
   * ALPN protocols. Each connection completes its handshake before the
   * handler is called; one that fails is reported through `onError` and
   * closed, and the handler never sees it.
   *
   * @default {undefined}
   */
  tls?: TlsListenOptions;
  /**
   * With `tls`: milliseconds a client may take to complete the TLS
   * handshake before it is dropped. Handshakes run concurrently, each in
   * its connection's slot, so clients that never finish theirs hold a slot
   * each for this long but cannot stop others from being served. Deno
   * frees such a connection's socket only once the client closes its end:
   * each one holds a file descriptor until then.
   *
   * @default {10000}
   */
  handshakeTimeout?: number;
}

/**
 * Options for `serve(handler, { path })`: a server on a Unix domain
 * socket. The limits are those of {@linkcode ServeOptions}.
 *
 * @example
 * ```ts ignore
 * import { connect, serve, type UnixServeOptions } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const options: UnixServeOptions = { path: `${dir}/echo.sock`, idleTimeout: 5000 };
 * const server = await serve(async (socket) => {
 *   await socket.write(`${await socket.readLine()}\n`);
 * }, options);
 * await using client = await connect({ path: options.path });
 * await client.write("hi\n");
 * await client.flush();
 * assert.equal(await client.readLine({ timeout: 5000 }), "hi");
 * await server.shutdown();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface UnixServeOptions extends
  Omit<
    ServeOptions,
    | "hostname"
    | "port"
    | "reusePort"
    | "tls"
    | "handshakeTimeout"
    | "noDelay"
    | "keepAlive"
  > {
  /**
   * The socket file to listen on; a stale one (nothing accepts on it) is
   * removed first, as `listen({ path })` does.
   */
  path: string;
}

/**
 * A TCP connection handler; the socket is closed when it returns or throws.
 * Its second argument carries a `signal` that aborts when the server
 * begins to shut down: pass it to reads so that a handler waiting on a
 * quiet client can say goodbye and return, instead of holding the
 * shutdown up for the whole `shutdownTimeout`.
 *
 * @example A handler that leaves when the server shuts down
 * ```ts
 * import { connect, type Handler, serve } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const chat: Handler = async (socket, { signal }) => {
 *   try {
 *     for (;;) {
 *       const line = await socket.readLine({ signal });
 *       if (line === null) return;
 *       await socket.write(`you said ${line}\n`);
 *       await socket.flush();
 *     }
 *   } catch (error) {
 *     if (!signal.aborted) throw error;
 *     await socket.write("server going down, bye\n");
 *   }
 * };
 * const server = serve(chat, { port: 0 });
 * await using client = await connect({ port: server.port });
 * await client.write("hi\n");
 * await client.flush();
 * assert.equal(await client.readLine({ timeout: 5000 }), "you said hi");
 * await server.shutdown();
 * assert.equal(await client.readLine({ timeout: 5000 }), "server going down, bye");
 * ```
 */
export type Handler<A extends Deno.Addr = Deno.NetAddr> = (
  socket: Socket<A>,
  context: HandlerContext,
) => unknown;

/**
 * What {@linkcode serve} gives each handler besides its socket.
 *
 * @example Passing the shutdown signal to a read
 * ```ts
 * import type { HandlerContext, Socket } from "@sock/sock";
 *
 * async function greet(socket: Socket, { signal }: HandlerContext) {
 *   const name = await socket.readLine({ signal, timeout: 10_000 });
 *   await socket.write(`hello ${name}\n`);
 * }
 * console.assert(typeof greet === "function");
 * ```
 */
export interface HandlerContext {
  /**
   * Aborts when the server begins to shut down. Its reason is a
   * `ConnectionClosedError`; a handler that throws it is not reported.
   */
  readonly signal: AbortSignal;
}

/**
 * A client that closed or reset before finishing its TLS handshake (as
 * health checks and port scanners do): nothing to report.
 */
function leftBeforeHandshake(error: unknown): boolean {
  return error instanceof ConnectionResetError ||
    (error instanceof Error &&
      error.cause instanceof Deno.errors.UnexpectedEof);
}

/**
 * Runs `handler` for every connection to a Unix domain socket, with the
 * same guarantees as over TCP. It is asynchronous because a socket file
 * already at `path` is probed first (see `listen({ path })`).
 *
 * Requires `--allow-read=P --allow-write=P --allow-net=unix:P`.
 *
 * @param handler Called with each connected socket.
 * @param options The socket file, the limits, and the shutdown signal.
 * @returns The running server, once it listens.
 *
 * @example
 * ```ts ignore
 * import { serve } from "@sock/sock";
 *
 * await serve(async (socket) => await socket.write("hello\n"), { path: "/tmp/hello.sock" });
 * ```
 *
 * @tags allow-read, allow-write, allow-net
 */
export function serve(
  handler: Handler<Deno.UnixAddr>,
  options: UnixServeOptions,
): Promise<Server<Deno.UnixAddr>>;
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
export function serve(handler: Handler, options?: ServeOptions): Server;
export function serve(
  handler: Handler<never>,
  options: ServeOptions | UnixServeOptions = {},
): Server | Promise<Server<Deno.UnixAddr>> {
  const maxConnections = positive(
    "maxConnections",
    options.maxConnections ?? 1024,
  );
  const idleTimeout = positive("idleTimeout", options.idleTimeout ?? 30_000);
  const shutdownTimeout = milliseconds(
    "shutdownTimeout",
    options.shutdownTimeout ?? 10_000,
  );
  const drainDelay = checkNumber("drainDelay", options.drainDelay ?? 0, 0);
  const tls = "path" in options ? undefined : options.tls;
  const handshakeTimeout = tls === undefined || "path" in options
    ? undefined
    : positive("handshakeTimeout", options.handshakeTimeout ?? 10_000);
  const socketOptions = {
    ...options,
    maxBufferSize: options.maxBufferSize ?? 1024 * 1024,
  };
  const tell = guard(options.onError);
  const stats = new StatsCounter();
  const report: Reporter = (error, where) => {
    stats.reported(error);
    tell(error, where);
  };
  const settings: Settings = {
    maxConnections,
    idleTimeout,
    shutdownTimeout,
    handshakeTimeout,
    drainDelay,
    report,
    stats,
    tls: tls !== undefined,
  };
  if ("path" in socketOptions) {
    return listen({ ...socketOptions, onError: report } as UnixListenOptions)
      .then((listener) =>
        serveOn(listener, handler as Handler<Deno.UnixAddr>, options, settings)
      );
  }
  const listener: Listener = listen({
    ...socketOptions,
    onError: report,
  } as ServeOptions);
  return serveOn(listener, handler as Handler, options, settings);
}

/** serve()'s limits, checked. */
interface Settings {
  maxConnections: number;
  idleTimeout: number;
  shutdownTimeout: number;
  handshakeTimeout: number | undefined;
  drainDelay: number;
  report: Reporter;
  stats: StatsCounter;
  tls: boolean;
}

/** serve()'s loop over a listener that is open. */
function serveOn<A extends Deno.Addr>(
  listener: Listener<A>,
  handler: Handler<A>,
  options: { signal?: AbortSignal },
  settings: Settings,
): Server<A> {
  const {
    maxConnections,
    idleTimeout,
    shutdownTimeout,
    handshakeTimeout,
    drainDelay,
    report,
    stats,
  } = settings;
  stats.metrics = serverMetrics(
    listener.addr,
    listener.addr.transport === "tcp" ? settings.tls : undefined,
  );
  const where = `on ${peerOf(listener.addr)}`;
  // Aborted when shutdown begins; every handler gets its signal.
  const shutdownBegun = new AbortController();
  const leaving = new ConnectionClosedError(
    `Cannot go on serving ${where}: the server is shutting down`,
  );
  // The sockets whose handlers are running: one per connection in flight.
  const sockets = new Slots<Socket<A>>();
  // Errors the server caused itself by closing a connection (idle, or
  // past the shutdown deadline): a handler that fails with one is not at
  // fault.
  const causedHere = new WeakSet<object>();
  // Connections whose handler has returned: only their close is left.
  const handlerDone = new WeakSet<Socket<A>>();
  let slotFreed: (() => void) | undefined;
  let drained: (() => void) | undefined;
  let stopping = false;
  let draining = false;
  let sweeper: ReturnType<typeof setInterval> | undefined;

  /** Closes `socket`; its handler's reads and writes fail with `why`. */
  function cut(socket: Socket<A>, why: string): void {
    const error = new ConnectionClosedError(
      `Cannot use the connection to ${peerOf(socket.remoteAddr)}: ${why}`,
    );
    causedHere.add(error);
    socket[abortWith](error);
  }

  function sweep(): void {
    for (const socket of sockets) {
      if (socket.idleTime > idleTimeout && !socket.closed) {
        stats.idleClosed++;
        cut(
          socket,
          `it was closed after ${idleTimeout} ms without traffic (serve()'s idleTimeout)`,
        );
      }
    }
  }

  async function handle(
    socket: Socket<A>,
    slot: number,
  ): Promise<void> {
    try {
      if (handshakeTimeout !== undefined) {
        try {
          await socket.handshake({
            timeout: handshakeTimeout,
            signal: shutdownBegun.signal,
          });
        } catch (error) {
          if (!shutdownBegun.signal.aborted && !leftBeforeHandshake(error)) {
            stats.tlsHandshakesFailed++;
            report(error, `TLS ${where}`);
          }
          return;
        }
      }
      await handler(socket, { signal: shutdownBegun.signal });
    } catch (error) {
      const expected = error === leaving ||
        (typeof error === "object" && error !== null && causedHere.has(error));
      if (!expected) {
        stats.handlerErrors++;
        report(error, `handler for ${peerOf(socket.remoteAddr)}`);
      }
    } finally {
      handlerDone.add(socket);
      try {
        await socket.close();
      } catch (error) {
        report(error, `close of ${peerOf(socket.remoteAddr)}`);
      }
      stats.ended(socket, slot);
      sockets.delete(slot);
      slotFreed?.();
      if (sockets.size === 0) drained?.();
    }
  }

  async function acceptLoop(): Promise<void> {
    while (!stopping) {
      if (sockets.size >= maxConnections) {
        stats.maxConnectionsReached++;
        await new Promise<void>((resolve) => slotFreed = resolve);
        slotFreed = undefined;
        continue;
      }
      let socket: Socket<A>;
      try {
        socket = await listener.accept();
      } catch (error) {
        // The listener retries (and reports) what can pass by itself, so
        // only its close ends the loop.
        if (stopping || listener.closed) return;
        throw error;
      }
      if (draining && socket.proxyHeader?.command === "local") {
        // A health check: failing it takes the server out of rotation.
        void socket.close({ abort: true }).catch(() => {});
        continue;
      }
      const slot = sockets.add(socket);
      stats.began(sockets.size, slot);
      void handle(socket, slot);
    }
  }

  if (idleTimeout !== Infinity) {
    sweeper = setInterval(sweep, Math.max(10, Math.min(1000, idleTimeout / 4)));
  }
  const accepting = acceptLoop();
  return running(options.signal, {
    addr: () => listener.addr,
    active: () => sockets.size,
    stats: () => stats.snapshot(sockets.size),
    async stop() {
      if (drainDelay > 0) {
        draining = true;
        await new Promise<void>((resolve) => startTimer(resolve, drainDelay));
      }
      stopping = true;
      shutdownBegun.abort(leaving);
      listener.close();
      slotFreed?.();
      await accepting;
      if (sockets.size > 0) {
        const allDone = new Promise<void>((resolve) => drained = resolve);
        if (!await settleWithin([allDone], shutdownTimeout)) {
          for (const socket of sockets) {
            const peer = peerOf(socket.remoteAddr);
            const what = handlerDone.has(socket)
              ? `Cannot close the connection to ${peer}: its output was still being sent ${shutdownTimeout} ms after shutdown began; it was aborted`
              : `Cannot finish the handler for ${peer}: it was still running ${shutdownTimeout} ms after shutdown began; its connection was aborted`;
            report(
              new TimeoutError(what, shutdownTimeout),
              `handler for ${peer}`,
            );
            cut(socket, "the server shut down");
          }
          // Handlers waiting on their sockets see the close at once; one
          // that waits on something else is not waited for.
          await settleWithin([allDone], 0);
        }
      }
      if (sweeper !== undefined) clearInterval(sweeper);
    },
  });
}
