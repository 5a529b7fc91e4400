// TCP options: keepAlive and noDelay on connect(), listen() and serve(),
// and setOption()/getOption() afterwards. Deno cannot read an option back,
// so keep-alive is checked where the kernel shows it: `ss -o` lists a
// keepalive timer for a connection that has SO_KEEPALIVE on.
import assert from "node:assert/strict";
import {
  connect,
  ConnectionClosedError,
  listen,
  serve,
  Socket,
} from "../mod.ts";
import { describeAddr, formatHostPort } from "../lib/_addr.ts";
import { checkTimeout, formatMs, hasDeadline } from "../lib/_deadline.ts";
import { checkHostname, checkNumber, checkPort } from "../lib/_validate.ts";
import { test } from "./_helpers.ts";

const decoder = new TextDecoder();

const haveSs = await (async () => {
  try {
    return (await new Deno.Command("ss", { args: ["-V"], stdout: "null" })
      .output()).success;
  } catch {
    return false;
  }
})();
if (!haveSs) {
  console.log("options_test: no ss (iproute2); kernel-level checks skipped");
}

/**
 * Whether the kernel has a keep-alive timer on the TCP connection from
 * `local` to `remote`, per `ss -o`; `undefined` when ss is missing.
 */
async function kernelKeepAlive(
  local: Deno.NetAddr,
  remote: Deno.NetAddr,
): Promise<boolean | undefined> {
  if (!haveSs) return undefined;
  const { stdout, success } = await new Deno.Command("ss", {
    args: [
      "-tnoH",
      "state",
      "established",
      `( sport = :${local.port} and dport = :${remote.port} )`,
    ],
    stdout: "piped",
  }).output();
  assert.ok(success);
  const lines = decoder.decode(stdout).trim().split("\n");
  assert.equal(lines.length, 1, `one connection expected: ${lines}`);
  return lines[0]!.includes("timer:(keepalive");
}

async function assertKernelKeepAlive(socket: Socket, on: boolean) {
  const seen = await kernelKeepAlive(
    socket.localAddr as Deno.NetAddr,
    socket.remoteAddr as Deno.NetAddr,
  );
  if (seen !== undefined) assert.equal(seen, on, `keep-alive in the kernel`);
}

test("a TCP socket starts with noDelay on and keepAlive off", async () => {
  using listener = listen({ port: 0 });
  await using client = await connect({ port: listener.port });
  await using server = await listener.accept();
  for (const socket of [client, server]) {
    assert.equal(socket.getOption("noDelay"), true);
    assert.equal(socket.getOption("keepAlive"), false);
    await assertKernelKeepAlive(socket, false);
  }
});

test("connect({ keepAlive, noDelay }) sets them on the client", async () => {
  using listener = listen({ port: 0 });
  await using client = await connect({
    port: listener.port,
    keepAlive: true,
    noDelay: false,
  });
  await using server = await listener.accept();
  assert.equal(client.getOption("keepAlive"), true);
  assert.equal(client.getOption("noDelay"), false);
  await assertKernelKeepAlive(client, true);
  await assertKernelKeepAlive(server, false);
});

test("listen({ keepAlive, noDelay }) sets them on every accepted socket", async () => {
  using listener = listen({ port: 0, keepAlive: true, noDelay: false });
  await using client = await connect({ port: listener.port });
  await using server = await listener.accept();
  await using client2 = await connect({ port: listener.port });
  await using server2 = await listener.accept();
  for (const socket of [server, server2]) {
    assert.equal(socket.getOption("keepAlive"), true);
    assert.equal(socket.getOption("noDelay"), false);
    await assertKernelKeepAlive(socket, true);
  }
  await assertKernelKeepAlive(client, false);
  await assertKernelKeepAlive(client2, false);
});

test("serve({ keepAlive, noDelay }) hands its handlers sockets with them set", async () => {
  const seen: unknown[] = [];
  await using server = serve(async (socket) => {
    seen.push(socket.getOption("keepAlive"), socket.getOption("noDelay"));
    await assertKernelKeepAlive(socket, true);
    await socket.write("checked\n");
  }, {
    port: 0,
    keepAlive: true,
    noDelay: false,
    onError: (e) => seen.push(e),
  });
  await using client = await connect({ port: server.port });
  assert.equal(await client.readLine({ timeout: 2000 }), "checked");
  assert.deepEqual(seen, [true, false]);
});

test("setOption() turns keep-alive on and off in the kernel, and getOption() tells", async () => {
  using listener = listen({ port: 0 });
  await using client = await connect({ port: listener.port });
  await using _server = await listener.accept();
  client.setOption("keepAlive", true);
  assert.equal(client.getOption("keepAlive"), true);
  await assertKernelKeepAlive(client, true);
  client.setOption("keepAlive", false);
  assert.equal(client.getOption("keepAlive"), false);
  await assertKernelKeepAlive(client, false);
  client.setOption("noDelay", false);
  assert.equal(client.getOption("noDelay"), false);
  client.setNoDelay(true);
  assert.equal(client.getOption("noDelay"), true);
});

test("setOption() and getOption() refuse an unknown option or a value that is not a boolean", async () => {
  using listener = listen({ port: 0 });
  await using client = await connect({ port: listener.port });
  await using _server = await listener.accept();
  assert.throws(
    () => client.setOption("reuseAddress" as "noDelay", true),
    /^TypeError: Cannot set the socket option "reuseAddress": the options are "noDelay" and "keepAlive"$/,
  );
  assert.throws(
    () => client.getOption("linger" as "noDelay"),
    /^TypeError: Cannot read the socket option "linger"/,
  );
  assert.throws(
    () => client.setOption("keepAlive", "yes" as unknown as boolean),
    /^TypeError: Cannot set keepAlive to yes: it must be true or false$/,
  );
  assert.equal(client.getOption("keepAlive"), false);
});

test("connect() and listen() refuse a non-boolean keepAlive or noDelay before opening anything", async () => {
  using listener = listen({ port: 0 });
  await assert.rejects(
    connect({ port: listener.port, keepAlive: 1 as unknown as boolean }),
    /^TypeError: Cannot use keepAlive 1: it must be true or false$/,
  );
  assert.throws(
    () => listen({ port: 0, noDelay: "no" as unknown as boolean }),
    /^TypeError: Cannot use noDelay no: it must be true or false$/,
  );
  // Nothing was connected: no connection is waiting.
  assert.equal(await listener.accept({ wait: false }), null);
});

test("setOption() on a closed socket is a ConnectionClosedError; getOption() still tells", async () => {
  using listener = listen({ port: 0 });
  const client = await connect({ port: listener.port, keepAlive: true });
  await using _server = await listener.accept();
  await client.close();
  assert.throws(
    () => client.setOption("keepAlive", false),
    ConnectionClosedError,
  );
  assert.equal(client.getOption("keepAlive"), true);
});

test("setOption(), getOption(), setNoDelay() and setKeepAlive() refuse a TLS socket in one line", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  // No handshake happens: the options are refused before any I/O.
  const tls = new Socket(
    await Deno.connectTls({ hostname: "127.0.0.1", port: listener.addr.port }),
  );
  using _peer = await listener.accept();
  try {
    assert.throws(
      () => tls.setOption("noDelay", true),
      /^TypeError: Cannot set noDelay on a TLS socket: Deno's TLS connections have no socket options$/,
    );
    assert.throws(
      () => tls.getOption("keepAlive"),
      /^TypeError: Cannot read keepAlive on a TLS socket: /,
    );
    // setNoDelay() and setKeepAlive() say so the same way.
    assert.throws(
      () => tls.setNoDelay(false),
      /^TypeError: Cannot set noDelay on a TLS socket: Deno's TLS connections have no socket options$/,
    );
    assert.throws(
      () => tls.setKeepAlive(true),
      /^TypeError: Cannot set keepAlive on a TLS socket: /,
    );
  } finally {
    await tls.close({ abort: true });
  }
});

test("setOption() and getOption() refuse a Unix socket in one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sock_unix_" });
  const path = `${dir}/s.sock`;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 20_000);
  try {
    const { stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-config",
        `--allow-read=${dir}`,
        `--allow-write=${dir}`,
        `--allow-net=unix:${path}`,
        new URL("./fixtures/unix_option.ts", import.meta.url).pathname,
        path,
      ],
      // No check for a newer Deno: it would ask DNS for dl.deno.land.
      env: { DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
    const out = decoder.decode(stdout);
    assert.match(out, /^\{/, decoder.decode(stderr));
    assert.deepEqual(JSON.parse(out), {
      setOption:
        "TypeError: Cannot set keepAlive on a Unix socket: it has no TCP options",
      getOption:
        "TypeError: Cannot read noDelay on a Unix socket: it has no TCP options",
      setNoDelay:
        "TypeError: Cannot set noDelay on a Unix socket: it has no TCP options",
      setKeepAlive:
        "TypeError: Cannot set keepAlive on a Unix socket: it has no TCP options",
    });
  } finally {
    clearTimeout(timer);
    await Deno.remove(dir, { recursive: true });
  }
});

test("host names: RFC 1123 labels and IP literals are taken, and nothing else", () => {
  const label63 = "a".repeat(63);
  // 253 characters: four labels of 63 with their dots, and one of 1.
  const name253 = `${label63}.${label63}.${label63}.${"b".repeat(61)}`;
  assert.equal(name253.length, 253);
  const good: [string, string][] = [
    ["a", "a"],
    ["Z9", "Z9"],
    ["localhost", "localhost"],
    ["localhost.", "localhost."],
    ["a-b.c_d.example", "a-b.c_d.example"],
    ["_srv._tcp.example", "_srv._tcp.example"],
    [label63, label63],
    [`${label63}.x`, `${label63}.x`],
    [name253, name253],
    [`${name253}.`, `${name253}.`],
    ["10.1.2.3", "10.1.2.3"],
    ["::1", "::1"],
    ["[::1]", "::1"],
    ["::", "::"],
    ["fe80::1%eth0", "fe80::1%eth0"],
    ["FE80::A:b%lo.1_x-y", "FE80::A:b%lo.1_x-y"],
    ["::ffff:1.2.3.4", "::ffff:1.2.3.4"],
  ];
  for (const [given, taken] of good) {
    assert.equal(checkHostname("hostname", given), taken, given);
  }
  const bad = [
    "",
    ".",
    "-a",
    "a-",
    "a..b",
    ".a",
    "a.-b",
    "a.b-",
    "a b",
    "a/b",
    "é.example",
    `${label63}a`,
    `x.${label63}a`,
    `${name253}x`,
    `${name253}..`,
    ":",
    "1:2",
    "[::1",
    "::1]",
    "g::1",
    "fe80::1%",
    "fe80::1%e th",
    "fe80::1%%",
    " ::1",
    "::1 ",
  ];
  for (const given of bad) {
    assert.throws(() => checkHostname("hostname", given), {
      name: "TypeError",
      message: `Cannot use hostname ${
        JSON.stringify(given)
      }: it is not a host name or an IP address`,
    }, given);
  }
  assert.throws(() => checkHostname("host", 7), {
    name: "TypeError",
    message: "Cannot use host 7: it must be a host name or an IP address",
  });
});

test("ports, numbers and timeouts: the edges taken, one past them refused in one line", () => {
  assert.equal(checkPort("port", 0, true), 0);
  assert.equal(checkPort("port", 1, false), 1);
  assert.equal(checkPort("port", 65535, false), 65535);
  for (
    const [port, zero, shown, low] of [
      [0, false, "0", 1],
      [65536, true, "65536", 0],
      [-1, true, "-1", 0],
      [1.5, true, "1.5", 0],
      ["80", true, '"80"', 0],
      [undefined, false, "undefined", 1],
    ] as const
  ) {
    assert.throws(() => checkPort("port", port, zero), {
      name: "RangeError",
      message:
        `Cannot use port ${shown}: it must be a whole number from ${low} to 65535`,
    });
  }
  assert.equal(checkNumber("limit", 1, 1), 1);
  assert.equal(checkNumber("limit", 1.5, 1), 1.5);
  assert.equal(checkNumber("limit", Infinity, 1, { infinite: true }), Infinity);
  assert.equal(
    checkNumber("limit", Infinity, 1, { infinite: true, integer: true }),
    Infinity,
  );
  for (
    const [value, options, text] of [
      [0.5, {}, "Cannot use limit 0.5: it must be a number >= 1"],
      [NaN, {}, "Cannot use limit NaN: it must be a number >= 1"],
      ["2", {}, "Cannot use limit 2: it must be a number >= 1"],
      [Infinity, {}, "Cannot use limit Infinity: it must be a number >= 1"],
      [
        1.5,
        { integer: true },
        "Cannot use limit 1.5: it must be a whole number >= 1",
      ],
      [
        0,
        { integer: true, infinite: true },
        "Cannot use limit 0: it must be a whole number >= 1 (or Infinity)",
      ],
    ] as const
  ) {
    assert.throws(() => checkNumber("limit", value, 1, options), {
      name: "RangeError",
      message: text,
    });
  }
  checkTimeout(undefined);
  checkTimeout(0);
  checkTimeout(Infinity);
  for (const timeout of [-1, NaN, "5"]) {
    assert.throws(() => checkTimeout(timeout as number), {
      name: "RangeError",
      message:
        `Cannot use timeout ${timeout}: it must be a number of milliseconds >= 0`,
    });
  }
});

test("milliseconds in messages: whole from 10 on, two decimals below", () => {
  assert.equal(formatMs(12.5), "13");
  assert.equal(formatMs(10), "10");
  assert.equal(formatMs(9.996), "10");
  assert.equal(formatMs(1.234), "1.23");
  assert.equal(formatMs(0), "0");
  assert.equal(hasDeadline(undefined), false);
  assert.equal(hasDeadline({}), false);
  assert.equal(hasDeadline({ timeout: Infinity }), false);
  assert.equal(hasDeadline({ timeout: 0 }), true);
  assert.equal(hasDeadline({ signal: new AbortController().signal }), true);
});

test("addresses in messages: IPv6 hosts in brackets, Unix paths as they are", () => {
  assert.equal(formatHostPort("127.0.0.1", 80), "127.0.0.1:80");
  assert.equal(formatHostPort("::1", 80), "[::1]:80");
  assert.equal(
    describeAddr({ transport: "tcp", hostname: "::1", port: 7 }),
    "[::1]/7",
  );
  assert.equal(
    describeAddr({ transport: "udp", hostname: "10.0.0.1", port: 7 }, ":"),
    "10.0.0.1:7",
  );
  assert.equal(
    describeAddr({ transport: "unix", path: "/run/a.sock" }),
    "/run/a.sock",
  );
  assert.equal(
    describeAddr(
      { transport: "unixpacket", path: null } as unknown as Deno.Addr,
    ),
    "(unnamed)",
  );
  assert.equal(
    describeAddr(
      { transport: "vsock", cid: 3, port: 9 } as unknown as Deno.Addr,
    ),
    "vsock",
  );
});
