/**
 * IP addresses as text, bytes and 32-bit integers, compared and matched
 * against ranges. Pure functions: no permission, no lookup.
 *
 * @module
 */
import { formatIp, parseIp } from "./_ip.ts";

export { formatIp, inCidr, ipEqual, parseIp } from "./_ip.ts";

const MAX_IPADDR = 0xffff_ffff;

/**
 * An IPv4 address in dotted decimal as a 32-bit integer, most significant
 * byte first (Allegro CL's `dotted-to-ipaddr`).
 *
 * @param dotted Four numbers from 0 to 255 without leading zeros, as
 * `"127.0.0.1"`.
 * @returns The address as an integer from 0 to 4294967295.
 * @throws {TypeError} when `dotted` is not an IPv4 address in that form.
 *
 * @example The loopback address
 * ```ts
 * import { dottedToIpaddr } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * assert.equal(dottedToIpaddr("127.0.0.1"), 2130706433);
 * assert.equal(dottedToIpaddr("255.255.255.255"), 0xffffffff);
 * ```
 */
export function dottedToIpaddr(dotted: string): number {
  const bytes = typeof dotted === "string" ? parseIp(dotted) : undefined;
  if (bytes === undefined || bytes.length !== 4) {
    throw new TypeError(
      `Cannot read ${
        typeof dotted === "string" ? JSON.stringify(dotted) : String(dotted)
      } as an IPv4 address: it must be four numbers from 0 to 255 without leading zeros, e.g. "127.0.0.1" (for IPv6, use parseIp())`,
    );
  }
  return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) |
    bytes[3]!) >>> 0;
}

/**
 * A 32-bit integer IPv4 address in dotted decimal (Allegro CL's
 * `ipaddr-to-dotted`); the inverse of {@linkcode dottedToIpaddr}.
 *
 * @param ipaddr A whole number from 0 to 4294967295.
 * @returns The address as `"a.b.c.d"`.
 * @throws {RangeError} when `ipaddr` is not a whole number in that range.
 *
 * @example Back to text
 * ```ts
 * import { ipaddrToDotted } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * assert.equal(ipaddrToDotted(2130706433), "127.0.0.1");
 * assert.equal(ipaddrToDotted(0), "0.0.0.0");
 * ```
 */
export function ipaddrToDotted(ipaddr: number): string {
  return formatIp(ipaddrToBytes(ipaddr));
}

/** The 4 bytes of a 32-bit integer IPv4 address; a RangeError if it is not one. */
export function ipaddrToBytes(ipaddr: number): Uint8Array {
  if (
    typeof ipaddr !== "number" || !Number.isInteger(ipaddr) || ipaddr < 0 ||
    ipaddr > MAX_IPADDR
  ) {
    throw new RangeError(
      `Cannot use ${
        String(ipaddr)
      } as an IPv4 address: it must be a whole number from 0 to ${MAX_IPADDR}`,
    );
  }
  return new Uint8Array([
    ipaddr >>> 24,
    (ipaddr >>> 16) & 0xff,
    (ipaddr >>> 8) & 0xff,
    ipaddr & 0xff,
  ]);
}
