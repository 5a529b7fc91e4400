// listen() and serve() with the PROXY protocol, over real loopback sockets:
// the header read from the socket's own buffer, addresses from it, trust,
// and every way a connection is refused.
import assert from "node:assert/strict";
import {
  connect,
  ConnectionResetError,
  listen,
  ProxyProtocolError,
  serve,
  type ServeOptions,
  type Socket,
  TimeoutError,
} from "../mod.ts";
import { crc32c } from "../lib/_proxy_protocol.ts";
import {
  delay,
  pattern,
  rawConnect,
  test,
  until,
  writeAllRaw,
} from "./_helpers.ts";

const encoder = new TextEncoder();
const SIGNATURE = [
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
];

/** A v2 PROXY header for a TCP/IPv4 client, with optional TLVs and CRC. */
function v2Header(
  source: [number[], number],
  destination: [number[], number],
  tlvs: { type: number; value: Uint8Array }[] = [],
  crc = false,
): Uint8Array {
  const all = crc ? [...tlvs, { type: 3, value: new Uint8Array(4) }] : tlvs;
  const tlvLength = all.reduce((n, t) => n + 3 + t.value.length, 0);
  const out = new Uint8Array(16 + 12 + tlvLength);
  const view = new DataView(out.buffer);
  out.set(SIGNATURE);
  out[12] = 0x21;
  out[13] = 0x11;
  view.setUint16(14, 12 + tlvLength);
  out.set(source[0], 16);
  out.set(destination[0], 20);
  view.setUint16(24, source[1]);
  view.setUint16(26, destination[1]);
  let at = 28;
  for (const { type, value } of all) {
    out[at] = type;
    view.setUint16(at + 1, value.length);
    out.set(value, at + 3);
    at += 3 + value.length;
  }
  if (crc) view.setUint32(out.length - 4, crc32c(out));
  return out;
}

const LOCAL = new Uint8Array([...SIGNATURE, 0x20, 0x00, 0x00, 0x00]);

interface Seen {
  remote: Deno.NetAddr;
  local: Deno.NetAddr;
  proxy: Deno.NetAddr | undefined;
  command: string | undefined;
  tlvTypes: number[];
  line: string | null;
}

/** A server that records what each handler saw and echoes one line. */
function recordingServer(options: ServeOptions = {}) {
  const seen: Seen[] = [];
  const reports: { error: unknown; where: string }[] = [];
  const server = serve(async (socket: Socket<Deno.NetAddr>) => {
    const line = await socket.readLine({ timeout: 2000 });
    seen.push({
      remote: socket.remoteAddr,
      local: socket.localAddr,
      proxy: socket.proxyAddr,
      command: socket.proxyHeader?.command,
      tlvTypes: socket.proxyHeader?.tlvs.map((t) => t.type) ?? [],
      line,
    });
    await socket.write(`${line}\n`);
  }, {
    port: 0,
    proxyProtocol: true,
    onError: (error, where) => reports.push({ error, where }),
    ...options,
  });
  return { server, seen, reports };
}

test("v1 header alone, the client's line in a later packet", async () => {
  const { server, seen, reports } = recordingServer({ proxyProtocol: "v1" });
  await using _ = server;
  const conn = await rawConnect(server.port);
  try {
    await writeAllRaw(conn, "PROXY TCP4 127.0.0.2 127.0.0.1 40000 9231\r\n");
    await delay(50);
    await writeAllRaw(conn, "hello\n");
    const reply = new Uint8Array(16);
    const n = await conn.read(reply);
    assert.equal(new TextDecoder().decode(reply.subarray(0, n!)), "hello\n");
  } finally {
    conn.close();
  }
  await until(() => seen.length >= 1);
  const mine = seen[0]!;
  assert.equal(mine.line, "hello");
  assert.deepEqual(mine.remote, {
    transport: "tcp",
    hostname: "127.0.0.2",
    port: 40000,
  });
  assert.deepEqual(mine.local, {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 9231,
  });
  assert.equal(mine.proxy?.hostname, "127.0.0.1");
  assert.notEqual(mine.proxy?.port, 40000);
  assert.equal(mine.command, "proxy");
  assert.equal(reports.length, 0);
});

test("v2 header and the client's bytes in one write: nothing lost or reordered", async () => {
  const { server, seen } = recordingServer({ proxyProtocol: "v2" });
  await using _ = server;
  await using client = await connect({ port: server.port });
  const header = v2Header([[10, 1, 2, 3], 5555], [[192, 0, 2, 10], 443], [
    { type: 0x05, value: encoder.encode("req-42") },
  ], true);
  await client.write(header);
  await client.write("first line\n");
  await client.flush();
  assert.equal(await client.readLine({ timeout: 3000 }), "first line");
  await until(() => seen.length === 1);
  assert.deepEqual(seen[0]!.remote, {
    transport: "tcp",
    hostname: "10.1.2.3",
    port: 5555,
  });
  assert.deepEqual(seen[0]!.local, {
    transport: "tcp",
    hostname: "192.0.2.10",
    port: 443,
  });
  assert.deepEqual(seen[0]!.proxy, client.localAddr);
  assert.deepEqual(seen[0]!.tlvTypes, [0x05, 0x03]);
});

test("a megabyte after the header, in odd pieces, arrives whole and in order", async () => {
  const data = pattern(1 << 20, 7);
  let got: Uint8Array | undefined;
  await using server = serve(async (socket) => {
    got = await socket.readExactly(data.length, { timeout: 4000 });
    await socket.write("done\n");
  }, { port: 0, proxyProtocol: true });
  const conn = await rawConnect(server.port);
  try {
    const header = encoder.encode("PROXY TCP4 127.0.0.9 127.0.0.1 1 2\r\n");
    const all = new Uint8Array(header.length + data.length);
    all.set(header);
    all.set(data, header.length);
    // Split right inside the header, then in pieces of assorted sizes.
    const cuts = [5, 20, header.length + 1, header.length + 3000];
    let at = 0;
    for (const cut of [...cuts, all.length]) {
      await writeAllRaw(conn, all.subarray(at, cut));
      at = cut;
      await delay(5);
    }
    const reply = new Uint8Array(8);
    const n = await conn.read(reply);
    assert.equal(new TextDecoder().decode(reply.subarray(0, n!)), "done\n");
  } finally {
    conn.close();
  }
  assert.ok(got);
  assert.equal(got.length, data.length);
  assert.ok(got.every((b, i) => b === data[i]), "the bytes changed");
});

test("v2 LOCAL (a health check) keeps the socket's own addresses", async () => {
  const { server, seen, reports } = recordingServer();
  await using _ = server;
  await using client = await connect({ port: server.port });
  await client.write(LOCAL);
  await client.write("check\n");
  await client.flush();
  assert.equal(await client.readLine({ timeout: 3000 }), "check");
  await until(() => seen.length === 1);
  assert.equal(seen[0]!.command, "local");
  assert.deepEqual(seen[0]!.remote, client.localAddr);
  assert.deepEqual(seen[0]!.proxy, client.localAddr);
  assert.deepEqual(seen[0]!.local, client.remoteAddr);
  assert.equal(reports.length, 0);
});

test("drainDelay: after shutdown(), serve() goes on for the delay, closing health checks (LOCAL) unread", async () => {
  const { server, seen, reports } = recordingServer({ drainDelay: 600 });
  {
    // Before the shutdown, a health check is answered.
    await using check = await connect({ port: server.port, timeout: 2000 });
    await check.write(LOCAL);
    await check.write("check\n");
    await check.flush();
    assert.equal(await check.readLine({ timeout: 2000 }), "check");
  }
  const stopped = server.shutdown();
  await using client = await connect({ port: server.port, timeout: 2000 });
  await client.write("PROXY TCP4 192.0.2.7 127.0.0.1 5000 80\r\nhello\n");
  await client.flush();
  assert.equal(await client.readLine({ timeout: 2000 }), "hello");
  await using check = await connect({ port: server.port, timeout: 2000 });
  await check.write(LOCAL);
  await check.write("check\n");
  await check.flush();
  // Closed unread: an end of stream, or a reset when the line was still in
  // the kernel's buffer.
  const answer = await check.readLine({ timeout: 2000 }).catch((error) => {
    if (error instanceof ConnectionResetError) return null;
    throw error;
  });
  assert.equal(answer, null);
  await stopped;
  assert.deepEqual(seen.map((s) => s.line), ["check", "hello"]);
  assert.deepEqual(reports, []);
});

test("v1 UNKNOWN keeps the socket's own addresses", async () => {
  const { server, seen } = recordingServer();
  await using _ = server;
  await using client = await connect({ port: server.port });
  await client.write("PROXY UNKNOWN\r\nx\n");
  await client.flush();
  assert.equal(await client.readLine({ timeout: 3000 }), "x");
  await until(() => seen.length === 1);
  assert.deepEqual(seen[0]!.remote, client.localAddr);
  assert.equal(seen[0]!.command, "proxy");
});

/** Connects, sends `bytes`, and waits for the server to close on us. */
async function refusedAfter(port: number, bytes: Uint8Array | string) {
  await using client = await connect({ port });
  if (bytes.length > 0) {
    await client.write(bytes);
    await client.flush();
  }
  const end = await client.readLine({ timeout: 3000 }).catch((e) => e);
  assert.ok(end === null || end instanceof Error, `got ${end}`);
}

/** Waits for exactly one report, and a while longer to see no second. */
async function oneReport(reports: { error: unknown; where: string }[]) {
  await until(() => reports.length >= 1);
  await delay(50);
  assert.equal(reports.length, 1, "reported once");
  const { error, where } = reports[0]!;
  assert.match(where, /^PROXY protocol on 127\.0\.0\.1:\d+$/);
  assert.ok(error instanceof ProxyProtocolError, String(error));
  return error.message;
}

test("a client that skips the balancer is refused and reported once", async () => {
  const { server, seen, reports } = recordingServer();
  await using _ = server;
  await refusedAfter(server.port, "1 2 \n");
  assert.match(
    await oneReport(reports),
    /^Cannot accept the connection from 127\.0\.0\.1:\d+: the connection does not begin with a PROXY header \(v1 or v2\): its first bytes are "1 2 \\n"; it was closed$/,
  );
  assert.equal(seen.length, 0, "the handler never ran");
});

test("a malformed header is refused and reported once", async () => {
  const { server, seen, reports } = recordingServer();
  await using _ = server;
  await refusedAfter(server.port, "PROXY TCP4 1.2.3.4 ::1 1 2\r\nhi\n");
  assert.match(
    await oneReport(reports),
    /destination address "::1" is not an IPv4/,
  );
  assert.equal(seen.length, 0);
});

test("a v2 header on a v1-only server is refused, naming the fix", async () => {
  const { server, reports } = recordingServer({ proxyProtocol: "v1" });
  await using _ = server;
  await refusedAfter(
    server.port,
    v2Header([[1, 2, 3, 4], 1], [[5, 6, 7, 8], 2]),
  );
  assert.match(
    await oneReport(reports),
    /it is a v2 header: set proxyProtocol to "v2" or true/,
  );
});

test("a header that does not come within proxyTimeout is refused and reported once", async () => {
  const { server, seen, reports } = recordingServer({ proxyTimeout: 150 });
  await using _ = server;
  const started = performance.now();
  await refusedAfter(server.port, "PROXY TCP4 1.2.3.4");
  const took = performance.now() - started;
  assert.ok(took >= 140 && took < 2500, `closed after ${took} ms`);
  assert.match(
    await oneReport(reports),
    /its PROXY header did not arrive within 150 ms \(proxyTimeout\); it was closed$/,
  );
  assert.ok((reports[0]!.error as Error).cause instanceof TimeoutError);
  assert.equal(seen.length, 0);
});

test("a silent connection is refused after proxyTimeout too", async () => {
  const { server, reports } = recordingServer({ proxyTimeout: 100 });
  await using _ = server;
  await refusedAfter(server.port, "");
  assert.match(await oneReport(reports), /did not arrive within 100 ms/);
});

test("a connection that ends before its header is refused and reported", async () => {
  const { server, seen, reports } = recordingServer();
  await using _ = server;
  const conn = await rawConnect(server.port);
  await writeAllRaw(conn, "PROXY TCP6 ::1");
  await conn.closeWrite();
  const end = await conn.read(new Uint8Array(1)).catch(() => null);
  conn.close();
  assert.equal(end, null);
  assert.match(
    await oneReport(reports),
    /ended inside its PROXY header, after 14 bytes/,
  );
  assert.equal(seen.length, 0);
});

test("a connection from outside trustedProxies is closed unread and reported once", async () => {
  const { server, seen, reports } = recordingServer({
    trustedProxies: ["10.0.0.0/8", "fd00::/8"],
  });
  await using _ = server;
  await refusedAfter(server.port, "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nhi\n");
  const message = await oneReport(reports);
  assert.match(
    message,
    /^Cannot accept the connection from 127\.0\.0\.1:\d+: it is not one of the trusted proxies \(10\.0\.0\.0\/8, fd00::\/8\); it was closed\. Add the load balancer's address to trustedProxies$/,
  );
  assert.equal(seen.length, 0);
  assert.equal(
    (reports[0]!.error as ProxyProtocolError).address?.hostname,
    "127.0.0.1",
  );
});

test("trustedProxies takes single addresses, and ::1 is trusted by default", async () => {
  {
    const { server, seen } = recordingServer({ trustedProxies: ["127.0.0.1"] });
    await using _ = server;
    await using client = await connect({ port: server.port });
    await client.write("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\nok\n");
    await client.flush();
    assert.equal(await client.readLine({ timeout: 3000 }), "ok");
    await until(() => seen.length === 1);
  }
  const { server, seen } = recordingServer({ hostname: "::1" });
  await using _ = server;
  await using client = await connect({ hostname: "::1", port: server.port });
  await client.write("PROXY TCP6 2001:db8::7 ::1 4000 80\r\nsix\n");
  await client.flush();
  assert.equal(await client.readLine({ timeout: 3000 }), "six");
  await until(() => seen.length === 1);
  assert.equal(seen[0]!.remote.hostname, "2001:db8::7");
  assert.equal(seen[0]!.proxy?.hostname, "::1");
});

test("one silent connection holds up no other: headers are read side by side", async () => {
  const { server, seen } = recordingServer({ proxyTimeout: 3000 });
  await using _ = server;
  const silent = await rawConnect(server.port);
  try {
    await delay(20);
    const started = performance.now();
    await using client = await connect({ port: server.port });
    await client.write("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\nquick\n");
    await client.flush();
    assert.equal(await client.readLine({ timeout: 2000 }), "quick");
    assert.ok(performance.now() - started < 2000);
    assert.equal(seen.length, 1);
  } finally {
    silent.close();
  }
});

test("listen(): accept() times out, polls and waits while headers are missing", async () => {
  const reports: unknown[] = [];
  using listener = listen({
    port: 0,
    proxyProtocol: true,
    onError: (error) => reports.push(error),
  });
  assert.equal(await listener.accept({ wait: false }), null);
  await assert.rejects(listener.accept({ timeout: 50 }), TimeoutError);
  const conn = await rawConnect(listener.port);
  try {
    assert.equal(await listener.waitForInput({ timeout: 100 }), false);
    assert.equal(listener.hasInput, false);
    await writeAllRaw(conn, "PROXY TCP4 198.51.100.1 127.0.0.1 7 9\r\n");
    assert.equal(await listener.waitForInput({ timeout: 2000 }), true);
    assert.equal(listener.hasInput, true);
    await using socket = await listener.accept({ wait: false });
    assert.ok(socket !== null);
    assert.equal(socket.remoteAddr.hostname, "198.51.100.1");
    assert.equal(socket.buffered, 0);
  } finally {
    conn.close();
  }
  assert.equal(reports.length, 0);
});

test("listen(): for await yields proxied sockets; close() drops those still reading", async () => {
  const listener = listen({ port: 0, proxyProtocol: "v2", onError: () => {} });
  const halfway = await rawConnect(listener.port);
  const good = await rawConnect(listener.port);
  try {
    await writeAllRaw(halfway, new Uint8Array(SIGNATURE));
    await writeAllRaw(
      good,
      v2Header([[203, 0, 113, 5], 1234], [[127, 0, 0, 1], 80]),
    );
    await writeAllRaw(good, "payload");
    for await (const socket of listener) {
      await using _socket = socket;
      assert.equal(socket.remoteAddr.hostname, "203.0.113.5");
      assert.equal(
        new TextDecoder().decode(
          await socket.readExactly(7, { timeout: 2000 }),
        ),
        "payload",
      );
      listener.close();
    }
    // The half-sent header's connection was closed with the listener.
    const end = await halfway.read(new Uint8Array(1)).catch(() => null);
    assert.equal(end, null);
  } finally {
    halfway.close();
    good.close();
  }
});

test("serve() behind PROXY: many clients at once, each seen as itself", async () => {
  await using server = serve(async (socket) => {
    const line = await socket.readLine({ timeout: 3000 });
    await socket.write(
      `${socket.remoteAddr.hostname}:${socket.remoteAddr.port} ${line}\n`,
    );
  }, { port: 0, proxyProtocol: true });
  const replies = await Promise.all(
    Array.from({ length: 40 }, async (_, i) => {
      await using client = await connect({ port: server.port });
      const header = i % 2
        ? `PROXY TCP4 10.0.0.${i} 10.0.1.1 ${1000 + i} 80\r\n`
        : v2Header([[10, 0, 0, i], 1000 + i], [[10, 0, 1, 1], 80]);
      await client.write(header);
      await client.write(`n${i}\n`);
      await client.flush();
      return await client.readLine({ timeout: 4000 });
    }),
  );
  replies.forEach((reply, i) =>
    assert.equal(reply, `10.0.0.${i}:${1000 + i} n${i}`)
  );
});

test("bad PROXY options are refused before anything is opened", () => {
  assert.throws(
    // @ts-expect-error: not a version
    () => listen({ port: 0, proxyProtocol: "v3" }),
    /Cannot use proxyProtocol "v3": it must be "v1", "v2", true \(either\) or false/,
  );
  assert.throws(
    () =>
      listen({ port: 0, proxyProtocol: true, trustedProxies: ["10.0.0.0/33"] }),
    /Cannot use the range "10.0.0.0\/33"/,
  );
  assert.throws(
    () =>
      serve(() => {}, {
        port: 0,
        proxyProtocol: true,
        trustedProxies: "127.0.0.1" as unknown as string[],
      }),
    /must be an array of addresses and ranges/,
  );
  assert.throws(
    () => listen({ port: 0, proxyProtocol: true, proxyTimeout: 0 }),
    RangeError,
  );
});

test("without proxyProtocol a PROXY header is just data, and no address changes", async () => {
  await using server = serve(async (socket) => {
    assert.equal(socket.proxyAddr, undefined);
    assert.equal(socket.proxyHeader, undefined);
    await socket.write(
      `${socket.remoteAddr.hostname} ${await socket.readLine()}\n`,
    );
  }, { port: 0 });
  await using client = await connect({ port: server.port });
  await client.write("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
  await client.flush();
  assert.equal(
    await client.readLine({ timeout: 3000 }),
    "127.0.0.1 PROXY TCP4 1.2.3.4 5.6.7.8 1 2",
  );
});
