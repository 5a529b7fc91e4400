// Socket options and documented defaults, observed on real loopback
// connections: TCP_NODELAY and SO_KEEPALIVE, SO_REUSEPORT, serve()'s
// maxBufferSize and maxConnections, and a Socket over a Unix connection.
import assert from "node:assert/strict";
import {
  AddressInUseError,
  connect,
  LimitExceededError,
  listen,
  serve,
  type Socket,
} from "../mod.ts";
import { IdleClock } from "../lib/_idle.ts";
import { checkOptionName, TcpTuning } from "../lib/_tcp_tuning.ts";
import { WriteBuffer } from "../lib/_write_buffer.ts";
import { SocketError } from "../lib/errors.ts";
import { makeLocalhostCert } from "./_certs.ts";
import { canRun, delay, rawConnect, test, until } from "./_helpers.ts";
import { haveOpenssl, makeCerts } from "./_certs.ts";

const T = { timeout: 2000 };

/**
 * Records the `setNoDelay()` calls made on Deno's TCP connections while
 * `body` runs, per local port. The calls still go through to the real
 * connection: Deno cannot read TCP_NODELAY back, so the calls are what
 * can be seen of it.
 */
async function recordingNoDelay(
  body: (calls: Map<number, boolean[]>) => Promise<void>,
): Promise<void> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  using conn = await rawConnect(listener.addr.port);
  using _accepted = await listener.accept();
  const prototype = Object.getPrototypeOf(conn) as Deno.TcpConn;
  const original = prototype.setNoDelay;
  const calls = new Map<number, boolean[]>();
  prototype.setNoDelay = function (this: Deno.TcpConn, noDelay?: boolean) {
    const port = this.localAddr.port;
    calls.set(port, [...calls.get(port) ?? [], noDelay ?? true]);
    return original.call(this, noDelay);
  };
  try {
    await body(calls);
  } finally {
    prototype.setNoDelay = original;
  }
}

/**
 * The kernel's table of IPv4 TCP sockets, /proc/net/tcp, or undefined
 * where there is none. It is read through `cat`: Deno lets only a program
 * with every permission read /proc itself.
 */
async function tcpTable(): Promise<string | undefined> {
  try {
    const { success, stdout } = await new Deno.Command("cat", {
      args: ["/proc/net/tcp"],
      stdout: "piped",
      stderr: "null",
    }).output();
    return success ? new TextDecoder().decode(stdout) : undefined;
  } catch {
    return undefined;
  }
}

const haveProc = await tcpTable() !== undefined;

/**
 * Whether the kernel has a keep-alive timer armed (timer kind 2 in
 * /proc/net/tcp) on the established connection between `local` and
 * `remote` (an older one between the same ports may linger in TIME_WAIT).
 */
async function keepAliveArmed(
  local: Deno.NetAddr,
  remote: Deno.NetAddr,
): Promise<boolean> {
  const hex = (addr: Deno.NetAddr) =>
    `0100007F:${addr.port.toString(16).toUpperCase().padStart(4, "0")}`;
  const row = (await tcpTable())!.split("\n")
    .map((line) => line.trim().split(/\s+/))
    .find((fields) =>
      fields[1] === hex(local) && fields[2] === hex(remote) &&
      fields[3] === "01"
    );
  assert.ok(row, `no /proc/net/tcp row for ${hex(local)} ${hex(remote)}`);
  return row[5]!.startsWith("02:");
}

/** keepAliveArmed() for a socket's own connection. */
const armed = (socket: Socket<Deno.NetAddr>) =>
  keepAliveArmed(socket.localAddr, socket.remoteAddr);

async function exchangeTwice(a: Socket, b: Socket): Promise<void> {
  for (const word of ["one", "two"]) {
    await a.write(`${word}\n`);
    await a.flush();
    assert.equal(await b.readLine(T), word);
  }
}

test("connect() and accepted sockets turn TCP_NODELAY on before their second write", async () => {
  await recordingNoDelay(async (calls) => {
    using listener = listen({ port: 0 });
    await using client = await connect({ port: listener.port, ...T });
    await using server = await listener.accept(T);
    await client.write("first\n");
    await client.flush();
    assert.equal(await server.readLine(T), "first");
    assert.equal(calls.get(client.localAddr.port), undefined);
    await exchangeTwice(client, server);
    await exchangeTwice(server, client);
    assert.deepEqual(calls.get(client.localAddr.port), [true]);
    assert.deepEqual(calls.get(server.localAddr.port), [true]);
  });
});

test("noDelay: false keeps Nagle's algorithm on, for connect() and listen()", async () => {
  await recordingNoDelay(async (calls) => {
    using listener = listen({ port: 0, noDelay: false });
    await using client = await connect({
      port: listener.port,
      noDelay: false,
      ...T,
    });
    await using server = await listener.accept(T);
    await exchangeTwice(client, server);
    await exchangeTwice(server, client);
    // The connect() socket and the accepted one share the local port of
    // the listener, so the accepted one is told by its remote port.
    assert.deepEqual(calls.get(client.localAddr.port), [false]);
    assert.deepEqual(
      calls.get(listener.port),
      [false],
      "the accepted socket",
    );
  });
});

test("setNoDelay() before the first write is kept: no TCP_NODELAY behind the caller's back", async () => {
  await recordingNoDelay(async (calls) => {
    using listener = listen({ port: 0 });
    await using client = await connect({ port: listener.port, ...T });
    await using server = await listener.accept(T);
    client.setNoDelay(false);
    await exchangeTwice(client, server);
    assert.deepEqual(calls.get(client.localAddr.port), [false]);
    client.setNoDelay(true);
    assert.deepEqual(calls.get(client.localAddr.port), [false, true]);
  });
});

test(
  "keepAlive: true arms the kernel's keep-alive timer, for connect() and accepted sockets; the default does not",
  async () => {
    {
      using listener = listen({ port: 0 });
      await using client = await connect({ port: listener.port, ...T });
      await using server = await listener.accept(T);
      assert.equal(await armed(client), false);
      assert.equal(await armed(server), false);
      client.setKeepAlive(true);
      assert.equal(await armed(client), true);
      client.setKeepAlive(false);
      assert.equal(await armed(client), false);
    }
    using listener = listen({ port: 0, keepAlive: true });
    await using client = await connect({
      port: listener.port,
      keepAlive: true,
      ...T,
    });
    await using server = await listener.accept(T);
    assert.equal(await armed(client), true);
    assert.equal(await armed(server), true);
  },
  { ignore: !haveProc },
);

const opensslFound = await haveOpenssl();

test(
  "a TLS client's TCP connection gets TCP_NODELAY by default and SO_KEEPALIVE with keepAlive: true",
  async () => {
    await using c = await makeCerts();
    using listener = listen({
      port: 0,
      tls: { cert: c.serverCert, key: c.serverKey },
    });
    const tls = { caCerts: [c.caCert] };
    await recordingNoDelay(async (calls) => {
      for (const keepAlive of [false, true]) {
        const accepting = listener.accept(T);
        await using client = await connect({
          hostname: "localhost",
          port: listener.port,
          tls,
          ...(keepAlive ? { keepAlive } : {}),
          ...T,
        });
        await using server = await accepting;
        // Read before any data is in flight, which would show the
        // retransmission timer instead.
        if (haveProc) assert.equal(await armed(client), keepAlive);
        await exchangeTwice(client, server);
        assert.deepEqual(calls.get(client.localAddr.port), [true]);
      }
    });
  },
  // Making the certificates takes openssl a few seconds on a busy machine.
  { ignore: !opensslFound, deadline: 15_000 },
);

test("reusePort lets two listeners share a port; without it the second is refused", async () => {
  using first = listen({ port: 0, reusePort: true });
  using second = listen({ port: first.port, reusePort: true });
  assert.equal(second.port, first.port);
  assert.throws(() => listen({ port: first.port }), AddressInUseError);
  await using server = serve(() => {}, { port: first.port, reusePort: true });
  assert.equal(server.port, first.port);
});

test("serve() buffers at most 1 MiB per connection by default", async () => {
  const limits: unknown[] = [];
  await using server = serve(async (socket) => {
    try {
      await socket.readLine({ maxLength: 1 << 30, ...T });
      await socket.write("line\n");
    } catch (error) {
      limits.push(error instanceof LimitExceededError ? error.limit : error);
      await socket.write(`${(error as Error).name}\n`);
    }
  }, { port: 0 });
  {
    // A line of 1 MiB less its line end fits.
    await using client = await connect({ port: server.port, ...T });
    await client.write(`${"x".repeat(1024 * 1024 - 1)}\n`);
    await client.flush();
    assert.equal(await client.readLine(T), "line");
  }
  await using client = await connect({ port: server.port, ...T });
  const sending = client.write("x".repeat(1024 * 1024 + 1)).then(() =>
    client.flush()
  ).catch(() => {});
  assert.equal(await client.readLine(T), "LimitExceededError");
  await sending;
  assert.deepEqual(limits, [1024 * 1024]);
});

test("serve() handles at most 1024 connections at once by default", async () => {
  const release: (() => void)[] = [];
  let started = 0;
  await using server = serve(async (socket) => {
    started++;
    await new Promise<void>((resolve) => release.push(resolve));
    await socket.write("served\n");
  }, { port: 0, onError: () => {} });
  const clients: Socket[] = [];
  try {
    for (let i = 0; i < 1025; i++) {
      clients.push(await connect({ port: server.port, ...T }));
    }
    await until(() => started === 1024, 5000);
    await delay(50);
    assert.equal(started, 1024, "the 1025th waits in the backlog");
    assert.equal(server.active, 1024);
    release.shift()!();
    assert.equal(await clients[0]!.readLine(T), "served");
    await until(() => started === 1025, 5000);
  } finally {
    for (const resolve of release) resolve();
    for (const client of clients) await client.close({ abort: true });
  }
});

test(
  "serve()'s idleTimeout is not short by default: a client quiet for 1.5 s is still served",
  async () => {
    await using server = serve(async (socket) => {
      const line = await socket.readLine(T);
      await socket.write(`got ${line}\n`);
    }, { port: 0 });
    await using client = await connect({ port: server.port, ...T });
    // The sweeper looks every second at the default (30 s) timeout.
    await delay(1500);
    await client.write("late\n");
    await client.flush();
    assert.equal(await client.readLine(T), "got late");
  },
  { deadline: 15_000 },
);

/** Runs tests/fixtures/wrapped_conn.ts with `grants`; returns what it printed. */
async function wrappedConn(grants: string[], ...args: string[]) {
  const { stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-config",
      "--no-prompt",
      ...grants,
      new URL("./fixtures/wrapped_conn.ts", import.meta.url).pathname,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout).trim();
  try {
    return JSON.parse(out);
  } catch {
    throw new Error(`${out}${new TextDecoder().decode(stderr)}`);
  }
}

const EXCHANGED = {
  options: ["TypeError", "TypeError"],
  line: "hello",
  bytes: [1, 2, 3],
  reply: "reply",
  end: null,
  closed: true,
};

test("new Socket() wraps a Unix connection, as documented: lines and bytes both ways, TCP options refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Deno asks for net access to a Unix socket's path.
    const result = await wrappedConn(
      ["--allow-read", "--allow-write", "--allow-net"],
      "unix",
      `${dir}/sock`,
    );
    assert.deepEqual(result, { transport: "unix", ...EXCHANGED });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("new Socket() wraps a TLS connection, as documented", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await makeLocalhostCert(dir);
    const result = await wrappedConn(
      [`--allow-read=${dir}`, "--allow-net=127.0.0.1,localhost"],
      "tls",
      `${dir}/cert.pem`,
      `${dir}/key.pem`,
    );
    assert.deepEqual(result, { transport: "tcp", ...EXCHANGED });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}, { ignore: !await canRun("openssl", ["version"]) });

test(
  "TCP tuning: settle() leaves the caller's noDelay alone, keepAlive leaves TCP_NODELAY due, a closed socket's options are refused",
  async () => {
    await recordingNoDelay(async (calls) => {
      using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const conn = await rawConnect(listener.addr.port);
      using _accepted = await listener.accept();
      const open = { closed: false, closeError: undefined, peer: "the peer" };
      const sink = () =>
        new WriteBuffer(conn, () => "the peer", new IdleClock(), {
          resetSeen: undefined,
        });
      const port = conn.localAddr.port;
      const tuning = new TcpTuning(conn, sink());
      tuning.set("noDelay", false, open);
      tuning.settle();
      assert.deepEqual(calls.get(port), [false], "settled by the caller");
      const other = new TcpTuning(conn, sink());
      other.set("keepAlive", true, open);
      assert.equal(other.keepAlive, true);
      other.settle();
      assert.deepEqual(calls.get(port), [false, true], "still due");
      assert.throws(
        () => other.set("noDelay", false, { ...open, closed: true }),
        {
          name: "ConnectionClosedError",
          message:
            "Cannot set TCP_NODELAY on the connection to the peer: the socket is closed",
        },
      );
      assert.deepEqual(calls.get(port), [false, true], "nothing was set");
      conn.close();
      assert.throws(
        () => other.set("keepAlive", false, open),
        (error: unknown) =>
          error instanceof SocketError &&
          error.message.includes(
            "set SO_KEEPALIVE on the connection to the peer",
          ),
      );
      assert.equal(other.keepAlive, true, "a failed setting is not recorded");
      assert.throws(() => checkOptionName(Symbol("nodelay"), "set", conn), {
        name: "TypeError",
        message:
          'Cannot set the socket option Symbol(nodelay): the options are "noDelay" and "keepAlive"',
      });
    });
  },
);
