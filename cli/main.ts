// `sock`'s main program: the options decide between a stream (connect or
// listen, bytes or Lisp) and datagrams; Ctrl-C ends it with status 0.
import { PermissionError, type Socket } from "../mod.ts";
import { hostPort, onStopSignal } from "../examples/_common/cli.ts";
import { Input, note, warn } from "./io.ts";
import { type Options, parseOptions } from "./options.ts";
import { missingGrant } from "./permissions.ts";
import { runSession } from "./session.ts";
import { type Acceptor, chooseTransport } from "./transport.ts";
import { runDatagrams } from "./udp.ts";

export { HELP } from "./options.ts";

/**
 * Runs `sock` with `args`. It returns when the work is done or on Ctrl-C
 * (or SIGTERM); a mistake in `args` is a UsageError, a failure a one-line
 * error.
 */
export async function main(args: string[] = Deno.args): Promise<void> {
  const options = parseOptions(args);
  const input = new Input();
  let stopped!: () => void;
  const stop = new Promise<void>((resolve) => stopped = resolve);
  using _signals = onStopSignal(() => stopped());
  try {
    await Promise.race([
      options.udp ? runDatagrams(options, input) : runStream(options, input),
      stop,
    ]);
  } catch (error) {
    if (error instanceof PermissionError) {
      throw missingGrant(
        error.message.replace(/^Cannot (.*?): permission denied.*$/, "$1"),
        `${options.udp ? "--unstable-net " : ""}${error.flag}`,
      );
    }
    throw error;
  }
}

/** `sock connect` or `sock listen` over a stream. */
async function runStream(options: Options, input: Input): Promise<void> {
  const transport = chooseTransport(options);
  if (options.mode === "connect") {
    await using socket = await transport.connect();
    await runSession(socket, input, options);
    return;
  }
  let acceptor: Acceptor | undefined = await transport.listen();
  note(options.quiet, `listening on ${acceptor.address}`);
  try {
    do {
      await using socket = await acceptor.accept();
      note(options.quiet, `connection from ${peerOf(socket)}`);
      if (!options.keepOpen) {
        // One connection: no one else may connect meanwhile.
        acceptor[Symbol.dispose]();
        acceptor = undefined;
        await handshake(socket);
        await runSession(socket, input, options);
        return;
      }
      try {
        await handshake(socket);
        await runSession(socket, input, options);
      } catch (error) {
        if (error instanceof PermissionError) throw error;
        warn(error instanceof Error ? error.message : String(error));
      }
    } while (acceptor !== undefined);
  } finally {
    acceptor?.[Symbol.dispose]();
  }
}

/** How long a TLS client may take over its handshake. */
const HANDSHAKE_TIMEOUT = 10_000;

/** Completes an accepted TLS connection's handshake, so a failure is its own. */
async function handshake(socket: Socket): Promise<void> {
  if (socket.tls) await socket.handshake({ timeout: HANDSHAKE_TIMEOUT });
}

/** The peer's address, as the user would type it. */
function peerOf(socket: Socket): string {
  const addr = socket.remoteAddr;
  if ("hostname" in addr) return hostPort(addr.hostname, addr.port);
  if ("path" in addr && addr.path) return addr.path;
  const local = socket.localAddr;
  return "path" in local && local.path
    ? `a client of ${local.path}`
    : addr.transport;
}
