// The command line of `sock`: what the user asked for, checked before
// anything is opened. Every mistake is one UsageError line.
import { checkHostname } from "../lib/_validate.ts";
import { checkSocketPath } from "../lib/unix.ts";
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
  /** The host to connect to, or the address to listen on (unused with `unix`). */
  host: string;
  /** The port to connect to, or to listen on (0: the OS chooses; unused with `unix`). */
  port: number;
  /** A Unix domain socket's path (absolute) instead of a host and port. */
  unix: string | undefined;
  /** Connect: over TLS. */
  tls: boolean;
  /** Connect: the PEM file of the CA to trust (else the CAs Deno trusts). */
  caCert: string | undefined;
  /** Listen: over TLS, with this PEM certificate file... */
  tlsCert: string | undefined;
  /** ...and this PEM private key file. */
  tlsKey: string | undefined;
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

export const HELP =
  `usage: sock connect [flags] [--tls [--ca-cert FILE]] HOST PORT
       sock listen [flags] [--host H] [--tls-cert FILE --tls-key FILE] PORT
       sock connect|listen [flags] --unix PATH

A netcat that knows Deno's permissions: stdin goes to the socket and what
arrives goes to stdout. The end of stdin (Ctrl-D in a terminal) half-closes
the connection, so the peer can still answer; sock exits 0 when the peer
closes, or on Ctrl-C.

  --lisp             a Lisp REPL on the wire: each form typed is sent as
                     Lisp's ~s prints it, then a space; each datum that
                     arrives is printed the same way, one a line
  --udp              datagrams: each line of stdin is one; after the end of
                     stdin, replies are printed until --idle-timeout (1000)
  --tls              connect: over TLS, trusting the CAs Deno trusts
                     (DENO_TLS_CA_STORE=system: the system's)
  --ca-cert FILE     connect: over TLS, trusting the CA in this PEM file
  --tls-cert FILE    listen: over TLS, with this PEM certificate...
  --tls-key FILE     ...and this PEM private key
  --unix PATH        a Unix domain socket instead of HOST PORT
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
listener the whole host of its peers (--allow-net=127.0.0.1). --ca-cert F
adds --allow-read=F, --tls-cert C --tls-key K --allow-read=C,K; --unix P
needs --allow-read=P --allow-write=P --allow-net=unix:P (P absolute).`;

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
  tls: { type: "boolean" },
  "ca-cert": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  unix: { type: "string" },
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
  const tls = tlsFlags(mode, values);
  const udp = values.udp ?? false;
  if (udp && tls.flag !== undefined) {
    throw new UsageError(
      `${tls.flag} works over TCP: leave out --udp (there is no TLS for datagrams)`,
    );
  }
  if (mode === "connect") {
    if (values.host !== undefined) {
      throw new UsageError("--host is for listen; connect takes HOST PORT");
    }
    if (values["keep-open"]) {
      throw new UsageError("--keep-open is for listen");
    }
  } else if (values.timeout !== undefined) {
    throw new UsageError(
      "--timeout is the connect timeout; listen waits until Ctrl-C",
    );
  }
  const unix = values.unix === undefined ? undefined : unixArg(values.unix);
  let host = "127.0.0.1";
  let port = 0;
  if (unix !== undefined) {
    if (udp) {
      throw new UsageError("--unix is for streams here: leave out --udp");
    }
    if (tls.flag !== undefined) {
      throw new UsageError(
        `--unix cannot go with ${tls.flag}: Deno has no TLS over Unix sockets`,
      );
    }
    if (values.host !== undefined) {
      throw new UsageError("--unix cannot go with --host");
    }
    if (rest.length !== 0) {
      throw new UsageError(
        `--unix PATH takes the place of ${
          mode === "connect" ? "HOST PORT" : "PORT"
        }: leave out ${describeArgs(rest)}`,
      );
    }
  } else if (mode === "connect") {
    if (rest.length !== 2) {
      throw new UsageError(
        `connect takes HOST and PORT, got ${describeArgs(rest)}`,
      );
    }
    host = hostArg(rest[0]!);
    port = portArg(rest[1]!, 1);
  } else {
    if (rest.length !== 1) {
      throw new UsageError(
        `listen takes PORT, got ${describeArgs(rest)}`,
      );
    }
    if (values.host !== undefined) host = hostFlag(values.host);
    port = portArg(rest[0]!, 0);
  }
  const lisp = values.lisp ?? false;
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
    unix,
    tls: tls.client,
    caCert: tls.caCert,
    tlsCert: tls.cert,
    tlsKey: tls.key,
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

/** The TLS flags, checked against the mode; `flag` names the one given. */
function tlsFlags(
  mode: "connect" | "listen",
  values: {
    tls?: boolean;
    "ca-cert"?: string;
    "tls-cert"?: string;
    "tls-key"?: string;
  },
): {
  flag: string | undefined;
  client: boolean;
  caCert: string | undefined;
  cert: string | undefined;
  key: string | undefined;
} {
  const caCert = fileArg("--ca-cert", values["ca-cert"]);
  const cert = fileArg("--tls-cert", values["tls-cert"]);
  const key = fileArg("--tls-key", values["tls-key"]);
  if (mode === "connect") {
    if (cert !== undefined || key !== undefined) {
      throw new UsageError(
        `${
          cert !== undefined ? "--tls-cert" : "--tls-key"
        } is for listen; connect takes --tls [--ca-cert FILE]`,
      );
    }
    const client = values.tls === true || caCert !== undefined;
    return {
      flag: values.tls
        ? "--tls"
        : caCert !== undefined
        ? "--ca-cert"
        : undefined,
      client,
      caCert,
      cert,
      key,
    };
  }
  if (values.tls) {
    throw new UsageError(
      "--tls is for connect; listen serves TLS with --tls-cert FILE --tls-key FILE",
    );
  }
  if (caCert !== undefined) {
    throw new UsageError(
      "--ca-cert is for connect: Deno's TLS server cannot check client certificates",
    );
  }
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError("--tls-cert and --tls-key go together");
  }
  return {
    flag: cert !== undefined ? "--tls-cert" : undefined,
    client: false,
    caCert,
    cert,
    key,
  };
}

function fileArg(flag: string, value: string | undefined): string | undefined {
  if (value === "") throw new UsageError(`${flag} needs a file`);
  return value;
}

/** The socket path, made absolute: Deno grants `unix:` paths only so. */
function unixArg(value: string): string {
  if (value === "") throw new UsageError("--unix needs a socket path");
  const path = value.startsWith("/")
    ? value
    : `${Deno.cwd()}/${value.replace(/^(\.\/)+/, "")}`;
  try {
    return checkSocketPath(path);
  } catch (error) {
    throw new UsageError(
      `--unix ${value}: ${
        (error as Error).message.replace(/^Cannot use path .*?: /, "")
          .replace(/^Cannot/, "cannot")
      }`,
    );
  }
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
