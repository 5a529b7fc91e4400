// The Common Lisp side of the interop tests: tests/peers/peer.lisp run by
// SBCL with usocket, either in the background (servers) or to its end.
import { RunningExample, type RunResult, runToEnd } from "../tools/examples.ts";

/** The path of the Lisp peer program. */
export const PEER_PATH = new URL("./peers/peer.lisp", import.meta.url)
  .pathname;

/** The line printed once when SBCL or usocket is missing. */
export const MISSING_LISP =
  "interop tests skipped: sbcl not found (apt-get install sbcl cl-usocket)";

function peerCommand(role: string, args: string[]): Deno.Command {
  return new Deno.Command("sbcl", {
    args: ["--script", PEER_PATH, role, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/**
 * Runs a peer role to its end, killing it after `timeout` ms.
 *
 * @throws {Deno.errors.NotFound} when `sbcl` is not on the PATH.
 */
export function runPeer(
  role: string,
  args: string[] = [],
  timeout = 20_000,
): Promise<RunResult> {
  return runToEnd(peerCommand(role, args), timeout);
}

/**
 * Starts a peer role in the background. A server role prints
 * `listening on HOST:PORT`, which `listening()` waits for; dispose it to
 * kill it and wait for its end.
 */
export function startPeer(role: string, args: string[] = []): RunningExample {
  return new RunningExample(peerCommand(role, args).spawn());
}

/**
 * Whether SBCL runs and loads usocket: the `probe` role prints their
 * versions and exits 0.
 */
export async function lispPeerAvailable(timeout = 20_000): Promise<boolean> {
  try {
    const { code, stdout } = await runPeer("probe", [], timeout);
    return code === 0 && / with usocket /.test(stdout);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
