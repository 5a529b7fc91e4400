// Checks of user-given options, made before anything is opened, so that a
// mistake is one clear RangeError/TypeError and never a leaked socket.

/**
 * Throws a `RangeError` unless `port` is a whole number in 0–65535
 * (1–65535 when `zero` is false, as for a port to connect or send to).
 */
export function checkPort(
  name: string,
  port: unknown,
  zero: boolean,
): number {
  const low = zero ? 0 : 1;
  if (
    typeof port !== "number" || !Number.isInteger(port) || port < low ||
    port > 65535
  ) {
    throw new RangeError(
      `Cannot use ${name} ${
        typeof port === "string" ? JSON.stringify(port) : String(port)
      }: it must be a whole number from ${low} to 65535`,
    );
  }
  return port;
}

// A host name (RFC 1123 labels, an optional trailing dot) or an IP literal;
// brackets around an IPv6 literal are the caller's to strip.
const HOSTNAME =
  /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;
const IPV6ISH = /^[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?$/;

/**
 * Throws a `TypeError` unless `hostname` is a host name or an IP address;
 * returns it with the brackets of `[::1]` removed.
 */
export function checkHostname(name: string, hostname: unknown): string {
  if (typeof hostname !== "string") {
    throw new TypeError(
      `Cannot use ${name} ${
        String(hostname)
      }: it must be a host name or an IP address`,
    );
  }
  let host = hostname;
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (
    host.includes(":")
      ? IPV6ISH.test(host) && host.split(":").length >= 3
      : HOSTNAME.test(host)
  ) {
    return host;
  }
  throw new TypeError(
    `Cannot use ${name} ${
      JSON.stringify(hostname)
    }: it is not a host name or an IP address`,
  );
}

/**
 * Throws a `RangeError` unless `value` is a number of at least `min`
 * (Infinity allowed when `infinite` is true); returns it.
 */
export function checkNumber(
  name: string,
  value: unknown,
  min: number,
  options: { integer?: boolean; infinite?: boolean } = {},
): number {
  const ok = typeof value === "number" && !Number.isNaN(value) &&
    value >= min &&
    (value !== Infinity || options.infinite === true) &&
    (!options.integer || value === Infinity || Number.isInteger(value));
  if (!ok) {
    throw new RangeError(
      `Cannot use ${name} ${String(value)}: it must be ${
        options.integer ? "a whole number" : "a number"
      } >= ${min}${options.infinite ? " (or Infinity)" : ""}`,
    );
  }
  return value as number;
}
