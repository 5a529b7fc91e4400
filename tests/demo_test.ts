// `deno task demo` on a Deno older than the one it needs: one line saying
// so, exit 1, before any flow runs.
import assert from "node:assert/strict";
import { denoTooOld, LEAST_DENO } from "../examples/_common/cli.ts";
import { runToEnd } from "../tools/examples.ts";
import { test } from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url);

test("denoTooOld() tells the versions before the least one from the rest", () => {
  for (const old of ["2.4.0", "2.9.5", "1.46.3", "2.8.99"]) {
    assert.equal(
      denoTooOld("the demo", old),
      `the demo needs Deno ${LEAST_DENO} or later, and this is Deno ${old}: run \`deno upgrade ${LEAST_DENO}\`, or prefix the command with \`npx -y deno@${LEAST_DENO}\``,
      old,
    );
  }
  for (const recent of [LEAST_DENO, "2.9.10", "2.10.0", "3.0.0", "2.9.6+abc"]) {
    assert.equal(denoTooOld("the demo", recent), undefined, recent);
  }
});

test(
  "deno task demo on an older Deno says in one line that it needs a newer one",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "sock-demo-test-" });
    try {
      // Deno.version as Deno 2.4 reports it, set before the demo runs.
      const preload = `${dir}/old_deno.ts`;
      await Deno.writeTextFile(
        preload,
        'Object.defineProperty(Deno, "version", { value: { ...Deno.version, deno: "2.4.0" } });\n',
      );
      const task: string = JSON.parse(
        await Deno.readTextFile(new URL("deno.json", ROOT)),
      ).tasks.demo;
      const [deno, run, ...rest] = task.split(" ");
      assert.deepEqual([deno, run], ["deno", "run"]);
      const result = await runToEnd(
        new Deno.Command(Deno.execPath(), {
          args: ["run", "--no-prompt", "--preload", preload, ...rest],
          cwd: ROOT,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }),
        10_000,
      );
      assert.deepEqual([result.code, result.stdout, result.stderr], [
        1,
        "",
        `error: the demo needs Deno ${LEAST_DENO} or later, and this is Deno 2.4.0: run \`deno upgrade ${LEAST_DENO}\`, or prefix the command with \`npx -y deno@${LEAST_DENO}\`\n`,
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
  { deadline: 15_000 },
);
