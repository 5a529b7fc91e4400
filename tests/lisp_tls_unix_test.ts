// Interop with a Common Lisp peer over TLS (SBCL with cl+ssl's
// make-ssl-client-stream / make-ssl-server-stream) and over Unix domain
// sockets (SBCL's sb-bsd-sockets local sockets), against the sum examples.
// Skipped with one line when SBCL, usocket or cl+ssl is not installed.
import assert from "node:assert/strict";
import {
  runExample,
  RunningExample,
  type RunResult,
  runToEnd,
  startExample,
} from "../tools/examples.ts";
import { haveOpenssl } from "./_certs.ts";
import { test } from "./_helpers.ts";

const PEER = new URL("./peers/tls_unix_peer.lisp", import.meta.url).pathname;
const MAKE_CERTS = new URL("../tools/make_certs.sh", import.meta.url).pathname;

function peerCommand(role: string, args: string[]): Deno.Command {
  return new Deno.Command("sbcl", {
    args: ["--script", PEER, role, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

function runPeer(role: string, args: string[]): Promise<RunResult> {
  return runToEnd(peerCommand(role, args), 60_000);
}

/** Why the peer cannot run, or undefined; the first run compiles cl+ssl. */
async function peerMissing(): Promise<string | undefined> {
  if (!await haveOpenssl()) return "openssl not found";
  let result: RunResult;
  try {
    result = await runToEnd(peerCommand("probe", []), 120_000);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return "sbcl not found (apt-get install sbcl cl-usocket cl-plus-ssl)";
    }
    throw error;
  }
  if (result.code === 0 && / with cl\+ssl /.test(result.stdout)) {
    return undefined;
  }
  const said = `${result.stderr}\n${result.stdout}`.split("\n")
    .map((line) => line.trim()).filter((line) => line !== "").slice(-4);
  return `sbcl could not load usocket and cl+ssl (apt-get install cl-usocket cl-plus-ssl; exit ${result.code}): ${
    said.join(" | ")
  }`;
}

const missing = await peerMissing();
if (missing !== undefined) {
  console.log(`Lisp TLS and Unix interop tests skipped: ${missing}`);
}

/** A scratch directory with a CA and a localhost certificate. */
async function scratch(): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "sock-lisp-" });
  const { success } = await new Deno.Command("sh", {
    args: [MAKE_CERTS, dir],
    stdout: "null",
    stderr: "null",
  }).output();
  assert.ok(success, "tools/make_certs.sh failed");
  return {
    dir,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

function lispTest(name: string, fn: () => Promise<void>): void {
  test(name, fn, { ignore: missing !== undefined, deadline: 60_000 });
}

const unixGrants = (path: string) => [
  `--allow-read=${path}`,
  `--allow-write=${path}`,
  `--allow-net=unix:${path}`,
];

lispTest(
  "Lisp over TLS: make-ssl-client-stream gets 3 from sock's TLS sum server",
  async () => {
    await using tmp = await scratch();
    const cert = `${tmp.dir}/server.crt`;
    const key = `${tmp.dir}/server.key`;
    const server = startExample(
      "sum_server",
      ["--port", "0", "--tls-cert", cert, "--tls-key", key],
      ["--allow-net=127.0.0.1:0", `--allow-read=${cert},${key}`],
    );
    await using _ = server;
    const port = await server.listening();
    const result = await runPeer("tls-socket-sum", [
      "localhost",
      String(port),
      `${tmp.dir}/ca.crt`,
      "1",
      "2",
    ]);
    assert.equal(result.stderr, "");
    assert.equal(result.stdout, "3\n");
    assert.equal(result.code, 0);
    assert.equal((await server.stop()).stderr, "");
  },
);

lispTest(
  "Lisp over TLS: sock's sum client gets 3 from a make-ssl-server-stream server",
  async () => {
    await using tmp = await scratch();
    const ca = `${tmp.dir}/ca.crt`;
    const server = new RunningExample(
      peerCommand("tls-sum-server", [
        `${tmp.dir}/server.crt`,
        `${tmp.dir}/server.key`,
      ]).spawn(),
    );
    await using _ = server;
    const port = await server.listening();
    const result = await runExample(
      "sum_client",
      ["--port", String(port), "--ca-cert", ca, "1", "2"],
      [`--allow-net=localhost:${port}`, `--allow-read=${ca}`],
    );
    assert.equal(result.stderr, "");
    assert.equal(result.stdout, "3\n");
    assert.equal(result.code, 0);
    assert.equal((await server.finish()).code, 0);
  },
);

lispTest(
  "Lisp over a Unix socket: sb-bsd-sockets gets 3 from sock's sum server",
  async () => {
    await using tmp = await scratch();
    const path = `${tmp.dir}/sum.sock`;
    const server = startExample(
      "sum_server",
      ["--unix", path],
      unixGrants(path),
    );
    await using _ = server;
    await server.waitForLine(/^listening on /);
    const result = await runPeer("unix-socket-sum", [path, "1", "2"]);
    assert.equal(result.stderr, "");
    assert.equal(result.stdout, "3\n");
    assert.equal(result.code, 0);
    assert.equal((await server.stop()).stderr, "");
  },
);

lispTest(
  "Lisp over a Unix socket: sock's sum client gets 3 from an sb-bsd-sockets server",
  async () => {
    await using tmp = await scratch();
    const path = `${tmp.dir}/sum.sock`;
    const server = new RunningExample(
      peerCommand("unix-sum-server", [path]).spawn(),
    );
    await using _ = server;
    await server.waitForLine(/^listening on /);
    const result = await runExample(
      "sum_client",
      ["--unix", path, "1", "2"],
      unixGrants(path),
    );
    assert.equal(result.stderr, "");
    assert.equal(result.stdout, "3\n");
    assert.equal(result.code, 0);
    assert.equal((await server.finish()).code, 0);
  },
);
