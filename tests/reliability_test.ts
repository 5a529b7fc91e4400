// The sum server under load, idle floods, hostile input, resets and SIGTERM.
// It runs as its own process, started as a user would, on 127.0.0.1 only;
// every loop here is bounded in count and time. The figures are printed as
// `reliability: …` lines.
import assert from "node:assert/strict";
import { connect, isLispNumber, parseLisp } from "../mod.ts";
import { type RunningExample, startExample } from "../tools/examples.ts";
import { canRun, delay, test } from "./_helpers.ts";
import { type CertSet, haveOpenssl, makeCerts } from "./_certs.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function startSumServer(idleTimeout = 10_000): RunningExample {
  return startExample(
    "sum_server",
    ["--port", "0", "--idle-timeout", String(idleTimeout)],
    ["--allow-net=127.0.0.1:0"],
  );
}

/** Runs a shell command and returns its output (reading /proc directly needs --allow-all). */
async function sh(script: string): Promise<string> {
  const { stdout } = await new Deno.Command("sh", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "null",
  }).output();
  return decoder.decode(stdout).trim();
}

/** Resident memory of a process, in KiB. */
async function rssKiB(pid: number): Promise<number> {
  return Number(
    (await sh(`grep VmRSS /proc/${pid}/status`)).replace(/\D+/g, ""),
  );
}

/** Open file descriptors of a process. */
async function openFds(pid: number): Promise<number> {
  return Number(await sh(`ls /proc/${pid}/fd | wc -l`));
}

function report(line: string): void {
  console.log(`reliability: ${line}`);
}

/** Sends raw bytes, half-closes, and reads the whole reply (or "" when the server cut us off). */
async function exchange(
  port: number,
  request: Uint8Array,
  timeout = 10_000,
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), timeout);
  const chunks: Uint8Array[] = [];
  try {
    const sending = (async () => {
      let view = request;
      while (view.length > 0) view = view.subarray(await conn.write(view));
      await conn.closeWrite();
    })().catch(() => {});
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    await sending;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timer.
    }
  }
  return decoder.decode(await new Blob(chunks as BlobPart[]).bytes());
}

/** Runs `count` jobs with at most `width` at a time. */
async function pool<T>(
  count: number,
  width: number,
  job: (i: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) {
      const i = next++;
      results[i] = await job(i);
    }
  }));
  return results;
}

/** A small seeded generator, so a failing case can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test(
  "reliability: 1,000 concurrent sum clients all get the right answer",
  async () => {
    await using server = startSumServer();
    const port = await server.listening();
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        await using socket = await connect({ port, timeout: 5_000 });
        await socket.write(`${i} ${i * 7}/2 `);
        await socket.flush();
        return decoder.decode(await socket.readAll({ timeout: 5_000 }));
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    answers.forEach((answer, i) => {
      const expected = (i * 9) % 2 === 0 ? String((i * 9) / 2) : `${i * 9}/2`;
      assert.equal(answer, expected, `client ${i}`);
    });
    report(
      `1000 concurrent sum clients: 1000 correct in ${
        seconds.toFixed(2)
      } s, server RSS ${await rssKiB(server.pid)} KiB`,
    );
    assert.equal((await server.stop()).code, 0);
  },
  { deadline: 30_000 },
);

test(
  "reliability: 500 idle connections do not block normal clients and are closed after idleTimeout",
  async () => {
    const idleTimeout = 1000;
    await using server = startSumServer(idleTimeout);
    const port = await server.listening();
    const opened = performance.now();
    const idle = await Promise.all(
      Array.from(
        { length: 500 },
        () => Deno.connect({ hostname: "127.0.0.1", port }),
      ),
    );
    const closedAt: number[] = [];
    const watching = idle.map(async (conn) => {
      const n = await conn.read(new Uint8Array(16)).catch(() => null);
      closedAt.push(performance.now() - opened);
      conn.close();
      return n;
    });
    const normal = await pool(
      200,
      20,
      async (i) => await exchange(port, encoder.encode(`${i} 1 `)),
    );
    normal.forEach((answer, i) => assert.equal(answer, String(i + 1)));
    const servedWhileIdle = performance.now() - opened;
    assert.deepEqual(
      closedAt,
      [],
      "normal clients were served while the idle ones were still open",
    );
    const reads = await Promise.all(watching);
    assert.ok(
      reads.every((n) => n === null),
      "idle connections see the end of the stream, never data",
    );
    const slowest = Math.max(...closedAt);
    const fastest = Math.min(...closedAt);
    assert.ok(
      fastest >= idleTimeout * 0.9,
      `none closed before idleTimeout (first at ${fastest} ms)`,
    );
    report(
      `500 idle connections: 200 normal requests served in ${
        servedWhileIdle.toFixed(0)
      } ms meanwhile; ` +
        `idle ones closed between ${fastest.toFixed(0)} and ${
          slowest.toFixed(0)
        } ms (idleTimeout ${idleTimeout} ms)`,
    );
    assert.equal((await server.stop()).code, 0);
  },
  { deadline: 30_000 },
);

/** The kinds of request hostileRequest() makes, 1,000 of each in 10,000. */
const KINDS = [
  "random bytes",
  "truncated",
  "huge token",
  "deep nesting",
  "read-time eval",
  "overflow",
  "not a number",
  "unbalanced",
  "empty",
  "valid",
];

const ERROR_FORM = /^\(:ERROR "(?:[^"\\]|\\.)*"\)$/s;

/**
 * How the server answered request `i` of `kind`: "error form", "sum" (a
 * number; the exact sum for a valid request), or a failed assertion for
 * anything else, a close without a reply included.
 */
function outcomeOf(kind: string, reply: string, i: number): string {
  if (kind === "valid") {
    assert.equal(reply, String(i + 1), `valid request ${i}`);
    return "sum";
  }
  if (ERROR_FORM.test(reply)) return "error form";
  assert.ok(
    reply !== "" && isLispNumber(parseLisp(reply)),
    `request ${i} (${kind}) got ${JSON.stringify(reply)}`,
  );
  return "sum";
}

/** One hostile request, of a kind chosen by the generator. */
function hostileRequest(
  next: () => number,
  i: number,
): { kind: string; bytes: Uint8Array } {
  const pick = <T>(items: T[]) => items[Math.floor(next() * items.length)]!;
  const digits = (n: number) =>
    Array.from({ length: n }, () => Math.floor(next() * 10)).join("");
  switch (i % 10) {
    case 0: {
      const bytes = new Uint8Array(1 + Math.floor(next() * 200));
      for (let j = 0; j < bytes.length; j++) {
        bytes[j] = Math.floor(next() * 256);
      }
      return { kind: "random bytes", bytes };
    }
    case 1: {
      const valid = `${digits(1 + Math.floor(next() * 30))} ${
        pick(["1.5", "#C(1 2)", "1/3", "2d0"])
      } `;
      return {
        kind: "truncated",
        bytes: encoder.encode(
          valid.slice(0, Math.floor(next() * valid.length)),
        ),
      };
    }
    case 2:
      return {
        kind: "huge token",
        bytes: encoder.encode(
          digits(i % 1000 === 2 ? 1_000_000 : 5000 + Math.floor(next() * 5000)),
        ),
      };
    case 3:
      return {
        kind: "deep nesting",
        bytes: encoder.encode("(".repeat(65 + Math.floor(next() * 5000))),
      };
    case 4:
      return {
        kind: "read-time eval",
        bytes: encoder.encode(
          pick(['#.(run-program "rm") 1 ', "1 #.(quit) ", "#.1 2 "]),
        ),
      };
    case 5:
      return {
        kind: "overflow",
        bytes: encoder.encode(
          pick([
            "3.0e38 3.0e38 ",
            "1.0d308 1.0d308 ",
            "1.0e39 1 ",
            "1d309 0 ",
            `${"9".repeat(40)} 1.0 `,
          ]),
        ),
      };
    case 6:
      return {
        kind: "not a number",
        bytes: encoder.encode(
          pick([
            "foo 1 ",
            '1 "two" ',
            "(1 2) 3 ",
            "#(1) 2 ",
            "#\\a 1 ",
            ":k 1 ",
            "nil nil ",
          ]),
        ),
      };
    case 7:
      return {
        kind: "unbalanced",
        bytes: encoder.encode(
          pick([")", "(1 2", '"open string', "#C(1", "1 )"]),
        ),
      };
    case 8:
      return {
        kind: "empty",
        bytes: encoder.encode(pick(["", " ", "\n\n", "; only a comment\n"])),
      };
    default:
      return { kind: "valid", bytes: encoder.encode(`${i} 1 `) };
  }
}

test(
  "reliability: 10,000 hostile requests each get an error form, and the server stays correct",
  async () => {
    await using server = startSumServer(2000);
    const port = await server.listening();
    assert.equal(await exchange(port, encoder.encode("1 3 ")), "4");
    const rssBefore = await rssKiB(server.pid);
    const next = random(20261121);
    const requests = Array.from(
      { length: 10_000 },
      (_, i) => hostileRequest(next, i),
    );
    const outcomes = new Map<string, number>();
    let slowest = 0;
    const started = performance.now();
    await pool(requests.length, 64, async (i) => {
      const { kind, bytes } = requests[i]!;
      const begun = performance.now();
      const reply = await exchange(port, bytes);
      slowest = Math.max(slowest, performance.now() - begun);
      const outcome = outcomeOf(kind, reply, i);
      outcomes.set(
        `${kind}: ${outcome}`,
        (outcomes.get(`${kind}: ${outcome}`) ?? 0) + 1,
      );
    });
    // Every request got an answer: an error form for each bad one, except
    // that random or cut-short bytes may happen to spell two numbers. No
    // request is answered by a close: the server replies before it hangs up.
    const count = (key: string) => outcomes.get(key) ?? 0;
    for (const kind of KINDS) {
      const total = count(`${kind}: error form`) + count(`${kind}: sum`);
      assert.equal(total, 1000, `${kind}: ${total} answered of 1000`);
      if (kind === "valid") assert.equal(count("valid: sum"), 1000);
      else if (kind !== "random bytes" && kind !== "truncated") {
        assert.equal(count(`${kind}: error form`), 1000, kind);
      }
    }
    assert.ok(
      count("random bytes: error form") > 900 &&
        count("truncated: error form") > 500,
      "most random and truncated requests are errors",
    );
    const seconds = (performance.now() - started) / 1000;
    assert.equal(
      await exchange(port, encoder.encode("1.234 3.23423 ")),
      "4.4682302",
    );
    const rssAfter = await rssKiB(server.pid);
    // A second, smaller round shows whether memory keeps climbing or has levelled off.
    await pool(5000, 64, async (i) => await exchange(port, requests[i]!.bytes));
    assert.equal(await exchange(port, encoder.encode("1 3 ")), "4");
    const rssSecond = await rssKiB(server.pid);
    assert.ok(
      rssSecond - rssBefore < 200 * 1024,
      `memory stays bounded: ${rssBefore} → ${rssSecond} KiB`,
    );
    assert.ok(
      rssAfter - rssBefore < 200 * 1024,
      `memory stays bounded: ${rssBefore} → ${rssAfter} KiB`,
    );
    report(
      `10000 hostile requests in ${seconds.toFixed(1)} s: ${
        [...outcomes].map(([k, v]) => `${v} ${k}`).join(", ")
      }; ` +
        `slowest ${
          slowest.toFixed(0)
        } ms; server RSS ${rssBefore} KiB before, ${rssAfter} KiB after, ${rssSecond} KiB after 5000 more`,
    );
    assert.equal((await server.stop()).code, 0);
  },
  { deadline: 180_000 },
);

test(
  "reliability: clients that vanish mid-request or reset leave no crash and no leaked socket",
  async () => {
    await using server = startSumServer(1000);
    const port = await server.listening();
    assert.equal(await exchange(port, encoder.encode("2 2 ")), "4");
    await delay(50);
    const fdsBefore = await openFds(server.pid);
    await pool(300, 30, async (i) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(encoder.encode(i % 2 ? "12" : "1 (2 3"));
      conn.close();
    });
    let resets = 0;
    if (await canRun("python3")) {
      // SO_LINGER 0 makes close() send a reset instead of a FIN.
      const script = `
import socket, struct, sys
for i in range(200):
    s = socket.create_connection(("127.0.0.1", ${port}))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.sendall(b"123 4")
    s.close()
print("ok")`;
      const out = await new Deno.Command("python3", {
        args: ["-c", script],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(
        decoder.decode(out.stdout).trim(),
        "ok",
        decoder.decode(out.stderr),
      );
      resets = 200;
    } else {
      console.log(
        "reliability: python3 not found, the reset clients were skipped",
      );
    }
    assert.equal(await exchange(port, encoder.encode("5 5 ")), "10");
    let fdsAfter = await openFds(server.pid);
    for (let i = 0; i < 100 && fdsAfter > fdsBefore; i++) {
      await delay(20);
      fdsAfter = await openFds(server.pid);
    }
    assert.equal(
      fdsAfter,
      fdsBefore,
      "the server holds no socket of a vanished client",
    );
    report(
      `300 clients vanished mid-request and ${resets} reset theirs: server still correct, open fds ${fdsBefore} before and ${fdsAfter} after`,
    );
    assert.equal((await server.stop()).code, 0);
  },
  { deadline: 30_000 },
);

test(
  "reliability: SIGTERM during load answers in-flight requests, refuses new ones, exits 0",
  async () => {
    await using server = startSumServer();
    const port = await server.listening();
    const inFlight = await Promise.all(Array.from({ length: 100 }, async () => {
      const socket = await connect({ port, timeout: 2000 });
      await socket.write("1 ");
      await socket.flush();
      return socket;
    }));
    await delay(50);
    const signalled = performance.now();
    server.kill("SIGTERM");
    let refused = false;
    for (let i = 0; i < 100 && !refused; i++) {
      try {
        const late = await connect({ port, timeout: 1000 });
        await late.close({ abort: true });
        await delay(5);
      } catch {
        refused = true;
      }
    }
    assert.ok(refused, "new connections are refused after SIGTERM");
    const answers = await Promise.all(inFlight.map(async (socket, i) => {
      await socket.write(`${i} `);
      await socket.flush().catch(() => {});
      const answer = decoder.decode(await socket.readAll({ timeout: 2000 }));
      await socket.close();
      return answer;
    }));
    answers.forEach((answer, i) =>
      assert.equal(answer, String(i + 1), `in-flight request ${i}`)
    );
    const done = await server.finish();
    const drained = performance.now() - signalled;
    assert.equal(done.code, 0);
    report(
      `SIGTERM with 100 requests in flight: 100 answered, new connections refused, exit 0 after ${
        drained.toFixed(0)
      } ms`,
    );
  },
  { deadline: 30_000 },
);

// --- over TLS ---------------------------------------------------------

const tlsCerts = await haveOpenssl() ? await makeCerts() : undefined;
if (tlsCerts === undefined) {
  console.log("reliability TLS runs ignored: openssl not found");
}
globalThis.addEventListener("unload", () => {
  if (tlsCerts) Deno.removeSync(tlsCerts.dir, { recursive: true });
});

function startTlsSumServer(c: CertSet): RunningExample {
  return startExample(
    "sum_server",
    [
      "--port",
      "0",
      "--tls-cert",
      c.serverCertFile,
      "--tls-key",
      c.serverKeyFile,
    ],
    [
      "--allow-net=127.0.0.1:0",
      `--allow-read=${c.serverCertFile},${c.serverKeyFile}`,
    ],
  );
}

async function tlsSum(
  port: number,
  c: CertSet,
  i: number,
): Promise<string> {
  await using socket = await connect({
    hostname: "localhost",
    port,
    tls: { caCerts: [c.caCert] },
    timeout: 5_000,
  });
  await socket.write(`${i} ${i * 7}/2 `);
  await socket.flush();
  return decoder.decode(await socket.readAll({ timeout: 5_000 }));
}

function expectedSum(i: number): string {
  return (i * 9) % 2 === 0 ? String((i * 9) / 2) : `${i * 9}/2`;
}

test(
  "reliability: 500 concurrent TLS sum clients all get the right answer",
  async () => {
    const c = tlsCerts!;
    await using server = startTlsSumServer(c);
    const port = await server.listening();
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 500 }, (_, i) => tlsSum(port, c, i)),
    );
    const seconds = (performance.now() - started) / 1000;
    answers.forEach((answer, i) =>
      assert.equal(answer, expectedSum(i), `client ${i}`)
    );
    report(
      `500 concurrent TLS sum clients: 500 correct in ${
        seconds.toFixed(2)
      } s, server RSS ${await rssKiB(server.pid)} KiB`,
    );
    const { code, stderr } = await server.stop();
    assert.equal(code, 0);
    assert.equal(stderr, "");
  },
  { deadline: 60_000, ignore: tlsCerts === undefined },
);

test(
  "reliability: 100 silent TLS handshakes held open while normal TLS clients are served",
  async () => {
    const c = tlsCerts!;
    await using server = startTlsSumServer(c);
    const port = await server.listening();
    assert.equal(await tlsSum(port, c, 1), expectedSum(1));
    await delay(50);
    const fdsBefore = await openFds(server.pid);
    const silent = await Promise.all(
      Array.from(
        { length: 100 },
        () => Deno.connect({ hostname: "127.0.0.1", port }),
      ),
    );
    try {
      const started = performance.now();
      let slowest = 0;
      await pool(200, 50, async (i) => {
        const begun = performance.now();
        assert.equal(await tlsSum(port, c, i), expectedSum(i), `client ${i}`);
        slowest = Math.max(slowest, performance.now() - begun);
      });
      const seconds = (performance.now() - started) / 1000;
      const fdsHeld = await openFds(server.pid);
      report(
        `100 silent TLS handshakes held: 200 normal TLS clients correct in ${
          seconds.toFixed(2)
        } s (slowest ${
          slowest.toFixed(0)
        } ms); server fds ${fdsBefore} before, ${fdsHeld} with the silent clients`,
      );
      assert.ok(fdsHeld >= fdsBefore + 100, `${fdsBefore} → ${fdsHeld}`);
    } finally {
      for (const conn of silent) conn.close();
    }
    // Once the clients close, their server sockets go.
    const end = Date.now() + 10_000;
    let fdsAfter = await openFds(server.pid);
    while (fdsAfter > fdsBefore + 5 && Date.now() < end) {
      await delay(100);
      fdsAfter = await openFds(server.pid);
    }
    report(`after the silent TLS clients closed: server fds ${fdsAfter}`);
    assert.ok(fdsAfter <= fdsBefore + 5, `${fdsBefore} → ${fdsAfter}`);
    assert.equal(await tlsSum(port, c, 2), expectedSum(2));
    const { code } = await server.stop();
    assert.equal(code, 0);
  },
  { deadline: 60_000, ignore: tlsCerts === undefined },
);
