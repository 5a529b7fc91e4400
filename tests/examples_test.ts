// Every example run as a user runs it: a separate process with exactly the
// flags of its shebang line, then with a narrower grant. Servers listen on
// port 0 (or a free port) so that nothing else on the machine matters; only
// the check of the default ports uses them, and a step whose port another
// program holds is ignored, with one line saying so.
import assert from "node:assert/strict";
import { connect, type Socket } from "../mod.ts";
import {
  flagsWithPort,
  freePort,
  portIsFree,
  runExample,
  type RunningExample,
  type RunResult,
  shebangFlags,
  startExample,
} from "../tools/examples.ts";
import { delay, testsWithDeadline } from "./_helpers.ts";

/** Bounded tests: each test starts example programs, so 30 s each. */
const test = testsWithDeadline(30_000);

/** The example names, from the files in examples/. */
const EXAMPLES = [
  "passive_socket",
  "active_socket",
  "hello_server",
  "hello_client",
  "sum_server",
  "sum_client",
  "udp_reverse_server",
  "udp_reverse_client",
  "workers",
];

/** The colours Deno puts on its own lines. */
// deno-lint-ignore no-control-regex
const COLOUR = /\x1b\[[0-9;]*m/g;

/** The program's lines on stderr: not Deno's own (a download, an experimental-feature warning). */
function programLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) =>
    line !== "" && !/^(Warning|Download)\b/.test(line.replace(COLOUR, ""))
  );
}

/** Asserts a run failed the way a user mistake must: one line on stderr, no stack trace, exit `code`. */
function assertOneLineError(
  result: RunResult,
  pattern: RegExp,
  code = 1,
): void {
  const lines = programLines(result.stderr);
  assert.equal(lines.length, 1, `one line on stderr, got: ${result.stderr}`);
  assert.doesNotMatch(result.stderr, /^ {4}at /m, "no stack trace");
  assert.match(lines[0]!, pattern);
  assert.equal(result.code, code, `exit code; stderr: ${result.stderr}`);
}

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
function runAgainst(
  name: string,
  port: number,
  args: string[] = [],
): Promise<RunResult> {
  return runExample(
    name,
    ["--port", String(port), ...args],
    flagsWithPort(name, port),
  );
}

/** Everything a socket receives until the peer closes, as text. */
async function readText(socket: Socket): Promise<string> {
  return new TextDecoder().decode(await socket.readAll({ timeout: 2000 }));
}

test("passive_socket and active_socket talk with their shebang grants", async () => {
  await using passive = startExample("passive_socket");
  const port = await passive.listening();
  const active = await runExample("active_socket", ["--port", String(port)]);
  assert.equal(active.stdout, "BYE\n");
  assert.equal(active.code, 0);
  const done = await passive.finish();
  assert.equal(done.code, 0);
  assert.equal(done.stdout, `listening on 127.0.0.1:${port}\nHELLO\n`);
});

test("hello_server --once greets hello_client", async () => {
  const [server, port] = await startOnAnyPort("hello_server", ["--once"]);
  await using _server = server;
  const client = await runAgainst("hello_client", port);
  assert.deepEqual([client.code, client.stdout], [
    0,
    "Input is: Hello World\n",
  ]);
  const done = await server.finish();
  assert.equal(done.code, 0);
  assert.match(
    done.stdout,
    /^listening on 127\.0\.0\.1:\d+\nsaid hello to 127\.0\.0\.1:\d+\nserved 1 client, 0 errors, 0 closed idle, 0 resets, 0 waits at the connection limit, 0 bytes in, 12 bytes out\n$/,
  );
});

test("sum_server answers the tutorial's three calls from sum_client and stops on SIGTERM", async () => {
  const [server, port] = await startOnAnyPort("sum_server");
  await using _server = server;
  const calls: [string, string, string][] = [
    ["1", "3", "4"],
    ["1.234", "3.23423", "4.4682302"],
    ["3", "#C(0.0 1.0)", "#C(3.0 1.0)"],
    ["-5", "1/3", "-14/3"],
    ["#C(1.0 -0.0)", "1", "#C(2.0 0.0)"],
  ];
  for (const [a, b, sum] of calls) {
    const result = await runAgainst("sum_client", port, [a, b]);
    assert.deepEqual([result.code, result.stdout, result.stderr], [
      0,
      `${sum}\n`,
      "",
    ], `${a} + ${b}`);
  }
  const dashes = await runAgainst("sum_client", port, ["--", "-1", "-2"]);
  assert.deepEqual([dashes.code, dashes.stdout], [0, "-3\n"], "after --");
  const refused = await runAgainst("sum_client", port, ["3.0e38", "3.0e38"]);
  assertOneLineError(refused, /^error: the server refused: .*too large/);
  const done = await server.stop();
  assert.equal(done.code, 0, done.stderr);
  assert.equal(done.stderr, "");
  assert.match(
    done.stdout,
    /\nserved 7 clients, 0 errors, 0 closed idle, 0 resets, 0 waits at the connection limit, \d+ bytes in, \d+ bytes out\n$/,
  );
});

test("sum_server on SIGTERM answers a begun request and tells an idle client it is shutting down", async () => {
  const [server, port] = await startOnAnyPort("sum_server");
  await using _server = server;
  await using idle = await connect({ port, timeout: 2000 });
  await using begun = await connect({ port, timeout: 2000 });
  await begun.write("1 ");
  await begun.flush();
  // Connections are accepted in order: once a later one is answered, both
  // of these have handlers waiting.
  await using probe = await connect({ port, timeout: 2000 });
  await probe.write("2 3 ");
  await probe.flush();
  assert.equal(await readText(probe), "5");
  server.kill("SIGTERM");
  assert.equal(
    await readText(idle),
    '(:ERROR "the server is shutting down")',
  );
  await begun.write("2 ");
  await begun.flush();
  assert.equal(await readText(begun), "3");
  const done = await server.finish();
  assert.deepEqual([done.code, done.stderr], [0, ""]);
});

test("udp_reverse_server --once answers udp_reverse_client", async () => {
  const [server, port] = await startOnAnyPort("udp_reverse_server", [
    "--once",
  ]);
  await using _server = server;
  const client = await runAgainst("udp_reverse_client", port);
  assert.deepEqual([client.code, client.stdout], [0, "#(8 7 6 5 4 3 2 1)\n"]);
  const done = await server.finish();
  assert.equal(done.code, 0);
  assert.equal(
    done.stdout,
    `listening on 127.0.0.1:${port}\n#(1 2 3 4 5 6 7 8)\nanswered 1 of 1 datagram, 0 errors, 0 dropped\n`,
  );
});

test("server examples with --quiet print no line per client or datagram", async () => {
  const [hello, helloPort] = await startOnAnyPort("hello_server", [
    "--once",
    "--quiet",
  ]);
  await using _hello = hello;
  const greeted = await runAgainst("hello_client", helloPort);
  assert.equal(greeted.stdout, "Input is: Hello World\n");
  const helloDone = await hello.finish();
  assert.deepEqual([helloDone.code, helloDone.stdout, helloDone.stderr], [
    0,
    `listening on 127.0.0.1:${helloPort}\nserved 1 client, 0 errors, 0 closed idle, 0 resets, 0 waits at the connection limit, 0 bytes in, 12 bytes out\n`,
    "",
  ]);

  const [sum, sumPort] = await startOnAnyPort("sum_server", ["--quiet"]);
  await using _sum = sum;
  const summed = await runAgainst("sum_client", sumPort, ["1", "3"]);
  assert.equal(summed.stdout, "4\n");
  const sumDone = await sum.stop();
  assert.deepEqual([sumDone.code, sumDone.stdout, sumDone.stderr], [
    0,
    `listening on 127.0.0.1:${sumPort}\nserved 1 client, 0 errors, 0 closed idle, 0 resets, 0 waits at the connection limit, 4 bytes in, 1 byte out\n`,
    "",
  ]);

  const [udp, udpPort] = await startOnAnyPort("udp_reverse_server", [
    "--once",
    "--quiet",
  ]);
  await using _udp = udp;
  const reversed = await runAgainst("udp_reverse_client", udpPort);
  assert.equal(reversed.stdout, "#(8 7 6 5 4 3 2 1)\n");
  const udpDone = await udp.finish();
  assert.deepEqual([udpDone.code, udpDone.stdout], [
    0,
    `listening on 127.0.0.1:${udpPort}\nanswered 1 of 1 datagram, 0 errors, 0 dropped\n`,
  ]);
});

test("server examples with --stats-every print their summary while they run, and refuse a bad period", async () => {
  const [sum, sumPort] = await startOnAnyPort("sum_server", [
    "--stats-every",
    "0.05",
  ]);
  await using _sum = sum;
  await sum.waitForLine(/^served 0 clients, 0 errors, /, 5000);
  const summed = await runAgainst("sum_client", sumPort, ["1", "3"]);
  assert.equal(summed.stdout, "4\n");
  await sum.waitForLine(
    /^served 1 client, 0 errors, .*, 4 bytes in, 1 byte out$/,
    5000,
  );
  assert.equal((await sum.stop()).code, 0);

  const [udp, udpPort] = await startOnAnyPort("udp_reverse_server", [
    "--quiet",
    "--stats-every",
    "0.05",
  ]);
  await using _udp = udp;
  await runAgainst("udp_reverse_client", udpPort);
  await udp.waitForLine(
    /^answered 1 of 1 datagram, 0 errors, 0 dropped$/,
    5000,
  );
  assert.equal((await udp.stop()).code, 0);

  for (const period of ["0", "soon", "100000"]) {
    const bad = await runExample("hello_server", [
      "--port",
      "0",
      "--stats-every",
      period,
    ], flagsWithPort("hello_server", 0));
    assertOneLineError(
      bad,
      /^error: Cannot use --stats-every .*: it must be a number of seconds above 0/,
      2,
    );
  }
});

test("udp_reverse_client sends the bytes it is given", async () => {
  const [server, port] = await startOnAnyPort("udp_reverse_server", [
    "--once",
    "--quiet",
  ]);
  await using _server = server;
  const client = await runAgainst("udp_reverse_client", port, [
    "10",
    "20",
    "255",
  ]);
  assert.equal(client.stdout, "#(255 20 10)\n");
  assert.equal((await server.finish()).code, 0);
});

test("udp_reverse_client with --host runs with the grant its doc gives", async (t) => {
  // The module doc: `localhost` stands for 127.0.0.1, so the grant is
  // 127.0.0.1:0,127.0.0.1:P; for ::1 it is [::1]:0,[::1]:P.
  const cases: [string, string, string][] = [
    ["127.0.0.1", "localhost", "127.0.0.1"],
    ["::1", "::1", "[::1]"],
  ];
  for (const [serverHost, clientHost, granted] of cases) {
    await t.step(`--host ${clientHost}`, async () => {
      await using server = startExample(
        "udp_reverse_server",
        ["--host", serverHost, "--port", "0", "--once", "--quiet"],
        ["--unstable-net", `--allow-net=${granted}`],
      );
      const port = await server.listening();
      const client = await runExample(
        "udp_reverse_client",
        ["--host", clientHost, "--port", String(port)],
        ["--unstable-net", `--allow-net=${granted}:0,${granted}:${port}`],
      );
      assert.deepEqual(
        [client.code, client.stdout],
        [0, "#(8 7 6 5 4 3 2 1)\n"],
        client.stderr,
      );
      const done = await server.finish();
      assert.equal(done.code, 0);
      assert.equal(
        done.stdout,
        `listening on ${
          serverHost.includes(":") ? `[${serverHost}]` : serverHost
        }:${port}\nanswered 1 of 1 datagram, 0 errors, 0 dropped\n`,
      );
    });
  }
});

test("the examples work with exactly their shebang flags on their default ports", async (t) => {
  /**
   * A step on a default port: ignored, with one line saying why, when
   * another program holds that port.
   */
  const onPort = async (
    transport: "tcp" | "udp",
    port: number,
    name: string,
    fn: () => Promise<void>,
  ) => {
    const busy = !portIsFree(transport, port);
    if (busy) {
      console.log(
        `ignored "${name}": ${transport.toUpperCase()} port ${port} is in use by another program`,
      );
    }
    await t.step({ name, ignore: busy, fn });
  };
  await onPort(
    "tcp",
    12321,
    "hello_server and hello_client on 12321",
    async () => {
      await using server = startExample("hello_server", ["--once"]);
      assert.equal(await server.listening(), 12321);
      const client = await runExample("hello_client");
      assert.deepEqual([client.code, client.stdout], [
        0,
        "Input is: Hello World\n",
      ], client.stderr);
      assert.equal((await server.finish()).code, 0);
    },
  );
  await onPort("tcp", 9231, "sum_server and sum_client on 9231", async () => {
    await using server = startExample("sum_server");
    assert.equal(await server.listening(), 9231);
    const client = await runExample("sum_client", ["1", "3"]);
    assert.deepEqual([client.code, client.stdout], [0, "4\n"], client.stderr);
    assert.equal((await server.stop()).code, 0);
  });
  await onPort(
    "udp",
    12321,
    "udp_reverse_server and udp_reverse_client on 12321",
    async () => {
      await using server = startExample("udp_reverse_server", ["--once"]);
      assert.equal(await server.listening(), 12321);
      const client = await runExample("udp_reverse_client");
      assert.deepEqual(
        [client.code, client.stdout],
        [0, "#(8 7 6 5 4 3 2 1)\n"],
        client.stderr,
      );
      assert.equal((await server.finish()).code, 0);
    },
  );
});

test("server examples stop cleanly on SIGTERM and SIGINT", async (t) => {
  for (
    const [name, signal] of [
      ["hello_server", "SIGINT"],
      ["udp_reverse_server", "SIGTERM"],
      ["sum_server", "SIGINT"],
    ] as const
  ) {
    await t.step(`${name} on ${signal}`, async () => {
      const [server] = await startOnAnyPort(name);
      await using _server = server;
      server.kill(signal);
      const done = await server.finish();
      assert.deepEqual([done.code, done.stderr], [0, ""]);
    });
  }
});

test("clients report a refused connection or a missing reply in one line", async (t) => {
  const tcp = freePort("tcp");
  const udp = freePort("udp");
  const cases: [string, number, string[], RegExp][] = [
    [
      "hello_client",
      tcp,
      [],
      new RegExp(`^error: Cannot connect to 127\\.0\\.0\\.1:${tcp}: .*refused`),
    ],
    [
      "sum_client",
      tcp,
      ["1", "2"],
      new RegExp(`^error: Cannot connect to localhost:${tcp}: .*refused`),
    ],
    [
      "active_socket",
      tcp,
      [],
      new RegExp(`^error: Cannot connect to localhost:${tcp}: .*refused`),
    ],
    [
      "udp_reverse_client",
      udp,
      ["--tries", "1", "--timeout", "100"],
      new RegExp(`^error: no reply from 127\\.0\\.0\\.1:${udp} after 1 try`),
    ],
  ];
  for (const [name, port, args, pattern] of cases) {
    await t.step(
      name,
      async () =>
        assertOneLineError(await runAgainst(name, port, args), pattern),
    );
  }
});

test("every example prints its usage for --help and -h, and exits 0", async () => {
  const runs = await Promise.all(
    EXAMPLES.flatMap((name) => [
      runExample(name, ["--help"]),
      runExample(name, ["-h"]),
    ]),
  );
  runs.forEach(({ code, stdout, stderr }, i) => {
    const name = EXAMPLES[i >> 1]!;
    assert.deepEqual(
      [code, programLines(stderr)],
      [0, []],
      `${name} ${i % 2 ? "-h" : "--help"}`,
    );
    assert.match(stdout, new RegExp(`^usage: ${name}\\.ts `), name);
    assert.match(stdout, /-h, --help/, name);
  });
});

/**
 * Wrong invocations across the examples: each is one line on stderr, no
 * stack trace, exit 2 for a mistake in the flags and 1 for anything else.
 * None of them reaches the network.
 */
const WRONG: [string, string[], RegExp, number][] = [
  ["passive_socket", ["--port", "70000"], /--port must be .* 0 to 65535/, 2],
  ["passive_socket", ["--port", "abc"], /--port must be .*not "abc"/, 2],
  ["passive_socket", ["--host", "bad host"], /--host must be a host name/, 2],
  ["passive_socket", ["--timeout", "0"], /--timeout must be .* from 1/, 2],
  ["passive_socket", ["--timeout", "soon"], /--timeout must be/, 2],
  ["passive_socket", ["extra"], /unexpected argument "extra"/, 2],
  ["active_socket", [], /--port is required/, 2],
  ["active_socket", ["--port", "0"], /--port must be .* 1 to 65535/, 2],
  ["active_socket", ["--port", "70000"], /--port must be .* 1 to 65535/, 2],
  ["active_socket", ["--port", "1", "--host", "bad host"], /--host must/, 2],
  ["active_socket", ["--port", "1", "--timeout", "1.5"], /--timeout must/, 2],
  ["active_socket", ["--port"], /^error: --port needs a value/, 2],
  ["hello_server", ["--port", "70000"], /--port must be .* 0 to 65535/, 2],
  ["hello_server", ["--port", "-1"], /^error: --port needs a value/, 2],
  ["hello_server", ["--once=yes"], /^error: --once takes no value/, 2],
  ["hello_server", ["--host", ""], /--host must be a host name/, 2],
  ["hello_client", ["--port", "0"], /--port must be .* 1 to 65535/, 2],
  ["hello_client", ["--timeout", "abc"], /--timeout must be/, 2],
  ["hello_client", ["--bogus"], /^error: unknown option --bogus/, 2],
  ["hello_client", ["--host", "bad host"], /--host must be a host name/, 2],
  ["hello_client", ["-x"], /^error: unknown option -x/, 2],
  ["sum_server", ["--idle-timeout", "0"], /--idle-timeout must be/, 2],
  ["sum_server", ["--max-connections", "lots"], /--max-connections must/, 2],
  ["sum_server", ["--port", "65536"], /--port must be .* 0 to 65535/, 2],
  ["sum_server", ["--host", "a..b"], /--host must be a host name/, 2],
  ["sum_client", ["abc"], /^error: "abc" is not a number/, 2],
  ["sum_client", ["abc", "1"], /^error: "abc" is not a number/, 2],
  ["sum_client", ["1"], /expected two numbers, got 1/, 2],
  ["sum_client", ["1", "2", "3"], /expected two numbers, got 3/, 2],
  ["sum_client", ["1", "foo"], /"foo" is not a number \(it reads as FOO\)/, 2],
  ["sum_client", ["#.(quit)", "1"], /"#\.\(quit\)" is not Lisp syntax/, 2],
  ["sum_client", ["--port", "0", "1", "2"], /--port must be .* 1 to/, 2],
  ["sum_client", ["--timeout", "x", "1", "2"], /--timeout must be/, 2],
  ["sum_client", ["--host", "bad host", "1", "2"], /--host must be/, 2],
  ["sum_client", ["--bogus", "1", "2"], /unknown option --bogus/, 2],
  ["sum_client", ["1", "2", "--port"], /^error: --port needs a value/, 2],
  ["sum_client", ["-x", "1"], /^error: "-x" is not a number/, 2],
  ["udp_reverse_server", ["--port", "70000"], /--port must be/, 2],
  ["udp_reverse_server", ["--quiet=1"], /--quiet takes no value/, 2],
  ["udp_reverse_server", ["--host", "bad host"], /--host must be/, 2],
  ["udp_reverse_server", ["x"], /unexpected argument "x"/, 2],
  ["udp_reverse_client", ["256"], /each BYTE must be .* 0 to 255/, 2],
  ["udp_reverse_client", ["--tries", "0"], /--tries must be .* 1 to 100/, 2],
  ["udp_reverse_client", ["--tries", "abc"], /--tries must be/, 2],
  ["udp_reverse_client", ["--timeout", "0"], /--timeout must be/, 2],
  ["udp_reverse_client", ["--port", "0"], /--port must be .* 1 to 65535/, 2],
  ["udp_reverse_client", ["-5"], /^error: unknown option -5/, 2],
  ["udp_reverse_client", ["--host", "bad host"], /--host must be/, 2],
  [
    "sum_server",
    ["--trusted-proxies", "10.0.0.0/8"],
    /--trusted-proxies needs --proxy-protocol/,
    2,
  ],
  [
    "hello_server",
    ["--proxy-protocol", "--trusted-proxies", "10.0.0.0/40"],
    /--trusted-proxies must be addresses or ranges .* not "10\.0\.0\.0\/40"/,
    2,
  ],
  ["sum_server", ["--drain-delay", "soon"], /--drain-delay must be/, 2],
  ["workers", ["--workers", "0"], /--workers must be .* from 1 to 256/, 2],
  ["workers", ["--bogus"], /^error: unknown option --bogus/, 2],
  ["workers", ["--port", "70000"], /--port must be .* 0 to 65535/, 2],
];

test("wrong invocations of the examples each give one line on stderr", async () => {
  assert.ok(WRONG.length >= 30);
  assert.deepEqual(
    [...new Set(WRONG.map(([name]) => name))].sort(),
    [...EXAMPLES].sort(),
    "every example is tried",
  );
  const failures: string[] = [];
  const pending = [...WRONG];
  const worker = async () => {
    for (let next = pending.shift(); next; next = pending.shift()) {
      const [name, args, pattern, code] = next;
      const result = await runExample(name, args);
      try {
        assertOneLineError(result, pattern, code);
      } catch (error) {
        failures.push(`${name} ${JSON.stringify(args)}: ${error}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  assert.deepEqual(failures, []);
});

test("every example with a narrower grant says which flag to add", async (t) => {
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
    ["workers", ["--port", "0"], [], "--allow-run=deno"],
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
      if (!name.endsWith("_server")) {
        assert.doesNotMatch(
          result.stderr,
          /grant the host/,
          "a client is not given a server's advice",
        );
      }
    });
  }
});

test("the UDP examples without --unstable-net say to add it", async () => {
  const flags = shebangFlags("udp_reverse_server").filter((flag) =>
    flag !== "--unstable-net"
  );
  const result = await runExample("udp_reverse_server", [], [
    "--no-config",
    ...flags,
  ]);
  assertOneLineError(result, /run again with --unstable-net$/);
});

test("every example's shebang names hosts and ports, never a bare --allow-net", () => {
  const files = [...Deno.readDirSync(new URL("../examples/", import.meta.url))]
    .map((entry) => entry.name)
    .filter((name) => name.endsWith(".ts") && !name.startsWith("_"));
  assert.deepEqual(
    files.map((file) => file.slice(0, -3)).sort(),
    [...EXAMPLES].sort(),
  );
  for (const file of files) {
    const flags = shebangFlags(file.slice(0, -3));
    if (file === "workers.ts") {
      // It opens no socket: it runs deno, each worker with its own grant.
      assert.deepEqual(flags, ["--allow-run=deno"], file);
      continue;
    }
    const net = flags.filter((flag) => flag.startsWith("--allow-net"));
    assert.equal(net.length, 1, file);
    assert.match(net[0]!, /^--allow-net=[\w.:,]+$/, file);
    assert.deepEqual(
      flags.filter((flag) => !/^--(allow-net=|unstable-net$)/.test(flag)),
      [],
      file,
    );
  }
});

/** A PROXY v2 header for a TCP/IPv4 client, as HAProxy's send-proxy-v2 sends. */
function proxyV2(client: [number[], number], server: [number[], number]) {
  const header = new Uint8Array(28);
  header.set([
    13,
    10,
    13,
    10,
    0,
    13,
    10,
    81,
    85,
    73,
    84,
    10,
    0x21,
    0x11,
    0,
    12,
  ]);
  header.set(client[0], 16);
  header.set(server[0], 20);
  new DataView(header.buffer).setUint16(24, client[1]);
  new DataView(header.buffer).setUint16(26, server[1]);
  return header;
}

test("hello_server --proxy-protocol names the client from the header, and refuses one without", async () => {
  const [server, port] = await startOnAnyPort("hello_server", [
    "--proxy-protocol",
  ]);
  await using _server = server;
  {
    await using balancer = await connect({ port, timeout: 2000 });
    await balancer.write(`PROXY TCP4 127.0.0.2 127.0.0.1 40000 ${port}\r\n`);
    await balancer.flush();
    assert.equal(await readText(balancer), "Hello World\n");
  }
  await server.waitForLine(/^said hello to /, 5000);
  {
    await using direct = await connect({ port, timeout: 2000 });
    await direct.write("hi\n");
    await direct.flush();
    assert.equal(await readText(direct), "");
  }
  const done = await server.stop();
  assert.equal(done.code, 0);
  assert.match(
    done.stdout,
    new RegExp(
      `^listening on 127\\.0\\.0\\.1:${port}\nsaid hello to 127\\.0\\.0\\.2:40000\nserved 1 client, 0 errors, 0 closed idle, 0 resets, 0 waits at the connection limit, \\d+ bytes in, 12 bytes out, 1 PROXY header refused\n$`,
    ),
  );
  const lines = programLines(done.stderr);
  assert.equal(lines.length, 1, done.stderr);
  assert.match(
    lines[0]!,
    new RegExp(
      `^PROXY protocol on 127\\.0\\.0\\.1:${port}: Cannot accept the connection from 127\\.0\\.0\\.1:\\d+: the connection does not begin with a PROXY header \\(v1 or v2\\): its first bytes are "hi\\\\n"; it was closed$`,
    ),
  );
});

test("sum_server --proxy-protocol sums behind a v2 header, and only from trusted proxies", async () => {
  {
    const [server, port] = await startOnAnyPort("sum_server", [
      "--proxy-protocol",
    ]);
    await using _server = server;
    await using balancer = await connect({ port, timeout: 2000 });
    await balancer.write(
      proxyV2([[127, 0, 0, 2], 40001], [[127, 0, 0, 1], port]),
    );
    await balancer.write("1 2 ");
    await balancer.flush();
    assert.equal(await readText(balancer), "3");
    const done = await server.stop();
    assert.deepEqual([done.code, done.stderr], [0, ""]);
  }
  const [server, port] = await startOnAnyPort("sum_server", [
    "--proxy-protocol",
    "--trusted-proxies",
    "10.0.0.0/8, 192.168.0.1",
  ]);
  await using _server = server;
  await using client = await connect({ port, timeout: 2000 });
  await client.write(proxyV2([[127, 0, 0, 2], 40001], [[127, 0, 0, 1], port]));
  await client.write("1 2 ");
  await client.flush();
  assert.equal(await readText(client).catch(() => ""), "");
  const done = await server.stop();
  assert.equal(done.code, 0);
  assert.match(
    done.stderr,
    /: it is not one of the trusted proxies \(10\.0\.0\.0\/8, 192\.168\.0\.1\); it was closed/,
  );
});

test("sum_server --drain-delay serves on after SIGTERM but fails health checks, then exits 0", async () => {
  const [server, port] = await startOnAnyPort("sum_server", [
    "--proxy-protocol",
    "--drain-delay",
    "1500",
  ]);
  await using _server = server;
  const check = new Uint8Array([
    13,
    10,
    13,
    10,
    0,
    13,
    10,
    81,
    85,
    73,
    84,
    10,
    0x20,
    0,
    0,
    0,
  ]);
  /** A health check as HAProxy's tcp-check sends it: LOCAL, then a sum. */
  const healthCheck = async () => {
    await using socket = await connect({ port, timeout: 2000 });
    await socket.write(check);
    await socket.write("1 2 ");
    await socket.flush();
    return await readText(socket).catch(() => "");
  };
  const sum = async (a: number, b: number) => {
    await using socket = await connect({ port, timeout: 2000 });
    await socket.write(
      proxyV2([[192, 0, 2, 1], 1000 + a], [[127, 0, 0, 1], port]),
    );
    await socket.write(`${a} ${b} `);
    await socket.flush();
    return await readText(socket);
  };
  assert.equal(await healthCheck(), "3");
  const started = performance.now();
  server.kill("SIGTERM");
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(await healthCheck(), "", "a check fails while draining");
  assert.equal(await sum(4, 5), "9", "a client is served while draining");
  const done = await server.finish();
  const took = performance.now() - started;
  assert.deepEqual([done.code, done.stderr], [0, ""]);
  assert.ok(took >= 1400, `stopped after ${took.toFixed(0)} ms`);
});

/** The ids of the processes `pid` has started that are still running (Linux). */
async function childrenOf(pid: number): Promise<number[]> {
  // Each thread lists the children it started; Deno grants /proc only to
  // --allow-all, so cat reads them.
  const { stdout } = await new Deno.Command("sh", {
    args: ["-c", 'cat /proc/"$0"/task/*/children 2>/dev/null', String(pid)],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(stdout).split(/\s+/).filter((id) => id !== "")
    .map(Number);
}

test(
  "workers stopped with SIGTERM while its sum servers start exits 0, quietly",
  async () => {
    const workers = startExample("workers", [
      "--workers",
      "8",
      "--port",
      "0",
    ]);
    await using _workers = workers;
    // Its first sum server has been started, the other seven have not: it is
    // starting up, and it has its signal handlers.
    const end = Date.now() + 5_000;
    while ((await childrenOf(workers.pid)).length === 0) {
      assert.ok(Date.now() < end, "workers started no sum server within 5 s");
      await delay(5);
    }
    workers.kill("SIGTERM");
    const done = await workers.finish();
    assert.doesNotMatch(done.stdout, /listening on/, "it was still starting");
    assert.deepEqual([done.code, done.stderr], [0, ""]);
  },
  { ignore: Deno.build.os !== "linux", deadline: 15_000 },
);

test("workers runs N sum servers on one port and stops them all", async () => {
  const workers = startExample("workers", [
    "--workers",
    "2",
    "--port",
    "0",
    "--",
    "--idle-timeout",
    "5000",
  ]);
  let port = 0;
  try {
    port = await workers.listening();
    await checkWorkers(workers, port);
  } finally {
    // SIGTERM first: workers stops its sum servers (a SIGKILL would not).
    const done = await workers.stop();
    assert.deepEqual([done.code, done.stderr], [0, ""]);
  }
  // Both workers were gone with it: the port is free again.
  assert.ok(portIsFree("tcp", port));
});

/** Sums through the workers' port, and two listeners on it. */
async function checkWorkers(
  workers: RunningExample,
  port: number,
): Promise<void> {
  assert.deepEqual(workers.lines, [
    "2 workers",
    `listening on 127.0.0.1:${port}`,
  ]);
  const sums = await Promise.all(
    Array.from({ length: 40 }, async (_, i) => {
      await using socket = await connect({ port, timeout: 2000 });
      await socket.write(`${i} 1/2 `);
      await socket.flush();
      return await readText(socket);
    }),
  );
  sums.forEach((sum, i) => assert.equal(sum, `${2 * i + 1}/2`));
  // Two listening sockets share the port (Linux lists each one).
  const table = await new Deno.Command("cat", {
    args: ["/proc/net/tcp"],
    stdout: "piped",
    stderr: "null",
  }).output().then(({ stdout }) => new TextDecoder().decode(stdout))
    .catch(() => "");
  if (table !== "") {
    const local = `0100007F:${
      port.toString(16).toUpperCase().padStart(4, "0")
    }`;
    const listening = table.split("\n").filter((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[1] === local && fields[3] === "0A";
    });
    assert.equal(listening.length, 2, table);
  }
}
