/**
 * Datagram (UDP) sockets: {@linkcode listenDatagram} and
 * {@linkcode connectDatagram}. Deno's datagram API is unstable, so programs
 * that use this need `--unstable-net`.
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
  LimitExceededError,
  PermissionError,
  SocketError,
} from "./errors.ts";

/**
 * The largest payload of one UDP datagram over IPv4, in bytes.
 *
 * @example Checking a payload before sending
 * ```ts
 * import { MAX_DATAGRAM_SIZE } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const payload = new Uint8Array(1200);
 * assert.ok(payload.length <= MAX_DATAGRAM_SIZE);
 * ```
 */
export const MAX_DATAGRAM_SIZE = 65_507;

/**
 * One datagram received, with the address it came from.
 *
 * @example What receive() gives
 * ```ts
 * import { type Datagram, listenDatagram } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using server = listenDatagram({ port: 0 });
 * using client = listenDatagram({ port: 0 });
 * await client.send(new Uint8Array([7]), server.addr);
 * const { data, remoteAddr }: Datagram = await server.receive({ timeout: 1000 });
 * assert.deepEqual([data[0], remoteAddr.port], [7, client.port]);
 * ```
 */
export interface Datagram {
  /**
   * The payload. Its bytes belong to the caller and sock never reuses
   * them, but a small payload is a view into a slab shared with other
   * datagrams: `slice()` it before transferring `data.buffer`.
   */
  data: Uint8Array;
  /** Who sent it. */
  remoteAddr: Deno.NetAddr;
}

/**
 * Options for {@linkcode listenDatagram}.
 *
 * @example A socket for small datagrams
 * ```ts
 * import { listenDatagram } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using socket = listenDatagram({ hostname: "127.0.0.1", port: 0, maxDatagramSize: 512 });
 * assert.ok(socket.port > 0);
 * ```
 */
export interface ListenDatagramOptions {
  /**
   * The local address to receive on.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The local port; 0 lets the operating system choose one.
   *
   * @default {0}
   */
  port?: number;
  /**
   * Let other sockets that also ask for it bind the same address.
   *
   * @default {false}
   */
  reuseAddress?: boolean;
  /**
   * The largest datagram accepted; longer ones are cut to this size by the
   * operating system.
   *
   * @default {65507}
   */
  maxDatagramSize?: number;
}

/**
 * Options for {@linkcode connectDatagram}.
 *
 * @example A client bound to an OS-chosen port
 * ```ts
 * import { connectDatagram, listenDatagram } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using server = listenDatagram({ port: 0 });
 * using client = connectDatagram({ remoteHostname: "127.0.0.1", remotePort: server.port, port: 0 });
 * assert.equal(client.remoteAddr?.port, server.port);
 * ```
 */
export interface ConnectDatagramOptions extends ListenDatagramOptions {
  /**
   * The peer's IP address (or `localhost`, taken as 127.0.0.1). Datagrams
   * from any other address are dropped.
   *
   * @default {"127.0.0.1"}
   */
  remoteHostname?: string;
  /** The peer's port. */
  remotePort: number;
}

/**
 * A UDP socket, like usocket's datagram sockets. `receive()` takes a
 * timeout and never loses a datagram to it: there is at most one receive
 * outstanding underneath, and what it brings is kept for the next call.
 *
 * A socket made by {@linkcode connectDatagram} has a default peer: `send()`
 * needs no address, and datagrams from anyone else are dropped.
 *
 * @example An echo on loopback
 * ```ts
 * import { listenDatagram } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using server = listenDatagram({ port: 0 });
 * using client = listenDatagram({ port: 0 });
 * await client.send(new Uint8Array([1, 2, 3]), server.addr);
 * const { data, remoteAddr } = await server.receive({ timeout: 1000 });
 * assert.deepEqual(data, new Uint8Array([1, 2, 3]));
 * assert.equal(remoteAddr.port, client.port);
 * ```
 */
export class DatagramSocket {
  readonly #conn: Deno.DatagramConn;
  readonly #addr: Deno.NetAddr;
  readonly #peer: Deno.NetAddr | undefined;
  readonly #buffer: Uint8Array;
  #queued: Datagram | undefined;
  #pending: Promise<void> | undefined;
  #error: SocketError | undefined;
  #closed = false;

  /**
   * Wraps a `Deno.DatagramConn`. {@linkcode listenDatagram} and
   * {@linkcode connectDatagram} make these; use this only for a
   * connection you opened yourself.
   *
   * @param conn The UDP connection to own; this object closes it.
   * @param peer The default peer, for a connected socket.
   * @param maxDatagramSize The largest datagram to receive.
   */
  constructor(
    conn: Deno.DatagramConn,
    peer?: Deno.NetAddr,
    maxDatagramSize: number = MAX_DATAGRAM_SIZE,
  ) {
    this.#conn = conn;
    this.#addr = conn.addr as Deno.NetAddr;
    this.#peer = peer;
    this.#buffer = new Uint8Array(maxDatagramSize);
  }

  /** The local address, with the real port when 0 was asked for. */
  get addr(): Deno.NetAddr {
    return this.#addr;
  }

  /** The local port. */
  get port(): number {
    return this.#addr.port;
  }

  /** The default peer of a connected socket, else `undefined`. */
  get remoteAddr(): Deno.NetAddr | undefined {
    return this.#peer;
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
   * Waits until a datagram is ready, like usocket's `wait-for-input`.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns `true` when `receive()` would not wait, `false` on timeout.
   */
  waitForInput(options: WaitOptions = {}): Promise<boolean> {
    return waitUntil(this.hasInput, () => this.#startReceive(), options);
  }

  /**
   * Receives one datagram (usocket's `socket-receive`).
   *
   * @param options `timeout` in milliseconds and an abort `signal`; a
   * datagram that arrives after the timeout is kept for the next call.
   * @returns The payload, a copy the caller owns, and its sender.
   * @throws {TimeoutError} when the timeout passes first.
   * @throws {ConnectionClosedError} when the socket is or gets closed.
   */
  receive(options?: WaitOptions): Promise<Datagram> {
    if (hasDeadline(options)) return this.#receiveBefore(options!);
    const datagram = this.#queued;
    if (datagram !== undefined) {
      this.#queued = undefined;
      return Promise.resolve(datagram);
    }
    return this.#nextDatagram();
  }

  /** Without a deadline: the next datagram, waiting as a continuation. */
  #nextDatagram(): Promise<Datagram> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    return this.#startReceive().then(() => this.#takeDatagram());
  }

  #takeDatagram(): Datagram | Promise<Datagram> {
    const datagram = this.#queued;
    if (datagram === undefined) return this.#nextDatagram();
    this.#queued = undefined;
    return datagram;
  }

  async #receiveBefore(options: WaitOptions): Promise<Datagram> {
    checkTimeout(options.timeout);
    const deadline = new Deadline(
      options,
      () => `Cannot receive on ${this.#where()}`,
    );
    try {
      for (;;) {
        const datagram = this.#queued;
        if (datagram !== undefined) {
          this.#queued = undefined;
          return datagram;
        }
        if (this.#error !== undefined) throw this.#error;
        await deadline.race(this.#startReceive());
      }
    } finally {
      deadline.clear();
    }
  }

  /**
   * Sends one datagram (usocket's `socket-send`). Deno checks the
   * permission for every destination: a server that answers clients on any
   * port needs the host-wide grant, e.g. `--allow-net=127.0.0.1`.
   *
   * @param data The payload, at most 65,507 bytes.
   * @param to The destination; a connected socket's peer when left out.
   * @returns The number of bytes sent.
   * @throws {LimitExceededError} when `data` is too long for one datagram.
   * @throws {PermissionError} when the grant for the destination is missing.
   */
  async send(data: Uint8Array, to?: Deno.NetAddr): Promise<number> {
    const addr = to ?? this.#peer;
    if (addr === undefined) {
      throw new TypeError(
        "Cannot send a datagram without an address: pass one, or use connectDatagram()",
      );
    }
    if (data.length > MAX_DATAGRAM_SIZE) {
      throw new LimitExceededError(
        `Cannot send ${data.length} bytes to ${
          formatHostPort(addr.hostname, addr.port)
        }: one datagram holds at most ${MAX_DATAGRAM_SIZE}`,
        MAX_DATAGRAM_SIZE,
      );
    }
    if (this.#closed) {
      throw new ConnectionClosedError(
        `Cannot send to ${
          formatHostPort(addr.hostname, addr.port)
        }: the socket is closed`,
      );
    }
    try {
      return await this.#conn.send(
        data,
        addr.transport === "udp" ? addr : {
          transport: "udp",
          hostname: addr.hostname,
          port: addr.port,
        },
      );
    } catch (error) {
      const where = formatHostPort(addr.hostname, addr.port);
      const mapped = mapError(error, {
        action: `send to ${where}`,
        address: { hostname: addr.hostname, port: addr.port },
      });
      if (mapped instanceof PermissionError) {
        throw new PermissionError(
          `Cannot send to ${where} (to answer clients on any port, grant the host: --allow-net=${
            addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname
          })`,
          mapped.flag,
          { cause: error },
        );
      }
      throw this.#closed
        ? new ConnectionClosedError(
          `Cannot send to ${where}: the socket is closed`,
          { cause: error },
        )
        : mapped;
    }
  }

  /** Yields received datagrams until the socket is closed. */
  [Symbol.asyncIterator](): AsyncGenerator<Datagram, void, undefined> {
    return untilClosed(() => this.receive(), () => this.#closed);
  }

  /** Closes the socket. Calling it again does nothing; a waiting `receive()` rejects. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#error ??= new ConnectionClosedError(
      `Cannot receive on ${this.#where()}: the socket is closed`,
    );
    try {
      this.#conn.close();
    } catch {
      // Already closed underneath.
    }
  }

  /** Closes the socket; this is what `using` calls. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Describes the socket in Allegro CL's style.
   *
   * @returns For example `#<datagram socket at 127.0.0.1/12321>`.
   */
  toString(): string {
    const at = this.#peer
      ? `connected from ${describeAddr(this.#addr)} to ${
        describeAddr(this.#peer)
      }`
      : `at ${describeAddr(this.#addr)}`;
    return `#<datagram socket ${this.#closed ? `closed, was ${at}` : at}>`;
  }

  /** The same as {@linkcode DatagramSocket.prototype.toString}, for `console.log`. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }

  #where(): string {
    return formatHostPort(this.#addr.hostname, this.#addr.port);
  }

  /** The one outstanding receive, started if none is. */
  #startReceive(): Promise<void> {
    if (this.#pending !== undefined) return this.#pending;
    if (this.#queued !== undefined || this.#error !== undefined) {
      return Promise.resolve();
    }
    return this.#pending = this.#receiveOne();
  }

  /** One receive underneath; a connected socket skips strangers' datagrams. */
  #receiveOne(): Promise<void> {
    let received: Promise<[Uint8Array, Deno.Addr]>;
    try {
      received = this.#conn.receive(this.#buffer);
    } catch (error) {
      received = Promise.reject(error);
    }
    return received.then(
      ([view, from]): Promise<void> | undefined => {
        const remoteAddr = from as Deno.NetAddr;
        if (this.#peer && !samePeer(remoteAddr, this.#peer)) {
          return this.#receiveOne();
        }
        this.#pending = undefined;
        this.#queued = { data: ownCopy(view), remoteAddr };
        return undefined;
      },
      (error) => {
        this.#pending = undefined;
        this.#error = this.#closed
          ? new ConnectionClosedError(
            `Cannot receive on ${this.#where()}: the socket is closed`,
            { cause: error },
          )
          : mapError(error, {
            action: `receive on ${this.#where()}`,
          }) as SocketError;
      },
    );
  }
}

// Small payloads are copied into a shared slab rather than each into an
// ArrayBuffer of its own: an allocation per datagram cost more than the
// rest of a receive. Slab bytes are never reused, so each payload still
// belongs to its caller alone; only `data.buffer` is shared.
const SLAB_SIZE = 64 * 1024;
const POOLED_MAX = 2048;
let slab = new Uint8Array(0);
let slabAt = 0;

function ownCopy(view: Uint8Array): Uint8Array {
  const n = view.length;
  if (n > POOLED_MAX) return view.slice();
  if (slabAt + n > slab.length) {
    slab = new Uint8Array(SLAB_SIZE);
    slabAt = 0;
  }
  const copy = slab.subarray(slabAt, slabAt + n);
  copy.set(view);
  slabAt += (n + 7) & ~7;
  return copy;
}

function samePeer(a: Deno.NetAddr, b: Deno.NetAddr): boolean {
  return a.port === b.port &&
    normalizeHost(a.hostname) === normalizeHost(b.hostname);
}

function normalizeHost(hostname: string): string {
  if (hostname === "localhost") return "127.0.0.1";
  if (hostname.startsWith("::ffff:")) return hostname.slice(7);
  return hostname.toLowerCase();
}

/**
 * The address replies will come from: datagrams are matched on it, so it
 * must be an IP address (`localhost` is taken as 127.0.0.1).
 */
function peerAddress(hostname: string): string {
  if (hostname.toLowerCase() === "localhost") return "127.0.0.1";
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) || hostname.includes(":")) {
    return hostname;
  }
  throw new TypeError(
    `Cannot connect a datagram socket to "${hostname}": give its IP address, since replies are matched on the address they come from`,
  );
}

/** The local address that reaches `peer`: loopback for a loopback peer. */
function localFor(peer: string): string {
  if (peer === "::1") return "::1";
  if (peer.startsWith("127.")) return "127.0.0.1";
  return peer.includes(":") ? "::" : "0.0.0.0";
}

function openDatagram(options: ListenDatagramOptions): Deno.DatagramConn {
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 0;
  if (typeof Deno.listenDatagram !== "function") {
    throw new SocketError(
      `Cannot open a datagram socket on ${
        formatHostPort(hostname, port)
      }: Deno's UDP sockets are unstable, run again with --unstable-net`,
    );
  }
  const size = options.maxDatagramSize ?? MAX_DATAGRAM_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_DATAGRAM_SIZE) {
    throw new RangeError(
      `Cannot use maxDatagramSize ${size}: it must be a whole number from 1 to ${MAX_DATAGRAM_SIZE}`,
    );
  }
  try {
    return Deno.listenDatagram({
      transport: "udp",
      hostname,
      port,
      ...(options.reuseAddress ? { reuseAddress: true } : {}),
    });
  } catch (error) {
    throw mapError(error, {
      action: `listen for datagrams on ${formatHostPort(hostname, port)}`,
      address: { hostname, port },
    });
  }
}

/**
 * Opens a UDP socket bound to a local address (usocket's
 * `socket-connect nil nil :protocol :datagram :local-host … :local-port …`).
 *
 * Requires `--unstable-net` and `allow-net` permission for the bound
 * `HOST:PORT` (port 0: `--allow-net=127.0.0.1:0`) and for every address
 * sent to.
 *
 * @param options Where to bind.
 * @returns The socket.
 * @throws {SocketError} when `--unstable-net` is missing, saying so.
 * @throws {AddressInUseError} when the port is taken.
 * @throws {PermissionError} when the `--allow-net` grant is missing.
 *
 * @example Receiving with a timeout
 * ```ts
 * import { listenDatagram, TimeoutError } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using socket = listenDatagram({ port: 0 });
 * await assert.rejects(socket.receive({ timeout: 10 }), TimeoutError);
 * ```
 *
 * @tags allow-net, unstable
 */
export function listenDatagram(
  options: ListenDatagramOptions = {},
): DatagramSocket {
  return new DatagramSocket(
    openDatagram(options),
    undefined,
    options.maxDatagramSize,
  );
}

/**
 * Opens a UDP socket with a default peer (usocket's
 * `socket-connect host port :protocol :datagram`): `send()` needs no
 * address, and datagrams from anyone but the peer are dropped.
 *
 * Requires `--unstable-net` and `allow-net` permission for the local
 * `HOST:0` and for the peer's `HOST:PORT`.
 *
 * @param options The peer, and where to bind locally.
 * @returns The socket.
 *
 * @example Talking to one peer
 * ```ts
 * import { connectDatagram, listenDatagram } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using server = listenDatagram({ port: 0 });
 * using client = connectDatagram({ remotePort: server.port });
 * await client.send(new Uint8Array([1, 2]));
 * const { data, remoteAddr } = await server.receive();
 * await server.send(data.reverse(), remoteAddr);
 * assert.deepEqual((await client.receive()).data, new Uint8Array([2, 1]));
 * ```
 *
 * @tags allow-net, unstable
 */
export function connectDatagram(
  options: ConnectDatagramOptions,
): DatagramSocket {
  const remoteHostname = options.remoteHostname ?? "127.0.0.1";
  const peer: Deno.NetAddr = {
    transport: "udp",
    hostname: peerAddress(remoteHostname),
    port: options.remotePort,
  };
  const local = {
    ...options,
    hostname: options.hostname ?? localFor(peer.hostname),
  };
  return new DatagramSocket(
    openDatagram(local),
    peer,
    options.maxDatagramSize,
  );
}
