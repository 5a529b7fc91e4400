// `--exec PROGRAM [ARGS…]`: the connection is the program's stdin and
// stdout, its stderr sock's; one process per client on listen (at once
// with -k); the grant named when missing.
import assert from "node:assert/strict";
import { connect, listen } from "../mod.ts";
import { test } from "./_helpers.ts";
import { errorLines, runSock, SockProcess } from "./_sock.ts";

const SLOW = { deadline: 40_000 };

test(
  "sock listen -k --exec sh: each client its own process, at once",
  async () => {
    await using sock = new SockProcess(
      ["--allow-net=127.0.0.1:0", "--allow-run=sh"],
      ["listen", "-k", "0", "--exec", "sh", "-c", 'read line; echo "$$ $line"'],
    );
    const port = await sock.listening();
    // Both connect before either sends: the two are served at once.
    await using a = await connect({ port, timeout: 5000 });
    await using b = await connect({ port, timeout: 5000 });
    for (const [client, text] of [[a, "from a"], [b, "from b"]] as const) {
      await client.write(`${text}\n`);
      await client.flush();
    }
    const [lineA, lineB] = await Promise.all([
      a.readLine({ timeout: 5000 }),
      b.readLine({ timeout: 5000 }),
    ]);
    const [pidA, textA] = lineA!.split(/ (.*)/);
    const [pidB, textB] = lineB!.split(/ (.*)/);
    assert.deepEqual([textA, textB], ["from a", "from b"]);
    assert.notEqual(pidA, pidB);
    // The program's end half-closes the connection.
    assert.equal(await a.readLine({ timeout: 5000 }), null);
    sock.kill("SIGTERM");
    assert.equal((await sock.finish()).code, 0);
  },
  SLOW,
);

test(
  "sock connect --exec: the program talks to the server, its stderr is sock's, its status sock's",
  async () => {
    using listener = listen({ port: 0 });
    const serving = (async () => {
      await using socket = await listener.accept({ timeout: 10_000 });
      await socket.write("hello\n");
      await socket.flush();
      const reply = await socket.readLine({ timeout: 10_000 });
      await socket.closeWrite();
      return reply;
    })();
    const result = await runSock(
      [`--allow-net=127.0.0.1:${listener.port}`, "--allow-run=sh"],
      [
        "connect",
        "127.0.0.1",
        String(listener.port),
        "--exec",
        "sh",
        "-c",
        'read greeting; echo "got $greeting"; echo note >&2; exit 3',
      ],
    );
    assert.equal(await serving, "got hello");
    assert.deepEqual([result.code, result.stdout, errorLines(result.stderr)], [
      3,
      "",
      ["note"],
    ]);
  },
  SLOW,
);

test("--exec without its grant names --allow-run=PROGRAM", async () => {
  const result = await runSock(["--allow-net=127.0.0.1:0"], [
    "listen",
    "0",
    "--exec",
    "rev",
  ]);
  assert.equal(result.code, 1);
  assert.match(
    errorLines(result.stderr)[0]!,
    /^error: sock may not run rev for 127\.0\.0\.1:0: add --allow-run=rev \(deno run --allow-net=127\.0\.0\.1:0 --allow-run=rev /,
  );
}, SLOW);

test("--exec's mistakes are one line, exit 2", async () => {
  const cases: [string[], string][] = [
    [["listen", "0", "--exec"], "--exec needs a PROGRAM, and comes last"],
    [
      ["listen", "--lisp", "0", "--exec", "cat"],
      "--exec gives the connection to the program: leave out --lisp",
    ],
    [
      ["listen", "--broker", "0", "--exec", "cat"],
      "--exec gives the connection to the program: leave out --broker",
    ],
    [
      ["scan", "127.0.0.1", "1", "--exec", "cat"],
      "--exec is for connect and listen, not scan",
    ],
  ];
  for (const [args, message] of cases) {
    const result = await runSock([], args);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    const lines = errorLines(result.stderr);
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.ok(lines[0]!.startsWith(`error: ${message}`), lines[0]);
  }
}, SLOW);
