// Printing addresses.

/** Formats an address as `host:port`, with brackets around IPv6 hosts. */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":")
    ? `[${hostname}]:${port}`
    : `${hostname}:${port}`;
}

/**
 * `127.0.0.1/40226` (Allegro's style), or `127.0.0.1:40226` with `sep`; an
 * IPv6 host is always in brackets: `[::1]/40226`.
 */
export function describeAddr(addr: Deno.Addr, sep = "/"): string {
  if (addr.transport === "tcp" || addr.transport === "udp") {
    const host = addr.hostname.includes(":")
      ? `[${addr.hostname}]`
      : addr.hostname;
    return `${host}${sep}${addr.port}`;
  }
  if ("path" in addr) return addr.path ?? "(unnamed)";
  return String(addr.transport);
}
