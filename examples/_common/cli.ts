// What every example shares: flag parsing, one-line errors, clean stops.
import { parseArgs, type ParseArgsConfig } from "node:util";
import {
  inCidr,
  LispArithmeticError,
  LispReadError,
  type ProxyProtocolOptions,
  type Socket,
  SocketError,
  type TlsConnectOptions,
  type TlsListenOptions,
} from "../../mod.ts";
import { checkHostname } from "../../lib/_validate.ts";

/** A mistake in how the program was called: one line, exit status 2. */
export class UsageError extends Error {
  /** Makes the error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure to report as one line, exit status 1. */
export class Failure extends Error {
  /** Makes the error. */
  constructor(message: string) {
    super(message);
    this.name = "Failure";
  }
}

/** `--help` or `-h` was given: print the help and stop. */
class HelpRequest extends Error {}

const HELP_OPTION = { help: { type: "boolean", short: "h" } } as const;

/**
 * Parses `args` (`Deno.args` by default) with node:util's parseArgs, adding
 * `--help`/`-h`; its errors become one-line UsageErrors.
 */
export function parseFlags<
  const O extends NonNullable<ParseArgsConfig["options"]>,
  const P extends boolean = false,
>(options: O, allowPositionals?: P, args: string[] = Deno.args) {
  const config = {
    args,
    options: { ...options, ...HELP_OPTION } as O & typeof HELP_OPTION,
    allowPositionals: (allowPositionals ?? false) as P,
    strict: true as const,
  };
  let parsed;
  try {
    parsed = parseArgs(config);
  } catch (error) {
    throw new UsageError(parseArgsMessage(error));
  }
  if ((parsed.values as { help?: boolean }).help) throw new HelpRequest();
  return parsed;
}

/** node's parseArgs messages, some three lines long, as one short line. */
function parseArgsMessage(error: unknown): string {
  const { code, message } = error as { code?: string; message: string };
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? "";
  const option = quoted.split(/[ ,]+/).filter((part) => part.startsWith("-"))
    .pop() ?? quoted;
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${quoted}`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument "${quoted}"`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      if (/does not take an argument/.test(message)) {
        return `${option} takes no value`;
      }
      return `${option} needs a value`;
    default:
      return message.replace(/\s*\n\s*/g, " ");
  }
}

function wholeNumber(
  name: string,
  value: string,
  low: number,
  high: number,
  unit = "",
): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < low || number > high) {
    throw new UsageError(
      `${name} must be a whole number${unit} from ${low} to ${high}, not ${
        JSON.stringify(value)
      }`,
    );
  }
  return number;
}

/** Reads a port to listen on: 0 (any free port) to 65535. */
export function listenPortFlag(
  value: string | undefined,
  fallback: number,
): number {
  return value === undefined
    ? fallback
    : wholeNumber("--port", value, 0, 65535);
}

/** Reads a port to connect or send to: 1 to 65535. */
export function peerPortFlag(
  value: string | undefined,
  fallback: number,
): number {
  return value === undefined
    ? fallback
    : wholeNumber("--port", value, 1, 65535);
}

/** Reads a host flag: a host name or an IP address (`[::1]` gives `::1`). */
export function hostFlag(value: string): string {
  try {
    return checkHostname("--host", value);
  } catch {
    throw new UsageError(
      `--host must be a host name or an IP address, not ${
        JSON.stringify(value)
      }`,
    );
  }
}

/** The longest wait a timer can hold: 2^31 - 1 ms, about 24.8 days. */
const LONGEST_TIMEOUT = 2 ** 31 - 1;

/** Reads a flag that is a number of milliseconds above 0. */
export function millisecondsFlag(name: string, value: string): number {
  return wholeNumber(name, value, 1, LONGEST_TIMEOUT, " of milliseconds");
}

/** Reads a flag that is a number of milliseconds, 0 included. */
export function durationFlag(name: string, value: string): number {
  return wholeNumber(name, value, 0, LONGEST_TIMEOUT, " of milliseconds");
}

/** Reads a flag that counts something: a whole number from 1 to `most`. */
export function countFlag(name: string, value: string, most: number): number {
  return wholeNumber(name, value, 1, most);
}

/** The flags of a server that may sit behind a load balancer. */
export const PROXY_FLAGS = {
  "proxy-protocol": { type: "boolean", default: false },
  "trusted-proxies": { type: "string" },
} as const;

/**
 * The help lines for {@linkcode PROXY_FLAGS}, their text starting at
 * `column` as the other flags' does.
 */
export function proxyHelp(column: number): string {
  const entry = (flag: string, text: string[]) => {
    const head = `  ${flag}`;
    const indent = " ".repeat(column);
    const first = head.length < column
      ? head.padEnd(column) + text[0]
      : `${head}\n${indent}${text[0]}`;
    return [first, ...text.slice(1).map((line) => indent + line)].join("\n");
  };
  return [
    entry("--proxy-protocol", [
      "expect a PROXY header (v1 or v2) on each connection, as",
      "HAProxy's send-proxy(-v2) sends; the client is the one it names",
    ]),
    entry("--trusted-proxies LIST", [
      "the balancers' addresses or ranges, comma-separated",
      "(default 127.0.0.0/8,::1)",
    ]),
  ].join("\n");
}

/**
 * {@linkcode proxyOptions} for a server that may also have `--tls-cert` or
 * `--unix`: PROXY headers are read on plain TCP only.
 */
export function plainProxyOptions(
  values: { "proxy-protocol"?: boolean; "trusted-proxies"?: string },
  over: { tls: boolean; unix: boolean },
): ProxyProtocolOptions {
  const options = proxyOptions(values);
  if (options.proxyProtocol && (over.tls || over.unix)) {
    throw new UsageError(
      `--proxy-protocol cannot go with ${
        over.tls ? "--tls-cert" : "--unix"
      }: PROXY headers are read on plain TCP only`,
    );
  }
  return options;
}

/** `serve()` options from `--proxy-protocol` and `--trusted-proxies`. */
export function proxyOptions(
  values: { "proxy-protocol"?: boolean; "trusted-proxies"?: string },
): ProxyProtocolOptions {
  const list = values["trusted-proxies"];
  if (!values["proxy-protocol"]) {
    if (list !== undefined) {
      throw new UsageError("--trusted-proxies needs --proxy-protocol");
    }
    return {};
  }
  if (list === undefined) return { proxyProtocol: true };
  const trustedProxies = list.split(",").map((range) => range.trim());
  for (const range of trustedProxies) {
    try {
      inCidr("127.0.0.1", range);
    } catch {
      throw new UsageError(
        `--trusted-proxies must be addresses or ranges such as 10.0.0.0/8, comma-separated, not ${
          JSON.stringify(range)
        }`,
      );
    }
  }
  return { proxyProtocol: true, trustedProxies };
}

/**
 * The library's advice on a TLS client's options, as the flag a client
 * example takes for it: a user of the program cannot set `tls.caCerts`.
 */
const FLAG_ADVICE: [RegExp, string][] = [
  [
    /pass the CA's certificate in tls\.caCerts/,
    "give the CA's certificate with --ca-cert FILE",
  ],
  [
    /pass the CA that did in tls\.caCerts/,
    "give the CA that did with --ca-cert FILE",
  ],
];

/** One line for an error a user can fix; a stack trace only for a bug. */
export function describe(error: unknown): string {
  const oneLine = (text: string) => text.replace(/\s*\n\s*/g, " ");
  if (error instanceof SocketError) {
    let message = error.message;
    for (const [option, flag] of FLAG_ADVICE) {
      message = message.replace(option, flag);
    }
    return oneLine(message);
  }
  if (
    error instanceof UsageError || error instanceof Failure ||
    error instanceof LispReadError || error instanceof LispArithmeticError
  ) {
    return oneLine(error.message);
  }
  // The library's checks of a bad argument: "Cannot use port 0: …".
  if (
    (error instanceof RangeError || error instanceof TypeError) &&
    error.message.startsWith("Cannot ")
  ) {
    return oneLine(error.message);
  }
  return error instanceof Error
    ? (error.stack ?? error.message)
    : String(error);
}

/**
 * Runs an example's main function. `--help` prints `help` and exits 0; a
 * mistake in the flags prints one line on stderr and exits 2; any other
 * failure a user can fix (refused connection, missing permission) prints
 * one line and exits 1.
 */
export async function run(
  main: () => Promise<void>,
  help: string,
): Promise<void> {
  try {
    await main();
  } catch (error) {
    if (error instanceof HelpRequest) {
      console.log(help);
      return;
    }
    if (error instanceof UsageError) {
      console.error(`error: ${describe(error)} (see --help)`);
      Deno.exit(2);
    }
    console.error(`error: ${describe(error)}`);
    Deno.exit(1);
  }
}

/** The oldest Deno that runs every flow: older ones fail the Unix socket flows. */
export const LEAST_DENO = "2.9.6";

/**
 * One line saying that `version` (this Deno's by default) is older than
 * {@linkcode LEAST_DENO} and how to run a new enough one; undefined when
 * it is new enough.
 */
export function denoTooOld(
  program: string,
  version: string = Deno.version.deno,
): string | undefined {
  const parts = (text: string) =>
    text.split(/[-+]/, 1)[0]!.split(".").map(Number);
  const have = parts(version);
  const need = parts(LEAST_DENO);
  for (let i = 0; i < need.length; i++) {
    const a = have[i] ?? 0, b = need[i]!;
    if (Number.isNaN(a) || a > b) return undefined;
    if (a < b) {
      return `${program} needs Deno ${LEAST_DENO} or later, and this is Deno ${version}: run \`deno upgrade ${LEAST_DENO}\`, or prefix the command with \`npx -y deno@${LEAST_DENO}\``;
    }
  }
  return undefined;
}

/** Calls `stop` on the first SIGINT or SIGTERM; dispose it to stop listening for them. */
export function onStopSignal(stop: () => void): Disposable {
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  const handler = () => stop();
  for (const signal of signals) Deno.addSignalListener(signal, handler);
  return {
    [Symbol.dispose]() {
      for (const signal of signals) Deno.removeSignalListener(signal, handler);
    },
  };
}

/** `host:port`, with an IPv6 address in brackets: `[::1]:9231`. */
export function hostPort(hostname: string, port: number): string {
  return hostname.includes(":")
    ? `[${hostname}]:${port}`
    : `${hostname}:${port}`;
}

/** Prints bytes the way Lisp prints an octet vector: `#(1 2 3)`. */
export function lispVector(bytes: Uint8Array): string {
  return `#(${bytes.join(" ")})`;
}

/** Reads the PEM file a flag names; a missing grant or file is one line. */
export async function readPemFlag(flag: string, file: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new Failure(
        `cannot read ${flag} ${file}: permission denied, run again with --allow-read=${file}`,
      );
    }
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(`${flag} ${file}: no such file`);
    }
    throw new Failure(
      `cannot read ${flag} ${file}: ${(error as Error).message}`,
    );
  }
}

/** A server's `--tls-cert FILE --tls-key FILE`, read; undefined without them. */
export async function tlsListenFlags(
  cert: string | undefined,
  key: string | undefined,
): Promise<TlsListenOptions | undefined> {
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) {
    throw new UsageError("--tls-cert and --tls-key go together");
  }
  return {
    cert: await readPemFlag("--tls-cert", cert),
    key: await readPemFlag("--tls-key", key),
  };
}

/** A client's `--tls [--ca-cert FILE]`; `--ca-cert` alone implies `--tls`. */
export async function tlsConnectFlags(
  tls: boolean | undefined,
  caCert: string | undefined,
): Promise<TlsConnectOptions | undefined> {
  if (!tls && caCert === undefined) return undefined;
  return caCert === undefined
    ? {}
    : { caCerts: [await readPemFlag("--ca-cert", caCert)] };
}

/** Refuses `--unix PATH` together with `--host` or `--port`, or an empty one. */
export function unixFlag(
  path: string | undefined,
  values: { host?: string | undefined; port?: string | undefined },
): string | undefined {
  if (path === undefined) return undefined;
  if (path === "") throw new UsageError("--unix needs a socket path");
  if (values.host !== undefined || values.port !== undefined) {
    throw new UsageError("--unix cannot go with --host or --port");
  }
  return path;
}

/**
 * Fails with one line when a plain client's first bytes from the server
 * are a TLS record (an alert: the server speaks TLS). Waits for input at
 * most `timeout` ms.
 */
export async function refuseTlsReply(
  socket: Socket,
  timeout: number,
): Promise<void> {
  if (socket.tls) return;
  const { bytes } = await socket.peek(false, { timeout });
  if (bytes.length >= 3 && bytes[0] === 0x15 && bytes[1] === 0x03) {
    throw new Failure(
      "the server speaks TLS and refused this plain connection: run again with --tls",
    );
  }
}

/** `host:port`, or the path of a Unix socket. */
export function describeListener(
  addr: Deno.NetAddr | Deno.UnixAddr,
): string {
  return "path" in addr
    ? addr.path ?? "(unnamed)"
    : hostPort(addr.hostname, addr.port);
}
