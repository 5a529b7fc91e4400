// Interop with real Common Lisp peers over loopback: each example program
// against the SBCL + usocket program of the same tutorial flow
// (tests/peers/peer.lisp), and the sum protocol over the whole SBCL corpus
// (tests/data/sum_corpus.json) in both directions.
//
// Examples run with their shebang's flags, except that a fixed port is
// replaced in both `--port` and the `--allow-net` grant: port 0 for our
// servers, the Lisp server's port for our clients. Lisp servers listen on
// port 0 and print the port they got.

import assert from "node:assert/strict";
import {
  connect,
  formatLisp,
  type LispDatum,
  LispList,
  LispSymbol,
  parseLisp,
  writeLisp,
} from "../mod.ts";
import {
  flagsWithPort,
  runExample,
  type RunningExample,
  type RunResult,
  shebangFlags,
  startExample,
} from "../tools/examples.ts";
import { lispPeerMissing, runPeer, startPeer } from "./_lisp_peer.ts";
import sumCorpus from "./data/sum_corpus.json" with { type: "json" };
import { test } from "./_helpers.ts";

interface SumCase {
  a: string;
  b: string;
  sum?: string;
  error?: string;
}

const cases: SumCase[] = sumCorpus.cases;
const readErrors: string[] = sumCorpus.readErrors.map(({ text }) => text);

/** The tutorial's three `socket-sum` calls, as corpus inputs and answers. */
const TUTORIAL_SUMS = [
  { a: "1", b: "3", sum: "4" },
  { a: "1.234", b: "3.23423", sum: "4.4682302" },
  { a: "3", b: "#C(0.0 1.0)", sum: "#C(3.0 1.0)" },
];

/**
 * For each condition the corpus records SBCL signalling, what our
 * sum_server.ts says in its `(:ERROR "…")` answer for the same sum. SBCL's
 * own sum-server answers `(:error "<the condition printed>")`, whose text
 * names the condition. The two agree on a case when both answer such a form
 * in place of a number, and each message tells the same condition: SBCL's
 * names it, ours matches the pattern here. A condition missing from this
 * table fails the tests, so a regenerated corpus cannot slip past.
 */
const OUR_ERROR_MESSAGES: Record<string, RegExp> = {
  "FLOATING-POINT-OVERFLOW": /^Cannot (add|convert) .*too large/,
};

/** How long any one program may take: a start on a busy machine, and a few exchanges. */
const TIMEOUT = 6_000;
/** How long one exchange on loopback may take. */
const EXCHANGE = { timeout: 2_000 };

const missingLisp = await lispPeerMissing();
if (missingLisp !== undefined) {
  console.log(`interop tests ignored: ${missingLisp}`);
}
const haveLisp = missingLisp === undefined;

function interopTest(
  name: string,
  fn: (t: Deno.TestContext) => Promise<void>,
): void {
  test({ name, ignore: !haveLisp, fn, deadline: 30_000 });
}

/** Starts one of our server examples on a port the OS chooses. */
async function startOurServer(
  name: string,
  args: string[] = [],
): Promise<[RunningExample, number]> {
  const server = startExample(
    name,
    [...args, "--port", "0"],
    flagsWithPort(name, 0),
  );
  return [server, await server.listening()];
}

/** Asserts that a program ended well, showing what it printed if not. */
function assertSuccess(result: RunResult, who: string): void {
  assert.equal(
    result.code,
    0,
    `${who} exited with ${result.code}: ${result.stdout}${result.stderr}`,
  );
}

/**
 * Runs a client against a server that is listening, then waits for the
 * server's end (for only a moment when the client failed). Fails, showing
 * what both printed, unless both exit 0.
 */
async function exchange(
  server: RunningExample,
  serverName: string,
  running: Promise<RunResult>,
  clientName: string,
): Promise<{ client: RunResult; server: RunResult }> {
  const client = await running;
  const ended = await server.finish(client.code === 0 ? TIMEOUT : 1000);
  const show = (name: string, { code, stdout, stderr }: RunResult) =>
    `${name} exited with ${code}, printing ${JSON.stringify(stdout + stderr)}`;
  const transcript = `${show(clientName, client)}; ${show(serverName, ended)}`;
  assert.equal(client.code, 0, transcript);
  assert.equal(ended.code, 0, transcript);
  return { client, server: ended };
}

/** The message of an `(:ERROR "…")` form, or undefined for any other datum. */
function errorMessage(datum: LispDatum): string | undefined {
  if (!(datum instanceof LispList) || datum.tail !== undefined) return;
  const [head, message, ...rest] = datum.items;
  if (
    head instanceof LispSymbol && head.keyword && head.name === "ERROR" &&
    typeof message === "string" && rest.length === 0
  ) {
    return message;
  }
  return undefined;
}

/** The message of a reply that is an `(:ERROR "…")` form; fails otherwise. */
function assertErrorForm(reply: string, context: string): string {
  let datum: LispDatum;
  try {
    datum = parseLisp(reply);
  } catch (error) {
    assert.fail(`${context}: unreadable reply ${reply}: ${error}`);
  }
  const message = errorMessage(datum);
  assert.ok(message, `${context}: ${reply} is not an (:ERROR "…") form`);
  return message;
}

/** Our pattern for a condition SBCL signals; fails for an unknown one. */
function ourMessageFor(condition: string): RegExp {
  const pattern = OUR_ERROR_MESSAGES[condition];
  assert.ok(pattern, `no known answer of ours for SBCL's ${condition}`);
  return pattern;
}

/** Sends one pair as sum_client.ts does and returns the raw reply text. */
async function askSum(port: number, a: string, b: string): Promise<string> {
  await using socket = await connect({
    hostname: "localhost",
    port,
    ...EXCHANGE,
  });
  await writeLisp(socket, parseLisp(a));
  await socket.write(" ");
  await writeLisp(socket, parseLisp(b));
  await socket.write(" ");
  await socket.flush();
  return new TextDecoder().decode(await socket.readAll(EXCHANGE));
}

/** Sends raw text, ends the request there, and returns the raw reply text. */
async function askRaw(port: number, text: string): Promise<string> {
  await using socket = await connect({ port, ...EXCHANGE });
  await socket.write(text);
  await socket.closeWrite();
  return new TextDecoder().decode(await socket.readAll(EXCHANGE));
}

interopTest(
  "passive_socket.ts reads HELLO from SBCL's active socket, which reads BYE",
  async () => {
    await using ours = startExample("passive_socket");
    const port = await ours.listening();
    const { client, server } = await exchange(
      ours,
      "passive_socket.ts",
      runPeer("active-two", ["127.0.0.1", String(port)], TIMEOUT),
      "SBCL active-two",
    );
    assert.equal(client.stdout, "BYE\n");
    assert.equal(server.stdout, `listening on 127.0.0.1:${port}\nHELLO\n`);
  },
);

interopTest(
  "active_socket.ts reads BYE from SBCL's passive socket, which reads HELLO",
  async () => {
    await using theirs = startPeer("passive-one");
    const port = await theirs.listening();
    const { client, server } = await exchange(
      theirs,
      "SBCL passive-one",
      runExample(
        "active_socket",
        ["--port", String(port)],
        shebangFlags("active_socket"),
        TIMEOUT,
      ),
      "active_socket.ts",
    );
    assert.equal(client.stdout, "BYE\n");
    assert.equal(server.stdout, `listening on 127.0.0.1:${port}\nHELLO\n`);
  },
);

interopTest(
  "hello_server.ts --once greets SBCL's hello-client and stops",
  async () => {
    const [ours, port] = await startOurServer("hello_server", ["--once"]);
    await using _ours = ours;
    const { client, server } = await exchange(
      ours,
      "hello_server.ts",
      runPeer("hello-client", [String(port)], TIMEOUT),
      "SBCL hello-client",
    );
    assert.equal(client.stdout, "Input is: Hello World\n");
    assert.match(
      server.stdout,
      /\nsaid hello to 127\.0\.0\.1:\d+\nserved 1 client, 0 errors, [^\n]*\n$/,
    );
  },
);

interopTest(
  "hello_client.ts prints the line SBCL's hello-server sends",
  async () => {
    await using theirs = startPeer("hello-server", ["0"]);
    const port = await theirs.listening();
    const { client } = await exchange(
      theirs,
      "SBCL hello-server",
      runExample(
        "hello_client",
        ["--port", String(port)],
        flagsWithPort("hello_client", port),
        TIMEOUT,
      ),
      "hello_client.ts",
    );
    assert.equal(client.stdout, "Input is: Hello World\n");
  },
);

interopTest(
  "udp_reverse_server.ts --once sends SBCL's datagram back reversed",
  async () => {
    const [ours, port] = await startOurServer("udp_reverse_server", [
      "--once",
    ]);
    await using _ours = ours;
    const { client, server } = await exchange(
      ours,
      "udp_reverse_server.ts",
      runPeer("udp-reverse-client", [String(port)], TIMEOUT),
      "SBCL udp-reverse-client",
    );
    assert.equal(client.stdout, "#(8 7 6 5 4 3 2 1)\n");
    assert.equal(
      server.stdout,
      `listening on 127.0.0.1:${port}\n#(1 2 3 4 5 6 7 8)\nanswered 1 of 1 datagram, 0 errors, 0 dropped\n`,
    );
  },
);

interopTest(
  "udp_reverse_client.ts gets its datagram back reversed from SBCL's server",
  async () => {
    await using theirs = startPeer("udp-reverse-server", ["0"]);
    const port = await theirs.listening();
    const { client, server } = await exchange(
      theirs,
      "SBCL udp-reverse-server",
      runExample(
        "udp_reverse_client",
        ["--port", String(port)],
        flagsWithPort("udp_reverse_client", port),
        TIMEOUT,
      ),
      "udp_reverse_client.ts",
    );
    assert.equal(client.stdout, "#(8 7 6 5 4 3 2 1)\n");
    assert.equal(
      server.stdout,
      `listening on 127.0.0.1:${port}\n#(1 2 3 4 5 6 7 8)\n`,
    );
  },
);

interopTest(
  "sum_server.ts answers SBCL's socket-sum with SBCL's own sum for every corpus pair",
  async () => {
    const [ours, port] = await startOurServer("sum_server");
    await using _ours = ours;
    const file = await Deno.makeTempFile({ suffix: ".txt" });
    let theirs: RunResult;
    try {
      await Deno.writeTextFile(
        file,
        cases.map(({ a, b }) => `${a} ${b}\n`).join(""),
      );
      theirs = await runPeer(
        "socket-sum-file",
        ["localhost", String(port), file],
        TIMEOUT,
      );
    } finally {
      await Deno.remove(file);
    }
    assertSuccess(theirs, "SBCL socket-sum-file");
    const lines = theirs.stdout.split("\n");
    assert.equal(lines.pop(), "");
    assert.equal(lines.length, cases.length);

    // Each line is (DATUM "REPLY"): the reply as SBCL read and printed it,
    // then the exact text our server sent. A sum agrees when both are the
    // corpus's answer; an error when the reply is an (:ERROR "…") form that
    // SBCL prints back unchanged and whose message tells the condition.
    const disagreements: string[] = [];
    cases.forEach(({ a, b, sum, error }, i) => {
      const line = lines[i]!;
      if (sum !== undefined) {
        if (line !== `(${sum} "${sum}")`) {
          disagreements.push(`${a} + ${b}: expected ${sum}, got ${line}`);
        }
        return;
      }
      const pair = parseLisp(line);
      const [read, reply] = pair instanceof LispList ? pair.items : [];
      const message = read === undefined ? undefined : errorMessage(read);
      if (
        typeof reply !== "string" || message === undefined ||
        !line.startsWith(`(${reply} `) ||
        !ourMessageFor(error!).test(message)
      ) {
        disagreements.push(
          `${a} + ${b}: SBCL signals ${error}, our server answered ${line}`,
        );
      }
    });
    assert.deepEqual(disagreements, []);
    for (const { a, b, sum } of TUTORIAL_SUMS) {
      const i = cases.findIndex((c) => c.a === a && c.b === b);
      assert.ok(i >= 0, `the corpus holds ${a} + ${b}`);
      assert.equal(lines[i], `(${sum} "${sum}")`);
    }

    const result = await ours.stop();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "");
  },
);

interopTest(
  "SBCL's sum-server answers sock clients as the corpus says for every pair",
  async (t) => {
    // About ten pairs go through the real sum_client.ts, spread over the
    // corpus: the tutorial's three, the first error case, and every 97th
    // case; the rest go through the library in this process.
    const viaExample = new Set<number>([
      ...TUTORIAL_SUMS.map(({ a, b }) =>
        cases.findIndex((c) => c.a === a && c.b === b)
      ),
      cases.findIndex((c) => c.error !== undefined),
      ...cases.map((_, i) => i).filter((i) => i % 97 === 50),
    ]);
    assert.ok(!viaExample.has(-1), "the corpus holds the tutorial's sums");
    await using theirs = startPeer("sum-server", ["0", String(cases.length)]);
    const port = await theirs.listening();

    await t.step(
      `sum_client.ts prints SBCL's answer for ${viaExample.size} pairs`,
      async () => {
        const flags = flagsWithPort("sum_client", port);
        const results = await Promise.all(
          [...viaExample].map((i) =>
            runExample(
              "sum_client",
              ["--port", String(port), cases[i]!.a, cases[i]!.b],
              flags,
              TIMEOUT,
            )
          ),
        );
        [...viaExample].forEach((i, k) => {
          const { a, b, sum, error } = cases[i]!;
          const { code, stdout, stderr } = results[k]!;
          if (sum !== undefined) {
            assert.deepEqual({ code, stdout, stderr }, {
              code: 0,
              stdout: `${sum}\n`,
              stderr: "",
            }, `${a} + ${b}`);
          } else {
            assert.equal(code, 1, `${a} + ${b}`);
            assert.equal(stdout, "");
            assert.match(
              stderr,
              new RegExp(`^error: the server refused: .*\\b${error}\\b`),
            );
          }
        });
      },
    );

    const inProcess = cases.filter((_, i) => !viaExample.has(i));
    await t.step(
      `the library gets SBCL's exact bytes for the other ${inProcess.length} pairs`,
      async () => {
        const disagreements: string[] = [];
        for (const { a, b, sum, error } of inProcess) {
          const reply = await askSum(port, a, b);
          if (sum !== undefined) {
            if (reply !== sum || formatLisp(parseLisp(reply)) !== sum) {
              disagreements.push(`${a} + ${b}: expected ${sum}, got ${reply}`);
            }
          } else {
            const message = assertErrorForm(reply, `${a} + ${b}`);
            if (!message.includes(error!)) {
              disagreements.push(
                `${a} + ${b}: expected SBCL to signal ${error}, got ${reply}`,
              );
            }
          }
        }
        assert.deepEqual(disagreements, []);
      },
    );

    const result = await theirs.finish(TIMEOUT);
    assertSuccess(result, "SBCL sum-server");
  },
);

interopTest(
  "sum_server.ts and SBCL's sum-server both refuse every text SBCL cannot read",
  async () => {
    const [ours, port] = await startOurServer("sum_server");
    await using _ours = ours;
    await using theirs = startPeer(
      "sum-server",
      ["0", String(readErrors.length)],
    );
    const theirPort = await theirs.listening();
    for (const text of readErrors) {
      // Only the text, then the end of the request: both servers fail on
      // the first number and leave nothing unread.
      assertErrorForm(await askRaw(port, text), `sum_server.ts on ${text}`);
      assertErrorForm(await askRaw(theirPort, text), `SBCL on ${text}`);
    }
    assertSuccess(await theirs.finish(TIMEOUT), "SBCL sum-server");
    const result = await ours.stop();
    assert.equal(result.code, 0, result.stderr);
  },
);
