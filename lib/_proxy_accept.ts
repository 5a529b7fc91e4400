// The PROXY protocol side of a listener: each accepted connection from a
// trusted proxy has its header read (several at once, so one slow peer
// holds up no other) before accept() may hand its socket out.
import { formatHostPort } from "./_addr.ts";
import { inCidr } from "./_ip.ts";
import { parseProxyHeader, ProxyHeaderError } from "./_proxy_protocol.ts";
import { checkNumber } from "./_validate.ts";
import {
  ConnectionResetError,
  ProxyProtocolError,
  TimeoutError,
} from "./errors.ts";
import type { ProxyProtocolOptions } from "./proxy.ts";
import { setProxy } from "./_internal.ts";
import type { Socket } from "./socket.ts";

/** The proxies trusted when `trustedProxies` is not given. */
export const DEFAULT_TRUSTED_PROXIES: readonly string[] = [
  "127.0.0.0/8",
  "::1",
];
const DEFAULT_PROXY_TIMEOUT = 3000;
/** The most headers read at once; accepting waits past it. */
const MOST_HEADERS_READ = 256;

/** Throws a TypeError or RangeError for a PROXY option no listener can use. */
export function checkProxyOptions(options: ProxyProtocolOptions): void {
  const { proxyProtocol, trustedProxies, proxyTimeout } = options;
  if (
    proxyProtocol !== undefined && typeof proxyProtocol !== "boolean" &&
    proxyProtocol !== "v1" && proxyProtocol !== "v2"
  ) {
    throw new TypeError(
      `Cannot use proxyProtocol ${
        JSON.stringify(proxyProtocol)
      }: it must be "v1", "v2", true (either) or false`,
    );
  }
  if (trustedProxies !== undefined) {
    if (!Array.isArray(trustedProxies)) {
      throw new TypeError(
        `Cannot use trustedProxies ${
          String(trustedProxies)
        }: it must be an array of addresses and ranges, such as ["10.0.0.0/8"]`,
      );
    }
    // inCidr throws a TypeError that names a malformed range.
    for (const range of trustedProxies) inCidr("127.0.0.1", String(range));
  }
  if (proxyTimeout !== undefined) {
    checkNumber("proxyTimeout", proxyTimeout, 1, { infinite: true });
  }
}

/**
 * Reads the PROXY header of each connection a listener accepts. `pull`
 * gets the next accepted connection's socket (`undefined` once the
 * listener is closed); sockets whose header was read wait in a queue for
 * `take()`.
 */
export class ProxyGate {
  readonly #pull: () => Promise<Socket<Deno.NetAddr> | undefined>;
  readonly #report: (error: unknown, where: string) => void;
  readonly #where: () => string;
  readonly #versions: "v1" | "v2" | "either";
  readonly #trusted: readonly string[];
  readonly #timeout: number;
  readonly #ready: Socket<Deno.NetAddr>[] = [];
  readonly #reading = new Set<Socket<Deno.NetAddr>>();
  #pulling = false;
  #closed = false;
  /** Settles when a socket is ready or the gate closes; set while awaited. */
  #readied: PromiseWithResolvers<void> | undefined;
  /** Settles when a header read ends; set while the pull loop waits on one. */
  #readEnded: PromiseWithResolvers<void> | undefined;

  constructor(
    options: ProxyProtocolOptions,
    pull: () => Promise<Socket<Deno.NetAddr> | undefined>,
    report: (error: unknown, where: string) => void,
    where: () => string,
  ) {
    const { proxyProtocol } = options;
    this.#versions = proxyProtocol === "v1" || proxyProtocol === "v2"
      ? proxyProtocol
      : "either";
    this.#trusted = options.trustedProxies ?? DEFAULT_TRUSTED_PROXIES;
    this.#timeout = options.proxyTimeout ?? DEFAULT_PROXY_TIMEOUT;
    this.#pull = pull;
    this.#report = report;
    this.#where = where;
  }

  /** True when a socket is ready for `take()`. */
  get ready(): boolean {
    return this.#ready.length > 0;
  }

  /** The oldest socket whose header has been read, if any. */
  take(): Socket<Deno.NetAddr> | undefined {
    return this.#ready.shift();
  }

  /** Settles when a socket is ready or the gate is closed; accepts meanwhile. */
  wait(): Promise<void> {
    if (this.#ready.length > 0 || this.#closed) return Promise.resolve();
    this.#readied ??= Promise.withResolvers();
    void this.#pump();
    return this.#readied.promise;
  }

  /** Closes every socket waiting or having its header read. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const socket of [...this.#ready, ...this.#reading]) {
      void socket.close({ abort: true }).catch(() => {});
    }
    this.#ready.length = 0;
    this.#settle();
  }

  #settle(): void {
    this.#readied?.resolve();
    this.#readied = undefined;
  }

  /** Accepts connections while someone waits and none is ready. */
  async #pump(): Promise<void> {
    if (this.#pulling) return;
    this.#pulling = true;
    try {
      while (
        !this.#closed && this.#readied !== undefined && this.#ready.length === 0
      ) {
        if (this.#reading.size >= MOST_HEADERS_READ) {
          this.#readEnded = Promise.withResolvers();
          await this.#readEnded.promise;
          continue;
        }
        let socket: Socket<Deno.NetAddr> | undefined;
        try {
          socket = await this.#pull();
        } catch {
          socket = undefined;
        }
        if (socket === undefined) {
          // The listener is closed: wake whoever waits, to see it.
          this.#settle();
          return;
        }
        void this.#admit(socket);
      }
    } finally {
      this.#pulling = false;
    }
  }

  /** Reads the header of one connection; queues it, or closes and reports. */
  async #admit(socket: Socket<Deno.NetAddr>): Promise<void> {
    const peer = socket.remoteAddr;
    const from = formatHostPort(peer.hostname, peer.port);
    const where = `PROXY protocol on ${this.#where()}`;
    if (!this.#trusted.some((range) => inCidr(peer.hostname, range))) {
      this.#report(
        new ProxyProtocolError(
          `Cannot accept the connection from ${from}: it is not one of the trusted proxies (${
            this.#trusted.join(", ")
          }); it was closed. Add the load balancer's address to trustedProxies`,
          { address: { hostname: peer.hostname, port: peer.port } },
        ),
        where,
      );
      await socket.close({ abort: true }).catch(() => {});
      return;
    }
    this.#reading.add(socket);
    try {
      const header = await socket.readWith(
        (bytes, eof) => {
          const parsed = parseProxyHeader(bytes, this.#versions, eof);
          return parsed && { value: parsed.header, length: parsed.length };
        },
        { timeout: this.#timeout },
      );
      if (this.#closed) throw new ProxyHeaderError("the listener was closed");
      if (header === null) {
        throw new ProxyHeaderError(
          "the connection ended before its PROXY header",
        );
      }
      socket[setProxy](header);
      this.#ready.push(socket);
      this.#settle();
    } catch (error) {
      const quiet = this.#closed || error instanceof ConnectionResetError;
      if (!quiet) this.#report(this.#explain(error, peer), where);
      await socket.close({ abort: true }).catch(() => {});
    } finally {
      this.#reading.delete(socket);
      this.#readEnded?.resolve();
      this.#readEnded = undefined;
    }
  }

  #explain(error: unknown, peer: Deno.NetAddr): unknown {
    const from = formatHostPort(peer.hostname, peer.port);
    const address = { hostname: peer.hostname, port: peer.port };
    if (error instanceof ProxyHeaderError) {
      return new ProxyProtocolError(
        `Cannot accept the connection from ${from}: ${error.message}; it was closed`,
        { address },
      );
    }
    if (error instanceof TimeoutError) {
      return new ProxyProtocolError(
        `Cannot accept the connection from ${from}: its PROXY header did not arrive within ${this.#timeout} ms (proxyTimeout); it was closed`,
        { cause: error, address },
      );
    }
    return new ProxyProtocolError(
      `Cannot accept the connection from ${from}: reading its PROXY header failed (${
        error instanceof Error ? error.message : String(error)
      }); it was closed`,
      { cause: error, address },
    );
  }
}
