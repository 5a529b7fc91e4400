// `--exec PROGRAM [ARGS…]`: a program whose stdin and stdout are the
// socket, as ncat's --sh-exec and socat's EXEC give; its stderr stays the
// terminal's. The peer's end of stream closes the program's stdin; the end
// of its stdout half-closes the connection.
import type { Socket } from "../mod.ts";
import { UsageError } from "../examples/_common/cli.ts";
import type { Grant } from "./permissions.ts";

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
