// What `deno doc --lint` does not check: every entry point in deno.json's
// "exports" opens with a module doc (JSR's score counts it), every exported
// symbol has an @example, and every example's doc shows the same grant as
// its shebang line.
const config = JSON.parse(await Deno.readTextFile("deno.json"));

/**
 * The `deno run` lines of an example's doc that name files (`--unix P`,
 * `--tls-cert C --tls-key K`, `--ca-cert F`) must grant exactly those
 * files: the three grants of a socket path, reading of the PEM files.
 */
function fileGrantProblems(path: string, doc: string): string[] {
  const found: string[] = [];
  const lines = doc.split("\n").map((line) => line.replace(/^\s*\* ?/, ""))
    .filter((line) => line.startsWith("deno run "));
  for (const line of lines) {
    const words = line.split(/\s+/);
    const value = (flag: string) => {
      const at = words.indexOf(flag);
      return at >= 0 ? words[at + 1] : undefined;
    };
    const grants = new Set(words.filter((word) => word.startsWith("--allow-")));
    const want: string[] = [];
    const unix = value("--unix");
    if (unix) {
      want.push(
        `--allow-read=${unix}`,
        `--allow-write=${unix}`,
        `--allow-net=unix:${unix}`,
      );
    }
    const cert = value("--tls-cert"), key = value("--tls-key");
    if (cert && key) want.push(`--allow-read=${cert},${key}`);
    const ca = value("--ca-cert");
    if (ca) want.push(`--allow-read=${ca}`);
    for (const grant of want) {
      if (!grants.has(grant)) {
        found.push(`${path}: "${line}" lacks the grant ${grant}`);
      }
    }
  }
  return found;
}
const problems: string[] = [];

for (
  const [key, path] of Object.entries(config.exports as Record<string, string>)
) {
  const text = await Deno.readTextFile(path);
  const doc = /\/\*\*([\s\S]*?)\*\//.exec(text)?.[1];
  if (!doc || !/@module\b/.test(doc)) {
    problems.push(`${path} (export "${key}") has no module doc with @module`);
    continue;
  }
  const summary = doc.split("\n").map((line) => line.replace(/^\s*\* ?/, ""))
    .join(" ").trim();
  if (summary.startsWith("@module")) {
    problems.push(`${path}: the module doc has no text`);
  }
  const shebang = /^#!\/usr\/bin\/env -S deno run (.*)$/m.exec(
    text.split("\n", 1)[0]!,
  )?.[1];
  if (path.startsWith("./examples/")) {
    if (!shebang) {
      problems.push(`${path}: no "#!/usr/bin/env -S deno run" shebang`);
    } else {
      if (/--allow-net(\s|$)|--allow-all|(^|\s)-A(\s|$)/.test(shebang)) {
        problems.push(`${path}: the shebang grants more than named addresses`);
      }
      if (!doc.includes(`deno run ${shebang} examples/`)) {
        problems.push(
          `${path}: the module doc does not show "deno run ${shebang} examples/…"`,
        );
      }
      problems.push(...fileGrantProblems(path, doc));
      if (!doc.includes(`deno run ${shebang} jsr:@sock/sock/${key.slice(2)}`)) {
        problems.push(
          `${path}: the module doc does not show the jsr:@sock/sock/${
            key.slice(2)
          } command`,
        );
      }
    }
  }
}

const { stdout } = await new Deno.Command(Deno.execPath(), {
  args: [
    "doc",
    "--json",
    ...Object.values(config.exports as Record<string, string>),
  ],
  stdout: "piped",
}).output();
const doc = JSON.parse(new TextDecoder().decode(stdout));
let symbols = 0;
for (
  const module of Object.values(doc.nodes) as {
    symbols?: {
      name: string;
      declarations: { jsDoc?: { tags?: { kind: string }[] } }[];
    }[];
  }[]
) {
  for (const symbol of module.symbols ?? []) {
    symbols++;
    const documented = symbol.declarations.some((d) =>
      d.jsDoc?.tags?.some((tag) => tag.kind === "example")
    );
    if (!documented) problems.push(`${symbol.name}: no @example in its JSDoc`);
  }
}

if (problems.length > 0) {
  for (const problem of problems) console.error(problem);
  Deno.exit(1);
}
console.log(
  `docs: ${
    Object.keys(config.exports).length
  } entry points and ${symbols} symbols checked`,
);
