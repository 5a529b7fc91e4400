// `sock forward`: a relay, as socat's `TCP-LISTEN:P,fork TCP:H:P`. Each
// connection to the listening side is joined to a new connection to the
// target, bytes both ways, each side's end of stream passed on as a
// half-close, many connections at once. Either side may be TLS or a Unix
// socket; a PROXY header may be read from a balancer in front, and one
// sent to the target naming the real client.
import {
  connect,
  formatProxyHeader,
  listen,
  type Listener,
  type ListenOptions,
  PermissionError,
  type ProxyProtocolOptions,
  type Socket,
} from "../mod.ts";
import {
  hostFlag,
  hostPort,
  millisecondsFlag,
  parseFlags,
  proxyOptions,
  readPemFlag,
  UsageError,
} from "../examples/_common/cli.ts";
import { checkSocketPath } from "../lib/unix.ts";
import { note, warn } from "./io.ts";
import { type Grant, needGrants, netGrant, unixGrants } from "./permissions.ts";
import { handshake } from "./transport.ts";

/** What `sock forward` was asked to do. */
export interface ForwardOptions {
  /** Where it listens: an address, or a Unix socket's path. */
  from:
    | { host: string; port: number; path?: undefined }
    | { path: string };
  /** Listen over TLS with this PEM certificate and key. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** Read a PROXY header on each connection (from a trusted balancer). */
  proxy: ProxyProtocolOptions;
  /** Where each connection goes. */
  to:
    | { host: string; port: number; path?: undefined }
    | { path: string };
  /** Connect to the target over TLS... */
  tls: boolean;
  /** ...trusting this CA's PEM certificate (else the CAs Deno trusts). */
  caCert: string | undefined;
  /** Send the target a PROXY v2 header naming the client. */
  sendProxy: boolean;
  /** How long a connection to the target may take, in milliseconds. */
  timeout: number;
  /** No notes on stderr, only errors. */
  quiet: boolean;
}

export const FORWARD_HELP = `usage: sock forward [flags] PORT HOST TARGET_PORT
       sock forward [flags] --unix PATH HOST TARGET_PORT
       sock forward [flags] PORT --to-unix PATH

Listens on 127.0.0.1:PORT and joins each connection to a new one to
HOST:TARGET_PORT: bytes both ways, each end passed on as a half-close, any
number of connections at once, until Ctrl-C.

  --host H             listen on H (default 127.0.0.1)
  --unix PATH          listen on a Unix domain socket instead of PORT
  --tls-cert FILE      listen over TLS (terminate it) with this certificate
  --tls-key FILE       ...and this private key
  --proxy-protocol     expect a PROXY header (v1 or v2) on each connection,
                       from a balancer in --trusted-proxies LIST
                       (default 127.0.0.0/8,::1)
  --tls                connect to the target over TLS (originate it)
  --ca-cert FILE       ...trusting this CA (else the CAs Deno trusts)
  --to-unix PATH       connect to a Unix domain socket instead of HOST PORT
  --send-proxy         begin each connection to the target with a PROXY v2
                       header naming the client (HAProxy's send-proxy-v2)
  --timeout MS         give up connecting to the target (default 10000)
  --quiet              no notes on stderr, only errors

Grants: the two ends, exactly: --allow-net=127.0.0.1:PORT,HOST:TARGET_PORT;
a Unix end P --allow-read=P --allow-write=P --allow-net=unix:P; PEM files
--allow-read.`;

const FLAGS = {
  host: { type: "string" },
  unix: { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "proxy-protocol": { type: "boolean" },
  "trusted-proxies": { type: "string" },
  tls: { type: "boolean" },
  "ca-cert": { type: "string" },
  "to-unix": { type: "string" },
  "send-proxy": { type: "boolean" },
  timeout: { type: "string" },
  quiet: { type: "boolean" },
} as const;

/**
 * Reads `sock forward`'s command line (after the word `forward`).
 *
 * @throws {UsageError} for any mistake in it, as one line.
 */
export function parseForward(args: string[]): ForwardOptions {
  const { values, positionals } = parseFlags(FLAGS, true, args);
  const rest = [...positionals];
  let from: ForwardOptions["from"];
  if (values.unix !== undefined) {
    if (values.host !== undefined) {
      throw new UsageError("--unix cannot go with --host");
    }
    from = { path: socketPath("--unix", values.unix) };
  } else {
    const port = rest.shift();
    if (port === undefined) {
      throw new UsageError(
        "forward takes PORT HOST TARGET_PORT (or PORT --to-unix PATH)",
      );
    }
    from = {
      host: values.host === undefined ? "127.0.0.1" : hostFlag(values.host),
      port: portArg("PORT", port, 0),
    };
  }
  let to: ForwardOptions["to"];
  if (values["to-unix"] !== undefined) {
    if (rest.length !== 0) {
      throw new UsageError(
        `--to-unix PATH takes the place of HOST TARGET_PORT: leave out ${
          rest.map((arg) => JSON.stringify(arg)).join(" ")
        }`,
      );
    }
    to = { path: socketPath("--to-unix", values["to-unix"]) };
  } else {
    if (rest.length !== 2) {
      throw new UsageError(
        `forward takes ${
          from.path === undefined ? "PORT " : ""
        }HOST TARGET_PORT, got ${
          positionals.length === 0
            ? "nothing"
            : positionals.map((arg) => JSON.stringify(arg)).join(" ")
        }`,
      );
    }
    to = {
      host: targetHost(rest[0]!),
      port: portArg("TARGET_PORT", rest[1]!, 1),
    };
  }
  const tlsCert = fileArg("--tls-cert", values["tls-cert"]);
  const tlsKey = fileArg("--tls-key", values["tls-key"]);
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new UsageError("--tls-cert and --tls-key go together");
  }
  const caCert = fileArg("--ca-cert", values["ca-cert"]);
  const tls = values.tls === true || caCert !== undefined;
  if (tlsCert !== undefined && from.path !== undefined) {
    throw new UsageError(
      "--unix cannot go with --tls-cert: Deno has no TLS over Unix sockets",
    );
  }
  if (tls && to.path !== undefined) {
    throw new UsageError(
      `--to-unix cannot go with ${
        values.tls ? "--tls" : "--ca-cert"
      }: Deno has no TLS over Unix sockets`,
    );
  }
  const proxy = proxyOptions(values);
  if (
    proxy.proxyProtocol && (tlsCert !== undefined || from.path !== undefined)
  ) {
    throw new UsageError(
      `--proxy-protocol cannot go with ${
        tlsCert !== undefined ? "--tls-cert" : "--unix"
      }: PROXY headers are read on plain TCP only`,
    );
  }
  return {
    from,
    tlsCert,
    tlsKey,
    proxy,
    to,
    tls,
    caCert,
    sendProxy: values["send-proxy"] ?? false,
    timeout: values.timeout === undefined
      ? 10_000
      : millisecondsFlag("--timeout", values.timeout),
    quiet: values.quiet ?? false,
  };
}

function fileArg(flag: string, value: string | undefined): string | undefined {
  if (value === "") throw new UsageError(`${flag} needs a file`);
  return value;
}

function portArg(name: string, value: string, low: number): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < low || port > 65535) {
    throw new UsageError(
      `${name} must be a whole number from ${low} to 65535, not ${
        JSON.stringify(value)
      }`,
    );
  }
  return port;
}

function targetHost(value: string): string {
  try {
    return hostFlag(value);
  } catch {
    throw new UsageError(
      `HOST must be a host name or an IP address, not ${JSON.stringify(value)}`,
    );
  }
}

/** A socket path, made absolute: Deno grants `unix:` paths only so. */
function socketPath(flag: string, value: string): string {
  if (value === "") throw new UsageError(`${flag} needs a socket path`);
  const path = value.startsWith("/")
    ? value
    : `${Deno.cwd()}/${value.replace(/^(\.\/)+/, "")}`;
  try {
    return checkSocketPath(path);
  } catch (error) {
    throw new UsageError(
      `${flag} ${value}: ${
        (error as Error).message.replace(/^Cannot use path .*?: /, "")
          .replace(/^Cannot/, "cannot")
      }`,
    );
  }
}

/** An end as the user would type it. */
function describeEnd(end: ForwardOptions["from"]): string {
  return end.path ?? hostPort(end.host, end.port);
}

/** The grants for one end. */
function endGrants(end: ForwardOptions["from"]): Grant[] {
  return end.path !== undefined
    ? unixGrants(end.path)
    : [netGrant(end.host, end.port)];
}

/** Runs the forwarder until Ctrl-C; `open` closes the listener on a stop. */
export async function runForward(
  options: ForwardOptions,
  open: DisposableStack,
): Promise<void> {
  const { from, to } = options;
  const files = [options.tlsCert, options.tlsKey, options.caCert].filter((
    file,
  ): file is string => file !== undefined);
  await needGrants(
    [
      ...files.map((path): Grant => ({ name: "read", path })),
      ...endGrants(from),
      ...endGrants(to),
    ],
    `forward ${describeEnd(from)} to ${describeEnd(to)}`,
  );
  const caCerts = options.caCert === undefined
    ? undefined
    : [await readPemFlag("--ca-cert", options.caCert)];
  const listenTls = options.tlsCert === undefined ? undefined : {
    cert: await readPemFlag("--tls-cert", options.tlsCert),
    key: await readPemFlag("--tls-key", options.tlsKey!),
  };
  let listener: Listener<Deno.NetAddr | Deno.UnixAddr>;
  if (from.path !== undefined) {
    listener = await listen({ path: from.path });
  } else {
    const listenOptions: ListenOptions = {
      hostname: from.host,
      port: from.port,
      ...options.proxy,
      onError: (error) => warn(messageOf(error)),
    };
    listener = listen(
      listenTls ? { ...listenOptions, tls: listenTls } : listenOptions,
    );
  }
  open.defer(() => listener.close());
  const addr = listener.addr;
  const at = "hostname" in addr
    ? hostPort(addr.hostname, addr.port)
    : from.path!;
  note(options.quiet, `forwarding ${at} to ${describeEnd(to)}`);

  const connectTarget = (): Promise<Socket> =>
    to.path !== undefined
      ? connect({ path: to.path, timeout: options.timeout })
      : connect({
        hostname: to.host,
        port: to.port,
        timeout: options.timeout,
        ...(options.tls ? { tls: caCerts ? { caCerts } : {} } : {}),
      });

  let failed!: (error: unknown) => void;
  const failure = new Promise<never>((_, reject) => failed = reject);
  const relay = async (client: Socket): Promise<void> => {
    const name = peerName(client);
    let target: Socket | undefined;
    try {
      await handshake(client);
      target = await connectTarget();
      note(options.quiet, `${name} to ${describeEnd(to)}`);
      if (options.sendProxy) {
        await target.write(formatProxyHeader({
          source: client.remoteAddr,
          destination: client.localAddr,
        }));
      }
      await Promise.all([pump(client, target), pump(target, client)]);
    } catch (error) {
      if (error instanceof PermissionError) failed(error);
      else warn(`${name}: ${messageOf(error)}`);
    } finally {
      await Promise.all([
        client.close({ abort: true }).catch(() => {}),
        target?.close({ abort: true }).catch(() => {}),
      ]);
    }
  };
  const accepting = (async () => {
    for (;;) {
      const client = await listener.accept();
      relay(client).catch(failed);
    }
  })();
  await Promise.race([accepting, failure]);
}

/**
 * Moves bytes from `from` to `to` until `from` ends, then half-closes
 * `to`. A failure on either side aborts both, so the other direction
 * ends too.
 */
async function pump(from: Socket, to: Socket): Promise<void> {
  const buffer = new Uint8Array(RELAY_CHUNK);
  try {
    for (;;) {
      const n = await from.read(buffer);
      if (n === null) break;
      await to.write(buffer.subarray(0, n));
      await to.flush();
    }
    await to.closeWrite();
  } catch (error) {
    await Promise.all([
      from.close({ abort: true }).catch(() => {}),
      to.close({ abort: true }).catch(() => {}),
    ]);
    throw error;
  }
}

/** The most one read of a relay takes. */
const RELAY_CHUNK = 256 * 1024;

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A client's address, as the user would type it. */
function peerName(socket: Socket): string {
  const addr = socket.remoteAddr;
  if ("hostname" in addr) return hostPort(addr.hostname, addr.port);
  return "path" in addr && addr.path ? addr.path : "a Unix client";
}
