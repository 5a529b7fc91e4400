// The peer of a connected datagram socket: its address checked and made
// canonical, or its name looked up once; the local address that reaches it.
import { formatIp, inCidr, parseIp, unmapIp } from "./_ip.ts";
import { checkHostname } from "./_validate.ts";
import { HostNotFoundError } from "./errors.ts";
import { lookupHostname } from "./names.ts";

// A name whose last label is a number is an IPv4 address in some other
// spelling (`127.1`, `0x7f.1`, `127.000.000.001`): inet_aton would read it,
// perhaps as octal, so it is refused rather than looked up.
const NUMERIC_LAST_LABEL = /(?:^|\.)(?:[0-9]+|0x[0-9a-f]*)\.?$/i;

/**
 * A peer's host as the canonical text of its IP address (IPv4 for a mapped
 * address, 127.0.0.1 for `localhost`), or as a name to look up.
 */
export function peerHost(
  hostname: string,
): { ip: string; name?: undefined } | { ip?: undefined; name: string } {
  const host = checkHostname("remoteHostname", hostname);
  if (/^localhost\.?$/i.test(host)) return { ip: "127.0.0.1" };
  const bytes = parseIp(host);
  if (bytes !== undefined) return { ip: formatIp(unmapIp(bytes)) };
  if (host.includes(":")) {
    throw new TypeError(
      `Cannot use remoteHostname ${
        JSON.stringify(hostname)
      }: it is not an IPv6 address (a zone such as %eth0 is not supported)`,
    );
  }
  if (NUMERIC_LAST_LABEL.test(host)) {
    throw new TypeError(
      `Cannot use remoteHostname ${
        JSON.stringify(hostname)
      }: an IPv4 address is four numbers from 0 to 255 without leading zeros, e.g. 127.0.0.1`,
    );
  }
  return { name: host };
}

/** The local address that reaches a peer: loopback for a loopback peer. */
export function localFor(peer: string): string {
  if (peer === "::1") return "::1";
  if (inCidr(peer, "127.0.0.0/8")) return "127.0.0.1";
  return peer.includes(":") ? "::" : "0.0.0.0";
}

/**
 * The IP versions a socket bound on `local` can send to: 4 or 6, or both
 * (0) for the IPv6 wildcard, which also reaches IPv4 addresses.
 */
export function familyOf(local: string): 0 | 4 | 6 {
  const bytes = parseIp(local);
  if (bytes === undefined || bytes.length === 4) return 4;
  return bytes.every((byte) => byte === 0) ? 0 : 6;
}

/**
 * Looks a peer's name up once, with the system's resolver (so /etc/hosts
 * counts). Every failure is a HostNotFoundError, a TimeoutError (the name
 * server did not answer) or a PermissionError.
 */
export async function lookUp(
  name: string,
  port: number,
  family: 0 | 4 | 6,
): Promise<Deno.NetAddr> {
  let addresses: string[];
  try {
    addresses = await lookupHostname(name, family === 0 ? {} : { family });
  } catch (error) {
    if (error instanceof HostNotFoundError && family === 4) {
      throw new HostNotFoundError(
        `${error.message}; to reach an IPv6-only host, set hostname: "::"`,
        { cause: error.cause, address: { hostname: name, port } },
      );
    }
    throw error;
  }
  return { transport: "udp", hostname: addresses[0]!, port };
}
