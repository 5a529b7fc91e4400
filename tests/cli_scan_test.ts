// `sock scan` and `sock -z`: open, closed and "no answer" ports of
// 127.0.0.1 and ::1 (only ever loopback), in the order asked, the exit
// status, the grants and the mistakes.
import assert from "node:assert/strict";
import { listen } from "../mod.ts";
import { freePort } from "../tools/examples.ts";
import { test } from "./_helpers.ts";
import { errorLines, runSock } from "./_sock.ts";

const SLOW = { deadline: 40_000 };

test(
  "sock scan 127.0.0.1: open, closed and no answer (a full backlog drops the connection), in the order given; exit 0",
  async () => {
    using open = listen({ port: 0 });
    // Nothing accepts here, and the backlog of one is soon full: further
    // connections get no answer.
    using full = listen({ port: 0, backlog: 1 });
    const held: Deno.Conn[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        held.push(
          await Deno.connect({ hostname: "127.0.0.1", port: full.port }),
        );
      }
      const closed = freePort("tcp");
      const ports = [closed, open.port, full.port];
      const result = await runSock(
        [`--allow-net=${ports.map((port) => `127.0.0.1:${port}`).join(",")}`],
        ["scan", "--timeout", "500", "127.0.0.1", ports.join(",")],
      );
      assert.deepEqual([result.code, errorLines(result.stderr)], [0, []]);
      assert.equal(
        result.stdout,
        `127.0.0.1:${closed} closed\n127.0.0.1:${open.port} open\n127.0.0.1:${full.port} no answer\n`,
      );
    } finally {
      for (const conn of held) conn.close();
    }
  },
  SLOW,
);

test(
  "sock -z [::1] PORT (netcat's spelling); nothing open exits 1",
  async () => {
    using open = listen({ hostname: "::1", port: 0 });
    const yes = await runSock([`--allow-net=[::1]:${open.port}`], [
      "-z",
      "::1",
      String(open.port),
    ]);
    assert.deepEqual([yes.code, yes.stdout], [0, `[::1]:${open.port} open\n`]);
    const closed = freePort("tcp");
    const no = await runSock([`--allow-net=127.0.0.1:${closed}`], [
      "scan",
      "127.0.0.1",
      String(closed),
    ]);
    assert.deepEqual([no.code, no.stdout, errorLines(no.stderr)], [
      1,
      `127.0.0.1:${closed} closed\n`,
      [],
    ]);
  },
  SLOW,
);

test(
  "a range is scanned in order, each port once, a few at a time",
  async () => {
    using a = listen({ port: 0 });
    const base = a.port;
    // base is open; the ports after it are most likely closed, and whatever
    // they are, each gets one line, in order.
    const high = Math.min(base + 40, 65535);
    const result = await runSock(["--allow-net=127.0.0.1"], [
      "scan",
      "--concurrency",
      "4",
      "127.0.0.1",
      `${base}-${high},${base}`,
    ]);
    assert.equal(result.code, 0);
    const lines = result.stdout.trimEnd().split("\n");
    assert.equal(lines.length, high - base + 1);
    lines.forEach((line, i) =>
      assert.match(
        line,
        new RegExp(`^127\\.0\\.0\\.1:${base + i} (open|closed)$`),
      )
    );
    assert.equal(lines[0], `127.0.0.1:${base} open`);
  },
  SLOW,
);

test("sock scan asks for each port, or the host for many", async () => {
  const few = await runSock([], ["scan", "127.0.0.1", "9000-9001"]);
  assert.equal(few.code, 1);
  assert.match(
    errorLines(few.stderr)[0]!,
    /^error: sock may not scan 127\.0\.0\.1: add --allow-net=127\.0\.0\.1:9000,127\.0\.0\.1:9001 /,
  );
  const many = await runSock([], ["scan", "127.0.0.1", "9000-9100"]);
  assert.match(
    errorLines(many.stderr)[0]!,
    /^error: sock may not scan 127\.0\.0\.1: add --allow-net=127\.0\.0\.1 /,
  );
}, SLOW);

test("sock scan's mistakes are one line, exit 2", async () => {
  const cases: [string[], string][] = [
    [["scan"], "scan takes HOST and PORTS"],
    [
      ["scan", "127.0.0.1", "9-x"],
      'PORTS must be ports (1 to 65535) and ranges such as 9000-9010, comma-separated, not "9-x"',
    ],
    [["scan", "127.0.0.1", "10-9"], "PORTS must be ports"],
    [["scan", "127.0.0.1", "0"], "PORTS must be ports"],
    [
      ["scan", "--concurrency", "0", "127.0.0.1", "1"],
      "--concurrency must be a whole number from 1 to 1024",
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
