import assert from "node:assert/strict";
import fc from "npm:fast-check@3";
import {
  canonicalIp,
  formatIp,
  inCidr,
  ipEqual,
  parseIp,
  unmapIp,
} from "../lib/_ip.ts";
import { test } from "./_helpers.ts";

const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const ipv6 = fc.oneof(
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  // Addresses with runs of zero groups, where compression matters.
  fc.array(fc.constantFrom(0, 0, 0, 1, 0xffff, 0xab), {
    minLength: 8,
    maxLength: 8,
  }).map(groupsToBytes),
);
const address = fc.oneof(ipv4, ipv6);

function groupsToBytes(groups: number[]): Uint8Array {
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  });
  return bytes;
}

function bytesToGroups(bytes: Uint8Array): number[] {
  return Array.from(
    { length: 8 },
    (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!,
  );
}

function isMapped(bytes: Uint8Array): boolean {
  return bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) &&
    bytes[10] === 0xff && bytes[11] === 0xff;
}

/**
 * Any RFC 4291 spelling of an IPv6 address: upper or lower case, leading
 * zeros, `::` for any run of zero groups (or none), and the last 32 bits
 * possibly as dotted IPv4.
 */
const ipv6Spelling = ipv6.chain((bytes) =>
  fc.record({
    bytes: fc.constant(bytes),
    pads: fc.array(fc.integer({ min: 0, max: 3 }), {
      minLength: 8,
      maxLength: 8,
    }),
    upper: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
    dotted: fc.boolean(),
    compress: fc.nat(),
    brackets: fc.boolean(),
  }).map(({ pads, upper, dotted, compress, brackets }) => {
    const groups = bytesToGroups(bytes);
    let parts = groups.map((group, i) => {
      const hex = group.toString(16);
      const padded = "0".repeat(Math.min(pads[i]!, 4 - hex.length)) + hex;
      return upper[i] ? padded.toUpperCase() : padded;
    });
    if (dotted) parts = [...parts.slice(0, 6), bytes.subarray(12).join(".")];
    const runs: [number, number][] = [];
    for (let i = 0; i < parts.length; i++) {
      for (let j = i + 1; j <= parts.length; j++) {
        const zeros = groups.slice(i, j).every((g) => g === 0);
        if (zeros && !(dotted && j > 6)) runs.push([i, j]);
      }
    }
    let text = parts.join(":");
    const run = runs[compress % (runs.length + 1)];
    if (run !== undefined) {
      text = `${parts.slice(0, run[0]).join(":")}::${
        parts.slice(run[1]).join(":")
      }`;
    }
    return { bytes, text: brackets ? `[${text}]` : text };
  })
);

/** The range check done with big integers, as a reference. */
function inCidrReference(ip: Uint8Array, base: Uint8Array, bits: number) {
  if (ip.length !== base.length) return false;
  const width = BigInt(base.length * 8);
  const toBig = (b: Uint8Array) =>
    b.reduce((n, byte) => (n << 8n) | BigInt(byte), 0n);
  const shift = width - BigInt(bits);
  return toBig(ip) >> shift === toBig(base) >> shift;
}

test("formatIp() and parseIp() round-trip every address", () => {
  fc.assert(fc.property(address, (bytes) => {
    assert.deepEqual(parseIp(formatIp(bytes)), bytes);
  }));
});

test("parseIp() reads every spelling of an IPv6 address, and formatIp() gives one text", () => {
  fc.assert(fc.property(ipv6Spelling, ({ bytes, text }) => {
    assert.deepEqual(parseIp(text), bytes, text);
    assert.equal(canonicalIp(text), formatIp(bytes), text);
    assert.ok(ipEqual(text, bytes), text);
  }));
});

test("formatIp() writes IPv6 as the URL standard does (RFC 5952), mapped IPv4 as ::ffff:a.b.c.d", () => {
  fc.assert(fc.property(ipv6, (bytes) => {
    const text = formatIp(bytes);
    if (isMapped(bytes)) {
      assert.equal(text, `::ffff:${bytes.subarray(12).join(".")}`);
    } else {
      assert.equal(text, new URL(`http://[${text}]/`).hostname.slice(1, -1));
      const groups = bytesToGroups(bytes).map((g) => g.toString(16));
      assert.equal(
        text,
        new URL(`http://[${groups.join(":")}]/`).hostname.slice(1, -1),
      );
    }
  }));
  fc.assert(fc.property(ipv4, (bytes) => {
    const text = formatIp(bytes);
    assert.equal(new URL(`http://${text}/`).hostname, text);
  }));
});

test("canonicalIp() is idempotent and undefined only for non-addresses", () => {
  fc.assert(fc.property(fc.string({ maxLength: 45 }), (text) => {
    const canonical = canonicalIp(text);
    if (canonical !== undefined) {
      assert.equal(canonicalIp(canonical), canonical);
    }
  }));
  fc.assert(fc.property(address, (bytes) => {
    const text = formatIp(bytes);
    assert.equal(canonicalIp(text), text);
  }));
});

test("parseIp() refuses what is not one plain literal", () => {
  for (
    const text of [
      "",
      "127.000.000.001",
      "127.0.0.01",
      "0127.0.0.1",
      "127.1",
      "1.2.3",
      "1.2.3.4.5",
      "256.0.0.1",
      "1.2.3.-1",
      "0x7f.0.0.1",
      " 1.2.3.4",
      "1.2.3.4 ",
      "1e2.0.0.1",
      "[1.2.3.4]",
      "::1::",
      ":::",
      ":1",
      "1:",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7:8::",
      "::1:2:3:4:5:6:7:8",
      "1:2:3:4:5:6:7",
      "00000::1",
      "g::1",
      "fe80::1%eth0",
      "::1.2.3.4:5",
      "::ffff:1.2.3.04",
      "[::1",
      "localhost",
    ]
  ) {
    assert.equal(parseIp(text), undefined, JSON.stringify(text));
  }
});

test("every spelling of ::1 (and of a mapped 127.0.0.1) is one address", () => {
  for (const text of ["0:0:0:0:0:0:0:1", "::0001", "[::1]", "::1", "0::1"]) {
    assert.equal(canonicalIp(text), "::1", text);
    assert.ok(ipEqual(text, "::1"), text);
  }
  assert.ok(ipEqual("::ffff:127.0.0.1", "127.0.0.1"));
  assert.ok(ipEqual("::FFFF:7f00:1", "127.0.0.1"));
  assert.ok(!ipEqual("::127.0.0.1", "127.0.0.1"));
  assert.ok(!ipEqual("127.0.0.1", "127.0.0.2"));
  assert.ok(!ipEqual("localhost", "localhost"));
  assert.equal(canonicalIp("2001:DB8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
  assert.equal(canonicalIp("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
});

test("ipEqual() holds exactly when the unmapped bytes are equal", () => {
  fc.assert(fc.property(address, address, (a, b) => {
    const same = formatIp(unmapIp(a)) === formatIp(unmapIp(b));
    assert.equal(ipEqual(a, b), same);
    assert.equal(ipEqual(formatIp(a), formatIp(b)), same);
  }));
  fc.assert(fc.property(ipv4, (bytes) => {
    const mapped = `::ffff:${bytes.join(".")}`;
    assert.ok(ipEqual(mapped, bytes));
    assert.ok(ipEqual(bytes, mapped));
  }));
});

test("inCidr() agrees with a big-integer reference", () => {
  const range = address.chain((base) =>
    fc.tuple(
      fc.constant(base),
      fc.integer({ min: 0, max: base.length * 8 }),
    )
  );
  fc.assert(fc.property(range, address, ([base, bits], ip) => {
    const cidr = `${formatIp(base)}/${bits}`;
    const inFamily = base.length === 4
      ? unmapIp(ip)
      : ip.length === 4
      ? parseIp(`::ffff:${ip.join(".")}`)!
      : ip;
    assert.equal(
      inCidr(ip, cidr),
      inCidrReference(inFamily, base, bits),
      `${formatIp(ip)} in ${cidr}`,
    );
  }));
  fc.assert(fc.property(range, ([base, bits]) => {
    assert.ok(inCidr(base, `${formatIp(base)}/${bits}`));
  }));
});

test("inCidr() on examples, and a bad range is a TypeError", () => {
  assert.ok(inCidr("127.3.2.1", "127.0.0.0/8"));
  assert.ok(inCidr("::ffff:127.0.0.1", "127.0.0.0/8"));
  assert.ok(inCidr("10.1.2.3", "::ffff:10.0.0.0/104"));
  assert.ok(inCidr("fe80::1", "fe80::/10"));
  assert.ok(inCidr("::1", "::1"));
  assert.ok(!inCidr("::2", "::1"));
  assert.ok(!inCidr("128.0.0.1", "127.0.0.0/8"));
  assert.ok(!inCidr("::1", "0.0.0.0/0"));
  assert.ok(!inCidr("not an address", "0.0.0.0/0"));
  for (
    const cidr of [
      "",
      "10.0.0.0/33",
      "::/129",
      "10.0.0.0/",
      "10.0.0.0/08",
      "x/8",
    ]
  ) {
    assert.throws(() => inCidr("10.0.0.1", cidr), TypeError, cidr);
  }
});

test(
  "parseIp() refuses a stray bracket, a third ::, and dotted IPv4 before ::",
  () => {
    for (
      const text of [
        "0::1]",
        "a::1]",
        "1:2:3:4:5:6:7:8::::",
        "1:2:3:4:5:6:7:8::1::2",
        "1.2.3.4::1",
        "1.2.3.4::",
      ]
    ) {
      assert.equal(parseIp(text), undefined, JSON.stringify(text));
    }
    // Dotted IPv4 is for the last 32 bits only, after :: or not.
    assert.equal(canonicalIp("1::1.2.3.4"), "1::102:304");
    assert.equal(canonicalIp("::1.2.3.4"), "::102:304");
  },
  { permissions: "none" },
);

test("formatIp() on a mapped IPv4 address and on a wrong length", () => {
  const mapped = new Uint8Array(16);
  mapped.set([0xff, 0xff, 192, 0, 2, 33], 10);
  assert.equal(formatIp(mapped), "::ffff:192.0.2.33");
  assert.equal(canonicalIp("::FFFF:c000:0221"), "::ffff:192.0.2.33");
  assert.throws(() => formatIp(new Uint8Array(5)), {
    name: "TypeError",
    message: "Cannot format an IP address of 5 bytes: it must have 4 or 16",
  });
}, { permissions: "none" });

test(
  "ipEqual() is false when only one side is an address, or one is a prefix of the other",
  () => {
    assert.ok(!ipEqual("127.0.0.1", "localhost"));
    assert.ok(!ipEqual("localhost", "127.0.0.1"));
    assert.ok(!ipEqual("::1", "[::1"));
    // The IPv4 address's bytes begin the IPv6 one: still two addresses.
    assert.ok(!ipEqual("1.2.3.4", "102:304::"));
    assert.ok(!ipEqual(new Uint8Array([1, 2, 3, 4]), parseIp("102:304::")!));
    assert.ok(!ipEqual(parseIp("102:304::")!, "1.2.3.4"));
  },
  { permissions: "none" },
);

test("inCidr() names a bad range and says what a range is", () => {
  for (const cidr of ["x/8", "10.0.0.0/33", "", "/8"]) {
    assert.throws(() => inCidr("10.0.0.1", cidr), {
      name: "TypeError",
      message: `Cannot use the range ${
        JSON.stringify(cidr)
      }: it must be an IP address with an optional /prefix length (e.g. "10.0.0.0/8", "fe80::/10")`,
    });
  }
}, { permissions: "none" });
