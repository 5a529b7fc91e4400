// `sock connect NAME PORT` for a name with two addresses whose first
// refuses: the connection falls back to the second. In a private network
// and mount namespace with its own /etc/hosts (unshare -mn, as root), so
// the name and the servers exist only there.
import assert from "node:assert/strict";
import { bounded, test } from "./_helpers.ts";
import { CLI_PATH } from "./_sock.ts";

const namespaces = await (async () => {
  try {
    const { success } = await new Deno.Command("unshare", {
      args: ["-mn", "sh", "-c", "ip link set lo up && command -v nc"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
})();
if (!namespaces) {
  console.log(
    "cli_names_test: skipped (it needs unshare -mn, ip and nc, as root)",
  );
}

const DENO = Deno.execPath();

/**
 * Runs `script` (sh) in a private namespace whose /etc/hosts is `hosts`;
 * in it `$SOCK FLAGS "$CLI" ARGS` runs sock. Its stdout.
 */
async function inNamespace(hosts: string, script: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "sock_cli_names_" });
  try {
    await Deno.writeTextFile(`${dir}/hosts`, hosts);
    await Deno.writeTextFile(
      `${dir}/run.sh`,
      [
        "ip link set lo up",
        `mount --bind ${dir}/hosts /etc/hosts`,
        "export NO_COLOR=1",
        `SOCK="${DENO} run --no-prompt"`,
        `CLI="${CLI_PATH}"`,
        `cd ${dir}`,
        script,
      ].join("\n"),
    );
    const child = new Deno.Command("unshare", {
      args: ["-mn", "sh", `${dir}/run.sh`],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    try {
      const { stdout } = await bounded(
        output,
        30_000,
        "the namespace's script",
      );
      return new TextDecoder().decode(stdout);
    } catch (error) {
      child.kill("SIGKILL");
      await output.catch(() => {});
      throw error;
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * A sock listener on `address` port 7000 inside the namespace (a fixed
 * port: the namespace's loopback is its own), then a client to
 * two.test:7000.
 */
function fallbackScript(address: string): string {
  const host = address.includes(":") ? `[${address}]` : address;
  return [
    `$SOCK --allow-net=${host}:7000 "$CLI" listen -k --quiet --host ${address} 7000 > listened &`,
    "L=$!",
    `until nc -z ${address} 7000 2>/dev/null; do sleep 0.05; done`,
    `printf 'through two.test\\n' | $SOCK --allow-net=two.test:7000 "$CLI" -q 0 connect two.test 7000 2>&1`,
    'echo "status $?"',
    "sleep 0.3",
    "kill $L; wait",
    "cat listened",
  ].join("\n");
}

test(
  "a name whose first address refuses: sock connect falls back to the next, either order",
  async () => {
    for (
      const [hosts, address] of [
        ["::1 two.test\n127.0.0.1 two.test\n", "127.0.0.1"],
        ["127.0.0.1 two.test\n::1 two.test\n", "::1"],
      ]
    ) {
      const out = await inNamespace(hosts!, fallbackScript(address!));
      assert.equal(out, "status 0\nthrough two.test\n", `${hosts}: ${out}`);
    }
  },
  { deadline: 60_000, ignore: !namespaces },
);

test(
  "a name whose every address refuses: with the name's grant the error names each address tried",
  async () => {
    const out = await inNamespace(
      "::1 two.test\n127.0.0.1 two.test\n",
      [
        `$SOCK --allow-net=two.test "$CLI" connect two.test 7001 < /dev/null 2>&1`,
        'echo "status $?"',
        `$SOCK --allow-net=two.test:7001 "$CLI" connect two.test 7001 < /dev/null 2>&1`,
        'echo "status $?"',
      ].join("\n"),
    );
    const [named, status, plain, status2, end] = out.split("\n");
    // Both addresses, in the order the system's resolver gives them.
    assert.match(
      named!,
      /^error: Cannot connect to two\.test:7001: each of its addresses refused the connection \((\[::1\]:7001, 127\.0\.0\.1:7001|127\.0\.0\.1:7001, \[::1\]:7001); is a server listening there\?\)$/,
    );
    assert.deepEqual([status, plain, status2, end], [
      "status 1",
      "error: Cannot connect to two.test:7001: connection refused (is a server listening there?)",
      "status 1",
      "",
    ]);
  },
  { deadline: 60_000, ignore: !namespaces },
);
