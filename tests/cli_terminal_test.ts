// `sock` in a real terminal, driven through tmux as a person would use it:
// typing Lisp on both sides of a connection, Ctrl-D, Ctrl-C, Deno's
// permission prompt, and a pipe typed at a shell.
import assert from "node:assert/strict";
import { listen, serve } from "../mod.ts";
import { handleSum } from "../examples/sum_server.ts";
import { canRun, test } from "./_helpers.ts";
import { runSock } from "./_sock.ts";
import { answerPrompt, sockCommand, Terminals } from "./_terminals.ts";
import { lispPeerMissing, startPeer } from "./_lisp_peer.ts";

const haveTmux = await canRun("tmux", ["-V"]);
if (!haveTmux) {
  console.log("terminal tests skipped: tmux not found (apt-get install tmux)");
}

const missingLisp = haveTmux ? await lispPeerMissing() : "no tmux";
if (haveTmux && missingLisp !== undefined) {
  console.log(`the terminal test with a Lisp peer skipped: ${missingLisp}`);
}

const TERMINAL = { deadline: 20_000, ignore: !haveTmux };

test(
  "two sock --lisp terminals: hello typed on one side prints HELLO on the other, both ways; Ctrl-D ends both with 0",
  async () => {
    await using terminals = await Terminals.start();
    await terminals.open(
      "one",
      sockCommand(["--allow-net=127.0.0.1:0"], ["listen", "--lisp", "0"]),
    );
    const [, port] = await terminals.waitFor(
      "one",
      /listening on 127\.0\.0\.1:(\d+)/,
    );
    await terminals.open(
      "two",
      sockCommand([`--allow-net=127.0.0.1:${port}`], [
        "connect",
        "--lisp",
        "127.0.0.1",
        port!,
      ]),
    );
    await terminals.waitFor("one", /connection from 127\.0\.0\.1:\d+/);

    await terminals.typeLine("two", "hello");
    await terminals.waitFor("one", /^HELLO$/m);
    await terminals.typeLine("one", '(list 1 "two" #\\c) 1.50d0 |Mixed|');
    await terminals.waitFor(
      "two",
      /^\(LIST 1 "two" #\\c\)\n1\.5d0\n\|Mixed\|$/m,
    );

    // Bad input: one line, and the REPL goes on.
    await terminals.typeLine("two", ")");
    await terminals.waitFor("two", /^error: .*unmatched close parenthesis$/m);
    await terminals.typeLine("two", "again 'x");
    await terminals.waitFor("one", /^AGAIN\n'X$/m);

    // Ctrl-D ends what two sends: one sees the end and closes, then two.
    await terminals.press("two", "C-d");
    await terminals.waitFor("one", /^\[exit 0\]$/m);
    await terminals.waitFor("two", /^\[exit 0\]$/m);
    const two = await terminals.screen("two");
    assert.equal(two.match(/^error:/gm)?.length, 1, two);
  },
  TERMINAL,
);

test(
  "in a terminal, Ctrl-D half-closes: the sum server's answer to one number still arrives",
  async () => {
    await using server = serve(handleSum, { port: 0 });
    await using terminals = await Terminals.start();
    await terminals.open(
      "sum",
      sockCommand([`--allow-net=127.0.0.1:${server.port}`], [
        "connect",
        "--lisp",
        "127.0.0.1",
        String(server.port),
      ]),
    );
    await terminals.typeLine("sum", "1");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = await terminals.screen("sum");
    assert.doesNotMatch(before, /ERROR|exit/, "no answer before the end");
    await terminals.press("sum", "C-d");
    await terminals.waitFor(
      "sum",
      /^\(:ERROR "expected two numbers, the request ended after one"\)\n\[exit 0\]$/m,
    );
  },
  TERMINAL,
);

test(
  "in a terminal, 1 3 typed to the sum server prints 4 and sock exits 0 when the server closes",
  async () => {
    await using server = serve(handleSum, { port: 0 });
    await using terminals = await Terminals.start();
    await terminals.open(
      "sum",
      sockCommand([`--allow-net=localhost:${server.port}`], [
        "connect",
        "--lisp",
        "localhost",
        String(server.port),
      ]),
    );
    await terminals.typeLine("sum", "1 3");
    await terminals.waitFor("sum", /^4\n\[exit 0\]$/m);
  },
  TERMINAL,
);

test(
  "Ctrl-C ends sock with status 0, connected or still listening",
  async () => {
    using listener = listen({ port: 0 });
    await using terminals = await Terminals.start();
    await terminals.open(
      "connected",
      sockCommand([`--allow-net=127.0.0.1:${listener.port}`], [
        "connect",
        "127.0.0.1",
        String(listener.port),
      ]),
    );
    await using peer = await listener.accept({ timeout: 15_000 });
    await terminals.typeLine("connected", "typed");
    assert.equal(await peer.readLine({ timeout: 5000 }), "typed");
    await terminals.press("connected", "C-c");
    await terminals.waitFor("connected", /^(\^C)?\[exit 0\]$/m);
    assert.equal(await peer.readLine({ timeout: 5000 }), null);

    await terminals.open(
      "listening",
      sockCommand(["--allow-net=127.0.0.1:0"], ["listen", "0"]),
    );
    await terminals.waitFor("listening", /listening on 127\.0\.0\.1:\d+/);
    await terminals.press("listening", "C-c");
    await terminals.waitFor("listening", /^(\^C)?\[exit 0\]$/m);
  },
  TERMINAL,
);

test(
  "in a terminal, a missing grant is asked for, for that one address only; no gives the flags to add",
  async () => {
    using listener = listen({ port: 0 });
    const address = `127.0.0.1:${listener.port}`;
    await using terminals = await Terminals.start();
    await terminals.open(
      "yes",
      sockCommand([], ["connect", "127.0.0.1", String(listener.port)]),
    );
    await terminals.waitFor(
      "yes",
      new RegExp(`requests net access to "${address.replaceAll(".", "\\.")}"`),
    );
    await answerPrompt(terminals, "yes", "y");
    await using peer = await listener.accept({ timeout: 15_000 });
    await terminals.typeLine("yes", "granted");
    assert.equal(await peer.readLine({ timeout: 5000 }), "granted");
    await peer.close();
    await terminals.waitFor("yes", /^\[exit 0\]$/m);

    await terminals.open(
      "no",
      sockCommand([], ["connect", "127.0.0.1", String(listener.port)]),
    );
    await answerPrompt(terminals, "no", "n");
    await terminals.waitFor(
      "no",
      new RegExp(
        `^error: sock may not connect to ${
          address.replaceAll(".", "\\.")
        }: add --allow-net=${
          address.replaceAll(".", "\\.")
        } .*\\n\\[exit 1\\]$`,
        "m",
      ),
    );
  },
  TERMINAL,
);

test(
  "in a terminal, --unix asks for the socket path's three grants one at a time; a no gives the flags to add",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "sock_tmux_unix_" });
    try {
      const path = `${dir}/t.sock`;
      const escaped = path.replaceAll(".", "\\.");
      await using terminals = await Terminals.start();
      await terminals.open("yes", sockCommand([], ["listen", "--unix", path]));
      for (const asked of ["read", "write"]) {
        await terminals.waitFor(
          "yes",
          new RegExp(`requests ${asked} access to "${escaped}"`),
        );
        await answerPrompt(terminals, "yes", "y");
      }
      await terminals.waitFor(
        "yes",
        new RegExp(`requests net access to "unix:${escaped}"`),
      );
      await answerPrompt(terminals, "yes", "y");
      await terminals.waitFor(
        "yes",
        new RegExp(`^listening on ${escaped}$`, "m"),
      );
      const client = await runSock(
        [
          `--allow-read=${path}`,
          `--allow-write=${path}`,
          `--allow-net=unix:${path}`,
        ],
        ["connect", "--unix", path],
        "over unix\n",
      );
      assert.equal(client.code, 0, client.stderr);
      await terminals.waitFor("yes", /^over unix\n\[exit 0\]$/m);

      await terminals.open("no", sockCommand([], ["connect", "--unix", path]));
      await answerPrompt(terminals, "no", "n");
      await terminals.waitFor(
        "no",
        new RegExp(
          `^error: sock may not connect to ${escaped}: add --allow-read=${escaped} --allow-write=${escaped} --allow-net=unix:${escaped} .*\\n\\[exit 1\\]$`,
          "m",
        ),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
  TERMINAL,
);

test("printf '1 2 ' | sock connect … typed at a shell prints 3", async () => {
  await using server = serve(handleSum, { port: 0 });
  await using terminals = await Terminals.start();
  await terminals.open(
    "pipe",
    `printf '1 2 ' | ${
      sockCommand([`--allow-net=127.0.0.1:${server.port}`], [
        "connect",
        "127.0.0.1",
        String(server.port),
      ])
    }; echo`,
  );
  await terminals.waitFor("pipe", /^3\n\[exit 0\]$/m);
}, TERMINAL);

test(
  "in a terminal, hello typed to the Lisp tutorial's passive socket (SBCL, usocket) gets BYE",
  async () => {
    await using lisp = startPeer("passive-one");
    const port = await lisp.listening();
    await using terminals = await Terminals.start();
    await terminals.open(
      "lisp",
      sockCommand([`--allow-net=127.0.0.1:${port}`], [
        "connect",
        "--lisp",
        "127.0.0.1",
        String(port),
      ]),
    );
    await terminals.typeLine("lisp", "hello");
    await terminals.waitFor("lisp", /^BYE\n\[exit 0\]$/m);
    const said = await lisp.finish();
    assert.equal(said.code, 0, said.stderr);
    assert.match(said.stdout, /^HELLO$/m);
  },
  { ...TERMINAL, ignore: missingLisp !== undefined },
);
