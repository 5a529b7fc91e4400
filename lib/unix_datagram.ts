/**
 * Datagram sockets on a Unix socket file: `listenDatagram({ path })`.
 *
 * @module
 */
import { Deadline, hasDeadline, type WaitOptions } from "./_deadline.ts";
import { mapError } from "./_map_error.ts";
import { checkNumber } from "./_validate.ts";
import {
  AddressInUseError,
  ConnectionClosedError,
  LimitExceededError,
  PermissionError,
  SocketError,
} from "./errors.ts";
import {
  checkSocketPath,
  mapUnixError,
  probeSocketFile,
  unixFlags,
} from "./unix.ts";

const encoder = new TextEncoder();

/**
 * Options for `listenDatagram({ path })`.
 *
 * @example
 * ```ts
 * import type { UnixDatagramOptions } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const options: UnixDatagramOptions = { path: "/tmp/app.dgram", maxDatagramSize: 4096 };
 * assert.equal(options.maxDatagramSize, 4096);
 * ```
 */
export interface UnixDatagramOptions {
  /**
   * The socket file to bind. A socket file that no live socket holds (a
   * crashed program's) is removed first; anything else there is an
   * `AddressInUseError`. `close()` removes the file.
   */
  path: string;
  /**
   * The largest datagram received whole; a longer one is cut to this size.
   *
   * @default {65536}
   */
  maxDatagramSize?: number;
}

/**
 * One datagram received on a Unix datagram socket.
 *
 * @example
 * ```ts
 * import type { UnixDatagram } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const datagram: UnixDatagram = {
 *   data: new Uint8Array([1]),
 *   remoteAddr: { transport: "unixpacket", path: "/tmp/peer.sock" },
 * };
 * assert.equal(datagram.remoteAddr.path, "/tmp/peer.sock");
 * ```
 */
export interface UnixDatagram {
  /** The payload, a copy the caller owns. */
  data: Uint8Array;
  /**
   * The sender; its `path` is `null` when the sender is not bound to a
   * file (then it cannot be answered).
   */
  remoteAddr: Deno.UnixAddr;
}

/**
 * A datagram socket bound to a Unix socket file, made by
 * `listenDatagram({ path })`. Message boundaries are kept; `receive()`
 * takes a timeout without losing a datagram, and `close()` removes the
 * socket file (Deno's own close leaves it).
 *
 * Requires `--unstable-net` and, for its own path P,
 * `--allow-read=P --allow-write=P --allow-net=unix:P`; sending to a peer
 * Q needs `--allow-write=Q --allow-net=unix:Q`.
 *
 * @example Two sockets in a temporary directory
 * ```ts ignore
 * import { listenDatagram } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * using a = await listenDatagram({ path: `${dir}/a.sock` });
 * using b = await listenDatagram({ path: `${dir}/b.sock` });
 * await a.send("ping", b.path);
 * const { data, remoteAddr } = await b.receive({ timeout: 1000 });
 * assert.equal(new TextDecoder().decode(data), "ping");
 * assert.equal(remoteAddr.path, a.path);
 * a.close();
 * b.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class UnixDatagramSocket {
  readonly #conn: Deno.DatagramConn;
  readonly #path: string;
  readonly #buffer: Uint8Array;
  #queued: UnixDatagram | undefined;
  #pending: Promise<void> | undefined;
  #error: SocketError | undefined;
  #closed = false;

  /** Wraps a bound unixpacket connection; `listenDatagram({ path })` makes these. */
  constructor(conn: Deno.DatagramConn, path: string, maxDatagramSize: number) {
    this.#conn = conn;
    this.#path = path;
    this.#buffer = new Uint8Array(maxDatagramSize);
  }

  /** The address bound. */
  get addr(): Deno.UnixAddr {
    return { transport: "unixpacket", path: this.#path };
  }

  /** The socket file bound. */
  get path(): string {
    return this.#path;
  }

  /** True once `close()` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True when `receive()` would not wait. */
  get hasInput(): boolean {
    return this.#queued !== undefined || this.#error !== undefined;
  }

  /**
   * Receives one datagram.
   *
   * @param options `timeout` in milliseconds and an abort `signal`; a
   * datagram that arrives after the timeout is kept for the next call.
   * @returns The payload and its sender.
   * @throws {TimeoutError} when the timeout passes first.
   * @throws {ConnectionClosedError} when the socket is or gets closed.
   */
  async receive(options?: WaitOptions): Promise<UnixDatagram> {
    const deadline = hasDeadline(options)
      ? new Deadline(options!, () => `Cannot receive on ${this.#path}`)
      : undefined;
    try {
      for (;;) {
        const datagram = this.#queued;
        if (datagram !== undefined) {
          this.#queued = undefined;
          return datagram;
        }
        if (this.#error !== undefined) throw this.#error;
        const next = this.#startReceive();
        await (deadline ? deadline.race(next) : next);
      }
    } finally {
      deadline?.clear();
    }
  }

  /**
   * Sends one datagram to the socket file `to`.
   *
   * @param data The payload; a string is sent as UTF-8.
   * @param to The peer's socket path, or its address from `receive()`.
   * @returns The number of bytes sent.
   * @throws {PermissionError} naming `--allow-write=Q --allow-net=unix:Q`.
   * @throws {SocketError} when nothing is bound at `to`.
   */
  async send(
    data: Uint8Array | string,
    to: string | Deno.UnixAddr,
  ): Promise<number> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    const path = typeof to === "string" ? to : to.path;
    if (path === null || path === undefined) {
      throw new TypeError(
        "Cannot send to an unnamed Unix socket: the sender did not bind a path, so it cannot be answered",
      );
    }
    checkSocketPath(path);
    const action = `send to ${path}`;
    if (this.#closed) {
      throw new ConnectionClosedError(`Cannot ${action}: the socket is closed`);
    }
    try {
      return await this.#conn.send(bytes, { transport: "unixpacket", path });
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) {
        throw new PermissionError(
          `Cannot ${action}`,
          `--allow-write=${path} --allow-net=unix:${path}`,
          { cause: error },
        );
      }
      if (error instanceof Deno.errors.NotFound) {
        throw new SocketError(`Cannot ${action}: no socket is bound there`, {
          cause: error,
        });
      }
      if (error instanceof Error && /os error 91\b/.test(error.message)) {
        throw new SocketError(
          `Cannot ${action}: it is a stream socket, not a datagram socket (connect to it instead)`,
          { cause: error },
        );
      }
      if (error instanceof Error && /os error 90\b/.test(error.message)) {
        throw new LimitExceededError(
          `Cannot ${action}: ${bytes.length} bytes are too many for one datagram`,
          bytes.length,
          { cause: error },
        );
      }
      throw mapError(error, { action });
    }
  }

  /** Closes the socket and removes its file. Calling it again does nothing. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#error ??= new ConnectionClosedError(
      `Cannot receive on ${this.#path}: the socket is closed`,
    );
    try {
      this.#conn.close();
    } catch {
      // Already closed underneath.
    }
    try {
      if (Deno.lstatSync(this.#path).isSocket) Deno.removeSync(this.#path);
    } catch {
      // Gone already, or not ours to remove.
    }
  }

  /** Closes the socket; this is what `using` calls. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Describes the socket.
   *
   * @returns For example `#<datagram socket at /tmp/app.dgram>`.
   */
  toString(): string {
    return `#<datagram socket ${
      this.#closed ? "closed, was " : ""
    }at ${this.#path}>`;
  }

  #startReceive(): Promise<void> {
    if (this.#pending !== undefined) return this.#pending;
    let received: Promise<[Uint8Array, Deno.Addr]>;
    try {
      received = this.#conn.receive(this.#buffer);
    } catch (error) {
      received = Promise.reject(error);
    }
    return this.#pending = received.then(([view, from]) => {
      this.#pending = undefined;
      this.#queued = { data: view.slice(), remoteAddr: from as Deno.UnixAddr };
    }, (error) => {
      this.#pending = undefined;
      this.#error = this.#closed
        ? new ConnectionClosedError(
          `Cannot receive on ${this.#path}: the socket is closed`,
          { cause: error },
        )
        : mapError(error, {
          action: `receive on ${this.#path}`,
        }) as SocketError;
    });
  }
}

/** Binds a Unix datagram socket on `options.path`, clearing a stale file. */
export async function listenUnixDatagram(
  options: UnixDatagramOptions,
): Promise<UnixDatagramSocket> {
  const path = checkSocketPath(options.path);
  const size = checkNumber(
    "maxDatagramSize",
    options.maxDatagramSize ?? 65536,
    1,
    {
      integer: true,
    },
  );
  const action = `listen for datagrams on ${path}`;
  if (typeof Deno.listenDatagram !== "function") {
    throw new SocketError(
      `Cannot ${action}: Deno's datagram sockets are unstable, run again with --unstable-net`,
    );
  }
  const bind = () => Deno.listenDatagram({ transport: "unixpacket", path });
  let conn: Deno.DatagramConn;
  try {
    conn = bind();
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new PermissionError(`Cannot ${action}`, unixFlags(path), {
        cause: error,
      });
    }
    if (!(error instanceof Deno.errors.AddrInUse)) {
      throw mapUnixError(error, action, path, true);
    }
    const state = await probeSocketFile(path, action);
    if (state !== "stale") {
      throw new AddressInUseError(
        `Cannot ${action}: ${
          state === "live"
            ? "a socket is bound there (stop its program first, or choose another path)"
            : "a file that is not a socket is there; it is left alone (choose another path, or remove it yourself)"
        }`,
      );
    }
    try {
      conn = bind();
    } catch (again) {
      throw again instanceof Deno.errors.AddrInUse
        ? new AddressInUseError(
          `Cannot ${action}: another program took the path while the stale file was removed`,
        )
        : mapError(again, { action });
    }
  }
  return new UnixDatagramSocket(conn, path, size);
}
