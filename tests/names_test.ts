import assert from "node:assert/strict";
import {
  HostNotFoundError,
  ipaddrToHostname,
  lookupHostname,
  parseIp,
  PermissionError,
} from "../mod.ts";
import { testsWithDeadline } from "./_helpers.ts";

/** Bounded tests: the resolver tests start programs, so 10 s each. */
const test = testsWithDeadline(10_000);

const FIXTURE = new URL("./fixtures/names_case.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

type Case = [
  "lookup" | "reverse" | "connect",
  string,
  { family?: 4 | 6; timeout?: number }?,
];

interface Run {
  results: Record<string, unknown>[];
  stderr: string;
}

/**
 * Runs `deno run` with `args`, under `wrapper` if given (a command that
 * runs the rest of its arguments); killed if it takes longer than 20 s.
 */
async function runDeno(wrapper: string[], args: string[]): Promise<Run> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 20_000);
  try {
    const command = [
      ...wrapper,
      Deno.execPath(),
      "run",
      "--no-config",
      ...args,
    ];
    const { stdout, stderr } = await new Deno.Command(command[0]!, {
      args: command.slice(1),
      // No check for a newer Deno: it would ask DNS for dl.deno.land.
      env: { DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
    const out = decoder.decode(stdout);
    const err = decoder.decode(stderr);
    assert.match(out, /^\[/, `no results; stderr: ${err}`);
    return { results: JSON.parse(out), stderr: err };
  } finally {
    clearTimeout(timer);
  }
}

/** The cases in a child process with the grants given; this machine's resolver. */
function runHere(grants: string[], cases: Case[]): Promise<Run> {
  return runDeno(
    [],
    [...grants, "--no-prompt", FIXTURE, "none", JSON.stringify(cases)],
  );
}

// A private network and mount namespace: only a loopback interface, and
// our own /etc/hosts and /etc/resolv.conf (a name server on 127.0.0.1 that
// gives up after 1 s). Nothing a test does there can leave the machine.
const HOSTS = [
  "127.0.0.1 localhost",
  "::1 localhost",
  "127.0.0.77 sock-test.example",
].join("\n");
const RESOLV = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n";
const NAMESPACE_GRANTS = [
  "--unstable-net",
  "--allow-net=127.0.0.1,[::1],localhost,sock-test.example,nothere.example,nothere.example:9,127.0.0.77,127.0.0.78",
];

const namespaces = await (async () => {
  try {
    const { success } = await new Deno.Command("unshare", {
      args: [
        "-mn",
        "sh",
        "-c",
        "ip link set lo up && mount -t tmpfs none /mnt",
      ],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
})();
if (!namespaces) {
  console.log(
    "names_test: skipping the resolver tests (they need unshare -mn, ip and mount, as root)",
  );
}

/** The cases in a private namespace, with `server` on 127.0.0.1:53. */
async function runIsolated(
  server: "none" | "nxdomain" | "silent",
  cases: Case[],
): Promise<Record<string, unknown>[]> {
  const dir = await Deno.makeTempDir({ prefix: "sock_names_" });
  try {
    await Deno.writeTextFile(`${dir}/hosts`, `${HOSTS}\n`);
    await Deno.writeTextFile(`${dir}/resolv.conf`, RESOLV);
    const script = [
      "ip link set lo up",
      `mount --bind ${dir}/hosts /etc/hosts`,
      `mount --bind ${dir}/resolv.conf /etc/resolv.conf`,
      'exec "$@"',
    ].join(" && ");
    const { results } = await runDeno(
      ["unshare", "-mn", "sh", "-c", script, "sh"],
      [...NAMESPACE_GRANTS, FIXTURE, server, JSON.stringify(cases)],
    );
    return results;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

test("lookupHostname() finds localhost in /etc/hosts", async () => {
  const addresses = await lookupHostname("localhost", { timeout: 2000 });
  assert.ok(addresses.includes("127.0.0.1"), String(addresses));
  for (const address of addresses) assert.ok(parseIp(address), address);
  assert.deepEqual(
    await lookupHostname("localhost", { family: 4, timeout: 2000 }),
    ["127.0.0.1"],
  );
});

test("lookupHostname() gives an IP address back in canonical form, without a lookup", async () => {
  assert.deepEqual(await lookupHostname("0:0:0:0:0:0:0:1"), ["::1"]);
  assert.deepEqual(await lookupHostname("[::1]"), ["::1"]);
  assert.deepEqual(await lookupHostname("::ffff:127.0.0.1"), ["127.0.0.1"]);
  assert.deepEqual(await lookupHostname("10.1.2.3", { family: 4 }), [
    "10.1.2.3",
  ]);
  await assert.rejects(
    lookupHostname("127.0.0.1", { family: 6 }),
    HostNotFoundError,
  );
});

test("lookupHostname() and ipaddrToHostname() refuse bad arguments before any lookup", async () => {
  await assert.rejects(lookupHostname("bad host"), TypeError);
  await assert.rejects(
    lookupHostname("localhost", { family: 5 as 4 }),
    /Cannot use family 5: it must be 4 or 6/,
  );
  await assert.rejects(
    lookupHostname("localhost", { timeout: -1 }),
    RangeError,
  );
  const reason = new Error("stop");
  await assert.rejects(
    lookupHostname("localhost", { signal: AbortSignal.abort(reason) }),
    (error) => error === reason,
  );
  await assert.rejects(
    ipaddrToHostname("localhost"),
    /Cannot look up the name of "localhost": it is not an IP address \(to look up a name's addresses, use lookupHostname\(\)\)/,
  );
  await assert.rejects(ipaddrToHostname(2 ** 32), RangeError);
  await assert.rejects(ipaddrToHostname(new Uint8Array(5)), TypeError);
});

test("ipaddrToHostname() finds 127.0.0.1 in /etc/hosts, however the address is given", async () => {
  const name = await ipaddrToHostname("127.0.0.1", { timeout: 2000 });
  assert.equal(name, "localhost");
  assert.equal(await ipaddrToHostname(2130706433), name);
  assert.equal(await ipaddrToHostname(new Uint8Array([127, 0, 0, 1])), name);
  assert.equal(await ipaddrToHostname("::ffff:127.0.0.1"), name);
});

test("without the grant, each lookup is one PermissionError naming the flag", async () => {
  const { results, stderr } = await runHere(["--allow-net=127.0.0.1"], [
    ["lookup", "localhost"],
    ["reverse", "::1"],
    ["reverse", "127.0.0.2"],
  ]);
  assert.deepEqual(results, [
    {
      name: "PermissionError",
      message:
        'Cannot look up "localhost": permission denied, run again with --allow-net=localhost',
    },
    {
      name: "PermissionError",
      message:
        "Cannot look up the name of ::1: permission denied, run again with --allow-net=[::1]",
    },
    {
      name: "PermissionError",
      message:
        "Cannot look up the name of 127.0.0.2: permission denied, run again with --allow-net=127.0.0.2",
    },
  ]);
  assert.equal(stderr, "");
});

test("the grants the errors name are the ones that work", async () => {
  const { results } = await runHere(
    ["--allow-net=localhost,127.0.0.1"],
    [["lookup", "localhost", { family: 4 }], ["reverse", "127.0.0.1"]],
  );
  assert.deepEqual(results, [{ ok: ["127.0.0.1"] }, { ok: "localhost" }]);
});

test({
  name:
    "lookupHostname() and ipaddrToHostname() read /etc/hosts with no name server answering",
  ignore: !namespaces,
  async fn() {
    const results = await runIsolated("none", [
      ["lookup", "localhost"],
      ["lookup", "sock-test.example"],
      ["lookup", "localhost", { family: 6 }],
      ["reverse", "127.0.0.77"],
      ["reverse", "::1"],
    ]);
    (results[0]?.ok as string[] | undefined)?.sort();
    assert.deepEqual(
      results,
      [
        { ok: ["127.0.0.1", "::1"] },
        { ok: ["127.0.0.77"] },
        { ok: ["::1"] },
        { ok: "sock-test.example" },
        { ok: "localhost" },
      ],
    );
  },
});

test({
  name:
    "a name or an address the name server does not know is a HostNotFoundError",
  ignore: !namespaces,
  async fn() {
    assert.deepEqual(
      await runIsolated("nxdomain", [
        ["lookup", "nothere.example"],
        ["lookup", "sock-test.example", { family: 6 }],
        ["reverse", "127.0.0.78"],
      ]),
      [
        {
          name: "HostNotFoundError",
          message:
            'Cannot look up "nothere.example": no address found (check the spelling)',
        },
        {
          name: "HostNotFoundError",
          message:
            'Cannot look up "sock-test.example": no IPv6 address found (check the spelling)',
        },
        {
          name: "HostNotFoundError",
          message:
            "Cannot look up the name of 127.0.0.78: no name found (the address has no line in /etc/hosts and no PTR record)",
        },
      ],
    );
  },
});

test({
  name:
    "a name server that does not answer is a TimeoutError at the caller's timeout",
  ignore: !namespaces,
  async fn() {
    // The resolver itself gives up after 1 s; the caller's 200 ms comes
    // first, and the error says so.
    assert.deepEqual(
      await runIsolated("silent", [
        ["lookup", "nothere.example", { timeout: 200 }],
        ["reverse", "127.0.0.78", { timeout: 200 }],
      ]),
      [
        {
          name: "TimeoutError",
          message: 'Cannot look up "nothere.example": timed out after 200 ms',
          timeout: 200,
        },
        {
          name: "TimeoutError",
          message:
            "Cannot look up the name of 127.0.0.78: timed out after 200 ms",
          timeout: 200,
        },
      ],
    );
  },
});

test({
  name:
    "when the resolver gives up first, that is a TimeoutError saying the name server did not answer",
  ignore: !namespaces,
  async fn() {
    const [result] = await runIsolated("silent", [[
      "lookup",
      "nothere.example",
    ]]);
    assert.equal(result?.name, "TimeoutError");
    assert.match(
      String(result?.message),
      /^Cannot look up "nothere\.example": the name server did not answer \(the system resolver gave up after \d+ ms; check the name servers in \/etc\/resolv\.conf, or try again later\)$/,
    );
  },
});

test({
  name:
    "connect() to a name the resolver gives up on is the same TimeoutError as lookupHostname()'s",
  ignore: !namespaces,
  async fn() {
    const [result] = await runIsolated("silent", [[
      "connect",
      "nothere.example",
    ]]);
    assert.equal(result?.name, "TimeoutError", JSON.stringify(result));
    assert.match(
      String(result?.message),
      /^Cannot connect to nothere\.example:9: the name server did not answer \(the system resolver gave up after \d+ ms; check the name servers in \/etc\/resolv\.conf, or try again later\)$/,
    );
  },
});

test("lookupHostname() and ipaddrToHostname() name the argument and the family in their errors", async () => {
  await assert.rejects(lookupHostname("bad host"), {
    name: "TypeError",
    message:
      'Cannot use name "bad host": it is not a host name or an IP address',
  });
  await assert.rejects(lookupHostname("127.0.0.1", { family: 6 }), {
    name: "HostNotFoundError",
    message:
      'Cannot look up "127.0.0.1": it is an IPv4 address, and IPv6 was asked for',
  });
  await assert.rejects(lookupHostname("::1", { family: 4 }), {
    name: "HostNotFoundError",
    message:
      'Cannot look up "::1": it is an IPv6 address, and IPv4 was asked for',
  });
  assert.deepEqual(await lookupHostname("::1", { family: 6 }), ["::1"]);
  for (const bytes of [new Uint8Array(5), new Uint8Array(0)]) {
    await assert.rejects(ipaddrToHostname(bytes), {
      name: "TypeError",
      message:
        `Cannot look up the name of ${bytes.length} bytes: it is not an IP address (to look up a name's addresses, use lookupHostname())`,
    });
  }
  await assert.rejects(ipaddrToHostname(null as unknown as string), {
    name: "TypeError",
    message:
      "Cannot look up the name of null: it is not an IP address (to look up a name's addresses, use lookupHostname())",
  });
});

// This process may reach only the loopback names and addresses it is
// started with; a lookup of any other is refused before it asks anyone.
const unscoped = Deno.permissions.querySync({
  name: "net",
  host: "sock-test.example",
}).state === "granted";

test({
  name:
    "without the grant in this process, a lookup is a PermissionError naming the flag, with the resolver's error as the cause",
  ignore: unscoped,
  async fn() {
    const cases: [() => Promise<unknown>, string][] = [
      [
        () => lookupHostname("sock-test.example", { family: 4 }),
        'Cannot look up "sock-test.example": permission denied, run again with --allow-net=sock-test.example',
      ],
      [
        () => ipaddrToHostname("127.0.0.3"),
        "Cannot look up the name of 127.0.0.3: permission denied, run again with --allow-net=127.0.0.3",
      ],
      [
        () => ipaddrToHostname(new Uint8Array([...new Uint8Array(15), 2])),
        "Cannot look up the name of ::2: permission denied, run again with --allow-net=[::2]",
      ],
    ];
    for (const [lookup, message] of cases) {
      const error = await lookup().catch((e) => e);
      assert.ok(error instanceof PermissionError, String(error));
      assert.equal(error.message, message);
      assert.ok(
        error.cause instanceof Error,
        "the resolver's error is the cause",
      );
    }
  },
});
