/**
 * Summarises a V8 `.cpuprofile` (from `deno run --cpu-prof`): the functions
 * with the most self time, and the most inclusive time.
 *
 * ```sh
 * deno run --allow-read bench/profile.ts PROFILE.cpuprofile [top]
 * ```
 *
 * @module
 */

interface ProfileNode {
  id: number;
  callFrame: {
    functionName: string;
    url: string;
    lineNumber: number;
  };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^.*\/(?=[^/]+\/[^/]+$)/, "");
  return `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
}

if (import.meta.main) {
  const [path, topArg] = Deno.args;
  if (!path) throw new Error("usage: profile.ts PROFILE.cpuprofile [top]");
  const top = Number(topArg ?? 30);
  const profile: Profile = JSON.parse(await Deno.readTextFile(path));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    all += dt;
    const node = byId.get(id)!;
    const name = label(node);
    self.set(name, (self.get(name) ?? 0) + dt);
    const seen = new Set<string>();
    for (
      let at: number | undefined = id;
      at !== undefined;
      at = parent.get(at)
    ) {
      const l = label(byId.get(at)!);
      if (seen.has(l)) continue;
      seen.add(l);
      total.set(l, (total.get(l) ?? 0) + dt);
    }
  });
  const show = (title: string, map: Map<string, number>) => {
    console.log(`\n${title} (of ${(all / 1000).toFixed(0)} ms sampled)`);
    for (
      const [name, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)
    ) {
      console.log(
        `${(us / 1000).toFixed(1).padStart(9)} ms ${
          (100 * us / all).toFixed(1).padStart(5)
        }%  ${name}`,
      );
    }
  };
  show("self time", self);
  show("inclusive time", total);
}
