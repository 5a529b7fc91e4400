// `--exec PROGRAM [ARGS…]`: a program whose stdin and stdout are the
// socket, as ncat's --sh-exec and socat's EXEC give; its stderr stays the
// terminal's. The peer's end of stream closes the program's stdin; the end
// of its stdout half-closes the connection.
import { PermissionError, type Socket } from "../mod.ts";
import { note, warn } from "./io.ts";
import type { Exec, Options } from "./options.ts";
import type { Grant } from "./permissions.ts";
import { chooseTransport, handshake, peerOf } from "./transport.ts";

/** The grant that running `exec` needs. */
export function execGrant(exec: Exec): Grant {
  return { name: "run", command: exec.program };
}

/** The most one read from the socket hands the program at once. */
const CHUNK = 64 * 1024;

/**
 * Runs the program with the socket as its stdin and stdout, until the
 * program has ended and its output is sent.
 *
 * @returns The program's exit status.
 */
export async function runExec(socket: Socket, exec: Exec): Promise<number> {
  const child = new Deno.Command(exec.program, {
    args: exec.args,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const toProgram = (async () => {
    const writer = child.stdin.getWriter();
    const buffer = new Uint8Array(CHUNK);
    try {
      for (;;) {
        const n = await socket.read(buffer);
        if (n === null) break;
        await writer.write(buffer.slice(0, n));
      }
    } catch {
      // The program stopped reading (it ended), or the connection broke:
      // either way the program's stdin is done.
    } finally {
      await writer.close().catch(() => {});
    }
  })();
  const fromProgram = (async () => {
    for await (const chunk of child.stdout) {
      await socket.write(chunk);
      await socket.flush();
    }
    await socket.closeWrite();
  })();
  try {
    await fromProgram;
  } catch (error) {
    // The connection broke: the program has no one to talk to.
    try {
      child.kill("SIGTERM");
    } catch {
      // It has ended already.
    }
    await socket.close({ abort: true });
    await Promise.all([toProgram, child.status]);
    throw error;
  }
  const status = await child.status;
  // The program is done: a read still waiting for the peer is not needed.
  await socket.close({ abort: true });
  await toProgram;
  return status.code;
}

/**
 * `--exec`: connect, or listen for one client (`--keep-open`: every
 * client, at once), each connection given to its own run of the program.
 *
 * @returns The program's exit status (for one connection).
 */
export async function runExecStream(
  options: Options,
  exec: Exec,
  open: DisposableStack,
): Promise<number> {
  const transport = chooseTransport(options);
  if (options.mode === "connect") {
    await using socket = await transport.connect();
    if (options.verbose) note(false, `connected to ${transport.address}`);
    return await runExec(socket, exec);
  }
  const acceptor = await transport.listen();
  open.defer(() => acceptor[Symbol.dispose]());
  note(options.quiet, `listening on ${acceptor.address}`);
  if (!options.keepOpen) {
    await using socket = await acceptor.accept();
    note(options.quiet, `connection from ${peerOf(socket)}`);
    acceptor[Symbol.dispose]();
    await handshake(socket);
    return await runExec(socket, exec);
  }
  let failed!: (error: unknown) => void;
  const failure = new Promise<never>((_, reject) => failed = reject);
  const serveOne = async (socket: Socket) => {
    const name = peerOf(socket);
    note(options.quiet, `connection from ${name}`);
    try {
      await handshake(socket);
      const code = await runExec(socket, exec);
      if (code !== 0) warn(`${exec.program} for ${name} exited with ${code}`);
    } catch (error) {
      if (error instanceof PermissionError) failed(error);
      else warn(`${name}: ${error instanceof Error ? error.message : error}`);
    } finally {
      await socket.close({ abort: true }).catch(() => {});
    }
  };
  const accepting = (async () => {
    for (;;) serveOne(await acceptor.accept());
  })();
  return await Promise.race([accepting, failure]);
}
