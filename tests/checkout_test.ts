// README's import map for using sock from a checkout: a project beside the
// checkout, with exactly the deno.json README shows, runs README's first
// snippet with the grant README states.
import assert from "node:assert/strict";
import { runToEnd } from "../tools/examples.ts";
import { test } from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url);

test(
  "README's deno.json for a checkout runs README's first snippet",
  async () => {
    const readme = await Deno.readTextFile(new URL("README.md", ROOT));
    const snippet = /```ts\n([\s\S]*?)```/.exec(readme);
    assert.ok(snippet, "README.md has a ts snippet");
    const run = /`(deno run [^`]*)`/.exec(readme.slice(snippet.index));
    assert.ok(run, "README.md says how to run the snippet");
    const words = run[1]!.split(" ");
    const file = words.at(-1)!;
    assert.match(file, /^\w+\.ts$/);
    const block = /```json\n(\{[^`]*"@sock\/sock"[^`]*)```/.exec(readme);
    assert.ok(block, "README.md shows a deno.json mapping @sock/sock");
    const config = JSON.parse(block[1]!);
    const target: string = config.imports["@sock/sock"];
    // README puts the checkout in ../sock, beside the project.
    assert.equal(target, "../sock/mod.ts");

    const dir = await Deno.makeTempDir({ prefix: "sock-checkout-" });
    try {
      await Deno.symlink(new URL(".", ROOT).pathname, `${dir}/sock`);
      await Deno.mkdir(`${dir}/project`);
      await Deno.writeTextFile(`${dir}/project/deno.json`, block[1]!);
      await Deno.writeTextFile(`${dir}/project/${file}`, snippet[1]!);
      const result = await runToEnd(
        new Deno.Command(Deno.execPath(), {
          args: ["run", "--no-prompt", ...words.slice(2)],
          cwd: `${dir}/project`,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }),
        10_000,
      );
      assert.deepEqual([result.code, result.stderr], [0, ""]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
  { deadline: 15_000 },
);
