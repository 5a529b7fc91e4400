import assert from "node:assert/strict";
import {
  connectDatagram,
  ConnectionClosedError,
  LimitExceededError,
  listenDatagram,
  MAX_DATAGRAM_SIZE,
  TimeoutError,
} from "../mod.ts";
import { delay, pattern } from "./_helpers.ts";

const bytes = (...values: number[]) => new Uint8Array(values);

Deno.test("receive() returns the payload and the sender's address", async () => {
  using server = listenDatagram({ port: 0 });
  using client = listenDatagram({ port: 0 });
  await client.send(bytes(1, 2, 3), server.addr);
  const { data, remoteAddr } = await server.receive({ timeout: 2000 });
  assert.deepEqual(data, bytes(1, 2, 3));
  assert.deepEqual({ ...remoteAddr }, {
    transport: "udp",
    hostname: "127.0.0.1",
    port: client.port,
  });
  await server.send(data.reverse(), remoteAddr);
  assert.deepEqual(
    (await client.receive({ timeout: 2000 })).data,
    bytes(3, 2, 1),
  );
});

Deno.test("receive() timeouts never lose a datagram", async () => {
  using server = listenDatagram({ port: 0 });
  using client = listenDatagram({ port: 0 });
  const received: number[] = [];
  let timeouts = 0;
  for (let i = 0; i < 30; i++) {
    // A datagram sent a little after the timeout fires: the receive that
    // timed out is still pending underneath and must hand it on.
    const later = delay(i % 3).then(() => client.send(bytes(i), server.addr));
    try {
      received.push((await server.receive({ timeout: 1 })).data[0]!);
    } catch (error) {
      assert.ok(error instanceof TimeoutError);
      timeouts++;
    }
    await later;
  }
  for (;;) {
    try {
      received.push((await server.receive({ timeout: 200 })).data[0]!);
    } catch (error) {
      assert.ok(error instanceof TimeoutError);
      break;
    }
  }
  assert.ok(timeouts > 0, "some receives timed out");
  assert.deepEqual(received, Array.from({ length: 30 }, (_, i) => i));
});

Deno.test("connectDatagram() sends to its peer and drops datagrams from strangers", async () => {
  using server = listenDatagram({ port: 0 });
  using stranger = listenDatagram({ port: 0 });
  using client = connectDatagram({ remotePort: server.port });
  assert.equal(client.remoteAddr?.port, server.port);
  await client.send(bytes(9));
  const { remoteAddr } = await server.receive({ timeout: 2000 });
  await stranger.send(bytes(66), client.addr);
  await delay(20);
  await server.send(bytes(7), remoteAddr);
  const reply = await client.receive({ timeout: 2000 });
  assert.deepEqual(reply.data, bytes(7));
  await assert.rejects(client.receive({ timeout: 50 }), TimeoutError);
  assert.match(
    String(client),
    /^#<datagram socket connected from 127\.0\.0\.1\/\d+ to 127\.0\.0\.1\/\d+>$/,
  );
});

Deno.test("send() carries the largest datagram whole and refuses a larger one", async () => {
  using server = listenDatagram({ port: 0 });
  using client = listenDatagram({ port: 0 });
  const big = pattern(MAX_DATAGRAM_SIZE, 3);
  assert.equal(await client.send(big, server.addr), MAX_DATAGRAM_SIZE);
  const { data } = await server.receive({ timeout: 2000 });
  assert.equal(data.length, MAX_DATAGRAM_SIZE);
  assert.deepEqual(data, big);
  await assert.rejects(
    client.send(new Uint8Array(MAX_DATAGRAM_SIZE + 1), server.addr),
    (e) => {
      assert.ok(e instanceof LimitExceededError);
      assert.match(e.message, /at most 65507/);
      return true;
    },
  );
});

Deno.test("one datagram server answers many concurrent clients correctly", async () => {
  using server = listenDatagram({ port: 0 });
  const serving = (async () => {
    for await (const { data, remoteAddr } of server) {
      await server.send(data.slice().reverse(), remoteAddr);
    }
  })();
  const clients = Array.from(
    { length: 100 },
    () => connectDatagram({ remotePort: server.port }),
  );
  try {
    const replies = await Promise.all(clients.map(async (client, i) => {
      const payload = bytes(i, i + 1, 200);
      for (let attempt = 0; attempt < 5; attempt++) {
        await client.send(payload);
        try {
          return (await client.receive({ timeout: 500 })).data;
        } catch (error) {
          if (!(error instanceof TimeoutError)) throw error;
        }
      }
      throw new Error(`client ${i} got no reply`);
    }));
    replies.forEach((reply, i) =>
      assert.deepEqual(reply, bytes(200, i + 1, i))
    );
  } finally {
    for (const client of clients) client.close();
    server.close();
  }
  await serving;
});

Deno.test("close() during a pending receive rejects it and ends iteration", async () => {
  const socket = listenDatagram({ port: 0 });
  const pending = socket.receive();
  const iterated = (async () => {
    const seen = [];
    for await (const datagram of socket) seen.push(datagram);
    return seen.length;
  })();
  await delay(5);
  socket.close();
  socket.close();
  await assert.rejects(pending, ConnectionClosedError);
  assert.equal(await iterated, 0);
  await assert.rejects(
    socket.send(bytes(1), socket.addr),
    ConnectionClosedError,
  );
  assert.match(
    String(socket),
    /^#<datagram socket closed, was at 127\.0\.0\.1\/\d+>$/,
  );
});

Deno.test("waitForInput() on a datagram socket tells when one is ready", async () => {
  using server = listenDatagram({ port: 0 });
  using client = listenDatagram({ port: 0 });
  assert.equal(await server.waitForInput({ timeout: 10 }), false);
  await client.send(bytes(5), server.addr);
  assert.equal(await server.waitForInput({ timeout: 2000 }), true);
  assert.deepEqual((await server.receive({ timeout: 10 })).data, bytes(5));
});

Deno.test("listenDatagram() without --unstable-net says to add it", async () => {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-config",
      "--allow-net=127.0.0.1",
      new URL("./fixtures/open_datagram.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.match(
    new TextDecoder().decode(stdout),
    /^SocketError: Cannot open a datagram socket on 127\.0\.0\.1:0: .*run again with --unstable-net\n$/,
  );
});

Deno.test("send() without the grant for its destination names the flag", async () => {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-config",
      "--unstable-net",
      "--allow-net=127.0.0.1:0",
      new URL("./fixtures/open_datagram.ts", import.meta.url).pathname,
      "9",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const line = new TextDecoder().decode(stdout);
  assert.match(
    line,
    /^PermissionError: Cannot send to 127\.0\.0\.1:9 .*--allow-net=127\.0\.0\.1\).*run again with --allow-net=127\.0\.0\.1:9\n$/,
  );
});

Deno.test("receive() payloads stay the caller's: later datagrams never overwrite them", async () => {
  using server = listenDatagram({ port: 0 });
  using client = listenDatagram({ port: 0 });
  const kept: Uint8Array[] = [];
  for (let i = 0; i < 10_000; i++) {
    await client.send(bytes(i & 255, (i >> 8) & 255, 7), server.addr);
    kept.push((await server.receive({ timeout: 2000 })).data);
  }
  kept.forEach((data, i) =>
    assert.deepEqual(data, bytes(i & 255, (i >> 8) & 255, 7))
  );
});

Deno.test("connectDatagram() takes localhost in any case and refuses a name it cannot match", async () => {
  using server = listenDatagram({ port: 0 });
  using client = connectDatagram({
    remoteHostname: "LocalHost",
    remotePort: server.port,
  });
  await client.send(bytes(1, 2));
  const { data, remoteAddr } = await server.receive({ timeout: 2000 });
  await server.send(data.reverse(), remoteAddr);
  assert.deepEqual((await client.receive({ timeout: 2000 })).data, bytes(2, 1));
  assert.throws(
    () => connectDatagram({ remoteHostname: "example.invalid", remotePort: 9 }),
    /give its IP address/,
  );
});
