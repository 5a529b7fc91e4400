import assert from "node:assert/strict";
import {
  AddressInUseError,
  connect,
  ConnectionClosedError,
  ConnectionRefusedError,
  listen,
  Listener,
  type Socket,
  SocketError,
  TimeoutError,
  waitForInput,
} from "../mod.ts";
import { delay, socketPair } from "./_helpers.ts";

Deno.test("listen() on port 0 reports the port the OS chose", () => {
  using listener = listen({ port: 0 });
  assert.ok(listener.port > 1024);
  assert.deepEqual({ ...listener.addr }, {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: listener.port,
  });
});

Deno.test("listen() throws AddressInUseError when the port is taken", () => {
  using first = listen({ port: 0 });
  assert.throws(() => listen({ port: first.port }), (e) => {
    assert.ok(e instanceof AddressInUseError);
    assert.match(
      e.message,
      /^Cannot listen on 127\.0\.0\.1:\d+: address already in use/,
    );
    assert.ok(e.cause instanceof Deno.errors.AddrInUse);
    assert.deepEqual(e.address, { hostname: "127.0.0.1", port: first.port });
    return true;
  });
});

Deno.test("connect() throws ConnectionRefusedError when nothing listens", async () => {
  const listener = listen({ port: 0 });
  const port = listener.port;
  listener.close();
  await assert.rejects(connect({ port }), (e) => {
    assert.ok(e instanceof ConnectionRefusedError);
    assert.equal(
      e.message,
      `Cannot connect to 127.0.0.1:${port}: connection refused (is a server listening there?)`,
    );
    return true;
  });
});

Deno.test("using closes a listener: connecting afterwards is refused", async () => {
  let port: number;
  {
    using listener = listen({ port: 0 });
    port = listener.port;
  }
  await assert.rejects(connect({ port }), ConnectionRefusedError);
});

Deno.test("connect() times out against a full backlog", async () => {
  using listener = listen({ port: 0, backlog: 1 });
  const held: Socket[] = [];
  try {
    let timedOut: unknown;
    for (let i = 0; i < 8 && timedOut === undefined; i++) {
      try {
        held.push(await connect({ port: listener.port, timeout: 150 }));
      } catch (error) {
        timedOut = error;
      }
    }
    assert.ok(timedOut instanceof TimeoutError, `got ${timedOut}`);
    assert.match(
      timedOut.message,
      /^Cannot connect to 127\.0\.0\.1:\d+: timed out after 150 ms$/,
    );
  } finally {
    for (const socket of held) await socket.close({ abort: true });
  }
});

Deno.test("connect() with an aborted signal rejects with the signal's reason", async () => {
  using listener = listen({ port: 0 });
  const controller = new AbortController();
  controller.abort(new Error("never mind"));
  await assert.rejects(
    connect({ port: listener.port, signal: controller.signal }),
    /never mind/,
  );
});

Deno.test("accept() timeout loses no connection", async () => {
  using listener = listen({ port: 0 });
  await assert.rejects(listener.accept({ timeout: 20 }), TimeoutError);
  await using client = await connect({ port: listener.port });
  await using server = await listener.accept({ timeout: 2000 });
  await client.write("hi\n");
  await client.flush();
  assert.equal(await server.readLine(), "hi");
});

Deno.test("accept() serves concurrent callers one connection each", async () => {
  using listener = listen({ port: 0 });
  const accepts = [listener.accept(), listener.accept(), listener.accept()];
  const clients = await Promise.all(
    [1, 2, 3].map(() => connect({ port: listener.port })),
  );
  const servers = await Promise.all(accepts);
  assert.equal(new Set(servers).size, 3);
  const ports = new Set(
    servers.map((s) => (s.remoteAddr as Deno.NetAddr).port),
  );
  assert.equal(ports.size, 3);
  for (const s of [...servers, ...clients]) await s.close();
});

Deno.test("for await over a listener ends cleanly when it is closed", async () => {
  const listener = listen({ port: 0 });
  const seen: string[] = [];
  const loop = (async () => {
    for await (const socket of listener) {
      seen.push((await socket.readLine()) ?? "");
      await socket.close();
    }
    return "ended";
  })();
  for (const word of ["a", "b"]) {
    await using client = await connect({ port: listener.port });
    await client.write(`${word}\n`);
    await client.flush();
    await client.readAll();
  }
  listener.close();
  assert.equal(await loop, "ended");
  assert.deepEqual(seen, ["a", "b"]);
});

Deno.test("accept() on a closed listener throws ConnectionClosedError", async () => {
  const listener = listen({ port: 0 });
  const pending = listener.accept();
  listener.close();
  await assert.rejects(pending, ConnectionClosedError);
  await assert.rejects(listener.accept(), ConnectionClosedError);
  listener.close();
  assert.match(
    String(listener),
    /^#<passive socket closed, was waiting for connection at 127\.0\.0\.1\/\d+>$/,
  );
});

Deno.test("a client that resets before accept() does not stop the listener", async () => {
  using listener = listen({ port: 0 });
  // Connect and close at once, several times, before anything is accepted.
  for (let i = 0; i < 5; i++) {
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: listener.port,
    });
    conn.close();
  }
  await using good = await connect({ port: listener.port });
  await good.write("still here\n");
  await good.flush();
  let line: string | null = null;
  for (let i = 0; i < 6 && line === null; i++) {
    const server = await listener.accept({ timeout: 2000 });
    line = await server.readLine().catch(() => null);
    await server.close();
  }
  assert.equal(line, "still here");
});

Deno.test("waitForInput() returns the ready sockets, or none on timeout", async () => {
  await using a = await socketPair();
  await using b = await socketPair();
  assert.deepEqual(
    await waitForInput([a.server, b.server], { timeout: 20 }),
    [],
  );
  await b.client.write("x\n");
  await b.client.flush();
  assert.deepEqual(
    await waitForInput([a.server, b.server], { timeout: 2000 }),
    [b.server],
  );
  assert.deepEqual(await waitForInput(b.server), [b.server]);
  assert.equal(await b.server.readLine(), "x");
  await a.client.closeWrite();
  assert.deepEqual(
    await waitForInput([a.server, b.server], { timeout: 2000 }),
    [a.server],
  );
  assert.equal(await a.server.readLine(), null);
});

Deno.test("waitForInput() on a listener tells when a connection is waiting", async () => {
  using listener = listen({ port: 0 });
  assert.deepEqual(await waitForInput(listener, { timeout: 20 }), []);
  await using client = await connect({ port: listener.port });
  assert.deepEqual(await waitForInput([listener], { timeout: 2000 }), [
    listener,
  ]);
  await using server = await listener.accept({ timeout: 10 });
  assert.equal(server.remoteAddr.transport, "tcp");
  assert.ok(client);
});

Deno.test("every SocketError keeps the Deno error as its cause", async () => {
  const listener = listen({ port: 0 });
  const port = listener.port;
  listener.close();
  const error = await connect({ port }).catch((e) => e);
  assert.ok(error instanceof SocketError);
  assert.ok(error.cause instanceof Deno.errors.ConnectionRefused);
});

Deno.test("timeouts are checked: a negative one is a RangeError", async () => {
  await using pair = await socketPair();
  await assert.rejects(pair.server.readLine({ timeout: -1 }), RangeError);
  await assert.rejects(
    connect({ port: pair.listener.port, timeout: Number.NaN }),
    RangeError,
  );
  await delay(0);
});

/** Runs the connect/listen fixture in a process with exactly `grant`. */
async function inProcess(grant: string[], ...args: string[]): Promise<string> {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-config",
      "--no-prompt",
      ...grant,
      new URL("./fixtures/connect_to.ts", import.meta.url).pathname,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(stdout).trim();
}

Deno.test("connect() throws HostNotFoundError for a name that does not resolve", async () => {
  assert.match(
    await inProcess(
      ["--allow-net=no-such-host.invalid"],
      "connect",
      "no-such-host.invalid",
      "80",
    ),
    /^HostNotFoundError: Cannot connect to no-such-host\.invalid:80: host not found \(check the spelling of "no-such-host\.invalid"\)$/,
  );
});

Deno.test("listen() and connect() without the grant throw PermissionError naming the flag", async () => {
  assert.equal(
    await inProcess([], "listen", "127.0.0.1", "0"),
    "PermissionError: Cannot listen on 127.0.0.1:0: permission denied, run again with --allow-net=127.0.0.1:0",
  );
  assert.equal(
    await inProcess(
      ["--allow-net=127.0.0.1:9231"],
      "connect",
      "localhost",
      "9231",
    ),
    "PermissionError: Cannot connect to localhost:9231: permission denied, run again with --allow-net=localhost:9231",
  );
});

/** A port that nothing listens on: one the OS just gave and took back. */
function freePort(): number {
  using listener = listen({ port: 0 });
  return listener.port;
}

Deno.test("connect() with a bad maxBufferSize throws RangeError and opens no connection", async () => {
  using listener = listen({ port: 0 });
  for (const maxBufferSize of [0, -1, 1.5, Number.NaN]) {
    await assert.rejects(
      connect({ port: listener.port, maxBufferSize }),
      (e) => {
        assert.ok(e instanceof RangeError);
        assert.equal(
          e.message,
          `Cannot use maxBufferSize ${maxBufferSize}: it must be a whole number >= 1`,
        );
        return true;
      },
    );
  }
  assert.equal(await listener.waitForInput({ timeout: 100 }), false);
});

Deno.test("listen() with a bad option throws before it listens", async () => {
  const port = freePort();
  const bad: [Partial<Record<string, unknown>>, RegExp][] = [
    [{ maxBufferSize: 0 }, /^RangeError: Cannot use maxBufferSize 0: it must/],
    [{ backlog: 0 }, /^RangeError: Cannot use backlog 0: it must be a whole/],
    [{ backlog: 1.5 }, /^RangeError: Cannot use backlog 1\.5: it must be/],
    [{ onError: "log" }, /^TypeError: Cannot use onError log: it must be a/],
  ];
  for (const [options, message] of bad) {
    assert.throws(() => listen({ port, ...options }), message);
  }
  await assert.rejects(connect({ port }), ConnectionRefusedError);
});

Deno.test("new Listener() with a bad option closes the listener it was given", async () => {
  const deno = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  assert.throws(
    () => new Listener(deno, { maxBufferSize: 0 }),
    /^RangeError: Cannot use maxBufferSize 0/,
  );
  await assert.rejects(
    connect({ port: deno.addr.port }),
    ConnectionRefusedError,
  );
});

Deno.test("connect() and listen() refuse bad ports and hosts with their own messages", async () => {
  const range = (port: string, low: number) =>
    `Cannot use port ${port}: it must be a whole number from ${low} to 65535`;
  for (const port of [0, -1, 65536, 80.5, Number.NaN]) {
    await assert.rejects(connect({ port }), {
      name: "RangeError",
      message: range(String(port), 1),
    });
  }
  await assert.rejects(connect({ port: "80" as unknown as number }), {
    name: "RangeError",
    message: range('"80"', 1),
  });
  for (const port of [-1, 65536, 0.5]) {
    assert.throws(() => listen({ port }), {
      name: "RangeError",
      message: range(String(port), 0),
    });
  }
  for (const hostname of ["bad host", "", "a..b", "[::1"]) {
    const message = `Cannot use hostname ${
      JSON.stringify(hostname)
    }: it is not a host name or an IP address`;
    await assert.rejects(connect({ hostname, port: 80 }), {
      name: "TypeError",
      message,
    });
    assert.throws(() => listen({ hostname, port: 0 }), {
      name: "TypeError",
      message,
    });
  }
});

Deno.test("listen() and connect() take a bracketed IPv6 host such as [::1]", async () => {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-config",
      "--no-prompt",
      "--allow-net=[::1]",
      new URL("./fixtures/bracketed_host.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const line = new TextDecoder().decode(stdout).trim();
  if (line.startsWith("AddressNotAvailableError")) {
    console.log("skipped: this machine has no IPv6 loopback");
    return;
  }
  assert.equal(line, "::1 ::1 ::1");
});
