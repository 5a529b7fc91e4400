// `--progress`: one line on stderr with the bytes each way and the rate;
// by itself in a terminal once a transfer has run a second; never over a
// pipe unless asked for.
import assert from "node:assert/strict";
import { serve, type Socket } from "../mod.ts";
import { formatBytes, progressLine } from "../cli/progress.ts";
import { canRun, delay, test } from "./_helpers.ts";
import { errorLines, runSock } from "./_sock.ts";
import { sockCommand, Terminals } from "./_terminals.ts";

const SLOW = { deadline: 40_000 };

/** Sends `chunks` chunks of `size` bytes, `gap` ms apart, then closes. */
function sender(chunks: number, size: number, gap: number) {
  return serve(async (socket: Socket) => {
    const chunk = new Uint8Array(size).fill(0x2a);
    for (let i = 0; i < chunks; i++) {
      await socket.write(chunk);
      await socket.flush();
      if (gap > 0) await delay(gap);
    }
  }, { port: 0 });
}

test("the progress line counts bytes in kB, MB and GB, and the rate", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(999), "999 B");
  assert.equal(formatBytes(1500), "1.5 kB");
  assert.equal(formatBytes(3_000_000), "3.0 MB");
  assert.equal(formatBytes(2_500_000_000), "2.5 GB");
  assert.equal(
    progressLine({ sent: 1000, received: 3_000_000 }, 2000),
    "sent 1.0 kB, received 3.0 MB, 1.5 MB/s",
  );
});

test(
  "--progress over a pipe: the last line gives the whole transfer",
  async () => {
    await using server = sender(3, 1_000_000, 0);
    const result = await runSock([`--allow-net=127.0.0.1:${server.port}`], [
      "connect",
      "--progress",
      "127.0.0.1",
      String(server.port),
    ]);
    assert.equal(result.code, 0);
    assert.equal(result.stdout.length, 3_000_000);
    const erase = "\x1b[K";
    const last = result.stderr.split(/[\r\n]/).filter((line) =>
      line.includes("sent")
    ).at(-1);
    assert.ok(last?.startsWith(erase), JSON.stringify(last));
    assert.match(
      last!.slice(erase.length),
      /^sent 0 B, received 3\.0 MB, [\d.]+ [kMG]?B\/s$/,
    );
  },
  SLOW,
);

test("without --progress, a pipe gets no progress line", async () => {
  await using server = sender(3, 1_000_000, 0);
  const result = await runSock([`--allow-net=127.0.0.1:${server.port}`], [
    "connect",
    "127.0.0.1",
    String(server.port),
  ]);
  assert.deepEqual([result.code, errorLines(result.stderr)], [0, []]);
}, SLOW);

const haveTmux = await canRun("tmux", ["-V"]);

test(
  "in a terminal, a transfer to a file that runs over a second shows the line by itself",
  async () => {
    // 20 chunks of 100 kB, 100 ms apart: about two seconds.
    await using server = sender(20, 100_000, 100);
    await using terminals = await Terminals.start();
    const out = await Deno.makeTempFile({ prefix: "sock-progress-" });
    try {
      await terminals.open(
        "transfer",
        `${
          sockCommand([`--allow-net=127.0.0.1:${server.port}`], [
            "127.0.0.1",
            String(server.port),
          ])
        } < /dev/null > ${out}`,
      );
      await terminals.waitFor("transfer", /received [\d.]+ [kM]B/);
      const screen = await terminals.waitFor(
        "transfer",
        /^sent 0 B, received 2\.0 MB, .*\/s\n\[exit 0\]$/m,
      );
      assert.ok(screen);
      assert.equal((await Deno.stat(out)).size, 2_000_000);
    } finally {
      await Deno.remove(out);
    }
  },
  { deadline: 60_000, ignore: !haveTmux },
);
