// Importing sock from JSR, offline: every `jsr:@sock/sock…` and
// `https://jsr.io/@sock/sock/…` command that README.md and the examples'
// module docs give runs against a loopback registry serving the package as
// `deno publish` would upload it. Each test has its own registry, an empty
// DENO_DIR (nothing comes from a cache) and a scratch working directory with
// no deno.json, as a user without a checkout has.
import assert from "node:assert/strict";
import { add, formatLisp, type LispNumber, parseLisp, serve } from "../mod.ts";
import { handleSum } from "../examples/sum_server.ts";
import {
  freePort,
  RunningExample,
  type RunResult,
  runToEnd,
} from "../tools/examples.ts";
import {
  publishedPaths,
  readPackage,
  type Registry,
  startRegistry,
} from "./_registry.ts";
import { testsWithDeadline } from "./_helpers.ts";

/** Bounded tests: each test starts Deno on a package from a registry, so 30 s each. */
const test = testsWithDeadline(30_000);

const ROOT = new URL("../", import.meta.url);
const CONFIG = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
const VERSION: string = CONFIG.version;
const EXPORTS: Record<string, string> = CONFIG.exports;
const PUBLIC = "https://jsr.io/";

/** Each client example and the server it talks to. */
const SERVER_OF: Record<string, string> = {
  active_socket: "passive_socket",
  hello_client: "hello_server",
  sum_client: "sum_server",
  udp_reverse_client: "udp_reverse_server",
};
/** Servers that stop by themselves after one client. */
const ONE_SHOT = new Set(["passive_socket"]);
const TIMEOUT = 10_000;

/** The files whose commands a user copies: README.md and each exported example. */
function documentFiles(): string[] {
  return [
    "README.md",
    ...Object.values(EXPORTS).filter((path) => path.startsWith("./examples/"))
      .map((path) => path.slice(2)),
  ];
}

/** A `deno run` command as the docs give it. */
interface Documented {
  /** Where it is written, `file:line`. */
  where: string[];
  /** The line as written. */
  text: string;
  flags: string[];
  /** `jsr:@sock/sock/NAME` or `https://jsr.io/@sock/sock/VERSION/…`. */
  target: string;
  args: string[];
  /** The example it runs, e.g. `sum_server`. */
  example: string;
}

/** Splits a shell command line into words: quotes, and `&` or `#` ending it. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  const pattern = /\s*(?:'([^']*)'|"([^"]*)"|([^\s'"]+))/y;
  let word: string | undefined;
  let match;
  while ((match = pattern.exec(line)) !== null) {
    const [, single, double, plain] = match;
    const part = single ?? double ?? plain!;
    const startsWord = word === undefined || /^\s/.test(match[0]);
    if (startsWord && plain !== undefined && /^[#&]/.test(plain)) break;
    if (startsWord) {
      if (word !== undefined) words.push(word);
      word = part;
    } else {
      word += part;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The example file name (no `.ts`) a `jsr:` or jsr.io target runs. */
function exampleOf(target: string): string {
  const jsr = /^jsr:@sock\/sock(?:@[^/]+)?\/(.+)$/.exec(target);
  const path = jsr
    ? EXPORTS[`./${jsr[1]}`]
    : /^https:\/\/jsr\.io\/@sock\/sock\/[^/]+(\/.+)$/
      .exec(target)?.[1];
  const name = /\/examples\/(\w+)\.ts$/.exec(path ?? "")?.[1];
  if (!name) throw new Error(`${target} is not an exported example`);
  return name;
}

/** The `deno run` commands on a line: the line itself (in a shell block or a doc comment) and its inline code. */
function commandsOn(line: string): string[] {
  const whole = /^(?:\s*\*\s*|\$\s+)?(deno run .*)$/.exec(line)?.[1];
  const inline = [...line.matchAll(/`(deno run [^`]*)`/g)].map((m) => m[1]!);
  return whole ? [whole] : inline;
}

/** Every `deno run` command of README.md and the examples' module docs that runs sock from JSR. */
async function documentedCommands(): Promise<Documented[]> {
  const found = new Map<string, Documented>();
  for (const file of documentFiles()) {
    const lines = (await Deno.readTextFile(new URL(file, ROOT))).split("\n");
    lines.forEach((line, index) => {
      for (const text of commandsOn(line)) {
        const words = shellWords(text);
        const target = words.findIndex((word) =>
          /^jsr:@sock\/sock\b/.test(word) ||
          word.startsWith(`${PUBLIC}@sock/sock/`)
        );
        if (target < 0) continue;
        const where = `${file}:${index + 1}`;
        const known = found.get(words.join(" "));
        if (known) {
          known.where.push(where);
          continue;
        }
        found.set(words.join(" "), {
          where: [where],
          text,
          flags: words.slice(2, target),
          target: words[target]!,
          args: words.slice(target + 1),
          example: exampleOf(words[target]!),
        });
      }
    });
  }
  return [...found.values()];
}

/** The ports named in the `--allow-net` grants. */
function grantedPorts(flags: string[]): number[] {
  const hosts = flags.flatMap((flag) =>
    /^--allow-net=(.+)$/.exec(flag)?.[1]?.split(",") ?? []
  );
  return hosts.flatMap((host) => {
    const port = /:(\d+)$/.exec(host)?.[1];
    return port === undefined ? [] : [Number(port)];
  });
}

/** The grant with its fixed port (not port 0) replaced by `port`. */
function grantFor(flags: string[], port: number): string[] {
  return flags.map((flag) => {
    const grant = /^--allow-net=(.+)$/.exec(flag)?.[1];
    if (grant === undefined) return flag;
    const hosts = grant.split(",").map((host) =>
      host.replace(/:[1-9]\d*$/, `:${port}`)
    );
    return `--allow-net=${hosts.join(",")}`;
  });
}

/** The arguments with the port set to `port`: `PORT` filled in, `--port` replaced or added. */
function argsFor(args: string[], port: number): string[] {
  const filled = args.map((arg) => arg === "PORT" ? String(port) : arg);
  const at = filled.indexOf("--port");
  if (at >= 0) return filled.with(at + 1, String(port));
  return ["--port", String(port), ...filled];
}

/** The positional arguments (numbers, bytes) of a documented client command. */
function positionals(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--") return [...out, ...args.slice(i + 1)];
    if (/^--[a-z]/.test(args[i]!)) i++;
    else out.push(args[i]!);
  }
  return out;
}

/** What a client example prints when its server answers. */
function expectedOutput(command: Documented): string {
  const values = positionals(command.args);
  switch (command.example) {
    case "active_socket":
      return "BYE\n";
    case "hello_client":
      return "Input is: Hello World\n";
    case "sum_client": {
      const [a, b] = values.map((value) => parseLisp(value) as LispNumber);
      return `${formatLisp(add(a!, b!))}\n`;
    }
    case "udp_reverse_client": {
      const bytes = values.length > 0
        ? values
        : ["1", "2", "3", "4", "5", "6", "7", "8"];
      return `#(${bytes.toReversed().join(" ")})\n`;
    }
  }
  throw new Error(`no expected output for ${command.example}`);
}

/** The colours Deno puts on its own lines. */
// deno-lint-ignore no-control-regex
const COLOUR = /\x1b\[[0-9;]*m/g;

/** The program's lines on stderr: not Deno's own (a download, a warning). */
function programLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) =>
    line !== "" && !/^(Warning|Download)\b/.test(line.replace(COLOUR, ""))
  );
}

/** A user of the registry: an empty DENO_DIR and a scratch working directory. */
class JsrUser {
  readonly registry: Registry;
  readonly denoDir: string;
  readonly cwd: string;

  private constructor(registry: Registry, denoDir: string, cwd: string) {
    this.registry = registry;
    this.denoDir = denoDir;
    this.cwd = cwd;
  }

  static async start(registry?: Registry): Promise<JsrUser> {
    const served = registry ?? await startRegistry();
    return new JsrUser(
      served,
      await Deno.makeTempDir({ prefix: "sock_jsr_deno_dir_" }),
      await Deno.makeTempDir({ prefix: "sock_jsr_project_" }),
    );
  }

  /** `deno ARGS` as this user, with `https://jsr.io/` read as the registry. */
  command(args: string[]): Deno.Command {
    return new Deno.Command(Deno.execPath(), {
      args: args.map((arg) =>
        arg.startsWith(PUBLIC)
          ? this.registry.url + arg.slice(PUBLIC.length)
          : arg
      ),
      cwd: this.cwd,
      env: {
        JSR_URL: this.registry.url,
        DENO_DIR: this.denoDir,
        NO_COLOR: "1",
        NO_PROXY: "127.0.0.1,localhost",
      },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
  }

  /** Runs `deno ARGS` to its end. */
  run(args: string[]): Promise<RunResult> {
    return runToEnd(this.command(args), TIMEOUT);
  }

  /** Starts `deno ARGS` in the background. */
  start(args: string[]): RunningExample {
    return new RunningExample(this.command(args).spawn());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.registry.close();
    await Deno.remove(this.denoDir, { recursive: true });
    await Deno.remove(this.cwd, { recursive: true });
  }
}

/** `deno run --no-prompt FLAGS TARGET ARGS`. */
function runArgs(flags: string[], target: string, args: string[]): string[] {
  return ["run", "--no-prompt", ...flags, target, ...args];
}

/** Starts a documented server on a free port (or the OS-chosen one its grant allows); returns it and its port. */
async function startServer(
  user: JsrUser,
  server: Documented,
): Promise<[RunningExample, number]> {
  const ports = grantedPorts(server.flags);
  const osChooses = ports.length > 0 && ports.every((port) => port === 0);
  let flags = server.flags;
  let args = server.args;
  if (!osChooses) {
    const port = freePort(server.example.startsWith("udp_") ? "udp" : "tcp");
    flags = grantFor(flags, port);
    args = argsFor(args, port);
  }
  const running = user.start(runArgs(flags, server.target, args));
  try {
    return [running, await running.listening()];
  } catch (error) {
    const { stderr } = await running.stop();
    throw new Error(`${server.text} did not start: ${stderr}`, {
      cause: error,
    });
  }
}

/** Runs a documented client against `port` and checks what it prints. */
async function runClient(
  user: JsrUser,
  client: Documented,
  port: number,
): Promise<void> {
  const result = await user.run(
    runArgs(
      grantFor(client.flags, port),
      client.target,
      argsFor(client.args, port),
    ),
  );
  assert.deepEqual(
    [result.code, result.stdout, programLines(result.stderr)],
    [0, expectedOutput(client), []],
    `${client.text} (${client.where.join(", ")}); stderr: ${result.stderr}`,
  );
}

/** Runs each documented server command and each documented client command of one pair of examples, together. */
async function runPair(
  t: Deno.TestContext,
  clientName: string,
): Promise<void> {
  const commands = await documentedCommands();
  const serverName = SERVER_OF[clientName]!;
  const servers = commands.filter((c) => c.example === serverName);
  const clients = commands.filter((c) => c.example === clientName);
  assert.ok(servers.length > 0, `no documented jsr command for ${serverName}`);
  assert.ok(clients.length > 0, `no documented jsr command for ${clientName}`);
  for (const form of [/^jsr:/, /^https:/]) {
    assert.ok(
      servers.some((c) => form.test(c.target)) &&
        clients.some((c) => form.test(c.target)),
      `${serverName} and ${clientName} each document a ${form.source} command`,
    );
  }
  await using user = await JsrUser.start();
  const runs = Math.max(servers.length, clients.length);
  for (let i = 0; i < runs; i++) {
    const server = servers[i % servers.length]!;
    const client = clients[i % clients.length]!;
    await t.step(`${server.text}  |  ${client.text}`, async () => {
      const [running, port] = await startServer(user, server);
      await using _running = running;
      await runClient(user, client, port);
      const done = ONE_SHOT.has(serverName)
        ? await running.finish(TIMEOUT)
        : await running.stop();
      assert.deepEqual(
        [done.code, programLines(done.stderr)],
        [0, []],
        `${server.text} (${
          server.where.join(", ")
        }) ended badly: ${done.stderr}`,
      );
    });
  }
  const paths = user.registry.requests.map((request) => request.path);
  assert.ok(
    paths.includes(`/@sock/sock/meta.json`),
    "a jsr: command asks the registry for the package's versions",
  );
  assert.ok(
    paths.includes(`/@sock/sock/${VERSION}_meta.json`),
    "the version's manifest is fetched",
  );
}

test("the registry serves exactly the files deno publish would upload, with their checksums", async () => {
  await using registry = await startRegistry();
  const published = await publishedPaths();
  const meta = await (await fetch(`${registry.url}@sock/sock/meta.json`))
    .json();
  assert.deepEqual(meta, {
    scope: "sock",
    name: "sock",
    latest: VERSION,
    versions: { [VERSION]: {} },
  });
  const versionMeta = await (await fetch(
    `${registry.url}@sock/sock/${VERSION}_meta.json`,
  )).json();
  assert.deepEqual(
    Object.keys(versionMeta.manifest).toSorted(),
    published.toSorted(),
  );
  assert.deepEqual(versionMeta.exports, EXPORTS);
  for (const path of ["/mod.ts", "/examples/sum_server.ts", "/LICENSE"]) {
    assert.ok(published.includes(path), `${path} is published`);
    const bytes = new Uint8Array(
      await (await fetch(`${registry.url}@sock/sock/${VERSION}${path}`))
        .arrayBuffer(),
    );
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join(
      "",
    );
    assert.deepEqual(versionMeta.manifest[path], {
      size: bytes.length,
      checksum: `sha256-${hex}`,
    });
    assert.deepEqual(bytes, await Deno.readFile(new URL(`.${path}`, ROOT)));
  }
  for (
    const path of ["/tests/jsr_test.ts", "/tools/examples.ts", "/BENCHMARKS.md"]
  ) {
    assert.ok(!published.includes(path), `${path} is not published`);
    const response = await fetch(`${registry.url}@sock/sock/${VERSION}${path}`);
    await response.body?.cancel();
    assert.equal(response.status, 404, `${path} is not served`);
  }
});

test("a jsr: run fails when a module it imports is left out of the package", async () => {
  const pkg = await readPackage();
  assert.ok(pkg.files.delete("/lib/_addr.ts"));
  await using user = await JsrUser.start(await startRegistry(pkg));
  const result = await user.run(
    runArgs([], "jsr:@sock/sock/passive-socket", ["--help"]),
  );
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /Module not found ".*\/lib\/_addr\.ts"/);
});

test("passive-socket and active-socket run from JSR as documented", (t) =>
  runPair(t, "active_socket"));

test("hello-server and hello-client run from JSR as documented", (t) =>
  runPair(t, "hello_client"));

test("sum-server and sum-client run from JSR as documented", (t) =>
  runPair(t, "sum_client"));

test("udp-reverse-server and udp-reverse-client run from JSR with --unstable-net as documented", (t) =>
  runPair(t, "udp_reverse_client"));

test("from JSR, a UDP example run without --unstable-net says in one line to add it", async () => {
  // README: a remote program needs --unstable-net on the command line, since
  // no deno.json applies to it.
  const server = (await documentedCommands()).find((c) =>
    c.example === "udp_reverse_server" && c.target.startsWith("jsr:")
  );
  assert.ok(server, "udp-reverse-server has a documented jsr: command");
  assert.ok(server.flags.includes("--unstable-net"), server.text);
  await using user = await JsrUser.start();
  const result = await user.run(
    runArgs(
      server.flags.filter((flag) => flag !== "--unstable-net"),
      server.target,
      argsFor(server.args, 0),
    ),
  );
  assert.equal(result.code, 1, result.stderr);
  assert.deepEqual(programLines(result.stderr), [
    "error: Cannot open a datagram socket on 127.0.0.1:0: Deno's UDP sockets are unstable, run again with --unstable-net",
  ]);
});

test("every exported example has a documented jsr: and jsr.io command", async () => {
  const commands = await documentedCommands();
  for (const [key, path] of Object.entries(EXPORTS)) {
    if (!path.startsWith("./examples/")) continue;
    const name = /(\w+)\.ts$/.exec(path)![1]!;
    assert.ok(
      Object.keys(SERVER_OF).includes(name) ||
        Object.values(SERVER_OF).includes(name),
      `${path} (export "${key}") is in a client-server pair the tests run`,
    );
    for (const form of [/^jsr:/, /^https:/]) {
      assert.ok(
        commands.some((c) => c.example === name && form.test(c.target)),
        `${path} has a documented ${form.source} command`,
      );
    }
  }
});

test("deno add jsr:@sock/sock, then README's first snippet runs with the grant README states", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const add = /`(deno add jsr:@sock\/sock[^`]*)`/.exec(readme);
  assert.ok(add, "README.md shows `deno add jsr:@sock/sock`");
  const after = readme.slice(add.index);
  const snippet = /```ts\n([\s\S]*?)```/.exec(after);
  assert.ok(snippet, "a ts snippet follows the deno add command");
  const run = /`(deno run [^`]*)`/.exec(after.slice(snippet.index));
  assert.ok(run, "README.md says how to run the snippet");
  const runWords = shellWords(run[1]!);
  const file = runWords.at(-1)!;
  assert.match(file, /^\w+\.ts$/);

  await using user = await JsrUser.start();
  const added = await user.run(shellWords(add[1]!).slice(1));
  assert.equal(added.code, 0, added.stderr);
  const project = JSON.parse(
    await Deno.readTextFile(`${user.cwd}/deno.json`),
  );
  assert.deepEqual(project.imports, {
    "@sock/sock": `jsr:@sock/sock@^${VERSION}`,
  });
  await Deno.writeTextFile(`${user.cwd}/${file}`, snippet[1]!);
  const result = await user.run([
    "run",
    "--no-prompt",
    ...runWords.slice(2),
  ]);
  assert.deepEqual(
    [result.code, programLines(result.stderr)],
    [0, []],
    result.stderr,
  );
  const paths = user.registry.requests.map((request) => request.path);
  assert.ok(paths.includes(`/@sock/sock/${VERSION}/mod.ts`));
});

test("README and every example's module doc name the version in deno.json", async () => {
  let urls = 0;
  for (const file of documentFiles()) {
    const text = await Deno.readTextFile(new URL(file, ROOT));
    const versions = [
      ...text.matchAll(/https:\/\/jsr\.io\/@sock\/sock\/([^/\s`'"]+)\//g),
      ...text.matchAll(/jsr:@sock\/sock@([^/\s`'"]+)/g),
    ].map((match) => match[1]);
    for (const version of versions) {
      assert.equal(
        version,
        VERSION,
        `${file} names ${version}, deno.json ${VERSION}`,
      );
    }
    if (file.startsWith("examples/")) {
      assert.ok(
        versions.length > 0,
        `${file} shows the jsr.io URL with a version`,
      );
    }
    urls += versions.length;
  }
  assert.ok(urls > 0);
});

test("README's deno install of sock from JSR: the installed sock sums with its grant, and names the flag it lacks as README shows", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const install = /^deno install -g -n sock .* jsr:@sock\/sock\/cli$/m.exec(
    readme,
  )?.[0];
  assert.ok(install, "README.md shows deno install … jsr:@sock/sock/cli");
  const refused = /^\$ (sock connect localhost \d+)\n(error: .*)$/m.exec(
    readme,
  );
  assert.ok(refused, "README.md shows what a missing grant prints");

  await using user = await JsrUser.start();
  const root = `${user.cwd}/root`;
  const words = shellWords(install);
  const installed = await user.run([
    ...words.slice(1, -1),
    "--root",
    root,
    words.at(-1)!,
  ]);
  assert.equal(installed.code, 0, installed.stderr);

  /** Runs the installed `sock` with `input` on stdin. */
  const sock = async (args: string[], input: string) => {
    const child = new Deno.Command(`${root}/bin/sock`, {
      args,
      cwd: user.cwd,
      env: {
        PATH: `${Deno.execPath().replace(/\/[^/]*$/, "")}:/usr/bin:/bin`,
        JSR_URL: user.registry.url,
        DENO_DIR: user.denoDir,
        NO_COLOR: "1",
        NO_PROXY: "127.0.0.1,localhost",
      },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT);
    try {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(input));
      await writer.close();
      const { code, stdout, stderr } = await child.output();
      const text = new TextDecoder();
      return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
    } finally {
      clearTimeout(timer);
    }
  };

  // The grant covers every port on 127.0.0.1: a sum server on any of them.
  await using server = serve(handleSum, { port: 0 });
  const sum = await sock(["connect", "127.0.0.1", String(server.port)], "1 2 ");
  assert.deepEqual(
    [sum.code, sum.stdout, programLines(sum.stderr)],
    [0, "3", []],
    sum.stderr,
  );
  const lisp = await sock(
    ["connect", "--lisp", "127.0.0.1", String(server.port)],
    "1 3\n",
  );
  assert.deepEqual([lisp.code, lisp.stdout], [0, "4\n"], lisp.stderr);

  const denied = await sock(shellWords(refused[1]!).slice(1), "");
  assert.equal(denied.code, 1);
  assert.deepEqual(programLines(denied.stderr), [refused[2]]);
});
