/**
 * The PROXY protocol (versions 1 and 2) that load balancers such as
 * HAProxy, Envoy, nginx `stream` and cloud balancers use to tell a backend
 * who the client really is. `listen()` and `serve()` read it when
 * `proxyProtocol` is set; these are their options and what they find.
 *
 * @module
 */

/**
 * The options that turn on the PROXY protocol for {@linkcode listen} and
 * `serve()`. With `proxyProtocol` set, every connection must begin with a
 * PROXY header from a trusted proxy: the header is read (from the
 * socket's own buffer, so client bytes that came in the same packet are
 * kept for the handler) before `accept()` hands the socket out, and
 * `socket.remoteAddr` and `socket.localAddr` then tell the addresses the
 * header names. A connection from an address outside `trustedProxies`, one
 * whose header is malformed or missing, and one whose header has not
 * arrived within `proxyTimeout` is closed and reported once through
 * `onError`; it never reaches `accept()` or a handler.
 *
 * @example A server behind HAProxy's `send-proxy-v2`
 * ```ts
 * import { connect, serve } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * await using server = serve(async (socket) => {
 *   await socket.write(`hello ${socket.remoteAddr.hostname}\n`);
 * }, { port: 0, proxyProtocol: true, trustedProxies: ["127.0.0.1"] });
 *
 * // What a balancer sends for a client at 192.0.2.7:5000.
 * await using balancer = await connect({ port: server.port });
 * await balancer.write(`PROXY TCP4 192.0.2.7 127.0.0.1 5000 ${server.port}\r\n`);
 * await balancer.flush();
 * assert.equal(await balancer.readLine({ timeout: 5000 }), "hello 192.0.2.7");
 * ```
 */
export interface ProxyProtocolOptions {
  /**
   * Which PROXY header every connection must begin with: `"v1"` (text),
   * `"v2"` (binary), `true` for either (told apart by their first bytes),
   * or `false` for none.
   *
   * @default {false}
   */
  proxyProtocol?: "v1" | "v2" | boolean;
  /**
   * The addresses (`"10.0.0.5"`) and ranges (`"10.0.0.0/8"`, `"fd00::/8"`)
   * a PROXY header is accepted from: the load balancers. A connection from
   * anywhere else is closed unread, so that no client can claim another
   * client's address. `["0.0.0.0/0", "::/0"]` trusts everyone, which is safe
   * only when nothing but the balancer can reach the port.
   *
   * @default {["127.0.0.0/8", "::1"]}
   */
  trustedProxies?: readonly string[];
  /**
   * Milliseconds a connection may take to send its whole PROXY header;
   * past it the connection is closed and reported. Balancers send the
   * header at once, before anything of the client's. At most 256 headers
   * are read at once (beyond `serve()`'s `maxConnections`); accepting waits
   * past that.
   *
   * @default {3000}
   */
  proxyTimeout?: number;
}

/**
 * One type-length-value field of a PROXY v2 header, as sent: `type` is the
 * field's type byte (`0x01` ALPN, `0x02` authority, `0x03` CRC32C, `0x04`
 * no-op, `0x05` unique ID, `0x20` SSL, `0x30` network namespace, `0xE0`
 * to `0xEF` for custom use), `value` its bytes.
 *
 * @example Finding the unique ID a balancer gave a connection
 * ```ts
 * import type { ProxyTlv } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const tlvs: ProxyTlv[] = [{ type: 0x05, value: new TextEncoder().encode("abc") }];
 * const id = tlvs.find((tlv) => tlv.type === 0x05)?.value;
 * assert.equal(new TextDecoder().decode(id), "abc");
 * ```
 */
export interface ProxyTlv {
  /** The type byte. */
  readonly type: number;
  /** The value, without its type and length. */
  readonly value: Uint8Array;
}

/**
 * A PROXY header as read from a connection: `socket.proxyHeader`.
 *
 * `command` is `"proxy"` for a relayed connection, whose `source` (the
 * client) and `destination` (the address the client connected to) the
 * socket then reports as its `remoteAddr` and `localAddr`; it is
 * `"local"` for a connection the balancer made on its own behalf (v2
 * health checks), which keeps the socket's own addresses. A v1 `UNKNOWN`
 * header and a v2 header of an unspecified, Unix or datagram family keep
 * them too; `source` and `destination` are then `undefined` (for the
 * unspecified family) or what the header says.
 *
 * @example Reading the header of a connection
 * ```ts
 * import { connect, listen, type ProxyHeader } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = listen({ port: 0, proxyProtocol: "v1" });
 * await using balancer = await connect({ port: listener.port });
 * await balancer.write("PROXY TCP6 2001:db8::1 ::1 40000 443\r\n");
 * await balancer.flush();
 * await using socket = await listener.accept({ timeout: 5000 });
 * const header: ProxyHeader = socket.proxyHeader!;
 * assert.equal(header.version, 1);
 * assert.equal(socket.remoteAddr.hostname, "2001:db8::1");
 * assert.equal(socket.proxyAddr?.hostname, "127.0.0.1");
 * ```
 */
export interface ProxyHeader {
  /** 1 for the text form, 2 for the binary one. */
  readonly version: 1 | 2;
  /** `"proxy"`: a relayed client; `"local"`: the balancer's own connection. */
  readonly command: "proxy" | "local";
  /**
   * The relayed connection's kind: `"tcp4"`, `"tcp6"`, `"udp4"`, `"udp6"`,
   * `"unix"`, `"unixgram"`, or `"unknown"` (v1 `UNKNOWN`, v2 unspecified).
   */
  readonly family:
    | "tcp4"
    | "tcp6"
    | "udp4"
    | "udp6"
    | "unix"
    | "unixgram"
    | "unknown";
  /** The client's address, when the header names one. */
  readonly source: Deno.NetAddr | Deno.UnixAddr | undefined;
  /** The address the client connected to, when the header names one. */
  readonly destination: Deno.NetAddr | Deno.UnixAddr | undefined;
  /** The v2 type-length-value fields, in order; empty for v1. */
  readonly tlvs: readonly ProxyTlv[];
}
