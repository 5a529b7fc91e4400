// `sock` at its edges: a second listener's check of a socket path, a
// listener stopped by a signal, a closed stdout, a plain connection to a
// TLS server, and a Deno too old for it.
import assert from "node:assert/strict";
import { connect, listen, serve } from "../mod.ts";
import { tooOldDeno } from "../cli/version.ts";
import { haveOpenssl } from "./_certs.ts";
import { canRun, test } from "./_helpers.ts";
import { CLI_PATH, errorLines, SockProcess } from "./_sock.ts";
import { sockCommand, Terminals } from "./_terminals.ts";

const SLOW = { deadline: 40_000 };
const MAKE_CERTS = new URL("../tools/make_certs.sh", import.meta.url).pathname;

const unixGrants = (path: string) => [
  `--allow-read=${path}`,
  `--allow-write=${path}`,
  `--allow-net=unix:${path}`,
];

async function tempDir(): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "sock-edges-" });
  return {
    dir,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

test(
  "a second sock listen --unix P fails in one line and the first still serves its client on P",
  async () => {
    await using tmp = await tempDir();
    const path = `${tmp.dir}/one.sock`;
    await using first = new SockProcess(unixGrants(path), [
      "listen",
      "--unix",
      path,
    ]);
    await first.waitFor(/listening on /, "stderr");
    await using second = new SockProcess(unixGrants(path), [
      "listen",
      "--unix",
      path,
    ]);
    const refused = await second.finish();
    assert.equal(refused.code, 1);
    assert.match(
      errorLines(refused.stderr).join("\n"),
      /^error: Cannot listen on .*one\.sock: a running program's socket is bound there/,
    );
    assert.equal((await Deno.lstat(path)).isSocket, true);
    assert.doesNotMatch(first.stderr, /connection from/);
    await using client = new SockProcess(unixGrants(path), [
      "connect",
      "--unix",
      path,
    ]);
    await client.type("after the check\n");
    await first.waitFor(/after the check\n/);
    await first.type("to the client\n");
    await client.waitFor(/to the client\n/);
    await client.endInput();
    await first.endInput();
    const [f, c] = await Promise.all([first.finish(), client.finish()]);
    assert.deepEqual([f.code, f.stdout], [0, "after the check\n"]);
    assert.deepEqual([c.code, c.stdout], [0, "to the client\n"]);
  },
  SLOW,
);

test(
  "a second listener's check does not take the file piped into the first: the real client gets it",
  async () => {
    await using tmp = await tempDir();
    const path = `${tmp.dir}/file.sock`;
    await using first = new SockProcess(unixGrants(path), [
      "listen",
      "--unix",
      path,
    ]);
    await first.waitFor(/listening on /, "stderr");
    await first.type("the whole file\n");
    await first.endInput();
    await using second = new SockProcess(unixGrants(path), [
      "listen",
      "--unix",
      path,
    ]);
    assert.equal((await second.finish()).code, 1);
    await using client = new SockProcess(unixGrants(path), [
      "connect",
      "--unix",
      path,
    ]);
    const c = await client.finish();
    assert.deepEqual([c.code, c.stdout], [0, "the whole file\n"]);
    assert.equal((await first.finish()).code, 0);
  },
  SLOW,
);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(
    `sock listen --unix P stopped by ${signal} removes P, waiting or connected`,
    async () => {
      await using tmp = await tempDir();
      const path = `${tmp.dir}/stop.sock`;
      for (const connected of [false, true]) {
        await using sock = new SockProcess(unixGrants(path), [
          "listen",
          "--keep-open",
          "--unix",
          path,
        ]);
        await sock.waitFor(/listening on /, "stderr");
        assert.equal((await Deno.lstat(path)).isSocket, true);
        await using client = connected
          ? new SockProcess(unixGrants(path), ["connect", "--unix", path])
          : undefined;
        if (client) {
          await client.type("hi\n");
          await sock.waitFor(/hi\n/);
        }
        sock.kill(signal);
        assert.equal((await sock.finish()).code, 0);
        await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
      }
    },
    SLOW,
  );
}

const haveTmux = await canRun("tmux", ["-V"]);

test(
  "in a terminal, Ctrl-C on sock listen --unix P removes P",
  async () => {
    await using tmp = await tempDir();
    const path = `${tmp.dir}/ctrl-c.sock`;
    await using terminals = await Terminals.start();
    await terminals.open(
      "listen",
      sockCommand(unixGrants(path), ["listen", "--unix", path]),
    );
    await terminals.waitFor("listen", /listening on /);
    assert.equal((await Deno.lstat(path)).isSocket, true);
    await terminals.press("listen", "C-c");
    await terminals.waitFor("listen", /\[exit 0\]$/m);
    await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
  },
  { deadline: 45_000, ignore: !haveTmux },
);

test(
  "sock connect … | head -c 100 ends quietly when head has its bytes",
  async () => {
    await using server = serve(async (socket) => {
      const chunk = new Uint8Array(64 * 1024).fill(0x61);
      try {
        for (let i = 0; i < 1000; i++) await socket.write(chunk);
        await socket.flush();
      } catch {
        // sock went away: that is the test.
      }
    }, { port: 0 });
    const sock = sockCommand([`--allow-net=127.0.0.1:${server.port}`], [
      "connect",
      "127.0.0.1",
      String(server.port),
    ]);
    const { stdout, stderr } = await new Deno.Command("bash", {
      args: [
        "-c",
        `${sock} < /dev/null | head -c 100 > /dev/null; echo "status \${PIPESTATUS[0]}"`,
      ],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const text = new TextDecoder();
    assert.equal(text.decode(stdout), "status 0\n");
    assert.deepEqual(errorLines(text.decode(stderr)), []);
  },
  SLOW,
);

test(
  "sock listen -k … | head -c 10 ends quietly too, once head has its bytes",
  async () => {
    await using tmp = await tempDir();
    const sock = sockCommand(["--allow-net=127.0.0.1:0"], [
      "listen",
      "-k",
      "0",
    ]);
    const shell = new Deno.Command("bash", {
      args: [
        "-c",
        `${sock} < /dev/null 2> "${tmp.dir}/err" | head -c 10 > /dev/null; echo "status \${PIPESTATUS[0]}"`,
      ],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const output = shell.output();
    let port: number | undefined;
    for (let i = 0; port === undefined && i < 400; i++) {
      const err = await Deno.readTextFile(`${tmp.dir}/err`).catch(() => "");
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
      if (match) port = Number(match[1]);
      else await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.ok(port, "sock listened");
    await using client = await connect({ port, timeout: 5000 });
    const chunk = new Uint8Array(64 * 1024).fill(0x62);
    try {
      for (let i = 0; i < 64; i++) await client.write(chunk);
      await client.flush();
    } catch {
      // sock went away: that is the test.
    }
    const { stdout } = await output;
    assert.equal(new TextDecoder().decode(stdout), "status 0\n");
    const err = await Deno.readTextFile(`${tmp.dir}/err`);
    assert.deepEqual(
      errorLines(err).filter((line) => line.startsWith("error")),
      [],
    );
  },
  SLOW,
);

const opensslFound = await haveOpenssl();

test(
  "sock connect without --tls to a TLS server says to add --tls, exit 1",
  async () => {
    await using tmp = await tempDir();
    const made = await new Deno.Command("sh", {
      args: [MAKE_CERTS, tmp.dir],
      stdout: "null",
      stderr: "null",
    }).output();
    assert.ok(made.success);
    using listener = listen({
      port: 0,
      tls: {
        cert: await Deno.readTextFile(`${tmp.dir}/server.crt`),
        key: await Deno.readTextFile(`${tmp.dir}/server.key`),
      },
    });
    const accepting = listener.accept().then(async (socket) => {
      await socket.handshake().catch(() => {});
      await socket.close({ abort: true });
    });
    await using sock = new SockProcess(
      [`--allow-net=127.0.0.1:${listener.port}`],
      ["connect", "127.0.0.1", String(listener.port)],
    );
    await sock.type("hello\n");
    const result = await sock.finish();
    await accepting;
    assert.equal(result.stdout, "");
    assert.deepEqual([result.code, errorLines(result.stderr)], [1, [
      `error: 127.0.0.1:${listener.port} looks like a TLS server: add --tls (and --ca-cert FILE for a private CA)`,
    ]]);
  },
  { ...SLOW, ignore: !opensslFound },
);

test("an older Deno than 2.9.6 is one line naming the version to get", () => {
  assert.equal(tooOldDeno("2.9.6"), undefined);
  assert.equal(tooOldDeno("2.10.0"), undefined);
  assert.equal(tooOldDeno("3.0.0"), undefined);
  assert.equal(tooOldDeno("2.9.7-rc.1"), undefined);
  for (const old of ["2.4.0", "2.9.5", "1.46.3"]) {
    assert.equal(
      tooOldDeno(old),
      `sock needs Deno 2.9.6 or later, and this is Deno ${old}: upgrade with deno upgrade (or npm install -g deno@2.9.6)`,
    );
  }
});

test("sock on this Deno says nothing about its version", async () => {
  await using sock = new SockProcess([], ["connect", "--help"]);
  const result = await sock.finish();
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^usage: sock/);
  assert.doesNotMatch(result.stderr, /needs Deno/);
});

// An older Deno to run sock with, when one is at hand (e.g. from
// `npm install deno@2.4`): SOCK_OLD_DENO=/path/to/deno.
const oldDeno = Deno.env.get("SOCK_OLD_DENO");

test(
  "sock run by an older Deno says so in one line, exit 1",
  async () => {
    // Its own cache: an older Deno's files stay out of this one's.
    await using cache = await tempDir();
    const { code, stdout, stderr } = await new Deno.Command(oldDeno!, {
      args: ["run", "--allow-net=127.0.0.1:0", CLI_PATH, "listen", "0"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", DENO_DIR: cache.dir },
    }).output();
    const text = new TextDecoder();
    const version = /^deno (\S+)/.exec(
      text.decode(
        (await new Deno.Command(oldDeno!, { args: ["--version"] }).output())
          .stdout,
      ),
    )?.[1];
    assert.deepEqual([
      code,
      text.decode(stdout),
      errorLines(text.decode(stderr)),
    ], [
      1,
      "",
      [
        `error: sock needs Deno 2.9.6 or later, and this is Deno ${version}: upgrade with deno upgrade (or npm install -g deno@2.9.6)`,
      ],
    ]);
  },
  { ...SLOW, ignore: oldDeno === undefined },
);
