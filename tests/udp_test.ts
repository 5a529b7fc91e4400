import assert from "node:assert/strict";
import {
  AddressInUseError,
  connectDatagram,
  ConnectionClosedError,
  DatagramSocket,
  LimitExceededError,
  listenDatagram,
  MAX_DATAGRAM_SIZE,
  PermissionError,
  TimeoutError,
} from "../mod.ts";
import { bounded, delay, pattern, test } from "./_helpers.ts";

const bytes = (...values: number[]) => new Uint8Array(values);

test("receive() returns the payload and the sender's address", async () => {
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

test("receive() timeouts never lose a datagram", async () => {
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

test("connectDatagram() sends to its peer and drops datagrams from strangers", async () => {
  using server = listenDatagram({ port: 0 });
  using stranger = listenDatagram({ port: 0 });
  using client = connectDatagram({ remotePort: server.port });
  assert.equal(client.remoteAddr?.port, server.port);
  await client.send(bytes(9));
  const { remoteAddr } = await server.receive({ timeout: 2000 });
  // On loopback a datagram is queued at the receiver before send()
  // resolves, so these arrive in this order: a stranger's, the peer's,
  // a stranger's, the peer's.
  await stranger.send(bytes(66), client.addr);
  await server.send(bytes(7), remoteAddr);
  await stranger.send(bytes(67), client.addr);
  await server.send(bytes(8), remoteAddr);
  assert.deepEqual((await client.receive({ timeout: 2000 })).data, bytes(7));
  assert.deepEqual((await client.receive({ timeout: 2000 })).data, bytes(8));
  await assert.rejects(client.receive({ timeout: 50 }), TimeoutError);
  assert.match(
    String(client),
    /^#<datagram socket connected from 127\.0\.0\.1\/\d+ to 127\.0\.0\.1\/\d+>$/,
  );
});

test("send() carries the largest datagram whole and refuses a larger one", async () => {
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

test("one datagram server answers many concurrent clients correctly", async () => {
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
  await bounded(serving, 2000, "the server loop");
});

test("close() during a pending receive rejects it and ends iteration", async () => {
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
  // The error names the closing, and keeps what Deno said as its cause.
  await assert.rejects(
    pending,
    (e) =>
      e instanceof ConnectionClosedError &&
      e.message ===
        `Cannot receive on 127.0.0.1:${socket.port}: the socket is closed` &&
      e.cause instanceof Error,
  );
  assert.equal(await bounded(iterated, 2000, "the loop"), 0);
  await assert.rejects(
    socket.send(bytes(1), socket.addr),
    ConnectionClosedError,
  );
  assert.match(
    String(socket),
    /^#<datagram socket closed, was at 127\.0\.0\.1\/\d+>$/,
  );
});

test("waitForInput() on a datagram socket tells when one is ready", async () => {
  using server = listenDatagram({ port: 0 });
  using client = listenDatagram({ port: 0 });
  assert.equal(await server.waitForInput({ timeout: 10 }), false);
  await client.send(bytes(5), server.addr);
  assert.equal(await server.waitForInput({ timeout: 2000 }), true);
  assert.deepEqual((await server.receive({ timeout: 10 })).data, bytes(5));
});

test("listenDatagram() without --unstable-net says to add it", async () => {
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
}, { deadline: 15_000 });

test(
  "send() without the grant for its destination names the flag",
  async () => {
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
  },
  { deadline: 15_000 },
);

test(
  "receive() payloads stay the caller's: later datagrams never overwrite them",
  async () => {
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
  },
  { deadline: 15_000 },
);

test("connectDatagram() takes localhost in any case", async () => {
  using server = listenDatagram({ port: 0 });
  using client = connectDatagram({
    remoteHostname: "LocalHost",
    remotePort: server.port,
  });
  assert.equal(client.addr.hostname, "127.0.0.1");
  await client.send(bytes(1, 2));
  const { data, remoteAddr } = await server.receive({ timeout: 2000 });
  await server.send(data.reverse(), remoteAddr);
  assert.deepEqual((await client.receive({ timeout: 2000 })).data, bytes(2, 1));
});

/**
 * Runs one case of the datagram fixture in a process with exactly `grant`
 * (and --unstable-net); returns the JSON line it prints.
 */
async function datagramCase(
  grant: string,
  ...args: string[]
): Promise<Record<string, unknown>> {
  const { stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-config",
      "--no-prompt",
      "--unstable-net",
      grant,
      new URL("./fixtures/datagram_case.ts", import.meta.url).pathname,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  try {
    return JSON.parse(out);
  } catch {
    throw new Error(
      `${args.join(" ")} printed ${out}${new TextDecoder().decode(stderr)}`,
    );
  }
}

test(
  "connectDatagram() hears its peer however the address is spelled, bound on the loopback of its family",
  async () => {
    const cases: [string, string, string, ...string[]][] = [
      ["::1", "0:0:0:0:0:0:0:1", "::1"],
      ["::1", "::1", "::1", "[::1]"],
      ["::1", "::0001", "::1"],
      ["::1", "[::1]", "::1"],
      ["::1", "0000:0000::0:1", "::1"],
      ["127.0.0.1", "::ffff:127.0.0.1", "127.0.0.1"],
      ["127.0.0.1", "::FFFF:7f00:1", "127.0.0.1"],
    ];
    const results = await Promise.all(
      cases.map(([server, remote, , ...local]) =>
        datagramCase(
          "--allow-net=127.0.0.1,[::1]",
          "peer",
          server,
          remote,
          ...local,
        )
      ),
    );
    results.forEach((result, i) => {
      const [, remote, loopback] = cases[i]!;
      assert.deepEqual(
        result,
        { local: loopback, peer: loopback, reply: [2, 1] },
        remote,
      );
    });
  },
  { deadline: 15_000 },
);

test("connectDatagram() refuses numbers that are not an IPv4 address, opening nothing", () => {
  for (
    const remoteHostname of [
      "127.000.000.001",
      "127.0.0.01",
      "127.1",
      "127",
      "0x7f.1",
      "0x7f000001",
      "127.0.0.0x1.",
      "1.2.3.256",
      "::1::2",
      "fe80::1%eth0",
    ]
  ) {
    assert.throws(
      () => connectDatagram({ remoteHostname, remotePort: 9 }),
      (e) => {
        assert.ok(e instanceof TypeError, remoteHostname);
        assert.match(
          e.message,
          new RegExp(
            `^Cannot use remoteHostname "${
              remoteHostname.replace(/[.]/g, "\\.")
            }": .*(IPv4 address is four numbers|not an IPv6 address)`,
          ),
        );
        return true;
      },
    );
  }
});

// A name other than localhost that /etc/hosts maps to 127.0.0.1, if any:
// it resolves with no DNS server.
const hostsName = (() => {
  try {
    for (const line of Deno.readTextFileSync("/etc/hosts").split("\n")) {
      const [ip, ...names] = line.replace(/#.*/, "").trim().split(/\s+/);
      const name = names.find((n) => !/^localhost(\.|$)/i.test(n));
      if (ip === "127.0.0.1" && name !== undefined) return name;
    }
  } catch {
    // No /etc/hosts: the test below is skipped.
  }
  return undefined;
})();

test(
  "connectDatagram() looks a host name up once, through /etc/hosts",
  async () => {
    assert.deepEqual(
      await datagramCase(
        `--allow-net=127.0.0.1,0.0.0.0:0,${hostsName}`,
        "peer",
        "127.0.0.1",
        hostsName!,
      ),
      { local: "0.0.0.0", peer: "127.0.0.1", reply: [2, 1] },
    );
  },
  { ignore: hostsName === undefined },
);

test(
  "connectDatagram() to a name: PermissionError names the lookup grant, HostNotFoundError an unknown name",
  async () => {
    const [denied, unknown] = await Promise.all([
      datagramCase(
        "--allow-net=127.0.0.1,0.0.0.0:0",
        "peer",
        "127.0.0.1",
        "peer.invalid",
      ),
      datagramCase(
        "--allow-net=127.0.0.1,0.0.0.0:0,no-such-host.invalid",
        "peer",
        "127.0.0.1",
        "no-such-host.invalid",
      ),
    ]);
    assert.deepEqual(denied, {
      name: "PermissionError",
      message:
        'Cannot look up "peer.invalid": permission denied, run again with --allow-net=peer.invalid',
      code: "EPERM",
    });
    assert.equal(unknown.name, "HostNotFoundError");
    assert.match(
      String(unknown.message),
      /^Cannot look up "no-such-host\.invalid": /,
    );
  },
  { deadline: 15_000 },
);

test(
  "a connected socket's memory stays flat under a flood of strangers' datagrams",
  async () => {
    const { stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-config",
        "--unstable-net",
        "--allow-net=127.0.0.1",
        "--v8-flags=--expose-gc",
        new URL("./fixtures/stranger_flood.ts", import.meta.url).pathname,
        "100000",
        "2",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(stdout);
    assert.match(out, /^\{/, new TextDecoder().decode(stderr));
    const { growth, skipped, received } = JSON.parse(out);
    assert.equal(received, 42, "the peer's datagram still arrives");
    assert.ok(skipped > 60_000, `only ${skipped} strangers reached the socket`);
    assert.ok(
      growth < 5_000_000,
      `the heap grew ${growth} bytes over ${skipped} strangers' datagrams`,
    );
  },
  { deadline: 15_000 },
);

test(
  "serveDatagram() checks the grant for where replies really go",
  async () => {
    const [narrow, enough, wildcard, wildcard6, unrestricted] = await Promise
      .all([
        datagramCase("--allow-net=localhost", "serve", "localhost"),
        datagramCase("--allow-net=localhost,127.0.0.1", "serve", "localhost"),
        datagramCase("--allow-net=0.0.0.0,127.0.0.1", "serve", "0.0.0.0"),
        datagramCase("--allow-net=[::],127.0.0.1", "serve", "::"),
        datagramCase("--allow-net", "serve", "0.0.0.0"),
      ]);
    assert.deepEqual(narrow, {
      name: "PermissionError",
      message:
        "Cannot serve datagrams on localhost:0: replies go to each sender's own port at 127.0.0.1: permission denied, run again with --allow-net=127.0.0.1",
    });
    assert.deepEqual(enough, { replied: true, reported: [] });
    assert.equal(wildcard.name, "PermissionError");
    assert.match(
      String(wildcard.message),
      /^Cannot serve datagrams on 0\.0\.0\.0:0: replies go to every sender, .*run again with --allow-net$/,
    );
    assert.equal(wildcard6.name, "PermissionError");
    assert.match(
      String(wildcard6.message),
      /^Cannot serve datagrams on \[::\]:0: .*run again with --allow-net$/,
    );
    assert.deepEqual(unrestricted, { replied: true, reported: [] });
  },
  { deadline: 15_000 },
);

test(
  "send() from an IPv4 socket to an IPv6 address is a SocketError, the address in brackets",
  async () => {
    assert.deepEqual(
      await datagramCase(
        "--allow-net=127.0.0.1,[::1]",
        "send",
        "127.0.0.1",
        "::1",
      ),
      {
        name: "SocketError",
        message:
          "Cannot send to [::1]:9: address family not supported (an IPv4 socket cannot reach an IPv6 address, nor the reverse)",
        code: "EAFNOSUPPORT",
      },
    );
  },
  { deadline: 15_000 },
);

test("ports and hosts are checked before anything is opened or sent", async () => {
  for (const remotePort of [0, 70000, 1.5, Number.NaN, -1]) {
    assert.throws(
      () => connectDatagram({ remotePort }),
      new RegExp(
        `^RangeError: Cannot use remotePort ${remotePort}: it must be a whole number from 1 to 65535$`,
      ),
    );
  }
  assert.throws(
    () => connectDatagram({ remoteHostname: "bad host", remotePort: 9 }),
    /^TypeError: Cannot use remoteHostname "bad host": it is not a host name or an IP address$/,
  );
  assert.throws(
    () => connectDatagram({ remotePort: 9, port: 70000 }),
    /^RangeError: Cannot use port 70000: it must be a whole number from 0 to 65535$/,
  );
  assert.throws(() => listenDatagram({ port: -1 }), RangeError);
  assert.throws(() => listenDatagram({ port: 65536 }), RangeError);
  assert.throws(
    () => listenDatagram({ hostname: "bad host" }),
    /^TypeError: Cannot use hostname "bad host": it is not a host name or an IP address$/,
  );
  assert.throws(() => listenDatagram({ maxDatagramSize: 0 }), RangeError);
  using socket = listenDatagram({ port: 0 });
  const to = (hostname: string, port: number): Deno.NetAddr => ({
    transport: "udp",
    hostname,
    port,
  });
  for (const port of [0, 70000]) {
    await assert.rejects(
      socket.send(bytes(1), to("127.0.0.1", port)),
      new RegExp(
        `^RangeError: Cannot use the destination port ${port}: it must be a whole number from 1 to 65535$`,
      ),
    );
  }
  await assert.rejects(
    socket.send(bytes(1), to("bad host", 9)),
    /^TypeError: Cannot use the destination hostname "bad host"/,
  );
  await assert.rejects(
    socket.send(bytes(1)),
    /^TypeError: Cannot send a datagram without an address/,
  );
});

test("send() takes a string and sends it as UTF-8", async () => {
  using server = listenDatagram({ port: 0 });
  using client = connectDatagram({ remotePort: server.port });
  await client.send("héllo ✓");
  const { data, remoteAddr } = await server.receive({ timeout: 2000 });
  assert.equal(new TextDecoder().decode(data), "héllo ✓");
  assert.equal(await server.send("", remoteAddr), 0);
  assert.equal((await client.receive({ timeout: 2000 })).data.length, 0);
});

test(
  "connectDatagram() drops a stranger's datagram from the peer's port on another address",
  async () => {
    using server = listenDatagram({ port: 0 });
    using client = connectDatagram({ remotePort: server.port });
    // The stranger is a process of its own: this one may only use 127.0.0.1.
    const { stdout } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-config",
        "--no-prompt",
        "--unstable-net",
        "--allow-net=127.0.0.2,127.0.0.1",
        new URL("./fixtures/udp_from.ts", import.meta.url).pathname,
        "127.0.0.2",
        String(server.port),
        String(client.port),
        "66",
      ],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const result = new TextDecoder().decode(stdout).trim();
    if (result.startsWith("AddrNotAvailable")) {
      console.log("skipped: 127.0.0.2 is not a loopback address here");
      return;
    }
    assert.equal(result, "sent");
    await client.send(bytes(1));
    const { remoteAddr } = await server.receive({ timeout: 2000 });
    await server.send(bytes(7), remoteAddr);
    assert.deepEqual((await client.receive({ timeout: 2000 })).data, bytes(7));
    await assert.rejects(client.receive({ timeout: 50 }), TimeoutError);
  },
  { deadline: 15_000 },
);

test("maxDatagramSize cuts longer datagrams to its size, and must be 1 to 65,507", async () => {
  using server = listenDatagram({ port: 0, maxDatagramSize: 4 });
  using client = connectDatagram({
    remotePort: server.port,
    maxDatagramSize: 2,
  });
  await client.send(bytes(1, 2, 3, 4, 5, 6));
  const { data, remoteAddr } = await server.receive({ timeout: 2000 });
  assert.deepEqual(data, bytes(1, 2, 3, 4));
  await server.send(bytes(9, 8, 7), remoteAddr);
  assert.deepEqual((await client.receive({ timeout: 2000 })).data, bytes(9, 8));
  using full = listenDatagram({ port: 0, maxDatagramSize: MAX_DATAGRAM_SIZE });
  assert.ok(full.port > 0);
  using one = listenDatagram({ port: 0, maxDatagramSize: 1 });
  await client.send(bytes(5, 6), one.addr);
  assert.deepEqual((await one.receive({ timeout: 2000 })).data, bytes(5));
  for (const maxDatagramSize of [0, MAX_DATAGRAM_SIZE + 1, 1.5, Number.NaN]) {
    const message =
      `Cannot use maxDatagramSize ${maxDatagramSize}: it must be a whole number from 1 to 65507`;
    assert.throws(() => listenDatagram({ port: 0, maxDatagramSize }), {
      name: "RangeError",
      message,
    });
    assert.throws(
      () => connectDatagram({ remotePort: 9, maxDatagramSize }),
      { name: "RangeError", message },
    );
  }
});

test("reuseAddress lets two sockets share a port; without it the second is refused", async () => {
  using first = listenDatagram({ port: 0, reuseAddress: true });
  using second = listenDatagram({ port: first.port, reuseAddress: true });
  assert.equal(second.port, first.port);
  assert.throws(
    () => listenDatagram({ port: first.port }),
    (e) =>
      e instanceof AddressInUseError &&
      e.message.startsWith(
        `Cannot listen for datagrams on 127.0.0.1:${first.port}: `,
      ) &&
      e.address?.hostname === "127.0.0.1" && e.address.port === first.port,
  );
  // Closed with nothing pending, receive() names the socket.
  const closed = listenDatagram({ port: 0 });
  closed.close();
  await assert.rejects(closed.receive(), {
    name: "ConnectionClosedError",
    message: `Cannot receive on 127.0.0.1:${closed.port}: the socket is closed`,
  });
});

test("hasInput and waitForInput() see a queued datagram until it is received", async () => {
  using server = listenDatagram({ port: 0 });
  using client = connectDatagram({ remotePort: server.port });
  assert.equal(server.hasInput, false);
  await client.send(bytes(1));
  assert.equal(await server.waitForInput({ timeout: 2000 }), true);
  assert.equal(server.hasInput, true);
  assert.deepEqual((await server.receive()).data, bytes(1));
  assert.equal(server.hasInput, false);
  server.close();
  assert.equal(server.hasInput, true, "a closed socket does not wait");
  await assert.rejects(server.receive(), ConnectionClosedError);
});

test("a datagram socket tells its addresses, and prints how it is bound or connected", () => {
  using socket = listenDatagram({ port: 0 });
  assert.equal(socket.remoteAddr, undefined);
  assert.equal(socket.closed, false);
  assert.deepEqual({ ...socket.addr }, {
    transport: "udp",
    hostname: "127.0.0.1",
    port: socket.port,
  });
  assert.equal(
    String(socket),
    `#<datagram socket at 127.0.0.1/${socket.port}>`,
  );
  assert.equal(Deno.inspect(socket), String(socket));
  using client = connectDatagram({ remotePort: socket.port });
  assert.deepEqual({ ...client.remoteAddr }, {
    transport: "udp",
    hostname: "127.0.0.1",
    port: socket.port,
  });
  assert.equal(
    String(client),
    `#<datagram socket connected from 127.0.0.1/${client.port} to 127.0.0.1/${socket.port}>`,
  );
});

test("connectDatagram() binds on 127.0.0.1 for any 127.x peer, and on the wildcard for another address", () => {
  using loop = connectDatagram({ remoteHostname: "127.0.0.2", remotePort: 9 });
  assert.equal(loop.addr.hostname, "127.0.0.1");
  assert.equal(loop.remoteAddr?.hostname, "127.0.0.2");
  // This process may use loopback only: the wildcard bind is what is refused.
  assert.throws(
    () => connectDatagram({ remoteHostname: "peer.invalid", remotePort: 9 }),
    (e) => {
      assert.ok(e instanceof PermissionError);
      assert.match(e.message, /^Cannot listen for datagrams on 0\.0\.0\.0:0: /);
      return true;
    },
  );
  assert.throws(
    () => connectDatagram({ remoteHostname: "192.0.2.1", remotePort: 9 }),
    (e) => {
      assert.ok(e instanceof PermissionError);
      assert.match(e.message, /^Cannot listen for datagrams on 0\.0\.0\.0:0: /);
      return true;
    },
  );
  assert.throws(
    () => connectDatagram({ remoteHostname: "2001:db8::1", remotePort: 9 }),
    (e) => {
      assert.ok(e instanceof PermissionError);
      assert.match(e.message, /^Cannot listen for datagrams on \[::\]:0: /);
      return true;
    },
  );
});

test("receive() with a timeout on a closed socket, and a receive pending at close, reject with ConnectionClosedError", async () => {
  const socket = listenDatagram({ port: 0 });
  const pending = socket.receive({ timeout: 2000 });
  socket.close();
  await assert.rejects(pending, ConnectionClosedError);
  await assert.rejects(socket.receive({ timeout: 2000 }), {
    name: "ConnectionClosedError",
    message: `Cannot receive on 127.0.0.1:${socket.port}: the socket is closed`,
  });
  assert.equal(await socket.waitForInput({ timeout: 10 }), true);
  assert.equal(socket.closed, true);
});

test(
  "payloads of every size stay the caller's, around the 2 KiB pooling boundary",
  async () => {
    using server = listenDatagram({ port: 0 });
    using client = connectDatagram({ remotePort: server.port });
    const sizes = [0, 1, 7, 8, 9, 2047, 2048, 2049, 4000, 60_000];
    const kept: Uint8Array[] = [];
    for (let round = 0; round < 40; round++) {
      for (const size of sizes) {
        await client.send(pattern(size, round + size));
        kept.push((await server.receive({ timeout: 2000 })).data);
      }
    }
    let i = 0;
    for (let round = 0; round < 40; round++) {
      for (const size of sizes) {
        assert.deepEqual(kept[i++], pattern(size, round + size), `${size}`);
      }
    }
  },
  { deadline: 15_000 },
);

test("connectDatagram() to any spelling of a loopback address binds on the loopback of its family and hears the reply", async () => {
  const cases: [string, string][] = [
    ["::1", "::1"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["[::1]", "::1"],
    ["::ffff:127.0.0.1", "127.0.0.1"],
    ["::FFFF:7f00:1", "127.0.0.1"],
  ];
  for (const [remoteHostname, loopback] of cases) {
    using server = listenDatagram({ hostname: loopback, port: 0 });
    using client = connectDatagram({ remoteHostname, remotePort: server.port });
    assert.equal(client.addr.hostname, loopback, remoteHostname);
    assert.deepEqual({ ...client.remoteAddr }, {
      transport: "udp",
      hostname: loopback,
      port: server.port,
    });
    await client.send(bytes(1, 2));
    const { data, remoteAddr } = await server.receive({ timeout: 2000 });
    assert.equal(remoteAddr.hostname, loopback);
    await server.send(data.reverse(), remoteAddr);
    assert.deepEqual(
      (await client.receive({ timeout: 2000 })).data,
      bytes(2, 1),
    );
  }
});

test("connectDatagram() to a host name shows the name until it is looked up, and send() rejects with the lookup's error", async () => {
  // Names that only look like localhost, or have a number in a label that
  // is not the last: each is a name to look up, which this process may not.
  for (
    const remoteHostname of [
      "localhost.invalid",
      "my-localhost",
      "1.example.invalid",
      "0x7f.example.invalid",
    ]
  ) {
    using client = connectDatagram({
      remoteHostname,
      remotePort: 9,
      hostname: "127.0.0.1",
    });
    assert.equal(client.addr.hostname, "127.0.0.1");
    assert.deepEqual({ ...client.remoteAddr }, {
      transport: "udp",
      hostname: remoteHostname,
      port: 9,
    });
    // The second send fails the same way: the name is never sent to.
    for (let i = 0; i < 2; i++) {
      await assert.rejects(client.send(bytes(1)), (e) => {
        assert.ok(e instanceof PermissionError, remoteHostname);
        assert.equal(
          e.message,
          `Cannot look up "${remoteHostname}": permission denied, run again with --allow-net=${remoteHostname}`,
        );
        return true;
      });
    }
    assert.equal(client.remoteAddr?.hostname, remoteHostname);
  }
});

test("receive() on a socket connected to a name rejects with the lookup's error", async () => {
  using client = connectDatagram({
    remoteHostname: "peer.invalid",
    remotePort: 9,
    hostname: "127.0.0.1",
  });
  const message =
    'Cannot look up "peer.invalid": permission denied, run again with --allow-net=peer.invalid';
  await assert.rejects(client.receive(), { name: "PermissionError", message });
  assert.equal(client.hasInput, true);
  await assert.rejects(client.receive({ timeout: 2000 }), {
    name: "PermissionError",
    message,
  });
});

test("send() takes an IPv6 destination in brackets, and names a missing destination port", async () => {
  using server = listenDatagram({ hostname: "::1", port: 0 });
  using client = listenDatagram({ hostname: "::1", port: 0 });
  for (let i = 0; i < 2; i++) {
    await client.send(bytes(i), {
      transport: "udp",
      hostname: "[::1]",
      port: server.port,
    });
    const { data, remoteAddr } = await server.receive({ timeout: 2000 });
    assert.deepEqual(data, bytes(i));
    assert.deepEqual({ ...remoteAddr }, { ...client.addr });
  }
  await assert.rejects(
    client.send(bytes(1), null as unknown as Deno.NetAddr),
    /^RangeError: Cannot use the destination port undefined/,
  );
});

test("two receive() calls at once each get one datagram", async () => {
  using server = listenDatagram({ port: 0 });
  using client = connectDatagram({ remotePort: server.port });
  const first = server.receive();
  const second = server.receive({ timeout: 2000 });
  await client.send(bytes(1));
  await client.send(bytes(2));
  const got = (await Promise.all([first, second])).map(({ data }) => data[0]);
  assert.deepEqual(got.sort(), [1, 2]);
});

test("send() to a destination this process may not reach names the host to grant; a connected socket's names the peer", async () => {
  using client = listenDatagram({ port: 0 });
  using client6 = listenDatagram({ hostname: "::1", port: 0 });
  const cases: [typeof client, string, string, string][] = [
    [client, "127.0.0.3", "127.0.0.3:9", "127.0.0.3"],
    [client6, "2001:db8::1", "[2001:db8::1]:9", "[2001:db8::1]"],
    [client6, "[2001:db8::1]", "[2001:db8::1]:9", "[2001:db8::1]"],
  ];
  for (const [socket, hostname, where, host] of cases) {
    await assert.rejects(
      socket.send(bytes(1), { transport: "udp", hostname, port: 9 }),
      (e) => {
        assert.ok(e instanceof PermissionError, hostname);
        assert.equal(
          e.message,
          `Cannot send to ${where} (to answer clients on any port, grant the host: --allow-net=${host}): permission denied, run again with --allow-net=${where}`,
        );
        assert.deepEqual(e.address, {
          hostname: host.replace(/[[\]]/g, ""),
          port: 9,
        });
        assert.ok(e.cause instanceof Deno.errors.NotCapable);
        return true;
      },
    );
  }
  using connected = connectDatagram({
    remoteHostname: "127.0.0.3",
    remotePort: 9,
  });
  await assert.rejects(connected.send(bytes(1)), (e) => {
    assert.ok(e instanceof PermissionError);
    assert.match(e.message, /^Cannot send to 127\.0\.0\.3:9: /);
    assert.deepEqual(e.address, { hostname: "127.0.0.3", port: 9 });
    assert.doesNotMatch(e.message, /to answer clients/);
    return true;
  });
});

test("new DatagramSocket() checks its peer and closes the connection it was given when it throws", () => {
  for (const port of [0, 65536]) {
    const conn = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
    assert.throws(
      () =>
        new DatagramSocket(conn, {
          transport: "udp",
          hostname: "127.0.0.1",
          port,
        }),
      (e) =>
        e instanceof RangeError &&
        e.message.startsWith(`Cannot use remotePort ${port}: `),
    );
    // Closed by the constructor: closing again is a BadResource.
    assert.throws(() => conn.close(), Deno.errors.BadResource);
  }
});

test("a datagram queued before close is still received; then receive() names the closing, and send() too", async () => {
  const server = listenDatagram({ port: 0 });
  using client = connectDatagram({ remotePort: server.port });
  await client.send(bytes(7));
  assert.equal(await server.waitForInput({ timeout: 2000 }), true);
  server.close();
  assert.deepEqual((await server.receive()).data, bytes(7));
  await assert.rejects(server.receive(), ConnectionClosedError);
  await assert.rejects(server.send(bytes(1), client.addr), {
    name: "ConnectionClosedError",
    message: `Cannot send to 127.0.0.1:${client.port}: the socket is closed`,
  });
});

test("a receive() that times out names the socket", async () => {
  using socket = listenDatagram({ port: 0 });
  await assert.rejects(
    socket.receive({ timeout: 1 }),
    (e) =>
      e instanceof TimeoutError &&
      e.message.startsWith(`Cannot receive on 127.0.0.1:${socket.port}`),
  );
});
