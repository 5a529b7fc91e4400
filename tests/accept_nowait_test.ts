// listener.accept({ wait: false }): Allegro CL's `accept-connection :wait
// nil`, a socket if a connection is ready, else null at once, built on the
// listener's one outstanding accept so that no connection is lost.
import assert from "node:assert/strict";
import { connect, ConnectionClosedError, listen, type Socket } from "../mod.ts";
import { test } from "./_helpers.ts";

/** `promise`, or a failure if it has not settled within `ms`. */
async function settlesWithin<T>(promise: Promise<T>, ms = 2000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`did not settle within ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

test("accept({ wait: false }) gives null at once when no client has connected", async () => {
  using listener = listen({ port: 0 });
  for (let i = 0; i < 3; i++) {
    assert.equal(
      await settlesWithin(listener.accept({ wait: false })),
      null,
    );
  }
});

test("accept({ wait: false }) gives the socket of a client that has connected", async () => {
  using listener = listen({ port: 0 });
  for (let i = 0; i < 50; i++) {
    await using client = await connect({ port: listener.port });
    const server = await settlesWithin(listener.accept({ wait: false }));
    assert.ok(server !== null, `connection ${i} was ready but not accepted`);
    await using _server = server;
    assert.equal(server.remoteAddr.port, client.localAddr.port);
    assert.equal(await listener.accept({ wait: false }), null);
  }
});

test("a connection that arrives after accept({ wait: false }) said null is kept for the next accept", async () => {
  using listener = listen({ port: 0 });
  assert.equal(await listener.accept({ wait: false }), null);
  await using client = await connect({ port: listener.port });
  await using server = await listener.accept({ timeout: 2000 });
  assert.equal(server.remoteAddr.port, client.localAddr.port);
});

test("accept({ wait: false }) takes waiting clients in the order they connected", async () => {
  using listener = listen({ port: 0 });
  const clients: Socket<Deno.NetAddr>[] = [];
  const servers: Socket<Deno.NetAddr>[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      clients.push(await connect({ port: listener.port }));
    }
    for (let i = 0; i < 5; i++) {
      assert.ok(await listener.waitForInput({ timeout: 2000 }));
      const server = await listener.accept({ wait: false });
      assert.ok(server !== null);
      servers.push(server);
    }
    assert.deepEqual(
      servers.map((s) => s.remoteAddr.port),
      clients.map((c) => c.localAddr.port),
    );
    assert.equal(await listener.accept({ wait: false }), null);
  } finally {
    for (const socket of [...clients, ...servers]) {
      await socket.close({ abort: true });
    }
  }
});

test("accept({ wait: false }) and a waiting accept() share one outstanding accept: each connection goes to exactly one", async () => {
  using listener = listen({ port: 0 });
  const waiting = listener.accept({ timeout: 2000 });
  assert.equal(await listener.accept({ wait: false }), null);
  await using client = await connect({ port: listener.port });
  await using server = await waiting;
  assert.equal(server.remoteAddr.port, client.localAddr.port);
  assert.equal(await listener.accept({ wait: false }), null);
});

test("a connection ready when accept({ wait: false }) is called is its own, not that of an accept() called just after", async () => {
  using listener = listen({ port: 0 });
  await using first = await connect({ port: listener.port });
  assert.ok(await listener.waitForInput({ timeout: 2000 }));
  const ready = listener.accept({ wait: false });
  const next = listener.accept({ timeout: 2000 });
  const server = await ready;
  assert.ok(server !== null, "the ready connection went to the later call");
  await using _server = server;
  assert.equal(server.remoteAddr.port, first.localAddr.port);
  await using second = await connect({ port: listener.port });
  await using nextServer = await next;
  assert.equal(nextServer.remoteAddr.port, second.localAddr.port);
});

test("accept({ wait: false }) on a closed listener is a ConnectionClosedError", async () => {
  const listener = listen({ port: 0 });
  listener.close();
  await assert.rejects(
    listener.accept({ wait: false }),
    ConnectionClosedError,
  );
});

test("a connection ready when the listener closes is closed, not handed out", async () => {
  const listener = listen({ port: 0 });
  await using client = await connect({ port: listener.port });
  assert.ok(await listener.waitForInput({ timeout: 2000 }));
  listener.close();
  await assert.rejects(
    listener.accept({ wait: false }),
    ConnectionClosedError,
  );
  assert.equal(await client.readLine({ timeout: 2000 }), null);
});

test("accept() refuses a wait that is not a boolean", async () => {
  using listener = listen({ port: 0 });
  await assert.rejects(
    listener.accept({ wait: "no" as unknown as boolean }),
    /^TypeError: Cannot accept with wait no: it must be true or false$/,
  );
});
