/**
 * Writing a PROXY protocol header (HAProxy's `send-proxy` and
 * `send-proxy-v2`), for a program that forwards connections and must tell
 * the server behind it who the client really is. `listen()` and `serve()`
 * read what this writes when `proxyProtocol` is set.
 *
 * @module
 */
import { formatIp, parseIp } from "./_ip.ts";
import { V2_SIGNATURE } from "./_proxy_protocol.ts";
import type { ProxyTlv } from "./proxy.ts";

/**
 * What {@linkcode formatProxyHeader} writes: the client's address and the
 * address it connected to, as `socket.remoteAddr` and `socket.localAddr`
 * give them.
 *
 * @example A header for a client of a Unix socket
 * ```ts
 * import { formatProxyHeader, type ProxyHeaderInit } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const init: ProxyHeaderInit = {
 *   source: { transport: "unix", path: "/run/client.sock" },
 *   destination: { transport: "unix", path: "/run/app.sock" },
 * };
 * // 16 fixed bytes and two 108-byte paths.
 * assert.equal(formatProxyHeader(init).length, 16 + 216);
 * ```
 */
export interface ProxyHeaderInit {
  /**
   * 2 for the binary header (`send-proxy-v2`), 1 for the text one.
   *
   * @default {2}
   */
  version?: 1 | 2;
  /**
   * `"proxy"` for a relayed client; `"local"` for a connection the
   * forwarder makes on its own behalf (a health check), which names no
   * addresses.
   *
   * @default {"proxy"}
   */
  command?: "proxy" | "local";
  /**
   * The client's address: TCP or UDP with an IP address, or a Unix
   * socket's path (v2 only). Leave it out, with `destination`, for a
   * connection whose addresses are unknown (`UNKNOWN` in v1).
   */
  source?: Deno.Addr;
  /** The address the client connected to, of the same kind as `source`. */
  destination?: Deno.Addr;
  /**
   * v2 type-length-value fields to send after the addresses, in order
   * (e.g. `{ type: 0x05, value: uniqueId }`).
   *
   * @default {[]}
   */
  tlvs?: readonly ProxyTlv[];
}

const encoder = new TextEncoder();

/** The bytes of a Unix socket path field in a v2 header. */
const UNIX_PATH_LENGTH = 108;

/**
 * Writes a PROXY protocol header: the bytes a forwarder sends first on its
 * connection to a server, before any of the client's. Version 2 (the
 * default) is binary and carries TCP or UDP over IPv4 or IPv6, Unix socket
 * paths and TLV fields; version 1 is one line of text for TCP. An IPv4
 * address beside an IPv6 one is sent in its IPv6 form (`::ffff:a.b.c.d`),
 * as the header holds one family.
 *
 * @param init The addresses and the version.
 * @returns The header's bytes.
 * @throws {TypeError} when an address is not an IP address or a path, the
 * two addresses are of different kinds, a port or a TLV does not fit, or
 * version 1 is asked for what only version 2 carries.
 *
 * @example Telling a server behind a forwarder who the client is
 * ```ts
 * import { connect, formatProxyHeader, serve } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * await using server = serve(async (socket) => {
 *   await socket.write(`hello ${socket.remoteAddr.hostname}\n`);
 * }, { port: 0, proxyProtocol: true });
 *
 * // The forwarder's connection to the server, on behalf of 192.0.2.7.
 * await using upstream = await connect({ port: server.port });
 * await upstream.write(formatProxyHeader({
 *   source: { transport: "tcp", hostname: "192.0.2.7", port: 5000 },
 *   destination: { transport: "tcp", hostname: "127.0.0.1", port: 443 },
 * }));
 * await upstream.flush();
 * assert.equal(await upstream.readLine({ timeout: 5000 }), "hello 192.0.2.7");
 * ```
 *
 * @example The text form, version 1
 * ```ts
 * import { formatProxyHeader } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const line = formatProxyHeader({
 *   version: 1,
 *   source: { transport: "tcp", hostname: "2001:db8::1", port: 40000 },
 *   destination: { transport: "tcp", hostname: "::1", port: 443 },
 * });
 * assert.equal(
 *   new TextDecoder().decode(line),
 *   "PROXY TCP6 2001:db8::1 ::1 40000 443\r\n",
 * );
 * ```
 */
export function formatProxyHeader(init: ProxyHeaderInit): Uint8Array {
  const version = init.version ?? 2;
  if (version !== 1 && version !== 2) {
    throw new TypeError(
      `Cannot format a PROXY header of version ${
        String(version)
      }: it must be 1 or 2`,
    );
  }
  const command = init.command ?? "proxy";
  if (command !== "proxy" && command !== "local") {
    throw new TypeError(
      `Cannot format a PROXY header with the command ${
        JSON.stringify(command)
      }: it must be "proxy" or "local"`,
    );
  }
  const { source, destination } = init;
  if ((source === undefined) !== (destination === undefined)) {
    throw new TypeError(
      `Cannot format a PROXY header with a ${
        source === undefined ? "destination" : "source"
      } alone: give both addresses, or neither`,
    );
  }
  const addresses = command === "local" || source === undefined
    ? undefined
    : pairOf(source, destination!);
  return version === 1
    ? formatV1(addresses, init.tlvs ?? [])
    : formatV2(command, addresses, init.tlvs ?? []);
}

/** Two addresses of one kind, as the header carries them. */
type Pair =
  | {
    kind: "tcp" | "udp";
    source: Uint8Array;
    destination: Uint8Array;
    ports: [number, number];
  }
  | { kind: "unix" | "unixpacket"; source: string; destination: string };

function pairOf(source: Deno.Addr, destination: Deno.Addr): Pair {
  if (source.transport !== destination.transport) {
    throw new TypeError(
      `Cannot format a PROXY header from ${source.transport} to ${destination.transport}: both addresses must be of one kind`,
    );
  }
  if ("path" in source || "path" in destination) {
    const path = (addr: Deno.Addr, which: string) => {
      if (!("path" in addr) || typeof addr.path !== "string") {
        throw new TypeError(
          `Cannot format a PROXY header: the ${which} is a Unix address without a path`,
        );
      }
      return addr.path;
    };
    return {
      kind: source.transport === "unix" ? "unix" : "unixpacket",
      source: path(source, "source"),
      destination: path(destination, "destination"),
    };
  }
  if (
    (source.transport !== "tcp" && source.transport !== "udp") ||
    !("hostname" in source) || !("hostname" in destination)
  ) {
    throw new TypeError(
      `Cannot format a PROXY header for the transport ${
        JSON.stringify(source.transport)
      }: it must be tcp, udp, unix or unixpacket`,
    );
  }
  let from = ipOf(source, "source");
  let to = ipOf(destination, "destination");
  if (from.length !== to.length) {
    from = mapped(from);
    to = mapped(to);
  }
  return {
    kind: source.transport,
    source: from,
    destination: to,
    ports: [
      portOf(source, "source"),
      portOf(destination, "destination"),
    ],
  };
}

function ipOf(addr: Deno.NetAddr, which: string): Uint8Array {
  const bytes = parseIp(addr.hostname);
  if (bytes === undefined || addr.hostname.startsWith("[")) {
    throw new TypeError(
      `Cannot format a PROXY header: the ${which} ${
        JSON.stringify(addr.hostname)
      } is not an IP address (a header names addresses, not host names)`,
    );
  }
  return bytes;
}

function portOf(addr: Deno.NetAddr, which: string): number {
  if (!Number.isInteger(addr.port) || addr.port < 0 || addr.port > 65535) {
    throw new TypeError(
      `Cannot format a PROXY header: the ${which} port ${addr.port} must be a whole number from 0 to 65535`,
    );
  }
  return addr.port;
}

/** An IP address in its 16-byte form (IPv4 as `::ffff:a.b.c.d`). */
function mapped(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 16) return bytes;
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(bytes, 12);
  return out;
}

function formatV1(
  pair: Pair | undefined,
  tlvs: readonly ProxyTlv[],
): Uint8Array {
  if (tlvs.length > 0) {
    throw new TypeError(
      "Cannot format a PROXY v1 header with TLV fields: only version 2 carries them",
    );
  }
  if (pair === undefined) return encoder.encode("PROXY UNKNOWN\r\n");
  if (pair.kind !== "tcp") {
    throw new TypeError(
      `Cannot format a PROXY v1 header for ${pair.kind}: version 1 carries TCP only (use version 2)`,
    );
  }
  const [from, to] = [pair.source, pair.destination].map(formatIp);
  const family = pair.source.length === 4 ? "TCP4" : "TCP6";
  return encoder.encode(
    `PROXY ${family} ${from} ${to} ${pair.ports[0]} ${pair.ports[1]}\r\n`,
  );
}

function formatV2(
  command: "proxy" | "local",
  pair: Pair | undefined,
  tlvs: readonly ProxyTlv[],
): Uint8Array {
  let familyByte = 0x00;
  let body = new Uint8Array(0);
  if (pair !== undefined) {
    if ("ports" in pair) {
      const size = pair.source.length;
      body = new Uint8Array(2 * size + 4);
      body.set(pair.source, 0);
      body.set(pair.destination, size);
      const ports = new DataView(body.buffer, 2 * size, 4);
      ports.setUint16(0, pair.ports[0]);
      ports.setUint16(2, pair.ports[1]);
      familyByte = (size === 4 ? 0x10 : 0x20) |
        (pair.kind === "tcp" ? 0x01 : 0x02);
    } else {
      body = new Uint8Array(2 * UNIX_PATH_LENGTH);
      body.set(unixField(pair.source, "source"), 0);
      body.set(unixField(pair.destination, "destination"), UNIX_PATH_LENGTH);
      familyByte = 0x30 | (pair.kind === "unix" ? 0x01 : 0x02);
    }
  }
  let tlvLength = 0;
  for (const tlv of tlvs) {
    if (!Number.isInteger(tlv.type) || tlv.type < 0 || tlv.type > 255) {
      throw new TypeError(
        `Cannot format a PROXY v2 TLV of type ${tlv.type}: a type is one byte, 0 to 255`,
      );
    }
    tlvLength += 3 + tlv.value.length;
  }
  const length = body.length + tlvLength;
  if (length > 0xffff) {
    throw new TypeError(
      `Cannot format a PROXY v2 header of ${length} bytes after its fixed part: it holds at most 65535`,
    );
  }
  const out = new Uint8Array(16 + length);
  out.set(V2_SIGNATURE, 0);
  out[12] = command === "local" ? 0x20 : 0x21;
  out[13] = familyByte;
  out[14] = length >> 8;
  out[15] = length & 0xff;
  out.set(body, 16);
  let at = 16 + body.length;
  for (const tlv of tlvs) {
    out[at] = tlv.type;
    out[at + 1] = tlv.value.length >> 8;
    out[at + 2] = tlv.value.length & 0xff;
    out.set(tlv.value, at + 3);
    at += 3 + tlv.value.length;
  }
  return out;
}

/** A Unix socket path as a v2 header's NUL-padded 108-byte field. */
function unixField(path: string, which: string): Uint8Array {
  const bytes = encoder.encode(path);
  if (bytes.length > UNIX_PATH_LENGTH) {
    throw new TypeError(
      `Cannot format a PROXY v2 header: the ${which} path has ${bytes.length} bytes, and the header holds at most ${UNIX_PATH_LENGTH}`,
    );
  }
  return bytes;
}
