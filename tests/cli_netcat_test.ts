// `sock` spelled as netcat: -l, HOST PORT, HOST:PORT, -k, -u, -w, -v; and
// -q, -4/-6, and a client certificate on connect --tls (mutual TLS,
// against openssl s_server asking for one).
import assert from "node:assert/strict";
import { listen, serve } from "../mod.ts";
import { haveOpenssl, makeCerts } from "./_certs.ts";
import { bounded, test } from "./_helpers.ts";
import { errorLines, runSock, SockProcess } from "./_sock.ts";

const SLOW = { deadline: 40_000 };

/** A server that echoes each chunk back, then closes when the client does. */
function echoServer(hostname = "127.0.0.1") {
  return serve(async (socket) => {
    const buffer = new Uint8Array(4096);
    for (let n; (n = await socket.read(buffer)) !== null;) {
      await socket.write(buffer.subarray(0, n));
      await socket.flush();
    }
  }, { hostname, port: 0 });
}

test(
  "sock -l 0 and sock 127.0.0.1 PORT talk both ways, as nc -l and nc do",
  async () => {
    await using listener = new SockProcess(["--allow-net=127.0.0.1:0"], [
      "-l",
      "0",
    ]);
    const port = await listener.listening();
    await using client = new SockProcess([`--allow-net=127.0.0.1:${port}`], [
      "127.0.0.1",
      String(port),
    ]);
    await client.type("to the listener\n");
    await listener.waitFor(/to the listener\n/);
    await listener.type("to the client\n");
    await client.waitFor(/to the client\n/);
    await client.endInput();
    await listener.endInput();
    const [l, c] = await Promise.all([listener.finish(), client.finish()]);
    assert.deepEqual([l.code, l.stdout, c.code, c.stdout], [
      0,
      "to the listener\n",
      0,
      "to the client\n",
    ]);
  },
  SLOW,
);

test(
  "sock -lvnp 0 listens as traditional netcat's spelling does; -nv connects",
  async () => {
    await using listener = new SockProcess(["--allow-net=127.0.0.1:0"], [
      "-lvnp",
      "0",
    ]);
    const port = await listener.listening();
    const client = await runSock([`--allow-net=127.0.0.1:${port}`], [
      "-nv",
      "127.0.0.1",
      String(port),
    ], "numeric\n");
    assert.deepEqual([client.code, errorLines(client.stderr)], [0, [
      `connected to 127.0.0.1:${port}`,
    ]]);
    await listener.waitFor(/numeric\n/);
  },
  SLOW,
);

test("sock HOST:PORT and sock [::1]:PORT connect", async () => {
  await using v4 = echoServer();
  await using v6 = echoServer("::1");
  const a = await runSock(
    [`--allow-net=127.0.0.1:${v4.port}`],
    [`127.0.0.1:${v4.port}`],
    "four\n",
  );
  const b = await runSock(
    [`--allow-net=[::1]:${v6.port}`],
    [`[::1]:${v6.port}`],
    "six\n",
  );
  assert.deepEqual([a.code, a.stdout, b.code, b.stdout], [
    0,
    "four\n",
    0,
    "six\n",
  ]);
}, SLOW);

test("sock -l -k -u 0 is a UDP listener that keeps its peers", async () => {
  await using sock = new SockProcess([
    "--unstable-net",
    "--allow-net=127.0.0.1",
  ], ["-l", "-k", "-u", "0"]);
  const port = await sock.listening();
  assert.match(sock.stderr, /listening for datagrams on 127\.0\.0\.1:/);
  const udp = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    await udp.send(new TextEncoder().encode("datagram\n"), {
      transport: "udp",
      hostname: "127.0.0.1",
      port,
    });
    await sock.waitFor(/datagram\n/);
  } finally {
    udp.close();
  }
}, SLOW);

test("sock -v says when it is connected", async () => {
  await using server = echoServer();
  const result = await runSock(
    [`--allow-net=127.0.0.1:${server.port}`],
    ["-v", "127.0.0.1", String(server.port)],
    "x\n",
  );
  assert.deepEqual([result.code, errorLines(result.stderr)], [0, [
    `connected to 127.0.0.1:${server.port}`,
  ]]);
}, SLOW);

test(
  "-w 1 closes a connection where nothing moves, with one line",
  async () => {
    using listener = listen({ port: 0 });
    const held = listener.accept();
    const result = await runSock(
      [`--allow-net=127.0.0.1:${listener.port}`],
      ["-w", "1", "127.0.0.1", String(listener.port)],
    );
    await (await held).close({ abort: true });
    assert.deepEqual([result.code, errorLines(result.stderr)], [1, [
      "error: no data either way for 1000 ms: closed the connection (--idle-timeout)",
    ]]);
  },
  SLOW,
);

test(
  "-q 0 quits at the end of stdin; without -q sock waits for the server to close",
  async () => {
    // A server that reads everything and closes only when the test ends.
    using listener = listen({ port: 0 });
    let end!: () => void;
    const ended = new Promise<void>((resolve) => end = resolve);
    const sockets: Promise<unknown>[] = [];
    const accepting = (async () => {
      for (let i = 0; i < 2; i++) {
        const socket = await listener.accept();
        sockets.push(
          socket.readAll().then(() => ended).finally(() => socket.close()),
        );
      }
    })();
    const grant = [`--allow-net=127.0.0.1:${listener.port}`];
    const quick = await runSock(
      grant,
      ["-q", "0", "127.0.0.1", String(listener.port)],
      "bye\n",
    );
    assert.deepEqual([quick.code, errorLines(quick.stderr)], [0, []]);

    await using waiting = new SockProcess(grant, [
      "127.0.0.1",
      String(listener.port),
    ]);
    await waiting.type("bye\n");
    await waiting.endInput();
    await assert.rejects(
      bounded(waiting.finish(60_000), 1500, "sock without -q"),
      /did not finish/,
    );
    waiting.kill("SIGTERM");
    assert.equal((await waiting.finish()).code, 0);
    end();
    await accepting;
    await Promise.all(sockets);
  },
  SLOW,
);

test("-4 localhost connects over IPv4; -6 -l 0 listens on ::1", async () => {
  await using server = echoServer();
  const four = await runSock(
    ["--allow-net=localhost", `--allow-net=127.0.0.1:${server.port}`],
    ["-4", "-v", "localhost", String(server.port)],
    "ipv4\n",
  );
  assert.deepEqual([four.code, four.stdout, errorLines(four.stderr)], [
    0,
    "ipv4\n",
    [`connected to 127.0.0.1:${server.port}`],
  ]);
  const ungranted = await runSock(
    [`--allow-net=127.0.0.1:${server.port}`],
    ["-4", "localhost", String(server.port)],
  );
  assert.equal(ungranted.code, 1);
  assert.match(
    errorLines(ungranted.stderr)[0]!,
    /^error: sock may not look up localhost: add --allow-net=localhost /,
  );

  await using six = new SockProcess(["--allow-net=[::1]:0"], ["-6", "-l", "0"]);
  assert.match(
    (await six.waitFor(/listening on (.*)\n/, "stderr"))[1]!,
    /^\[::1\]:\d+$/,
  );
}, SLOW);

test("netcat spellings' mistakes are one line, exit 2", async () => {
  const cases: [string[], string][] = [
    [["-4", "-6", "127.0.0.1", "1"], "-4 and -6 ask for opposite things"],
    [["-6", "127.0.0.1", "1"], "HOST 127.0.0.1 is an IPv4 address"],
    [["-l", "-4", "--host", "::1", "0"], "--host ::1 is an IPv6 address"],
    [["--quiet", "-v", "127.0.0.1", "1"], "--quiet and -v ask for opposite"],
    [["-q", "soon", "127.0.0.1", "1"], "-q must be a whole number of seconds"],
    [["-w", "0", "127.0.0.1", "1"], "-w must be a whole number of seconds"],
    [["-l", "connect", "1"], "-l is netcat's listen: leave out connect"],
    [["127.0.0.1"], 'unknown command "127.0.0.1"'],
    [["--cert", "c.pem", "127.0.0.1", "1"], "--cert and --key go together"],
    [["-l", "--cert", "c.pem", "0"], "--cert is a client certificate for"],
    [["-n", "localhost", "1"], "-n takes HOST as an IP address"],
    [["-p", "5", "127.0.0.1", "1"], "-p is the port to listen on, with -l"],
    [
      ["-l", "--host", "127.0.0.1", "-p", "5", "127.0.0.2"],
      "give the address once",
    ],
    [["-w", "1", "--timeout", "5", "127.0.0.1", "1"], "-w and --timeout"],
  ];
  for (const [args, message] of cases) {
    const result = await runSock([], args);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    const lines = errorLines(result.stderr);
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.ok(
      lines[0]!.startsWith(`error: ${message}`),
      `${args.join(" ")}: ${lines[0]}`,
    );
  }
}, { deadline: 60_000 });

const opensslFound = await haveOpenssl();

test(
  "connect --tls --cert F --key F: openssl s_server that asks for a client certificate gets it; without one the handshake fails",
  async () => {
    await using certs = await makeCerts();
    const probe = listen({ port: 0 });
    const port = probe.port;
    probe.close();
    const server = new Deno.Command("openssl", {
      args: [
        "s_server",
        "-accept",
        `127.0.0.1:${port}`,
        "-cert",
        certs.serverCertFile,
        "-key",
        certs.serverKeyFile,
        "-CAfile",
        certs.caCertFile,
        "-Verify",
        "1",
        "-verify_return_error",
        "-rev",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = server.output();
    try {
      // Wait until s_server accepts.
      await bounded(
        (async () => {
          for (;;) {
            try {
              (await Deno.connect({ hostname: "127.0.0.1", port })).close();
              return;
            } catch {
              await new Promise((resolve) => setTimeout(resolve, 50));
            }
          }
        })(),
        10_000,
        "openssl s_server",
      );
      const files = [
        certs.caCertFile,
        certs.clientCertFile,
        certs.clientKeyFile,
      ];
      const grants = [
        `--allow-read=${files.join(",")}`,
        `--allow-net=localhost:${port}`,
      ];
      await using sock = new SockProcess(grants, [
        "connect",
        "--tls",
        "--ca-cert",
        certs.caCertFile,
        "--cert",
        certs.clientCertFile,
        "--key",
        certs.clientKeyFile,
        "localhost",
        String(port),
      ]);
      await sock.type("mutual\n");
      // -rev sends each line back reversed.
      await sock.waitFor(/lautum/);
      sock.kill("SIGTERM");
      assert.equal((await sock.finish()).code, 0);

      const refused = await runSock(grants, [
        "connect",
        "--tls",
        "--ca-cert",
        certs.caCertFile,
        "localhost",
        String(port),
      ], "no certificate\n");
      assert.notEqual(refused.stdout, "etacifitrec on\n");
      assert.equal(refused.code, 1, refused.stderr);
      assert.equal(errorLines(refused.stderr).length, 1, refused.stderr);
    } finally {
      server.kill("SIGKILL");
      await output;
    }
  },
  { ...SLOW, ignore: !opensslFound },
);
