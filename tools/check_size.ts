// Size limits of the library's modules: no file in lib/ has more than
// MAX_MODULE lines of code, and the Socket class no more than MAX_SOCKET.
// A line of code is one that is neither blank nor only comment.
//
//   deno run --allow-read tools/check_size.ts [--list]
//
// `--list` prints every module's count, largest first.

const MAX_MODULE = 600;
const MAX_SOCKET = 500;

/**
 * Marks each line of `source` as code or not: a line is code when some
 * character of it lies outside a comment and is not white space. String
 * and template literals are followed so that `//` inside one is not taken
 * for a comment.
 */
export function codeLines(source: string): boolean[] {
  const lines: boolean[] = [false];
  let state: "code" | "line" | "block" | "'" | '"' | "`" = "code";
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    const next = source[i + 1];
    if (c === "\n") {
      if (state === "line") state = "code";
      lines.push(false);
      continue;
    }
    const here = lines.length - 1;
    switch (state) {
      case "code":
        if (c === "/" && next === "/") state = "line";
        else if (c === "/" && next === "*") {
          state = "block";
          i++;
        } else {
          if (c === "'" || c === '"' || c === "`") state = c;
          if (!/\s/.test(c)) lines[here] = true;
        }
        break;
      case "block":
        if (c === "*" && next === "/") {
          state = "code";
          i++;
        }
        break;
      case "line":
        break;
      default:
        lines[here] = true;
        if (c === "\\") i++;
        else if (c === state) state = "code";
    }
  }
  return lines;
}

/** Lines of code in `source`. */
export function countCode(source: string): number {
  return codeLines(source).filter(Boolean).length;
}

/** Lines of code of the class `name` declared in `source`, or undefined. */
export function countClass(source: string, name: string): number | undefined {
  const lines = source.split("\n");
  const first = lines.findIndex((line) =>
    new RegExp(`^export class ${name}\\b`).test(line)
  );
  if (first < 0) return undefined;
  const last = lines.findIndex((line, i) => i > first && line === "}");
  const code = codeLines(source);
  return code.slice(first, last + 1).filter(Boolean).length;
}

async function* modules(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* modules(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

if (import.meta.main) {
  const counts: [string, number][] = [];
  for await (const path of modules("lib")) {
    counts.push([path, countCode(await Deno.readTextFile(path))]);
  }
  counts.sort((a, b) => b[1] - a[1]);
  const socket = countClass(
    await Deno.readTextFile("lib/socket.ts"),
    "Socket",
  );
  if (Deno.args.includes("--list")) {
    for (const [path, n] of counts) {
      console.log(`${String(n).padStart(5)} ${path}`);
    }
    console.log(`${String(socket).padStart(5)} class Socket`);
  }
  const problems = counts.filter(([, n]) => n > MAX_MODULE).map(([path, n]) =>
    `${path} has ${n} lines of code; split it below ${MAX_MODULE + 1}`
  );
  if (socket === undefined) problems.push("lib/socket.ts has no class Socket");
  else if (socket > MAX_SOCKET) {
    problems.push(
      `the Socket class has ${socket} lines of code; move a job out of it to get below ${
        MAX_SOCKET + 1
      }`,
    );
  }
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) Deno.exit(1);
}
