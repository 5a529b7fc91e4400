// Where a stream goes: the one place that chooses the transport from the
// options. Each transport checks its own grants and opens sockets.
import { connect, listen, type Socket } from "../mod.ts";
import { hostPort } from "../examples/_common/cli.ts";
import { needNet } from "./permissions.ts";
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
  /** The address, for messages: `127.0.0.1:9231`. */
  readonly address: string;
  /** Opens a connection (checking the grant first). */
  connect(): Promise<Socket>;
  /** Opens a passive socket (checking the grant first). */
  listen(): Promise<Acceptor>;
}

/** The transport the options ask for. */
export function chooseTransport(options: Options): StreamTransport {
  return tcp(options.host, options.port, options.timeout);
}

/** TCP to or on `hostname:port`. */
function tcp(
  hostname: string,
  port: number,
  timeout: number | undefined,
): StreamTransport {
  const address = hostPort(hostname, port);
  return {
    address,
    async connect() {
      await needNet([[hostname, port]], `connect to ${address}`);
      return await connect({
        hostname,
        port,
        ...(timeout === undefined ? {} : { timeout }),
      });
    },
    async listen() {
      await needNet([[hostname, port]], `listen on ${address}`);
      const listener = listen({ hostname, port });
      return {
        address: hostPort(listener.addr.hostname, listener.port),
        accept: () => listener.accept(),
        [Symbol.dispose]: () => listener.close(),
      };
    },
  };
}
