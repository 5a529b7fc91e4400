// `sock listen --keep-open` serves every client at once, and `--broker`
// passes what each client sends to the others: with pipes, and in real
// terminals through tmux.
import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import { canRun, test } from "./_helpers.ts";
import { errorLines, SockProcess } from "./_sock.ts";
import { sockCommand, Terminals } from "./_terminals.ts";

const SLOW = { deadline: 40_000 };

test(
  "sock listen -k: two clients at once, each one's bytes printed, stdin to both; one leaving does not end the other",
  async () => {
    await using sock = new SockProcess(["--allow-net=127.0.0.1:0"], [
      "listen",
      "-k",
      "0",
    ]);
    const port = await sock.listening();
    await using a = await connect({ port, timeout: 5000 });
    await sock.waitFor(/connection from 127\.0\.0\.1:\d+\n/, "stderr");
    await using b = await connect({ port, timeout: 5000 });
    await sock.waitFor(/(connection from .*\n){2}/, "stderr");
    await a.write("from a\n");
    await a.flush();
    await b.write("from b\n");
    await b.flush();
    await sock.waitFor(/from a\n/);
    await sock.waitFor(/from b\n/);
    await sock.type("to everyone\n");
    assert.equal(await a.readLine({ timeout: 5000 }), "to everyone");
    assert.equal(await b.readLine({ timeout: 5000 }), "to everyone");

    await a.close();
    await sock.waitFor(/127\.0\.0\.1:\d+ closed\n/, "stderr");
    await sock.type("to b alone\n");
    assert.equal(await b.readLine({ timeout: 5000 }), "to b alone");
    // The end of stdin half-closes b's connection.
    await sock.endInput();
    assert.equal(await b.readLine({ timeout: 5000 }), null);
    sock.kill("SIGTERM");
    const result = await sock.finish();
    assert.deepEqual([
      result.code,
      errorLines(result.stderr).filter((line) => line.startsWith("error")),
    ], [0, []]);
  },
  SLOW,
);

test(
  "sock listen -k < file: stdin waits for a client, so the first one gets the file",
  async () => {
    await using sock = new SockProcess(["--allow-net=127.0.0.1:0"], [
      "listen",
      "-k",
      "0",
    ]);
    await sock.type("the whole file\n");
    await sock.endInput();
    const port = await sock.listening();
    await using first = await connect({ port, timeout: 5000 });
    assert.equal(
      new TextDecoder().decode(await first.readAll({ timeout: 5000 })),
      "the whole file\n",
    );
    await using second = await connect({ port, timeout: 5000 });
    assert.equal((await second.readAll({ timeout: 5000 })).length, 0);
    sock.kill("SIGTERM");
    assert.equal((await sock.finish()).code, 0);
  },
  SLOW,
);

test(
  "sock listen --broker: what one client sends reaches the others (and stdout), not itself",
  async () => {
    await using sock = new SockProcess(["--allow-net=127.0.0.1:0"], [
      "listen",
      "--broker",
      "0",
    ]);
    const port = await sock.listening();
    await using a = await connect({ port, timeout: 5000 });
    await using b = await connect({ port, timeout: 5000 });
    await using c = await connect({ port, timeout: 5000 });
    await sock.waitFor(/(connection from .*\n){3}/, "stderr");
    await a.write("hello from a\n");
    await a.flush();
    assert.equal(await b.readLine({ timeout: 5000 }), "hello from a");
    assert.equal(await c.readLine({ timeout: 5000 }), "hello from a");
    await sock.waitFor(/hello from a\n/);
    await c.write("and c\n");
    await c.flush();
    assert.equal(await a.readLine({ timeout: 5000 }), "and c");
    assert.equal(await b.readLine({ timeout: 5000 }), "and c");
    // a never got its own line back: the next line a reads is c's.
    assert.equal(a.buffered, 0);
    await sock.type("from the terminal\n");
    for (const client of [a, b, c]) {
      assert.equal(
        await client.readLine({ timeout: 5000 }),
        "from the terminal",
      );
    }
    sock.kill("SIGTERM");
    assert.equal((await sock.finish()).code, 0);
  },
  SLOW,
);

test(
  "sock listen -k --lisp: each client's data printed as Lisp, forms typed go to both",
  async () => {
    await using sock = new SockProcess(["--allow-net=127.0.0.1:0"], [
      "listen",
      "-k",
      "--lisp",
      "0",
    ]);
    const port = await sock.listening();
    await using a = await connect({ port, timeout: 5000 });
    await using b = await connect({ port, timeout: 5000 });
    await sock.waitFor(/(connection from .*\n){2}/, "stderr");
    await a.write("hello ");
    await a.flush();
    await sock.waitFor(/^HELLO\n/);
    await b.write('"from b" ');
    await b.flush();
    await sock.waitFor(/^HELLO\n"from b"\n$/);
    await sock.type("(+ 1 2)\n");
    for (const client of [a, b]) {
      assert.equal(
        new TextDecoder().decode(
          await client.readExactly(8, { timeout: 5000 }),
        ),
        "(+ 1 2) ",
      );
    }
    sock.kill("SIGTERM");
    assert.equal((await sock.finish()).code, 0);
  },
  SLOW,
);

const haveSocat = await canRun("socat", ["-V"]);

test(
  "socat clients of sock listen -k: both served at once, the end of each one's input ends it",
  async () => {
    await using sock = new SockProcess(["--allow-net=127.0.0.1:0"], [
      "listen",
      "-k",
      "0",
    ]);
    const port = await sock.listening();
    const socat = (text: string) => {
      const child = new Deno.Command("socat", {
        args: ["-t", "5", "-", `TCP:127.0.0.1:${port}`],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = child.stdin.getWriter();
      return { child, writer, text };
    };
    const one = socat("from socat one\n");
    const two = socat("from socat two\n");
    await sock.waitFor(/(connection from .*\n){2}/, "stderr");
    for (const { writer, text } of [one, two]) {
      await writer.write(new TextEncoder().encode(text));
    }
    await sock.waitFor(/from socat one\n/);
    await sock.waitFor(/from socat two\n/);
    await sock.type("to both socats\n");
    // Each socat ends its input: sock sees the half-close and ends the
    // connection a moment later.
    for (const { writer } of [one, two]) await writer.close();
    await sock.waitFor(/(closed\n[^]*){2}/, "stderr");
    const outputs = await Promise.all([one.child.output(), two.child.output()]);
    for (const out of outputs) {
      assert.equal(new TextDecoder().decode(out.stdout), "to both socats\n");
    }
    sock.kill("SIGTERM");
    assert.equal((await sock.finish()).code, 0);
  },
  { ...SLOW, ignore: !haveSocat },
);

const haveTmux = await canRun("tmux", ["-V"]);
const TERMINAL = { deadline: 60_000, ignore: !haveTmux };

test(
  "in terminals: sock listen -k with two sock clients typing at once; Ctrl-C ends the listener with 0",
  async () => {
    await using terminals = await Terminals.start();
    await terminals.open(
      "hub",
      sockCommand(["--allow-net=127.0.0.1:0"], ["listen", "-k", "0"]),
    );
    const [, port] = await terminals.waitFor(
      "hub",
      /listening on 127\.0\.0\.1:(\d+)/,
    );
    for (const name of ["one", "two"]) {
      await terminals.open(
        name,
        sockCommand([`--allow-net=127.0.0.1:${port}`], [`127.0.0.1:${port}`]),
      );
    }
    await terminals.waitFor("hub", /(connection from [^\n]*\n){2}/);
    await terminals.typeLine("one", "typed in one");
    await terminals.typeLine("two", "typed in two");
    await terminals.waitFor("hub", /^typed in one$/m);
    await terminals.waitFor("hub", /^typed in two$/m);
    await terminals.typeLine("hub", "typed in the hub");
    await terminals.waitFor("one", /^typed in the hub$/m);
    await terminals.waitFor("two", /^typed in the hub$/m);
    await terminals.press("hub", "C-c");
    await terminals.waitFor("hub", /\[exit 0\]$/m);
    await terminals.waitFor("one", /^\[exit 0\]$/m);
    await terminals.waitFor("two", /^\[exit 0\]$/m);
  },
  TERMINAL,
);

test(
  "in terminals: two sock clients chat through sock listen --broker",
  async () => {
    await using terminals = await Terminals.start();
    await terminals.open(
      "broker",
      sockCommand(["--allow-net=127.0.0.1:0"], ["listen", "--broker", "0"]),
    );
    const [, port] = await terminals.waitFor(
      "broker",
      /listening on 127\.0\.0\.1:(\d+)/,
    );
    for (const name of ["alice", "bob"]) {
      await terminals.open(
        name,
        sockCommand([`--allow-net=127.0.0.1:${port}`], ["127.0.0.1", port!]),
      );
    }
    await terminals.waitFor("broker", /(connection from [^\n]*\n){2}/);
    await terminals.typeLine("alice", "hi bob");
    await terminals.waitFor("bob", /^hi bob\n/m);
    await terminals.typeLine("bob", "hi alice");
    await terminals.waitFor("alice", /^hi alice$/m);
    // Each sees its own line once (typed), the other's once (received).
    assert.equal((await terminals.screen("alice")).match(/hi bob/g)?.length, 1);
    await terminals.press("alice", "C-d");
    await terminals.waitFor("broker", /closed$/m);
    await terminals.press("broker", "C-c");
    await terminals.waitFor("broker", /\[exit 0\]$/m);
    await terminals.waitFor("bob", /^\[exit 0\]$/m);
  },
  TERMINAL,
);
