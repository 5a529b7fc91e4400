/**
 * Host names and their addresses, through the operating system's resolver
 * (so `/etc/hosts` counts, as it does for every other program):
 * {@linkcode lookupHostname} and {@linkcode ipaddrToHostname}.
 *
 * @module
 */
import { checkTimeout, Deadline, formatMs, hasDeadline } from "./_deadline.ts";
import type { WaitOptions } from "./_deadline.ts";
import { formatIp, parseIp, unmapIp } from "./_ip.ts";
import { errorCode } from "./_map_error.ts";
import { checkHostname } from "./_validate.ts";
import { ipaddrToBytes } from "./address.ts";
import {
  HostNotFoundError,
  PermissionError,
  SocketError,
  TimeoutError,
} from "./errors.ts";

/**
 * Options for {@linkcode lookupHostname}.
 *
 * @example IPv4 addresses only, within a second
 * ```ts
 * import { lookupHostname, type LookupHostnameOptions } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const options: LookupHostnameOptions = { family: 4, timeout: 1000 };
 * assert.deepEqual(await lookupHostname("localhost", options), ["127.0.0.1"]);
 * ```
 */
export interface LookupHostnameOptions extends WaitOptions {
  /**
   * Only addresses of this IP version: 4 or 6. Left out, both.
   *
   * @default {undefined}
   */
  family?: 4 | 6;
}

// Codes the system resolver gives (through node:dns) for a name or an
// address that has no entry anywhere.
const NOT_FOUND_CODES = new Set([
  "ENOTFOUND",
  "ENODATA",
  "EAI_NONAME",
  "EAI_NODATA",
]);

/**
 * Looks a host name up with the operating system's resolver (Allegro CL's
 * `lookup-hostname`, usocket's `get-hosts-by-name`): `/etc/hosts` first,
 * then DNS, as `/etc/nsswitch.conf` says, so `localhost` works with no name
 * server at all. An IP address (in any spelling) is returned as it is,
 * without a lookup or a permission.
 *
 * The resolver cannot be interrupted: when the `timeout` passes (or the
 * `signal` aborts) this rejects at once, and the lookup itself goes on in
 * the background until the resolver gives up (`options timeout:` and
 * `attempts:` in `/etc/resolv.conf`: 5 s and 2 tries by default on
 * Linux), keeping the process alive until then.
 *
 * Requires `allow-net` permission for the name alone, without a port:
 * `--allow-net=example.com`.
 *
 * @param name The host name.
 * @param options The IP version wanted, a `timeout` in milliseconds and an
 * abort `signal`.
 * @returns The addresses, in canonical text (`127.0.0.1`, `::1`), in the
 * order the resolver gives them; never empty.
 * @throws {HostNotFoundError} when the name has no address (of the
 * `family` asked for).
 * @throws {TimeoutError} when the `timeout` passes first, or when the
 * name server does not answer before the resolver gives up (a temporary
 * failure: try again).
 * @throws {PermissionError} when the `--allow-net` grant for the name is
 * missing; its message names the flag.
 * @throws {TypeError} when `name` is not a host name, or `family` is not 4
 * or 6.
 * @throws {RangeError} when `timeout` is negative.
 *
 * @example The addresses of localhost, from /etc/hosts
 * ```ts
 * import { lookupHostname } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const addresses = await lookupHostname("localhost", { timeout: 2000 });
 * assert.ok(addresses.includes("127.0.0.1"));
 * assert.deepEqual(await lookupHostname("0:0:0:0:0:0:0:1"), ["::1"]);
 * ```
 *
 * @tags allow-net
 */
export async function lookupHostname(
  name: string,
  options: LookupHostnameOptions = {},
): Promise<string[]> {
  const host = checkHostname("name", name);
  const family = checkFamily(options.family);
  checkTimeout(options.timeout);
  options.signal?.throwIfAborted();
  const action = `look up ${JSON.stringify(host)}`;
  const literal = parseIp(host);
  if (literal !== undefined) {
    const bytes = unmapIp(literal);
    if (family !== 0 && family !== (bytes.length === 4 ? 4 : 6)) {
      throw new HostNotFoundError(
        `Cannot ${action}: it is an IPv${
          bytes.length === 4 ? 4 : 6
        } address, and IPv${family} was asked for`,
      );
    }
    return [formatIp(bytes)];
  }
  const found = await resolve(
    action,
    options,
    async () => {
      const { lookup } = await import("node:dns/promises");
      return lookup(host, { all: true, family });
    },
    (error, elapsed) =>
      resolverError(error, {
        action,
        flag: `--allow-net=${host}`,
        notFound: `no ${
          family === 0 ? "" : `IPv${family} `
        }address found (check the spelling)`,
        elapsed,
      }),
  );
  const addresses = found.map(({ address }) =>
    formatIp(unmapIp(parseIp(address)!))
  );
  return [...new Set(addresses)];
}

/**
 * Looks up the host name of an IP address (Allegro CL's
 * `ipaddr-to-hostname`, usocket's `get-host-by-address`) with the
 * operating system's resolver: `/etc/hosts` first, then DNS (a PTR record),
 * as `/etc/nsswitch.conf` says. The `timeout` works as it does for
 * {@linkcode lookupHostname}.
 *
 * Requires `allow-net` permission for the address: `--allow-net=127.0.0.1`,
 * or `--allow-net=[::1]` for IPv6.
 *
 * @param address The address: text in any spelling, 4 or 16 bytes, or a
 * 32-bit integer IPv4 address as Allegro CL has them (`2130706433`).
 * @param options A `timeout` in milliseconds and an abort `signal`.
 * @returns The host name.
 * @throws {HostNotFoundError} when the address has no name (no line in
 * `/etc/hosts`, no PTR record).
 * @throws {TimeoutError} when the `timeout` passes first, or when the name
 * server does not answer before the resolver gives up.
 * @throws {PermissionError} when the `--allow-net` grant for the address
 * is missing; its message names the flag.
 * @throws {TypeError} when `address` is not an IP address.
 * @throws {RangeError} when an integer `address` is not 0 to 4294967295,
 * or `timeout` is negative.
 *
 * @example The name of the loopback address, from /etc/hosts
 * ```ts
 * import { ipaddrToHostname } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * assert.equal(await ipaddrToHostname("127.0.0.1", { timeout: 2000 }), "localhost");
 * ```
 *
 * @tags allow-net
 */
export async function ipaddrToHostname(
  address: string | number | Uint8Array,
  options: WaitOptions = {},
): Promise<string> {
  const ip = formatIp(unmapIp(addressBytes(address)));
  checkTimeout(options.timeout);
  options.signal?.throwIfAborted();
  const action = `look up the name of ${ip}`;
  const { hostname } = await resolve(
    action,
    options,
    async () => {
      const { lookupService } = await import("node:dns/promises");
      return lookupService(ip, 0);
    },
    (error, elapsed) =>
      resolverError(error, {
        action,
        flag: `--allow-net=${ip.includes(":") ? `[${ip}]` : ip}`,
        notFound:
          "no name found (the address has no line in /etc/hosts and no PTR record)",
        elapsed,
      }),
  );
  return hostname;
}

function addressBytes(address: string | number | Uint8Array): Uint8Array {
  if (typeof address === "number") return ipaddrToBytes(address);
  if (address instanceof Uint8Array) {
    if (address.length === 4 || address.length === 16) return address;
  } else if (typeof address === "string") {
    const bytes = parseIp(address);
    if (bytes !== undefined) return bytes;
  }
  throw new TypeError(
    `Cannot look up the name of ${
      address instanceof Uint8Array
        ? `${address.length} bytes`
        : JSON.stringify(address)
    }: it is not an IP address (to look up a name's addresses, use lookupHostname())`,
  );
}

function checkFamily(family: unknown): 0 | 4 | 6 {
  if (family === undefined) return 0;
  if (family === 4 || family === 6) return family;
  throw new TypeError(
    `Cannot use family ${String(family)}: it must be 4 or 6 (or left out)`,
  );
}

/**
 * Runs a resolver call within the caller's deadline; a failure of the call
 * itself is turned into a socket error by `mapFailure`, given how long the
 * call took.
 */
async function resolve<T>(
  action: string,
  options: WaitOptions,
  call: () => Promise<T>,
  mapFailure: (error: unknown, elapsed: number) => SocketError,
): Promise<T> {
  const start = performance.now();
  const result = call().catch((error) => {
    throw mapFailure(error, performance.now() - start);
  });
  if (!hasDeadline(options)) return await result;
  const deadline = new Deadline(options, () => `Cannot ${action}`);
  try {
    return await deadline.race(result);
  } finally {
    deadline.clear();
  }
}

interface ResolverErrorContext {
  /** Completes "Cannot …". */
  action: string;
  /** The flag that grants the lookup. */
  flag: string;
  /** What a name or address without an entry is told. */
  notFound: string;
  /** Milliseconds the resolver took. */
  elapsed: number;
}

/** The socket error for what the system resolver (through node:dns) reported. */
function resolverError(
  error: unknown,
  context: ResolverErrorContext,
): SocketError {
  const { action, flag, notFound, elapsed } = context;
  const prefix = `Cannot ${action}`;
  const options = { cause: error };
  const code = errorCode(error);
  if (code === "EPERM" || error instanceof Deno.errors.NotCapable) {
    return new PermissionError(prefix, flag, options);
  }
  if (code !== undefined && NOT_FOUND_CODES.has(code)) {
    return new HostNotFoundError(`${prefix}: ${notFound}`, options);
  }
  if (code === "EAI_AGAIN") {
    return new TimeoutError(
      `${prefix}: the name server did not answer (the system resolver gave up after ${
        formatMs(elapsed)
      } ms; check the name servers in /etc/resolv.conf, or try again later)`,
      Math.round(elapsed),
      options,
    );
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new SocketError(`${prefix}: ${detail}`, options);
}
