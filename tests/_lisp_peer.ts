// The Common Lisp side of the interop tests: tests/peers/peer.lisp run by
// SBCL with usocket, either in the background (servers) or to its end.
import { RunningExample, type RunResult, runToEnd } from "../tools/examples.ts";

/** The path of the Lisp peer program. */
export const PEER_PATH = new URL("./peers/peer.lisp", import.meta.url)
  .pathname;

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
 * Why the Lisp peer cannot run here, or undefined when it can: the `probe`
 * role prints the SBCL and usocket versions and exits 0. When SBCL is
 * there but fails (usocket not installed, a broken image), the reason
 * carries the last lines SBCL printed, so a skip never hides its error.
 */
export async function lispPeerMissing(
  timeout = 20_000,
): Promise<string | undefined> {
  let result: RunResult;
  try {
    result = await runPeer("probe", [], timeout);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return "sbcl not found (apt-get install sbcl cl-usocket)";
    }
    throw error;
  }
  if (result.code === 0 && / with usocket /.test(result.stdout)) {
    return undefined;
  }
  const said = `${result.stderr}\n${result.stdout}`.split("\n")
    .map((line) => line.trim()).filter((line) => line !== "").slice(-6);
  return `sbcl could not run the peer with usocket (exit ${result.code}): ${
    said.length === 0 ? "it printed nothing" : said.join(" | ")
  }`;
}
