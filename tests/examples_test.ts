// Every example run as a user runs it: a separate process with exactly the
// flags of its shebang line, then with a narrower grant.
import assert from "node:assert/strict";
import {
  runExample,
  type RunResult,
  shebangFlags,
  startExample,
} from "../tools/examples.ts";

/** Asserts a run failed the way a user mistake must: exit 1, one line on stderr, no stack trace. */
function assertOneLineError(result: RunResult, pattern: RegExp): void {
  assert.equal(result.code, 1, `exit code; stderr: ${result.stderr}`);
  const lines = result.stderr.trimEnd().split("\n").filter((line) =>
    !line.startsWith("usage: ")
  );
  assert.equal(lines.length, 1, `one line on stderr, got: ${result.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(result.stderr, /^\s+at /m, "no stack trace");
}

Deno.test("passive_socket and active_socket talk with their shebang grants", async () => {
  await using passive = startExample("passive_socket");
  const port = await passive.listening();
  const active = await runExample("active_socket", ["--port", String(port)]);
  assert.equal(active.stdout, "BYE\n");
  assert.equal(active.code, 0);
  const done = await passive.finish();
  assert.equal(done.code, 0);
  assert.equal(done.stdout, `listening on 127.0.0.1:${port}\nHELLO\n`);
});

Deno.test("hello_server --once greets hello_client with their shebang grants", async () => {
  await using server = startExample("hello_server", ["--once"]);
  assert.equal(await server.listening(), 12321);
  const client = await runExample("hello_client");
  assert.deepEqual([client.code, client.stdout], [
    0,
    "Input is: Hello World\n",
  ]);
  const done = await server.finish();
  assert.equal(done.code, 0);
  assert.match(
    done.stdout,
    /^listening on 127\.0\.0\.1:12321\nsaid hello to 127\.0\.0\.1:\d+\n$/,
  );
});

Deno.test("sum_server answers the tutorial's three calls from sum_client and stops on SIGTERM", async () => {
  await using server = startExample("sum_server");
  assert.equal(await server.listening(), 9231);
  const calls: [string, string, string][] = [
    ["1", "3", "4"],
    ["1.234", "3.23423", "4.4682302"],
    ["3", "#C(0.0 1.0)", "#C(3.0 1.0)"],
    ["-5", "1/3", "-14/3"],
    ["#C(1.0 -0.0)", "1", "#C(2.0 0.0)"],
  ];
  for (const [a, b, sum] of calls) {
    const result = await runExample("sum_client", [a, b]);
    assert.deepEqual([result.code, result.stdout, result.stderr], [
      0,
      `${sum}\n`,
      "",
    ], `${a} + ${b}`);
  }
  const refused = await runExample("sum_client", ["3.0e38", "3.0e38"]);
  assertOneLineError(refused, /^error: the server refused: .*too large/);
  const done = await server.stop();
  assert.equal(done.code, 0, done.stderr);
  assert.equal(done.stderr, "");
});

Deno.test("udp_reverse_server --once answers udp_reverse_client with their shebang grants", async () => {
  await using server = startExample("udp_reverse_server", ["--once"]);
  assert.equal(await server.listening(), 12321);
  const client = await runExample("udp_reverse_client");
  assert.deepEqual([client.code, client.stdout], [0, "#(8 7 6 5 4 3 2 1)\n"]);
  const done = await server.finish();
  assert.equal(done.code, 0);
  assert.equal(
    done.stdout,
    "listening on 127.0.0.1:12321\n#(1 2 3 4 5 6 7 8)\n",
  );
});

Deno.test("udp_reverse_client sends the bytes it is given", async () => {
  await using server = startExample("udp_reverse_server", [
    "--once",
    "--quiet",
  ]);
  await server.listening();
  const client = await runExample("udp_reverse_client", ["10", "20", "255"]);
  assert.equal(client.stdout, "#(255 20 10)\n");
  assert.equal((await server.finish()).code, 0);
});

Deno.test("server examples stop cleanly on SIGTERM and SIGINT", async (t) => {
  for (
    const [name, signal] of [["hello_server", "SIGINT"], [
      "udp_reverse_server",
      "SIGTERM",
    ], ["sum_server", "SIGINT"]] as const
  ) {
    await t.step(`${name} on ${signal}`, async () => {
      await using server = startExample(name);
      await server.listening();
      server.kill(signal);
      const done = await server.finish();
      assert.deepEqual([done.code, done.stderr], [0, ""]);
    });
  }
});

Deno.test("clients report a refused connection or a missing reply in one line", async (t) => {
  const cases: [string, string[], RegExp][] = [
    [
      "hello_client",
      [],
      /^error: Cannot connect to 127\.0\.0\.1:12321: connection refused/,
    ],
    [
      "sum_client",
      ["1", "2"],
      /^error: Cannot connect to localhost:9231: connection refused/,
    ],
    [
      "active_socket",
      ["--port", "12321"],
      /^error: Cannot connect to localhost:12321: connection refused/,
    ],
    [
      "udp_reverse_client",
      ["--tries", "1", "--timeout", "100"],
      /^error: no reply from 127\.0\.0\.1:12321 after 1 tries/,
    ],
  ];
  for (const [name, args, pattern] of cases) {
    await t.step(
      name,
      async () => assertOneLineError(await runExample(name, args), pattern),
    );
  }
});

Deno.test("examples report bad arguments in one line", async (t) => {
  const cases: [string, string[], RegExp][] = [
    [
      "hello_server",
      ["--port", "70000"],
      /--port must be a whole number from 0 to 65535/,
    ],
    ["hello_client", ["--bogus"], /Unknown option '--bogus'/],
    ["sum_client", ["1", "foo"], /"foo" is not a number \(it reads as FOO\)/],
    ["sum_client", ["1"], /expected two numbers, got 1/],
    ["sum_client", ["#.(quit)", "1"], /"#\.\(quit\)" is not Lisp syntax/],
    ["active_socket", [], /--port is required/],
    [
      "udp_reverse_client",
      ["256"],
      /each BYTE must be a whole number from 0 to 255/,
    ],
  ];
  for (const [name, args, pattern] of cases) {
    await t.step(
      `${name} ${args.join(" ")}`,
      async () => assertOneLineError(await runExample(name, args), pattern),
    );
  }
});

Deno.test("every example with a narrower grant says which flag to add", async (t) => {
  const cases: [string, string[], string[], string][] = [
    ["passive_socket", [], [], "--allow-net=127.0.0.1:0"],
    [
      "passive_socket",
      [],
      ["--allow-net=127.0.0.1:9999"],
      "--allow-net=127.0.0.1:0",
    ],
    [
      "active_socket",
      ["--port", "9"],
      ["--allow-net=127.0.0.1"],
      "--allow-net=localhost:9",
    ],
    [
      "hello_server",
      [],
      ["--allow-net=localhost:12321"],
      "--allow-net=127.0.0.1:12321",
    ],
    [
      "hello_client",
      [],
      ["--allow-net=127.0.0.1:12322"],
      "--allow-net=127.0.0.1:12321",
    ],
    ["sum_server", [], [], "--allow-net=127.0.0.1:9231"],
    [
      "sum_client",
      ["1", "2"],
      ["--allow-net=127.0.0.1:9231"],
      "--allow-net=localhost:9231",
    ],
    ["udp_reverse_server", [], ["--unstable-net"], "--allow-net=127.0.0.1"],
    [
      "udp_reverse_server",
      [],
      ["--unstable-net", "--allow-net=127.0.0.1:12321"],
      "--allow-net=127.0.0.1",
    ],
    [
      "udp_reverse_client",
      [],
      ["--unstable-net", "--allow-net=127.0.0.1:0"],
      "--allow-net=127.0.0.1:12321",
    ],
    ["udp_reverse_client", [], [
      "--unstable-net",
      "--allow-net=127.0.0.1:12321",
    ], "--allow-net=127.0.0.1:0"],
  ];
  for (const [name, args, flags, wanted] of cases) {
    await t.step(`${name} with ${flags.join(" ") || "no grant"}`, async () => {
      const result = await runExample(name, args, flags);
      assertOneLineError(
        result,
        new RegExp(
          `permission denied, run again with ${wanted.replaceAll(".", "\\.")}$`,
        ),
      );
    });
  }
});

Deno.test("the UDP examples without --unstable-net say to add it", async () => {
  const flags = shebangFlags("udp_reverse_server").filter((flag) =>
    flag !== "--unstable-net"
  );
  const result = await runExample("udp_reverse_server", [], [
    "--no-config",
    ...flags,
  ]);
  assertOneLineError(result, /run again with --unstable-net$/);
});

Deno.test("every example's shebang names hosts and ports, never a bare --allow-net", () => {
  for (
    const entry of Deno.readDirSync(new URL("../examples/", import.meta.url))
  ) {
    if (!entry.name.endsWith(".ts") || entry.name.startsWith("_")) continue;
    const flags = shebangFlags(entry.name.slice(0, -3));
    const net = flags.filter((flag) => flag.startsWith("--allow-net"));
    assert.equal(net.length, 1, entry.name);
    assert.match(net[0]!, /^--allow-net=[\w.:,]+$/, entry.name);
    assert.deepEqual(
      flags.filter((flag) => !/^--(allow-net=|unstable-net$)/.test(flag)),
      [],
      entry.name,
    );
  }
});
