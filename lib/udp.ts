/**
 * Datagram (UDP) sockets: {@linkcode listenDatagram} and
 * {@linkcode connectDatagram}. Deno's datagram API is unstable, so programs
 * that use this need `--unstable-net`.
 *
 * @module
 */
import {
  listenUnixDatagram,
  type UnixDatagramOptions,
  type UnixDatagramSocket,
} from "./unix_datagram.ts";
import { describeAddr, formatHostPort } from "./_addr.ts";
import {
  checkTimeout,
  Deadline,
  hasDeadline,
  untilClosed,
  type WaitOptions,
  waitUntil,
} from "./_deadline.ts";
import { ipEqual } from "./_ip.ts";
import { mapError } from "./_map_error.ts";
import {
  describeInterface,
  multicastGroup,
  v4Interface,
  v6Interface,
} from "./_multicast.ts";
import { familyOf, localFor, lookUp, peerHost } from "./_udp_peer.ts";
import { checkHostname, checkPort } from "./_validate.ts";
import {
  AddressInUseError,
  AddressNotAvailableError,
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
   * The local address to receive on (an IPv6 address with or without
   * brackets). For {@linkcode connectDatagram} the default is the loopback
   * address of the peer's IP version when the peer is a loopback address,
   * else the wildcard of its version (`0.0.0.0` or `::`), and `0.0.0.0`
   * for a peer given by host name.
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
   * The peer: an IP address in any spelling (`::1`, `0:0:0:0:0:0:0:1` and
   * `[::1]` are one address; IPv4 without leading zeros), `localhost`
   * (taken as 127.0.0.1), or a host name, looked up once when the socket
   * opens. Datagrams from any other address are dropped.
   *
   * @default {"127.0.0.1"}
   */
  remoteHostname?: string;
  /** The peer's port, 1 to 65535. */
  remotePort: number;
}

/**
 * Options for {@linkcode DatagramSocket.prototype.joinMulticast}.
 *
 * @example Joining on the loopback interface
 * ```ts
 * import { type JoinMulticastOptions, listenDatagram } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using socket = listenDatagram({ port: 0 });
 * const options: JoinMulticastOptions = { interface: "127.0.0.1" };
 * const membership = await socket.joinMulticast("239.255.0.1", options);
 * assert.equal(membership.group, "239.255.0.1");
 * await membership.leave();
 * ```
 */
export interface JoinMulticastOptions {
  /**
   * The interface to join on. For an IPv4 group, the IPv4 address of the
   * interface (`"127.0.0.1"` for loopback); for an IPv6 group, the
   * interface's index (on Linux `/sys/class/net/NAME/ifindex`; `lo` is
   * usually 1). Left out, the operating system chooses by its routes,
   * which usually means the interface of the default route.
   *
   * @default {"0.0.0.0" for IPv4, 0 for IPv6}
   */
  interface?: string | number;
}

/**
 * A multicast group a {@linkcode DatagramSocket} has joined, from
 * {@linkcode DatagramSocket.prototype.joinMulticast}. Closing the socket
 * leaves every group it joined.
 *
 * @example Setting the TTL of what the socket sends to groups
 * ```ts
 * import { listenDatagram, type MulticastMembership } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using socket = listenDatagram({ port: 0 });
 * const membership: MulticastMembership = await socket.joinMulticast(
 *   "239.255.0.1",
 *   { interface: "127.0.0.1" },
 * );
 * await membership.setTTL(1);
 * await membership.leave();
 * assert.equal(membership.left, true);
 * ```
 */
export interface MulticastMembership {
  /** The group, in canonical text. */
  readonly group: string;
  /** True once {@linkcode MulticastMembership.leave} has been called. */
  readonly left: boolean;
  /**
   * Leaves the group. Calling it again, or after the socket was closed,
   * does nothing.
   */
  leave(): Promise<void>;
  /**
   * Sets how many routers the socket's multicast datagrams may cross
   * (`IP_MULTICAST_TTL`, 0–255; the default 1 keeps them on the local
   * network, 0 on this machine). It applies to everything the socket sends
   * to any group, and stays after `leave()`: Deno offers the setting only
   * through a membership, so a socket that only sends joins a group to
   * reach it. IPv4 only: Deno has no such setting for IPv6.
   *
   * @param ttl The time to live, 0 to 255.
   * @throws {RangeError} when `ttl` is not a whole number from 0 to 255.
   * @throws {TypeError} for an IPv6 group.
   * @throws {ConnectionClosedError} when the socket is closed.
   */
  setTTL(ttl: number): Promise<void>;
  /**
   * Whether the socket's own multicast datagrams are also delivered to
   * members on this machine (`IP_MULTICAST_LOOP`). Over the loopback
   * interface it changes nothing: what goes out on `lo` comes back in
   * anyway.
   *
   * @param loopback `true` delivers them locally too.
   * @throws {TypeError} when `loopback` is not a boolean.
   * @throws {ConnectionClosedError} when the socket is closed.
   */
  setLoopback(loopback: boolean): Promise<void>;
}

const encoder = new TextEncoder();

/**
 * A UDP socket, like usocket's datagram sockets. `receive()` takes a
 * timeout and never loses a datagram to it: there is at most one receive
 * outstanding underneath, and what it brings is kept for the next call.
 *
 * A socket made by {@linkcode connectDatagram} has a default peer: `send()`
 * needs no address, and datagrams from anyone else are dropped, however
 * many arrive. Addresses are compared as IP addresses, not as text, so
 * `::ffff:127.0.0.1` is `127.0.0.1`.
 *
 * Broadcast needs no option: Deno turns `SO_BROADCAST` on for every UDP
 * socket (and offers no way to turn it off), so sending to
 * `255.255.255.255` or a subnet's broadcast address works as it is.
 * Multicast groups are joined with
 * {@linkcode DatagramSocket.prototype.joinMulticast}.
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
  readonly #buffer: Uint8Array;
  #peer: Deno.NetAddr | undefined;
  #lookup: Promise<void> | undefined;
  #peerError: SocketError | undefined;
  #queued: Datagram | undefined;
  #pending: Promise<void> | undefined;
  #pendingReceive: Promise<unknown> | undefined;
  #error: SocketError | undefined;
  #closed = false;

  /**
   * Wraps a `Deno.DatagramConn`. {@linkcode listenDatagram} and
   * {@linkcode connectDatagram} make these; use this only for a
   * connection you opened yourself. A peer given by host name is looked up
   * in the background (see {@linkcode connectDatagram}); `send()` and
   * `receive()` wait for it.
   *
   * @param conn The UDP connection to own; this object closes it, also
   * when the constructor throws.
   * @param peer The default peer, for a connected socket.
   * @param maxDatagramSize The largest datagram to receive.
   * @throws {RangeError} when `maxDatagramSize` or the peer's port is out of range.
   * @throws {TypeError} when the peer's host is not a host name or an IP address.
   */
  constructor(
    conn: Deno.DatagramConn,
    peer?: Deno.NetAddr,
    maxDatagramSize: number = MAX_DATAGRAM_SIZE,
  ) {
    this.#conn = conn;
    this.#addr = conn.addr as Deno.NetAddr;
    try {
      this.#buffer = new Uint8Array(checkDatagramSize(maxDatagramSize));
      if (peer !== undefined) this.#setPeer(peer);
    } catch (error) {
      this.close();
      throw error;
    }
  }

  #setPeer(peer: Deno.NetAddr): void {
    const port = checkPort("remotePort", peer.port, false);
    const host = peerHost(peer.hostname);
    this.#peer = { transport: "udp", hostname: host.name ?? host.ip, port };
    if (host.name === undefined) return;
    this.#lookup = lookUp(host.name, port, familyOf(this.#addr.hostname)).then(
      (found) => {
        this.#peer = found;
        this.#lookup = undefined;
      },
      (error: SocketError) => {
        this.#peerError = error;
        this.#lookup = undefined;
      },
    );
  }

  /** The local address, with the real port when 0 was asked for. */
  get addr(): Deno.NetAddr {
    return this.#addr;
  }

  /** The local port. */
  get port(): number {
    return this.#addr.port;
  }

  /**
   * The default peer of a connected socket, else `undefined`. A peer given
   * by host name shows the name until it is looked up, then its address.
   */
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
   * @throws {HostNotFoundError} when the peer's name could not be looked
   * up (a `TimeoutError` when the name server did not answer).
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
    const started = this.#startReceive();
    // Wake on the receive itself: the handler that queues its datagram was
    // registered first and runs first, and a wait costs one promise fewer.
    const woken = started === this.#pending ? this.#pendingReceive! : started;
    const take = () => this.#takeDatagram();
    return woken.then(take, take);
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
   * @param data The payload, at most 65,507 bytes; a string is sent as
   * UTF-8, as `Socket.write()` does.
   * @param to The destination; a connected socket's peer when left out.
   * @returns The number of bytes sent.
   * @throws {RangeError} when the destination port is not 1 to 65535.
   * @throws {TypeError} when the destination host is not a host name or an
   * IP address, or when there is no destination.
   * @throws {LimitExceededError} when `data` is too long for one datagram.
   * @throws {PermissionError} when the grant for the destination is missing.
   * @throws {HostNotFoundError} when the peer's name could not be looked
   * up (a `TimeoutError` when the name server did not answer).
   * @throws {SocketError} for any other failure, e.g. an IPv4 socket
   * sending to an IPv6 address.
   */
  send(data: Uint8Array | string, to?: Deno.NetAddr): Promise<number> {
    try {
      const bytes = typeof data === "string" ? encoder.encode(data) : data;
      const addr = to !== undefined ? destination(to) : this.#readyPeer;
      if (addr !== undefined) {
        return this.#sendTo(bytes, addr, to !== undefined);
      }
      return this.#peerAddr().then((peer) => this.#sendTo(bytes, peer, false));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Sends `bytes` to `addr`, checked; one promise, no async frame. */
  #sendTo(
    bytes: Uint8Array,
    addr: Deno.NetAddr,
    explicit: boolean,
  ): Promise<number> {
    if (bytes.length > MAX_DATAGRAM_SIZE) {
      throw new LimitExceededError(
        `Cannot send ${bytes.length} bytes to ${
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
    let sent: Promise<number>;
    try {
      sent = this.#conn.send(bytes, addr);
    } catch (error) {
      sent = Promise.reject(error);
    }
    return sent.catch((error) => {
      throw this.#sendError(error, addr, explicit);
    });
  }

  /** The connected peer's address when it needs no waiting for. */
  get #readyPeer(): Deno.NetAddr | undefined {
    return this.#lookup === undefined && this.#peerError === undefined
      ? this.#peer
      : undefined;
  }

  /** The connected peer's address, once its name (if any) is looked up. */
  async #peerAddr(): Promise<Deno.NetAddr> {
    if (this.#lookup !== undefined) await this.#lookup;
    if (this.#peerError !== undefined) throw this.#peerError;
    if (this.#peer === undefined) {
      throw new TypeError(
        "Cannot send a datagram without an address: pass one, or use connectDatagram()",
      );
    }
    return this.#peer;
  }

  #sendError(error: unknown, addr: Deno.NetAddr, explicit: boolean): unknown {
    const where = formatHostPort(addr.hostname, addr.port);
    if (this.#closed) {
      return new ConnectionClosedError(
        `Cannot send to ${where}: the socket is closed`,
        { cause: error },
      );
    }
    const mapped = mapError(error, {
      action: `send to ${where}`,
      address: { hostname: addr.hostname, port: addr.port },
    });
    if (mapped instanceof PermissionError && explicit) {
      const host = addr.hostname.includes(":")
        ? `[${addr.hostname}]`
        : addr.hostname;
      return new PermissionError(
        `Cannot send to ${where} (to answer clients on any port, grant the host: --allow-net=${host})`,
        mapped.flag,
        { cause: error, address: { hostname: addr.hostname, port: addr.port } },
      );
    }
    return mapped;
  }

  /**
   * Joins a multicast group, so that datagrams sent to the group (at this
   * socket's port) arrive here. Bind the socket to the wildcard address of
   * the group's IP version (`0.0.0.0` or `::`), or to the group itself: a
   * socket bound to a unicast address such as 127.0.0.1 receives nothing
   * sent to a group.
   *
   * To send to a group, send to its address; Deno has no way to choose
   * the outgoing interface (`IP_MULTICAST_IF`), so the system picks it
   * from the socket's bound address (on Linux, a socket bound to
   * 127.0.0.1 sends on `lo`) or else from its routes.
   *
   * Joining needs no permission; receiving needs the grant for the bound
   * address, and sending the grant for the group: `--allow-net=GROUP:PORT`.
   *
   * @param group An IPv4 multicast address (224.0.0.0/4) or an IPv6 one
   * (ff00::/8).
   * @param options The interface to join on.
   * @returns The membership: leave the group, set the TTL or loopback.
   * @throws {TypeError} when `group` is not a multicast address, the
   * interface is not an IPv4 address (IPv4) or an index (IPv6), or an IPv6
   * group is joined on a socket bound to an IPv4 address.
   * @throws {AddressInUseError} when the socket is already a member of the
   * group on that interface.
   * @throws {AddressNotAvailableError} when no interface has that address
   * or index.
   * @throws {ConnectionClosedError} when the socket is closed.
   *
   * @example A group on the loopback interface (needs `--allow-net=127.0.0.1,239.255.0.1`)
   * ```ts ignore
   * import { listenDatagram } from "@sock/sock";
   * import assert from "node:assert/strict";
   *
   * // The receiver binds the group, and joins it on lo.
   * using receiver = listenDatagram({ hostname: "239.255.0.1", port: 0 });
   * const membership = await receiver.joinMulticast("239.255.0.1", {
   *   interface: "127.0.0.1",
   * });
   * // The sender binds 127.0.0.1, so its datagrams go out on lo.
   * using sender = listenDatagram({ hostname: "127.0.0.1", port: 0 });
   * await sender.send("hello", { transport: "udp", hostname: "239.255.0.1", port: receiver.port });
   * const { data } = await receiver.receive({ timeout: 1000 });
   * assert.equal(new TextDecoder().decode(data), "hello");
   * await membership.leave();
   * ```
   *
   * @tags unstable
   */
  async joinMulticast(
    group: string,
    options: JoinMulticastOptions = {},
  ): Promise<MulticastMembership> {
    const { address, v6 } = multicastGroup(group);
    const where = `${address} on ${describeInterface(options.interface, v6)}`;
    if (v6 && familyOf(this.#addr.hostname) === 4) {
      throw new TypeError(
        `Cannot join ${where}: this socket is bound to ${this.#addr.hostname}, and an IPv6 group needs a socket bound to an IPv6 address (e.g. "::")`,
      );
    }
    const v6Index = v6 ? v6Interface(options.interface) : 0;
    const v4Address = v6 ? "" : v4Interface(options.interface);
    this.#throwIfClosed(`join ${where}`);
    let joined: Deno.MulticastV4Membership | Deno.MulticastV6Membership;
    try {
      joined = v6
        ? await this.#conn.joinMulticastV6(address, v6Index)
        : await this.#conn.joinMulticastV4(address, v4Address);
    } catch (error) {
      throw this.#multicastError(error, `join ${where}`, options.interface);
    }
    return this.#membership(address, joined);
  }

  #membership(
    group: string,
    joined: Deno.MulticastV4Membership | Deno.MulticastV6Membership,
  ): MulticastMembership {
    let left = false;
    const apply = async (what: string, call: () => Promise<void>) => {
      this.#throwIfClosed(what);
      try {
        await call();
      } catch (error) {
        throw this.#multicastError(error, what, undefined);
      }
    };
    return {
      group,
      get left() {
        return left;
      },
      leave: async () => {
        if (left) return;
        left = true;
        if (this.#closed) return;
        await apply(`leave ${group}`, () => joined.leave());
      },
      setTTL: (ttl: number) => {
        if (!("setTTL" in joined)) {
          return Promise.reject(
            new TypeError(
              `Cannot set the TTL for ${group}: Deno has no hop-limit setting for IPv6 multicast`,
            ),
          );
        }
        if (!Number.isInteger(ttl) || ttl < 0 || ttl > 255) {
          return Promise.reject(
            new RangeError(
              `Cannot set the multicast TTL to ${
                String(ttl)
              }: it must be a whole number from 0 to 255`,
            ),
          );
        }
        return apply(
          `set the multicast TTL for ${group}`,
          () => joined.setTTL(ttl),
        );
      },
      setLoopback: (loopback: boolean) => {
        if (typeof loopback !== "boolean") {
          return Promise.reject(
            new TypeError(
              `Cannot set multicast loopback to ${
                String(loopback)
              }: it must be true or false`,
            ),
          );
        }
        return apply(
          `set multicast loopback for ${group}`,
          () => joined.setLoopback(loopback),
        );
      },
    };
  }

  #throwIfClosed(what: string): void {
    if (this.#closed) {
      throw new ConnectionClosedError(
        `Cannot ${what}: the socket is closed`,
      );
    }
  }

  #multicastError(
    error: unknown,
    what: string,
    networkInterface: string | number | undefined,
  ): unknown {
    const options = { cause: error };
    if (this.#closed || error instanceof Deno.errors.BadResource) {
      return new ConnectionClosedError(
        `Cannot ${what}: the socket is closed`,
        options,
      );
    }
    if (error instanceof Deno.errors.AddrInUse) {
      return new AddressInUseError(
        `Cannot ${what}: this socket is already a member`,
        options,
      );
    }
    if (error instanceof Error && /\(os error 19\)/.test(error.message)) {
      return new AddressNotAvailableError(
        `Cannot ${what}: no interface has the ${
          typeof networkInterface === "number" ? "index" : "address"
        } ${String(networkInterface)}`,
        options,
      );
    }
    return mapError(error, { action: what });
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
    const received = this.#peer === undefined
      ? this.#receiveAny()
      : this.#receiveFromPeer();
    this.#pendingReceive = received;
    return this.#pending = received.then(
      ([view, from]) => {
        this.#pending = undefined;
        this.#queued = {
          data: ownCopy(view),
          remoteAddr: from as Deno.NetAddr,
        };
      },
      (error) => {
        this.#pending = undefined;
        this.#error = this.#receiveError(error);
      },
    );
  }

  #receiveAny(): Promise<[Uint8Array, Deno.Addr]> {
    try {
      return this.#conn.receive(this.#buffer);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Receives until a datagram comes from the peer. A loop, not a chain of
   * promises, so that strangers' datagrams cost no memory however many
   * arrive while one receive is pending.
   */
  async #receiveFromPeer(): Promise<[Uint8Array, Deno.Addr]> {
    if (this.#readyPeer === undefined) await this.#peerAddr();
    for (;;) {
      const received = await this.#conn.receive(this.#buffer);
      if (isFrom(received[1] as Deno.NetAddr, this.#peer!)) return received;
    }
  }

  #receiveError(error: unknown): SocketError {
    if (this.#closed) {
      return new ConnectionClosedError(
        `Cannot receive on ${this.#where()}: the socket is closed`,
        { cause: error },
      );
    }
    const mapped = mapError(error, { action: `receive on ${this.#where()}` });
    return mapped instanceof SocketError
      ? mapped
      : new SocketError(`Cannot receive on ${this.#where()}: ${mapped}`, {
        cause: error,
      });
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

function isFrom(from: Deno.NetAddr, peer: Deno.NetAddr): boolean {
  return from.port === peer.port &&
    (from.hostname === peer.hostname || ipEqual(from.hostname, peer.hostname));
}

function checkDatagramSize(size: unknown): number {
  if (
    typeof size !== "number" || !Number.isInteger(size) || size < 1 ||
    size > MAX_DATAGRAM_SIZE
  ) {
    throw new RangeError(
      `Cannot use maxDatagramSize ${
        String(size)
      }: it must be a whole number from 1 to ${MAX_DATAGRAM_SIZE}`,
    );
  }
  return size;
}

// The last destination host name found valid as it was spelled: replies
// go to the few addresses datagrams came from, so most checks stop here.
let lastValidHost: string | undefined;

/** A destination given to `send()`, checked; brackets around IPv6 go. */
function destination(to: Deno.NetAddr): Deno.NetAddr {
  if (
    lastValidHost !== undefined && to?.hostname === lastValidHost &&
    to.transport === "udp" &&
    Number.isInteger(to.port) && to.port >= 1 && to.port <= 65535
  ) {
    return to;
  }
  const port = checkPort("the destination port", to?.port, false);
  const hostname = checkHostname("the destination hostname", to.hostname);
  if (to.transport === "udp" && hostname === to.hostname) {
    lastValidHost = hostname;
    return to;
  }
  return { transport: "udp", hostname, port };
}

function openDatagram(options: ListenDatagramOptions): Deno.DatagramConn {
  const hostname = checkHostname("hostname", options.hostname ?? "127.0.0.1");
  const port = checkPort("port", options.port ?? 0, true);
  checkDatagramSize(options.maxDatagramSize ?? MAX_DATAGRAM_SIZE);
  if (typeof Deno.listenDatagram !== "function") {
    throw new SocketError(
      `Cannot open a datagram socket on ${
        formatHostPort(hostname, port)
      }: Deno's UDP sockets are unstable, run again with --unstable-net`,
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
 * Opens a datagram socket on a Unix socket file (`SOCK_DGRAM`, which Deno
 * calls `"unixpacket"`). It is asynchronous because a socket file already
 * at `path` is probed first: one nothing holds is removed, anything else
 * is an `AddressInUseError`. `close()` removes the file.
 *
 * Requires `--unstable-net` and `--allow-read=P --allow-write=P
 * --allow-net=unix:P` for the path P.
 *
 * @param options The socket file and the largest datagram.
 * @returns The socket.
 * @throws {AddressInUseError} when a socket of a running program, or a
 * file that is not a socket, is at the path.
 * @throws {PermissionError} naming the three flags.
 *
 * @example
 * ```ts ignore
 * import { listenDatagram } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const socket = await listenDatagram({ path: `${dir}/d.sock` });
 * assert.equal(socket.path, `${dir}/d.sock`);
 * socket.close();
 * await Deno.remove(dir);
 * ```
 *
 * @tags allow-read, allow-write, allow-net, unstable
 */
export function listenDatagram(
  options: UnixDatagramOptions,
): Promise<UnixDatagramSocket>;
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
 * @throws {RangeError} when `port` or `maxDatagramSize` is out of range.
 * @throws {TypeError} when `hostname` is not a host name or an IP address.
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
  options?: ListenDatagramOptions,
): DatagramSocket;
export function listenDatagram(
  options: ListenDatagramOptions | UnixDatagramOptions = {},
): DatagramSocket | Promise<UnixDatagramSocket> {
  if ("path" in options) return listenUnixDatagram(options);
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
 * Unless `hostname` says otherwise, the socket binds the loopback address
 * of the peer's IP version for a loopback peer (`127.0.0.1` or `::1`), and
 * the wildcard of its version for any other address (`0.0.0.0` or `::`).
 *
 * A peer given by host name is looked up once, in the background, with the
 * system's resolver (so `/etc/hosts` counts); until then the socket binds
 * `0.0.0.0` (set `hostname: "::"` for an IPv6 peer), and `send()` and
 * `receive()` wait for the lookup. A name that cannot be looked up makes
 * them reject with a `HostNotFoundError` (a `TimeoutError` when the name
 * server does not answer; see {@linkcode lookupHostname}).
 *
 * Requires `--unstable-net` and `allow-net` permission for the local
 * `HOST:0` and for the peer's `ADDRESS:PORT`; a peer given by name also
 * needs the grant to look the name up: `--allow-net=NAME` (just the name,
 * no port). Datagrams then go to the address found, which is not known in
 * advance: an unrestricted `--allow-net` covers it.
 *
 * @param options The peer, and where to bind locally.
 * @returns The socket.
 * @throws {RangeError} when `remotePort` is not 1 to 65535, or `port` is out of range.
 * @throws {TypeError} when `remoteHostname` or `hostname` is not a host name
 * or an IP address, e.g. `127.000.000.001` (leading zeros read as octal).
 * @throws {SocketError} when `--unstable-net` is missing, saying so.
 * @throws {PermissionError} when the `--allow-net` grant for the local address is missing.
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
  const port = checkPort("remotePort", options.remotePort, false);
  const host = peerHost(options.remoteHostname ?? "127.0.0.1");
  const local = {
    ...options,
    hostname: options.hostname ??
      (host.ip === undefined ? "0.0.0.0" : localFor(host.ip)),
  };
  return new DatagramSocket(
    openDatagram(local),
    { transport: "udp", hostname: host.ip ?? host.name, port },
    options.maxDatagramSize,
  );
}
