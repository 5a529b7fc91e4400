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
  ConnectionRefusedError,
  listen,
  listenDatagram,
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
