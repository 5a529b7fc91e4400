/**
 * Passive and active TCP sockets: {@linkcode listen} and {@linkcode connect}.
 *
 * @module
 */
import { formatHostPort } from "./_addr.ts";
import { checkTimeout, type WaitOptions } from "./_deadline.ts";
import { mapError } from "./_map_error.ts";
import { checkHostname, checkPort } from "./_validate.ts";
import { TimeoutError } from "./errors.ts";

import { connectedAs } from "./_internal.ts";
import { settleSocketOptions } from "./_settings.ts";
import type { Socket, SocketOptions } from "./socket.ts";
import {
  checkListenOptions,
  type Listener,
  listenerWith,
  type ListenOptions,
  MAX_BACKLOG,
  type TcpOptions,
  wrap,
} from "./listener.ts";
import {
  checkTlsConnectOptions,
  checkTlsListenOptions,
  explainKeyPairError,
  openTlsClient,
  type TlsConnectOptions,
} from "./tls.ts";
import {
  checkSocketPath,
  openUnixConn,
  openUnixListener,
  type UnixConnectOptions,
  type UnixListenOptions,
} from "./unix.ts";

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
export interface ConnectOptions extends SocketOptions, WaitOptions, TcpOptions {
  /**
   * The host to connect to: a name or an IP address.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /** The port to connect to, 1–65535. */
  port: number;
  /**
   * Connect with TLS: the CAs to trust, a client certificate, ALPN
   * protocols, the server's name. The `timeout` and `signal` bound the
   * handshake too, and the socket is returned with it complete.
   *
   * @default {undefined}
   */
  tls?: TlsConnectOptions;
}

/**
 * Opens a passive Unix domain socket on a file (Allegro's `make-socket
 * :connect :passive :address-family :file`). It is asynchronous because a
 * socket file already at `path` is probed first: one that nothing accepts
 * on (left by a server that crashed) is removed; anything else there is an
 * `AddressInUseError` naming the path, and a file that is not a socket is
 * never removed. `close()` removes the file.
 *
 * Requires `--allow-read=P --allow-write=P --allow-net=unix:P` for the
 * path P.
 *
 * @param options The socket file, and options for accepted sockets.
 * @returns The listener.
 * @throws {AddressInUseError} when a server listens at the path, or a
 * file that is not a socket is there.
 * @throws {PermissionError} when a grant is missing; its message names all
 * three flags.
 *
 * @example A Unix socket in a temporary directory
 * ```ts ignore
 * import { connect, listen } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const listener = await listen({ path: `${dir}/s.sock` });
 * await using client = await connect({ path: listener.path });
 * await using server = await listener.accept();
 * await client.write("hi\n");
 * await client.flush();
 * assert.equal(await server.readLine(), "hi");
 * listener.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @tags allow-read, allow-write, allow-net
 */
export function listen(
  options: UnixListenOptions,
): Promise<Listener<Deno.UnixAddr>>;
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
 * @throws {RangeError} when `port` is not 0–65535, or `backlog` or
 * `maxBufferSize` is not a whole number of at least 1; nothing is opened.
 * @throws {TypeError} when `hostname` is not a host name or an IP address
 * (`"::1"` and `"[::1]"` both work), or `reusePort` is asked for without
 * `--unstable-net`.
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
export function listen(options?: ListenOptions): Listener;
export function listen(
  options: ListenOptions | UnixListenOptions = {},
): Listener | Promise<Listener<Deno.UnixAddr>> {
  if ("path" in options) return listenUnix(options);
  const settings = checkListenOptions(options);
  const hostname = checkHostname("hostname", options.hostname ?? "127.0.0.1");
  const port = options.port ?? 0;
  const tls = options.tls;
  if (tls !== undefined) checkTlsListenOptions(tls);
  const where = formatHostPort(hostname, port);
  if (tls !== undefined && options.proxyProtocol) {
    throw new TypeError(
      `Cannot listen with TLS and proxyProtocol on ${where}: the PROXY header comes before the TLS handshake, and Deno's TLS listener starts the handshake itself; end TLS at the balancer instead`,
    );
  }
  // Without --unstable-net, Deno ends the whole process (exit code 70)
  // rather than throw when listen() or listenTls() is asked for reusePort.
  if (options.reusePort && typeof Deno.listenDatagram !== "function") {
    throw new TypeError(
      `Cannot listen${
        tls === undefined ? "" : " with TLS"
      } on ${where} with reusePort: it needs --unstable-net`,
    );
  }
  let listener: Deno.Listener<Deno.TcpConn | Deno.TlsConn, Deno.NetAddr>;
  try {
    const common = {
      transport: "tcp",
      hostname,
      port,
      tcpBacklog: Math.min(options.backlog ?? 511, MAX_BACKLOG),
      ...(options.reusePort ? { reusePort: true } : {}),
    } as const;
    listener = tls === undefined ? Deno.listen(common) : Deno.listenTls({
      ...common,
      cert: tls.cert,
      key: tls.key,
      ...(tls.alpnProtocols ? { alpnProtocols: tls.alpnProtocols } : {}),
    });
  } catch (error) {
    throw mapError(explainKeyPairError(error, where), {
      action: `listen on ${where}`,
      address: { hostname, port },
    });
  }
  return listenerWith<Deno.NetAddr>(listener, options, settings);
}

/** A Unix socket path with a host, a port or TLS is a mistake: say so. */
function checkNotNetOptions(options: object, action: string): void {
  for (const name of ["hostname", "port", "tls"]) {
    if ((options as Record<string, unknown>)[name] !== undefined) {
      throw new TypeError(
        `Cannot ${action} with ${name}: a Unix socket has a path only${
          name === "tls" ? " (Deno has no TLS over Unix sockets)" : ""
        }`,
      );
    }
  }
}

async function listenUnix(
  options: UnixListenOptions,
): Promise<Listener<Deno.UnixAddr>> {
  const path = checkSocketPath(options.path);
  checkNotNetOptions(options, `listen on ${path}`);
  if ((options as ListenOptions).proxyProtocol) {
    throw new TypeError(
      `Cannot listen on ${path} with proxyProtocol: PROXY headers are read on TCP listeners only`,
    );
  }
  const settings = checkListenOptions(options as ListenOptions);
  return listenerWith(await openUnixListener(path), options, settings);
}

/**
 * Connects to a Unix domain socket (Allegro's `make-socket :remote-filename
 * … :address-family :file`).
 *
 * Requires `--allow-read=P --allow-write=P --allow-net=unix:P` for the
 * path P.
 *
 * @param options The socket file, a `timeout` or `signal`, socket options.
 * @returns The connected socket.
 * @throws {ConnectionRefusedError} when nothing listens on the file.
 * @throws {SocketError} when there is no such file.
 * @throws {PermissionError} when a grant is missing; its message names all
 * three flags.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@sock/sock";
 *
 * await using socket = await connect({ path: "/run/app.sock", timeout: 1000 });
 * ```
 *
 * @tags allow-read, allow-write, allow-net
 */
export function connect(
  options: UnixConnectOptions,
): Promise<Socket<Deno.UnixAddr>>;
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
 * @throws {TimeoutError} when the timeout passes first, or when the name
 * server does not answer (the system resolver gave up), as from
 * `lookupHostname()`.
 * @throws {PermissionError} when the `--allow-net` grant is missing.
 * @throws {RangeError} when `port` is not 1–65535, `timeout` is negative,
 * or `maxBufferSize` is not a whole number of at least 1; nothing is opened.
 * @throws {TypeError} when `hostname` is not a host name or an IP address
 * (`"::1"` and `"[::1]"` both work).
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
export function connect(options: ConnectOptions): Promise<Socket<Deno.NetAddr>>;
export function connect(
  options: ConnectOptions | UnixConnectOptions,
): Promise<Socket<Deno.NetAddr> | Socket<Deno.UnixAddr>> {
  return "path" in options ? connectUnix(options) : connectTcp(options);
}

async function connectUnix(
  options: UnixConnectOptions,
): Promise<Socket<Deno.UnixAddr>> {
  const path = checkSocketPath(options.path);
  checkNotNetOptions(options, `connect to ${path}`);
  checkTimeout(options.timeout);
  const settings = settleSocketOptions(options);
  options.signal?.throwIfAborted();
  return wrap(await openUnixConn(path, options), settings);
}

async function connectTcp(
  options: ConnectOptions,
): Promise<Socket<Deno.NetAddr>> {
  const hostname = checkHostname("hostname", options.hostname ?? "127.0.0.1");
  const port = checkPort("port", options.port, false);
  const { timeout, signal } = options;
  checkTimeout(timeout);
  const settings = settleSocketOptions(options);
  const tls = options.tls;
  if (tls !== undefined) checkTlsConnectOptions(tls);
  signal?.throwIfAborted();
  const where = formatHostPort(hostname, port);
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
  const started = performance.now();
  let conn: Deno.TcpConn | Deno.TlsConn;
  try {
    conn = tls === undefined
      ? await Deno.connect({
        transport: "tcp",
        hostname,
        port,
        ...(timer !== undefined || signal ? { signal: controller.signal } : {}),
      })
      : await openTlsClient(
        hostname,
        port,
        tls,
        timer !== undefined || signal ? controller.signal : undefined,
        options.noDelay !== false,
        options.keepAlive === true,
      );
  } catch (error) {
    if (timedOut) {
      throw new TimeoutError(
        `Cannot connect to ${where}${tls ? " over TLS" : ""}: timed out after ${
          Math.round(timeout!)
        } ms${tls ? " (connect and TLS handshake)" : ""}`,
        timeout!,
        { cause: error, address: { hostname, port } },
      );
    }
    if (signal?.aborted) throw signal.reason;
    throw mapError(error, {
      action: `connect to ${where}${tls ? " over TLS" : ""}`,
      address: { hostname, port },
      elapsed: performance.now() - started,
    });
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
  const socket = wrap(conn, settings);
  socket[connectedAs](hostname);
  return socket;
}
