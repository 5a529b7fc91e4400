// Multicast and broadcast, on the loopback interface only: groups are
// joined on 127.0.0.1 (IPv4) or on lo (IPv6, interface-local ff01::, which
// never leaves the machine), and every datagram sent comes from a socket
// bound to 127.0.0.1, which Linux sends out on lo.
import assert from "node:assert/strict";
import {
  AddressInUseError,
  AddressNotAvailableError,
  ConnectionClosedError,
  listenDatagram,
} from "../mod.ts";
import { test } from "./_helpers.ts";

const GROUP = "239.255.77.1";
const decoder = new TextDecoder();

/** `deno run` of the multicast fixture with `grants`; its JSON line. */
async function multicastCase(
  grants: string,
  ...args: string[]
): Promise<Record<string, unknown>> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 20_000);
  try {
    const { stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-config",
        "--unstable-net",
        `--allow-net=${grants}`,
        new URL("./fixtures/multicast_case.ts", import.meta.url).pathname,
        ...args,
      ],
      // No check for a newer Deno: it would ask DNS for dl.deno.land.
      env: { DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
    const out = decoder.decode(stdout);
    assert.match(out, /^\{/, decoder.decode(stderr));
    return JSON.parse(out);
  } finally {
    clearTimeout(timer);
  }
}

/** The index of the loopback interface: Linux gives lo index 1. */
const loIndex = Deno.build.os === "linux" ? 1 : undefined;

test("a group joined on 127.0.0.1 receives what a 127.0.0.1 sender sends to it, until it leaves", async () => {
  assert.deepEqual(
    await multicastCase(`127.0.0.1,${GROUP}`, "group", GROUP),
    { joined: { text: "one", from: "127.0.0.1" }, left: null },
  );
});

test("broadcast needs no option: a datagram to 127.255.255.255 arrives", async () => {
  assert.deepEqual(
    await multicastCase(
      "127.0.0.1,127.255.255.255",
      "broadcast",
      "127.255.255.255",
    ),
    { received: { text: "hello", from: "127.0.0.1" } },
  );
});

test("joinMulticast() gives a membership that leaves once, however often asked", async () => {
  using socket = listenDatagram({ port: 0 });
  const membership = await socket.joinMulticast("::ffff:239.255.77.2", {
    interface: "127.0.0.1",
  });
  assert.equal(membership.group, "239.255.77.2");
  assert.equal(membership.left, false);
  await membership.setTTL(0);
  await membership.setTTL(255);
  await membership.setLoopback(true);
  await membership.leave();
  assert.equal(membership.left, true);
  await membership.leave();
  // Left, the group can be joined again.
  const again = await socket.joinMulticast("239.255.77.2", {
    interface: "127.0.0.1",
  });
  await again.leave();
});

test("joinMulticast() twice on one interface is an AddressInUseError", async () => {
  using socket = listenDatagram({ port: 0 });
  const membership = await socket.joinMulticast(GROUP, {
    interface: "127.0.0.1",
  });
  await assert.rejects(
    socket.joinMulticast(GROUP, { interface: "127.0.0.1" }),
    (error) =>
      error instanceof AddressInUseError && error.cause instanceof Error &&
      error.message ===
        `Cannot join ${GROUP} on 127.0.0.1: this socket is already a member`,
  );
  await membership.leave();
});

test("joinMulticast() refuses a group, an interface or a socket that cannot work, in one line each", async () => {
  using socket = listenDatagram({ port: 0 });
  await assert.rejects(
    socket.joinMulticast("127.0.0.1"),
    /^TypeError: Cannot join "127\.0\.0\.1": it is not a multicast address \(IPv4 224\.0\.0\.0\/4, IPv6 ff00::\/8\)$/,
  );
  await assert.rejects(socket.joinMulticast("239.255.0.01"), TypeError);
  await assert.rejects(
    socket.joinMulticast(GROUP, { interface: "lo" }),
    /^TypeError: Cannot join on the interface "lo": for an IPv4 group it must be the interface's IPv4 address, e\.g\. "127\.0\.0\.1"$/,
  );
  await assert.rejects(
    socket.joinMulticast("ff01::4242", { interface: 1 }),
    /^TypeError: Cannot join ff01::4242 on interface 1: this socket is bound to 127\.0\.0\.1, and an IPv6 group needs a socket bound to an IPv6 address \(e\.g\. "::"\)$/,
  );
  // TEST-NET-3: an address no interface of this machine has.
  await assert.rejects(
    socket.joinMulticast(GROUP, { interface: "203.0.113.99" }),
    (error) =>
      error instanceof AddressNotAvailableError &&
      error.message ===
        `Cannot join ${GROUP} on 203.0.113.99: no interface has the address 203.0.113.99`,
  );
});

test("a membership's setters check their arguments", async () => {
  using socket = listenDatagram({ port: 0 });
  const membership = await socket.joinMulticast(GROUP, {
    interface: "127.0.0.1",
  });
  await assert.rejects(
    membership.setTTL(256),
    /^RangeError: Cannot set the multicast TTL to 256: it must be a whole number from 0 to 255$/,
  );
  await assert.rejects(membership.setTTL(1.5), RangeError);
  await assert.rejects(
    membership.setTTL(-1),
    /^RangeError: Cannot set the multicast TTL to -1: it must be a whole number from 0 to 255$/,
  );
  await assert.rejects(
    membership.setLoopback("yes" as unknown as boolean),
    /^TypeError: Cannot set multicast loopback to yes: it must be true or false$/,
  );
  await membership.leave();
});

test("after the socket closes, joining and setting fail as closed and leaving does nothing", async () => {
  const socket = listenDatagram({ port: 0 });
  const membership = await socket.joinMulticast(GROUP, {
    interface: "127.0.0.1",
  });
  socket.close();
  await assert.rejects(membership.setTTL(2), {
    name: "ConnectionClosedError",
    message: `Cannot set the multicast TTL for ${GROUP}: the socket is closed`,
  });
  await assert.rejects(membership.setLoopback(false), {
    name: "ConnectionClosedError",
    message: `Cannot set multicast loopback for ${GROUP}: the socket is closed`,
  });
  await membership.leave();
  assert.equal(membership.left, true);
  await assert.rejects(
    socket.joinMulticast(GROUP, { interface: "127.0.0.1" }),
    /^ConnectionClosedError: Cannot join 239\.255\.77\.1 on 127\.0\.0\.1: the socket is closed$/,
  );
});

test({
  name:
    "an IPv6 group is joined on an interface index; its TTL cannot be set in Deno",
  ignore: loIndex === undefined,
  async fn() {
    using socket = listenDatagram({ hostname: "::1", port: 0 });
    const membership = await socket.joinMulticast("FF01:0:0:0:0:0:0:4242", {
      interface: loIndex!,
    });
    assert.equal(membership.group, "ff01::4242");
    await membership.setLoopback(true);
    await assert.rejects(
      membership.setTTL(1),
      /^TypeError: Cannot set the TTL for ff01::4242: Deno has no hop-limit setting for IPv6 multicast$/,
    );
    await assert.rejects(
      socket.joinMulticast("ff01::4243", { interface: "1" }),
      /^TypeError: Cannot join on the interface "1": for an IPv6 group it must be the interface's index/,
    );
    await assert.rejects(
      socket.joinMulticast("ff01::4243", { interface: 999_999 }),
      (error) =>
        error instanceof AddressNotAvailableError &&
        error.message ===
          "Cannot join ff01::4243 on interface 999999: no interface has the index 999999",
    );
    await membership.leave();
    assert.equal(membership.left, true);
  },
});

test("joinMulticast() names a group that is not a string, and an interface of the wrong kind, in one line", async () => {
  using socket = listenDatagram({ port: 0 });
  for (const [group, shown] of [[42, "42"], [{}, "[object Object]"]]) {
    await assert.rejects(
      socket.joinMulticast(group as unknown as string),
      (error) =>
        error instanceof TypeError &&
        error.message ===
          `Cannot join ${shown}: it is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)`,
    );
  }
  await assert.rejects(
    socket.joinMulticast("239.255.0.01"),
    /^TypeError: Cannot join "239\.255\.0\.01": it is not a multicast address/,
  );
  for (const networkInterface of [1, "::1"]) {
    await assert.rejects(
      socket.joinMulticast(GROUP, { interface: networkInterface }),
      (error) =>
        error instanceof TypeError &&
        error.message ===
          `Cannot join on the interface ${
            JSON.stringify(networkInterface)
          }: for an IPv4 group it must be the interface's IPv4 address, e.g. "127.0.0.1"`,
    );
  }
});

test("joinMulticast() on a closed socket names the interface it was asked for, or the default one", async () => {
  const socket = listenDatagram({ port: 0 });
  socket.close();
  await assert.rejects(
    socket.joinMulticast(GROUP),
    /^ConnectionClosedError: Cannot join 239\.255\.77\.1 on the default interface: the socket is closed$/,
  );
  const socket6 = listenDatagram({ hostname: "::1", port: 0 });
  socket6.close();
  for (
    const [networkInterface, shown] of [
      [undefined, "the default interface"],
      [0, "interface 0"],
      [0xffff_ffff, "interface 4294967295"],
    ] as const
  ) {
    await assert.rejects(
      socket6.joinMulticast(
        "ff01::4242",
        networkInterface === undefined ? {} : { interface: networkInterface },
      ),
      (error) =>
        error instanceof ConnectionClosedError &&
        error.message ===
          `Cannot join ff01::4242 on ${shown}: the socket is closed`,
    );
  }
  for (const networkInterface of [-1, 1.5, 0x1_0000_0000, "1"]) {
    await assert.rejects(
      socket6.joinMulticast("ff01::4242", {
        interface: networkInterface as number,
      }),
      (error) =>
        error instanceof TypeError &&
        error.message.startsWith(
          `Cannot join on the interface ${
            JSON.stringify(networkInterface)
          }: for an IPv6 group it must be the interface's index`,
        ),
    );
  }
});

test("joinMulticast() without an interface joins an IPv4 group on the default one", async () => {
  using socket = listenDatagram({ port: 0 });
  const membership = await socket.joinMulticast(GROUP);
  assert.equal(membership.group, GROUP);
  await membership.leave();
});
