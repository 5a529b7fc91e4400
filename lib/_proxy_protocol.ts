// The PROXY protocol header, versions 1 and 2 (HAProxy's
// proxy-protocol.txt), parsed from the front of a byte buffer. Pure: the
// caller reads the bytes and decides what a result means.
import { formatIp, parseIp } from "./_ip.ts";
import type { ProxyHeader, ProxyTlv } from "./proxy.ts";

/** Which header versions a parse accepts. */
export type ProxyVersions = "v1" | "v2" | "either";

/** A header and how many bytes of the buffer it took. */
export interface ParsedProxyHeader {
  header: ProxyHeader;
  length: number;
}

/** Why bytes are not a PROXY header; `message` completes "Cannot …: ". */
export class ProxyHeaderError extends Error {
  override name = "ProxyHeaderError";
}

/** The most a v1 header may take, "PROXY" to "\r\n" included. */
export const V1_MAX_LENGTH = 107;

const V1_PREFIX = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20]; // "PROXY "
/** The 12 bytes a PROXY v2 header begins with. */
export const V2_SIGNATURE = [
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
];
const V2_FIXED = 16;
const CRC32C_TLV = 0x03;

/** How many bytes the address block of each v2 family takes. */
const V2_ADDRESS_LENGTH = [0, 12, 36, 216];

/**
 * Parses the PROXY header at the front of `bytes`.
 *
 * @returns The header and its length; `undefined` when `bytes` could
 * still become a header with more bytes (and `eof` is false).
 * @throws {ProxyHeaderError} when the bytes are not a header `versions`
 * allows, or end (`eof`) before a header is complete.
 */
export function parseProxyHeader(
  bytes: Uint8Array,
  versions: ProxyVersions,
  eof = false,
): ParsedProxyHeader | undefined {
  const v1 = versions !== "v2" && startsLike(bytes, V1_PREFIX);
  const v2 = versions !== "v1" && startsLike(bytes, V2_SIGNATURE);
  let parsed: ParsedProxyHeader | undefined;
  if (v1 && v2) {
    parsed = undefined; // Nothing yet tells them apart: no byte at all.
  } else if (v1) {
    parsed = parseV1(bytes);
  } else if (v2) {
    parsed = parseV2(bytes);
  } else {
    throw new ProxyHeaderError(notAHeader(bytes, versions));
  }
  if (parsed === undefined && eof) {
    throw new ProxyHeaderError(
      bytes.length === 0
        ? "the connection ended before its PROXY header"
        : `the connection ended inside its PROXY header, after ${bytes.length} bytes`,
    );
  }
  return parsed;
}

/** True when `bytes` begins with `prefix`, or is a beginning of it. */
function startsLike(bytes: Uint8Array, prefix: readonly number[]): boolean {
  const n = Math.min(bytes.length, prefix.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function notAHeader(bytes: Uint8Array, versions: ProxyVersions): string {
  const wanted = versions === "v1"
    ? 'a PROXY v1 header ("PROXY …\\r\\n")'
    : versions === "v2"
    ? "a PROXY v2 header"
    : "a PROXY header (v1 or v2)";
  const other = versions === "v1" && startsLike(bytes, V2_SIGNATURE)
    ? '; it is a v2 header: set proxyProtocol to "v2" or true'
    : versions === "v2" && startsLike(bytes, V1_PREFIX)
    ? '; it is a v1 header: set proxyProtocol to "v1" or true'
    : "";
  return `the connection does not begin with ${wanted}: its first bytes are ${
    preview(bytes)
  }${other}`;
}

/** Up to 16 bytes as printable text where they are, else hex. */
function preview(bytes: Uint8Array): string {
  const head = bytes.subarray(0, 16);
  const printable = head.every((b) =>
    (b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d
  );
  const text = printable
    ? JSON.stringify(String.fromCharCode(...head))
    : Array.from(head, (b) => b.toString(16).padStart(2, "0")).join(" ");
  return bytes.length > 16 ? `${text} …` : text;
}

// Version 1: "PROXY TCP4 192.0.2.1 192.0.2.2 56324 443\r\n".

const PORT = /^(?:0|[1-9][0-9]{0,4})$/;

function parseV1(bytes: Uint8Array): ParsedProxyHeader | undefined {
  const limit = Math.min(bytes.length, V1_MAX_LENGTH);
  let cr = -1;
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const b = bytes[i]!;
    if (b === 0x0d) {
      cr = i;
      break;
    }
    if (b < 0x20 || b > 0x7e) {
      throw new ProxyHeaderError(
        `the PROXY v1 header holds the byte 0x${
          b.toString(16).padStart(2, "0")
        } at ${i}: it must be printable text ending in \\r\\n`,
      );
    }
  }
  if (cr < 0) {
    if (bytes.length < V1_MAX_LENGTH) return undefined;
    throw new ProxyHeaderError(
      `the PROXY v1 header has no \\r\\n within its first ${V1_MAX_LENGTH} bytes`,
    );
  }
  if (cr + 1 >= bytes.length) return undefined;
  if (bytes[cr + 1] !== 0x0a) {
    throw new ProxyHeaderError(
      "the PROXY v1 header's \\r is not followed by \\n",
    );
  }
  const line = String.fromCharCode(...bytes.subarray(0, cr));
  return { header: v1Header(line), length: cr + 2 };
}

function v1Header(line: string): ProxyHeader {
  const fields = line.split(" ");
  const protocol = fields[1];
  if (protocol === "UNKNOWN") {
    // The rest of the line may be anything; the socket's addresses hold.
    return {
      version: 1,
      command: "proxy",
      family: "unknown",
      source: undefined,
      destination: undefined,
      tlvs: [],
    };
  }
  if (protocol !== "TCP4" && protocol !== "TCP6") {
    throw new ProxyHeaderError(
      `the PROXY v1 header names the protocol ${
        JSON.stringify(protocol ?? "")
      }: it must be TCP4, TCP6 or UNKNOWN`,
    );
  }
  if (fields.length !== 6) {
    throw new ProxyHeaderError(
      `the PROXY v1 header ${
        JSON.stringify(line)
      } must have five fields after "PROXY", one space apart: protocol, source and destination address, source and destination port`,
    );
  }
  const size = protocol === "TCP4" ? 4 : 16;
  const source = v1Address(fields[2]!, fields[4]!, size, "source");
  const destination = v1Address(fields[3]!, fields[5]!, size, "destination");
  return {
    version: 1,
    command: "proxy",
    family: protocol === "TCP4" ? "tcp4" : "tcp6",
    source,
    destination,
    tlvs: [],
  };
}

function v1Address(
  host: string,
  port: string,
  size: number,
  which: string,
): Deno.NetAddr {
  const bytes = host.includes("[") ? undefined : parseIp(host);
  if (bytes === undefined || bytes.length !== size) {
    throw new ProxyHeaderError(
      `the PROXY v1 header's ${which} address ${
        JSON.stringify(host)
      } is not an ${size === 4 ? "IPv4" : "IPv6"} address`,
    );
  }
  if (!PORT.test(port) || Number(port) > 65535) {
    throw new ProxyHeaderError(
      `the PROXY v1 header's ${which} port ${
        JSON.stringify(port)
      } is not a port number (0 to 65535, no leading zeros)`,
    );
  }
  return { transport: "tcp", hostname: formatIp(bytes), port: Number(port) };
}

// Version 2: a 12-byte signature, version and command, family and
// transport, a 16-bit length, then that many bytes of addresses and TLVs.

function parseV2(bytes: Uint8Array): ParsedProxyHeader | undefined {
  if (bytes.length < V2_FIXED) return undefined;
  const versionCommand = bytes[12]!;
  if (versionCommand >> 4 !== 2) {
    throw new ProxyHeaderError(
      `the PROXY v2 header has version ${
        versionCommand >> 4
      }: only version 2 exists`,
    );
  }
  const command = versionCommand & 0x0f;
  if (command > 1) {
    throw new ProxyHeaderError(
      `the PROXY v2 header has the command ${command}: it must be 0 (LOCAL) or 1 (PROXY)`,
    );
  }
  const familyByte = bytes[13]!;
  const family = familyByte >> 4;
  const transport = familyByte & 0x0f;
  if (family > 3 || transport > 2) {
    throw new ProxyHeaderError(
      `the PROXY v2 header has the family and transport byte 0x${
        familyByte.toString(16).padStart(2, "0")
      }: the family must be 0 to 3 and the transport 0 to 2`,
    );
  }
  const length = (bytes[14]! << 8) | bytes[15]!;
  const total = V2_FIXED + length;
  if (bytes.length < total) return undefined;
  const body = bytes.subarray(V2_FIXED, total);
  // An unspecified transport carries no addresses, whatever the family.
  const known = transport === 0 ? 0 : family;
  const addressLength = V2_ADDRESS_LENGTH[known]!;
  if (body.length < addressLength) {
    if (command === 0) {
      // LOCAL: the receiver ignores the address block, whatever its size.
      return { header: v2Header(0, 0, 0, body, []), length: total };
    }
    throw new ProxyHeaderError(
      `the PROXY v2 header is ${length} bytes after its first 16, too short for the ${addressLength} bytes of its addresses`,
    );
  }
  const tlvs = parseTlvs(body.subarray(addressLength));
  checkCrc(bytes.subarray(0, total), tlvs);
  return {
    header: v2Header(command, known, transport, body, tlvs),
    length: total,
  };
}

function v2Header(
  command: number,
  family: number,
  transport: number,
  body: Uint8Array,
  tlvs: ProxyTlv[],
): ProxyHeader {
  const stream = transport === 1;
  let source: Deno.NetAddr | Deno.UnixAddr | undefined;
  let destination: Deno.NetAddr | Deno.UnixAddr | undefined;
  let name: ProxyHeader["family"] = "unknown";
  if (family === 1 || family === 2) {
    const size = family === 1 ? 4 : 16;
    const net = stream ? "tcp" : "udp";
    const ports = new DataView(body.buffer, body.byteOffset + 2 * size, 4);
    source = {
      transport: net,
      hostname: formatIp(body.slice(0, size)),
      port: ports.getUint16(0),
    };
    destination = {
      transport: net,
      hostname: formatIp(body.slice(size, 2 * size)),
      port: ports.getUint16(2),
    };
    name = `${net}${family === 1 ? "4" : "6"}`;
  } else if (family === 3) {
    const kind = stream ? "unix" : "unixpacket";
    source = { transport: kind, path: unixPath(body.subarray(0, 108)) };
    destination = { transport: kind, path: unixPath(body.subarray(108, 216)) };
    name = stream ? "unix" : "unixgram";
  }
  return {
    version: 2,
    command: command === 0 ? "local" : "proxy",
    family: name,
    source,
    destination,
    tlvs,
  };
}

/** A NUL-padded path; an abstract name (first byte NUL) keeps its NUL. */
function unixPath(field: Uint8Array): string {
  let end = field.indexOf(0, field[0] === 0 ? 1 : 0);
  if (end < 0) end = field.length;
  return new TextDecoder().decode(field.subarray(0, end));
}

function parseTlvs(bytes: Uint8Array): ProxyTlv[] {
  const tlvs: ProxyTlv[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < 3) {
      throw new ProxyHeaderError(
        `the PROXY v2 header ends with ${
          bytes.length - at
        } bytes that are not a whole TLV field (type, 2-byte length, value)`,
      );
    }
    const type = bytes[at]!;
    const length = (bytes[at + 1]! << 8) | bytes[at + 2]!;
    if (at + 3 + length > bytes.length) {
      throw new ProxyHeaderError(
        `the PROXY v2 header's TLV field of type 0x${
          type.toString(16).padStart(2, "0")
        } claims ${length} bytes, but only ${
          bytes.length - at - 3
        } are left in the header`,
      );
    }
    tlvs.push({ type, value: bytes.slice(at + 3, at + 3 + length) });
    at += 3 + length;
  }
  return tlvs;
}

/** Checks a CRC32C field, when the header has one, over the whole header. */
function checkCrc(header: Uint8Array, tlvs: ProxyTlv[]): void {
  const field = tlvs.find((tlv) => tlv.type === CRC32C_TLV);
  if (field === undefined) return;
  if (field.value.length !== 4) {
    throw new ProxyHeaderError(
      `the PROXY v2 header's CRC32C field has ${field.value.length} bytes: it must have 4`,
    );
  }
  // The sum is taken with the field's own value as zeros.
  const copy = header.slice();
  const at = findCrcValue(copy);
  copy.fill(0, at, at + 4);
  const expected = new DataView(
    field.value.buffer,
    field.value.byteOffset,
    4,
  ).getUint32(0);
  const actual = crc32c(copy);
  if (actual !== expected) {
    throw new ProxyHeaderError(
      `the PROXY v2 header's CRC32C is 0x${
        expected.toString(16).padStart(8, "0")
      }, but its bytes sum to 0x${
        actual.toString(16).padStart(8, "0")
      }: it was damaged on the way`,
    );
  }
}

/** Where the value of the CRC32C field starts in a whole header. */
function findCrcValue(header: Uint8Array): number {
  const family = header[13]! >> 4;
  const transport = header[13]! & 0x0f;
  let at = V2_FIXED + V2_ADDRESS_LENGTH[transport === 0 ? 0 : family]!;
  for (;;) {
    const length = (header[at + 1]! << 8) | header[at + 2]!;
    if (header[at] === CRC32C_TLV) return at + 3;
    at += 3 + length;
  }
}

let crcTable: Uint32Array | undefined;

/** CRC-32C (Castagnoli), as the PROXY v2 CRC32C field uses. */
export function crc32c(bytes: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc = crcTable[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}
