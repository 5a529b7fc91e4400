// No import cycles among the library's modules: reads the module graph
// from `deno info --json` (type-only imports count too) and prints each
// cycle found in lib/, failing when there is one.
//
//   deno run --allow-read --allow-run tools/check_cycles.ts

interface Dependency {
  code?: { specifier?: string };
  type?: { specifier?: string };
}
interface Module {
  specifier: string;
  dependencies?: Dependency[];
}

const root = new URL("../", import.meta.url).href;
const inLib = (specifier: string) => specifier.startsWith(`${root}lib/`);

/** The cycles of `graph`, each as the list of its modules, in import order. */
export function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const seen = state.get(next);
      if (seen === "open") cycles.push(path.slice(path.indexOf(next)));
      else if (seen === undefined) visit(next);
    }
    path.pop();
    state.set(node, "done");
  };
  for (const node of [...graph.keys()].sort()) {
    if (!state.has(node)) visit(node);
  }
  return cycles;
}

if (import.meta.main) {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "mod.ts"],
    stderr: "inherit",
  }).output();
  if (!success) Deno.exit(1);
  const { modules } = JSON.parse(new TextDecoder().decode(stdout)) as {
    modules: Module[];
  };
  const graph = new Map<string, string[]>();
  for (const module of modules) {
    if (!inLib(module.specifier)) continue;
    const targets = (module.dependencies ?? []).flatMap((d) =>
      [d.code?.specifier, d.type?.specifier].filter((s): s is string =>
        s !== undefined && inLib(s)
      )
    );
    graph.set(module.specifier, [...new Set(targets)]);
  }
  const cycles = findCycles(graph);
  const name = (specifier: string) => specifier.slice(root.length);
  for (const cycle of cycles) {
    console.error(
      `import cycle: ${[...cycle, cycle[0]!].map(name).join(" -> ")}`,
    );
  }
  if (cycles.length > 0) Deno.exit(1);
  console.log(`no import cycle among ${graph.size} modules of lib/`);
}
