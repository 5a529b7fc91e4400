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
  /** Connect over TLS: a client certificate's PEM file (mutual TLS)... */
  clientCert: string | undefined;
  /** ...and its PEM private key file. */
  clientKey: string | undefined;
  /** Listen: over TLS, with this PEM certificate file... */
  tlsCert: string | undefined;
  /** ...and this PEM private key file. */
  tlsKey: string | undefined;
  /** Datagrams instead of a stream. */
  udp: boolean;
  /** A Lisp REPL on the wire. */
  lisp: boolean;
  /** Listen: serve every client at once, not only the first. */
  keepOpen: boolean;
  /** Listen: what a client sends goes to the other clients too. */
  broker: boolean;
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
  /** Connect: a note once connected, as `nc -v` gives. */
  verbose: boolean;
  /** Only IPv4 (4) or only IPv6 (6) addresses; undefined: either. */
  family: 4 | 6 | undefined;
  /** After the end of stdin, quit this many milliseconds later (`-q`). */
  quitAfter: number | undefined;
  /** A program to run with the socket as its stdin and stdout. */
  exec: Exec | undefined;
  /** A line on stderr with the bytes each way and the rate. */
  progress: boolean;
}

export const HELP =
  `usage: sock connect [flags] [--tls [--ca-cert F] [--cert F --key F]] HOST PORT
       sock listen [flags] [--host H] [--tls-cert FILE --tls-key FILE] PORT
       sock connect|listen [flags] --unix PATH
       sock [flags] HOST PORT, sock HOST:PORT, sock -l [-k] [-u] [HOST] PORT

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
  --cert FILE        connect: over TLS, with this PEM client certificate
  --key FILE         ...and its PEM private key (mutual TLS)
  --tls-cert FILE    listen: over TLS, with this PEM certificate...
  --tls-key FILE     ...and this PEM private key
  --unix PATH        a Unix domain socket instead of HOST PORT
  -k, --keep-open    listen: serve every client at once (not one after
                     another, as before): what each sends is printed as it
                     comes, and stdin goes to every client connected when it
                     is read (none connected: stdin waits)
  --broker           listen: a chat; what a client sends goes to the
                     others too (and to stdout); implies --keep-open
  --host H           listen: the address to listen on (default 127.0.0.1)
  --timeout MS       connect: give up connecting after MS milliseconds
  --idle-timeout MS  close after MS milliseconds with no data either way
  -q SECS            after the end of stdin, quit SECS seconds later (0: at
                     once) instead of waiting for the peer to close
  -4, -6             IPv4 only, IPv6 only (listen: 127.0.0.1 or ::1)
  --crlf             send each line end as CRLF
  --hex              print what arrives as a hex dump
  --quiet            no "listening on" or "connection from" notes on stderr
                     (-q is netcat's -q SECS now)
  -v                 connect: say when connected, as netcat does (listen
                     says where it listens and who connects anyway)
  --progress         one line on stderr, rewritten as bytes move: sent,
                     received, rate (without it: shown when stderr is a
                     terminal, stdin or stdout is not, and it runs a second)
  --exec PROGRAM [ARGS...]
                     last on the line: run PROGRAM with the connection as
                     its stdin and stdout (listen: one for each client;
                     with -k, at once); needs --allow-run=PROGRAM
  -h, --help         show this help

netcat's spellings work too: -l listens (sock -l 9000, sock -l -k 9000,
sock -lvnp 9000), sock HOST PORT and sock HOST:PORT connect, -u is --udp,
-w SECS gives up connecting and closes an idle connection after SECS
seconds, -n takes IP addresses only, -z scans.

Grants: connect needs --allow-net=HOST:PORT, listen --allow-net=H:PORT
(127.0.0.1:0 for port 0); --udp also needs --unstable-net, and a UDP
listener the whole host of its peers (--allow-net=127.0.0.1). --ca-cert F
adds --allow-read=F, --tls-cert C --tls-key K (and --cert C --key K)
--allow-read=C,K; --unix P needs --allow-read=P --allow-write=P
--allow-net=unix:P (P absolute). -4/-6 with a host name look it up:
--allow-net=NAME, and the address it gives with the port.`;

const FLAGS = {
  lisp: { type: "boolean" },
  udp: { type: "boolean", short: "u" },
  "keep-open": { type: "boolean", short: "k" },
  broker: { type: "boolean" },
  host: { type: "string" },
  timeout: { type: "string" },
  "idle-timeout": { type: "string" },
  crlf: { type: "boolean" },
  hex: { type: "boolean" },
  quiet: { type: "boolean" },
  progress: { type: "boolean" },
  tls: { type: "boolean" },
  "ca-cert": { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  unix: { type: "string" },
  // netcat's
  listen: { type: "boolean", short: "l" },
  wait: { type: "string", short: "w" },
  quit: { type: "string", short: "q" },
  verbose: { type: "boolean", short: "v" },
  port: { type: "string", short: "p" },
  numeric: { type: "boolean", short: "n" },
  ipv4: { type: "boolean", short: "4" },
  ipv6: { type: "boolean", short: "6" },
} as const;

/** The netcat spelling of a command line, as sock's own words. */
function netcatCommand(
  values: { listen?: boolean },
  positionals: string[],
): [mode: string | undefined, rest: string[]] {
  const [first, ...rest] = positionals;
  if (values.listen) {
    if (COMMANDS.includes(first ?? "")) {
      throw new UsageError(`-l is netcat's listen: leave out ${first}`);
    }
    return ["listen", positionals];
  }
  if (first === undefined || COMMANDS.includes(first)) return [first, rest];
  // sock HOST PORT, sock HOST:PORT
  if (positionals.length === 1) {
    const match = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(first);
    if (match) return ["connect", [match[1] ?? match[2]!, match[3]!]];
    throw new UsageError(
      `unknown command ${
        JSON.stringify(first)
      }: it is connect, listen, forward or scan (or HOST PORT, HOST:PORT)`,
    );
  }
  return ["connect", positionals];
}

/** sock's commands. */
const COMMANDS = ["connect", "listen", "forward", "scan"];

/**
 * Reads the command line.
 *
 * @throws {UsageError} for any mistake in it, as one line.
 */
export function parseOptions(args: string[], exec?: Exec): Options {
  const { values, positionals } = parseFlags(FLAGS, true, args);
  const [mode, rest] = netcatCommand(values, positionals);
  if (mode === undefined) {
    throw new UsageError("say connect HOST PORT or listen PORT");
  }
  if (mode === "forward" || mode === "scan") {
    throw new UsageError(
      `${mode} comes first: sock ${mode} [flags] ${
        mode === "forward" ? "PORT HOST TARGET_PORT" : "HOST PORTS"
      }`,
    );
  }
  if (mode !== "connect" && mode !== "listen") {
    throw new UsageError(
      `unknown command ${JSON.stringify(mode)}: it is connect or listen`,
    );
  }
  const family = values.ipv4
    ? values.ipv6 ? badFamilies() : 4
    : values.ipv6
    ? 6
    : undefined;
  if (values.quiet && values.verbose) {
    throw new UsageError("--quiet and -v ask for opposite things: give one");
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
    if (values["keep-open"] || values.broker) {
      throw new UsageError(
        `--${values.broker ? "broker" : "keep-open"} is for listen`,
      );
    }
    if (values.port !== undefined) {
      throw new UsageError(
        "-p is the port to listen on, with -l: Deno cannot choose a connection's own port",
      );
    }
  } else if (values.timeout !== undefined) {
    throw new UsageError(
      "--timeout is the connect timeout; listen waits until Ctrl-C",
    );
  }
  const wait = values.wait === undefined
    ? undefined
    : secondsFlag("-w", values.wait, 1);
  if (wait !== undefined && values.timeout !== undefined) {
    throw new UsageError("-w and --timeout both give the connect timeout");
  }
  if (wait !== undefined && values["idle-timeout"] !== undefined) {
    throw new UsageError("-w and --idle-timeout both give the idle timeout");
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
    checkFamily(family, host, "HOST");
    if (values.numeric && !isIp(host)) {
      throw new UsageError(
        `-n takes HOST as an IP address, not the name ${host}: leave out -n to look it up`,
      );
    }
  } else {
    let listenHost = values.host;
    if (values.port !== undefined) {
      // nc -l -p PORT, as traditional netcat spells it
      if (rest.length > 1) {
        throw new UsageError(
          `-p PORT takes the place of PORT: leave out ${describeArgs(rest)}`,
        );
      }
      if (rest.length === 1) {
        if (listenHost !== undefined) {
          throw new UsageError(
            "give the address once: --host H or -l H -p PORT",
          );
        }
        listenHost = rest.shift();
      }
      rest.push(values.port);
    }
    if (values.listen && rest.length === 2) {
      // nc -l HOST PORT
      if (listenHost !== undefined) {
        throw new UsageError("give the address once: --host H or -l H PORT");
      }
      listenHost = rest.shift();
    }
    if (rest.length !== 1) {
      throw new UsageError(
        `listen takes PORT, got ${describeArgs(rest)}`,
      );
    }
    if (listenHost !== undefined) host = hostFlag(listenHost);
    else if (family === 6) host = "::1";
    checkFamily(family, host, "--host");
    port = portArg(rest[0]!, 0);
  }
  const lisp = values.lisp ?? false;
  if (lisp && udp) {
    throw new UsageError("--lisp works over TCP: leave out --udp");
  }
  if (
    values.progress &&
    (lisp || udp || exec !== undefined || values["keep-open"] ||
      values.broker)
  ) {
    throw new UsageError(
      `--progress counts the bytes of one stream: leave out ${
        lisp
          ? "--lisp"
          : udp
          ? "--udp"
          : exec !== undefined
          ? "--exec"
          : values.broker
          ? "--broker"
          : "--keep-open"
      }`,
    );
  }
  if (exec !== undefined) {
    const other = lisp
      ? "--lisp"
      : udp
      ? "--udp"
      : values.broker
      ? "--broker"
      : values.hex
      ? "--hex"
      : values.crlf
      ? "--crlf"
      : values.quit !== undefined
      ? "-q"
      : undefined;
    if (other !== undefined) {
      throw new UsageError(
        `--exec gives the connection to the program: leave out ${other}`,
      );
    }
  }
  if (values.broker && (lisp || udp)) {
    throw new UsageError(
      `--broker passes bytes between TCP clients: leave out --${
        lisp ? "lisp" : "udp"
      }`,
    );
  }
  if (lisp && (values.hex || values.crlf)) {
    throw new UsageError(
      `--${values.hex ? "hex" : "crlf"} is for bytes: --lisp prints data`,
    );
  }
  if (family !== undefined && unix !== undefined) {
    throw new UsageError(`-${family} is for IP: leave it out with --unix`);
  }
  return {
    mode,
    host,
    port,
    unix,
    tls: tls.client,
    caCert: tls.caCert,
    clientCert: tls.clientCert,
    clientKey: tls.clientKey,
    tlsCert: tls.cert,
    tlsKey: tls.key,
    udp,
    lisp,
    keepOpen: (values["keep-open"] || values.broker) ?? false,
    broker: values.broker ?? false,
    timeout: values.timeout === undefined
      ? mode === "connect" ? wait : undefined
      : millisecondsFlag("--timeout", values.timeout),
    idleTimeout: values["idle-timeout"] === undefined
      ? wait
      : millisecondsFlag("--idle-timeout", values["idle-timeout"]),
    crlf: values.crlf ?? false,
    hex: values.hex ?? false,
    quiet: values.quiet ?? false,
    verbose: values.verbose ?? false,
    family,
    quitAfter: values.quit === undefined
      ? undefined
      : secondsFlag("-q", values.quit, 0),
    exec,
    progress: values.progress ?? false,
  };
}

function isIp(host: string): boolean {
  return host.includes(":") || /^\d+\.\d+\.\d+\.\d+$/.test(host);
}

function badFamilies(): never {
  throw new UsageError("-4 and -6 ask for opposite things: give one");
}

/** Refuses an IP address of the other family than `-4`/`-6` asks for. */
function checkFamily(
  family: 4 | 6 | undefined,
  host: string,
  what: string,
): void {
  if (family === undefined) return;
  const v6 = host.includes(":");
  const v4 = /^\d+\.\d+\.\d+\.\d+$/.test(host);
  if ((family === 4 && v6) || (family === 6 && v4)) {
    throw new UsageError(
      `${what} ${host} is an IPv${
        v6 ? 6 : 4
      } address, and -${family} asks for IPv${family}`,
    );
  }
}

/** The longest wait a timer can hold, in whole seconds. */
const LONGEST_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** netcat's seconds (`-w 5`, `-q 0`), as milliseconds. */
export function secondsFlag(name: string, value: string, low: number): number {
  const seconds = Number(value);
  if (!/^\d+$/.test(value) || seconds < low || seconds > LONGEST_SECONDS) {
    throw new UsageError(
      `${name} must be a whole number of seconds from ${low} to ${LONGEST_SECONDS}, not ${
        JSON.stringify(value)
      }`,
    );
  }
  return seconds * 1000;
}

/** The TLS flags, checked against the mode; `flag` names the one given. */
function tlsFlags(
  mode: "connect" | "listen",
  values: {
    tls?: boolean;
    "ca-cert"?: string;
    cert?: string;
    key?: string;
    "tls-cert"?: string;
    "tls-key"?: string;
  },
): {
  flag: string | undefined;
  client: boolean;
  caCert: string | undefined;
  clientCert: string | undefined;
  clientKey: string | undefined;
  cert: string | undefined;
  key: string | undefined;
} {
  const caCert = fileArg("--ca-cert", values["ca-cert"]);
  const clientCert = fileArg("--cert", values.cert);
  const clientKey = fileArg("--key", values.key);
  const cert = fileArg("--tls-cert", values["tls-cert"]);
  const key = fileArg("--tls-key", values["tls-key"]);
  if (mode === "connect") {
    if (cert !== undefined || key !== undefined) {
      throw new UsageError(
        `${
          cert !== undefined ? "--tls-cert" : "--tls-key"
        } is for listen; connect takes --tls [--ca-cert FILE] [--cert FILE --key FILE]`,
      );
    }
    if ((clientCert === undefined) !== (clientKey === undefined)) {
      throw new UsageError("--cert and --key go together");
    }
    const client = values.tls === true || caCert !== undefined ||
      clientCert !== undefined;
    return {
      flag: values.tls
        ? "--tls"
        : caCert !== undefined
        ? "--ca-cert"
        : clientCert !== undefined
        ? "--cert"
        : undefined,
      client,
      caCert,
      clientCert,
      clientKey,
      cert,
      key,
    };
  }
  if (clientCert !== undefined || clientKey !== undefined) {
    throw new UsageError(
      `${
        clientCert !== undefined ? "--cert" : "--key"
      } is a client certificate for connect; listen serves TLS with --tls-cert FILE --tls-key FILE`,
    );
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
    clientCert,
    clientKey,
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

/** The program to run for each connection, and its arguments. */
export interface Exec {
  program: string;
  args: string[];
}

/**
 * Splits `--exec PROGRAM [ARGS…]` (always last: every word after PROGRAM
 * is its) from sock's own arguments.
 *
 * @throws {UsageError} when PROGRAM is missing.
 */
export function splitExec(args: string[]): [own: string[], exec?: Exec] {
  const at = args.indexOf("--exec");
  if (at < 0) return [args];
  const program = args[at + 1];
  if (program === undefined || program === "") {
    throw new UsageError(
      "--exec needs a PROGRAM, and comes last: sock listen 9000 --exec cat -n",
    );
  }
  return [args.slice(0, at), { program, args: args.slice(at + 2) }];
}
