// The test command StrykerJS runs, in its sandbox copy of the repository,
// once per mutant: `deno test` over the given test files, stopping at the
// first failure, without the tests whose names match --skip.
//
// Stryker's instrumented code learns which mutant is active from the
// environment variable __STRYKER_ACTIVE_MUTANT__. A program the tests start
// with exact grants (a fixture, an example) has no env access, and reading
// the variable would throw there, so that read is guarded first: such a
// program runs the code unmutated, and only the test process itself runs
// the mutant.
const UNGUARDED =
  "g.process && g.process.env && g.process.env.__STRYKER_ACTIVE_MUTANT__";
const GUARDED =
  'Deno.permissions.querySync({ name: "env", variable: "__STRYKER_ACTIVE_MUTANT__" }).state === "granted" && ' +
  UNGUARDED;

async function guardInstrumentedFiles(dir: string): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) {
      await guardInstrumentedFiles(path);
      continue;
    }
    if (!entry.name.endsWith(".ts")) continue;
    const source = await Deno.readTextFile(path);
    if (!source.includes(UNGUARDED) || source.includes(GUARDED)) continue;
    // Two test runs may start at once: each writes the same text, and a
    // rename replaces the file in one step.
    const temporary = `${path}.${crypto.randomUUID()}.tmp`;
    await Deno.writeTextFile(temporary, source.replace(UNGUARDED, GUARDED));
    await Deno.rename(temporary, path);
  }
}

const [first, ...rest] = Deno.args;
const skip = first?.startsWith("--skip=") ? first.slice(7) : undefined;
const files = skip === undefined ? Deno.args : rest;
if (files.length === 0) {
  console.error("usage: test.ts [--skip=REGEXP] TEST_FILE...");
  Deno.exit(2);
}
await guardInstrumentedFiles("lib");
const { code } = await new Deno.Command(Deno.execPath(), {
  args: [
    "test",
    "--no-check",
    "--fail-fast",
    "--lock=tests/deno.lock",
    "--allow-net=127.0.0.1,localhost,[::1]",
    "--allow-read",
    "--allow-write",
    "--allow-run",
    "--allow-env",
    ...files,
  ],
  // tests/_helpers.ts's test() skips the tests whose names match.
  env: skip === undefined ? {} : { SOCK_TEST_SKIP: skip },
  stdout: "inherit",
  stderr: "inherit",
}).output();
Deno.exit(code);
