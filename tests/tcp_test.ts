import assert from "node:assert/strict";
import {
  AddressInUseError,
  connect,
  ConnectionClosedError,
  ConnectionRefusedError,
  LimitExceededError,
  listen,
  Listener,
  type ListenOptions,
  type Socket,
  SocketError,
  TimeoutError,
  waitForInput,
} from "../mod.ts";
import {
  bounded,
  canRun,
  delay,
  noIpv6Loopback,
  rawConnect,
  socketPair,
  test,
  until,
  writeAllRaw,
} from "./_helpers.ts";
import { report } from "../lib/_report.ts";

const noIpv6 = noIpv6Loopback();
if (noIpv6 !== undefined) {
  console.log(`the bracketed IPv6 host test is ignored: ${noIpv6}`);
}

test("listen() on port 0 reports the port the OS chose", () => {
  using listener = listen({ port: 0 });
  assert.ok(listener.port > 1024);
  assert.equal(listener.hostname, "127.0.0.1");
  assert.deepEqual({ ...listener.addr }, {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: listener.port,
  });
});

test("listen() throws AddressInUseError when the port is taken", () => {
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

test("connect() throws ConnectionRefusedError when nothing listens", async () => {
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

test("using closes a listener: connecting afterwards is refused", async () => {
  let port: number;
  {
    using listener = listen({ port: 0 });
    port = listener.port;
  }
  await assert.rejects(connect({ port }), ConnectionRefusedError);
});

test("connect() times out against a full backlog", async () => {
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
    assert.deepEqual(timedOut.address, {
      hostname: "127.0.0.1",
      port: listener.port,
    });
    assert.equal(timedOut.timeout, 150);
  } finally {
    for (const socket of held) await socket.close({ abort: true });
  }
});

test("connect() with an aborted signal rejects with the signal's reason", async () => {
  using listener = listen({ port: 0 });
  const controller = new AbortController();
  controller.abort(new Error("never mind"));
  await assert.rejects(
    connect({ port: listener.port, signal: controller.signal }),
    /never mind/,
  );
});

test("accept() timeout loses no connection", async () => {
  using listener = listen({ port: 0 });
  await assert.rejects(listener.accept({ timeout: 20 }), {
    name: "TimeoutError",
    message:
      `Cannot accept on 127.0.0.1:${listener.port}: timed out after 20 ms`,
  });
  await using client = await connect({ port: listener.port });
  await using server = await listener.accept({ timeout: 2000 });
  await client.write("hi\n");
  await client.flush();
  assert.equal(await server.readLine(), "hi");
});

test("accept() serves concurrent callers one connection each", async () => {
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

test("for await over a listener ends cleanly when it is closed", async () => {
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
  assert.equal(await bounded(loop, 2000, "the loop"), "ended");
  assert.deepEqual(seen, ["a", "b"]);
});

test("accept() on a closed listener throws ConnectionClosedError", async () => {
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

test("clients that close before accept() are handed over as ended streams, and accepting goes on", async () => {
  using listener = listen({ port: 0 });
  // Connect and close at once (a FIN, not a reset), before anything is
  // accepted: each is accepted in turn and reads as an empty stream.
  for (let i = 0; i < 5; i++) {
    const conn = await rawConnect(listener.port);
    conn.close();
  }
  await using good = await connect({ port: listener.port, timeout: 2000 });
  await good.write("still here\n");
  await good.flush();
  const lines: (string | null)[] = [];
  for (let i = 0; i < 6; i++) {
    await using server = await listener.accept({ timeout: 2000 });
    lines.push(await server.readLine({ timeout: 2000 }));
  }
  assert.deepEqual(lines, [null, null, null, null, null, "still here"]);
});

const havePython = await canRun("python3");

test(
  "a client that resets before accept() is skipped without a report: accept() returns the next client",
  async () => {
    const reports: unknown[] = [];
    using listener = listen({
      port: 0,
      onError: (error) => reports.push(error),
    });
    // SO_LINGER 0 makes close() send a reset instead of a FIN.
    const script = `
import socket, struct
for i in range(3):
    s = socket.create_connection(("127.0.0.1", ${listener.port}), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
print("ok")`;
    const out = await new Deno.Command("python3", {
      args: ["-c", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(
      new TextDecoder().decode(out.stdout).trim(),
      "ok",
      new TextDecoder().decode(out.stderr),
    );
    await using good = await connect({ port: listener.port, timeout: 2000 });
    await good.write("still here\n");
    await good.flush();
    await using server = await listener.accept({ timeout: 2000 });
    assert.equal(await server.readLine({ timeout: 2000 }), "still here");
    assert.deepEqual(reports, [], "a client that is gone is not reported");
  },
  { deadline: 15_000, ignore: !havePython },
);

test("connect() aborted while the connection is under way rejects with the signal's reason", async () => {
  using listener = listen({ port: 0, backlog: 1 });
  const held: Socket[] = [];
  try {
    // Fill the backlog until a connection attempt hangs.
    let full = false;
    for (let i = 0; i < 8 && !full; i++) {
      try {
        held.push(await connect({ port: listener.port, timeout: 150 }));
      } catch (error) {
        assert.ok(error instanceof TimeoutError, `got ${error}`);
        full = true;
      }
    }
    assert.ok(full, "the backlog never filled");
    const controller = new AbortController();
    const pending = connect({ port: listener.port, signal: controller.signal });
    setTimeout(() => controller.abort(new Error("changed my mind")), 50);
    await assert.rejects(
      bounded(pending, 3000, "connect()"),
      /^Error: changed my mind$/,
    );
  } finally {
    for (const socket of held) await socket.close({ abort: true });
  }
});

test("waitForInput() returns the ready sockets, or none on timeout", async () => {
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

test("waitForInput() on a listener tells when a connection is waiting", async () => {
  using listener = listen({ port: 0 });
  assert.deepEqual(await waitForInput(listener, { timeout: 20 }), []);
  await using client = await connect({ port: listener.port });
  assert.deepEqual(await waitForInput([listener], { timeout: 2000 }), [
    listener,
  ]);
  await using server = await listener.accept({ timeout: 10 });
  assert.equal(server.remoteAddr.port, client.localAddr.port);
  assert.deepEqual(await waitForInput(listener, { timeout: 20 }), []);
});

test("every SocketError keeps the Deno error as its cause", async () => {
  const listener = listen({ port: 0 });
  const port = listener.port;
  listener.close();
  const error = await connect({ port }).catch((e) => e);
  assert.ok(error instanceof SocketError);
  assert.ok(error.cause instanceof Deno.errors.ConnectionRefused);
});

test("timeouts are checked: a negative one is a RangeError", async () => {
  await using pair = await socketPair();
  await assert.rejects(pair.server.readLine({ timeout: -1 }), RangeError);
  await assert.rejects(
    connect({ port: pair.listener.port, timeout: Number.NaN }),
    RangeError,
  );
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

test(
  "connect() throws HostNotFoundError for a name that does not resolve",
  async () => {
    assert.match(
      await inProcess(
        ["--allow-net=no-such-host.invalid"],
        "connect",
        "no-such-host.invalid",
        "80",
      ),
      /^HostNotFoundError: Cannot connect to no-such-host\.invalid:80: host not found \(check the spelling of "no-such-host\.invalid"\)$/,
    );
  },
  { deadline: 15_000 },
);

test(
  "listen() and connect() without the grant throw PermissionError naming the flag",
  async () => {
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
  },
  { deadline: 15_000 },
);

test(
  "listen() with reusePort without --unstable-net is a TypeError naming the flag, not the end of the process",
  async () => {
    const mod = new URL("../mod.ts", import.meta.url).href;
    const code = `import { listen } from ${JSON.stringify(mod)};
try {
  listen({ port: 0, reusePort: true });
  console.log("listened");
} catch (error) {
  console.log(String(error));
}`;
    const { code: status, stdout } = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-config", "--quiet", "--allow-net=127.0.0.1", code],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(status, 0);
    assert.equal(
      new TextDecoder().decode(stdout).trim(),
      "TypeError: Cannot listen on 127.0.0.1:0 with reusePort: it needs --unstable-net",
    );
  },
  { deadline: 15_000 },
);

test(
  "listen() on an address this machine does not have throws AddressNotAvailableError",
  async () => {
    assert.equal(
      await inProcess(["--allow-net=192.0.2.1"], "listen", "192.0.2.1", "0"),
      "AddressNotAvailableError: Cannot listen on 192.0.2.1:0: address not available on this machine",
    );
  },
  { deadline: 15_000 },
);

/** A port that nothing listens on: one the OS just gave and took back. */
function freePort(): number {
  using listener = listen({ port: 0 });
  return listener.port;
}

test("connect() with a bad maxBufferSize throws RangeError and opens no connection", async () => {
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

test("listen() with a bad option throws before it listens", async () => {
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

test("listen() checks an options object again when it is used again, and uses it as it is then", async () => {
  const options: ListenOptions = { port: 0 };
  listen(options).close();
  options.hostname = "bad host";
  assert.throws(
    () => listen(options),
    /^TypeError: Cannot use hostname "bad host": it is not a host name/,
  );
  options.hostname = "127.0.0.1";
  options.backlog = 0;
  assert.throws(() => listen(options), /^RangeError: Cannot use backlog 0/);
  options.backlog = 1;
  options.maxBufferSize = 4;
  using listener = listen(options);
  await using client = await connect({ port: listener.port, timeout: 2000 });
  await using server = await listener.accept({ timeout: 2000 });
  await client.write("longer than four bytes\n");
  await client.flush();
  await assert.rejects(
    server.readLine({ timeout: 2000 }),
    LimitExceededError,
  );
});

test("new Listener() with a bad option closes the listener it was given", async () => {
  const bad: [ListenOptions, RegExp][] = [
    [{ maxBufferSize: 0 }, /^RangeError: Cannot use maxBufferSize 0/],
    [
      { hostname: "bad host" },
      /^TypeError: Cannot use hostname "bad host": it is not a host name/,
    ],
  ];
  for (const [options, message] of bad) {
    const deno = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    assert.throws(() => new Listener(deno, options), message);
    await assert.rejects(
      connect({ port: deno.addr.port }),
      ConnectionRefusedError,
    );
  }
});

test("connect() and listen() refuse bad ports and hosts with their own messages", async () => {
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

test(
  "listen() and connect() take a bracketed IPv6 host such as [::1]",
  async () => {
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
    assert.equal(line, "::1 ::1 ::1");
  },
  { deadline: 15_000, ignore: noIpv6 !== undefined },
);

test(
  "listen() queues 511 connections by default before any is accepted",
  async () => {
    using listener = listen({ port: 0 });
    const clients: Socket[] = [];
    try {
      for (let i = 0; i < 300; i++) {
        clients.push(await connect({ port: listener.port, timeout: 2000 }));
      }
      assert.equal(clients.length, 300);
    } finally {
      for (const client of clients) await client.close({ abort: true });
    }
  },
  { deadline: 15_000 },
);

test("close() drops a connection the listener had taken but not handed out", async () => {
  const listener = listen({ port: 0 });
  await using client = await connect({ port: listener.port, timeout: 2000 });
  assert.deepEqual(await waitForInput(listener, { timeout: 2000 }), [listener]);
  assert.equal(listener.hasInput, true);
  listener.close();
  assert.equal(listener.closed, true);
  assert.equal(listener.hasInput, true, "accept() would not wait");
  assert.equal(await client.readLine({ timeout: 2000 }), null);
  await assert.rejects(listener.accept(), ConnectionClosedError);
});

test("close() while an accept is bringing a connection in closes that connection: none is handed out", async () => {
  const listener = listen({ port: 0 });
  await using client = await connect({ port: listener.port, timeout: 2000 });
  // Starts the listener's accept, which finds the client in the backlog;
  // close() comes before that accept has handed its connection over.
  const waiting = listener.waitForInput({ timeout: 2000 });
  listener.close();
  assert.equal(await waiting, true);
  await assert.rejects(listener.accept(), ConnectionClosedError);
  assert.equal(await client.readLine({ timeout: 2000 }), null);
});

test("a Listener whose Deno listener is closed underneath ends its accepts with ConnectionClosedError", async () => {
  const deno = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const listener = new Listener(deno);
  const pending = listener.accept();
  deno.close();
  await assert.rejects(bounded(pending, 2000, "accept()"), (e) => {
    assert.ok(e instanceof ConnectionClosedError);
    assert.equal(
      e.message,
      `Cannot accept on 127.0.0.1:${deno.addr.port}: the listener is closed`,
    );
    assert.ok(e.cause instanceof Deno.errors.BadResource);
    return true;
  });
  assert.equal(listener.closed, true);
  // Closing it again keeps the first reason.
  listener.close();
  await assert.rejects(listener.accept(), (e) => {
    assert.ok(e instanceof ConnectionClosedError);
    assert.ok(e.cause instanceof Deno.errors.BadResource);
    return true;
  });
});

test("accept() after close() rejects with a ConnectionClosedError without a cause", async () => {
  const listener = listen({ port: 0 });
  listener.close();
  await assert.rejects(listener.accept(), (e) => {
    assert.ok(e instanceof ConnectionClosedError);
    assert.equal(
      e.message,
      `Cannot accept on 127.0.0.1:${listener.port}: the listener is closed`,
    );
    assert.equal(e.cause, undefined);
    return true;
  });
});

test("a Unix socket path refuses a host, a port, TLS and proxyProtocol, each by name", async () => {
  const path = "/nonexistent/sock-test.sock";
  const refusals: [Promise<unknown>, string][] = [
    [
      listen({ path, hostname: "127.0.0.1" } as never),
      `Cannot listen on ${path} with hostname: a Unix socket has a path only`,
    ],
    [
      listen({ path, port: 1 } as never),
      `Cannot listen on ${path} with port: a Unix socket has a path only`,
    ],
    [
      listen({ path, tls: { cert: "", key: "" } } as never),
      `Cannot listen on ${path} with tls: a Unix socket has a path only (Deno has no TLS over Unix sockets)`,
    ],
    [
      listen({ path, proxyProtocol: true } as never),
      `Cannot listen on ${path} with proxyProtocol: PROXY headers are read on TCP listeners only`,
    ],
    [
      connect({ path, hostname: "localhost" } as never),
      `Cannot connect to ${path} with hostname: a Unix socket has a path only`,
    ],
  ];
  for (const [pending, message] of refusals) {
    await assert.rejects(pending, { name: "TypeError", message });
  }
  // Without those, or with proxyProtocol false, the path gets past the
  // checks: what fails is opening it (here, the grant for the file).
  for (const options of [{ path }, { path, proxyProtocol: false }]) {
    await assert.rejects(listen(options as never), (e) => {
      assert.ok(e instanceof SocketError, `got ${e}`);
      return true;
    });
  }
});

test("listen() on TCP with proxyProtocol takes each client's address from its PROXY header", async () => {
  using listener = listen({ port: 0, proxyProtocol: true });
  const conn = await rawConnect(listener.port);
  try {
    await writeAllRaw(conn, "PROXY TCP4 192.0.2.7 127.0.0.1 40000 80\r\nhi\n");
    await using server = await listener.accept({ timeout: 2000 });
    assert.deepEqual(
      [server.remoteAddr.hostname, server.remoteAddr.port],
      ["192.0.2.7", 40000],
    );
    assert.equal(await server.readLine({ timeout: 2000 }), "hi");
  } finally {
    conn.close();
  }
});

test("connect() aborted before it completes rejects with the signal's reason as it is, even a Deno error", async () => {
  using listener = listen({ port: 0 });
  const controller = new AbortController();
  const reason = new Deno.errors.ConnectionReset("the caller's client left");
  const pending = connect({ port: listener.port, signal: controller.signal });
  controller.abort(reason);
  await assert.rejects(pending, (e) => {
    assert.equal(e, reason);
    return true;
  });
});

test("accept({ wait: true }) waits like accept()", async () => {
  using listener = listen({ port: 0 });
  assert.equal(listener.hostname, "127.0.0.1", "the default host");
  const accepting = listener.accept({ wait: true, timeout: 2000 });
  await using client = await connect({ port: listener.port, timeout: 2000 });
  await using server = await accepting;
  assert.ok(server !== null);
  await client.write("waited\n");
  await client.flush();
  assert.equal(await server.readLine({ timeout: 2000 }), "waited");
});

test("waitForInput() twice keeps the connection it found for accept(), and inspect shows the listener", async () => {
  using listener = listen({ port: 0 });
  assert.equal(Deno.inspect(listener), String(listener));
  await using first = await connect({ port: listener.port, timeout: 2000 });
  assert.equal(await listener.waitForInput({ timeout: 2000 }), true);
  assert.equal(await listener.waitForInput({ timeout: 2000 }), true);
  await using second = await connect({ port: listener.port, timeout: 2000 });
  await using a = await listener.accept({ timeout: 2000 });
  await using b = await listener.accept({ timeout: 2000 });
  assert.equal(a.remoteAddr.port, first.localAddr.port);
  assert.equal(b.remoteAddr.port, second.localAddr.port);
});

test("connect() with timeout: Infinity waits as long as it takes", async () => {
  using listener = listen({ port: 0 });
  await using client = await connect({
    port: listener.port,
    timeout: Infinity,
  });
  await using server = await listener.accept({ timeout: 2000 });
  assert.equal(server.remoteAddr.port, client.localAddr.port);
});

/** The most files this process may open (`ulimit -n`). */
const fileLimit = await (async () => {
  try {
    const { stdout } = await new Deno.Command("sh", {
      args: ["-c", "ulimit -n"],
      stdout: "piped",
    }).output();
    return Number(new TextDecoder().decode(stdout).trim());
  } catch {
    return Number.NaN;
  }
})();

test(
  "accept() through EMFILE in this process: one report per run of failures, a back-off, and accepting again once descriptors are freed",
  async () => {
    const reports: string[] = [];
    using listener = listen({
      port: 0,
      onError: (error, where) => {
        reports.push(`${where}: ${error.message}`);
      },
    });
    await using client = await connect({ port: listener.port, timeout: 2000 });
    await client.write("through\n");
    await client.flush();
    // Use up every descriptor; the client waits in the backlog meanwhile.
    await withoutDescriptors(async (free) => {
      const accepting = listener.accept({ timeout: 10_000 });
      // A failed assertion below must not leave it rejecting unheard.
      accepting.catch(() => {});
      await until(() => reports.length > 0);
      // Retries at 5, 10, 20, 40 ms… report nothing more.
      await delay(100);
      assert.equal(reports.length, 1, reports.join("\n"));
      assert.match(
        reports[0]!,
        /^listener on 127\.0\.0\.1:\d+ \(retrying\): Cannot accept on 127\.0\.0\.1:\d+: too many open files in this process/,
      );
      free();
      await using server = await accepting;
      assert.equal(await server.readLine({ timeout: 2000 }), "through");
    });
  },
  { ignore: !(fileLimit <= 65_536), deadline: 15_000 },
);

/**
 * Runs `body` with every file descriptor of this process in use, then
 * frees them; `free()` frees 20 early.
 */
async function withoutDescriptors(
  body: (free: () => void) => Promise<void>,
): Promise<void> {
  const files: Deno.FsFile[] = [];
  try {
    for (;;) {
      try {
        files.push(Deno.openSync("/dev/null"));
      } catch (error) {
        if (/too many open files/i.test(String(error))) break;
        throw error;
      }
    }
    await body(() => {
      for (const file of files.splice(0, 20)) file.close();
    });
  } finally {
    for (const file of files) file.close();
  }
}

test(
  "accept() failures back off from 5 ms, doubling, and without onError the run is one line on stderr",
  async () => {
    using listener = listen({ port: 0 });
    await using client = await connect({ port: listener.port, timeout: 2000 });
    // Deno's own listener: its accept() calls are what can be counted of
    // the retries. The calls go through to it.
    using probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const prototype = Object.getPrototypeOf(probe);
    const original = prototype.accept;
    const calls: number[] = [];
    const lines: string[] = [];
    const consoleError = console.error;
    prototype.accept = function (this: Deno.Listener) {
      calls.push(performance.now());
      return original.call(this);
    };
    console.error = (...args: unknown[]) => lines.push(args.join(" "));
    try {
      await withoutDescriptors(async (free) => {
        const accepting = listener.accept({ timeout: 10_000 });
        accepting.catch(() => {});
        await until(() => lines.length > 0);
        const first = calls.length;
        await delay(400);
        const retries = calls.length - first;
        // At 5, 15, 35, 75, 155 and 315 ms: 6 in 400 ms when timers are on
        // time, fewer when they are late. A fixed 5 ms would be about 80, a
        // first wait of 1 s none, a halving delay hundreds.
        assert.ok(
          retries >= 3 && retries <= 8,
          `${retries} retries in 400 ms`,
        );
        // A retry comes no sooner than its back-off: 5 ms, then double
        // the wait before it. Timers fire late under load, never early, so
        // only the lower bound is checked.
        const gaps = calls.slice(first - 1).map((t, i, all) =>
          i === 0 ? 0 : t - all[i - 1]!
        ).slice(1);
        gaps.forEach((gap, i) =>
          assert.ok(
            gap >= 5 * 2 ** i * 0.8,
            `wait ${i + 1} is at least ${5 * 2 ** i} ms: ${
              gaps.map(Math.round).join(", ")
            } ms`,
          )
        );
        assert.equal(lines.length, 1, lines.join("\n"));
        assert.match(
          lines[0]!,
          /^listener on 127\.0\.0\.1:\d+ \(retrying\): Cannot accept on 127\.0\.0\.1:\d+: too many open files in this process/,
        );
        free();
        await using server = await accepting;
        assert.equal(server.remoteAddr.port, client.localAddr.port);
      });
    } finally {
      prototype.accept = original;
      console.error = consoleError;
    }
  },
  { ignore: !(fileLimit <= 65_536), deadline: 15_000 },
);

test(
  "an onError that returns a rejected promise is ignored: accepting goes on",
  async () => {
    let reported = 0;
    using listener = listen({
      port: 0,
      onError: () => {
        reported++;
        return Promise.reject(new Error("the reporter broke"));
      },
    });
    await using client = await connect({ port: listener.port, timeout: 2000 });
    await withoutDescriptors(async (free) => {
      const accepting = listener.accept({ timeout: 10_000 });
      accepting.catch(() => {});
      await until(() => reported > 0);
      // An unhandled rejection would fail this test after its body.
      await delay(50);
      free();
      await using server = await accepting;
      assert.equal(server.remoteAddr.port, client.localAddr.port);
    });
    assert.equal(reported, 1);
  },
  { ignore: !(fileLimit <= 65_536), deadline: 15_000 },
);

test("what a listener or a server reports reaches onError as an Error: the same one, or a thrown value that is not one wrapped as its cause", () => {
  const got: [Error, string][] = [];
  const onError = (error: Error, where: string) => {
    got.push([error, where]);
  };
  const error = new ConnectionClosedError("gone");
  report(onError, error, "here");
  report(onError, 42, "there");
  assert.equal(got.length, 2);
  assert.equal(got[0]![0], error);
  assert.equal(got[0]![1], "here");
  const [wrapped, where] = got[1]!;
  assert.ok(wrapped instanceof Error);
  assert.equal(wrapped.message, "42");
  assert.equal(wrapped.cause, 42);
  assert.equal(where, "there");
});

test("waitForInput(): an empty list at once, a bad timeout refused, an abort throws its reason and leaves the sockets to read", async () => {
  assert.deepEqual(await waitForInput([]), []);
  await using a = await socketPair();
  await assert.rejects(waitForInput(a.server, { timeout: -1 }), {
    name: "RangeError",
    message: "Cannot use timeout -1: it must be a number of milliseconds >= 0",
  });
  const reason = new Error("stop");
  const stop = new AbortController();
  const waiting = waitForInput([a.server], { signal: stop.signal });
  stop.abort(reason);
  await assert.rejects(waiting, (e) => e === reason);
  await a.client.write("after\n");
  await a.client.flush();
  assert.deepEqual(await waitForInput(a.server, { timeout: 2000 }), [a.server]);
  assert.equal(await a.server.readLine({ timeout: 2000 }), "after");
});

test("waitForInput(): a socket whose peer resets, or that is closed while waiting, is ready, not an error of the wait", async () => {
  await using a = await socketPair();
  await using b = await socketPair();
  const waiting = waitForInput([a.server, b.server], { timeout: 2000 });
  await delay(10);
  await a.client.close({ abort: true });
  assert.deepEqual(await waiting, [a.server]);
  // Closed here while waiting: ready too (its read says it is closed).
  const again = waitForInput([b.server], { timeout: 2000 });
  await delay(10);
  await b.server.close();
  assert.deepEqual(await again, [b.server]);
});
