// A socket under misuse and faults: overlapping reads, concurrent writes,
// a peer that stops reading, a peer that resets, bad arguments.
import assert from "node:assert/strict";
import {
  AddressInUseError,
  AddressNotAvailableError,
  CertificateError,
  connect,
  ConnectionClosedError,
  ConnectionRefusedError,
  ConnectionResetError,
  EndOfStreamError,
  HostNotFoundError,
  LimitExceededError,
  listen,
  PermissionError,
  ProxyProtocolError,
  Socket,
  SocketError,
  TimeoutError,
  TlsError,
  waitForInput,
} from "../mod.ts";
import { errorCode, isResourceError, mapError } from "../lib/_map_error.ts";
import {
  bounded,
  canRun,
  delay,
  inputArrives,
  noIpv6Loopback,
  rawConnect,
  socketPair,
  test,
  until,
  writeAllRaw,
} from "./_helpers.ts";

const text = (bytes: Uint8Array | null) => new TextDecoder().decode(bytes!);
const T = { timeout: 2000 };

const havePython = await canRun("python3");
if (!havePython) {
  console.log("the reset tests are ignored: python3 is not installed");
}
const noIpv6 = noIpv6Loopback();
if (noIpv6 !== undefined) console.log(`the IPv6 test is ignored: ${noIpv6}`);

/** Sends `data` from the client side and waits until `server` has buffered `n` bytes. */
async function send(client: Socket, data: string): Promise<void> {
  await client.write(data);
  await client.flush();
}

test("overlapping readLine() calls each get a whole line, in call order", async () => {
  await using pair = await socketPair();
  await send(pair.client, "ab");
  await inputArrives(pair.server, T);
  const first = pair.server.readLine(T);
  const second = pair.server.readLine(T);
  await delay(10);
  await send(pair.client, "\nc\nd\n");
  assert.equal(await first, "ab");
  assert.equal(await second, "c");
  assert.equal(await pair.server.readLine(T), "d");
});

test("overlapping readUntil() calls each get a whole record", async () => {
  await using pair = await socketPair();
  await send(pair.client, "abcd");
  await inputArrives(pair.server, T);
  await until(() => pair.server.buffered === 4);
  const first = pair.server.readUntil("::", T);
  const second = pair.server.readUntil("::", T);
  await delay(10);
  await send(pair.client, "::x::y::");
  assert.equal(text(await first), "abcd");
  assert.equal(text(await second), "x");
  assert.equal(text(await pair.server.readUntil("::", T)), "y");
});

test("read() during a pending readLine() waits for the line to be taken", async () => {
  await using pair = await socketPair();
  await send(pair.client, "ab");
  await inputArrives(pair.server, T);
  const line = pair.server.readLine(T);
  const into = new Uint8Array(10);
  const read = pair.server.read(into, T);
  await delay(10);
  await send(pair.client, "c\nrest");
  assert.equal(await line, "abc");
  const n = await read;
  assert.equal(text(into.subarray(0, n!)), "rest");
});

test("a mix of overlapping reads is served in call order", async () => {
  await using pair = await socketPair();
  const reads = [
    pair.server.readExactly(3, T).then(text),
    pair.server.readLine(T),
    pair.server.readUntil("|", T).then(text),
    pair.server.readExactly(2).then(text),
    pair.server.readLine(T),
  ];
  for (const piece of ["ab", "cde", "f\ng", "h|", "ij", "k", "l\n"]) {
    await send(pair.client, piece);
    await delay(2);
  }
  assert.deepEqual(await Promise.all(reads), [
    "abc",
    "def",
    "gh",
    "ij",
    "kl",
  ]);
});

test("a queued read that times out leaves the queue and consumes nothing", async () => {
  await using pair = await socketPair();
  const first = pair.server.readLine(T);
  const impatient = pair.server.readLine({ timeout: 20 });
  const third = pair.server.readLine(T);
  await assert.rejects(impatient, TimeoutError);
  await send(pair.client, "one\ntwo\n");
  assert.equal(await first, "one");
  assert.equal(await third, "two");
});

test("a queued read that is aborted leaves the queue and consumes nothing", async () => {
  await using pair = await socketPair();
  const controller = new AbortController();
  const first = pair.server.readExactly(2, T);
  const aborted = pair.server.readExactly(2, { signal: controller.signal });
  const third = pair.server.readExactly(2, T);
  controller.abort(new Error("not wanted"));
  await assert.rejects(aborted, /not wanted/);
  await send(pair.client, "1234");
  assert.equal(text(await first), "12");
  assert.equal(text(await third), "34");
});

test("a queued read waits for the reads before it even when the one in between timed out", async () => {
  await using pair = await socketPair();
  const first = pair.server.readLine(T);
  const impatient = pair.server.readLine({ timeout: 10 });
  await assert.rejects(impatient, TimeoutError);
  const third = pair.server.readLine(T);
  await delay(10);
  await send(pair.client, "x");
  await delay(10);
  await send(pair.client, "\ny\n");
  assert.equal(await first, "x");
  assert.equal(await third, "y");
});

test("consume() is refused while a read waits, and needs a whole number", async () => {
  await using pair = await socketPair();
  await send(pair.client, "abc");
  await pair.server.waitForInput(T);
  assert.throws(() => pair.server.consume(0.5), RangeError);
  assert.throws(() => pair.server.consume(4), RangeError);
  const line = pair.server.readLine(T);
  assert.throws(() => pair.server.consume(1), TypeError);
  await send(pair.client, "\n");
  assert.equal(await line, "abc");
  assert.equal(pair.server.buffered, 0);
});

test("read() into an empty array returns 0 at once, as documented", async () => {
  await using pair = await socketPair();
  assert.equal(await pair.server.read(new Uint8Array(0), T), 0);
});

test("concurrent write() calls keep their order and never interleave", async () => {
  await using pair = await socketPair();
  const big = (byte: number) => new Uint8Array(100_000).fill(byte);
  const pieces: (string | Uint8Array)[] = [];
  for (let i = 0; i < 40; i++) {
    pieces.push(i % 5 === 0 ? big(65 + (i % 26)) : `<${i}>`);
  }
  const writes = pieces.map((piece) => pair.client.write(piece));
  const reading = pair.server.readAll({ timeout: 10_000 });
  await Promise.all(writes);
  await pair.client.closeWrite();
  const got = await reading;
  const want: number[] = [];
  for (const piece of pieces) {
    if (typeof piece === "string") {
      want.push(...new TextEncoder().encode(piece));
    } else want.push(...piece);
  }
  assert.equal(got.length, want.length);
  assert.deepEqual(got, new Uint8Array(want));
});

/** A pair whose client never reads, with the kernel's buffers small. */
async function stalledPeer(): Promise<
  { server: Socket; [Symbol.asyncDispose](): Promise<void> }
> {
  const pair = await socketPair();
  // 64 MiB is far more than loopback's socket buffers hold.
  pair.server.write(new Uint8Array(64 * 1024 * 1024)).catch(() => {});
  return {
    server: pair.server,
    [Symbol.asyncDispose]: () => pair[Symbol.asyncDispose](),
  };
}

test("flush({ timeout }) to a peer that stops reading aborts the connection with a TimeoutError", async () => {
  await using stalled = await stalledPeer();
  const error = await stalled.server.flush({ timeout: 100 }).then(
    () => undefined,
    (e) => e,
  );
  assert.ok(error instanceof TimeoutError, String(error));
  assert.match(
    error.message,
    /timed out after 100 ms: the peer is not reading; the connection was aborted/,
  );
  assert.equal(stalled.server.closed, true);
  await assert.rejects(stalled.server.write("more"), ConnectionClosedError);
});

test("flush({ signal }) aborts the connection when the signal does", async () => {
  await using stalled = await stalledPeer();
  const controller = new AbortController();
  const flushing = stalled.server.flush({ signal: controller.signal });
  setTimeout(() => controller.abort(new Error("stop sending")), 30);
  await assert.rejects(flushing, /stop sending/);
  assert.equal(stalled.server.closed, true);
});

test("close({ timeout }) to a peer that stops reading rejects with a TimeoutError and closes", async () => {
  await using stalled = await stalledPeer();
  const closing = stalled.server.close({ timeout: 100 });
  assert.equal(
    stalled.server.closed,
    true,
    "closed from the moment close() is called",
  );
  await assert.rejects(closing, TimeoutError);
  assert.equal(await stalled.server.close(), undefined);
});

test("await using is bounded by closeTimeout when the peer stops reading", async () => {
  using listener = listen({ port: 0, closeTimeout: 100 });
  using _raw = await rawConnect(listener.port);
  const server = await listener.accept(T);
  server.write(new Uint8Array(64 * 1024 * 1024)).catch(() => {});
  await assert.rejects(server[Symbol.asyncDispose](), TimeoutError);
  assert.equal(server.closed, true);
});

/** A raw client that sends `bytes` and then resets the connection (SO_LINGER 0). */
function resettingClient(port: number, bytes: string): Deno.ChildProcess {
  return new Deno.Command("python3", {
    args: [
      "-c",
      `import socket, struct, sys
s = socket.create_connection(("127.0.0.1", ${port}))
s.sendall(${JSON.stringify(bytes)}.encode())
sys.stdin.read(1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()`,
    ],
    stdin: "piped",
    stdout: "null",
  }).spawn();
}

test(
  "a peer's reset after a write is not mistaken for a clean end of stream",
  async (t) => {
    using listener = listen({ port: 0 });
    const peer = resettingClient(listener.port, "cut off mid-li");
    await using server = await listener.accept(T);
    await inputArrives(server, T);
    // The reset arrives; a write meets it first and takes the error.
    const writer = peer.stdin.getWriter();
    await writer.write(new Uint8Array([10]));
    await writer.close();
    await peer.status;
    await delay(20);
    await server.write("hello?\n");
    await server.flush().catch(() => {});
    await t.step(
      "readLine() fails instead of returning the cut-off line",
      async () => {
        await assert.rejects(server.readLine(T), ConnectionResetError);
      },
    );
    await t.step("the bytes that came stay readable as bytes", async () => {
      const into = new Uint8Array(100);
      const n = await server.read(into, T);
      assert.equal(text(into.subarray(0, n!)), "cut off mid-li");
    });
  },
  { ignore: !havePython },
);

test(
  "a reset with no write in between is reported as a reset too",
  async () => {
    using listener = listen({ port: 0 });
    const peer = resettingClient(listener.port, "partial");
    await using server = await listener.accept(T);
    const writer = peer.stdin.getWriter();
    await writer.write(new Uint8Array([10]));
    await writer.close();
    await peer.status;
    await delay(20);
    await assert.rejects(server.readLine(T), ConnectionResetError);
  },
  { ignore: !havePython },
);

test("a clean close after a partial line still returns it as the last line", async () => {
  await using pair = await socketPair();
  using raw = await rawConnect(pair.listener.port);
  await using server = await pair.listener.accept(T);
  await writeAllRaw(raw, "last line without LF");
  await raw.closeWrite();
  await server.write("reply\n");
  await server.flush();
  assert.equal(await server.readLine(T), "last line without LF");
  assert.equal(await server.readLine(T), null);
});

test("setNoDelay() and setKeepAlive() after close give ConnectionClosedError", async () => {
  await using pair = await socketPair();
  await pair.server.close();
  assert.throws(() => pair.server.setNoDelay(true), ConnectionClosedError);
  assert.throws(() => pair.server.setKeepAlive(true), ConnectionClosedError);
});

test("waitForInput() returns every socket that is ready, not just the first", async () => {
  using listener = listen({ port: 0 });
  const raws: Deno.TcpConn[] = [];
  const servers: Socket[] = [];
  try {
    for (let i = 0; i < 8; i++) {
      raws.push(await rawConnect(listener.port));
      servers.push(await listener.accept(T));
    }
    // Start every socket's read, so that each is waiting on the peer.
    assert.deepEqual(await waitForInput(servers, { timeout: 10 }), []);
    await Promise.all(raws.map((raw) => writeAllRaw(raw, "x\n")));
    const ready = await waitForInput(servers, T);
    assert.equal(ready.length, 8);
  } finally {
    for (const server of servers) await server.close({ abort: true });
    for (const raw of raws) raw.close();
  }
});

test("timeout messages print whole milliseconds", async () => {
  await using pair = await socketPair();
  const error = await pair.server.readLine({ timeout: 12.3456 }).catch((e) =>
    e
  );
  assert.ok(error instanceof TimeoutError);
  assert.match(error.message, /timed out after 12 ms$/);
});

test("the stream's end after an overlapping read: the last line, then null", async () => {
  await using pair = await socketPair();
  const first = pair.server.readLine(T);
  const second = pair.server.readLine(T);
  await send(pair.client, "a\nb");
  await pair.client.closeWrite();
  assert.equal(await first, "a");
  assert.equal(await second, "b");
  assert.equal(await pair.server.readLine(T), null);
  await assert.rejects(pair.server.readExactly(1, T), EndOfStreamError);
});

test("an IPv6 socket prints its addresses with brackets", async () => {
  const listener = listen({ hostname: "::1", port: 0 });
  try {
    await using client = await connect({
      hostname: "::1",
      port: listener.port,
      ...T,
    });
    await using server = await listener.accept(T);
    assert.match(
      String(server),
      /^#<multivalent stream socket connected from \[::1\]\/\d+ to \[::1\]\/\d+>$/,
    );
    assert.equal(client.remoteAddr.hostname, "::1");
    assert.match(String(listener), /at \[::1\]\/\d+>$/);
  } finally {
    listener.close();
  }
}, { ignore: noIpv6 !== undefined });

test("a read timeout above 2^31-1 ms does not fire at once", async () => {
  using listener = listen({ port: 0 });
  await using client = await connect({ port: listener.port });
  await using server = await listener.accept(T);
  const line = server.readLine({ timeout: 2 ** 31 });
  await delay(50);
  await client.write("late\n");
  await client.flush();
  assert.equal(await line, "late");
});

test("closeWrite() to a peer that stops reading is bounded by closeTimeout", async () => {
  using listener = listen({ port: 0, closeTimeout: 100 });
  using _raw = await rawConnect(listener.port);
  await using server = await listener.accept(T);
  server.write(new Uint8Array(64 * 1024 * 1024)).catch(() => {});
  await assert.rejects(server.closeWrite(), TimeoutError);
  assert.equal(server.closed, true);
});

test("closeWrite({ signal }) with output waiting aborts the connection when the signal has fired", async () => {
  await using pair = await socketPair();
  await pair.client.write("not sent");
  await assert.rejects(
    pair.client.closeWrite({ signal: AbortSignal.abort(new Error("no time")) }),
    /no time/,
  );
  assert.equal(pair.client.closed, true);
  await assert.rejects(pair.client.write("more"), ConnectionClosedError);
});

test("closeWrite() a second time, or after close(), does nothing", async () => {
  await using pair = await socketPair();
  await pair.client.closeWrite();
  await pair.client.closeWrite();
  assert.equal(await pair.server.readLine(T), null);
  await pair.server.close();
  await pair.server.closeWrite();
  assert.equal(pair.server.closed, true);
});

test("closeWrite() on a connection closed underneath the socket says it cannot end the stream", async () => {
  using listener = listen({ port: 0 });
  const conn = await rawConnect(listener.port);
  await using socket = new Socket(conn);
  await using _server = await listener.accept(T);
  conn.close();
  await assert.rejects(socket.closeWrite(), {
    name: "ConnectionClosedError",
    message:
      `Cannot end the stream to 127.0.0.1:${listener.port}: the socket is closed`,
  });
});

test("close() cut short by close({ abort: true }) resolves: only a timeout makes it reject", async () => {
  await using stalled = await stalledPeer();
  const closing = stalled.server.close();
  await stalled.server.close({ abort: true });
  assert.equal(await bounded(closing, 2000, "close()"), undefined);
});

test("a flush's signal that fires after close({ abort: true }) does not change why the socket is closed", async () => {
  await using stalled = await stalledPeer();
  const controller = new AbortController();
  const flushing = stalled.server.flush({ signal: controller.signal });
  await stalled.server.close({ abort: true });
  controller.abort(new Error("too late"));
  await assert.rejects(flushing);
  await assert.rejects(stalled.server.write("more"), {
    name: "ConnectionClosedError",
    message: /: the socket is closed$/,
  });
});

test("every error class names itself, keeps its cause and address, and is a SocketError", () => {
  const cause = new Error("underneath");
  const address = { hostname: "::1", port: 9 };
  const options = { cause, address };
  const partial = new Uint8Array([1, 2]);
  const made: [SocketError, string][] = [
    [new SocketError("m", options), "SocketError"],
    [new ConnectionRefusedError("m", options), "ConnectionRefusedError"],
    [new AddressInUseError("m", options), "AddressInUseError"],
    [new AddressNotAvailableError("m", options), "AddressNotAvailableError"],
    [new HostNotFoundError("m", options), "HostNotFoundError"],
    [new TimeoutError("m", 5, options), "TimeoutError"],
    [new ConnectionResetError("m", options), "ConnectionResetError"],
    [new ConnectionClosedError("m", options), "ConnectionClosedError"],
    [new EndOfStreamError("m", partial, options), "EndOfStreamError"],
    [new LimitExceededError("m", 7, options), "LimitExceededError"],
    [new ProxyProtocolError("m", options), "ProxyProtocolError"],
    [new TlsError("m", options), "TlsError"],
    [new CertificateError("m", "expired", options), "CertificateError"],
  ];
  for (const [error, name] of made) {
    assert.ok(error instanceof SocketError && error instanceof Error, name);
    assert.equal(error.name, name);
    assert.equal(error.message, "m");
    assert.equal(error.cause, cause);
    assert.deepEqual(error.address, address);
    assert.equal(String(error), `${name}: m`);
  }
  const permission = new PermissionError(
    "Cannot connect to x:1",
    "--allow-net=x:1",
    options,
  );
  assert.equal(permission.name, "PermissionError");
  assert.equal(
    permission.message,
    "Cannot connect to x:1: permission denied, run again with --allow-net=x:1",
  );
  assert.equal(permission.flag, "--allow-net=x:1");
  assert.equal(permission.cause, cause);
  assert.deepEqual(permission.address, address);
  // The fields each one adds.
  const timeout = new TimeoutError("m", 5);
  assert.equal(timeout.timeout, 5);
  assert.equal(timeout.partial, undefined);
  assert.equal(new EndOfStreamError("m", partial).partial, partial);
  assert.equal(new LimitExceededError("m", 7).limit, 7);
  assert.equal(new CertificateError("m", "expired").reason, "expired");
  assert.ok(new CertificateError("m", "expired") instanceof TlsError);
  // Without options: no cause, no address.
  const bare = new SocketError("m");
  assert.equal(bare.address, undefined);
  assert.equal(bare.cause, undefined);
  assert.equal(new ConnectionRefusedError("m").address, undefined);
});

test("mapError(): what Deno throws becomes the sock error that says what happened, with it as the cause", () => {
  const address = { hostname: "h.example", port: 1 };
  const context = { action: "connect to h.example:1", address };
  const table: [
    new (message: string) => Error,
    abstract new (...args: never[]) => SocketError,
    string,
  ][] = [
    [
      Deno.errors.ConnectionRefused,
      ConnectionRefusedError,
      "connection refused (is a server listening there?)",
    ],
    [
      Deno.errors.AddrInUse,
      AddressInUseError,
      "address already in use (choose another port, or port 0 for any free one)",
    ],
    [
      Deno.errors.AddrNotAvailable,
      AddressNotAvailableError,
      "address not available on this machine",
    ],
    [
      Deno.errors.ConnectionReset,
      ConnectionResetError,
      "connection reset by peer",
    ],
    [
      Deno.errors.ConnectionAborted,
      ConnectionResetError,
      "connection aborted",
    ],
    [
      Deno.errors.BrokenPipe,
      ConnectionResetError,
      "the peer has closed the connection",
    ],
    [
      Deno.errors.NotConnected,
      ConnectionResetError,
      "the socket is not connected",
    ],
    [Deno.errors.BadResource, ConnectionClosedError, "the socket is closed"],
    [
      Deno.errors.Interrupted,
      ConnectionClosedError,
      "the socket was closed while waiting",
    ],
    [Deno.errors.TimedOut, TimeoutError, "timed out"],
    [Deno.errors.NetworkUnreachable, SocketError, "network unreachable"],
    [
      Deno.errors.PermissionDenied,
      SocketError,
      "the operating system denied it (os says no)",
    ],
    [Deno.errors.Busy, SocketError, "os says no"],
  ];
  for (const [Thrown, Made, text] of table) {
    const cause = new Thrown("os says no");
    const error = mapError(cause, context) as SocketError;
    assert.equal(error.constructor, Made, Thrown.name);
    assert.equal(error.message, `Cannot connect to h.example:1: ${text}`);
    assert.equal(error.cause, cause);
    assert.deepEqual(error.address, address);
  }
  assert.equal(
    (mapError(new Deno.errors.TimedOut("t"), context) as TimeoutError).timeout,
    0,
  );
  // Operating system codes, on the error or on its cause.
  const coded = (code: string, message = "os says no") =>
    Object.assign(new Error(message), { code });
  for (
    const [code, text] of [
      [
        "EMFILE",
        "too many open files in this process (close connections, or raise the limit with ulimit -n)",
      ],
      [
        "ENFILE",
        "too many open files on this machine (close connections, or raise the system limit)",
      ],
      ["ENOBUFS", "the operating system is out of buffer space"],
      ["ENOMEM", "the operating system is out of memory"],
      [
        "EAFNOSUPPORT",
        "address family not supported (an IPv4 socket cannot reach an IPv6 address, nor the reverse)",
      ],
      ["EADDRNOTAVAIL", "address not available on this machine"],
      ["ENETUNREACH", "network unreachable"],
      ["EHOSTUNREACH", "host unreachable"],
      ["EMSGSIZE", "the datagram is too large for the network"],
      ["EINVAL", "invalid argument"],
      ["EPROTO", "os says no"],
    ] as const
  ) {
    const cause = coded(code);
    const error = mapError(cause, context) as SocketError;
    assert.equal(error.constructor, SocketError, code);
    assert.equal(error.message, `Cannot connect to h.example:1: ${text}`);
    assert.equal(error.cause, cause);
  }
  assert.equal(errorCode(coded("EMFILE")), "EMFILE");
  assert.equal(
    errorCode(
      new Error("a", { cause: new Error("b", { cause: coded("ENFILE") }) }),
    ),
    "ENFILE",
  );
  let deep: Error = coded("ENOMEM");
  for (let i = 0; i < 3; i++) deep = new Error("wrapped", { cause: deep });
  assert.equal(errorCode(deep), "ENOMEM");
  assert.equal(errorCode(new Error("wrapped", { cause: deep })), undefined);
  assert.equal(
    errorCode(Object.assign(new Error("n"), { code: 5 })),
    undefined,
  );
  assert.equal(errorCode("EMFILE"), undefined);
  for (const code of ["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"]) {
    assert.equal(
      isResourceError(new Error("accept", { cause: coded(code) })),
      true,
    );
  }
  assert.equal(isResourceError(coded("ECONNRESET")), false);
  assert.equal(isResourceError(new Error("no code")), false);
  // A grant: the host Deno names, else the address, else a placeholder.
  const refused = new Deno.errors.NotCapable(
    'Requires net access to "other.example:443", run again with the --allow-net flag',
  );
  const permission = mapError(refused, context) as PermissionError;
  assert.ok(permission instanceof PermissionError);
  assert.equal(permission.flag, "--allow-net=other.example:443");
  assert.equal(
    permission.message,
    "Cannot connect to h.example:1: permission denied, run again with --allow-net=other.example:443",
  );
  assert.equal(permission.cause, refused);
  assert.deepEqual(permission.address, address);
  const unnamed = new Deno.errors.NotCapable("no net");
  assert.equal(
    (mapError(unnamed, context) as PermissionError).flag,
    "--allow-net=h.example:1",
  );
  assert.equal(
    (mapError(unnamed, { action: "listen" }) as PermissionError).flag,
    "--allow-net=HOST:PORT",
  );
  // The system resolver: a name it does not know, and one it gave up on.
  const notFound = new Error(
    "failed to lookup address information: Name or service not known",
  );
  const host = mapError(notFound, context) as SocketError;
  assert.ok(host instanceof HostNotFoundError);
  assert.equal(
    host.message,
    'Cannot connect to h.example:1: host not found (check the spelling of "h.example")',
  );
  assert.equal(host.cause, notFound);
  assert.equal(
    (mapError(notFound, { action: "connect" }) as SocketError).message,
    'Cannot connect: host not found (check the spelling of "")',
  );
  const again = new Error(
    "failed to lookup address information: Temporary failure in name resolution",
  );
  const gaveUp = mapError(again, {
    ...context,
    elapsed: 5000.4,
  }) as TimeoutError;
  assert.ok(gaveUp instanceof TimeoutError);
  assert.equal(gaveUp.timeout, 5000);
  assert.equal(
    gaveUp.message,
    "Cannot connect to h.example:1: the name server did not answer (the system resolver gave up after 5000 ms; check the name servers in /etc/resolv.conf, or try again later)",
  );
  const untimed = mapError(again, context) as TimeoutError;
  assert.equal(untimed.timeout, 0);
  assert.equal(
    untimed.message,
    "Cannot connect to h.example:1: the name server did not answer (the system resolver gave up; check the name servers in /etc/resolv.conf, or try again later)",
  );
  // The same words from another class are not the resolver's.
  for (
    const typed of [
      new TypeError("failed to lookup address information: x"),
      new TypeError(
        "failed to lookup address information: Temporary failure in name resolution",
      ),
    ]
  ) {
    assert.equal(mapError(typed, context), typed);
  }
  // A TLS name mismatch says how to name the server, unless told how.
  const mismatch = new Deno.errors.InvalidData(
    'invalid peer certificate: certificate not valid for name "h.example"; certificate is only valid for DnsName("other.example")',
  );
  assert.match(
    (mapError(mismatch, context) as Error).message,
    /, not h\.example \(connect by one of those names, or set tls\.serverName\)$/,
  );
  assert.match(
    (mapError(mismatch, { ...context, nameOption: "pass serverName" }) as Error)
      .message,
    /, or pass serverName\)$/,
  );
  // Passed through: a sock error, an abort reason, a bad argument, a
  // code that is not the operating system's, and what is not an Error.
  const own = new TimeoutError("mine", 1);
  assert.equal(mapError(own, context), own);
  const wrapped = new ConnectionResetError("mine", { cause: coded("EMFILE") });
  assert.equal(mapError(wrapped, context), wrapped);
  for (
    const other of [
      new Error("stop"),
      new Error("Temporary failure in name resolution"),
      new RangeError("bad"),
      coded("not-a-code"),
      coded("ERR_SOMETHING_ELSE"),
      "text",
    ]
  ) {
    assert.equal(mapError(other, context), other);
  }
});
