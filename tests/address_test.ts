// The public address functions, as mod.ts exports them: Allegro CL's
// integer addresses, and the text/bytes/range functions they share with
// the connected-UDP peer check and the PROXY trust list.
import assert from "node:assert/strict";
import fc from "npm:fast-check@3";
import {
  dottedToIpaddr,
  formatIp,
  inCidr,
  ipaddrToDotted,
  ipEqual,
  parseIp,
} from "../mod.ts";
import { test } from "./_helpers.ts";

const uint32 = fc.integer({ min: 0, max: 0xffff_ffff });
const quad = fc.tuple(
  fc.integer({ min: 0, max: 255 }),
  fc.integer({ min: 0, max: 255 }),
  fc.integer({ min: 0, max: 255 }),
  fc.integer({ min: 0, max: 255 }),
);

test({
  name: "dottedToIpaddr() and ipaddrToDotted() on Allegro CL's examples",
  permissions: "none",
  fn() {
    assert.equal(dottedToIpaddr("127.0.0.1"), 2130706433);
    assert.equal(ipaddrToDotted(2130706433), "127.0.0.1");
    assert.equal(dottedToIpaddr("0.0.0.0"), 0);
    assert.equal(dottedToIpaddr("255.255.255.255"), 4294967295);
    assert.equal(ipaddrToDotted(4294967295), "255.255.255.255");
    assert.equal(dottedToIpaddr("192.168.1.10"), 3232235786);
  },
});

test({
  name: "dottedToIpaddr() is the big-endian value of the four numbers",
  permissions: "none",
  fn() {
    fc.assert(fc.property(quad, ([a, b, c, d]) => {
      assert.equal(
        dottedToIpaddr(`${a}.${b}.${c}.${d}`),
        a * 2 ** 24 + b * 2 ** 16 + c * 2 ** 8 + d,
      );
    }));
  },
});

test({
  name: "ipaddrToDotted() and dottedToIpaddr() round-trip every 32-bit address",
  permissions: "none",
  fn() {
    fc.assert(fc.property(uint32, (n) => {
      const dotted = ipaddrToDotted(n);
      assert.equal(dottedToIpaddr(dotted), n);
      assert.deepEqual(
        parseIp(dotted),
        new Uint8Array(dotted.split(".").map(Number)),
      );
    }));
    fc.assert(fc.property(quad, (parts) => {
      const dotted = parts.join(".");
      assert.equal(ipaddrToDotted(dottedToIpaddr(dotted)), dotted);
    }));
  },
});

test({
  name: "dottedToIpaddr() refuses anything but a plain dotted IPv4 address",
  permissions: "none",
  fn() {
    for (
      const text of [
        "127.1",
        "127.000.000.001",
        "0x7f.0.0.1",
        "256.0.0.1",
        "1.2.3.4.5",
        " 1.2.3.4",
        "",
        "::1",
        "::ffff:127.0.0.1",
        "localhost",
      ]
    ) {
      assert.throws(
        () => dottedToIpaddr(text),
        (error: unknown) =>
          error instanceof TypeError &&
          error.message.startsWith(
            `Cannot read ${JSON.stringify(text)} as an IPv4 address: `,
          ),
        text,
      );
    }
    // A caller without types may pass anything: the message names it.
    for (
      const [value, named] of [
        [2130706433, "2130706433"],
        [Symbol("x"), "Symbol(x)"],
        [undefined, "undefined"],
      ] as const
    ) {
      assert.throws(
        () => dottedToIpaddr(value as unknown as string),
        (error: unknown) =>
          error instanceof TypeError &&
          error.message.startsWith(`Cannot read ${named} as an IPv4 address: `),
        named,
      );
    }
  },
});

test({
  name: "ipaddrToDotted() refuses what is not a 32-bit unsigned integer",
  permissions: "none",
  fn() {
    for (const n of [-1, 2 ** 32, 1.5, NaN, Infinity]) {
      assert.throws(
        () => ipaddrToDotted(n),
        /^RangeError: Cannot use .* as an IPv4 address: it must be a whole number from 0 to 4294967295$/,
        String(n),
      );
    }
    assert.throws(() => ipaddrToDotted("1" as unknown as number), RangeError);
  },
});

test({
  name: "inCidr() agrees with integer prefix arithmetic on IPv4",
  permissions: "none",
  fn() {
    fc.assert(fc.property(
      uint32,
      uint32,
      fc.integer({ min: 0, max: 32 }),
      (ip, base, bits) => {
        const shift = 32 - bits;
        const same = bits === 0 ||
          Math.floor(ip / 2 ** shift) === Math.floor(base / 2 ** shift);
        const range = `${ipaddrToDotted(base)}/${bits}`;
        assert.equal(inCidr(ipaddrToDotted(ip), range), same);
        // The mapped spelling of the address is in the same ranges.
        assert.equal(inCidr(`::ffff:${ipaddrToDotted(ip)}`, range), same);
      },
    ));
    // An address that differs from the base only past the prefix is in.
    fc.assert(fc.property(
      uint32,
      uint32,
      fc.integer({ min: 0, max: 32 }),
      (base, noise, bits) => {
        const low = 2 ** (32 - bits);
        const ip = base - (base % low) + (noise % low);
        assert.ok(
          inCidr(ipaddrToDotted(ip), `${ipaddrToDotted(base)}/${bits}`),
        );
      },
    ));
  },
});

test({
  name:
    "ipEqual() treats every spelling of an address as one, and different addresses as different",
  permissions: "none",
  fn() {
    fc.assert(fc.property(uint32, uint32, (a, b) => {
      const x = ipaddrToDotted(a);
      assert.ok(ipEqual(x, `::ffff:${x}`));
      assert.ok(ipEqual(`[::ffff:${x}]`, parseIp(x)!));
      assert.equal(ipEqual(x, ipaddrToDotted(b)), a === b);
    }));
    assert.ok(ipEqual("0:0:0:0:0:0:0:1", "::1"));
    assert.ok(ipEqual("::0001", "[::1]"));
    assert.ok(!ipEqual("::1", "127.0.0.1"));
    assert.ok(!ipEqual("127.000.000.001", "127.0.0.1"));
  },
});

test({
  name:
    "IPv6 text and its 16 bytes round-trip through parseIp() and formatIp()",
  permissions: "none",
  fn() {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      (bytes) => {
        const text = formatIp(bytes);
        assert.ok(text.length <= 45 && text === text.toLowerCase(), text);
        assert.deepEqual(parseIp(text), bytes);
        assert.deepEqual(parseIp(`[${text.toUpperCase()}]`), bytes);
      },
    ));
    assert.equal(formatIp(parseIp("2001:DB8:0:0:0:0:0:1")!), "2001:db8::1");
    assert.throws(() => formatIp(new Uint8Array(5)), TypeError);
  },
});

test({
  name:
    "ipEqual() and inCidr() take 4 or 16 bytes as an address, and no other length",
  permissions: "none",
  fn() {
    for (const length of [0, 5, 12, 20]) {
      const bytes = new Uint8Array(length);
      assert.ok(!ipEqual(bytes, bytes), `${length} bytes`);
      assert.ok(!ipEqual(bytes, new Uint8Array(length)), `${length} bytes`);
      assert.ok(!inCidr(bytes, "0.0.0.0/0"), `${length} bytes`);
      assert.ok(!inCidr(bytes, "::/0"), `${length} bytes`);
    }
    // 20 bytes that begin as a mapped address are not one either.
    const long = new Uint8Array(20);
    long.set([0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8], 10);
    assert.ok(!ipEqual(long, long.slice(12)));
    assert.ok(
      ipEqual(new Uint8Array(4), new Uint8Array(16).fill(0xff, 10, 12)),
    );
  },
});
