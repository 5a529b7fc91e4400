// Files through `sock listen` ← `sock connect`, both ways at once, byte for
// byte: the reads of stdin into arrays used in turn, and the reads of the
// socket overlapping stdout's writes, lose and reorder nothing.
import assert from "node:assert/strict";
import { bounded, pattern, test } from "./_helpers.ts";
import { CLI_PATH } from "./_sock.ts";

const DENO = Deno.execPath();

/** Runs `sh -c script` with stderr piped; the child. */
function shell(script: string): Deno.ChildProcess {
  return new Deno.Command("sh", {
    args: ["-c", script],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

test(
  "9 MB each way through sock listen and sock connect arrive whole and in order",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "sock-transfer-" });
    try {
      // Sizes that are not multiples of any read's size.
      const up = pattern(9 * 1024 * 1024 + 7, 1);
      const down = pattern(9 * 1024 * 1024 - 3, 2);
      await Deno.writeFile(`${dir}/up`, up);
      await Deno.writeFile(`${dir}/down`, down);
      const listener = shell(
        `exec "${DENO}" run --allow-net=127.0.0.1:0 "${CLI_PATH}" listen 0 < "${dir}/down" > "${dir}/got-up"`,
      );
      const reader = listener.stderr.pipeThrough(new TextDecoderStream())
        .getReader();
      let seen = "";
      let port: string | undefined;
      while (port === undefined) {
        const { value, done } = await bounded(reader.read(), 10_000, "listen");
        if (done) throw new Error(`sock listen ended: ${seen}`);
        seen += value;
        port = /listening on 127\.0\.0\.1:(\d+)\n/.exec(seen)?.[1];
      }
      const client = shell(
        `exec "${DENO}" run --allow-net=127.0.0.1:${port} "${CLI_PATH}" connect 127.0.0.1 ${port} < "${dir}/up" > "${dir}/got-down"`,
      );
      const [l, c] = await bounded(
        Promise.all([
          (async () => {
            for (;;) if ((await reader.read()).done) break;
            return await listener.status;
          })(),
          client.output(),
        ]),
        30_000,
        "the transfer",
      );
      assert.deepEqual([l.code, c.code], [0, 0]);
      assert.deepEqual(await Deno.readFile(`${dir}/got-up`), up);
      assert.deepEqual(await Deno.readFile(`${dir}/got-down`), down);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
  { deadline: 45_000 },
);
