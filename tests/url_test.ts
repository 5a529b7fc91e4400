// The examples run by URL, as a user runs one they found online: the
// repository is served over HTTP on 127.0.0.1 and each program is started
// from its http URL with its shebang flags. Servers listen on a port the OS
// chooses, and each client's grant names that port instead of the default.
import assert from "node:assert/strict";
import {
  flagsWithPort,
  runExample,
  type RunningExample,
  startExample,
  useSource,
} from "../tools/examples.ts";
import { test } from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url);

let served = 0;

/** Starts a server example on a port the OS chooses; returns it and the port. */
async function startOnAnyPort(
  name: string,
  args: string[] = [],
): Promise<[RunningExample, number]> {
  const server = startExample(
    name,
    ["--port", "0", ...args],
    flagsWithPort(name, 0),
  );
  return [server, await server.listening()];
}

/** Runs a client example against `port`, with its grant narrowed to that port. */
function runAgainst(name: string, port: number, args: string[] = []) {
  return runExample(
    name,
    ["--port", String(port), ...args],
    flagsWithPort(name, port),
  );
}

function serveRepository(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      served++;
      const path = decodeURIComponent(new URL(request.url).pathname);
      if (path.includes("..") || !/^\/(mod\.ts|lib\/|examples\/)/.test(path)) {
        return new Response("not found", { status: 404 });
      }
      try {
        const body = await Deno.readFile(new URL(`.${path}`, ROOT));
        return new Response(body, {
          headers: { "content-type": "application/typescript" },
        });
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  );
}

test("the examples run by URL with their documented flags", async (t) => {
  const http = serveRepository();
  // Outside the repository, so no deno.json or lock file applies: as for a stranger.
  useSource({ base: `http://127.0.0.1:${http.addr.port}/`, cwd: "/" });
  try {
    await t.step("hello_server and hello_client", async () => {
      const [server, port] = await startOnAnyPort("hello_server", ["--once"]);
      await using _server = server;
      const client = await runAgainst("hello_client", port);
      assert.deepEqual([client.code, client.stdout], [
        0,
        "Input is: Hello World\n",
      ], client.stderr);
      assert.equal((await server.finish()).code, 0);
    });
    await t.step("sum_server and sum_client", async () => {
      const [server, port] = await startOnAnyPort("sum_server");
      await using _server = server;
      const client = await runAgainst("sum_client", port, [
        "3",
        "#C(0.0 1.0)",
      ]);
      assert.deepEqual(
        [client.code, client.stdout],
        [0, "#C(3.0 1.0)\n"],
        client.stderr,
      );
      assert.equal((await server.stop()).code, 0);
    });
    await t.step("passive_socket and active_socket", async () => {
      await using passive = startExample("passive_socket");
      const port = await passive.listening();
      const active = await runExample("active_socket", [
        "--port",
        String(port),
      ]);
      assert.deepEqual(
        [active.code, active.stdout],
        [0, "BYE\n"],
        active.stderr,
      );
      assert.equal((await passive.finish()).stdout.endsWith("HELLO\n"), true);
    });
    await t.step(
      "udp_reverse_server and udp_reverse_client (--unstable-net from the shebang)",
      async () => {
        const [server, port] = await startOnAnyPort("udp_reverse_server", [
          "--once",
        ]);
        await using _server = server;
        const client = await runAgainst("udp_reverse_client", port);
        assert.deepEqual([client.code, client.stdout], [
          0,
          "#(8 7 6 5 4 3 2 1)\n",
        ], client.stderr);
        assert.equal((await server.finish()).code, 0);
      },
    );
    await t.step(
      "a narrower grant by URL still names the flag to add",
      async () => {
        const result = await runExample("hello_client", [], [
          "--allow-net=localhost:12321",
        ]);
        assert.equal(result.code, 1);
        assert.equal(
          result.stderr,
          "error: Cannot connect to 127.0.0.1:12321: permission denied, run again with --allow-net=127.0.0.1:12321\n",
        );
      },
    );
    assert.ok(
      served >= 8,
      `the programs were fetched over HTTP (${served} requests)`,
    );
  } finally {
    useSource({});
    await http.shutdown();
  }
});
