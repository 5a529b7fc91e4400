// Where a stream goes: the one place that chooses the transport from the
// options (TCP, TLS over TCP, or a Unix domain socket). Each transport
// checks its own grants and opens sockets.
import {
  CertificateError,
  connect,
  listen,
  lookupHostname,
  type Socket,
  SocketError,
  TlsError,
} from "../mod.ts";
import { Failure, hostPort, readPemFlag } from "../examples/_common/cli.ts";
import { type Grant, needGrants, netGrant, unixGrants } from "./permissions.ts";
import type { Options } from "./options.ts";

/** A passive socket as `sock listen` uses it. */
export interface Acceptor extends Disposable {
  /** Where it listens, as the user would type it: `127.0.0.1:40001`. */
  readonly address: string;
  /** The next connection. */
  accept(): Promise<Socket>;
}

/** How `sock` opens a stream. */
export interface StreamTransport {
  /** The address, for messages: `127.0.0.1:9231`, or a socket path. */
  readonly address: string;
  /** Opens a connection (checking the grants first). */
  connect(): Promise<Socket>;
  /** Opens a passive socket (checking the grants first). */
  listen(): Promise<Acceptor>;
}

/** The transport the options ask for. */
export function chooseTransport(options: Options): StreamTransport {
  if (options.unix !== undefined) {
    return unixSocket(options.unix, options.timeout);
  }
  return tcp(options);
}

/** TCP, or TLS over TCP, to or on `host:port`. */
function tcp(options: Options): StreamTransport {
  const { host: hostname, port, timeout, caCert, tlsCert, tlsKey } = options;
  const { clientCert, clientKey } = options;
  const address = hostPort(hostname, port);
  const read = (...files: string[]): Grant[] =>
    files.map((path) => ({ name: "read", path }));
  return {
    address,
    async connect() {
      const what = `connect to ${address}${options.tls ? " over TLS" : ""}`;
      const files = [caCert, clientCert, clientKey].filter((file) =>
        file !== undefined
      );
      await needGrants([...read(...files), netGrant(hostname, port)], what);
      const tls = !options.tls ? undefined : {
        ...(caCert === undefined
          ? {}
          : { caCerts: [await readPemFlag("--ca-cert", caCert)] }),
        ...(clientCert === undefined || clientKey === undefined ? {} : {
          cert: await readPemFlag("--cert", clientCert),
          key: await readPemFlag("--key", clientKey),
        }),
      };
      try {
        return await connect({
          hostname,
          port,
          ...(timeout === undefined ? {} : { timeout }),
          ...(tls === undefined ? {} : { tls }),
        });
      } catch (error) {
        throw await withAddressesTried(
          forTheCommandLine(error),
          hostname,
          port,
        );
      }
    },
    async listen() {
      const tls = tlsCert !== undefined && tlsKey !== undefined;
      const what = `listen on ${address}${tls ? " over TLS" : ""}`;
      const files = tls ? [tlsCert, tlsKey] : [];
      await needGrants([...read(...files), netGrant(hostname, port)], what);
      const listener = listen({
        hostname,
        port,
        ...(tls
          ? {
            tls: {
              cert: await readPemFlag("--tls-cert", tlsCert),
              key: await readPemFlag("--tls-key", tlsKey),
            },
          }
          : {}),
      });
      return {
        address: hostPort(listener.addr.hostname, listener.port),
        accept: () => listener.accept(),
        [Symbol.dispose]: () => listener.close(),
      };
    },
  };
}

/** A Unix domain socket at `path` (absolute). */
function unixSocket(
  path: string,
  timeout: number | undefined,
): StreamTransport {
  const grants = unixGrants(path);
  return {
    address: path,
    async connect() {
      await needGrants(grants, `connect to ${path}`);
      return await connect({
        path,
        ...(timeout === undefined ? {} : { timeout }),
      });
    },
    async listen() {
      await needGrants(grants, `listen on ${path}`);
      const listener = await listen({ path });
      return {
        address: listener.path,
        accept: () => listener.accept(),
        [Symbol.dispose]() {
          listener.close();
          // With an accept waiting, the file goes a turn later, and sock
          // may be exiting: remove it now.
          removeSocketFile(path);
        },
      };
    },
  };
}

/**
 * A refused connection to a name with more than one address names each
 * address tried (Deno tries them in turn). Looking the name up needs
 * `--allow-net=NAME`; without it the error stays as it is.
 */
async function withAddressesTried(
  error: unknown,
  hostname: string,
  port: number,
): Promise<unknown> {
  if (
    !(error instanceof SocketError) || error.name !== "ConnectionRefusedError"
  ) {
    return error;
  }
  if (hostname.includes(":") || /^[\d.]+$/.test(hostname)) return error;
  const grant = await Deno.permissions.query({ name: "net", host: hostname });
  if (grant.state !== "granted") return error;
  let addresses: string[];
  try {
    addresses = await lookupHostname(hostname, { timeout: 2000 });
  } catch {
    return error;
  }
  if (addresses.length < 2) return error;
  return new Failure(
    `Cannot connect to ${
      hostPort(hostname, port)
    }: each of its addresses refused the connection (${
      addresses.map((address) => hostPort(address, port)).join(", ")
    }; is a server listening there?)`,
  );
}

/** Removes the socket file at `path`, if a socket file is still there. */
function removeSocketFile(path: string): void {
  try {
    if (Deno.lstatSync(path).isSocket) Deno.removeSync(path);
  } catch {
    // Gone already.
  }
}

/** The library's advice on TLS options, as the flags that give them. */
const FLAG_ADVICE: [RegExp, string][] = [
  [
    /pass the CA's certificate in tls\.caCerts/,
    "give the CA's certificate with --ca-cert FILE",
  ],
  [
    /pass the CA that did in tls\.caCerts/,
    "give the CA that did with --ca-cert FILE",
  ],
  [/connect without tls/, "leave out --tls"],
  [/, or set tls\.serverName/, ""],
  [/pass tls\.cert and tls\.key/, "sock sends none"],
];

/** A TLS failure whose message speaks of flags, not of option names. */
function forTheCommandLine(error: unknown): unknown {
  if (!(error instanceof TlsError)) return error;
  let message = error.message;
  for (const [api, flag] of FLAG_ADVICE) message = message.replace(api, flag);
  if (message === error.message) return error;
  return error instanceof CertificateError
    ? new CertificateError(message, error.reason, { cause: error })
    : new Failure(message);
}

/** How long a TLS client may take over its handshake. */
const HANDSHAKE_TIMEOUT = 10_000;

/** Completes an accepted TLS connection's handshake, so a failure is its own. */
export async function handshake(socket: Socket): Promise<void> {
  if (socket.tls) await socket.handshake({ timeout: HANDSHAKE_TIMEOUT });
}

/** The peer's address, as the user would type it. */
export function peerOf(socket: Socket): string {
  const addr = socket.remoteAddr;
  if ("hostname" in addr) return hostPort(addr.hostname, addr.port);
  if ("path" in addr && addr.path) return addr.path;
  const local = socket.localAddr;
  return "path" in local && local.path
    ? `a client of ${local.path}`
    : addr.transport;
}
