// Unix domain sockets. Deno grants a socket path only as an exact file, so
// the cases that open sockets in-process (tests/unix_cases.ts) run in a
// child `deno test` granted their files in a temporary directory; the rest
// run programs with the grants a user would give: the missing-grant
// messages, socat against the sum server example, the sum client example.
import assert from "node:assert/strict";
import { runExample, startExample } from "../tools/examples.ts";
import { UNIX_CASE_FILES } from "./_unix_files.ts";
import { canRun, test } from "./_helpers.ts";

const socatFound = await canRun("socat", ["-V"]);
if (!socatFound) console.log("socat tests skipped: socat not found");

const CASES = new URL("./unix_cases.ts", import.meta.url).pathname;
const LOCK = new URL("./deno.lock", import.meta.url).pathname;
const GRANT_FIXTURE = new URL("./fixtures/unix_grant.ts", import.meta.url)
  .pathname;

/** A temporary directory, removed when disposed. */
async function tempDir(): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "sock-unix-" });
  return {
    dir,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

const unixGrants = (path: string) => [
  `--allow-read=${path}`,
  `--allow-write=${path}`,
  `--allow-net=unix:${path}`,
];

test(
  "Unix: the in-process cases pass with their socket files granted",
  async () => {
    await using tmp = await tempDir();
    const files = UNIX_CASE_FILES.map((name) => `${tmp.dir}/${name}`);
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "test",
        `--lock=${LOCK}`,
        // Type-checked with the rest by `deno task check`.
        "--no-check",
        "--unstable-net",
        `--allow-read=${tmp.dir}`,
        `--allow-write=${tmp.dir}`,
        `--allow-net=${files.map((f) => `unix:${f}`).join(",")}`,
        "--allow-env=SOCK_UNIX_DIR,SOCK_TEST_SKIP",
        CASES,
      ],
      env: { SOCK_UNIX_DIR: tmp.dir, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(stdout);
    const expected = (await Deno.readTextFile(CASES)).match(/^unixTest\(/gm)!
      .length;
    const summary = /^(ok|FAILED) \| (\d+) passed .*\| (\d+) failed/m.exec(out);
    assert.ok(
      code === 0 && summary?.[1] === "ok" &&
        Number(summary[2]) === expected,
      `${out}\n${new TextDecoder().decode(stderr)}`,
    );
    assert.equal(summary![3], "0");
    assert.doesNotMatch(out, / ignored/);
  },
  { deadline: 60_000 },
);

/** Runs the grant fixture: `what` ("listen", "connect", "datagram") on `path`. */
async function tryUnix(
  what: string,
  path: string,
  grants: string[],
): Promise<string> {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-lock",
      "--unstable-net",
      ...grants,
      GRANT_FIXTURE,
      what,
      path,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  return new TextDecoder().decode(stdout).trim();
}

for (const what of ["listen", "connect", "datagram"]) {
  test(
    `Unix: a missing grant for ${what} is one line naming all three flags`,
    async () => {
      await using tmp = await tempDir();
      const path = `${tmp.dir}/g.sock`;
      // Something to connect to, run with the grants it needs.
      const server = what === "connect"
        ? startExample("sum_server", ["--unix", path], unixGrants(path))
        : undefined;
      try {
        await server?.waitForLine(/^listening on /);
        const flags = unixGrants(path).join(" ");
        const verb = what === "connect"
          ? "connect to"
          : what === "listen"
          ? "listen on"
          : "listen for datagrams on";
        const run = (grants: string[]) => tryUnix(what, path, grants);
        for (
          const grants of [
            [],
            unixGrants(path).slice(0, 1),
            unixGrants(path).slice(0, 2),
          ]
        ) {
          assert.equal(
            await run(grants),
            `PermissionError: Cannot ${verb} ${path}: permission denied, run again with ${flags}`,
            `with ${grants.join(" ") || "no grants"}`,
          );
        }
        assert.equal(await run(unixGrants(path)), "ok");
        if (what !== "connect") assert.equal(exists(path), false);
      } finally {
        if (server) assert.equal((await server.stop()).code, 0);
      }
    },
    { deadline: 30_000 },
  );
}

test(
  "Unix: listening in a directory that does not exist says so, not that no server runs",
  async () => {
    await using tmp = await tempDir();
    const dir = `${tmp.dir}/missing`;
    const path = `${dir}/g.sock`;
    assert.equal(
      await tryUnix("listen", path, unixGrants(path)),
      `SocketError: Cannot listen on ${path}: the directory ${dir} does not exist (create it first)`,
    );
    assert.equal(
      await tryUnix("datagram", path, unixGrants(path)),
      `SocketError: Cannot listen for datagrams on ${path}: the directory ${dir} does not exist (create it first)`,
    );
    // Connecting still says what a missing file means there.
    assert.equal(
      await tryUnix("connect", path, unixGrants(path)),
      `SocketError: Cannot connect to ${path}: no such socket file (is the server running?)`,
    );
  },
  { deadline: 30_000 },
);

test(
  "Unix: a relative socket path is a TypeError that says it must be absolute",
  async () => {
    for (const what of ["listen", "connect", "datagram"]) {
      assert.equal(
        await tryUnix(what, "relative.sock", []),
        "TypeError: Cannot use path relative.sock: a socket path must be absolute (start with /), as Deno's --allow-net=unix:PATH grant takes only absolute paths",
      );
    }
  },
  { deadline: 30_000 },
);

test(
  "Unix: directory grants serve for reading and writing; the net grant names the file",
  async () => {
    await using tmp = await tempDir();
    const path = `${tmp.dir}/g.sock`;
    const grants = [
      `--allow-read=${tmp.dir}`,
      `--allow-write=${tmp.dir}`,
      `--allow-net=unix:${path}`,
    ];
    assert.equal(await tryUnix("listen", path, grants), "ok");
    assert.equal(exists(path), false);
  },
  { deadline: 30_000 },
);

test(
  "Unix: socat gets 3 for `1 2 ` from the sum server example on a socket path",
  async () => {
    await using tmp = await tempDir();
    const path = `${tmp.dir}/sum.sock`;
    const server = startExample(
      "sum_server",
      ["--unix", path],
      unixGrants(path),
    );
    await using _ = server;
    await server.waitForLine(new RegExp(`^listening on ${path}$`));
    const child = new Deno.Command("socat", {
      args: ["-t", "5", "-", `UNIX-CONNECT:${path}`],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("1 2 "));
    await writer.close();
    const { code, stdout, stderr } = await child.output();
    assert.equal(new TextDecoder().decode(stderr), "");
    assert.equal(new TextDecoder().decode(stdout), "3");
    assert.equal(code, 0);
    const stopped = await server.stop();
    assert.equal(stopped.stderr, "");
    assert.equal(exists(path), false);
  },
  { ignore: !socatFound, deadline: 20_000 },
);

test(
  "Unix: a crashed sum server's socket file does not stop the next one",
  async () => {
    await using tmp = await tempDir();
    const path = `${tmp.dir}/sum.sock`;
    const first = startExample(
      "sum_server",
      ["--unix", path],
      unixGrants(path),
    );
    await first.waitForLine(/^listening on /);
    first.kill("SIGKILL");
    await first.finish();
    assert.equal(Deno.lstatSync(path).isSocket, true);
    const second = startExample(
      "sum_server",
      ["--unix", path],
      unixGrants(path),
    );
    await using _ = second;
    await second.waitForLine(/^listening on /);
    const sum = await runExample(
      "sum_client",
      ["--unix", path, "1", "3"],
      unixGrants(path),
    );
    assert.equal(sum.stdout, "4\n");
    assert.equal(sum.code, 0);
    // A third one finds the second alive and says so in one line.
    const third = await runExample(
      "sum_server",
      ["--unix", path],
      unixGrants(path),
    );
    assert.equal(third.code, 1);
    assert.equal(
      third.stderr.trim(),
      `error: Cannot listen on ${path}: a running program's socket is bound there (stop it first, or choose another path)`,
    );
    const missing = await runExample("sum_client", ["--unix", path, "1", "3"], [
      `--allow-read=${path}`,
    ]);
    assert.equal(missing.code, 1);
    assert.equal(
      missing.stderr.trim(),
      `error: Cannot connect to ${path}: permission denied, run again with ${
        unixGrants(path).join(" ")
      }`,
    );
    assert.equal((await second.stop()).stderr, "");
  },
  { deadline: 30_000 },
);
