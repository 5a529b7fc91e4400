// `sock forward` carrying the sum protocol: plain, TLS terminated at the
// forwarder, TLS originated by it, over Unix sockets, many connections at
// once, with the real client's address reaching the sum server through
// --send-proxy; nc as a client; its grants and mistakes in one line.
import assert from "node:assert/strict";
import { connect, serve, type Server, type Socket } from "../mod.ts";
import { handleSum } from "../examples/sum_server.ts";
import { freePort, startExample } from "../tools/examples.ts";
import { haveOpenssl, makeCerts } from "./_certs.ts";
import { bounded, canRun, test } from "./_helpers.ts";
import { errorLines, runSock, SockProcess } from "./_sock.ts";

const SLOW = { deadline: 40_000 };
const opensslFound = await haveOpenssl();
const certs = opensslFound ? await makeCerts() : undefined;
const TLS = { ...SLOW, ignore: !opensslFound };
globalThis.addEventListener("unload", () => {
  if (certs) Deno.removeSync(certs.dir, { recursive: true });
});

/** A sum server that records the client each connection names. */
function sumServer(
  options: Record<string, unknown> = {},
): { server: Server; clients: string[] } {
  const clients: string[] = [];
  const server = serve(async (socket, context) => {
    const addr = socket.remoteAddr;
    clients.push(`${addr.hostname}:${addr.port}`);
    await handleSum(socket, context);
  }, { port: 0, ...options });
  return { server, clients };
}

/** Sends a sum request, half-closes, and reads the whole answer. */
async function sum(socket: Socket, request: string): Promise<string> {
  await socket.write(request);
  await socket.closeWrite();
  return new TextDecoder().decode(await socket.readAll({ timeout: 5000 }));
}

/** Starts `sock forward ARGS` and waits for its note; the port it listens on. */
async function forward(
  flags: string[],
  args: string[],
): Promise<{ sock: SockProcess; port: number }> {
  const sock = new SockProcess(flags, ["forward", ...args]);
  const match = await sock.waitFor(
    /^forwarding (?:.*:(\d+)|\/\S+) to /m,
    "stderr",
  );
  return { sock, port: Number(match[1] ?? 0) };
}

test(
  "sock forward: the sum protocol both ways, the client's address through --send-proxy, many at once",
  async () => {
    const { server, clients } = sumServer({ proxyProtocol: true });
    await using _server = server;
    const { sock, port } = await forward(
      [`--allow-net=127.0.0.1:0,127.0.0.1:${server.port}`],
      ["--send-proxy", "0", "127.0.0.1", String(server.port)],
    );
    await using _sock = sock;
    await using client = await connect({ port, timeout: 5000 });
    assert.equal(await sum(client, "1 2 "), "3");
    assert.deepEqual(clients, [`127.0.0.1:${client.localAddr.port}`]);

    const answers = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        await using c = await connect({ port, timeout: 5000 });
        return await sum(c, `${i} 1000 `);
      }),
    );
    assert.deepEqual(
      answers,
      Array.from({ length: 20 }, (_, i) => String(i + 1000)),
    );
    assert.equal(clients.length, 21);
    sock.kill("SIGTERM");
    const result = await sock.finish();
    assert.deepEqual(
      [result.code, errorLines(result.stderr).filter((l) => /^error/.test(l))],
      [0, []],
    );
  },
  SLOW,
);

test(
  "sock forward --proxy-protocol passes on the client a balancer names",
  async () => {
    const { server, clients } = sumServer({ proxyProtocol: true });
    await using _server = server;
    const { sock, port } = await forward(
      [`--allow-net=127.0.0.1:0,127.0.0.1:${server.port}`],
      [
        "--proxy-protocol",
        "--send-proxy",
        "0",
        "127.0.0.1",
        String(server.port),
      ],
    );
    await using _sock = sock;
    await using balancer = await connect({ port, timeout: 5000 });
    await balancer.write(`PROXY TCP4 192.0.2.7 127.0.0.1 4444 ${port}\r\n`);
    assert.equal(await sum(balancer, "20 22 "), "42");
    assert.deepEqual(clients, ["192.0.2.7:4444"]);
  },
  SLOW,
);

test(
  "sock forward --tls-cert --tls-key terminates TLS in front of a plain sum server",
  async () => {
    const { server, clients } = sumServer({ proxyProtocol: true });
    await using _server = server;
    const { sock, port } = await forward(
      [
        `--allow-read=${certs!.serverCertFile},${certs!.serverKeyFile}`,
        `--allow-net=127.0.0.1:0,127.0.0.1:${server.port}`,
      ],
      [
        "--tls-cert",
        certs!.serverCertFile,
        "--tls-key",
        certs!.serverKeyFile,
        "--send-proxy",
        "0",
        "127.0.0.1",
        String(server.port),
      ],
    );
    await using _sock = sock;
    await using client = await connect({
      hostname: "localhost",
      port,
      timeout: 5000,
      tls: { caCerts: [certs!.caCert] },
    });
    assert.equal(await sum(client, "1 3 "), "4");
    assert.deepEqual(clients, [`127.0.0.1:${client.localAddr.port}`]);

    // openssl s_client as the client: its end of input ends its stream.
    const openssl = new Deno.Command("openssl", {
      args: [
        "s_client",
        "-quiet",
        "-CAfile",
        certs!.caCertFile,
        "-verify_hostname",
        "localhost",
        "-verify_return_error",
        "-connect",
        `127.0.0.1:${port}`,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const writer = openssl.stdin.getWriter();
    await writer.write(new TextEncoder().encode("20 22 "));
    await writer.close();
    const out = await bounded(openssl.output(), 10_000, "openssl s_client");
    assert.equal(new TextDecoder().decode(out.stdout), "42");
    assert.equal(clients.length, 2);
  },
  TLS,
);

test(
  "sock forward --tls --ca-cert originates TLS to a TLS sum server",
  async () => {
    const { server } = sumServer({
      tls: { cert: certs!.serverCert, key: certs!.serverKey },
    });
    await using _server = server;
    const { sock, port } = await forward(
      [
        `--allow-read=${certs!.caCertFile}`,
        `--allow-net=127.0.0.1:0,localhost:${server.port}`,
      ],
      [
        "--tls",
        "--ca-cert",
        certs!.caCertFile,
        "0",
        "localhost",
        String(server.port),
      ],
    );
    await using _sock = sock;
    await using client = await connect({ port, timeout: 5000 });
    assert.equal(await sum(client, "2 5 "), "7");
  },
  TLS,
);

test(
  "sock forward --unix P to TCP, and PORT --to-unix P",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "sock-forward-" });
    try {
      const front = `${dir}/front.sock`;
      const back = `${dir}/back.sock`;
      const files = (path: string) => [
        `--allow-read=${path}`,
        `--allow-write=${path}`,
      ];
      const tcpSum = sumServer();
      await using _tcp = tcpSum.server;
      const one = await forward(
        [
          ...files(front),
          `--allow-net=unix:${front},127.0.0.1:${tcpSum.server.port}`,
        ],
        ["--unix", front, "127.0.0.1", String(tcpSum.server.port)],
      );
      await using _one = one.sock;
      const viaUnix = await runSock(
        [...files(front), `--allow-net=unix:${front}`],
        ["connect", "--unix", front],
        "1 1 ",
      );
      assert.deepEqual([viaUnix.code, viaUnix.stdout], [0, "2"]);

      await using unixSum = startExample("sum_server", ["--unix", back], [
        ...files(back),
        `--allow-net=unix:${back}`,
      ]);
      await unixSum.waitForLine(new RegExp(`^listening on ${back}$`));
      const two = await forward(
        [...files(back), `--allow-net=127.0.0.1:0,unix:${back}`],
        ["0", "--to-unix", back],
      );
      await using _two = two.sock;
      await using toUnix = await connect({ port: two.port, timeout: 5000 });
      assert.equal(await sum(toUnix, "3 3 "), "6");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
  SLOW,
);

const haveNc = await canRun("nc", ["-h"]);

test(
  "nc through sock forward: its half-close reaches the sum server, the answer comes back",
  async () => {
    const { server } = sumServer();
    await using _server = server;
    const { sock, port } = await forward(
      [`--allow-net=127.0.0.1:0,127.0.0.1:${server.port}`],
      ["0", "127.0.0.1", String(server.port)],
    );
    await using _sock = sock;
    const nc = new Deno.Command("nc", {
      args: ["-N", "127.0.0.1", String(port)],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = nc.stdin.getWriter();
    await writer.write(new TextEncoder().encode("40 2 "));
    await writer.close();
    const out = await bounded(nc.output(), 10_000, "nc");
    assert.equal(new TextDecoder().decode(out.stdout), "42");
  },
  { ...SLOW, ignore: !haveNc },
);

const haveHaproxy = await canRun("haproxy", ["-v"]);

test(
  "HAProxy (send-proxy-v2) in front of sock forward --proxy-protocol --send-proxy: the sum server sees the real client",
  async () => {
    const { server, clients } = sumServer({ proxyProtocol: true });
    await using _server = server;
    const { sock, port } = await forward(
      [`--allow-net=127.0.0.1:0,127.0.0.1:${server.port}`],
      [
        "--proxy-protocol",
        "--send-proxy",
        "0",
        "127.0.0.1",
        String(server.port),
      ],
    );
    await using _sock = sock;
    const dir = await Deno.makeTempDir({ prefix: "sock-forward-haproxy-" });
    const front = freePort("tcp");
    await Deno.writeTextFile(
      `${dir}/haproxy.cfg`,
      [
        "defaults",
        "  mode tcp",
        "  timeout connect 5s",
        "  timeout client 30s",
        "  timeout server 30s",
        "frontend front",
        `  bind 127.0.0.1:${front}`,
        "  default_backend forwarder",
        "backend forwarder",
        `  server sock 127.0.0.1:${port} send-proxy-v2`,
        "",
      ].join("\n"),
    );
    const haproxy = new Deno.Command("haproxy", {
      args: ["-db", "-f", `${dir}/haproxy.cfg`],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = haproxy.output();
    try {
      // Listening: seen by the system, not by a connection of ours.
      await bounded(
        (async () => {
          for (;;) {
            const { stdout } = await new Deno.Command("ss", {
              args: ["-Hltn", `sport = :${front}`],
              stdout: "piped",
              stderr: "null",
            }).output();
            if (stdout.length > 0) return;
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        })(),
        10_000,
        "haproxy's listener",
      );
      await using client = await connect({ port: front, timeout: 5000 });
      assert.equal(await sum(client, "19 23 "), "42");
      assert.deepEqual(clients, [`127.0.0.1:${client.localAddr.port}`]);
    } finally {
      haproxy.kill("SIGTERM");
      await output;
      await Deno.remove(dir, { recursive: true });
    }
  },
  { ...SLOW, ignore: !haveHaproxy },
);

test("sock forward's grant error names both ends, exactly", async () => {
  const result = await runSock(
    ["--allow-net=127.0.0.1:0"],
    ["forward", "0", "127.0.0.1", "9231"],
  );
  assert.equal(result.code, 1);
  const [line, ...more] = errorLines(result.stderr);
  assert.deepEqual(more, []);
  assert.match(
    line!,
    /^error: sock may not forward 127\.0\.0\.1:0 to 127\.0\.0\.1:9231: add --allow-net=127\.0\.0\.1:9231 \(deno run --allow-net=127\.0\.0\.1:0,127\.0\.0\.1:9231 /,
  );
}, SLOW);

test("sock forward's mistakes are one line, exit 2", async () => {
  const cases: [string[], string][] = [
    [[], "forward takes PORT HOST TARGET_PORT"],
    [["9000"], 'forward takes PORT HOST TARGET_PORT, got "9000"'],
    [
      ["9000", "h", "0"],
      'TARGET_PORT must be a whole number from 1 to 65535, not "0"',
    ],
    [
      ["--tls-cert", "c", "9000", "h", "1"],
      "--tls-cert and --tls-key go together",
    ],
    [
      ["--tls", "9000", "--to-unix", "/tmp/x.sock"],
      "--to-unix cannot go with --tls",
    ],
    [
      ["--proxy-protocol", "--unix", "/tmp/x.sock", "h", "1"],
      "--proxy-protocol cannot go with --unix",
    ],
    [
      ["--trusted-proxies", "10.0.0.0/8", "9000", "h", "1"],
      "--trusted-proxies needs --proxy-protocol",
    ],
    [
      ["9000", "h", "1", "--to-unix", "/tmp/x.sock"],
      "--to-unix PATH takes the place of HOST TARGET_PORT",
    ],
  ];
  for (const [args, message] of cases) {
    const result = await runSock([], ["forward", ...args]);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    const lines = errorLines(result.stderr);
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.ok(lines[0]!.startsWith(`error: ${message}`), lines[0]);
  }
}, { deadline: 60_000 });
