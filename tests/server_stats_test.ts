// server.stats: each count driven by the real event on loopback sockets.
import assert from "node:assert/strict";
import {
  connect,
  connectDatagram,
  serve,
  serveDatagram,
  type ServerStats,
} from "../mod.ts";
import { canRun, rawConnect, test, until, writeAllRaw } from "./_helpers.ts";

const decoder = new TextDecoder();

/** A line echo handler: one line in, the same line out. */
async function echoLine(socket: import("../mod.ts").Socket): Promise<void> {
  const line = await socket.readLine({ timeout: 5000 });
  await socket.write(`${line}\n`);
}

/** The counts that are not named in `expected` must be 0. */
function onlyThese(stats: ServerStats, expected: Partial<ServerStats>): void {
  const zeroes = Object.fromEntries(
    Object.keys(stats).map((key) => [key, 0]),
  );
  assert.deepEqual(stats, { ...zeroes, ...expected });
}

test("server.stats counts connections, bytes and the most at once", async () => {
  await using server = serve(echoLine, { port: 0 });
  onlyThese(server.stats, {});
  const clients = await Promise.all(
    [1, 2, 3].map(() => connect({ port: server.port, timeout: 5000 })),
  );
  await until(() => server.stats.active === 3);
  for (const [i, client] of clients.entries()) {
    await client.write(`line ${i}\n`);
    await client.flush();
    assert.equal(await client.readLine({ timeout: 5000 }), `line ${i}`);
    await client.close();
  }
  await until(() => server.stats.active === 0);
  // "line N\n" is 7 bytes each way, for each of the three.
  onlyThese(server.stats, {
    accepted: 3,
    peakActive: 3,
    bytesReceived: 21,
    bytesSent: 21,
  });
  await server.shutdown();
  assert.equal(server.stats.accepted, 3, "readable after shutdown");
});

test("server.stats counts the pauses at maxConnections", async () => {
  const release = Promise.withResolvers<void>();
  await using server = serve(async (socket) => {
    await release.promise;
    await socket.write("done\n");
  }, { port: 0, maxConnections: 1 });
  await using first = await connect({ port: server.port, timeout: 5000 });
  await until(() => server.stats.active === 1);
  await using second = await connect({ port: server.port, timeout: 5000 });
  await until(() => server.stats.maxConnectionsReached === 1);
  assert.equal(server.stats.accepted, 1, "the second waits in the backlog");
  release.resolve();
  assert.equal(await first.readLine({ timeout: 5000 }), "done");
  assert.equal(await second.readLine({ timeout: 5000 }), "done");
  await until(() => server.stats.active === 0);
  assert.equal(server.stats.accepted, 2);
  assert.equal(server.stats.peakActive, 1);
});

test("server.stats counts connections closed for idleness, not as errors", async () => {
  const reported: unknown[] = [];
  await using server = serve(echoLine, {
    port: 0,
    idleTimeout: 50,
    onError: (error) => reported.push(error),
  });
  await using client = await connect({ port: server.port, timeout: 5000 });
  assert.equal(await client.readLine({ timeout: 5000 }), null);
  await until(() => server.stats.active === 0);
  onlyThese(server.stats, { accepted: 1, peakActive: 1, idleClosed: 1 });
  assert.deepEqual(reported, []);
});

test("server.stats counts handler errors", async () => {
  const reported: string[] = [];
  await using server = serve(async (socket) => {
    const line = await socket.readLine({ timeout: 5000 });
    if (line === "boom") throw new Error("failed on purpose");
    await socket.write("fine\n");
  }, { port: 0, onError: (_, where) => reported.push(where) });
  for (const line of ["boom", "ok", "boom"]) {
    await using client = await connect({ port: server.port, timeout: 5000 });
    await client.write(`${line}\n`);
    await client.flush();
    await client.readAll({ timeout: 5000 });
  }
  await until(() => server.stats.active === 0);
  assert.equal(server.stats.handlerErrors, 2);
  assert.equal(reported.length, 2);
  assert.equal(server.stats.accepted, 3);
});

const pythonFound = await canRun("python3");

test("server.stats counts connections the peer reset", async () => {
  const reported: unknown[] = [];
  await using server = serve(async (socket) => {
    while (await socket.readLine({ timeout: 5000 }) !== null) {
      await socket.write("ok\n");
      await socket.flush();
    }
  }, { port: 0, onError: (error) => reported.push(error) });
  // The line is answered (so the server has read it) before SO_LINGER 0
  // makes close() send a reset instead of a FIN.
  const script = `
import socket, struct
s = socket.create_connection(("127.0.0.1", ${server.port}))
s.sendall(b"one line\\n")
assert s.recv(3) == b"ok\\n"
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
print("reset")`;
  const out = await new Deno.Command("python3", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(
    decoder.decode(out.stdout).trim(),
    "reset",
    decoder.decode(out.stderr),
  );
  await until(() => server.stats.resets === 1);
  await until(() => server.stats.active === 0);
  assert.equal(server.stats.bytesReceived, 9);
  assert.equal(server.stats.bytesSent, 3);
  // The handler's read failed with the reset, and so it is reported too.
  assert.equal(server.stats.handlerErrors, reported.length);
}, { ignore: !pythonFound });

const opensslFound = await canRun("openssl", ["version"]);

test("server.stats counts failed TLS handshakes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const made = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        `${dir}/key.pem`,
        "-out",
        `${dir}/cert.pem`,
        "-subj",
        "/CN=localhost",
        "-days",
        "1",
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(made.success, decoder.decode(made.stderr));
    const reported: string[] = [];
    await using server = serve(echoLine, {
      port: 0,
      tls: {
        cert: await Deno.readTextFile(`${dir}/cert.pem`),
        key: await Deno.readTextFile(`${dir}/key.pem`),
      },
      onError: (_, where) => reported.push(where),
    });
    // Plain text where a ClientHello belongs.
    const conn = await rawConnect(server.port);
    await writeAllRaw(conn, "GET / HTTP/1.0\r\n\r\n");
    await until(() => server.stats.tlsHandshakesFailed === 1);
    conn.close();
    // A client that leaves before its handshake is not a failure.
    (await rawConnect(server.port)).close();
    await until(() => server.stats.accepted === 2);
    await until(() => server.stats.active === 0);
    assert.equal(server.stats.tlsHandshakesFailed, 1);
    assert.equal(server.stats.handlerErrors, 0);
    assert.equal(reported.length, 1);
    assert.equal(reported[0], `TLS on 127.0.0.1:${server.port}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}, { ignore: !opensslFound, deadline: 15_000 });

test("server.stats counts refused PROXY headers, and the client then served", async () => {
  const reported: unknown[] = [];
  await using server = serve(echoLine, {
    port: 0,
    proxyProtocol: true,
    onError: (error) => reported.push(error),
  });
  const bad = await rawConnect(server.port);
  await writeAllRaw(bad, "GET / HTTP/1.0\r\n\r\n");
  await until(() => server.stats.proxyHeadersRefused === 1);
  bad.close();
  const good = await rawConnect(server.port);
  const header = "PROXY TCP4 192.0.2.7 127.0.0.1 4000 80\r\n";
  await writeAllRaw(good, `${header}hello\n`);
  const reply = new Uint8Array(6);
  assert.equal(await good.read(reply), 6);
  assert.equal(decoder.decode(reply), "hello\n");
  good.close();
  await until(() => server.stats.active === 0);
  onlyThese(server.stats, {
    accepted: 1,
    peakActive: 1,
    proxyHeadersRefused: 1,
    // The header is read from the same stream, and counted with it.
    bytesReceived: header.length + 6,
    bytesSent: 6,
  });
  assert.equal(reported.length, 1);
});

test("serveDatagram() stats count received, replied, and each kind of drop", async () => {
  const release = Promise.withResolvers<void>();
  await using server = serveDatagram(async ({ data }) => {
    if (data[0] === 0) await release.promise;
    return data;
  }, {
    port: 0,
    maxDatagramSize: 4,
    maxInFlight: 1,
    dropWhenBusy: true,
    allowedSenders: ["127.0.0.1"],
  });
  using client = connectDatagram({ remotePort: server.port });
  await client.send(new Uint8Array([1, 2]));
  assert.deepEqual(
    (await client.receive({ timeout: 2000 })).data,
    new Uint8Array([1, 2]),
  );
  await client.send(new Uint8Array([9, 9, 9, 9, 9]));
  await until(() => server.stats.datagramsTooBig === 1);
  using stranger = connectDatagram({
    remoteHostname: "127.0.0.1",
    remotePort: server.port,
    hostname: "127.0.0.2",
  });
  await stranger.send(new Uint8Array([7]));
  await until(() => server.stats.datagramsFromStrangers === 1);
  await client.send(new Uint8Array([0]));
  await until(() => server.stats.active === 1);
  await client.send(new Uint8Array([3]));
  await until(() => server.stats.datagramsOverLimit === 1);
  release.resolve();
  assert.deepEqual(
    (await client.receive({ timeout: 2000 })).data,
    new Uint8Array([0]),
  );
  await until(() => server.stats.active === 0);
  onlyThese(server.stats, {
    peakActive: 1,
    datagramsReceived: 5,
    datagramsReplied: 2,
    datagramsTooBig: 1,
    datagramsFromStrangers: 1,
    datagramsOverLimit: 1,
    bytesReceived: 2 + 5 + 1 + 1 + 1,
    bytesSent: 3,
  });
});

test("serveDatagram() checks its new options", () => {
  for (const maxDatagramSize of [0, 1.5]) {
    assert.throws(
      () => serveDatagram(() => {}, { port: 0, maxDatagramSize }),
      {
        name: "RangeError",
        message:
          `Cannot use maxDatagramSize ${maxDatagramSize}: it must be a whole number >= 1`,
      },
    );
  }
  assert.throws(
    () => serveDatagram(() => {}, { port: 0, allowedSenders: ["10.0.0.0/99"] }),
    TypeError,
  );
  assert.throws(
    () =>
      serveDatagram(() => {}, {
        port: 0,
        allowedSenders: "10.0.0.0/8" as unknown as string[],
      }),
    {
      name: "TypeError",
      message:
        'Cannot use allowedSenders 10.0.0.0/8: it must be an array of addresses and ranges, such as ["10.0.0.0/8"]',
    },
  );
});

test("serveDatagram() stats count a plain handler's replies in bytes, a datagram of just maxDatagramSize, and errors thrown or rejected", async () => {
  const reported: string[] = [];
  await using server = serveDatagram(({ data }) => {
    if (data[0] === 1) throw new Error("thrown");
    if (data[0] === 2) return Promise.reject(new Error("rejected"));
    // Seven bytes in UTF-8 for five characters.
    if (data[0] === 3) return "h\u00e9ll\u00f6";
    if (data[0] === 4) return Promise.resolve("h\u00e9ll\u00f6");
    return data;
  }, {
    port: 0,
    maxDatagramSize: 3,
    onError: (error, where) => reported.push(`${where}: ${error.message}`),
  });
  using client = connectDatagram({ remotePort: server.port });
  const ask = async (data: number[]) => {
    await client.send(new Uint8Array(data));
    return (await client.receive({ timeout: 2000 })).data;
  };
  assert.deepEqual(await ask([5, 6, 7]), new Uint8Array([5, 6, 7]));
  const text = new TextEncoder().encode("h\u00e9ll\u00f6");
  assert.deepEqual(await ask([3]), text);
  assert.deepEqual(await ask([4]), text);
  await client.send(new Uint8Array([1]));
  await client.send(new Uint8Array([2]));
  await until(() => server.stats.handlerErrors === 2);
  await until(() => server.stats.active === 0);
  onlyThese(server.stats, {
    peakActive: 1,
    datagramsReceived: 5,
    datagramsReplied: 3,
    handlerErrors: 2,
    bytesReceived: 3 + 1 + 1 + 1 + 1,
    bytesSent: 3 + 7 + 7,
  });
  const peer = `127.0.0.1:${client.addr.port}`;
  assert.deepEqual(reported, [
    `handler for ${peer}: thrown`,
    `handler for ${peer}: rejected`,
  ]);
});
