// `deno task demo`: every tutorial flow, end to end on loopback, each
// program run with exactly the flags of its shebang line. When another
// program holds a default port, that flow runs on a free port instead (the
// same grant with that port) and says so in one line.
import {
  commandLine,
  flagsWithPort,
  freePort,
  portIsFree,
  runExample,
  type RunningExample,
  shebangFlags,
  startExample,
} from "./examples.ts";
import { denoTooOld } from "../examples/_common/cli.ts";

// An older Deno fails the Unix socket flow with a panic: say so in one line.
const tooOld = denoTooOld("the demo");
if (tooOld !== undefined) {
  console.error(`error: ${tooOld}`);
  Deno.exit(1);
}

let failures = 0;

function show(prefix: string, text: string): void {
  for (const line of text.trimEnd().split("\n")) {
    if (line) console.log(`${prefix}${line}`);
  }
}

/** How to run an example on a port: its own flags, or `--port P` and a grant for P. */
interface Placement {
  args: string[];
  flags?: string[];
}

/** `port` when it is free on 127.0.0.1, otherwise a free one, said in one line. */
function choosePort(transport: "tcp" | "udp", port: number): number {
  if (portIsFree(transport, port)) return port;
  const free = freePort(transport);
  console.log(
    `  (${transport.toUpperCase()} port ${port} is in use by another program, so this flow uses port ${free})`,
  );
  return free;
}

/** The flags and arguments that put `name` on `port` instead of `fixed`. */
function placed(name: string, port: number, fixed: number): Placement {
  return port === fixed
    ? { args: [] }
    : { args: ["--port", String(port)], flags: flagsWithPort(name, port) };
}

async function client(
  name: string,
  args: string[],
  expected: string,
  flags?: string[],
): Promise<void> {
  console.log(`$ ${commandLine(name, args, flags)}`);
  const { code, stdout, stderr } = await runExample(name, args, flags);
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
  flags?: string[],
): Promise<[RunningExample, number]> {
  console.log(`$ ${commandLine(name, args, flags)} &`);
  const running = startExample(name, args, flags);
  try {
    const port = await running.listening();
    show("  ", running.lines.join("\n"));
    return [running, port];
  } catch {
    const { stdout, stderr } = await running.finish();
    show("  ", stdout);
    show("  ! ", stderr);
    throw new Error(`${name} did not start`);
  }
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

let flows = 0;

/** Runs one flow; a failure is one line and the next flow still runs. */
async function flow(title: string, steps: () => Promise<void>): Promise<void> {
  console.log(`${flows++ === 0 ? "" : "\n"}# ${title}`);
  try {
    await steps();
  } catch (error) {
    failures++;
    console.log(`  (failed: ${(error as Error).message})`);
  }
}

await flow(
  "Allegro CL tutorial: a passive socket and an active socket",
  async () => {
    const [passive, port] = await server("passive_socket");
    await using _passive = passive;
    await client("active_socket", ["--port", String(port)], "BYE");
    await finish(passive, "passive side", false);
  },
);

await flow(
  "usocket tutorial: the TCP Hello World server and client",
  async () => {
    const port = choosePort("tcp", 12321);
    const at = placed("hello_server", port, 12321);
    const [hello] = await server(
      "hello_server",
      [...at.args, "--once"],
      at.flags,
    );
    await using _hello = hello;
    const to = placed("hello_client", port, 12321);
    await client("hello_client", to.args, "Input is: Hello World", to.flags);
    await finish(hello, "server", false);
  },
);

await flow("Allegro CL tutorial: the sum server and socket-sum", async () => {
  const port = choosePort("tcp", 9231);
  const at = placed("sum_server", port, 9231);
  const [sum] = await server("sum_server", at.args, at.flags);
  await using _sum = sum;
  const to = placed("sum_client", port, 9231);
  for (
    const [a, b, total] of [
      ["1", "3", "4"],
      ["1.234", "3.23423", "4.4682302"],
      ["3", "#C(0.0 1.0)", "#C(3.0 1.0)"],
    ]
  ) {
    await client("sum_client", [...to.args, a!, b!], total!, to.flags);
  }
  await finish(sum, "server, stopped with SIGTERM", true);
});

await flow("usocket tutorial: the UDP reverse server and client", async () => {
  const port = choosePort("udp", 12321);
  const at = placed("udp_reverse_server", port, 12321);
  const [udp] = await server(
    "udp_reverse_server",
    [...at.args, "--once"],
    at.flags,
  );
  await using _udp = udp;
  const to = placed("udp_reverse_client", port, 12321);
  await client("udp_reverse_client", to.args, "#(8 7 6 5 4 3 2 1)", to.flags);
  await finish(udp, "server", false);
});

/** Runs a command to its end; its stdout, or undefined when it cannot run. */
async function sh(args: string[]): Promise<string | undefined> {
  try {
    const { success, stdout } = await new Deno.Command(args[0]!, {
      args: args.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return success ? new TextDecoder().decode(stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

// A scratch directory for the certificates and the socket file, made and
// removed by `mktemp` and `rm`, so the demo itself needs no write grant.
const scratch = await sh(["mktemp", "-d", "-t", "sock-demo-XXXXXX"]);

await flow("The sum server and socket-sum over TLS", async () => {
  if (scratch === undefined) throw new Error("mktemp -d failed");
  const made = await sh([
    "sh",
    new URL("./make_certs.sh", import.meta.url).pathname,
    scratch,
  ]);
  if (made === undefined) {
    console.log(
      "  (openssl is not installed, so there is no certificate: this flow is skipped)",
    );
    return;
  }
  console.log(
    `  (a throwaway CA and a certificate for localhost, made by tools/make_certs.sh in ${scratch})`,
  );
  const cert = `${scratch}/server.crt`;
  const key = `${scratch}/server.key`;
  const ca = `${scratch}/ca.crt`;
  const port = choosePort("tcp", 9231);
  const at = placed("sum_server", port, 9231);
  const [sum] = await server(
    "sum_server",
    [...at.args, "--tls-cert", cert, "--tls-key", key],
    [
      ...(at.flags ?? shebangFlags("sum_server")),
      `--allow-read=${cert},${key}`,
    ],
  );
  await using _sum = sum;
  const to = placed("sum_client", port, 9231);
  const flags = [
    ...(to.flags ?? shebangFlags("sum_client")),
    `--allow-read=${ca}`,
  ];
  for (
    const [a, b, total] of [["1", "3", "4"], ["1.234", "3.23423", "4.4682302"]]
  ) {
    await client(
      "sum_client",
      [...to.args, "--tls", "--ca-cert", ca, a!, b!],
      total!,
      flags,
    );
  }
  await finish(sum, "server, stopped with SIGTERM", true);
});

await flow(
  "The sum server and socket-sum over a Unix domain socket",
  async () => {
    if (scratch === undefined) throw new Error("mktemp -d failed");
    const path = `${scratch}/sum.sock`;
    const grants = [
      `--allow-read=${path}`,
      `--allow-write=${path}`,
      `--allow-net=unix:${path}`,
    ];
    const [sum] = await server("sum_server", ["--unix", path], grants);
    await using _sum = sum;
    for (
      const [a, b, total] of [["1", "3", "4"], [
        "3",
        "#C(0.0 1.0)",
        "#C(3.0 1.0)",
      ]]
    ) {
      await client("sum_client", ["--unix", path, a!, b!], total!, grants);
    }
    await finish(sum, "server, stopped with SIGTERM", true);
  },
);

if (scratch !== undefined) await sh(["rm", "-rf", scratch]);

console.log(
  failures === 0 ? "\nall flows worked" : `\n${failures} step(s) failed`,
);
Deno.exit(failures === 0 ? 0 : 1);
