// Accept loops under faults: a process out of file descriptors, and clients
// that reset before they are accepted. The servers run in child processes
// with a low `ulimit -n`, on loopback.
import assert from "node:assert/strict";
import { connect, listen, type Socket, TimeoutError } from "../mod.ts";
import { canRun, delay, testsWithDeadline, until } from "./_helpers.ts";

/** Bounded tests: each test starts a server process, so 15 s each. */
const test = testsWithDeadline(15_000);

const FIXTURES = new URL("./fixtures/", import.meta.url);
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const EMFILE_LINE =
  /^listener on 127\.0\.0\.1:\d+ \(retrying\): Cannot accept on 127\.0\.0\.1:\d+: too many open files in this process \(close connections, or raise the limit with ulimit -n\)$/;

/** The lines a child writes to one stream, as they arrive. */
class Lines {
  readonly lines: string[] = [];
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = this.#collect(stream);
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + text).split("\n");
      rest = parts.pop()!;
      this.lines.push(...parts);
    }
    if (rest !== "") this.lines.push(rest);
  }

  /** Waits (at most `ms`) for a line that matches, and returns it. */
  async waitFor(pattern: RegExp, ms = 5000): Promise<string> {
    await until(() => this.lines.some((line) => pattern.test(line)), ms)
      .catch(() => {
        throw new Error(
          `No line matched ${pattern} within ${ms} ms; got ${
            JSON.stringify(this.lines)
          }`,
        );
      });
    return this.lines.find((line) => pattern.test(line))!;
  }
}

/** A child process whose stdout and stderr are read line by line. */
interface Child {
  stdout: Lines;
  stderr: Lines;
  /** Closes stdin and waits for the exit (killing the child if it takes too long). */
  stop(): Promise<Deno.CommandStatus>;
}

/**
 * Runs `deno ARGS` under `ulimit -n LIMIT`; `stop()` waits `ms` at most.
 * Deno's update check is off: it would print a warning once out of
 * descriptors.
 */
function spawnLimited(limit: number, args: string[], ms = 5000): Child {
  const process = new Deno.Command("bash", {
    env: { DENO_NO_UPDATE_CHECK: "1" },
    args: [
      "-c",
      `ulimit -n ${limit} && exec "$@"`,
      "bash",
      Deno.execPath(),
      ...args,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = new Lines(process.stdout);
  const stderr = new Lines(process.stderr);
  return {
    stdout,
    stderr,
    async stop() {
      await process.stdin.close();
      const timer = setTimeout(() => process.kill("SIGKILL"), ms);
      try {
        const status = await process.status;
        await Promise.all([stdout.done, stderr.done]);
        return status;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/**
 * Connects and reads the server's greeting, or says why none came; one
 * that does not come within 2 s fails as a wait that ran out of time.
 */
async function greeting(port: number): Promise<string> {
  await using client = await connect({ port, timeout: 2000 });
  return await client.readLine({ timeout: 2000 }).then(
    (line) => line ?? "end of stream",
    (error) => {
      if (error instanceof TimeoutError) throw error;
      return `${error.name}: ${error.message}`;
    },
  );
}

/** The lines of the child's stderr that report the shortage. */
function shortageReports(child: Child): string[] {
  return child.stderr.lines.filter((line) => /too many open files/.test(line));
}

/**
 * Starts accept_server.ts in `mode` with 40 descriptors, connects more
 * clients than it can hold, frees them, and checks that it serves again
 * and reported the shortage once.
 */
async function exhaustAndRecover(mode: "iterate" | "serve"): Promise<void> {
  const server = spawnLimited(40, [
    "run",
    "--no-config",
    "--no-prompt",
    "--allow-net=127.0.0.1",
    new URL("accept_server.ts", FIXTURES).pathname,
    mode,
  ]);
  const clients: Deno.TcpConn[] = [];
  let heldReports: string[] = [];
  let status: Deno.CommandStatus;
  try {
    const port = Number(await server.stdout.waitFor(/^\d+$/));
    assert.equal(await greeting(port), "served");
    // More clients than descriptors: the rest wait in the backlog.
    for (let i = 0; i < 60; i++) {
      clients.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    }
    await server.stderr.waitFor(/too many open files/);
    // Some seven retries (after 5, 10, 20, 40, … ms) fail meanwhile.
    await delay(400);
    heldReports = shortageReports(server);
    for (const client of clients.splice(0)) client.close();
    assert.equal(await greeting(port), "served");
    assert.equal(await greeting(port), "served");
  } catch (error) {
    for (const client of clients) client.close();
    status = await server.stop();
    throw new Error(
      `${error}\nThe server exited with ${status.code}; its stderr:\n${
        server.stderr.lines.join("\n")
      }`,
      { cause: error },
    );
  }
  status = await server.stop();
  // One burst while the clients were held (two if a descriptor came free
  // at its very start); more when freed clients were accepted faster than
  // their descriptors were closed, each burst ending with an accept.
  assert.ok(
    heldReports.length >= 1 && heldReports.length <= 2,
    `expected the shortage reported once, not per retry, got ${heldReports.length} lines: ${
      JSON.stringify(heldReports)
    }`,
  );
  assert.deepEqual(server.stderr.lines, shortageReports(server));
  for (const line of server.stderr.lines) assert.match(line, EMFILE_LINE);
  assert.equal(server.stdout.lines.at(-1), "loop ended");
  assert.ok(
    status.success,
    `server exited with ${status.code}: ${server.stderr.lines.join("\n")}`,
  );
}

test("for await over a listener keeps serving after the process runs out of descriptors", async () => {
  await exhaustAndRecover("iterate");
});

test("serve() keeps serving after the process runs out of descriptors", async () => {
  await exhaustAndRecover("serve");
});

test("accept() backs off through EMFILE, honours its timeout and signal, and close() ends the back-off", async () => {
  // The fixture is itself a test, run with this project's sanitizers in a
  // process with few descriptors, so that it can exhaust them itself.
  const child = spawnLimited(64, [
    "test",
    "--config",
    CONFIG,
    "--no-check",
    "--allow-net=127.0.0.1",
    new URL("accept_backoff.ts", FIXTURES).pathname,
  ], 9000);
  const status = await child.stop();
  assert.ok(
    status.success,
    `the fixture failed:\n${
      [...child.stdout.lines, ...child.stderr.lines].join("\n")
    }`,
  );
  await child.stdout.waitFor(/\| 1 passed \| 0 failed/, 0);
});

/** Runs python3 with `code`; null when there is no python3. */
async function python(code: string, ...args: string[]): Promise<number | null> {
  try {
    const { code: status } = await new Deno.Command("python3", {
      args: ["-c", code, ...args],
      stdout: "null",
      stderr: "inherit",
    }).output();
    return status;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

const havePython = await canRun("python3");
if (!havePython) {
  console.log(
    "the reset-before-accept test is ignored: python3 is not installed",
  );
}

const RESET_CLIENT = `
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
`;

test(
  "a client that resets (SO_LINGER 0) before accept is skipped quietly and for await goes on",
  async () => {
    const reports: unknown[] = [];
    const listener = listen({
      port: 0,
      onError: (error) => reports.push(error),
    });
    const served: Socket[] = [];
    try {
      // Nothing accepts yet, so the reset lands while the client waits in the
      // backlog: Deno's accept() then fails with ENOTCONN.
      const status = await python(RESET_CLIENT, String(listener.port));
      assert.equal(status, 0);
      const loop = (async () => {
        for await (const socket of listener) {
          served.push(socket);
          await socket.write("served\n");
          await socket.flush();
        }
        return "ended";
      })();
      assert.equal(await greeting(listener.port), "served");
      assert.equal(served.length, 1);
      assert.deepEqual(reports, [], "a client that is gone is not reported");
      listener.close();
      assert.equal(await loop, "ended");
    } finally {
      listener.close();
      for (const socket of served) await socket.close({ abort: true });
    }
  },
  { ignore: !havePython },
);
