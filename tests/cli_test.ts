// The `sock` command with pipes, as a script would use it: against the
// project's sum server, our own listeners and datagram sockets, socat, and
// SBCL's usocket programs; its one-line errors and exit statuses.
import assert from "node:assert/strict";
import { connect, listen, listenDatagram, serve } from "../mod.ts";
import { handleSum } from "../examples/sum_server.ts";
import { bounded, canRun, test } from "./_helpers.ts";
import { errorLines, runSock, SockProcess } from "./_sock.ts";
import { lispPeerMissing, startPeer } from "./_lisp_peer.ts";
import { freePort } from "../tools/examples.ts";

const T = { timeout: 5_000 };
const SLOW = { deadline: 30_000 };
const grant = (port: number) => [`--allow-net=127.0.0.1:${port}`];

test(
  "printf '1 2 ' | sock connect 127.0.0.1 PORT prints 3 from the sum server",
  async () => {
    await using server = serve(handleSum, { port: 0 });
    const result = await runSock(
      grant(server.port),
      ["connect", "127.0.0.1", String(server.port)],
      "1 2 ",
    );
    assert.deepEqual(
      [result.code, result.stdout, errorLines(result.stderr)],
      [0, "3", []],
    );
  },
  SLOW,
);

test("sock connect --lisp: 1 3 typed gives 4, printed as a line", async () => {
  await using server = serve(handleSum, { port: 0 });
  const result = await runSock(
    grant(server.port),
    ["connect", "--lisp", "127.0.0.1", String(server.port)],
    "1 3\n",
  );
  assert.deepEqual(
    [result.code, result.stdout, errorLines(result.stderr)],
    [0, "4\n", []],
  );
}, SLOW);

test(
  "sock connect --lisp sends each form as ~s prints it, then a space; bad input is one line and the rest goes on",
  async () => {
    using listener = listen({ port: 0 });
    await using sock = new SockProcess(grant(listener.port), [
      "connect",
      "--lisp",
      "127.0.0.1",
      String(listener.port),
    ]);
    await using peer = await listener.accept(T);
    await sock.type('hello (a  "b"\n  #\\c) 1.50d0 ) #xFF\n');
    // The ")" ends its line: "#xFF" after it is dropped with it.
    await sock.type("#.(evil)\nlast\n");
    await sock.endInput();
    const sent = new TextDecoder().decode(await peer.readAll(T));
    assert.equal(sent, 'HELLO (A "b" #\\c) 1.5d0 LAST ');
    await peer.write("(:got 3) |mixed Case| ");
    await peer.close();
    const result = await sock.finish();
    assert.equal(result.code, 0);
    assert.equal(result.stdout, "(:GOT 3)\n|mixed Case|\n");
    const errors = errorLines(result.stderr);
    assert.equal(errors.length, 2, result.stderr);
    assert.match(errors[0]!, /^error: .*unmatched close parenthesis/);
    assert.match(errors[1]!, /^error: .*read-time evaluation/);
  },
  SLOW,
);

test(
  "sock --lisp prints one line for data the peer sends that Lisp cannot read, and reads on",
  async () => {
    using listener = listen({ port: 0 });
    await using sock = new SockProcess(grant(listener.port), [
      "connect",
      "--lisp",
      "127.0.0.1",
      String(listener.port),
    ]);
    await using peer = await listener.accept(T);
    await peer.write("1 ) junk\n2 ");
    await peer.close();
    const result = await sock.finish();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "1\n2\n");
    const errors = errorLines(result.stderr);
    assert.equal(errors.length, 1, result.stderr);
    assert.match(errors[0]!, /^error: the peer sent what Lisp cannot read: /);
  },
  SLOW,
);

test(
  "the end of stdin half-closes: the peer sees end of stream and its answer still arrives",
  async () => {
    using listener = listen({ port: 0 });
    await using sock = new SockProcess(grant(listener.port), [
      "connect",
      "127.0.0.1",
      String(listener.port),
    ]);
    await using peer = await listener.accept(T);
    await sock.type("question");
    await sock.endInput();
    assert.equal(new TextDecoder().decode(await peer.readAll(T)), "question");
    await peer.write("answer\n");
    await peer.flush();
    await sock.waitFor(/answer\n/);
    await peer.close();
    const result = await sock.finish();
    assert.deepEqual([result.code, result.stdout], [0, "answer\n"]);
  },
  SLOW,
);

test(
  "after the peer half-closes, what stdin gives in the next moment still reaches it",
  async () => {
    using listener = listen({ port: 0 });
    await using sock = new SockProcess(grant(listener.port), [
      "connect",
      "127.0.0.1",
      String(listener.port),
    ]);
    await using peer = await listener.accept(T);
    await peer.write("question\n");
    await peer.closeWrite();
    await sock.waitFor(/question\n/);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await sock.type("late answer\n");
    await sock.endInput();
    assert.equal(
      new TextDecoder().decode(await peer.readAll(T)),
      "late answer\n",
    );
    const result = await sock.finish();
    assert.deepEqual([result.code, result.stdout], [0, "question\n"]);
  },
  SLOW,
);

test("sock exits 0 when the peer closes, with stdin still open", async () => {
  using listener = listen({ port: 0 });
  await using sock = new SockProcess(grant(listener.port), [
    "connect",
    "127.0.0.1",
    String(listener.port),
  ]);
  await using peer = await listener.accept(T);
  await peer.write("bye\n");
  await peer.close();
  const result = await sock.finish();
  assert.deepEqual([result.code, result.stdout], [0, "bye\n"]);
}, SLOW);

test(
  "sock listen takes one connection, both ways, and closes the listener",
  async () => {
    await using sock = new SockProcess(["--allow-net=127.0.0.1:0"], [
      "listen",
      "0",
    ]);
    const port = await sock.listening();
    await using client = await connect({ port, ...T });
    await sock.waitFor(/connection from 127\.0\.0\.1:\d+\n/, "stderr");
    await sock.type("from sock\n");
    assert.equal(await client.readLine(T), "from sock");
    await client.write("from the client\n");
    await client.close();
    const result = await sock.finish();
    assert.deepEqual([result.code, result.stdout], [0, "from the client\n"]);
    // One connection only: nobody listens any more.
    await assert.rejects(connect({ port, ...T }));
  },
  SLOW,
);

test(
  "sock listen --keep-open serves one connection after another, and --quiet says nothing",
  async () => {
    await using sock = new SockProcess(["--allow-net=127.0.0.1:0"], [
      "listen",
      "--keep-open",
      "0",
    ]);
    const port = await sock.listening();
    for (const name of ["first", "second", "third"]) {
      await using client = await connect({ port, ...T });
      await client.write(`${name}\n`);
      await client.closeWrite();
      await sock.waitFor(new RegExp(`${name}\n$`));
      assert.equal(await client.readAll(T).then((b) => b.length), 0);
    }
    sock.kill("SIGINT");
    const result = await sock.finish();
    assert.deepEqual([result.code, result.stdout], [
      0,
      "first\nsecond\nthird\n",
    ]);
    assert.equal(
      errorLines(result.stderr).filter((l) => l.startsWith("connection from"))
        .length,
      3,
    );

    await using quiet = new SockProcess(["--allow-net=127.0.0.1:0"], [
      "listen",
      "--quiet",
      "0",
    ]);
    // Quiet: no "listening on" line to learn the port from, so Ctrl-C it.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    quiet.kill("SIGINT");
    const silent = await quiet.finish();
    assert.deepEqual([silent.code, silent.stdout, errorLines(silent.stderr)], [
      0,
      "",
      [],
    ]);
  },
  SLOW,
);

test("--crlf sends line ends as CRLF; --hex dumps what arrives", async () => {
  using listener = listen({ port: 0 });
  await using sock = new SockProcess(grant(listener.port), [
    "connect",
    "--crlf",
    "--hex",
    "127.0.0.1",
    String(listener.port),
  ]);
  await using peer = await listener.accept(T);
  await sock.type("a\nb\r\n");
  await sock.endInput();
  assert.deepEqual(
    [...await peer.readAll(T)],
    [...new TextEncoder().encode("a\r\nb\r\n")],
  );
  await peer.write("Hello, world!\n\x00\xff-more-bytes");
  await peer.close();
  const result = await sock.finish();
  assert.equal(result.code, 0);
  assert.equal(
    result.stdout,
    "00000000  48 65 6c 6c 6f 2c 20 77  6f 72 6c 64 21 0a 00 c3  |Hello, world!...|\n" +
      "00000010  bf 2d 6d 6f 72 65 2d 62  79 74 65 73              |.-more-bytes|\n",
  );
}, SLOW);

test(
  "--idle-timeout closes a silent connection with one line, exit 1",
  async () => {
    using listener = listen({ port: 0 });
    await using sock = new SockProcess(grant(listener.port), [
      "connect",
      "--idle-timeout",
      "300",
      "127.0.0.1",
      String(listener.port),
    ]);
    await using peer = await listener.accept(T);
    const result = await sock.finish();
    assert.equal(result.code, 1);
    assert.deepEqual(errorLines(result.stderr), [
      "error: no data either way for 300 ms: closed the connection (--idle-timeout)",
    ]);
    assert.equal((await peer.readAll(T)).length, 0);
  },
  SLOW,
);

test(
  "--udp connect: one datagram a line; replies are printed, then sock ends by itself",
  async () => {
    using server = listenDatagram({ port: 0 });
    await using sock = new SockProcess(
      ["--unstable-net", `--allow-net=127.0.0.1:0,127.0.0.1:${server.port}`],
      ["connect", "--udp", "127.0.0.1", String(server.port)],
    );
    await sock.type("one\ntwo\n");
    const got: string[] = [];
    for (let i = 0; i < 2; i++) {
      const datagram = await server.receive(T);
      got.push(new TextDecoder().decode(datagram.data));
      await server.send(got[i]!.toUpperCase(), datagram.remoteAddr);
    }
    assert.deepEqual(got, ["one\n", "two\n"]);
    await sock.waitFor(/ONE\nTWO\n/);
    await sock.endInput();
    const result = await sock.finish();
    assert.deepEqual([result.code, result.stdout, errorLines(result.stderr)], [
      0,
      "ONE\nTWO\n",
      [],
    ]);
  },
  SLOW,
);

test(
  "--udp listen: the first sender is the peer; lines go back to it",
  async () => {
    await using sock = new SockProcess(
      ["--unstable-net", "--allow-net=127.0.0.1"],
      ["listen", "--udp", "0"],
    );
    const port = await sock.listening();
    using client = listenDatagram({ port: 0 });
    await client.send("ping\n", {
      transport: "udp",
      hostname: "127.0.0.1",
      port,
    });
    await sock.waitFor(/ping\n/);
    await sock.type("pong\n");
    const reply = await client.receive(T);
    assert.equal(new TextDecoder().decode(reply.data), "pong\n");
    sock.kill("SIGINT");
    const result = await sock.finish();
    assert.equal(result.code, 0);
  },
  SLOW,
);

test(
  "mistakes in the command line are one line and exit status 2",
  async () => {
    const cases: [string[], RegExp][] = [
      [[], /^error: say connect HOST PORT or listen PORT \(see --help\)$/],
      [["frob"], /^error: unknown command "frob"/],
      [
        ["connect", "127.0.0.1"],
        /^error: connect takes HOST and PORT, got "127\.0\.0\.1"/,
      ],
      [
        ["connect", "127.0.0.1", "0"],
        /^error: PORT must be a whole number from 1 to 65535, not "0"/,
      ],
      [
        ["listen", "99999"],
        /^error: PORT must be a whole number from 0 to 65535/,
      ],
      [
        ["connect", "bad host", "1"],
        /^error: HOST must be a host name or an IP address/,
      ],
      [
        ["listen", "--timeout", "5", "0"],
        /^error: --timeout is the connect timeout/,
      ],
      [
        ["connect", "--keep-open", "h", "1"],
        /^error: --keep-open is for listen/,
      ],
      [
        ["connect", "--lisp", "--udp", "h", "1"],
        /^error: --lisp works over TCP/,
      ],
      [
        ["connect", "--idle-timeout", "soon", "h", "1"],
        /^error: --idle-timeout must be a whole number of milliseconds/,
      ],
      [["connect", "--nope", "h", "1"], /^error: unknown option --nope/],
    ];
    for (const [args, pattern] of cases) {
      const result = await runSock([], args);
      const errors = errorLines(result.stderr);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.equal(errors.length, 1, `${args.join(" ")}: ${result.stderr}`);
      assert.match(errors[0]!, pattern);
    }
    const help = await runSock([], ["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: sock connect/);
  },
  { deadline: 60_000 },
);

test(
  "a missing grant is one line naming the flags for deno run and for an installed sock, exit 1",
  async () => {
    await using server = serve(handleSum, { port: 0 });
    const result = await runSock([], [
      "connect",
      "127.0.0.1",
      String(server.port),
    ]);
    const flag = `--allow-net=127.0.0.1:${server.port}`;
    assert.equal(result.code, 1);
    assert.deepEqual(errorLines(result.stderr), [
      `error: sock may not connect to 127.0.0.1:${server.port}: add ${flag} (deno run ${flag} ${
        new URL("../cli.ts", import.meta.url).pathname
      } connect 127.0.0.1 ${server.port}; an installed sock keeps its grants and gains these with sed -i 's|^exec deno run |&${flag} |' "$(command -v sock)")`,
    ]);
    // A grant for another port is not enough, and asks for nothing more.
    const other = await runSock([`--allow-net=127.0.0.1:1`], [
      "listen",
      "0",
    ]);
    assert.equal(other.code, 1);
    assert.match(
      errorLines(other.stderr)[0]!,
      /^error: sock may not listen on 127\.0\.0\.1:0: add --allow-net=127\.0\.0\.1:0 /,
    );
    const udp = await runSock([`--allow-net=127.0.0.1:0`], [
      "connect",
      "--udp",
      "127.0.0.1",
      "9",
    ]);
    assert.equal(udp.code, 1);
    assert.match(
      errorLines(udp.stderr)[0]!,
      /^error: sock may not send datagrams to 127\.0\.0\.1:9: add --unstable-net --allow-net=127\.0\.0\.1:9 /,
    );
  },
  SLOW,
);

test("a refused connection is one line, exit 1", async () => {
  const port = freePort("tcp");
  const result = await runSock(grant(port), [
    "connect",
    "127.0.0.1",
    String(port),
  ]);
  assert.equal(result.code, 1);
  assert.deepEqual(errorLines(result.stderr), [
    `error: Cannot connect to 127.0.0.1:${port}: connection refused (is a server listening there?)`,
  ]);
}, SLOW);

// --- socat -------------------------------------------------------------------

const haveSocat = await canRun("socat", ["-V"]);
if (!haveSocat) {
  console.log("socat tests skipped: socat not found (apt-get install socat)");
}

test(
  "socat talks to sock listen: each side half-closes and still gets the other's bytes",
  async () => {
    await using sock = new SockProcess(["--allow-net=127.0.0.1:0"], [
      "listen",
      "0",
    ]);
    const port = await sock.listening();
    const socat = new Deno.Command("socat", {
      args: ["-t", "5", "-", `TCP:127.0.0.1:${port}`],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = socat.stdin.getWriter();
    await writer.write(new TextEncoder().encode("from socat\n"));
    await writer.close();
    await sock.waitFor(/from socat\n/);
    await sock.type("from sock\n");
    await sock.endInput();
    const [out, result] = await bounded(
      Promise.all([socat.output(), sock.finish()]),
      15_000,
      "socat and sock",
    );
    assert.equal(new TextDecoder().decode(out.stdout), "from sock\n");
    assert.equal(out.code, 0);
    assert.deepEqual([result.code, result.stdout], [0, "from socat\n"]);
  },
  { ...SLOW, ignore: !haveSocat },
);

test("sock connect to a socat UDP echo: datagrams both ways", async () => {
  const port = freePort("udp");
  const socat = new Deno.Command("socat", {
    args: [`UDP-RECVFROM:${port},bind=127.0.0.1,fork`, "EXEC:tr a-z A-Z"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const result = await runSock(
      ["--unstable-net", `--allow-net=127.0.0.1:0,127.0.0.1:${port}`],
      ["connect", "--udp", "--idle-timeout", "1500", "127.0.0.1", String(port)],
      "hello\n",
    );
    assert.deepEqual(
      [result.code, result.stdout],
      [0, "HELLO\n"],
      result.stderr,
    );
  } finally {
    socat.kill("SIGKILL");
    await socat.output();
  }
}, { ...SLOW, ignore: !haveSocat });

// --- a Lisp peer: SBCL with usocket -------------------------------------------

const missingLisp = await lispPeerMissing();
if (missingLisp !== undefined) {
  console.log(`sock's Lisp peer tests skipped: ${missingLisp}`);
}

test(
  "sock connect --lisp to the Lisp tutorial's passive socket: hello goes, BYE comes back",
  async () => {
    await using lisp = startPeer("passive-one");
    const port = await lisp.listening();
    const result = await runSock(grant(port), [
      "connect",
      "--lisp",
      "127.0.0.1",
      String(port),
    ], "hello\n");
    assert.deepEqual([result.code, result.stdout, errorLines(result.stderr)], [
      0,
      "BYE\n",
      [],
    ]);
    const said = await lisp.finish();
    assert.equal(said.code, 0, said.stderr);
    assert.match(said.stdout, /^HELLO$/m);
  },
  { deadline: 40_000, ignore: missingLisp !== undefined },
);

test(
  "sock listen --lisp answers the Lisp tutorial's active socket",
  async () => {
    await using sock = new SockProcess(["--allow-net=127.0.0.1:0"], [
      "listen",
      "--lisp",
      "0",
    ]);
    const port = await sock.listening();
    await using lisp = startPeer("active-two", ["127.0.0.1", String(port)]);
    await sock.waitFor(/^HELLO\n/);
    await sock.type("bye\n");
    const said = await lisp.finish();
    assert.equal(said.code, 0, said.stderr);
    assert.match(said.stdout, /^BYE$/m);
    const result = await sock.finish();
    assert.deepEqual([result.code, result.stdout], [0, "HELLO\n"]);
  },
  { deadline: 40_000, ignore: missingLisp !== undefined },
);

test(
  "printf '1 2 ' | sock connect against SBCL's sum server prints 3",
  async () => {
    await using lisp = startPeer("sum-server", ["0", "1"]);
    const port = await lisp.listening();
    const result = await runSock(grant(port), [
      "connect",
      "127.0.0.1",
      String(port),
    ], "1 2 ");
    assert.deepEqual([result.code, result.stdout], [0, "3"]);
    assert.equal((await lisp.finish()).code, 0);
  },
  { deadline: 40_000, ignore: missingLisp !== undefined },
);

test(
  "deno install from a local path gives a sock that runs with the grant it was installed with",
  async () => {
    await using server = serve(handleSum, { port: 0 });
    const root = await Deno.makeTempDir({ prefix: "sock_install_" });
    try {
      const installed = await new Deno.Command(Deno.execPath(), {
        args: [
          "install",
          "-g",
          "-n",
          "sock",
          "--root",
          root,
          `--allow-net=127.0.0.1:${server.port}`,
          new URL("../cli.ts", import.meta.url).pathname,
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(
        installed.code,
        0,
        new TextDecoder().decode(installed.stderr),
      );
      const child = new Deno.Command(`${root}/bin/sock`, {
        args: ["connect", "127.0.0.1", String(server.port)],
        env: {
          PATH: `${Deno.execPath().replace(/\/[^/]*$/, "")}:/usr/bin:/bin`,
          NO_COLOR: "1",
        },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode("20 22 "));
      await writer.close();
      const out = await bounded(child.output(), 20_000, "the installed sock");
      assert.deepEqual(
        [out.code, new TextDecoder().decode(out.stdout)],
        [0, "42"],
        new TextDecoder().decode(out.stderr),
      );

      // Another server: the advice's edit of the launcher adds its grant
      // and keeps the first one.
      await using second = serve(handleSum, { port: 0 });
      const env = {
        PATH: `${root}/bin:${
          Deno.execPath().replace(/\/[^/]*$/, "")
        }:/usr/bin:/bin`,
        NO_COLOR: "1",
      };
      const sum = async (port: number) => {
        const { code, stdout, stderr } = await bounded(
          new Deno.Command("sh", {
            args: ["-c", `printf '1 2 ' | sock connect 127.0.0.1 ${port}`],
            env,
            stdout: "piped",
            stderr: "piped",
          }).output(),
          20_000,
          "the installed sock",
        );
        const text = new TextDecoder();
        return {
          code,
          stdout: text.decode(stdout),
          stderr: text.decode(stderr),
        };
      };
      const refused = await sum(second.port);
      assert.equal(refused.code, 1);
      const edit =
        /; an installed sock keeps its grants and gains these with (sed -i .*)\)$/m
          .exec(refused.stderr)?.[1];
      assert.ok(edit, refused.stderr);
      const edited = await new Deno.Command("sh", { args: ["-c", edit], env })
        .output();
      assert.equal(edited.code, 0, new TextDecoder().decode(edited.stderr));
      for (const port of [server.port, second.port]) {
        const result = await sum(port);
        assert.deepEqual([result.code, result.stdout], [0, "3"], result.stderr);
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
  SLOW,
);
