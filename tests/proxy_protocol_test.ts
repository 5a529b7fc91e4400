// The PROXY header parser: the bytes HAProxy 2.6 sends, every malformed
// variant we could think of, and fuzzing with random and truncated headers.
import assert from "node:assert/strict";
import fc from "npm:fast-check@3";
import {
  crc32c,
  parseProxyHeader,
  ProxyHeaderError,
  type ProxyVersions,
} from "../lib/_proxy_protocol.ts";
import { formatIp } from "../lib/_ip.ts";
import { test } from "./_helpers.ts";

const encoder = new TextEncoder();
const text = (s: string) => encoder.encode(s);
const hex = (s: string) =>
  new Uint8Array(s.trim().split(/\s+/).map((b) => parseInt(b, 16)));
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

const SIGNATURE = hex("0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a");

interface V2 {
  command?: number;
  family?: number;
  transport?: number;
  addresses?: Uint8Array;
  tlvs?: { type: number; value: Uint8Array }[];
  crc?: boolean;
}

/** A v2 header as a sender would build it. */
function encodeV2(v2: V2): Uint8Array {
  const tlvs = [...(v2.tlvs ?? [])];
  if (v2.crc) tlvs.push({ type: 0x03, value: new Uint8Array(4) });
  const tlvBytes = concat(
    ...tlvs.map(({ type, value }) =>
      concat(
        new Uint8Array([type, value.length >> 8, value.length & 0xff]),
        value,
      )
    ),
  );
  const body = concat(v2.addresses ?? new Uint8Array(0), tlvBytes);
  const header = concat(
    SIGNATURE,
    new Uint8Array([
      0x20 | (v2.command ?? 1),
      ((v2.family ?? 1) << 4) | (v2.transport ?? 1),
      body.length >> 8,
      body.length & 0xff,
    ]),
    body,
  );
  if (v2.crc) {
    const sum = crc32c(header);
    new DataView(header.buffer).setUint32(header.length - 4, sum);
  }
  return header;
}

function inet4(src: number[], dst: number[], sport: number, dport: number) {
  const out = new Uint8Array(12);
  out.set(src, 0);
  out.set(dst, 4);
  new DataView(out.buffer).setUint16(8, sport);
  new DataView(out.buffer).setUint16(10, dport);
  return out;
}

function parse(bytes: Uint8Array, versions: ProxyVersions = "either") {
  return parseProxyHeader(bytes, versions);
}

function rejects(bytes: Uint8Array, pattern: RegExp, versions?: ProxyVersions) {
  assert.throws(() => parse(bytes, versions), (error: unknown) => {
    assert.ok(error instanceof ProxyHeaderError, String(error));
    assert.match(error.message, pattern);
    return true;
  });
}

test("v1: HAProxy's TCP4 header, byte for byte, alone", () => {
  const bytes = hex(
    "50 52 4f 58 59 20 54 43 50 34 20 31 32 37 2e 30 2e 30 2e 31 20 31 32 37 2e 30 2e 30 2e 31 20 34 32 34 34 32 20 33 39 33 39 31 0d 0a",
  );
  const parsed = parse(bytes)!;
  assert.equal(parsed.length, 44);
  assert.deepEqual(parsed.header, {
    version: 1,
    command: "proxy",
    family: "tcp4",
    source: { transport: "tcp", hostname: "127.0.0.1", port: 42442 },
    destination: { transport: "tcp", hostname: "127.0.0.1", port: 39391 },
    tlvs: [],
  });
});

test("v1: TCP6 with the client's bytes in the same read", () => {
  const bytes = text("PROXY TCP6 ::1 ::1 42468 52895\r\nhello-from-client\n");
  const parsed = parse(bytes)!;
  assert.equal(parsed.length, 32);
  assert.equal(
    new TextDecoder().decode(bytes.subarray(parsed.length)),
    "hello-from-client\n",
  );
  assert.equal(parsed.header.family, "tcp6");
  assert.deepEqual(parsed.header.source, {
    transport: "tcp",
    hostname: "::1",
    port: 42468,
  });
});

test("v1: IPv6 addresses come out in canonical form", () => {
  const parsed = parse(
    text("PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::ffff:10.0.0.1 1 65535\r\n"),
  )!;
  assert.equal((parsed.header.source as Deno.NetAddr).hostname, "2001:db8::1");
  assert.equal(
    (parsed.header.destination as Deno.NetAddr).hostname,
    "::ffff:10.0.0.1",
  );
  assert.equal((parsed.header.destination as Deno.NetAddr).port, 65535);
});

test("v1: UNKNOWN, with or without the rest of the line", () => {
  for (
    const line of ["PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ::1 1 2\r\n"]
  ) {
    const parsed = parse(text(line + "x"))!;
    assert.equal(parsed.length, line.length);
    assert.equal(parsed.header.family, "unknown");
    assert.equal(parsed.header.source, undefined);
    assert.equal(parsed.header.destination, undefined);
  }
});

test("v1: every strict beginning of a header asks for more", () => {
  const bytes = text("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n");
  for (let n = 0; n < bytes.length; n++) {
    assert.equal(parse(bytes.subarray(0, n)), undefined, `at ${n} bytes`);
  }
  assert.equal(parse(bytes)!.length, bytes.length);
});

test("v1: the longest header allowed, 107 bytes, parses; one more does not", () => {
  const unknown = "PROXY UNKNOWN ";
  const longest = unknown + "x".repeat(107 - unknown.length - 2) + "\r\n";
  assert.equal(longest.length, 107);
  assert.equal(parse(text(longest))!.length, 107);
  rejects(text(unknown + "x".repeat(107)), /no \\r\\n within its first 107/);
  rejects(text(unknown + "x".repeat(93) + "\r\n"), /no \\r\\n within/);
});

test("v1: malformed headers are refused with the reason", () => {
  const cases: [string, RegExp][] = [
    ["PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n", /protocol "TCP5"/],
    ["PROXY tcp4 1.2.3.4 1.2.3.4 1 2\r\n", /protocol "tcp4"/],
    ["PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n", /five fields/],
    ["PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n", /five fields/],
    ["PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n", /five fields/],
    ["PROXY TCP4 1.2.3.4 1.2.3.4 1 2 \r\n", /five fields/],
    ["PROXY TCP4 ::1 1.2.3.4 1 2\r\n", /source address "::1" is not an IPv4/],
    [
      "PROXY TCP6 ::1 1.2.3.4 1 2\r\n",
      /destination address "1.2.3.4" is not an IPv6/,
    ],
    ["PROXY TCP6 [::1] ::1 1 2\r\n", /source address "\[::1\]"/],
    ["PROXY TCP4 1.2.3.4 1.2.3.400 1 2\r\n", /destination address/],
    ["PROXY TCP4 1.2.3.4 01.2.3.4 1 2\r\n", /destination address/],
    ["PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n", /source port "65536"/],
    ["PROXY TCP4 1.2.3.4 1.2.3.4 1 0443\r\n", /destination port "0443"/],
    ["PROXY TCP4 1.2.3.4 1.2.3.4 -1 2\r\n", /source port "-1"/],
    ["PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX", /\\r is not followed by \\n/],
    ["PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n", /byte 0x0a at 30/],
    ["PROXY TCP4 1.2.3.4\t1.2.3.4 1 2\r\n", /byte 0x09/],
    ["PROXY \r\n", /protocol ""/],
  ];
  for (const [line, pattern] of cases) rejects(text(line), pattern);
});

test("v1: bytes that are no header at all are refused at once", () => {
  rejects(text("1 2 "), /does not begin with a PROXY header.*"1 2 "/);
  rejects(text("GET / HTTP/1.1\r\n"), /"GET \/ HTTP\/1.1\\r\\n"/);
  rejects(text("PROXX"), /does not begin/);
  rejects(text("P\u0000"), /50 00/);
});

test("v2: HAProxy's IPv4 header, byte for byte, with the client's data after it", () => {
  const header = concat(
    SIGNATURE,
    hex("21 11 00 0c 7f 00 00 01 7f 00 00 01 db 70 c5 3f"),
  );
  const data = text("(+ 1 2) more data\n");
  const parsed = parse(concat(header, data))!;
  assert.equal(parsed.length, 28);
  assert.deepEqual(parsed.header, {
    version: 2,
    command: "proxy",
    family: "tcp4",
    source: { transport: "tcp", hostname: "127.0.0.1", port: 56176 },
    destination: { transport: "tcp", hostname: "127.0.0.1", port: 50495 },
    tlvs: [],
  });
});

test("v2: HAProxy's ::1 header, 52 bytes", () => {
  const loopback = new Uint8Array(16);
  loopback[15] = 1;
  const header = concat(
    SIGNATURE,
    hex("21 21 00 24"),
    loopback,
    loopback,
    hex("9e 22 c5 3f"),
  );
  const parsed = parse(header)!;
  assert.equal(parsed.length, 52);
  assert.equal(parsed.header.family, "tcp6");
  assert.deepEqual(parsed.header.source, {
    transport: "tcp",
    hostname: "::1",
    port: 40482,
  });
});

test("v2: the 16-byte LOCAL header of HAProxy's health checks", () => {
  const bytes = concat(SIGNATURE, hex("20 00 00 00"));
  const parsed = parse(bytes)!;
  assert.equal(parsed.length, 16);
  assert.equal(parsed.header.command, "local");
  assert.equal(parsed.header.family, "unknown");
  assert.equal(parsed.header.source, undefined);
});

test("v2: LOCAL ignores an address block of any size", () => {
  const parsed = parse(encodeV2({
    command: 0,
    family: 1,
    transport: 1,
    addresses: new Uint8Array(5),
  }))!;
  assert.equal(parsed.length, 21);
  assert.equal(parsed.header.command, "local");
});

test("v2: PROXY with an unspecified family keeps no addresses", () => {
  const parsed = parse(encodeV2({ family: 0, transport: 0 }))!;
  assert.equal(parsed.header.command, "proxy");
  assert.equal(parsed.header.family, "unknown");
  assert.equal(parsed.header.destination, undefined);
});

test("v2: UDP and Unix families are reported as such", () => {
  const udp = parse(encodeV2({
    transport: 2,
    addresses: inet4([10, 0, 0, 1], [10, 0, 0, 2], 53, 5353),
  }))!;
  assert.equal(udp.header.family, "udp4");
  assert.deepEqual(udp.header.source, {
    transport: "udp",
    hostname: "10.0.0.1",
    port: 53,
  });
  const unix = new Uint8Array(216);
  unix.set(text("/run/client.sock"), 0);
  unix.set(text("/run/server.sock"), 108);
  const parsed = parse(encodeV2({ family: 3, transport: 1, addresses: unix }))!;
  assert.equal(parsed.header.family, "unix");
  assert.deepEqual(parsed.header.source, {
    transport: "unix",
    path: "/run/client.sock",
  });
  assert.deepEqual(parsed.header.destination, {
    transport: "unix",
    path: "/run/server.sock",
  });
});

test("v2: TLVs are parsed and kept in order, after the addresses", () => {
  const tlvs = [
    { type: 0x01, value: text("h2") },
    { type: 0x02, value: text("example.com") },
    { type: 0x04, value: new Uint8Array(0) },
    { type: 0x05, value: hex("de ad be ef") },
    { type: 0xe0, value: new Uint8Array(300).fill(7) },
  ];
  const bytes = encodeV2({
    addresses: inet4([192, 0, 2, 1], [192, 0, 2, 2], 1000, 443),
    tlvs,
  });
  const parsed = parse(concat(bytes, text("rest")))!;
  assert.equal(parsed.length, bytes.length);
  assert.deepEqual(parsed.header.tlvs, tlvs);
  assert.equal((parsed.header.source as Deno.NetAddr).hostname, "192.0.2.1");
});

test("v2: a CRC32C field is checked over the whole header", () => {
  const good = encodeV2({
    addresses: inet4([192, 0, 2, 1], [192, 0, 2, 2], 1000, 443),
    tlvs: [{ type: 0x05, value: text("id-1") }],
    crc: true,
  });
  assert.equal(parse(good)!.header.tlvs.length, 2);
  const damaged = good.slice();
  damaged[17]! ^= 0x01; // The source address.
  rejects(damaged, /CRC32C is 0x[0-9a-f]{8}, but its bytes sum to/);
  const short = encodeV2({
    addresses: inet4([1, 2, 3, 4], [1, 2, 3, 4], 1, 2),
    tlvs: [{ type: 0x03, value: new Uint8Array(3) }],
  });
  rejects(short, /CRC32C field has 3 bytes/);
});

test("crc32c: the standard check value", () => {
  assert.equal(crc32c(text("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
});

test("v2: malformed headers are refused with the reason", () => {
  const addresses = inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2);
  const withByte = (at: number, value: number) => {
    const bytes = encodeV2({ addresses });
    bytes[at] = value;
    return bytes;
  };
  rejects(withByte(12, 0x11), /version 1: only version 2/);
  rejects(withByte(12, 0x31), /version 3/);
  rejects(withByte(12, 0x22), /command 2/);
  rejects(withByte(13, 0x41), /family and transport byte 0x41/);
  rejects(withByte(13, 0x13), /family and transport byte 0x13/);
  rejects(
    encodeV2({ addresses: new Uint8Array(11) }),
    /11 bytes after its first 16, too short for the 12 bytes/,
  );
  rejects(
    encodeV2({ family: 2, addresses: addresses }),
    /too short for the 36 bytes/,
  );
  rejects(
    concat(
      encodeV2({ addresses }).subarray(0, 14),
      hex("00 0e"),
      addresses,
      hex("05 00"),
    ),
    /ends with 2 bytes that are not a whole TLV/,
  );
  rejects(
    concat(SIGNATURE, hex("21 11 00 10"), addresses, hex("05 00 09 41")),
    /type 0x05 claims 9 bytes, but only 1 are left/,
  );
});

test("v2: every strict beginning of a header asks for more", () => {
  const bytes = encodeV2({
    addresses: inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2),
    tlvs: [{ type: 0x02, value: text("a.example") }],
    crc: true,
  });
  for (let n = 0; n < bytes.length; n++) {
    assert.equal(parse(bytes.subarray(0, n)), undefined, `at ${n} bytes`);
  }
});

test("one version only: the other is refused, and named", () => {
  const v1 = text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
  const v2 = encodeV2({ addresses: inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2) });
  assert.equal(parse(v1, "v1")!.header.version, 1);
  assert.equal(parse(v2, "v2")!.header.version, 2);
  rejects(v2, /not begin with a PROXY v1 header.*it is a v2 header/, "v1");
  rejects(v1, /not begin with a PROXY v2 header.*it is a v1 header/, "v2");
  rejects(v2.subarray(0, 1), /it is a v2 header/, "v1");
});

test("the end of the stream before a whole header is an error", () => {
  const v1 = text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
  assert.throws(
    () => parseProxyHeader(new Uint8Array(0), "either", true),
    /ended before its PROXY header/,
  );
  assert.throws(
    () => parseProxyHeader(v1.subarray(0, 10), "either", true),
    /ended inside its PROXY header, after 10 bytes/,
  );
  assert.equal(parseProxyHeader(v1, "either", true)!.length, v1.length);
});

// Fuzzing.

const VERSIONS: ProxyVersions[] = ["v1", "v2", "either"];
const versions = fc.constantFrom(...VERSIONS);

/** What the parser may do with any bytes: ask for more, refuse, or parse. */
function checkOutcome(bytes: Uint8Array, which: ProxyVersions, eof: boolean) {
  let parsed;
  try {
    parsed = parseProxyHeader(bytes, which, eof);
  } catch (error) {
    if (error instanceof ProxyHeaderError) return "refused";
    throw error;
  }
  if (parsed === undefined) {
    assert.ok(!eof, "no answer at the end of the stream");
    assert.ok(bytes.length < 16 + 65535, "asked for more than a header holds");
    return "more";
  }
  assert.ok(Number.isInteger(parsed.length));
  assert.ok(parsed.length > 0 && parsed.length <= bytes.length);
  assert.ok(parsed.header.version === 1 || parsed.header.version === 2);
  return "parsed";
}

test("fuzz: random bytes never crash the parser", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      versions,
      fc.boolean(),
      (bytes, which, eof) => void checkOutcome(bytes, which, eof),
    ),
    { numRuns: 3000 },
  );
});

test("fuzz: random bytes after a valid signature never crash it", () => {
  const v1Start = fc.uint8Array({ maxLength: 120 }).map((rest) =>
    concat(text("PROXY "), rest)
  );
  const v1Texty = fc.array(
    fc.constantFrom(..."PROXY TCP46UNKOW0123456789.:abcdef \r\n".split("")),
    { maxLength: 110 },
  ).map((chars) => text("PROXY " + chars.join("")));
  const v2Start = fc.tuple(
    fc.integer({ min: 0, max: 255 }),
    fc.integer({ min: 0, max: 255 }),
    fc.integer({ min: 0, max: 400 }),
    fc.uint8Array({ maxLength: 400 }),
  ).map(([versionCommand, family, length, rest]) =>
    concat(
      SIGNATURE,
      new Uint8Array([versionCommand, family, length >> 8, length & 0xff]),
      rest,
    )
  );
  fc.assert(
    fc.property(
      fc.oneof(v1Start, v1Texty, v2Start),
      versions,
      fc.boolean(),
      (bytes, which, eof) => void checkOutcome(bytes, which, eof),
    ),
    { numRuns: 3000 },
  );
});

const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const port = fc.integer({ min: 0, max: 65535 });
const tlv = fc.record({
  type: fc.integer({ min: 0, max: 255 }).filter((t) => t !== 0x03),
  value: fc.uint8Array({ maxLength: 40 }),
});

/** A valid header, its bytes, and what it must parse to. */
const validHeader = fc.oneof(
  fc.tuple(fc.boolean(), ipv4, ipv4, ipv6, ipv6, port, port).map(
    ([six, s4, d4, s6, d6, sport, dport]) => {
      const [s, d] = six ? [s6, d6] : [s4, d4];
      const line = `PROXY TCP${six ? 6 : 4} ${formatIp(s)} ${
        formatIp(d)
      } ${sport} ${dport}\r\n`;
      return {
        bytes: text(line),
        family: six ? "tcp6" : "tcp4",
        source: { transport: "tcp", hostname: formatIp(s), port: sport },
        tlvs: [] as { type: number; value: Uint8Array }[],
      };
    },
  ),
  fc.tuple(
    fc.boolean(),
    ipv4,
    ipv4,
    ipv6,
    ipv6,
    port,
    port,
    fc.array(tlv, { maxLength: 4 }),
    fc.boolean(),
  ).map(([six, s4, d4, s6, d6, sport, dport, tlvs, crc]) => {
    const [s, d] = six ? [s6, d6] : [s4, d4];
    const ports = new Uint8Array(4);
    new DataView(ports.buffer).setUint16(0, sport);
    new DataView(ports.buffer).setUint16(2, dport);
    const bytes = encodeV2({
      family: six ? 2 : 1,
      addresses: concat(s, d, ports),
      tlvs,
      crc,
    });
    return {
      bytes,
      family: six ? "tcp6" : "tcp4",
      source: { transport: "tcp", hostname: formatIp(s), port: sport },
      tlvs,
    };
  }),
);

test("fuzz: valid headers parse to what was sent, whatever follows", () => {
  fc.assert(
    fc.property(
      validHeader,
      fc.uint8Array({ maxLength: 64 }),
      ({ bytes, family, source, tlvs }, after) => {
        const parsed = parseProxyHeader(concat(bytes, after), "either")!;
        assert.equal(parsed.length, bytes.length);
        assert.equal(parsed.header.family, family);
        assert.deepEqual(parsed.header.source, source);
        assert.deepEqual(
          parsed.header.tlvs.filter((t) => t.type !== 0x03),
          tlvs,
        );
      },
    ),
    { numRuns: 1000 },
  );
});

test("fuzz: truncated valid headers ask for more, or fail at the end of the stream", () => {
  fc.assert(
    fc.property(
      validHeader,
      fc.nat(),
      ({ bytes }, cut) => {
        const n = cut % bytes.length;
        const head = bytes.subarray(0, n);
        assert.equal(parseProxyHeader(head, "either"), undefined);
        assert.throws(
          () => parseProxyHeader(head, "either", true),
          ProxyHeaderError,
        );
      },
    ),
    { numRuns: 1000 },
  );
});

test("fuzz: a valid header with a byte changed never crashes the parser", () => {
  fc.assert(
    fc.property(
      validHeader,
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      versions,
      ({ bytes }, where, flip, which) => {
        const damaged = bytes.slice();
        damaged[where % damaged.length]! ^= flip;
        checkOutcome(damaged, which, false);
        checkOutcome(damaged, which, true);
      },
    ),
    { numRuns: 2000 },
  );
});

test("fuzz: a header fed in random pieces parses as it does whole", () => {
  fc.assert(
    fc.property(
      validHeader,
      fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1 }),
      ({ bytes }, pieces) => {
        let have = 0;
        let parsed;
        for (let i = 0; parsed === undefined; i++) {
          have = Math.min(bytes.length, have + pieces[i % pieces.length]!);
          parsed = parseProxyHeader(bytes.subarray(0, have), "either");
          if (have === bytes.length) break;
        }
        assert.deepEqual(parsed, parseProxyHeader(bytes, "either"));
      },
    ),
    { numRuns: 500 },
  );
});

test("fuzz: a huge v2 length is waited for, never read past the buffer", () => {
  const header = concat(SIGNATURE, hex("21 11 ff ff"), new Uint8Array(100));
  assert.equal(parse(header), undefined);
  const whole = concat(
    SIGNATURE,
    hex("21 11 ff ff"),
    inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2),
    hex("e0 ff f0"),
    new Uint8Array(0xfff0),
  );
  assert.equal(parse(whole)!.length, 16 + 0xffff);
});

const PURE = { permissions: "none" } as const;

test(
  "a refusal shows the first 16 bytes, as text where they are printable, else as hex",
  () => {
    const refusal = (bytes: Uint8Array, versions: ProxyVersions = "either") => {
      try {
        parse(bytes, versions);
      } catch (error) {
        assert.ok(error instanceof ProxyHeaderError);
        return error.message;
      }
      assert.fail("the bytes were not refused");
    };
    const sixteen = "GET / HTTP/1.1\r\n";
    assert.ok(refusal(text(sixteen)).endsWith(JSON.stringify(sixteen)));
    assert.ok(
      refusal(text(sixteen + "Host")).endsWith(`${JSON.stringify(sixteen)} …`),
    );
    assert.ok(refusal(text("GET\t/\n")).endsWith(JSON.stringify("GET\t/\n")));
    assert.ok(refusal(hex("47 7f")).endsWith("47 7f"));
    assert.ok(refusal(hex("47 ff 45")).endsWith("47 ff 45"));
    // The other version is named only when the bytes begin like it.
    for (const versions of ["v1", "v2", "either"] as const) {
      assert.doesNotMatch(refusal(text("GET /"), versions), /it is a v/);
    }
  },
  PURE,
);

test(
  "v1: printable bytes up to ~ are allowed in the header, no byte above",
  () => {
    const tilde = parse(text("PROXY UNKNOWN ~\r\n"))!;
    assert.deepEqual(tilde, {
      header: {
        version: 1,
        command: "proxy",
        family: "unknown",
        source: undefined,
        destination: undefined,
        tlvs: [],
      },
      length: 17,
    });
    rejects(text("PROXY UNKNOWN \x7f\r\n"), /byte 0x7f at 14/);
    rejects(
      concat(text("PROXY UNKNOWN "), hex("c3 a9"), text("\r\n")),
      /byte 0xc3 at 14/,
    );
  },
  PURE,
);

test("v1: 107 bytes with no \\r\\n among them can never be a header", () => {
  const bytes = text("PROXY UNKNOWN " + "x".repeat(93));
  assert.equal(bytes.length, 107);
  assert.equal(parse(bytes.subarray(0, 106)), undefined);
  rejects(bytes, /no \\r\\n within its first 107 bytes/);
}, PURE);

test("v2: the family and transport byte is shown as two hex digits", () => {
  const bytes = encodeV2({
    addresses: inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2),
  });
  bytes[13] = 0x03;
  rejects(bytes, /family and transport byte 0x03:/);
}, PURE);

test(
  "v2: an unspecified transport carries no addresses, whatever the family",
  () => {
    const plain = parse(encodeV2({ family: 1, transport: 0 }))!;
    assert.equal(plain.header.family, "unknown");
    assert.equal(plain.header.source, undefined);
    // With TLVs and a CRC32C field: the TLVs start right after the 16 bytes.
    const value = new Uint8Array(12);
    value[9] = 0x03; // Where a CRC32C field would be after 12 bytes of addresses.
    const bytes = encodeV2({
      family: 1,
      transport: 0,
      tlvs: [{ type: 0x05, value }],
      crc: true,
    });
    const parsed = parse(bytes)!;
    assert.equal(parsed.length, bytes.length);
    assert.deepEqual(parsed.header.tlvs.map((tlv) => tlv.type), [0x05, 0x03]);
    assert.deepEqual(parsed.header.tlvs[0]!.value, value);
  },
  PURE,
);

test("v2: LOCAL with a short address block has no TLVs", () => {
  const parsed = parse(encodeV2({
    command: 0,
    family: 2,
    transport: 1,
    addresses: new Uint8Array(12),
  }))!;
  assert.deepEqual(parsed.header, {
    version: 2,
    command: "local",
    family: "unknown",
    source: undefined,
    destination: undefined,
    tlvs: [],
  });
}, PURE);

test("v2: Unix datagram addresses, and abstract names with their NUL", () => {
  const unix = new Uint8Array(216);
  unix.set(text("\0client"), 0);
  unix.set(text("/run/server.sock"), 108);
  const parsed = parse(encodeV2({ family: 3, transport: 2, addresses: unix }))!;
  assert.equal(parsed.header.family, "unixgram");
  assert.deepEqual(parsed.header.source, {
    transport: "unixpacket",
    path: "\0client",
  });
  assert.deepEqual(parsed.header.destination, {
    transport: "unixpacket",
    path: "/run/server.sock",
  });
}, PURE);

test("v2: a TLV cut short is refused, wherever it is in the header", () => {
  const addresses = inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2);
  const withTlvs = (tlvBytes: Uint8Array) =>
    concat(
      SIGNATURE,
      new Uint8Array([0x21, 0x11, 0, 12 + tlvBytes.length]),
      addresses,
      tlvBytes,
    );
  rejects(
    withTlvs(hex("01 00 01 61 05 00")),
    /ends with 2 bytes that are not a whole TLV field/,
  );
  rejects(
    withTlvs(hex("05 00 02 41")),
    /type 0x05 claims 2 bytes, but only 1 are left/,
  );
  rejects(
    withTlvs(hex("01 00 01 61 05 00 09 41")),
    /type 0x05 claims 9 bytes, but only 1 are left/,
  );
}, PURE);

test("v2: a damaged CRC32C shows both sums as eight hex digits", () => {
  // A header whose sum has a leading zero digit.
  let header: Uint8Array | undefined;
  for (let i = 0; header === undefined; i++) {
    const candidate = encodeV2({
      addresses: inet4([192, 0, 2, 1], [192, 0, 2, 2], 1000, 443),
      tlvs: [{ type: 0x05, value: text(`id-${i}`) }],
      crc: true,
    });
    const sum = new DataView(candidate.buffer).getUint32(candidate.length - 4);
    if (sum < 0x10000000) header = candidate;
  }
  new DataView(header.buffer).setUint32(header.length - 4, 1);
  rejects(header, /CRC32C is 0x00000001, but its bytes sum to 0x0[0-9a-f]{7}:/);
}, PURE);
