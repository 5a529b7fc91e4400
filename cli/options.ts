// The command line of `sock`: what the user asked for, checked before
// anything is opened. Every mistake is one UsageError line.
import { checkHostname } from "../lib/_validate.ts";
import {
  hostFlag,
  millisecondsFlag,
  parseFlags,
  UsageError,
} from "../examples/_common/cli.ts";

/** What `sock` was asked to do. */
export interface Options {
  /** Open a connection, or wait for one. */
  mode: "connect" | "listen";
  /** The host to connect to, or the address to listen on. */
  host: string;
  /** The port to connect to, or to listen on (0: the OS chooses). */
  port: number;
  /** Datagrams instead of a stream. */
  udp: boolean;
  /** A Lisp REPL on the wire. */
  lisp: boolean;
  /** Listen: serve one connection after another. */
  keepOpen: boolean;
  /** Connect: give up after this many milliseconds. */
  timeout: number | undefined;
  /** Close after this many milliseconds with no data either way. */
  idleTimeout: number | undefined;
  /** Send line ends as CRLF. */
  crlf: boolean;
  /** Print what arrives as a hex dump. */
  hex: boolean;
  /** No notes on stderr, only errors. */
  quiet: boolean;
}

export const HELP = `usage: sock connect [flags] HOST PORT
       sock listen [flags] [--host H] PORT

A netcat that knows Deno's permissions: stdin goes to the socket and what
arrives goes to stdout. The end of stdin (Ctrl-D in a terminal) half-closes
the connection, so the peer can still answer; sock exits 0 when the peer
closes, or on Ctrl-C.

  --lisp             a Lisp REPL on the wire: each form typed is sent as
                     Lisp's ~s prints it, then a space; each datum that
                     arrives is printed the same way, one a line
  --udp              datagrams: each line of stdin is one; after the end of
                     stdin, replies are printed until --idle-timeout (1000)
  --keep-open        listen: take one connection after another
  --host H           listen: the address to listen on (default 127.0.0.1)
  --timeout MS       connect: give up connecting after MS milliseconds
  --idle-timeout MS  close after MS milliseconds with no data either way
  --crlf             send each line end as CRLF
  --hex              print what arrives as a hex dump
  --quiet            no "listening on" or "connection from" notes on stderr
  -h, --help         show this help

Grants: connect needs --allow-net=HOST:PORT, listen --allow-net=H:PORT
(127.0.0.1:0 for port 0); --udp also needs --unstable-net, and a UDP
listener the whole host of its peers (--allow-net=127.0.0.1).`;

const FLAGS = {
  lisp: { type: "boolean" },
  udp: { type: "boolean" },
  "keep-open": { type: "boolean" },
  host: { type: "string" },
  timeout: { type: "string" },
  "idle-timeout": { type: "string" },
  crlf: { type: "boolean" },
  hex: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
} as const;

/**
 * Reads the command line.
 *
 * @throws {UsageError} for any mistake in it, as one line.
 */
export function parseOptions(args: string[]): Options {
  const { values, positionals } = parseFlags(FLAGS, true, args);
  const [mode, ...rest] = positionals;
  if (mode === undefined) {
    throw new UsageError("say connect HOST PORT or listen PORT");
  }
  if (mode !== "connect" && mode !== "listen") {
    throw new UsageError(
      `unknown command ${JSON.stringify(mode)}: it is connect or listen`,
    );
  }
  let host: string;
  let port: number;
  if (mode === "connect") {
    if (rest.length !== 2) {
      throw new UsageError(
        `connect takes HOST and PORT, got ${describeArgs(rest)}`,
      );
    }
    if (values.host !== undefined) {
      throw new UsageError("--host is for listen; connect takes HOST PORT");
    }
    if (values["keep-open"]) {
      throw new UsageError("--keep-open is for listen");
    }
    host = hostArg(rest[0]!);
    port = portArg(rest[1]!, 1);
  } else {
    if (rest.length !== 1) {
      throw new UsageError(`listen takes PORT, got ${describeArgs(rest)}`);
    }
    if (values.timeout !== undefined) {
      throw new UsageError(
        "--timeout is the connect timeout; listen waits until Ctrl-C",
      );
    }
    host = values.host === undefined ? "127.0.0.1" : hostFlag(values.host);
    port = portArg(rest[0]!, 0);
  }
  const lisp = values.lisp ?? false;
  const udp = values.udp ?? false;
  if (lisp && udp) {
    throw new UsageError("--lisp works over TCP: leave out --udp");
  }
  if (lisp && (values.hex || values.crlf)) {
    throw new UsageError(
      `--${values.hex ? "hex" : "crlf"} is for bytes: --lisp prints data`,
    );
  }
  return {
    mode,
    host,
    port,
    udp,
    lisp,
    keepOpen: values["keep-open"] ?? false,
    timeout: values.timeout === undefined
      ? undefined
      : millisecondsFlag("--timeout", values.timeout),
    idleTimeout: values["idle-timeout"] === undefined
      ? undefined
      : millisecondsFlag("--idle-timeout", values["idle-timeout"]),
    crlf: values.crlf ?? false,
    hex: values.hex ?? false,
    quiet: values.quiet ?? false,
  };
}

function describeArgs(args: string[]): string {
  return args.length === 0
    ? "nothing"
    : args.map((arg) => JSON.stringify(arg)).join(" ");
}

function hostArg(value: string): string {
  try {
    return checkHostname("HOST", value);
  } catch {
    throw new UsageError(
      `HOST must be a host name or an IP address, not ${JSON.stringify(value)}`,
    );
  }
}

function portArg(value: string, low: number): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < low || port > 65535) {
    throw new UsageError(
      `PORT must be a whole number from ${low} to 65535, not ${
        JSON.stringify(value)
      }`,
    );
  }
  return port;
}
