// The `sock` command over TLS and over Unix domain sockets, with pipes:
// against the project's TLS and Unix sum servers, our own TLS client,
// another sock, openssl s_client and socat; its one-line errors, exit
// statuses and grant advice. Certificates come from tools/make_certs.sh.
import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import { startExample } from "../tools/examples.ts";
import { haveOpenssl } from "./_certs.ts";
import { bounded, canRun, test } from "./_helpers.ts";
import { CLI_PATH, errorLines, runSock, SockProcess } from "./_sock.ts";

const T = { timeout: 5_000 };
const SLOW = { deadline: 40_000 };
const MAKE_CERTS = new URL("../tools/make_certs.sh", import.meta.url).pathname;

const opensslFound = await haveOpenssl();
if (!opensslFound) {
  console.log("sock's TLS tests skipped: openssl not found");
}
const TLS = { ...SLOW, ignore: !opensslFound };

/**
 * A temporary directory; with `certs`, a CA and a localhost certificate in
 * it (tools/make_certs.sh), and `stranger`, a CA that signed neither.
 */
async function scratch(certs = false): Promise<
  & { dir: string; ca: string; cert: string; key: string; stranger: string }
  & AsyncDisposable
> {
  const dir = await Deno.makeTempDir({ prefix: "sock-cli-" });
  const run = async (command: string, args: string[]) => {
    const { success } = await new Deno.Command(command, {
      args,
      cwd: dir,
      stdout: "null",
      stderr: "null",
    }).output();
    assert.ok(success, `${command} ${args.join(" ")} failed`);
  };
  if (certs) {
    await Promise.all([
      run("sh", [MAKE_CERTS, dir]),
      run("openssl", [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "30",
        "-keyout",
        "stranger.key",
        "-out",
        "stranger.crt",
        "-subj",
        "/CN=sock stranger CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
      ]),
    ]);
  }
  return {
    dir,
    ca: `${dir}/ca.crt`,
    cert: `${dir}/server.crt`,
    key: `${dir}/server.key`,
    stranger: `${dir}/stranger.crt`,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const unixGrants = (path: string) => [
  `--allow-read=${path}`,
  `--allow-write=${path}`,
  `--allow-net=unix:${path}`,
];

/** Waits for sock's `listening on PATH` note. */
async function listeningOn(sock: SockProcess): Promise<string> {
  return (await sock.waitFor(/listening on (.+)\n/, "stderr"))[1]!;
}

// --- TLS ---------------------------------------------------------------------

test(
  "sock connect --tls --ca-cert to the TLS sum server: bytes and --lisp; a wrong CA is one line, exit 1",
  async () => {
    await using tmp = await scratch(true);
    await using server = startExample(
      "sum_server",
      ["--port", "0", "--tls-cert", tmp.cert, "--tls-key", tmp.key],
      ["--allow-net=127.0.0.1:0", `--allow-read=${tmp.cert},${tmp.key}`],
    );
    const port = await server.listening();
    const flags = [`--allow-net=localhost:${port}`, `--allow-read=${tmp.ca}`];
    const tls = ["--tls", "--ca-cert", tmp.ca, "localhost", String(port)];

    const bytes = await runSock(flags, ["connect", ...tls], "1 2 ");
    assert.deepEqual(
      [bytes.code, bytes.stdout, errorLines(bytes.stderr)],
      [0, "3", []],
    );
    const lisp = await runSock(flags, ["connect", "--lisp", ...tls], "1 3\n");
    assert.deepEqual(
      [lisp.code, lisp.stdout, errorLines(lisp.stderr)],
      [0, "4\n", []],
    );

    const untrusted =
      `error: Cannot connect to localhost:${port} over TLS: the peer's certificate is not signed by a CA this side trusts (give the CA's certificate with --ca-cert FILE)`;
    const stranger = await runSock(
      [`--allow-net=localhost:${port}`, `--allow-read=${tmp.stranger}`],
      ["connect", "--ca-cert", tmp.stranger, "localhost", String(port)],
      "1 2 ",
    );
    assert.deepEqual(
      [stranger.code, stranger.stdout, errorLines(stranger.stderr)],
      [1, "", [untrusted]],
    );
    // Without --ca-cert, the CAs Deno trusts do not include the test CA.
    const store = await runSock(
      [`--allow-net=localhost:${port}`],
      ["connect", "--tls", "localhost", String(port)],
      "1 2 ",
    );
    assert.deepEqual(
      [store.code, store.stdout, errorLines(store.stderr)],
      [1, "", [untrusted]],
    );
    // The certificate names localhost, 127.0.0.1 and ::1: by IP it works too.
    const byIp = await runSock(
      [`--allow-net=127.0.0.1:${port}`, `--allow-read=${tmp.ca}`],
      ["connect", "--tls", "--ca-cert", tmp.ca, "127.0.0.1", String(port)],
      "20 22 ",
    );
    assert.deepEqual([byIp.code, byIp.stdout], [0, "42"]);
  },
  TLS,
);

test(
  "sock listen --tls-cert --tls-key 0: a TLS client's bytes both ways, half-close, exit 0",
  async () => {
    await using tmp = await scratch(true);
    await using sock = new SockProcess(
      ["--allow-net=127.0.0.1:0", `--allow-read=${tmp.cert},${tmp.key}`],
      ["listen", "--tls-cert", tmp.cert, "--tls-key", tmp.key, "0"],
    );
    const port = await sock.listening();
    const caCert = await Deno.readTextFile(tmp.ca);
    await using client = await connect({
      hostname: "localhost",
      port,
      tls: { caCerts: [caCert] },
      timeout: 10_000,
    });
    assert.ok(client.tls);
    await client.write("from the client\n");
    await client.flush();
    await sock.waitFor(/from the client\n/);
    await sock.type("from sock\n");
    assert.equal(await client.readLine(T), "from sock");
    // The end of sock's stdin is a TLS close_notify; the client can still send.
    await sock.endInput();
    assert.equal(await client.readLine(T), null);
    await client.write("last words\n");
    await client.close();
    const result = await sock.finish();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "from the client\nlast words\n");
    assert.match(result.stderr, /connection from 127\.0\.0\.1:\d+\n/);
    assert.deepEqual(
      errorLines(result.stderr).filter((line) => line.startsWith("error")),
      [],
    );
  },
  TLS,
);

test(
  "sock listen --lisp over TLS with sock connect --lisp --tls: hello on one side prints HELLO on the other",
  async () => {
    await using tmp = await scratch(true);
    await using listener = new SockProcess(
      ["--allow-net=127.0.0.1:0", `--allow-read=${tmp.cert},${tmp.key}`],
      ["listen", "--lisp", "--tls-cert", tmp.cert, "--tls-key", tmp.key, "0"],
    );
    const port = await listener.listening();
    await using client = new SockProcess(
      [`--allow-net=localhost:${port}`, `--allow-read=${tmp.ca}`],
      ["connect", "--lisp", "--ca-cert", tmp.ca, "localhost", String(port)],
    );
    await client.type("hello\n");
    await listener.waitFor(/^HELLO\n/);
    await listener.type('(+ 1 2) "Bye"\n');
    await client.waitFor(/^\(\+ 1 2\)\n"Bye"\n$/);
    await client.endInput();
    await listener.endInput();
    const [l, c] = await Promise.all([listener.finish(), client.finish()]);
    assert.deepEqual([l.code, l.stdout], [0, "HELLO\n"]);
    assert.deepEqual([c.code, c.stdout], [0, '(+ 1 2)\n"Bye"\n']);
  },
  TLS,
);

test(
  "openssl s_client talks to sock listen --tls-cert: bytes both ways",
  async () => {
    await using tmp = await scratch(true);
    await using sock = new SockProcess(
      ["--allow-net=127.0.0.1:0", `--allow-read=${tmp.cert},${tmp.key}`],
      ["listen", "--tls-cert", tmp.cert, "--tls-key", tmp.key, "0"],
    );
    const port = await sock.listening();
    const child = new Deno.Command("openssl", {
      args: [
        "s_client",
        "-brief",
        "-CAfile",
        tmp.ca,
        "-verify_return_error",
        "-servername",
        "localhost",
        "-connect",
        `127.0.0.1:${port}`,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    const writer = child.stdin.getWriter();
    try {
      await writer.write(new TextEncoder().encode("from s_client\n"));
      await sock.waitFor(/from s_client\n/);
      await sock.type("from sock\n");
      await sock.endInput();
      // s_client ends at the close_notify that the end of sock's stdin sends.
      const done = await bounded(output, 10_000, "openssl s_client");
      assert.equal(new TextDecoder().decode(done.stdout), "from sock\n");
      assert.ok(done.success, new TextDecoder().decode(done.stderr));
    } finally {
      await writer.close().catch(() => {});
      try {
        child.kill("SIGKILL");
      } catch {
        // Already ended.
      }
      await output.catch(() => {});
    }
    const result = await sock.finish();
    assert.deepEqual([result.code, result.stdout], [0, "from s_client\n"]);
  },
  TLS,
);

test(
  "a plain client to sock listen --tls-cert: the failed handshake is one line, exit 1",
  async () => {
    await using tmp = await scratch(true);
    await using sock = new SockProcess(
      ["--allow-net=127.0.0.1:0", `--allow-read=${tmp.cert},${tmp.key}`],
      ["listen", "--tls-cert", tmp.cert, "--tls-key", tmp.key, "0"],
    );
    const port = await sock.listening();
    await using plain = await connect({ port, timeout: 10_000 });
    await plain.write("not TLS at all\n");
    await plain.flush();
    const result = await sock.finish();
    assert.equal(result.code, 1);
    const errors = errorLines(result.stderr).filter((line) =>
      line.startsWith("error")
    );
    assert.equal(errors.length, 1, result.stderr);
    assert.match(
      errors[0]!,
      /^error: Cannot complete the TLS handshake with 127\.0\.0\.1:\d+: the peer sent bytes that are not TLS/,
    );
  },
  TLS,
);

// --- Unix domain sockets -----------------------------------------------------

test(
  "sock connect --unix P against the Unix sum server prints the sum, bytes and --lisp",
  async () => {
    await using tmp = await scratch();
    const path = `${tmp.dir}/sum.sock`;
    await using server = startExample(
      "sum_server",
      ["--unix", path],
      unixGrants(path),
    );
    await server.waitForLine(new RegExp(`^listening on ${path}$`));
    const bytes = await runSock(
      unixGrants(path),
      ["connect", "--unix", path],
      "1 2 ",
    );
    assert.deepEqual(
      [bytes.code, bytes.stdout, errorLines(bytes.stderr)],
      [0, "3", []],
    );
    const lisp = await runSock(
      unixGrants(path),
      ["connect", "--lisp", "--unix", path],
      "1.234 3.23423\n",
    );
    assert.deepEqual(
      [lisp.code, lisp.stdout, errorLines(lisp.stderr)],
      [0, "4.4682302\n", []],
    );
    // A relative path is the same socket, granted by its absolute path.
    await using relative = new SockProcess(
      unixGrants(path),
      ["connect", "--unix", "sum.sock"],
      tmp.dir,
    );
    await relative.type("40 2 ");
    await relative.endInput();
    const result = await relative.finish();
    assert.deepEqual([result.code, result.stdout], [0, "42"]);
  },
  SLOW,
);

test(
  "sock listen --unix P with sock connect --unix P: bytes both ways, --lisp too; the socket file goes with it",
  async () => {
    await using tmp = await scratch();
    const path = `${tmp.dir}/talk.sock`;
    {
      await using listener = new SockProcess(unixGrants(path), [
        "listen",
        "--unix",
        path,
      ]);
      assert.equal(await listeningOn(listener), path);
      await using client = new SockProcess(unixGrants(path), [
        "connect",
        "--unix",
        path,
      ]);
      await client.type("from the client\n");
      await listener.waitFor(/from the client\n/);
      assert.match(listener.stderr, /connection from a client of .*talk\.sock/);
      await listener.type("from the listener\n");
      await client.waitFor(/from the listener\n/);
      await client.endInput();
      await listener.endInput();
      const [l, c] = await Promise.all([listener.finish(), client.finish()]);
      assert.deepEqual([l.code, l.stdout], [0, "from the client\n"]);
      assert.deepEqual([c.code, c.stdout], [0, "from the listener\n"]);
    }
    await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);

    await using lispListener = new SockProcess(unixGrants(path), [
      "listen",
      "--lisp",
      "--unix",
      path,
    ]);
    await listeningOn(lispListener);
    await using lispClient = new SockProcess(unixGrants(path), [
      "connect",
      "--lisp",
      "--unix",
      path,
    ]);
    await lispClient.type("hello\n");
    await lispListener.waitFor(/^HELLO\n/);
    await lispClient.endInput();
    await lispListener.endInput();
    const [l, c] = await Promise.all([
      lispListener.finish(),
      lispClient.finish(),
    ]);
    assert.deepEqual([l.code, l.stdout, c.code], [0, "HELLO\n", 0]);
  },
  SLOW,
);

const haveSocat = await canRun("socat", ["-V"]);
if (!haveSocat) {
  console.log("sock's socat Unix test skipped: socat not found");
}

test(
  "socat - UNIX-CONNECT:P talks to sock listen --unix P both ways",
  async () => {
    await using tmp = await scratch();
    const path = `${tmp.dir}/socat.sock`;
    await using sock = new SockProcess(unixGrants(path), [
      "listen",
      "--unix",
      path,
    ]);
    await listeningOn(sock);
    const socat = new Deno.Command("socat", {
      args: ["-t", "5", "-", `UNIX-CONNECT:${path}`],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = socat.output();
    const writer = socat.stdin.getWriter();
    try {
      await writer.write(new TextEncoder().encode("from socat\n"));
      await sock.waitFor(/from socat\n/);
      await sock.type("from sock\n");
      await sock.endInput();
      await writer.close();
      const done = await bounded(output, 10_000, "socat");
      assert.equal(new TextDecoder().decode(done.stdout), "from sock\n");
      assert.ok(done.success, new TextDecoder().decode(done.stderr));
    } finally {
      await writer.close().catch(() => {});
      try {
        socat.kill("SIGKILL");
      } catch {
        // Already ended.
      }
      await output.catch(() => {});
    }
    const result = await sock.finish();
    assert.deepEqual([result.code, result.stdout], [0, "from socat\n"]);
  },
  { ...SLOW, ignore: !haveSocat },
);

test(
  "sock connect --unix to a path with no server is one line, exit 1",
  async () => {
    await using tmp = await scratch();
    const path = `${tmp.dir}/nobody.sock`;
    const result = await runSock(unixGrants(path), ["connect", "--unix", path]);
    assert.deepEqual([result.code, errorLines(result.stderr)], [1, [
      `error: Cannot connect to ${path}: no such socket file (is the server running?)`,
    ]]);
  },
  SLOW,
);

// --- Mistakes and grants -----------------------------------------------------

test(
  "the TLS and Unix flags' misuse is one line, exit 2",
  async () => {
    const cases: [string[], string][] = [
      [
        ["connect", "--tls", "--udp", "h", "1"],
        "--tls works over TCP: leave out --udp (there is no TLS for datagrams)",
      ],
      [
        ["listen", "--tls-cert", "c", "--tls-key", "k", "--udp", "0"],
        "--tls-cert works over TCP: leave out --udp (there is no TLS for datagrams)",
      ],
      [
        ["connect", "--unix", "/tmp/s.sock", "h", "1"],
        '--unix PATH takes the place of HOST PORT: leave out "h" "1"',
      ],
      [
        ["listen", "--unix", "/tmp/s.sock", "0"],
        '--unix PATH takes the place of PORT: leave out "0"',
      ],
      [
        ["listen", "--unix", "/tmp/s.sock", "--host", "127.0.0.1"],
        "--unix cannot go with --host",
      ],
      [
        ["connect", "--unix", "/tmp/s.sock", "--udp"],
        "--unix is for streams here: leave out --udp",
      ],
      [
        ["listen", "--tls-cert", "c", "0"],
        "--tls-cert and --tls-key go together",
      ],
      [
        ["listen", "--tls-key", "k", "0"],
        "--tls-cert and --tls-key go together",
      ],
      [
        ["listen", "--tls", "0"],
        "--tls is for connect; listen serves TLS with --tls-cert FILE --tls-key FILE",
      ],
      [
        ["listen", "--ca-cert", "ca", "0"],
        "--ca-cert is for connect: Deno's TLS server cannot check client certificates",
      ],
      [
        ["connect", "--tls-cert", "c", "--tls-key", "k", "h", "1"],
        "--tls-cert is for listen; connect takes --tls [--ca-cert FILE] [--cert FILE --key FILE]",
      ],
      [
        ["connect", "--tls", "--unix", "/tmp/s.sock"],
        "--unix cannot go with --tls: Deno has no TLS over Unix sockets",
      ],
      [
        ["listen", "--tls-cert", "c", "--tls-key", "k", "--unix", "/tmp/s"],
        "--unix cannot go with --tls-cert: Deno has no TLS over Unix sockets",
      ],
      [["connect", "--unix", ""], "--unix needs a socket path"],
      [["connect", "--ca-cert", "", "h", "1"], "--ca-cert needs a file"],
      [
        ["connect", "--unix", `/tmp/${"x".repeat(120)}`],
        `--unix /tmp/${
          "x".repeat(120)
        }: a socket path has at most 107 bytes (use a shorter directory)`,
      ],
    ];
    for (const [args, message] of cases) {
      const result = await runSock([], args);
      assert.deepEqual(
        [result.code, result.stdout, errorLines(result.stderr)],
        [2, "", [`error: ${message} (see --help)`]],
        args.join(" "),
      );
    }
  },
  { deadline: 90_000 },
);

test(
  "a missing grant for a PEM file or a socket path is one line naming the exact flags, exit 1",
  async () => {
    await using tmp = await scratch();
    const advice = (what: string, add: string, all: string, args: string) =>
      `error: sock may not ${what}: add ${add} (deno run ${all} ${CLI_PATH} ${args}; an installed sock keeps its grants and gains these with sed -i 's|^exec deno run |&${add} |' "$(command -v sock)")`;
    const ca = `${tmp.dir}/ca.crt`;
    const client = await runSock(
      ["--allow-net=localhost:9"],
      ["connect", "--ca-cert", ca, "localhost", "9"],
    );
    assert.deepEqual([client.code, errorLines(client.stderr)], [1, [
      advice(
        "connect to localhost:9 over TLS",
        `--allow-read=${ca}`,
        `--allow-read=${ca} --allow-net=localhost:9`,
        `connect --ca-cert ${ca} localhost 9`,
      ),
    ]]);
    const [cert, key] = [`${tmp.dir}/s.crt`, `${tmp.dir}/s.key`];
    const server = await runSock([], [
      "listen",
      "--tls-cert",
      cert,
      "--tls-key",
      key,
      "0",
    ]);
    const serverFlags = `--allow-read=${cert},${key} --allow-net=127.0.0.1:0`;
    assert.deepEqual([server.code, errorLines(server.stderr)], [1, [
      advice(
        "listen on 127.0.0.1:0 over TLS",
        serverFlags,
        serverFlags,
        `listen --tls-cert ${cert} --tls-key ${key} 0`,
      ),
    ]]);
    const path = `${tmp.dir}/s.sock`;
    const unixFlags = unixGrants(path).join(" ");
    for (const mode of ["connect", "listen"]) {
      const result = await runSock([], [mode, "--unix", path]);
      assert.deepEqual([result.code, errorLines(result.stderr)], [1, [
        advice(
          `${mode === "connect" ? "connect to" : "listen on"} ${path}`,
          unixFlags,
          unixFlags,
          `${mode} --unix ${path}`,
        ),
      ]]);
    }
    // With the read grant there already, only what is missing is to add.
    const partial = await runSock([`--allow-read=${path}`], [
      "listen",
      "--unix",
      path,
    ]);
    assert.deepEqual([partial.code, errorLines(partial.stderr)], [1, [
      advice(
        `listen on ${path}`,
        `--allow-write=${path} --allow-net=unix:${path}`,
        unixFlags,
        `listen --unix ${path}`,
      ),
    ]]);
    // A relative path is granted by its absolute path (Deno takes no other).
    await using relative = new SockProcess(
      [],
      ["listen", "--unix", "r.sock"],
      tmp.dir,
    );
    const result = await relative.finish();
    const absolute = `${tmp.dir}/r.sock`;
    assert.equal(result.code, 1);
    assert.match(
      errorLines(result.stderr)[0]!,
      new RegExp(
        `^error: sock may not listen on ${absolute}: add --allow-read=${absolute} --allow-write=${absolute} --allow-net=unix:${absolute} `,
      ),
    );
  },
  { deadline: 60_000 },
);
