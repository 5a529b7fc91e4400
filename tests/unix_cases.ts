// Unix domain sockets in this process: stream listen/connect/serve on a
// path, stale socket files, datagram sockets on a path. Deno grants a
// socket path only as an exact file (--allow-net=unix:FILE), so
// tests/unix_test.ts runs this file with `deno test` in a child process,
// granting UNIX_CASE_FILES in a temporary directory it names in
// SOCK_UNIX_DIR; without it, the cases are skipped with one line.
import assert from "node:assert/strict";
import {
  AddressInUseError,
  connect,
  ConnectionClosedError,
  ConnectionRefusedError,
  LimitExceededError,
  listen,
  listenDatagram,
  PermissionError,
  serve,
  SocketError,
  TimeoutError,
} from "../mod.ts";
import { delay, test, until } from "./_helpers.ts";
export { UNIX_CASE_FILES } from "./_unix_files.ts";

const envDir = Deno.permissions.querySync({
    name: "env",
    variable: "SOCK_UNIX_DIR",
  }).state === "granted"
  ? Deno.env.get("SOCK_UNIX_DIR")
  : undefined;
const active = envDir !== undefined;
if (!active) {
  console.log(
    "Unix cases skipped: tests/unix_test.ts runs them with their socket files granted",
  );
}
const base = envDir ?? "";

function unixTest(name: string, fn: () => Promise<void>): void {
  test(name, fn, { ignore: !active });
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Leaves a socket file that nothing holds, as a crashed server does. */
function staleSocketFile(path: string): void {
  // Deno's datagram close does not remove its file.
  Deno.listenDatagram({ transport: "unixpacket", path }).close();
  assert.equal(Deno.lstatSync(path).isSocket, true);
}

unixTest(
  "Unix: listen, connect and accept on a path; close removes the file",
  async () => {
    const path = `${base}/s.sock`;
    const listener = await listen({ path });
    try {
      assert.equal(listener.path, path);
      assert.equal(listener.port, undefined);
      assert.deepEqual(listener.addr, { transport: "unix", path });
      assert.equal(
        String(listener),
        `#<passive socket waiting for connection at ${path}>`,
      );
      await using client = await connect({ path, timeout: 2000 });
      await using server = await listener.accept({ timeout: 2000 });
      assert.deepEqual(client.remoteAddr, { transport: "unix", path });
      assert.deepEqual(server.localAddr, { transport: "unix", path });
      // The accepted side's peer has no name: messages say whose client it is.
      await assert.rejects(server.readLine({ timeout: 1 }), {
        name: "TimeoutError",
        message:
          `Cannot read a line from the client of ${path}: timed out after 1 ms`,
      });
      await assert.rejects(client.readLine({ timeout: 1 }), {
        name: "TimeoutError",
        message: `Cannot read a line from ${path}: timed out after 1 ms`,
      });
      await client.write("1 3 ");
      await client.closeWrite();
      assert.equal(await server.readLine({ timeout: 2000 }), "1 3 ");
      await server.write("4");
      await server.flush();
      await server.close();
      assert.equal(await client.readLine({ timeout: 2000 }), "4");
      assert.equal(await client.readLine({ timeout: 2000 }), null);
      assert.throws(() => client.setOption("noDelay", true), /Unix socket/);
      await assert.rejects(
        client.startTls(),
        /only a TCP socket can be upgraded/,
      );
    } finally {
      listener.close();
    }
    assert.equal(exists(path), false);
  },
);

unixTest(
  "Unix: serve() on a path runs handlers concurrently; shutdown removes the file",
  async () => {
    const path = `${base}/echo.sock`;
    const server = await serve(async (socket) => {
      const line = await socket.readLine({ timeout: 2000 });
      await socket.write(`echo ${line}\n`);
    }, { path });
    assert.equal(server.path, path);
    assert.equal(server.port, undefined);
    const replies = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        await using client = await connect({ path, timeout: 2000 });
        await client.write(`${i}\n`);
        await client.flush();
        return await client.readLine({ timeout: 2000 });
      }),
    );
    assert.deepEqual(
      replies,
      Array.from({ length: 20 }, (_, i) => `echo ${i}`),
    );
    await server.shutdown();
    assert.equal(exists(path), false);
  },
);

unixTest(
  "Unix: serve() names its path in the shutdown signal's reason, and a client as a Unix client in reports",
  async () => {
    const path = `${base}/report.sock`;
    const reported: string[] = [];
    let waiting = false;
    let reason: unknown;
    const server = await serve(async (socket, { signal }) => {
      const line = await socket.readLine({ timeout: 2000 });
      if (line === "fail") throw new Error("bad request");
      waiting = true;
      await new Promise((resolve) => signal.addEventListener("abort", resolve));
      reason = signal.reason;
    }, {
      path,
      onError: (error, where) => reported.push(`${where}: ${error.message}`),
    });
    try {
      await using failing = await connect({ path, timeout: 2000 });
      await failing.write("fail\n");
      await failing.flush();
      assert.equal(await failing.readLine({ timeout: 2000 }), null);
      assert.deepEqual(reported, ["handler for a Unix client: bad request"]);
      await using client = await connect({ path, timeout: 2000 });
      await client.write("wait\n");
      await client.flush();
      await until(() => waiting);
    } finally {
      await server.shutdown();
    }
    assert.ok(reason instanceof Error);
    assert.equal(
      reason.message,
      `Cannot go on serving on ${path}: the server is shutting down`,
    );
  },
);

unixTest("Unix: a stale socket file is removed and listened on", async () => {
  const path = `${base}/stale.sock`;
  staleSocketFile(path);
  await assert.rejects(connect({ path }), ConnectionRefusedError);
  using listener = await listen({ path });
  await using _client = await connect({ path, timeout: 2000 });
  await using server = await listener.accept({ timeout: 2000 });
  assert.equal(server.localAddr.path, path);
});

unixTest(
  "Unix: a live server's path is an AddressInUseError naming it; the server is untouched",
  async () => {
    const path = `${base}/live.sock`;
    using first = await listen({ path });
    const error = await listen({ path }).catch((e) => e);
    assert.ok(error instanceof AddressInUseError, String(error));
    assert.equal(
      error.message,
      `Cannot listen on ${path}: a running program's socket is bound there (stop it first, or choose another path)`,
    );
    // The probe's connection is the only one the first server saw.
    await using probe = await first.accept({ timeout: 2000 });
    assert.equal(await probe.readLine({ timeout: 2000 }), null);
    await using client = await connect({ path, timeout: 2000 });
    await using server = await first.accept({ timeout: 2000 });
    await client.write("still here\n");
    await client.flush();
    assert.equal(await server.readLine({ timeout: 2000 }), "still here");
  },
);

unixTest("Unix: a file that is not a socket is never removed", async () => {
  const path = `${base}/data.txt`;
  await Deno.writeTextFile(path, "precious");
  for (const open of [() => listen({ path }), () => listenDatagram({ path })]) {
    const error = await open().catch((e) => e);
    assert.ok(error instanceof AddressInUseError, String(error));
    assert.match(
      error.message,
      /a file that is not a socket is there; it is left alone/,
    );
    assert.ok(error.message.includes(path));
  }
  assert.equal(await Deno.readTextFile(path), "precious");
});

unixTest("Unix: connecting to a missing path, and bad paths", async () => {
  const error = await connect({ path: `${base}/none.sock` }).catch((e) => e);
  assert.ok(error instanceof SocketError, String(error));
  assert.match(
    error.message,
    /none\.sock: no such socket file \(is the server running\?\)$/,
  );
  await assert.rejects(
    listen({ path: `${base}/${"x".repeat(120)}` }),
    RangeError,
  );
  await assert.rejects(listen({ path: "\0abstract" }), /abstract socket name/);
  await assert.rejects(connect({ path: "" }), TypeError);
  await assert.rejects(
    connect({ path: `${base}/none.sock`, tls: {} } as never),
    /^TypeError: Cannot connect to .*none\.sock with tls: a Unix socket has a path only \(Deno has no TLS over Unix sockets\)$/,
  );
  await assert.rejects(
    listen({ path: `${base}/none.sock`, port: 80 } as never),
    /with port: a Unix socket has a path only/,
  );
});

unixTest(
  "Unix datagrams: boundaries kept, replies to the sender's path, close removes the file",
  async () => {
    const a = await listenDatagram({ path: `${base}/a.sock` });
    const b = await listenDatagram({ path: `${base}/b.sock` });
    try {
      assert.equal(a.addr.transport, "unixpacket");
      await a.send("one", b.path);
      await a.send(new Uint8Array([1, 2, 3]), b.addr);
      const first = await b.receive({ timeout: 2000 });
      const second = await b.receive({ timeout: 2000 });
      assert.equal(new TextDecoder().decode(first.data), "one");
      assert.deepEqual(second.data, new Uint8Array([1, 2, 3]));
      assert.equal(first.remoteAddr.path, a.path);
      await b.send("back", first.remoteAddr);
      assert.equal(
        new TextDecoder().decode((await a.receive({ timeout: 2000 })).data),
        "back",
      );
      assert.equal(String(b), `#<datagram socket at ${b.path}>`);
    } finally {
      a.close();
      b.close();
    }
    assert.equal(exists(`${base}/a.sock`), false);
    assert.equal(exists(`${base}/b.sock`), false);
  },
);

unixTest("Unix datagrams: a timed-out receive loses nothing", async () => {
  using a = await listenDatagram({ path: `${base}/a.sock` });
  using b = await listenDatagram({ path: `${base}/b.sock` });
  await assert.rejects(b.receive({ timeout: 20 }), TimeoutError);
  await a.send("late", b.path);
  await delay(20);
  assert.equal(b.hasInput, true);
  assert.equal(
    new TextDecoder().decode((await b.receive({ timeout: 2000 })).data),
    "late",
  );
});

unixTest(
  "Unix datagrams: a stale file is reused, a live one refused, a stream socket told apart",
  async () => {
    const path = `${base}/d.sock`;
    staleSocketFile(path);
    using socket = await listenDatagram({ path });
    const error = await listenDatagram({ path }).catch((e) => e);
    assert.ok(error instanceof AddressInUseError, String(error));
    assert.match(error.message, /a socket is bound there/);
    using stream = await listen({ path: `${base}/stream.sock` });
    await assert.rejects(
      socket.send("x", `${base}/stream.sock`),
      /it is a stream socket, not a datagram socket/,
    );
    await assert.rejects(
      connect({ path }),
      /it is a datagram socket, not a stream socket/,
    );
    await assert.rejects(
      socket.send("x", `${base}/none.sock`),
      /no socket is bound there/,
    );
    await assert.rejects(
      socket.send(
        "x",
        { transport: "unixpacket", path: null } as unknown as Deno.UnixAddr,
      ),
      /cannot be answered/,
    );
    assert.ok(stream.path);
  },
);

unixTest(
  "Unix: each bad path gets the error that says what to do",
  async () => {
    const flags = (path: string) =>
      `--allow-read=${path} --allow-write=${path} --allow-net=unix:${path}`;
    await assert.rejects(connect({ path: "" }), {
      name: "TypeError",
      message: 'Cannot use path "": it must name a socket file',
    });
    await assert.rejects(listen({ path: 42 as unknown as string }), {
      name: "TypeError",
      message: "Cannot use path 42: it must name a socket file",
    });
    await assert.rejects(listen({ path: "relative.sock" }), {
      name: "TypeError",
      message:
        "Cannot use path relative.sock: a socket path must be absolute (start with /), as Deno's --allow-net=unix:PATH grant takes only absolute paths",
    });
    // 107 bytes is the most a path has; one more is a RangeError.
    const longest = `${base}/${"x".repeat(106 - base.length)}`;
    assert.equal(new TextEncoder().encode(longest).length, 107);
    await assert.rejects(listen({ path: `${longest}y` }), {
      name: "RangeError",
      message:
        `Cannot use path ${longest}y: a socket path has at most 107 bytes (use a shorter directory)`,
    });
    // A path of 107 bytes is taken: this one is not granted.
    for (
      const [open, action] of [
        [() => listen({ path: longest }), `listen on ${longest}`],
        [
          () => listenDatagram({ path: longest }),
          `listen for datagrams on ${longest}`,
        ],
      ] as const
    ) {
      const error = await open().catch((e) => e);
      assert.ok(error instanceof PermissionError, String(error));
      assert.equal(
        error.message,
        `Cannot ${action}: permission denied, run again with ${flags(longest)}`,
      );
      assert.ok(error.cause instanceof Deno.errors.NotCapable);
    }
    // A granted path in a directory that does not exist.
    const nodir = `${base}/nodir/x.sock`;
    for (
      const [open, action] of [
        [() => listen({ path: nodir }), `listen on ${nodir}`],
        [
          () => listenDatagram({ path: nodir }),
          `listen for datagrams on ${nodir}`,
        ],
      ] as const
    ) {
      const error = await open().catch((e) => e);
      assert.ok(error instanceof SocketError, String(error));
      assert.equal(
        error.message,
        `Cannot ${action}: the directory ${base}/nodir does not exist (create it first)`,
      );
      assert.ok(error.cause instanceof Deno.errors.NotFound);
    }
    // With a timeout, and with none at all: the same error for a missing file.
    const none = `${base}/none.sock`;
    for (const timeout of [2000, Infinity]) {
      await assert.rejects(connect({ path: none, timeout }), {
        name: "SocketError",
        message:
          `Cannot connect to ${none}: no such socket file (is the server running?)`,
      });
    }
    // A socket file nothing holds refuses; the error says where.
    const stale = `${base}/stale.sock`;
    staleSocketFile(stale);
    try {
      await assert.rejects(connect({ path: stale }), {
        name: "ConnectionRefusedError",
        message:
          `Cannot connect to ${stale}: connection refused (is a server listening there?)`,
      });
    } finally {
      Deno.removeSync(stale);
    }
    await assert.rejects(
      listenDatagram({ path: `${base}/a.sock`, maxDatagramSize: 1.5 }),
      {
        name: "RangeError",
        message:
          "Cannot use maxDatagramSize 1.5: it must be a whole number >= 1",
      },
    );
  },
);

unixTest(
  "Unix datagrams: sends that fail say why, with Deno's error as the cause",
  async () => {
    using a = await listenDatagram({ path: `${base}/a.sock` });
    const none = `${base}/none.sock`;
    let error = await a.send("x", none).catch((e) => e);
    assert.ok(error instanceof SocketError, String(error));
    assert.equal(
      error.message,
      `Cannot send to ${none}: no socket is bound there`,
    );
    assert.ok(error.cause instanceof Deno.errors.NotFound);
    // Not granted.
    const other = `${base}/other.sock`;
    error = await a.send("x", other).catch((e) => e);
    assert.ok(error instanceof PermissionError, String(error));
    assert.equal(
      error.message,
      `Cannot send to ${other}: permission denied, run again with --allow-write=${other} --allow-net=unix:${other}`,
    );
    assert.ok(error.cause instanceof Deno.errors.NotCapable);
    // A stream socket there.
    const streamPath = `${base}/stream.sock`;
    {
      using _stream = await listen({ path: streamPath });
      error = await a.send("x", streamPath).catch((e) => e);
      assert.ok(error instanceof SocketError, String(error));
      assert.equal(
        error.message,
        `Cannot send to ${streamPath}: it is a stream socket, not a datagram socket (connect to it instead)`,
      );
      assert.ok(error.cause instanceof Error);
    }
    // A datagram socket file nothing holds refuses.
    const stale = `${base}/d.sock`;
    staleSocketFile(stale);
    try {
      error = await a.send("x", stale).catch((e) => e);
      assert.ok(error instanceof ConnectionRefusedError, String(error));
      assert.equal(
        error.message,
        `Cannot send to ${stale}: connection refused (is a server listening there?)`,
      );
    } finally {
      Deno.removeSync(stale);
    }
    // More than one datagram can hold.
    using b = await listenDatagram({ path: `${base}/b.sock` });
    const big = new Uint8Array(1 << 20);
    error = await a.send(big, b.path).catch((e) => e);
    assert.ok(error instanceof LimitExceededError, String(error));
    assert.equal(
      error.message,
      `Cannot send to ${b.path}: 1048576 bytes are too many for one datagram`,
    );
    assert.equal(error.limit, 1048576);
    assert.ok(error.cause instanceof Error);
    // A sender that bound no path cannot be answered, however it is given.
    await assert.rejects(
      a.send("x", { transport: "unixpacket" } as unknown as Deno.UnixAddr),
      /cannot be answered/,
    );
    // And the stream side: a datagram socket is not for connect().
    error = await connect({ path: b.path }).catch((e) => e);
    assert.ok(error instanceof SocketError, String(error));
    assert.match(error.message, /it is a datagram socket, not a stream socket/);
    assert.ok(error.cause instanceof Error);
  },
);

unixTest(
  "Unix datagrams: close() ends a waiting receive, then sends and receives fail at once",
  async () => {
    const path = `${base}/a.sock`;
    const a = await listenDatagram({ path });
    using b = await listenDatagram({ path: `${base}/b.sock` });
    assert.equal(a.closed, false);
    assert.equal(a.hasInput, false);
    await b.send("one", path);
    // receive() with no options at all.
    assert.equal(new TextDecoder().decode((await a.receive()).data), "one");
    await assert.rejects(a.receive({ timeout: 20 }), {
      name: "TimeoutError",
      message: `Cannot receive on ${path}: timed out after 20 ms`,
    });
    const waiting = a.receive({ timeout: 2000 }).catch((e) => e);
    await delay(10);
    a.close();
    a.close();
    const error = await waiting;
    assert.ok(error instanceof ConnectionClosedError, String(error));
    assert.equal(
      error.message,
      `Cannot receive on ${path}: the socket is closed`,
    );
    assert.ok(error.cause instanceof Error, "Deno's error is the cause");
    assert.equal(a.closed, true);
    assert.equal(a.hasInput, true);
    assert.equal(String(a), `#<datagram socket closed, was at ${path}>`);
    await assert.rejects(a.receive(), {
      name: "ConnectionClosedError",
      message: `Cannot receive on ${path}: the socket is closed`,
    });
    await assert.rejects(a.send("x", b.path), {
      name: "ConnectionClosedError",
      message: `Cannot send to ${b.path}: the socket is closed`,
    });
    assert.equal(exists(path), false);
  },
);

unixTest(
  "Unix datagrams: close() leaves a file or a socket that took the socket's place",
  async () => {
    const path = `${base}/a.sock`;
    const socket = await listenDatagram({ path });
    Deno.removeSync(path);
    await Deno.writeTextFile(path, "not ours");
    socket.close();
    assert.equal(await Deno.readTextFile(path), "not ours");
    Deno.removeSync(path);
    // Closed with no receive waiting: receive() would not wait.
    const first = await listenDatagram({ path });
    first.close();
    assert.equal(first.hasInput, true);
    // Closing again leaves alone the socket now bound there.
    using second = await listenDatagram({ path });
    first.close();
    assert.equal(Deno.lstatSync(path).isSocket, true);
    assert.equal(second.closed, false);
  },
);
