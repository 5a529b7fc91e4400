// .ci/summary, the last line of .ci/run: Deno's own summary of real runs
// (ignored tests, ignored steps, a failed step) becomes "N passed, M failed,
// K skipped", with the ignored steps counted as skipped.
import assert from "node:assert/strict";
import { runToEnd } from "../tools/examples.ts";
import { test } from "./_helpers.ts";

const SUMMARY = new URL("../.ci/summary", import.meta.url).pathname;

/** Runs `deno test` on `source` in a scratch directory, then .ci/summary on its output. */
async function summarize(
  source: string,
): Promise<{ code: number; line: string }> {
  const dir = await Deno.makeTempDir({ prefix: "sock-ci-" });
  try {
    await Deno.writeTextFile(`${dir}/a_test.ts`, source);
    const run = await runToEnd(
      new Deno.Command(Deno.execPath(), {
        args: ["test", "--no-config", "--no-check", "a_test.ts"],
        cwd: dir,
        env: { NO_COLOR: "" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }),
      15_000,
    );
    await Deno.writeTextFile(`${dir}/out`, run.stdout + run.stderr);
    const summary = await runToEnd(
      new Deno.Command("bash", {
        args: ["-c", `"$0" <"$1"`, SUMMARY, `${dir}/out`],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }),
      5_000,
    );
    assert.equal(summary.stderr, "");
    return { code: summary.code, line: summary.stdout };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

test(
  ".ci/summary counts ignored tests and ignored steps as skipped",
  async () => {
    assert.deepEqual(
      await summarize(`
Deno.test("steps", async (t) => {
  await t.step({ name: "busy port", ignore: true, fn: () => {} });
  await t.step({ name: "no peer", ignore: true, fn: () => {} });
  await t.step("runs", () => {});
});
Deno.test({ name: "ignored", ignore: true, fn: () => {} });
Deno.test("passes", () => {});
`),
      { code: 0, line: "2 passed, 0 failed, 3 skipped\n" },
    );
  },
  { deadline: 20_000 },
);

test(
  ".ci/summary fails on a failed step, and counts what was ignored beside it",
  async () => {
    assert.deepEqual(
      await summarize(`
Deno.test("steps", async (t) => {
  await t.step({ name: "no peer", ignore: true, fn: () => {} });
  await t.step("fails", () => { throw new Error("no"); });
});
Deno.test("passes", () => {});
`),
      { code: 1, line: "1 passed, 1 failed, 1 skipped\n" },
    );
  },
  { deadline: 20_000 },
);

test(
  ".ci/summary with nothing ignored, with a module that fails, and with no summary",
  async () => {
    assert.deepEqual(
      await summarize(`Deno.test("passes", () => {});\n`),
      { code: 0, line: "1 passed, 0 failed, 0 skipped\n" },
    );
    // A module that throws as it loads is a failed test in Deno's summary.
    assert.deepEqual(
      await summarize(`throw new Error("the module does not load");\n`),
      { code: 1, line: "0 passed, 1 failed, 0 skipped\n" },
    );
    // One that cannot be parsed ends deno test before any summary.
    assert.deepEqual(
      await summarize(`Deno.test("unclosed", () => {\n`),
      {
        code: 1,
        line: "0 passed, 1 failed, 0 skipped (no summary from deno test)\n",
      },
    );
  },
  { deadline: 20_000 },
);
