// Writes tools/mutate/SURVIVORS.md: for each target, the mutants its last
// run left alive, by file and line, each line with the reason recorded in
// tools/mutate/why.json (keyed by file and by the trimmed text of the source
// line, so a reason follows its line when code above it moves). Lines with
// no reason are the shortfall: no test kills them yet.
//
// A target whose report is not in tools/mutate/reports/ (a fresh clone)
// keeps its section from the existing SURVIVORS.md.

/** One mutant as StrykerJS's JSON report gives it. */
export interface Mutant {
  mutatorName: string;
  status: string;
  location: { start: { line: number; column: number } };
}

/** StrykerJS's JSON report: per mutated file, its source and mutants. */
export interface MutationReport {
  files: Record<string, { source: string; mutants: Mutant[] }>;
}

/** What scores.json keeps of a target's run (the fields used here). */
export interface TargetScore {
  score: number;
  mutants: number;
  survived: number;
  noCoverage: number;
  seconds: number;
  date: string;
}

/** Reasons by file, then by trimmed source line. */
export type Reasons = Record<string, Record<string, string>>;

const ALIVE = new Set(["Survived", "NoCoverage"]);

const HEADER = `# Mutants left alive

Each target's survivors from its last run (\`deno task mutate TARGET\`), by file
and line. A line's reason comes from \`tools/mutate/why.json\`, keyed by file and
by the line's text; every reason starts with its kind: **equivalent** (no input
tells the mutant apart), **performance only** (a fast path that gives the same
result either way), **message** (the text of an error whose class and cause are
tested), **not worth a test** (with why). A line listed under "no test yet" is a
shortfall against the goals (90 % for the pure parts, 80 % for the socket,
listener, server loops, UDP, TLS and Unix modules) as of that run: a test
written after it counts at the target's next run. \`deno task mutate --list\`
writes this file.
`;

/** How many mutants `report` left alive on lines with no reason. */
export function unexplained(report: MutationReport, reasons: Reasons): number {
  let count = 0;
  for (const [file, { source, mutants }] of Object.entries(report.files)) {
    const lines = source.split("\n");
    for (const m of mutants) {
      if (!ALIVE.has(m.status)) continue;
      const text = (lines[m.location.start.line - 1] ?? "").trim();
      if (reasons[file]?.[text] === undefined) count++;
    }
  }
  return count;
}

/** The section of one target: its survivors by file, reason and line. */
export function section(
  name: string,
  score: TargetScore,
  report: MutationReport,
  reasons: Reasons,
  note?: string,
): string {
  const alive = score.survived + score.noCoverage;
  const out = [
    `## ${name}: ${
      score.score.toFixed(1)
    } % (${alive} of ${score.mutants} alive, measured ${score.date}, ${
      Math.floor(score.seconds / 60)
    } min ${score.seconds % 60} s)`,
    "",
  ];
  if (note) out.push(note, "");
  let open = 0;
  for (const [file, { source, mutants }] of Object.entries(report.files)) {
    const left = mutants.filter((m) => ALIVE.has(m.status));
    if (left.length === 0) continue;
    const lines = source.split("\n");
    const byReason = new Map<string, Map<number, number>>();
    for (const m of left) {
      const line = m.location.start.line;
      const text = (lines[line - 1] ?? "").trim();
      const reason = reasons[file]?.[text] ?? "";
      const counts = byReason.get(reason) ?? new Map<number, number>();
      counts.set(line, (counts.get(line) ?? 0) + 1);
      byReason.set(reason, counts);
    }
    out.push(`- \`${file}\`: ${left.length} alive`);
    const ordered = [...byReason].sort(([a], [b]) =>
      a === "" ? 1 : b === "" ? -1 : a.localeCompare(b)
    );
    for (const [reason, counts] of ordered) {
      const where = [...counts].sort(([a], [b]) => a - b).map(([line, n]) =>
        n === 1 ? String(line) : `${line} (×${n})`
      ).join(", ");
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      if (reason === "") open += total;
      out.push(
        `  - ${reason === "" ? "no test yet" : reason} — ${total} on line${
          counts.size === 1 ? "" : "s"
        } ${where}`,
      );
    }
  }
  out.push("", `Alive with no reason given: ${open}.`, "");
  return out.join("\n");
}

/** The sections of an existing SURVIVORS.md, by target name. */
export function sections(text: string): Map<string, string> {
  const found = new Map<string, string>();
  const parts = text.split(/^(?=## )/m).slice(1);
  for (const part of parts) {
    const name = part.slice(3, part.indexOf(":"));
    found.set(name, part.trimEnd() + "\n");
  }
  return found;
}

/** The whole file, the targets in `order`. */
export function survivorsFile(
  order: string[],
  written: Map<string, string>,
): string {
  const body = order.flatMap((name) => {
    const text = written.get(name);
    return text === undefined ? [] : [text.trimEnd()];
  });
  return `${HEADER}\n${body.join("\n\n")}\n`;
}
