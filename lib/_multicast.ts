// Multicast groups and interfaces as the datagram socket's joinMulticast()
// takes them, checked and put in the form Deno's calls want.
import { formatIp, inCidr, parseIp, unmapIp } from "./_ip.ts";

const MULTICAST_V4 = "224.0.0.0/4";
const MULTICAST_V6 = "ff00::/8";

/** A multicast group's canonical address; a TypeError if it is not one. */
export function multicastGroup(
  group: unknown,
): { address: string; v6: boolean } {
  const bytes = typeof group === "string" ? parseIp(group) : undefined;
  if (bytes !== undefined) {
    const ip = unmapIp(bytes);
    if (inCidr(ip, ip.length === 4 ? MULTICAST_V4 : MULTICAST_V6)) {
      return { address: formatIp(ip), v6: ip.length === 16 };
    }
  }
  throw new TypeError(
    `Cannot join ${
      typeof group === "string" ? JSON.stringify(group) : String(group)
    }: it is not a multicast address (IPv4 ${MULTICAST_V4}, IPv6 ${MULTICAST_V6})`,
  );
}

export function v4Interface(
  networkInterface: string | number | undefined,
): string {
  if (networkInterface === undefined) return "0.0.0.0";
  const bytes = typeof networkInterface === "string"
    ? parseIp(networkInterface)
    : undefined;
  if (bytes === undefined || bytes.length !== 4) {
    throw new TypeError(
      `Cannot join on the interface ${
        JSON.stringify(networkInterface)
      }: for an IPv4 group it must be the interface's IPv4 address, e.g. "127.0.0.1"`,
    );
  }
  return formatIp(bytes);
}

export function v6Interface(
  networkInterface: string | number | undefined,
): number {
  if (networkInterface === undefined) return 0;
  if (
    typeof networkInterface !== "number" ||
    !Number.isInteger(networkInterface) || networkInterface < 0 ||
    networkInterface > 0xffff_ffff
  ) {
    throw new TypeError(
      `Cannot join on the interface ${
        JSON.stringify(networkInterface)
      }: for an IPv6 group it must be the interface's index, e.g. 1 (see /sys/class/net/NAME/ifindex)`,
    );
  }
  return networkInterface;
}

export function describeInterface(
  networkInterface: string | number | undefined,
  v6: boolean,
): string {
  if (networkInterface === undefined) return "the default interface";
  return v6
    ? `interface ${String(networkInterface)}`
    : `${String(networkInterface)}`;
}
