// Times a transfer of SIZE MB from a client to a listener on 127.0.0.1,
// both ends one tool: sock, OpenBSD nc and socat (bench/transfer.sh), as
// whole processes with hyperfine. The tools take turns, one run each a
// round, so a machine that slows down slows each alike. Prints the median,
// the range and each tool's median against nc's.
//
//   deno run --allow-run=hyperfine,sh --allow-read --allow-write=/tmp bench/transfer.ts [SIZE_MB] [ROUNDS] [NAME=CHECKOUT ...]
//
// Each NAME=CHECKOUT adds the sock of another checkout (an older commit,
// from `git archive`) under NAME.
const size = Number(Deno.args[0] ?? 200);
const rounds = Number(Deno.args[1] ?? 10);
const others = Deno.args.slice(2).map((arg) =>
  arg.split("=", 2) as [string, string]
);
const tools = ["nc", "socat", "sock", ...others.map(([name]) => name)];
const roots = new Map(others);
const script = new URL("./transfer.sh", import.meta.url).pathname;

const dir = await Deno.makeTempDir({ prefix: "sock-transfer-" });
try {
  const file = `${dir}/data`;
  {
    // Random bytes, so that nothing along the way can make them smaller.
    using out = await Deno.open(file, { write: true, create: true });
    const chunk = new Uint8Array(1024 * 1024);
    for (let i = 0; i < size; i++) {
      crypto.getRandomValues(chunk.subarray(0, 65536));
      for (let at = 65536; at < chunk.length; at += 65536) {
        chunk.copyWithin(at, 0, 65536);
      }
      chunk[0] = i & 0xff;
      let view = chunk;
      while (view.length > 0) view = view.subarray(await out.write(view));
    }
  }
  const times: Record<string, number[]> = Object.fromEntries(
    tools.map((tool) => [tool, []]),
  );
  // Processor time (user and system) of both ends, which the machine's
  // other work disturbs less than the wall clock.
  const cpu: Record<string, number[]> = Object.fromEntries(
    tools.map((tool) => [tool, []]),
  );
  for (let round = 0; round < rounds; round++) {
    const json = `${dir}/round.json`;
    const { success, stderr } = await new Deno.Command("hyperfine", {
      args: [
        "-N",
        "--runs",
        "1",
        "--export-json",
        json,
        ...tools.map((tool) =>
          roots.has(tool)
            ? `env SOCK_ROOT=${roots.get(tool)} sh ${script} sock ${file}`
            : `sh ${script} ${tool} ${file}`
        ),
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!success) throw new Error(new TextDecoder().decode(stderr));
    const { results } = JSON.parse(await Deno.readTextFile(json)) as {
      results: {
        command: string;
        times: number[];
        user: number;
        system: number;
      }[];
    };
    results.forEach((result, i) => {
      times[tools[i]!]!.push(...result.times);
      cpu[tools[i]!]!.push(result.user + result.system);
    });
  }
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2
      ? sorted[mid]!
      : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  const nc = median(times.nc!);
  const ncCpu = median(cpu.nc!);
  console.log(`${size} MB, ${rounds} rounds, one run of each tool a round`);
  console.log(
    "| tool | wall, median | min – max | / nc's | processor, median | / nc's |",
  );
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const tool of tools) {
    const all = times[tool]!;
    const ms = (s: number) => `${Math.round(s * 1000)} ms`;
    console.log(
      `| ${tool} | ${ms(median(all))} | ${ms(Math.min(...all))} – ${
        ms(Math.max(...all))
      } | ${(median(all) / nc).toFixed(2)}× | ${ms(median(cpu[tool]!))} | ${
        (median(cpu[tool]!) / ncCpu).toFixed(2)
      }× |`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
