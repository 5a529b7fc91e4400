// The server examples' one-line summary of their stats: printed when they
// stop, and every --stats-every seconds while they run.
import type { ServerStats } from "../../mod.ts";
import { UsageError } from "./cli.ts";

/** The flag, for `parseFlags`. */
export const STATS_FLAG = {
  "stats-every": { type: "string" },
} as const;

/** Its help line, the text starting at `column` as the other flags' does. */
export function statsHelp(column: number): string {
  const head = "  --stats-every SECS";
  const text = "print a summary of the stats every SECS seconds";
  return head.length < column
    ? head.padEnd(column) + text
    : `${head}\n${" ".repeat(column)}${text}`;
}

/** Reads `--stats-every`: seconds, more than 0; undefined when not given. */
export function statsEveryFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (!/^\s*\d*\.?\d+\s*$/.test(value) || !(seconds > 0) || seconds > 86400) {
    throw new UsageError(
      `Cannot use --stats-every ${
        JSON.stringify(value)
      }: it must be a number of seconds above 0, at most 86400`,
    );
  }
  return seconds;
}

const count = (n: number, one: string, many = `${one}s`) =>
  `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;

function bytes(n: number): string {
  if (n < 10_000) return count(n, "byte");
  const [unit, size] = n < 10_000_000 ? ["kB", 1e3] : ["MB", 1e6];
  return `${
    (n / size).toLocaleString("en-US", { maximumFractionDigits: 1 })
  } ${unit}`;
}

/**
 * One line: for a stream server `served 1,234 clients, 2 errors, 0 closed
 * idle, 0 resets, 0 waits at the connection limit, 12.3 kB in, 4 kB out`
 * (then failed TLS handshakes and refused PROXY headers, when there were any),
 * for a datagram server `answered 12 of 13 datagrams, 0 errors, 1 dropped`.
 */
export function summary(stats: ServerStats, datagrams = false): string {
  const errors = count(stats.handlerErrors, "error");
  if (datagrams) {
    const dropped = stats.datagramsTooBig + stats.datagramsFromStrangers +
      stats.datagramsOverLimit;
    return `answered ${stats.datagramsReplied.toLocaleString("en-US")} of ${
      count(stats.datagramsReceived, "datagram")
    }, ${errors}, ${dropped.toLocaleString("en-US")} dropped`;
  }
  const parts = [
    `served ${count(stats.accepted, "client")}`,
    errors,
    `${stats.idleClosed.toLocaleString("en-US")} closed idle`,
    count(stats.resets, "reset"),
    `${count(stats.maxConnectionsReached, "wait")} at the connection limit`,
    `${bytes(stats.bytesReceived)} in`,
    `${bytes(stats.bytesSent)} out`,
  ];
  if (stats.tlsHandshakesFailed > 0) {
    parts.push(`${count(stats.tlsHandshakesFailed, "TLS handshake")} failed`);
  }
  if (stats.proxyHeadersRefused > 0) {
    parts.push(`${count(stats.proxyHeadersRefused, "PROXY header")} refused`);
  }
  return parts.join(", ");
}

/**
 * Prints `summary()` every `seconds` (when given) until disposed; disposing
 * prints it once more, as the server's last word.
 */
export function reportStats(
  server: { readonly stats: ServerStats },
  seconds: number | undefined,
  datagrams = false,
): Disposable {
  const timer = seconds === undefined ? undefined : setInterval(
    () => console.log(summary(server.stats, datagrams)),
    seconds * 1000,
  );
  return {
    [Symbol.dispose]() {
      clearInterval(timer);
      console.log(summary(server.stats, datagrams));
    },
  };
}
