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

/** One `deno test` run; its exit code. */
async function denoTest(
  net: string,
  env: Record<string, string>,
  testFiles: string[],
): Promise<number> {
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      "--no-check",
      "--fail-fast",
      "--lock=tests/deno.lock",
      `--allow-net=${net}`,
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-env",
      ...testFiles,
    ],
    // tests/_helpers.ts's test() skips the tests whose names match.
    env: skip === undefined ? env : { ...env, SOCK_TEST_SKIP: skip },
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return code;
}

const LOOPBACK = "127.0.0.1,127.0.0.2,localhost,[::1]";
// tests/unix_cases.ts opens socket files, which Deno grants only one exact
// path at a time: it runs on its own, with its files in a temporary
// directory granted, so the mutant is active there too (tests/unix_test.ts
// would run it in a child process without env access).
const UNIX_CASES = "tests/unix_cases.ts";
const others = files.filter((file) => file !== UNIX_CASES);
let code = others.length === 0 ? 0 : await denoTest(LOOPBACK, {}, others);
if (code === 0 && files.includes(UNIX_CASES)) {
  const { UNIX_CASE_FILES } = await import("../../tests/_unix_files.ts");
  const dir = await Deno.makeTempDir({ prefix: "sock-mutate-unix-" });
  try {
    const unix = UNIX_CASE_FILES.map((name) => `unix:${dir}/${name}`);
    code = await denoTest(
      [LOOPBACK, ...unix].join(","),
      { SOCK_UNIX_DIR: dir },
      [UNIX_CASES],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
Deno.exit(code);
