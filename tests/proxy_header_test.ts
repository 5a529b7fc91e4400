// formatProxyHeader(): every header it writes is read back the same by
// the PROXY parser the listeners use, and what it cannot write is a
// TypeError that says why.
import assert from "node:assert/strict";
import {
  connect,
  formatProxyHeader,
  type ProxyHeaderInit,
  serve,
} from "../mod.ts";
import { parseProxyHeader } from "../lib/_proxy_protocol.ts";
import { test } from "./_helpers.ts";

const tcp = (hostname: string, port: number): Deno.NetAddr => ({
  transport: "tcp",
  hostname,
  port,
});

/** Formats `init`, parses it back whole, and returns what the parser saw. */
function roundTrip(init: ProxyHeaderInit) {
  const bytes = formatProxyHeader(init);
  // Followed by client bytes, which the header must not take.
  const stream = new Uint8Array(bytes.length + 3);
  stream.set(bytes);
  stream.set([0x61, 0x62, 0x63], bytes.length);
  const parsed = parseProxyHeader(stream, "either");
  assert.ok(parsed, "a whole header");
  assert.equal(parsed.length, bytes.length);
  // One byte short is not yet a header.
  assert.equal(
    parseProxyHeader(bytes.subarray(0, bytes.length - 1), "either"),
    undefined,
  );
  return parsed.header;
}

test("formatProxyHeader() v2 TCP over IPv4 and IPv6 reads back", () => {
  const four = roundTrip({
    source: tcp("192.0.2.7", 5000),
    destination: tcp("127.0.0.1", 443),
  });
  assert.deepEqual(four, {
    version: 2,
    command: "proxy",
    family: "tcp4",
    source: tcp("192.0.2.7", 5000),
    destination: tcp("127.0.0.1", 443),
    tlvs: [],
  });
  const six = roundTrip({
    source: tcp("2001:db8::1", 65535),
    destination: tcp("::1", 0),
  });
  assert.equal(six.family, "tcp6");
  assert.deepEqual([six.source, six.destination], [
    tcp("2001:db8::1", 65535),
    tcp("::1", 0),
  ]);
});

test("formatProxyHeader() sends IPv4 beside IPv6 in its IPv6 form", () => {
  const header = roundTrip({
    source: tcp("192.0.2.7", 1),
    destination: tcp("::1", 2),
  });
  assert.equal(header.family, "tcp6");
  assert.deepEqual(header.source, tcp("::ffff:192.0.2.7", 1));
});

test("formatProxyHeader() v2 UDP, Unix paths, LOCAL and TLVs read back", () => {
  const udp = roundTrip({
    source: { transport: "udp", hostname: "10.0.0.1", port: 53 },
    destination: { transport: "udp", hostname: "10.0.0.2", port: 5353 },
  });
  assert.equal(udp.family, "udp4");
  assert.deepEqual(udp.destination, {
    transport: "udp",
    hostname: "10.0.0.2",
    port: 5353,
  });

  const unix = roundTrip({
    source: { transport: "unix", path: "/run/client.sock" },
    destination: { transport: "unix", path: "/run/server.sock" },
  });
  assert.equal(unix.family, "unix");
  assert.deepEqual([unix.source, unix.destination], [
    { transport: "unix", path: "/run/client.sock" },
    { transport: "unix", path: "/run/server.sock" },
  ]);
  const longest = "/" + "p".repeat(107);
  assert.deepEqual(
    roundTrip({
      source: { transport: "unix", path: longest },
      destination: { transport: "unix", path: "/s" },
    }).source,
    { transport: "unix", path: longest },
  );

  const local = roundTrip({
    command: "local",
    source: tcp("192.0.2.7", 1),
    destination: tcp("127.0.0.1", 2),
  });
  assert.deepEqual([local.command, local.family, local.source], [
    "local",
    "unknown",
    undefined,
  ]);

  const id = new TextEncoder().encode("request-42");
  const tlvs = [{ type: 0x05, value: id }, {
    type: 0xe0,
    value: new Uint8Array(0),
  }];
  const withTlvs = roundTrip({
    source: tcp("192.0.2.7", 1),
    destination: tcp("127.0.0.1", 2),
    tlvs,
  });
  assert.deepEqual(withTlvs.tlvs, tlvs);
  // Neither address: the unspecified family, TLVs kept.
  assert.deepEqual(roundTrip({ tlvs }).tlvs, tlvs);
});

test("formatProxyHeader() v1 is the text line HAProxy's send-proxy sends", () => {
  const text = (init: ProxyHeaderInit) =>
    new TextDecoder().decode(formatProxyHeader({ version: 1, ...init }));
  assert.equal(
    text({ source: tcp("192.0.2.7", 5000), destination: tcp("10.1.2.3", 80) }),
    "PROXY TCP4 192.0.2.7 10.1.2.3 5000 80\r\n",
  );
  assert.equal(text({}), "PROXY UNKNOWN\r\n");
  assert.equal(
    text({
      command: "local",
      source: tcp("192.0.2.7", 1),
      destination: tcp("10.1.2.3", 2),
    }),
    "PROXY UNKNOWN\r\n",
  );
  const six = roundTrip({
    version: 1,
    source: tcp("2001:db8:0:0:1::2", 1),
    destination: tcp("::1", 2),
  });
  assert.deepEqual([six.version, six.family, six.source], [
    1,
    "tcp6",
    tcp("2001:db8::1:0:0:2", 1),
  ]);
});

test("formatProxyHeader() refuses what it cannot write, naming it", () => {
  const cases: [ProxyHeaderInit, RegExp][] = [
    [
      { source: tcp("localhost", 1), destination: tcp("127.0.0.1", 2) },
      /the source "localhost" is not an IP address/,
    ],
    [{ source: tcp("127.0.0.1", 1) }, /with a source alone/],
    [{ destination: tcp("127.0.0.1", 1) }, /with a destination alone/],
    [
      { source: tcp("127.0.0.1", 70000), destination: tcp("127.0.0.1", 2) },
      /the source port 70000 must be a whole number from 0 to 65535/,
    ],
    [
      {
        source: tcp("127.0.0.1", 1),
        destination: { transport: "unix", path: "/s" },
      },
      /from tcp to unix: both addresses must be of one kind/,
    ],
    [
      {
        version: 1,
        source: { transport: "udp", hostname: "127.0.0.1", port: 1 },
        destination: { transport: "udp", hostname: "127.0.0.1", port: 2 },
      },
      /version 1 carries TCP only/,
    ],
    [
      { version: 1, tlvs: [{ type: 5, value: new Uint8Array(1) }] },
      /only version 2 carries them/,
    ],
    [
      {
        source: { transport: "unix", path: "/" + "p".repeat(108) },
        destination: { transport: "unix", path: "/s" },
      },
      /the source path has 109 bytes/,
    ],
    [
      { tlvs: [{ type: 256, value: new Uint8Array(0) }] },
      /a type is one byte/,
    ],
    [
      { tlvs: [{ type: 5, value: new Uint8Array(65533) }] },
      /of 65536 bytes after its fixed part/,
    ],
    [{ version: 3 as 2 }, /version 3: it must be 1 or 2/],
  ];
  for (const [init, message] of cases) {
    assert.throws(() => formatProxyHeader(init), (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, /^Cannot format a PROXY/);
      assert.match(error.message, message);
      return true;
    });
  }
});

test("a server with proxyProtocol sees the client formatProxyHeader() names, v1 and v2", async () => {
  await using server = serve(async (socket) => {
    await socket.write(
      `${socket.remoteAddr.hostname} ${socket.remoteAddr.port}\n`,
    );
  }, { port: 0, proxyProtocol: true });
  for (const version of [1, 2] as const) {
    await using upstream = await connect({ port: server.port, timeout: 5000 });
    await upstream.write(formatProxyHeader({
      version,
      source: tcp("203.0.113.9", 4321),
      destination: tcp("127.0.0.1", server.port),
    }));
    await upstream.flush();
    assert.equal(
      await upstream.readLine({ timeout: 5000 }),
      "203.0.113.9 4321",
    );
  }
});
