import assert from "node:assert/strict";
import {
  AddressNotAvailableError,
  connect,
  connectDatagram,
  ConnectionClosedError,
  ConnectionRefusedError,
  ConnectionResetError,
  LimitExceededError,
  listenDatagram,
  MAX_DATAGRAM_SIZE,
  PermissionError,
  serve,
  serveDatagram,
  type Socket,
  TimeoutError,
} from "../mod.ts";
import { handleSum } from "../examples/sum_server.ts";
import {
  bounded,
  delay,
  pattern,
  rawConnect,
  test,
  until,
} from "./_helpers.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Sends a sum request and returns the whole reply. */
async function ask(
  port: number,
  request: string,
  closeWrite = false,
): Promise<string> {
  await using socket = await connect({ port, timeout: 2000 });
  await socket.write(request);
  if (closeWrite) await socket.closeWrite();
  else await socket.flush();
  return text(await socket.readAll({ timeout: 2000 }));
}

test("serve() runs the handler for each connection and closes it afterwards", async () => {
  await using server = serve(handleSum, { port: 0 });
  assert.equal(await ask(server.port, "1 3 "), "4");
  assert.equal(await ask(server.port, "1.234 3.23423 "), "4.4682302");
  assert.equal(await ask(server.port, "3 #C(0.0 1.0)", true), "#C(3.0 1.0)");
});

test("serve() reports a throwing handler through onError and keeps serving", async () => {
  const reported: string[] = [];
  await using server = serve(async (socket) => {
    const line = await socket.readLine();
    if (line === "boom") throw new Error("handler failed on purpose");
    await socket.write(`ok ${line}\n`);
  }, {
    port: 0,
    onError: (error, where) => reported.push(`${where}: ${error.message}`),
  });
  assert.equal(await ask(server.port, "boom\n"), "");
  assert.equal(await ask(server.port, "fine\n"), "ok fine\n");
  assert.equal(reported.length, 1);
  assert.match(
    reported[0]!,
    /^handler for 127\.0\.0\.1:\d+: handler failed on purpose$/,
  );
});

test("onError always gets an Error: a thrown value that is not one arrives wrapped, as its cause", async () => {
  const reported: Error[] = [];
  await using server = serve(() => {
    throw "not an Error";
  }, { port: 0, onError: (error) => reported.push(error) });
  assert.equal(await ask(server.port, "x\n"), "");
  await until(() => reported.length === 1);
  assert.ok(reported[0] instanceof Error);
  assert.equal(reported[0].message, "not an Error");
  assert.equal(reported[0].cause, "not an Error");
});

test("serve() answers bad sum requests with an error form and a good one afterwards", async (t) => {
  await using server = serve(handleSum, { port: 0, maxBufferSize: 64 * 1024 });
  const cases: [string, string][] = [
    ["foo 1 ", '(:ERROR "FOO is not a number")'],
    ['1 "two" ', '(:ERROR "\\"two\\" is not a number")'],
    ["(1 2", '(:ERROR "Cannot read list: unexpected end of input")'],
    [")", '(:ERROR "Cannot read datum: unmatched close parenthesis")'],
    [
      '#.(delete-file "x") 1 ',
      '(:ERROR "Cannot read \\"#.\\": read-time evaluation is not allowed")',
    ],
    ["3.0e38 3.0e38 ", "(:ERROR "],
    ["1.0e39 1 ", "(:ERROR "],
    ["", '(:ERROR "expected two numbers, got an empty request")'],
    ["   ", '(:ERROR "expected two numbers, got an empty request")'],
    ["7", '(:ERROR "expected two numbers, the request ended after one")'],
    ["1/0 1 ", "(:ERROR "],
    ["9".repeat(100_000), "(:ERROR "],
    ["(".repeat(10_000), "(:ERROR "],
  ];
  for (const [request, reply] of cases) {
    await t.step(JSON.stringify(request.slice(0, 24)), async () => {
      const got = await ask(server.port, request, true);
      assert.ok(got.startsWith(reply), `got ${got}`);
      assert.ok(got.endsWith(")"), `one complete form: ${got}`);
    });
  }
  assert.equal(await ask(server.port, "1 3 "), "4");
});

test("serve() closes a connection that stays idle past idleTimeout", async () => {
  await using server = serve(handleSum, { port: 0, idleTimeout: 100 });
  await using idle = await connect({ port: server.port, timeout: 2000 });
  const started = performance.now();
  assert.equal(await idle.readLine({ timeout: 2000 }), null);
  const waited = performance.now() - started;
  assert.ok(waited >= 90, `closed after ${waited} ms, before idleTimeout`);
  assert.equal(await ask(server.port, "2 2 "), "4");
});

test("serve() stops accepting past maxConnections and resumes when a slot frees", async () => {
  const release: (() => void)[] = [];
  await using server = serve(async (socket: Socket) => {
    await new Promise<void>((resolve) => release.push(resolve));
    await socket.write("served\n");
  }, { port: 0, maxConnections: 2 });
  try {
    await using a = await connect({ port: server.port, timeout: 2000 });
    await using b = await connect({ port: server.port, timeout: 2000 });
    await using c = await connect({ port: server.port, timeout: 2000 });
    await until(() => release.length === 2);
    await delay(30);
    assert.equal(release.length, 2, "only two handlers run");
    assert.equal(server.active, 2);
    assert.equal(
      await c.waitForInput({ timeout: 50 }),
      false,
      "the third waits unanswered",
    );
    release.shift()!();
    assert.equal(await a.readLine({ timeout: 2000 }), "served");
    await until(() => release.length === 2);
    for (const resolve of release.splice(0)) resolve();
    assert.equal(await b.readLine({ timeout: 2000 }), "served");
    assert.equal(await c.readLine({ timeout: 2000 }), "served");
  } finally {
    // A failed assertion must not leave handlers parked for ever.
    for (const resolve of release) resolve();
  }
});

test("serve() limits what one connection may buffer", async () => {
  await using server = serve(async (socket) => {
    try {
      await socket.readLine({ maxLength: 1 << 30, timeout: 2000 });
    } catch (error) {
      const limit = error instanceof LimitExceededError ? error.limit : "";
      await socket.write(`${(error as Error).name} ${limit}\n`);
    }
  }, { port: 0, maxBufferSize: 16 * 1024 });
  await using client = await connect({ port: server.port, timeout: 2000 });
  await client.write("x".repeat(100_000));
  await client.flush().catch(() => {});
  assert.equal(
    await client.readLine({ timeout: 2000 }),
    "LimitExceededError 16384",
  );
});

test("shutdown() lets in-flight handlers finish, refuses new connections, then resolves", async () => {
  let handlerEnded = false;
  await using server = serve(async (socket) => {
    const line = await socket.readLine({ timeout: 2000 });
    await delay(50);
    await socket.write(`done ${line}\n`);
    handlerEnded = true;
  }, { port: 0 });
  const port = server.port;
  await using inFlight = await connect({ port, timeout: 2000 });
  await inFlight.write("a\n");
  await inFlight.flush();
  await delay(10);
  const stopped = server.shutdown();
  // Closing a listener can reset a connection that reached it at that moment.
  await assert.rejects(
    connect({ port }),
    (e) =>
      e instanceof ConnectionRefusedError || e instanceof ConnectionResetError,
  );
  let settled = false;
  void server.finished.then(() => settled = true);
  await delay(10);
  assert.equal(settled, false, "finished waits for the handler");
  assert.equal(server.active, 1);
  assert.equal(await inFlight.readLine({ timeout: 2000 }), "done a");
  await bounded(stopped, 5000, "shutdown()");
  assert.equal(stopped, server.finished);
  assert.equal(handlerEnded, true);
  assert.equal(server.active, 0);
});

test("shutdown() closes handlers that outlive shutdownTimeout", async () => {
  const reported: string[] = [];
  let seen: unknown;
  await using server = serve(async (socket) => {
    try {
      await socket.readLine();
    } catch (error) {
      seen = error;
    }
  }, {
    port: 0,
    shutdownTimeout: 50,
    onError: (error, where) =>
      reported.push(`${where}: ${(error as Error).message}`),
  });
  await using stuck = await connect({ port: server.port, timeout: 2000 });
  await until(() => server.active === 1);
  const started = performance.now();
  await bounded(server.shutdown(), 5000, "shutdown()");
  const took = performance.now() - started;
  assert.ok(took >= 45, `took ${took} ms: less than shutdownTimeout`);
  assert.equal(server.active, 0, "the handler saw the close and ended");
  assert.ok(seen instanceof ConnectionClosedError);
  assert.equal(
    seen.message,
    `Cannot use the connection to 127.0.0.1:${stuck.localAddr.port}: the server shut down`,
  );
  assert.equal(await stuck.readLine({ timeout: 2000 }), null);
  assert.equal(reported.length, 1);
  assert.match(reported[0]!, /still running 50 ms after shutdown began/);
});

test("serve() stops when its signal is aborted", async () => {
  const controller = new AbortController();
  await using server = serve(handleSum, { port: 0, signal: controller.signal });
  assert.equal(await ask(server.port, "1 1 "), "2");
  controller.abort();
  await server.finished;
  await assert.rejects(connect({ port: server.port }), ConnectionRefusedError);
});

test("serveDatagram() answers with the handler's reply and survives a throwing handler", async () => {
  const reported: unknown[] = [];
  await using server = serveDatagram(({ data }) => {
    if (data[0] === 0) throw new Error("no zeros");
    return data.reverse();
  }, { port: 0, onError: (error) => reported.push(error) });
  using client = connectDatagram({ remotePort: server.port });
  await client.send(new Uint8Array([0]));
  await assert.rejects(client.receive({ timeout: 100 }), TimeoutError);
  await client.send(new Uint8Array([1, 2, 3]));
  assert.deepEqual(
    (await client.receive({ timeout: 2000 })).data,
    new Uint8Array([3, 2, 1]),
  );
  assert.equal(reported.length, 1);
});

test("serveDatagram() awaits async handlers and sends string replies", async () => {
  await using server = serveDatagram(async ({ data }) => {
    await delay(5);
    return `got ${data.length}`;
  }, { port: 0 });
  using client = connectDatagram({ remotePort: server.port });
  await client.send(new Uint8Array(7));
  assert.equal(text((await client.receive({ timeout: 2000 })).data), "got 7");
});

test(
  "idleTimeout does not cut off a handler streaming to a client that reads slowly",
  async () => {
    const size = 16 * 1024 * 1024;
    const reported: unknown[] = [];
    let finished = false;
    await using server = serve(async (socket) => {
      // One array sent from the caller's memory, then text through the
      // socket's own buffer: each flush takes far longer than idleTimeout,
      // with bytes leaving all along.
      await socket.write(pattern(size));
      await socket.write("z".repeat(size));
      await socket.flush();
      finished = true;
    }, { port: 0, idleTimeout: 150, onError: (error) => reported.push(error) });
    using raw = await rawConnect(server.port);
    const buf = new Uint8Array(64 * 1024);
    let total = 0;
    let nextPause = 1024 * 1024;
    for (;;) {
      const n = await raw.read(buf);
      if (n === null) break;
      total += n;
      if (total >= nextPause) {
        nextPause += 1024 * 1024;
        await delay(25);
      }
    }
    assert.deepEqual(reported, []);
    assert.equal(total, 2 * size, "every byte arrived");
    assert.equal(finished, true);
  },
  { deadline: 15_000 },
);

test("serveDatagram() runs at most maxInFlight handlers at once and takes the next when one ends", async () => {
  const release: (() => void)[] = [];
  await using server = serveDatagram(async ({ data }) => {
    await new Promise<void>((resolve) => release.push(resolve));
    return data;
  }, { port: 0, maxInFlight: 2 });
  try {
    using client = connectDatagram({ remotePort: server.port });
    for (const n of [1, 2, 3]) await client.send(new Uint8Array([n]));
    await until(() => release.length === 2);
    await delay(30);
    assert.equal(release.length, 2, "the third waits");
    assert.equal(server.active, 2);
    release.shift()!();
    assert.deepEqual(
      (await client.receive({ timeout: 2000 })).data,
      new Uint8Array([1]),
    );
    await until(() => release.length === 2);
    for (const resolve of release.splice(0)) resolve();
    const rest = [
      (await client.receive({ timeout: 2000 })).data[0],
      (await client.receive({ timeout: 2000 })).data[0],
    ];
    assert.deepEqual(rest.sort(), [2, 3]);
  } finally {
    for (const resolve of release) resolve();
  }
});

test("serveDatagram() lets a running handler finish and reply on shutdown", async () => {
  let started = false;
  const server = serveDatagram(async ({ data }) => {
    started = true;
    await delay(100);
    return data.reverse();
  }, { port: 0 });
  using client = connectDatagram({ remotePort: server.port });
  await client.send(new Uint8Array([1, 2]));
  await until(() => started);
  await bounded(server.shutdown(), 5000, "shutdown()");
  assert.deepEqual(
    (await client.receive({ timeout: 2000 })).data,
    new Uint8Array([2, 1]),
  );
  assert.equal(server.active, 0);
});

test("serveDatagram()'s shutdownTimeout bounds a handler that never returns", async () => {
  let started = false;
  const server = serveDatagram(() => {
    started = true;
    return new Promise<undefined>(() => {});
  }, { port: 0, shutdownTimeout: 50 });
  using client = connectDatagram({ remotePort: server.port });
  await client.send(new Uint8Array([1]));
  await until(() => started);
  await bounded(server.shutdown(), 5000, "shutdown()");
  // Its port is free again: the socket was closed.
  using again = listenDatagram({ port: server.port });
  assert.equal(again.port, server.port);
});

test("serveDatagram() stops when its signal is aborted, even one aborted before it starts", async () => {
  const controller = new AbortController();
  const server = serveDatagram(({ data }) => data, {
    port: 0,
    signal: controller.signal,
  });
  using client = connectDatagram({ remotePort: server.port });
  await client.send(new Uint8Array([7]));
  assert.deepEqual(
    (await client.receive({ timeout: 2000 })).data,
    new Uint8Array([7]),
  );
  controller.abort();
  await bounded(server.finished, 5000, "finished");
  using again = listenDatagram({ port: server.port });
  assert.equal(again.port, server.port);
  const early = serveDatagram(() => undefined, {
    port: 0,
    signal: controller.signal,
  });
  await bounded(early.finished, 5000, "finished");
});

test("serveDatagram() reports a reply that cannot be sent, from a plain or an async handler, and keeps serving", async () => {
  const reported: string[] = [];
  await using server = serveDatagram(({ data }) => {
    const big = new Uint8Array(MAX_DATAGRAM_SIZE + 1);
    if (data[0] === 1) return big;
    if (data[0] === 2) return Promise.resolve(big);
    return "fine";
  }, {
    port: 0,
    onError: (error, where) =>
      reported.push(`${(error as Error).name} ${where}`),
  });
  using client = connectDatagram({ remotePort: server.port });
  for (const n of [1, 2, 3]) await client.send(new Uint8Array([n]));
  assert.equal(text((await client.receive({ timeout: 2000 })).data), "fine");
  await until(() => reported.length === 2);
  const where = `reply to 127.0.0.1:${client.port}`;
  assert.deepEqual(reported, [
    `LimitExceededError ${where}`,
    `LimitExceededError ${where}`,
  ]);
});

test("serve() reports a handler still running at the shutdown deadline and aborts its connection", async () => {
  const reported: string[] = [];
  let release: (() => void) | undefined;
  const server = serve(async () => {
    await new Promise<void>((resolve) => release = resolve);
  }, {
    port: 0,
    shutdownTimeout: 50,
    onError: (error, where) =>
      reported.push(`${where}: ${(error as Error).message}`),
  });
  try {
    await using client = await connect({ port: server.port, timeout: 2000 });
    await until(() => release !== undefined);
    await bounded(server.shutdown(), 5000, "shutdown()");
    assert.equal(await client.readLine({ timeout: 2000 }), null);
    assert.equal(reported.length, 1);
    assert.match(
      reported[0]!,
      /^handler for 127\.0\.0\.1:\d+: Cannot finish the handler for 127\.0\.0\.1:\d+: it was still running 50 ms after shutdown began; its connection was aborted$/,
    );
  } finally {
    release?.();
  }
});

test("serve() reports a connection whose output is still being sent at the shutdown deadline, and aborts it", async () => {
  const reported: string[] = [];
  let returned = false;
  const server = serve((socket) => {
    // Far more than the kernel buffers, and the client never reads: the
    // handler returns, and closing waits for the output to go.
    socket.write(new Uint8Array(64 * 1024 * 1024)).catch(() => {});
    returned = true;
  }, {
    port: 0,
    shutdownTimeout: 50,
    closeTimeout: Infinity,
    onError: (error, where) =>
      reported.push(`${where}: ${(error as Error).message}`),
  });
  await using client = await connect({ port: server.port, timeout: 2000 });
  await until(() => returned);
  await bounded(server.shutdown(), 5000, "shutdown()");
  assert.deepEqual(reported, [
    `handler for 127.0.0.1:${client.localAddr.port}: Cannot close the connection to 127.0.0.1:${client.localAddr.port}: its output was still being sent 50 ms after shutdown began; it was aborted`,
  ]);
});

test("serve() without onError writes one line per handler error to stderr", async () => {
  const lines: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args);
  try {
    await using server = serve(() => {
      throw new Error("no luck");
    }, { port: 0 });
    await using client = await connect({ port: server.port, timeout: 2000 });
    assert.equal(await client.readLine({ timeout: 2000 }), null);
    await until(() => lines.length > 0);
    assert.deepEqual(lines, [[
      `handler for 127.0.0.1:${client.localAddr.port}: no luck`,
    ]]);
  } finally {
    console.error = original;
  }
});

test("serve() goes on serving when its onError throws", async () => {
  let calls = 0;
  await using server = serve(async (socket) => {
    const line = await socket.readLine({ timeout: 2000 });
    if (line === "fail") throw new Error("handler failed");
    await socket.write(`ok ${line}\n`);
  }, {
    port: 0,
    onError: () => {
      calls++;
      throw new Error("the reporter is broken too");
    },
  });
  assert.equal(await ask(server.port, "fail\n"), "");
  assert.equal(await ask(server.port, "again\n"), "ok again\n");
  assert.equal(calls, 1);
});

test("serve() reports a close that could not flush the handler's output, then serves on", async () => {
  const reported: string[] = [];
  await using server = serve(async (socket) => {
    if (reported.length > 0) return await socket.write("next\n");
    // Far more than the kernel buffers, and the client never reads.
    socket.write(new Uint8Array(64 * 1024 * 1024)).catch(() => {});
  }, {
    port: 0,
    closeTimeout: 50,
    onError: (error, where) =>
      reported.push(`${where}: ${(error as Error).name}`),
  });
  await using stalled = await connect({ port: server.port, timeout: 2000 });
  await until(() => reported.length === 1);
  assert.deepEqual(reported, [
    `close of 127.0.0.1:${stalled.localAddr.port}: TimeoutError`,
  ]);
  await using next = await connect({ port: server.port, timeout: 2000 });
  assert.equal(await next.readLine({ timeout: 2000 }), "next");
});

test("serve() with a signal aborted before it starts stops at once", async () => {
  const controller = new AbortController();
  controller.abort();
  const server = serve(() => {}, { port: 0, signal: controller.signal });
  await bounded(server.finished, 5000, "finished");
  assert.equal(server.shutdown(), server.finished);
  await assert.rejects(
    connect({ port: server.port, timeout: 2000 }),
    ConnectionRefusedError,
  );
});

test("the shutdown signal's reason names the server; serve() refuses NaN and zero limits", async () => {
  let reason: unknown;
  const server = serve(async (socket, { signal }) => {
    await socket.readLine({ signal, timeout: 2000 }).catch(() => {});
    reason = signal.reason;
  }, { port: 0 });
  await using client = await connect({ port: server.port, timeout: 2000 });
  await until(() => server.active === 1);
  await bounded(server.shutdown(), 5000, "shutdown()");
  assert.ok(reason instanceof ConnectionClosedError);
  assert.equal(
    reason.message,
    `Cannot go on serving on 127.0.0.1:${server.port}: the server is shutting down`,
  );
  assert.equal(await client.readLine({ timeout: 2000 }), null);
  for (
    const [name, value] of [
      ["maxConnections", Number.NaN],
      ["idleTimeout", Number.NaN],
      ["idleTimeout", 0],
      ["maxInFlight", 0],
    ] as const
  ) {
    const start = name === "maxInFlight"
      ? () => serveDatagram(() => undefined, { port: 0, [name]: value })
      : () => serve(() => {}, { port: 0, [name]: value });
    assert.throws(start, {
      name: "RangeError",
      message: `Cannot use ${name} ${value}: it must be more than 0`,
    });
  }
});

test("serveDatagram() reports an async handler that rejects, and goes on", async () => {
  const reported: string[] = [];
  await using server = serveDatagram(async ({ data }) => {
    await delay(1);
    if (data[0] === 0) throw new Error("no zeros");
    return data;
  }, {
    port: 0,
    onError: (error, where) =>
      reported.push(`${where}: ${(error as Error).message}`),
  });
  using client = connectDatagram({ remotePort: server.port });
  await client.send(new Uint8Array([0]));
  await client.send(new Uint8Array([5]));
  assert.deepEqual(
    (await client.receive({ timeout: 2000 })).data,
    new Uint8Array([5]),
  );
  await until(() => reported.length === 1);
  assert.deepEqual(reported, [
    `handler for 127.0.0.1:${client.port}: no zeros`,
  ]);
});

test("serveDatagram(): a handler that asks for the shutdown still gets its reply sent", async () => {
  let server: ReturnType<typeof serveDatagram> | undefined = undefined;
  server = serveDatagram(async ({ data }) => {
    void server!.shutdown();
    await delay(5);
    return data;
  }, { port: 0 });
  using client = connectDatagram({ remotePort: server.port });
  await client.send(new Uint8Array([3]));
  assert.deepEqual(
    (await client.receive({ timeout: 2000 })).data,
    new Uint8Array([3]),
  );
  await bounded(server.finished, 5000, "finished");
});

test("shutdown() waits for every handler in flight, however they end", async () => {
  const ended: number[] = [];
  await using server = serve(async (socket) => {
    const line = await socket.readLine({ timeout: 2000 });
    await delay(line === "slow" ? 100 : 1);
    ended.push(line === "slow" ? 2 : 1);
  }, { port: 0 });
  await using fast = await connect({ port: server.port, timeout: 2000 });
  await using slow = await connect({ port: server.port, timeout: 2000 });
  await until(() => server.active === 2);
  await fast.write("fast\n");
  await slow.write("slow\n");
  await fast.flush();
  await slow.flush();
  await bounded(server.shutdown(), 5000, "shutdown()");
  assert.deepEqual(ended, [1, 2]);
  assert.equal(server.active, 0);
});

test("shutdownTimeout: Infinity waits for a handler however long it takes, and reports nothing", async () => {
  const reported: unknown[] = [];
  let done = false;
  await using server = serve(async (socket) => {
    await socket.readLine({ timeout: 2000 });
    await delay(50);
    done = true;
  }, {
    port: 0,
    shutdownTimeout: Infinity,
    onError: (error) => reported.push(error),
  });
  await using client = await connect({ port: server.port, timeout: 2000 });
  await client.write("x\n");
  await client.flush();
  await until(() => server.active === 1);
  await bounded(server.shutdown(), 5000, "shutdown()");
  assert.equal(done, true);
  assert.deepEqual(reported, []);
  assert.throws(() => serve(() => {}, { shutdownTimeout: Number.NaN }), {
    name: "RangeError",
    message:
      "Cannot use shutdownTimeout NaN: it must be a number >= 0 (or Infinity)",
  });
});

test("serveDatagram(): a handler returning nothing sends nothing and reports nothing; a throw is reported where it happened", async () => {
  const reported: string[] = [];
  await using server = serveDatagram(({ data }) => {
    if (data[0] === 0) return undefined;
    if (data[0] === 1) return Promise.resolve(undefined);
    if (data[0] === 2) throw new Error("two");
    return "three";
  }, {
    port: 0,
    onError: (error, where) =>
      reported.push(`${where}: ${(error as Error).message}`),
  });
  using client = connectDatagram({ remotePort: server.port });
  for (const n of [0, 1, 2, 3]) await client.send(new Uint8Array([n]));
  assert.equal(text((await client.receive({ timeout: 2000 })).data), "three");
  await assert.rejects(client.receive({ timeout: 50 }), TimeoutError);
  assert.deepEqual(reported, [`handler for 127.0.0.1:${client.port}: two`]);
});

test("serveDatagram(): a reply that comes after the shutdown deadline is dropped without a report", async () => {
  const reported: unknown[] = [];
  let started = false;
  const server = serveDatagram(async ({ data }) => {
    started = true;
    await delay(150);
    return data;
  }, {
    port: 0,
    shutdownTimeout: 20,
    onError: (error) => reported.push(error),
  });
  using client = connectDatagram({ remotePort: server.port });
  await client.send(new Uint8Array([1]));
  await until(() => started);
  await bounded(server.shutdown(), 5000, "shutdown()");
  await delay(200);
  assert.deepEqual(reported, []);
  await assert.rejects(client.receive({ timeout: 20 }), TimeoutError);
});

test("serveDatagram() checks the grant for its replies in this process too: localhost and [::1] are covered, a wildcard is not", async () => {
  for (
    const hostname of ["localhost", "LocalHost", "127.0.0.1", "[::1]", "::1"]
  ) {
    let server;
    try {
      server = serveDatagram(({ data }) => data, { hostname, port: 0 });
    } catch (error) {
      // No IPv6 loopback here: binding, not the grant check, failed.
      if (hostname.includes(":") && error instanceof AddressNotAvailableError) {
        continue;
      }
      throw error;
    }
    await bounded(server.shutdown(), 5000, "shutdown()");
  }
  // This process may only reach loopback: a wildcard server, whose
  // clients may be anywhere, is refused before it opens, and so is one on a
  // name that only looks like localhost.
  for (
    const hostname of ["0.0.0.0", "::", "notlocalhost", "localhost.example"]
  ) {
    assert.throws(() => serveDatagram(() => undefined, { hostname }), (e) => {
      assert.ok(e instanceof PermissionError);
      assert.equal(e.flag, "--allow-net");
      const where = hostname === "::" ? "[::]:0" : `${hostname}:0`;
      assert.match(
        e.message,
        new RegExp(
          `^Cannot serve datagrams on ${
            where.replace(/[.[\]]/g, "\\$&")
          }: replies go to every sender, from any address, so this needs net access to all hosts \\(or serve on 127\\.0\\.0\\.1\\)`,
        ),
      );
      return true;
    });
  }
  // A bad address is named as such, not taken for one that needs a grant.
  for (
    const [options, message] of [
      [
        { hostname: "bad host" },
        /^TypeError: Cannot use hostname "bad host": it is not a host name/,
      ],
      [
        { hostname: "0.0.0.0", port: 70000 },
        /^RangeError: Cannot use port 70000: it must be a whole number from 0/,
      ],
    ] as const
  ) {
    assert.throws(() => serveDatagram(() => undefined, options), message);
  }
});

test(
  "serveDatagram() on localhost granted only localhost is a PermissionError asking for 127.0.0.1, where the replies go",
  () => {
    assert.throws(
      () => serveDatagram(() => undefined, { hostname: "localhost" }),
      (e) => {
        assert.ok(e instanceof PermissionError);
        assert.equal(e.flag, "--allow-net=127.0.0.1");
        assert.equal(
          e.message,
          "Cannot serve datagrams on localhost:0: replies go to each sender's own port at 127.0.0.1: permission denied, run again with --allow-net=127.0.0.1",
        );
        return true;
      },
    );
  },
  { permissions: { net: ["localhost"] } },
);

test("serveDatagram() listens on the address it is given", async () => {
  await using server = serveDatagram(({ data }) => data, {
    hostname: "127.0.0.2",
    port: 0,
  });
  assert.equal(server.hostname, "127.0.0.2");
  using client = connectDatagram({
    remoteHostname: "127.0.0.2",
    remotePort: server.port,
  });
  await client.send("hi");
  const reply = await client.receive({ timeout: 2000 });
  assert.equal(new TextDecoder().decode(reply.data), "hi");
  assert.equal(reply.remoteAddr.hostname, "127.0.0.2");
});
