// `deno task mutate [--survivors] [TARGET...]`: measures how many mutations
// of lib/ the tests catch, with StrykerJS (Node 20 or later). Each target
// mutates one part of lib/ and runs only the test files that cover it, so a
// run takes minutes, not hours (each should stay under 15 minutes on two
// cores; one that does not is said to need splitting). With no target it
// runs them all, one after another. Reports go to
// tools/mutate/reports/TARGET.json, and each target's totals, run time and
// date to tools/mutate/scores.json, which is kept.
//
// --survivors tests again only the lines where the last full run of a
// target left mutants alive (after new tests were written for them), and
// updates that report; lib/ must not have changed since.
//
// --concurrency=N runs N test runs at once (the default is in
// stryker.config.json).
//
// --list prints every target with its last score, mutants, survivors and
// run time, writes the same table into README.md's "Mutation scores", and
// writes tools/mutate/SURVIVORS.md (see survivors.ts).
import targets from "./targets.json" with { type: "json" };
import {
  type MutationReport,
  type Reasons,
  section,
  sections,
  survivorsFile,
  unexplained,
} from "./survivors.ts";

const here = new URL(".", import.meta.url).pathname;
const root = new URL("../..", import.meta.url).pathname;
const stryker = `${here}node_modules/@stryker-mutator/core/bin/stryker.js`;

/**
 * What a target mutates, the tests run against it, tests to leave out, and
 * a note printed beside its survivors (what its tests cannot reach).
 */
type Target = {
  mutate: string[];
  tests: string[];
  skip?: string;
  note?: string;
  /** The score aimed at, in percent (80 unless said). */
  goal?: number;
  /**
   * Milliseconds a mutant's run may take beyond twice the unmutated run's
   * before it counts as a timeout (stryker.config.json's unless said): a
   * pure part whose tests cannot be interrupted (a loop made endless) gets
   * a shorter margin.
   */
  timeoutMS?: number;
};
const all = targets as Record<string, Target>;

function usage(): never {
  console.error(
    `usage: deno task mutate [${Object.keys(all).join("|")}]... (default: all)`,
  );
  Deno.exit(2);
}

async function run(command: string, args: string[], cwd: string) {
  const { code } = await new Deno.Command(command, {
    args,
    cwd,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return code;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

interface MutantResult {
  mutatorName: string;
  replacement?: string;
  status: string;
  location: { start: { line: number; column: number }; end: unknown };
}
interface Report {
  files: Record<string, { source: string; mutants: MutantResult[] }>;
}

const ALIVE = new Set(["Survived", "NoCoverage"]);

/** The same mutant in two runs: same place, same change. */
const key = (m: MutantResult) =>
  JSON.stringify([m.mutatorName, m.replacement, m.location]);

/** `file:line-line` ranges around the mutants `report` left alive. */
async function survivorRanges(report: Report): Promise<string[]> {
  const ranges: string[] = [];
  for (const [file, { source, mutants }] of Object.entries(report.files)) {
    if (await Deno.readTextFile(`${root}${file}`) !== source) {
      console.error(
        `Cannot test only the survivors: ${file} changed since the last full run; run without --survivors`,
      );
      Deno.exit(1);
    }
    const lines = new Set(
      mutants.filter((m) => ALIVE.has(m.status)).map((m) =>
        m.location.start.line
      ),
    );
    for (const line of [...lines].sort((a, b) => a - b)) {
      ranges.push(`${file}:${line}-${line}`);
    }
  }
  return ranges;
}

/** The full report with the statuses of a survivors-only run put in. */
function merge(full: Report, partial: Report): Report {
  const now = new Map<string, string>();
  for (const { mutants } of Object.values(partial.files)) {
    for (const m of mutants) now.set(key(m), m.status);
  }
  for (const { mutants } of Object.values(full.files)) {
    for (const m of mutants) m.status = now.get(key(m)) ?? m.status;
  }
  return full;
}

const DETECTED = new Set(["Killed", "Timeout"]);
const UNDETECTED = new Set(["Survived", "NoCoverage"]);

/** Per file: detected / (detected + undetected), as Stryker counts it. */
function scores(report: Report): string[] {
  return Object.entries(report.files).map(([file, { mutants }]) => {
    const count = (set: Set<string>) =>
      mutants.filter((m) => set.has(m.status)).length;
    const detected = count(DETECTED);
    const valid = detected + count(UNDETECTED);
    const score = valid === 0 ? 100 : (100 * detected) / valid;
    return `${file}: ${score.toFixed(1)} % (${detected} of ${valid} detected, ${
      count(new Set(["Survived"]))
    } survived)`;
  });
}

/** What scores.json keeps of a target's last run. */
interface Score {
  score: number;
  mutants: number;
  detected: number;
  survived: number;
  noCoverage: number;
  seconds: number;
  date: string;
  /** Alive with no reason in why.json, as of the last --list. */
  unexplained?: number;
}

const SCORES = `${here}scores.json`;
const LONGEST_RUN_SECONDS = 15 * 60;

async function readScores(): Promise<Record<string, Score>> {
  return await exists(SCORES)
    ? JSON.parse(await Deno.readTextFile(SCORES))
    : {};
}

/** A target's totals over its files, as Stryker counts a score. */
function totals(report: Report, seconds: number): Score {
  const mutants = Object.values(report.files).flatMap((f) => f.mutants);
  const count = (set: Set<string>) =>
    mutants.filter((m) => set.has(m.status)).length;
  const detected = count(DETECTED);
  const valid = detected + count(UNDETECTED);
  return {
    score: valid === 0 ? 100 : Math.round((1000 * detected) / valid) / 10,
    mutants: valid,
    detected,
    survived: count(new Set(["Survived"])),
    noCoverage: count(new Set(["NoCoverage"])),
    seconds: Math.round(seconds),
    date: new Date().toISOString().slice(0, 10),
  };
}

function minutes(seconds: number): string {
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

/** The Markdown table of every target and its last run. */
function table(scores: Record<string, Score>): string {
  const rows = Object.entries(all).map(([name, target]) => {
    const files = target.mutate.map((f) => `\`${f.replace(/^lib\//, "")}\``)
      .join(", ");
    const s = scores[name];
    const goal = `${target.goal ?? 80}%`;
    return s === undefined
      ? [name, files, "not yet", goal, "", "", "", "", ""]
      : [
        name,
        files,
        `${s.score.toFixed(1)}%`,
        goal,
        String(s.mutants),
        String(s.survived + s.noCoverage),
        String(s.unexplained ?? s.survived + s.noCoverage),
        minutes(s.seconds),
        s.date,
      ];
  });
  const head = [
    "target",
    "files (in lib/)",
    "score",
    "goal",
    "mutants",
    "alive",
    "no reason",
    "run time",
    "measured",
  ];
  // Padded as `deno fmt` pads a Markdown table.
  const widths = head.map((_, i) =>
    Math.max(3, ...[head, ...rows].map((cells) => cells[i]!.length))
  );
  const line = (cells: string[]) =>
    `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`;
  return [head, widths.map((w) => "-".repeat(w)), ...rows].map(line)
    .join("\n");
}

const SURVIVORS = `${here}SURVIVORS.md`;
const WHY = `${here}why.json`;

async function readReasons(): Promise<Reasons> {
  return await exists(WHY) ? JSON.parse(await Deno.readTextFile(WHY)) : {};
}

/**
 * From the reports at hand and the reasons in why.json, in one pass: each
 * target's count of alive mutants with no reason (kept in scores.json) and
 * its section of SURVIVORS.md.
 */
async function writeSurvivors(): Promise<void> {
  const reasons = await readReasons();
  const kept = await readScores();
  const written = await exists(SURVIVORS)
    ? sections(await Deno.readTextFile(SURVIVORS))
    : new Map<string, string>();
  for (const [name, target] of Object.entries(all)) {
    const file = `${here}reports/${name}.json`;
    const score = kept[name];
    if (score === undefined || !await exists(file)) continue;
    const report: MutationReport = JSON.parse(await Deno.readTextFile(file));
    score.unexplained = unexplained(report, reasons);
    written.set(name, section(name, score, report, reasons, target.note));
  }
  await Deno.writeTextFile(SCORES, `${JSON.stringify(kept, null, 2)}\n`);
  await Deno.writeTextFile(SURVIVORS, survivorsFile(Object.keys(all), written));
}

const BEGIN = "<!-- mutation scores: deno task mutate --list -->";
const END = "<!-- end of mutation scores -->";

if (Deno.args.includes("--list")) {
  await writeSurvivors();
  const text = table(await readScores());
  console.log(text);
  const covered = new Set(
    Object.values(all).flatMap((t) => t.mutate.map((f) => f.split(":")[0])),
  );
  const missing: string[] = [];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(`${root}${dir}`)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (path.endsWith(".ts") && !covered.has(path)) missing.push(path);
    }
  };
  await walk("lib");
  if (missing.length > 0) {
    console.error(`in no target: ${missing.sort().join(", ")}`);
  }
  const readme = await Deno.readTextFile(`${root}README.md`);
  const from = readme.indexOf(BEGIN);
  const to = readme.indexOf(END);
  if (from < 0 || to < from) {
    console.error(`README.md has no ${BEGIN} … ${END} section to fill`);
    Deno.exit(1);
  }
  await Deno.writeTextFile(
    `${root}README.md`,
    `${readme.slice(0, from + BEGIN.length)}\n\n${text}\n\n${readme.slice(to)}`,
  );
  Deno.exit(0);
}

const survivorsOnly = Deno.args.includes("--survivors");
const concurrencyArg = Deno.args.find((arg) =>
  arg.startsWith("--concurrency=")
);
const concurrency = concurrencyArg === undefined
  ? undefined
  : Number(concurrencyArg.slice("--concurrency=".length));
if (
  concurrency !== undefined &&
  !(Number.isInteger(concurrency) && concurrency > 0)
) {
  console.error(
    "--concurrency takes a whole number of test runs at once, such as --concurrency=1",
  );
  Deno.exit(2);
}
const args = Deno.args.filter((arg) =>
  arg !== "--survivors" && arg !== concurrencyArg
);
const names = args.length === 0 ? Object.keys(all) : args;
if (names.some((name) => !(name in all))) usage();

if (!await exists(stryker)) {
  console.log("installing StrykerJS into tools/mutate/node_modules");
  if (await run("npm", ["ci", "--no-audit", "--no-fund"], here) !== 0) {
    console.error("Cannot install StrykerJS: npm ci failed in tools/mutate");
    Deno.exit(1);
  }
}

const base = JSON.parse(await Deno.readTextFile(`${here}stryker.config.json`));
const summary: string[] = [];
for (const name of names) {
  const { tests, skip } = all[name]!;
  const reportFile = `${here}reports/${name}.json`;
  const full: Report | undefined = survivorsOnly
    ? JSON.parse(await Deno.readTextFile(reportFile))
    : undefined;
  const mutate = full ? await survivorRanges(full) : all[name]!.mutate;
  if (mutate.length === 0) {
    console.log(`\n== ${name}: no survivors to test again`);
    summary.push(...scores(full!));
    continue;
  }
  // Tests whose library code runs in a child process (which sees no
  // mutant), or that only a different target needs, are left out.
  const filter = skip === undefined ? "" : `'--skip=${skip}' `;
  const config = {
    ...base,
    // Its own sandbox, so that two targets may be measured at once.
    tempDirName: `${base.tempDirName}-${name}`,
    concurrency: concurrency ?? base.concurrency,
    timeoutMS: all[name]!.timeoutMS ?? base.timeoutMS,
    mutate,
    commandRunner: {
      // Write access: lib/ (see test.ts) and the temporary directory where
      // tests/unix_cases.ts gets its socket files.
      command:
        `deno run --allow-read --allow-write --allow-run --allow-env tools/mutate/test.ts ${filter}${
          tests.join(" ")
        }`,
    },
    jsonReporter: {
      fileName: `tools/mutate/reports/${name}${full ? ".survivors" : ""}.json`,
    },
  };
  delete config.$schema;
  delete config._comment;
  const file = `${here}reports/${name}.config.json`;
  await Deno.mkdir(`${here}reports`, { recursive: true });
  await Deno.writeTextFile(file, JSON.stringify(config, null, 2));
  console.log(
    `\n== mutate ${name}: ${
      full ? `${mutate.length} lines with survivors` : mutate.join(" ")
    } against ${tests.join(" ")}`,
  );
  const started = performance.now();
  const code = await run("node", [stryker, "run", file], root);
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) {
    console.error(`Cannot measure ${name}: Stryker exited with ${code}`);
    Deno.exit(1);
  }
  let report: Report;
  if (full) {
    const partial: Report = JSON.parse(
      await Deno.readTextFile(`${here}reports/${name}.survivors.json`),
    );
    report = merge(full, partial);
    await Deno.writeTextFile(reportFile, JSON.stringify(report));
  } else {
    report = JSON.parse(await Deno.readTextFile(reportFile));
  }
  summary.push(...scores(report));
  if (!full) {
    const kept = await readScores();
    kept[name] = totals(report, seconds);
    await Deno.writeTextFile(SCORES, `${JSON.stringify(kept, null, 2)}\n`);
    if (seconds > LONGEST_RUN_SECONDS) {
      console.error(
        `${name} took ${
          minutes(Math.round(seconds))
        }: more than 15 minutes; split it (line ranges such as lib/x.ts:1-200)`,
      );
    }
  } else {
    const kept = await readScores();
    const before = kept[name];
    if (before) {
      kept[name] = totals(report, before.seconds);
      await Deno.writeTextFile(SCORES, `${JSON.stringify(kept, null, 2)}\n`);
    }
  }
}
console.log(`\n== mutation scores\n${summary.join("\n")}`);
