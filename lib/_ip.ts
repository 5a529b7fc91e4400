// IP address literals: parsing, canonical text, comparison and CIDR
// ranges. Pure functions of their arguments.

const IPV4_PART = /^(?:0|[1-9][0-9]{0,2})$/;
const IPV6_GROUP = /^[0-9A-Fa-f]{1,4}$/;
const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/**
 * Parses an IP address literal: IPv4 as four decimal numbers 0–255 with no
 * leading zeros (`127.000.000.001` is refused, since other parsers read it
 * as octal), IPv6 in any RFC 4291 spelling, with or without brackets. A
 * zone (`fe80::1%eth0`) is not a literal. usocket's
 * `dotted-quad-to-vector-quad` and `ipv6-host-to-vector`.
 *
 * @param text The address as text.
 * @returns 4 bytes for IPv4, 16 for IPv6, `undefined` for anything else.
 *
 * @example IPv4 and IPv6 text to bytes
 * ```ts
 * import { parseIp } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseIp("127.0.0.1"), new Uint8Array([127, 0, 0, 1]));
 * assert.equal(parseIp("[2001:db8::1]")?.length, 16);
 * assert.equal(parseIp("localhost"), undefined);
 * ```
 */
export function parseIp(text: string): Uint8Array | undefined {
  if (text.startsWith("[") && text.endsWith("]")) {
    return parseIpv6(text.slice(1, -1));
  }
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!IPV4_PART.test(part) || Number(part) > 255) return undefined;
    bytes[i] = Number(part);
  }
  return bytes;
}

function parseIpv6(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = parseGroups(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? parseGroups(halves[1]!, true) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  });
  return bytes;
}

/** Colon-separated groups; the last may be a dotted IPv4 address. */
function parseGroups(text: string, last: boolean): number[] | undefined {
  if (text === "") return [];
  const parts = text.split(":");
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (last && i === parts.length - 1 && part.includes(".")) {
      const v4 = parseIpv4(part);
      if (v4 === undefined) return undefined;
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    } else if (IPV6_GROUP.test(part)) {
      groups.push(parseInt(part, 16));
    } else {
      return undefined;
    }
  }
  return groups;
}

/**
 * The canonical text of an address: dotted decimal for IPv4, RFC 5952 for
 * IPv6 (lower case, the longest run of two or more zero groups as `::`,
 * `::ffff:1.2.3.4` for a mapped IPv4 address), the form Deno reports.
 * usocket's `vector-quad-to-dotted-quad` and `vector-to-ipv6-host`.
 *
 * @param bytes 4 bytes for IPv4, 16 for IPv6.
 * @returns The address as text.
 * @throws {TypeError} when `bytes` is not 4 or 16 bytes long.
 *
 * @example Bytes to text
 * ```ts
 * import { formatIp } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatIp(new Uint8Array([10, 0, 0, 1])), "10.0.0.1");
 * const loopback = new Uint8Array(16);
 * loopback[15] = 1;
 * assert.equal(formatIp(loopback), "::1");
 * ```
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  if (bytes.length !== 16) {
    throw new TypeError(
      `Cannot format an IP address of ${bytes.length} bytes: it must have 4 or 16`,
    );
  }
  if (isMapped(bytes)) return `::ffff:${bytes.subarray(12).join(".")}`;
  const groups = Array.from(
    { length: 8 },
    (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16),
  );
  const [start, length] = longestZeroRun(groups);
  if (length < 2) return groups.join(":");
  return `${groups.slice(0, start).join(":")}::${
    groups.slice(start + length).join(":")
  }`;
}

function longestZeroRun(groups: string[]): [number, number] {
  let best: [number, number] = [0, 0];
  let start = -1;
  for (let i = 0; i <= groups.length; i++) {
    if (i < groups.length && groups[i] === "0") {
      if (start < 0) start = i;
    } else if (start >= 0) {
      if (i - start > best[1]) best = [start, i - start];
      start = -1;
    }
  }
  return best;
}

/**
 * The canonical text of an IP literal (see {@linkcode formatIp}), or
 * `undefined` when `text` is not one.
 */
export function canonicalIp(text: string): string | undefined {
  const bytes = parseIp(text);
  return bytes && formatIp(bytes);
}

function isMapped(bytes: Uint8Array): boolean {
  return bytes.length === 16 &&
    MAPPED_PREFIX.every((byte, i) => bytes[i] === byte);
}

/** An IPv4-mapped IPv6 address as its 4 IPv4 bytes; others unchanged. */
export function unmapIp(bytes: Uint8Array): Uint8Array {
  return isMapped(bytes) ? bytes.slice(12) : bytes;
}

/** The bytes of an address given as text or bytes; undefined when it is not one. */
function toBytes(ip: string | Uint8Array): Uint8Array | undefined {
  if (typeof ip === "string") return parseIp(ip);
  return ip.length === 4 || ip.length === 16 ? ip : undefined;
}

/**
 * True when `a` and `b` are the same address, however spelled: `::1` and
 * `0:0:0:0:0:0:0:1`, and `::ffff:127.0.0.1` and `127.0.0.1`, are equal.
 * False when either is not an IP address. usocket's `ip=`.
 *
 * @param a An address as text (any spelling) or as 4 or 16 bytes.
 * @param b Another, the same way.
 * @returns Whether they are one address.
 *
 * @example Spellings of one address
 * ```ts
 * import { ipEqual } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * assert.ok(ipEqual("::ffff:127.0.0.1", "127.0.0.1"));
 * assert.ok(ipEqual("0:0:0:0:0:0:0:1", "[::1]"));
 * assert.ok(!ipEqual("127.0.0.1", "127.0.0.2"));
 * ```
 */
export function ipEqual(
  a: string | Uint8Array,
  b: string | Uint8Array,
): boolean {
  const x = toBytes(a);
  const y = toBytes(b);
  if (x === undefined || y === undefined) return false;
  const p = unmapIp(x);
  const q = unmapIp(y);
  return p.length === q.length && p.every((byte, i) => byte === q[i]);
}

/**
 * True when `ip` is in the range `cidr` (`"10.0.0.0/8"`, `"fe80::/10"`; a
 * bare address is a range of one). An IPv4 address is in an IPv6 range when
 * its mapped form (`::ffff:a.b.c.d`) is, and a mapped address is in the
 * IPv4 ranges its IPv4 address is in. False when `ip` is not an IP address.
 *
 * @param ip An address as text (any spelling) or as 4 or 16 bytes.
 * @param cidr The range: an address, a slash and a prefix length.
 * @returns Whether `ip` is in the range.
 * @throws {TypeError} when `cidr` is not an address with an optional
 * prefix length that fits it.
 *
 * @example Private and loopback ranges
 * ```ts
 * import { inCidr } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * assert.ok(inCidr("10.1.2.3", "10.0.0.0/8"));
 * assert.ok(inCidr("::ffff:127.0.0.1", "127.0.0.0/8"));
 * assert.ok(!inCidr("192.168.1.1", "10.0.0.0/8"));
 * ```
 */
export function inCidr(ip: string | Uint8Array, cidr: string): boolean {
  const [base, bits] = parseCidr(cidr);
  const address = toBytes(ip);
  if (address === undefined) return false;
  const bytes = base.length === 4 ? unmapIp(address) : mapIp(address);
  if (bytes.length !== base.length) return false;
  for (let i = 0; i < base.length; i++) {
    const mask = 0xff & ~(0xff >> Math.min(8, Math.max(0, bits - 8 * i)));
    if ((bytes[i]! & mask) !== (base[i]! & mask)) return false;
  }
  return true;
}

function mapIp(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== 4) return bytes;
  const mapped = new Uint8Array(16);
  mapped.set(MAPPED_PREFIX);
  mapped.set(bytes, 12);
  return mapped;
}

function parseCidr(cidr: string): [Uint8Array, number] {
  const slash = cidr.lastIndexOf("/");
  const base = parseIp(slash < 0 ? cidr : cidr.slice(0, slash));
  const length = slash < 0 ? undefined : cidr.slice(slash + 1);
  if (base !== undefined) {
    const max = base.length * 8;
    if (length === undefined) return [base, max];
    if (/^(?:0|[1-9][0-9]{0,2})$/.test(length) && Number(length) <= max) {
      return [base, Number(length)];
    }
  }
  throw new TypeError(
    `Cannot use the range ${
      JSON.stringify(cidr)
    }: it must be an IP address with an optional /prefix length (e.g. "10.0.0.0/8", "fe80::/10")`,
  );
}
