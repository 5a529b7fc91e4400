// Least privilege for `sock`: it asks for the one network grant the command
// needs, and when that is missing says which flags to add, for `deno run`
// and for `deno install`.
import { Failure, hostPort } from "../examples/_common/cli.ts";

/** How this program was started, for the commands in the advice. */
function program(): string {
  const main = Deno.mainModule;
  if (/\/@sock\/sock\/[^/]+\/cli\.ts$/.test(main)) return "jsr:@sock/sock/cli";
  // Deno.cwd() would need a read grant: a local file is named by its path.
  return main.startsWith("file:") ? new URL(main).pathname : main;
}

/** A word as a shell reads it back. */
function quote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word)
    ? word
    : `'${word.replaceAll("'", "'\\''")}'`;
}

/** The flags that grant `host` (a `host:port`), and `--unstable-net` for datagrams. */
function grantFlags(host: string, unstable: boolean): string {
  return `${unstable ? "--unstable-net " : ""}--allow-net=${host}`;
}

/**
 * The one-line advice for a missing grant: the flags, and where to put them.
 *
 * @param what What was refused, e.g. `connect to 127.0.0.1:9231`.
 * @param host The grant, `host:port` or a whole host.
 * @param unstable Whether `--unstable-net` is needed too.
 */
export function missingGrant(
  what: string,
  host: string,
  unstable: boolean,
): Failure {
  const flags = grantFlags(host, unstable);
  return new Failure(
    `sock may not ${what}: add ${flags} (deno run ${flags} ${program()} ${
      Deno.args.map(quote).join(" ")
    }, or deno install -g -f -n sock ${flags} ${program()})`,
  );
}

/**
 * Makes sure the program may use each network address `[hostname, port]`.
 * In a terminal a grant not given yet is asked for (Deno's own prompt, for
 * that one address, unless `--no-prompt`); otherwise, or when the user
 * says no, it fails with the flags to add for all that are missing.
 *
 * @param addresses What the command uses.
 * @param what What the grants are for, e.g. `connect to 127.0.0.1:9231`.
 * @param unstable Whether the command needs `--unstable-net` too.
 */
export async function needNet(
  addresses: [hostname: string, port: number][],
  what: string,
  unstable = false,
): Promise<void> {
  const missing: string[] = [];
  const ask = Deno.stdin.isTerminal() && Deno.stderr.isTerminal();
  for (const [hostname, port] of addresses) {
    const host = hostPort(hostname, port);
    const descriptor = { name: "net", host } as const;
    let { state } = await Deno.permissions.query(descriptor);
    if (state === "prompt" && ask) {
      ({ state } = await Deno.permissions.request(descriptor));
    }
    if (state !== "granted") missing.push(host);
  }
  if (missing.length > 0) throw missingGrant(what, missing.join(","), unstable);
}
