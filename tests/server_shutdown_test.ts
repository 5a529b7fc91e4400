// serve() when handlers misbehave: never returning, blocked on a quiet
// client, busy computing, or failing after closing their own socket.
import assert from "node:assert/strict";
import {
  connect,
  ConnectionClosedError,
  ConnectionRefusedError,
  listen,
  serve,
  type Socket,
  TimeoutError,
  waitForInput,
} from "../mod.ts";
import { delay, test, until } from "./_helpers.ts";

const T = { timeout: 5_000 };

/** Fails when `promise` has not settled after `ms` milliseconds. */
async function within<V>(
  promise: Promise<V>,
  ms: number,
  what: string,
): Promise<V> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) =>
        timer = setTimeout(
          () => reject(new Error(`${what} did not settle in ${ms} ms`)),
          ms,
        )
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Collects what a server reports. */
function reports(): {
  lines: string[];
  errors: unknown[];
  onError: (error: unknown, where: string) => void;
} {
  const lines: string[] = [];
  const errors: unknown[] = [];
  return {
    lines,
    errors,
    onError: (error, where) => {
      errors.push(error);
      lines.push(`${where}: ${(error as Error).message}`);
    },
  };
}

test("shutdownTimeout is a hard bound: a handler that never returns cannot hold shutdown up", async () => {
  const seen = reports();
  let started = false;
  const server = serve(() => {
    started = true;
    return new Promise(() => {});
  }, { port: 0, shutdownTimeout: 100, onError: seen.onError });
  await using client = await connect({ port: server.port, ...T });
  await client.write("hi\n");
  await client.flush();
  while (!started) await delay(2);
  const stopped = server.shutdown();
  assert.equal(stopped, server.finished, "shutdown() returns finished");
  await within(stopped, 4000, "shutdown() with a never-ending handler");
  assert.equal(seen.lines.length, 1);
  assert.ok(seen.errors[0] instanceof TimeoutError);
  assert.match(
    seen.lines[0]!,
    /^handler for 127\.0\.0\.1:\d+: Cannot finish the handler for 127\.0\.0\.1:\d+: it was still running 100 ms after shutdown began; its connection was aborted$/,
  );
  // The connection was aborted: the client sees its end.
  assert.equal(await client.readLine(T), null);
});

test("shutdown() of a server at maxConnections still ends its handlers at shutdownTimeout", async () => {
  const seen = reports();
  let release: (() => void) | undefined;
  const server = serve(async () => {
    // Ignores the shutdown signal: only the deadline ends it.
    await new Promise<void>((resolve) => release = resolve);
  }, {
    port: 0,
    maxConnections: 1,
    shutdownTimeout: 50,
    onError: seen.onError,
  });
  try {
    await using client = await connect({ port: server.port, ...T });
    await until(() => release !== undefined);
    await within(server.shutdown(), 4000, "shutdown() at maxConnections");
    assert.equal(await client.readLine(T), null);
    assert.equal(seen.lines.length, 1);
    assert.match(seen.lines[0]!, /it was still running 50 ms after shutdown/);
  } finally {
    release?.();
  }
});

test("a handler gets a signal that aborts when shutdown begins", async () => {
  const seen = reports();
  const server = serve(async (socket, { signal }) => {
    try {
      await socket.readLine({ signal });
    } catch (error) {
      assert.ok(signal.aborted);
      assert.equal(error, signal.reason);
      await socket.write("bye\n");
    }
  }, { port: 0, shutdownTimeout: 10_000, onError: seen.onError });
  await using client = await connect({ port: server.port, ...T });
  await client.write("");
  await delay(20);
  assert.equal(server.active, 1);
  // Far less than the 10 s shutdownTimeout: the handler left when told.
  await within(server.shutdown(), 4000, "shutdown() of a waiting handler");
  assert.equal(await client.readLine(T), "bye");
  assert.deepEqual(seen.lines, []);
});

test("drainDelay: shutdown() serves on as usual for the delay, then aborts the handlers' signal and stops", async () => {
  const seen = reports();
  let waiting: AbortSignal | undefined;
  const server = serve(async (socket, { signal }) => {
    const line = await socket.readLine(T);
    if (line === "wait") {
      waiting = signal;
      await new Promise((resolve) => signal.addEventListener("abort", resolve));
      return;
    }
    await socket.write(`${line}\n`);
  }, { port: 0, drainDelay: 600, onError: seen.onError });
  await using first = await connect({ port: server.port, ...T });
  await first.write("wait\n");
  await first.flush();
  await until(() => waiting !== undefined);
  const stopped = server.shutdown();
  await using client = await connect({ port: server.port, ...T });
  await client.write("during the delay\n");
  await client.flush();
  assert.equal(await client.readLine(T), "during the delay");
  assert.equal(waiting!.aborted, false);
  await stopped;
  assert.equal(waiting!.aborted, true);
  assert.equal(await first.readLine(T), null);
  await assert.rejects(
    connect({ port: server.port, ...T }),
    ConnectionRefusedError,
  );
  assert.deepEqual(seen.lines, []);
});

test("a handler that lets the shutdown signal's reason escape is not reported", async () => {
  const seen = reports();
  const server = serve(async (socket, { signal }) => {
    await socket.readLine({ signal });
  }, { port: 0, onError: seen.onError });
  await using client = await connect({ port: server.port, ...T });
  await delay(20);
  await server.shutdown();
  assert.deepEqual(seen.lines, []);
  assert.ok(client);
});

test(
  "idleTimeout does not cut off a handler that is busy while its client keeps sending",
  async () => {
    const seen = reports();
    await using server = serve(async (socket) => {
      // Busy with its own work for a while before reading anything.
      await delay(600);
      let lines = 0;
      while ((await socket.readLine()) !== null) lines++;
      await socket.write(`${lines} lines\n`);
    }, { port: 0, idleTimeout: 200, onError: seen.onError });
    await using client = await connect({ port: server.port, ...T });
    for (let i = 0; i < 8; i++) {
      await client.write(`line ${i}\n`);
      await client.flush();
      await delay(100);
    }
    await client.closeWrite();
    assert.equal(await client.readLine(T), "8 lines");
    assert.deepEqual(seen.lines, []);
  },
  { deadline: 10_000 },
);

test("idleTimeout closes a connection whose handler waits on a silent client, and says why", async () => {
  let failure: unknown;
  const seen = reports();
  await using server = serve(async (socket) => {
    try {
      await socket.readLine();
    } catch (error) {
      failure = error;
      throw error;
    }
  }, { port: 0, idleTimeout: 100, onError: seen.onError });
  await using client = await connect({ port: server.port, ...T });
  assert.equal(await client.readLine(T), null);
  while (failure === undefined) await delay(5);
  assert.ok(failure instanceof ConnectionClosedError);
  assert.match(
    (failure as Error).message,
    /closed after 100 ms without traffic \(serve\(\)'s idleTimeout\)/,
  );
  assert.deepEqual(
    seen.lines,
    [],
    "closing an idle client is not a handler error",
  );
});

test("idleTimeout closes a connection whose client stops reading the replies", async () => {
  let failure: unknown;
  await using server = serve(async (socket) => {
    try {
      for (;;) await socket.write(new Uint8Array(1024 * 1024));
    } catch (error) {
      failure = error;
    }
  }, { port: 0, idleTimeout: 200, onError: () => {} });
  using _raw = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const end = performance.now() + 5000;
  while (failure === undefined && performance.now() < end) await delay(10);
  assert.ok(failure instanceof ConnectionClosedError, String(failure));
  assert.match((failure as Error).message, /without traffic/);
});

test("a handler error after it closed its own socket is still reported", async () => {
  const seen = reports();
  await using server = serve(async (socket) => {
    await socket.close();
    throw new Error("failed after closing");
  }, { port: 0, onError: seen.onError });
  await using client = await connect({ port: server.port, ...T });
  assert.equal(await client.readLine(T), null);
  const end = performance.now() + 2000;
  while (seen.lines.length === 0 && performance.now() < end) await delay(5);
  assert.equal(seen.lines.length, 1);
  assert.match(seen.lines[0]!, /: failed after closing$/);
});

test("serve() refuses invalid options before it listens", () => {
  const free = listen({ port: 0 });
  const port = free.port;
  free.close();
  for (
    const options of [
      { maxBufferSize: 0 },
      { maxBufferSize: 1.5 },
      { idleTimeout: -1 },
      { shutdownTimeout: Number.NaN },
      { maxConnections: 0 },
      { closeTimeout: -5 },
    ]
  ) {
    assert.throws(
      () => serve(() => {}, { port, ...options }),
      RangeError,
      JSON.stringify(options),
    );
  }
  assert.throws(
    () => serve(() => {}, { port, drainDelay: -1 }),
    /^RangeError: Cannot use drainDelay -1: it must be/,
  );
  // Checked before the certificate is looked at.
  assert.throws(
    () =>
      serve(() => {}, {
        port,
        tls: { cert: "not PEM", key: "not PEM" },
        handshakeTimeout: 0,
      }),
    /^RangeError: Cannot use handshakeTimeout 0: it must be more than 0$/,
  );
  // Nothing was left listening on the port.
  const again = listen({ port });
  again.close();
});

test("Server tells its hostname and port; handler sockets have typed addresses", async () => {
  let peerPort = 0;
  await using server = serve((socket: Socket<Deno.NetAddr>) => {
    peerPort = socket.remoteAddr.port;
  }, { port: 0 });
  assert.equal(server.hostname, "127.0.0.1");
  assert.deepEqual({ ...server.addr }, {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: server.port,
  });
  assert.equal(server.path, undefined);
  await using client = await connect({ port: server.port, ...T });
  assert.equal(await client.readLine(T), null);
  assert.equal(peerPort, client.localAddr.port);
});

test("waitForInput() on a list leaves no wait behind: a handler working afterwards is not idle", async () => {
  const outcome: string[] = [];
  const server = serve(async (socket) => {
    assert.deepEqual(await waitForInput([socket], { timeout: 20 }), []);
    await delay(50);
    outcome.push(`idleTime ${socket.idleTime === 0 ? "0" : "> 0"}`);
    await delay(500); // waiting on something else, not on the client
    await socket.write("done\n");
  }, { port: 0, idleTimeout: 200, onError: () => {} });
  try {
    await using client = await connect({ port: server.port });
    assert.equal(await client.readLine(T), "done");
    assert.deepEqual(outcome, ["idleTime 0"]);
  } finally {
    await server.shutdown();
  }
});

test("shutdownTimeout: Infinity lets a handler say goodbye", async () => {
  const reported: unknown[] = [];
  const server = serve(async (socket, { signal }) => {
    await socket.readLine({ signal }).catch(() => {});
    await delay(50);
    await socket.write("bye\n");
  }, {
    port: 0,
    shutdownTimeout: Infinity,
    onError: (error) => reported.push(error),
  });
  await using client = await connect({ port: server.port });
  await delay(50); // the handler waits in readLine()
  await server.shutdown();
  assert.equal(await client.readLine(T), "bye");
  assert.deepEqual(reported, []);
});
