// `sock scan HOST PORTS` (netcat's -z): which ports of a host take a
// connection. Each port is open (a connection was made, and closed at
// once), closed (refused), or "no answer" when nothing came back before
// the timeout (a firewall that drops). A few are tried at a time; the
// lines come in the order of the ports.
import { connect, PermissionError, SocketError } from "../mod.ts";
import {
  countFlag,
  hostFlag,
  hostPort,
  millisecondsFlag,
  parseFlags,
  UsageError,
} from "../examples/_common/cli.ts";
import { printLine } from "./io.ts";
import { needGrants, netGrant } from "./permissions.ts";

/** What `sock scan` was asked to do. */
export interface ScanOptions {
  host: string;
  ports: number[];
  /** Milliseconds a port may take to answer. */
  timeout: number;
  /** How many ports are tried at once. */
  concurrency: number;
}

export const SCAN_HELP = `usage: sock scan [flags] HOST PORTS
       sock -z [flags] HOST PORTS

Tries each port of HOST and prints one line for it: open, closed, or
"no answer" (nothing came back within --timeout: a firewall that drops).
PORTS is a list of ports and ranges, 9000-9010,12321. Exits 0 when a port
is open, 1 when none is.

  --timeout MS       how long a port may take to answer (default 2000)
  --concurrency N    how many ports are tried at once (default 32)

Grant: --allow-net=HOST:P for each port P (up to 16), else --allow-net=HOST.`;

const FLAGS = {
  timeout: { type: "string" },
  concurrency: { type: "string" },
  zero: { type: "boolean", short: "z" },
  wait: { type: "string", short: "w" },
  verbose: { type: "boolean", short: "v" },
} as const;

/** The most ports one scan tries: every port. */
const MOST_PORTS = 65535;

/** Up to this many ports are granted one by one; more, the whole host. */
const LISTED_GRANTS = 16;

/**
 * Reads `sock scan`'s command line (after `scan`, or with `-z`).
 *
 * @throws {UsageError} for any mistake in it, as one line.
 */
export function parseScan(args: string[]): ScanOptions {
  const { values, positionals } = parseFlags(FLAGS, true, args);
  const [host, ...lists] = positionals;
  if (host === undefined || lists.length === 0) {
    throw new UsageError("scan takes HOST and PORTS, e.g. 127.0.0.1 9000-9010");
  }
  if (values.timeout !== undefined && values.wait !== undefined) {
    throw new UsageError("-w and --timeout both give the timeout: give one");
  }
  let hostname: string;
  try {
    hostname = hostFlag(host);
  } catch {
    throw new UsageError(
      `HOST must be a host name or an IP address, not ${JSON.stringify(host)}`,
    );
  }
  return {
    host: hostname,
    ports: portList(lists.join(",")),
    timeout: values.wait !== undefined
      ? 1000 * countFlag("-w", values.wait, 2147483)
      : values.timeout === undefined
      ? 2000
      : millisecondsFlag("--timeout", values.timeout),
    concurrency: values.concurrency === undefined
      ? 32
      : countFlag("--concurrency", values.concurrency, 1024),
  };
}

/** `9000-9010,12321` as the ports it names, in order, each once. */
export function portList(text: string): number[] {
  const ports: number[] = [];
  const seen = new Set<number>();
  for (const part of text.split(",")) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    const low = Number(match?.[1]);
    const high = match?.[2] === undefined ? low : Number(match[2]);
    if (!match || low < 1 || high > 65535 || low > high) {
      throw new UsageError(
        `PORTS must be ports (1 to 65535) and ranges such as 9000-9010, comma-separated, not ${
          JSON.stringify(part)
        }`,
      );
    }
    for (let port = low; port <= high; port++) {
      if (!seen.has(port)) ports.push(port);
      seen.add(port);
    }
  }
  if (ports.length > MOST_PORTS) throw new UsageError("too many ports");
  return ports;
}

/** What one port said. */
type State = "open" | "closed" | "no answer";

/**
 * Scans, printing a line for each port in order.
 *
 * @returns Whether a port was open.
 */
export async function runScan(options: ScanOptions): Promise<boolean> {
  const { host, ports } = options;
  await needGrants(
    ports.length <= LISTED_GRANTS
      ? ports.map((port) => netGrant(host, port))
      : [{ name: "net", host }],
    `scan ${host}`,
  );
  const results = ports.map(() => {
    const result = Promise.withResolvers<State>();
    result.promise.catch(() => {}); // Reported in order, below.
    return result;
  });
  let next = 0;
  const worker = async () => {
    while (next < ports.length) {
      const at = next++;
      try {
        results[at]!.resolve(await probe(host, ports[at]!, options.timeout));
      } catch (error) {
        results[at]!.reject(error);
      }
    }
  };
  const workers = Array.from(
    { length: Math.min(options.concurrency, ports.length) },
    worker,
  );
  let open = false;
  for (let at = 0; at < ports.length; at++) {
    const state = await results[at]!.promise;
    if (state === "open") open = true;
    await printLine(`${hostPort(host, ports[at]!)} ${state}`);
  }
  await Promise.all(workers);
  return open;
}

/** Connects to one port and closes at once. */
async function probe(
  hostname: string,
  port: number,
  timeout: number,
): Promise<State> {
  try {
    const socket = await connect({ hostname, port, timeout });
    await socket.close({ abort: true });
    return "open";
  } catch (error) {
    if (error instanceof PermissionError) throw error;
    if (error instanceof SocketError) {
      if (error.name === "TimeoutError") return "no answer";
      if (error.name === "ConnectionRefusedError") return "closed";
    }
    throw error;
  }
}
