// `deno task demo`: every tutorial flow, end to end on loopback, each
// program run with exactly the flags of its shebang line.
import {
  commandLine,
  runExample,
  type RunningExample,
  startExample,
} from "./examples.ts";

let failures = 0;

function show(prefix: string, text: string): void {
  for (const line of text.trimEnd().split("\n")) {
    if (line) console.log(`${prefix}${line}`);
  }
}

async function client(
  name: string,
  args: string[],
  expected: string,
): Promise<void> {
  console.log(`$ ${commandLine(name, args)}`);
  const { code, stdout, stderr } = await runExample(name, args);
  show("  ", stdout);
  show("  ! ", stderr);
  if (code !== 0 || stdout.trim() !== expected) {
    failures++;
    console.log(
      `  (expected ${JSON.stringify(expected)}, exit 0; got exit ${code})`,
    );
  }
}

async function server(
  name: string,
  args: string[] = [],
): Promise<[RunningExample, number]> {
  console.log(`$ ${commandLine(name, args)} &`);
  const running = startExample(name, args);
  const port = await running.listening();
  show("  ", running.lines.join("\n"));
  return [running, port];
}

async function finish(
  running: RunningExample,
  label: string,
  stop: boolean,
): Promise<void> {
  const before = running.lines.length;
  const { code, stdout, stderr } = stop
    ? await running.stop()
    : await running.finish();
  const rest = stdout.split("\n").slice(before).join("\n");
  show(`  (${label}) `, rest);
  show(`  (${label}) ! `, stderr);
  if (code !== 0) {
    failures++;
    console.log(`  (${label} exited with ${code})`);
  }
}

console.log("# Allegro CL tutorial: a passive socket and an active socket");
{
  const [passive, port] = await server("passive_socket");
  await client("active_socket", ["--port", String(port)], "BYE");
  await finish(passive, "passive side", false);
}

console.log("\n# usocket tutorial: the TCP Hello World server and client");
{
  const [hello] = await server("hello_server", ["--once"]);
  await client("hello_client", [], "Input is: Hello World");
  await finish(hello, "server", false);
}

console.log("\n# Allegro CL tutorial: the sum server and socket-sum");
{
  const [sum] = await server("sum_server");
  await client("sum_client", ["1", "3"], "4");
  await client("sum_client", ["1.234", "3.23423"], "4.4682302");
  await client("sum_client", ["3", "#C(0.0 1.0)"], "#C(3.0 1.0)");
  await finish(sum, "server, stopped with SIGTERM", true);
}

console.log("\n# usocket tutorial: the UDP reverse server and client");
{
  const [udp] = await server("udp_reverse_server", ["--once"]);
  await client("udp_reverse_client", [], "#(8 7 6 5 4 3 2 1)");
  await finish(udp, "server", false);
}

console.log(
  failures === 0 ? "\nall flows worked" : `\n${failures} step(s) failed`,
);
Deno.exit(failures === 0 ? 0 : 1);
