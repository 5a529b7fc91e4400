// The example pairs over TLS and over a Unix domain socket, run as a user
// would with the grants their module docs give, and their one-line errors.
import assert from "node:assert/strict";
import { runExample, runToEnd, startExample } from "../tools/examples.ts";
import { haveOpenssl } from "./_certs.ts";
import { test } from "./_helpers.ts";

const MAKE_CERTS = new URL("../tools/make_certs.sh", import.meta.url).pathname;
const opensslFound = await haveOpenssl();
if (!opensslFound) {
  console.log("example TLS tests skipped: openssl not found");
}

/** A scratch directory with a CA and a localhost certificate from tools/make_certs.sh. */
async function scratch(): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "sock-examples-" });
  if (opensslFound) {
    const { success } = await new Deno.Command("sh", {
      args: [MAKE_CERTS, dir],
      stdout: "null",
      stderr: "null",
    }).output();
    assert.ok(success, "tools/make_certs.sh failed");
  }
  return {
    dir,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const PIPED = { stdin: "null", stdout: "piped", stderr: "piped" } as const;

const unixGrants = (path: string) => [
  `--allow-read=${path}`,
  `--allow-write=${path}`,
  `--allow-net=unix:${path}`,
];

test(
  "examples over TLS: the hello and sum pairs print what they print over TCP",
  async () => {
    await using tmp = await scratch();
    const [cert, key, ca] = ["server.crt", "server.key", "ca.crt"].map((f) =>
      `${tmp.dir}/${f}`
    ) as [string, string, string];
    const hello = startExample(
      "hello_server",
      ["--port", "0", "--once", "--tls-cert", cert, "--tls-key", key],
      ["--allow-net=127.0.0.1:0", `--allow-read=${cert},${key}`],
    );
    await using _hello = hello;
    const helloPort = await hello.listening();
    const greeted = await runExample(
      "hello_client",
      ["--port", String(helloPort), "--tls", "--ca-cert", ca],
      [`--allow-net=127.0.0.1:${helloPort}`, `--allow-read=${ca}`],
    );
    assert.equal(greeted.stdout, "Input is: Hello World\n");
    assert.equal(greeted.code, 0);
    const helloEnd = await hello.finish();
    assert.match(helloEnd.stdout, /said hello to 127\.0\.0\.1:\d+/);
    assert.equal(helloEnd.code, 0);

    const sum = startExample(
      "sum_server",
      ["--port", "0", "--tls-cert", cert, "--tls-key", key],
      ["--allow-net=127.0.0.1:0", `--allow-read=${cert},${key}`],
    );
    await using _sum = sum;
    const port = await sum.listening();
    const tlsFlags = [`--allow-net=localhost:${port}`, `--allow-read=${ca}`];
    const added = await runExample(
      "sum_client",
      ["--port", String(port), "--tls", "--ca-cert", ca, "3", "#C(0.0 1.0)"],
      tlsFlags,
    );
    assert.equal(added.stdout, "#C(3.0 1.0)\n");
    assert.equal(added.code, 0);

    // One line each for the mistakes a user makes.
    const plain = await runExample("sum_client", [
      "--port",
      String(port),
      "1",
      "2",
    ], [
      `--allow-net=localhost:${port}`,
    ]);
    assert.equal(plain.code, 1);
    assert.equal(
      plain.stderr,
      "error: the server speaks TLS and refused this plain connection: run again with --tls\n",
    );
    const untrusted = await runExample(
      "sum_client",
      ["--port", String(port), "--tls", "1", "2"],
      [`--allow-net=localhost:${port}`],
    );
    assert.equal(untrusted.code, 1);
    assert.equal(
      untrusted.stderr,
      `error: Cannot connect to localhost:${port} over TLS: the peer's certificate is not signed by a CA this side trusts (give the CA's certificate with --ca-cert FILE)\n`,
    );
    const untrustedHello = await runExample(
      "hello_client",
      ["--port", String(port), "--tls"],
      [`--allow-net=127.0.0.1:${port}`],
    );
    assert.equal(untrustedHello.code, 1);
    assert.match(
      untrustedHello.stderr,
      /^error: .*not signed by a CA this side trusts \(give the CA's certificate with --ca-cert FILE\)\n$/,
    );
    const noGrant = await runExample(
      "sum_client",
      ["--port", String(port), "--ca-cert", ca, "1", "2"],
      [`--allow-net=localhost:${port}`],
    );
    assert.equal(noGrant.code, 1);
    assert.equal(
      noGrant.stderr,
      `error: cannot read --ca-cert ${ca}: permission denied, run again with --allow-read=${ca}\n`,
    );
    const stopped = await sum.stop();
    assert.equal(stopped.code, 0);
    // The plain client and the one that refused the certificate: one line each.
    const lines = stopped.stderr.trim().split("\n");
    assert.equal(lines.length, 3, stopped.stderr);
    assert.match(
      lines[0]!,
      /^TLS on 127\.0\.0\.1:\d+: Cannot complete the TLS handshake with 127\.0\.0\.1:\d+: the peer sent bytes that are not TLS/,
    );
    assert.match(lines[1]!, /the peer does not trust this side's certificate/);
    assert.match(lines[2]!, /the peer does not trust this side's certificate/);
  },
  { ignore: !opensslFound, deadline: 30_000 },
);

test("examples over a Unix socket: the hello and sum pairs", async () => {
  await using tmp = await scratch();
  const path = `${tmp.dir}/ex.sock`;
  const hello = startExample(
    "hello_server",
    ["--unix", path, "--once"],
    unixGrants(path),
  );
  await using _hello = hello;
  await hello.waitForLine(new RegExp(`^listening on ${path}$`));
  const greeted = await runExample(
    "hello_client",
    ["--unix", path],
    unixGrants(path),
  );
  assert.equal(greeted.stdout, "Input is: Hello World\n");
  assert.equal(greeted.code, 0);
  const helloEnd = await hello.finish();
  assert.match(
    helloEnd.stdout,
    new RegExp(`said hello to a client of ${path}`),
  );
  assert.equal(helloEnd.code, 0);

  const sum = startExample("sum_server", ["--unix", path], unixGrants(path));
  await using _sum = sum;
  await sum.waitForLine(/^listening on /);
  const added = await runExample(
    "sum_client",
    ["--unix", path, "1.234", "3.23423"],
    unixGrants(path),
  );
  assert.equal(added.stdout, "4.4682302\n");
  assert.equal(added.code, 0);
  assert.equal((await sum.stop()).stderr, "");
}, { deadline: 30_000 });

test(
  "examples: the TLS and Unix flags' misuse is one line, exit 2",
  async () => {
    for (
      const [name, args, message] of [
        [
          "sum_server",
          ["--tls-cert", "a.crt"],
          "--tls-cert and --tls-key go together",
        ],
        [
          "sum_server",
          ["--unix", "/tmp/x.sock", "--port", "1"],
          "--unix cannot go with --host or --port",
        ],
        [
          "sum_client",
          ["--unix", "/tmp/x.sock", "--host", "h", "1", "2"],
          "--unix cannot go with --host or --port",
        ],
        ["hello_client", ["--unix", ""], "--unix needs a socket path"],
        ["sum_server", [
          "--tls-cert",
          "/nonexistent.crt",
          "--tls-key",
          "/nonexistent.key",
        ], "--tls-cert /nonexistent.crt: no such file"],
      ] as const
    ) {
      const result = await runExample(name, [...args], [
        "--allow-net=127.0.0.1:9231,localhost:9231",
        "--allow-read=/nonexistent.crt",
      ]);
      assert.equal(
        result.code,
        2,
        `${name} ${args.join(" ")}: ${result.stderr}`,
      );
      assert.equal(result.stderr, `error: ${message} (see --help)\n`);
    }
  },
  { deadline: 30_000 },
);

test(
  "tools/make_certs.sh DIR makes DIR when it does not exist",
  async () => {
    await using tmp = await scratch();
    const dir = `${tmp.dir}/not/yet`;
    const made = await runToEnd(
      new Deno.Command("sh", { args: [MAKE_CERTS, dir], ...PIPED }),
      20_000,
    );
    assert.equal(made.code, 0, made.stderr);
    const verified = await runToEnd(
      new Deno.Command("openssl", {
        args: ["verify", "-CAfile", "ca.crt", "server.crt"],
        cwd: dir,
        ...PIPED,
      }),
      5_000,
    );
    assert.equal(verified.stdout, "server.crt: OK\n", verified.stderr);
    assert.ok((await Deno.stat(`${dir}/server.key`)).isFile);
  },
  { ignore: !opensslFound, deadline: 30_000 },
);
