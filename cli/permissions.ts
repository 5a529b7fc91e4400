// Least privilege for `sock`: it asks for the grants the command needs (a
// network address; the PEM files of TLS; a Unix socket's path), and when one
// is missing says which flags to add, for `deno run` and for `deno install`.
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

/** A permission sock may need: a file to read or write, an address, a program. */
export type Grant =
  | { name: "read" | "write"; path: string }
  | { name: "net"; host: string }
  | { name: "run"; command: string };

/** The grants `--unix PATH` needs, for listening and for connecting alike. */
export function unixGrants(path: string): Grant[] {
  return [
    { name: "read", path },
    { name: "write", path },
    { name: "net", host: `unix:${path}` },
  ];
}

/** The `deno run` flags for `grants`, and `--unstable-net` for datagrams. */
function grantFlags(grants: Grant[], unstable: boolean): string {
  const flags = unstable ? ["--unstable-net"] : [];
  for (const name of ["read", "write", "net", "run"] as const) {
    const values = grants.filter((grant) => grant.name === name).map((
      grant,
    ) =>
      "path" in grant
        ? grant.path
        : "host" in grant
        ? grant.host
        : grant.command
    );
    if (values.length > 0) flags.push(`--allow-${name}=${values.join(",")}`);
  }
  return flags.join(" ");
}

/**
 * The one-line advice for a missing grant: the flags, the command that runs
 * this one with them, and, for a `sock` installed with `deno install`, the
 * edit of its launcher that adds them to the grants it has (Deno joins
 * repeated `--allow-*` flags), so that a reinstall loses none.
 *
 * @param what What was refused, e.g. `connect to 127.0.0.1:9231`.
 * @param flags The flags that grant it, e.g. `--allow-net=127.0.0.1:9231`.
 * @param all Every flag the command needs, for the command that runs it
 * (the same as `flags` unless some grants were there already).
 */
export function missingGrant(
  what: string,
  flags: string,
  all: string = flags,
): Failure {
  const edit = `s|^exec deno run |&${flags} |`;
  return new Failure(
    `sock may not ${what}: add ${flags} (deno run ${all} ${program()} ${
      Deno.args.map(quote).join(" ")
    }; an installed sock keeps its grants and gains these with sed -i ${
      quote(edit)
    } "$(command -v sock)")`,
  );
}

/**
 * Makes sure the program has each of `grants`. In a terminal a grant not
 * given yet is asked for (Deno's own prompt, for that one permission,
 * unless `--no-prompt`, and none after a no); otherwise, or when the user
 * says no, it fails
 * with the flags to add for all that are missing, and the command lines
 * with every grant the command needs.
 *
 * @param grants What the command uses.
 * @param what What the grants are for, e.g. `listen on /tmp/s.sock`.
 * @param unstable Whether the command needs `--unstable-net` too.
 */
export async function needGrants(
  grants: Grant[],
  what: string,
  unstable = false,
): Promise<void> {
  const missing: Grant[] = [];
  // Once the user has said no, the rest are not asked for either.
  let ask = Deno.stdin.isTerminal() && Deno.stderr.isTerminal();
  for (const grant of grants) {
    let { state } = await Deno.permissions.query(grant);
    if (state === "prompt" && ask) {
      ({ state } = await Deno.permissions.request(grant));
      ask = state === "granted";
    }
    if (state !== "granted") missing.push(grant);
  }
  if (missing.length > 0) {
    throw missingGrant(
      what,
      grantFlags(missing, unstable),
      grantFlags(grants, unstable),
    );
  }
}

/** The grant for the network address `hostname:port`. */
export function netGrant(hostname: string, port: number): Grant {
  return { name: "net", host: hostPort(hostname, port) };
}

/**
 * Makes sure the program may use each network address `[hostname, port]`,
 * as {@linkcode needGrants} does.
 *
 * @param addresses What the command uses.
 * @param what What the grants are for, e.g. `connect to 127.0.0.1:9231`.
 * @param unstable Whether the command needs `--unstable-net` too.
 */
export function needNet(
  addresses: [hostname: string, port: number][],
  what: string,
  unstable = false,
): Promise<void> {
  return needGrants(
    addresses.map(([hostname, port]) => netGrant(hostname, port)),
    what,
    unstable,
  );
}
