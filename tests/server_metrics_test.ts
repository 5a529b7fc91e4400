// OpenTelemetry metrics end to end: a child process runs servers under a
// known load with OTEL_DENO=true, and what Deno's own exporter sends (on
// the console, and as OTLP/HTTP JSON to a receiver here on loopback) is
// compared with the stats the servers report themselves.
import assert from "node:assert/strict";
import type { ServerStats } from "../mod.ts";
import { bounded, test } from "./_helpers.ts";

const decoder = new TextDecoder();
const FIXTURE = new URL("./fixtures/metrics_servers.ts", import.meta.url)
  .pathname;

/** What the fixture prints: each server's stats and where it listened. */
interface Printed {
  tcp: ServerStats & { port: number };
  unix: ServerStats & { path: string };
  udp: ServerStats & { port: number };
}

/** One data point: its attributes (as text) and its value or count. */
interface Point {
  attributes: Record<string, string>;
  value: number;
}

/** The points of each metric, by name. */
type Exported = Map<string, Point[]>;

/** Runs the fixture with `env`; its stats, and its stderr. */
async function runServers(
  env: Record<string, string>,
): Promise<{ printed: Printed; stderr: string }> {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/m.sock`;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        `--allow-net=127.0.0.1,unix:${path}`,
        `--allow-read=${dir}`,
        `--allow-write=${dir}`,
        FIXTURE,
        path,
      ],
      // Only what Deno needs to find its cache: no OTEL_ variable leaks in.
      env: { ...inherited(), NO_COLOR: "1", ...env },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = await bounded(child, 20_000, "the metrics fixture");
    const stderr = decoder.decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const line = decoder.decode(out.stdout).split("\n")[0]!;
    return { printed: JSON.parse(line) as Printed, stderr };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function inherited(): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) kept[name] = value;
  }
  return kept;
}

/** Reads the console exporter's `METRIC` blocks. */
function parseConsole(text: string): Exported {
  const exported: Exported = new Map();
  for (const block of text.split(/^METRIC /m).slice(1)) {
    const name = block.slice(0, block.indexOf(" "));
    const points: Point[] = [];
    for (const line of block.split("\n")) {
      const point = /^\s+\{(.*)\} (?:value=(\S+)|count=(\d+) )/.exec(line);
      if (!point) continue;
      const attributes: Record<string, string> = {};
      for (const pair of point[1] ? point[1].split(", ") : []) {
        const at = pair.indexOf("=");
        attributes[pair.slice(0, at)] = pair.slice(at + 1);
      }
      points.push({ attributes, value: Number(point[2] ?? point[3]) });
    }
    exported.set(name, points);
  }
  return exported;
}

/** Reads the metrics of an OTLP/HTTP JSON export. */
function parseOtlpJson(body: unknown): Exported {
  type Value = Record<string, unknown>;
  interface DataPoint {
    attributes?: { key: string; value: Value }[];
    asInt?: string | number;
    asDouble?: number;
    count?: string | number;
  }
  interface Metric {
    name: string;
    sum?: { dataPoints: DataPoint[] };
    histogram?: { dataPoints: DataPoint[] };
  }
  const exported: Exported = new Map();
  const { resourceMetrics } = body as {
    resourceMetrics: { scopeMetrics: { metrics: Metric[] }[] }[];
  };
  for (const resource of resourceMetrics) {
    for (const scope of resource.scopeMetrics) {
      for (const metric of scope.metrics) {
        const points = metric.sum?.dataPoints ??
          metric.histogram?.dataPoints ?? [];
        exported.set(
          metric.name,
          points.map((point) => ({
            attributes: Object.fromEntries(
              (point.attributes ?? []).map((
                { key, value },
              ) => [key, String(Object.values(value)[0])]),
            ),
            value: Number(point.asInt ?? point.asDouble ?? point.count),
          })),
        );
      }
    }
  }
  return exported;
}

/** The value of `name` at exactly `attributes`. */
function valueOf(
  exported: Exported,
  name: string,
  attributes: Record<string, string>,
): number | undefined {
  const wanted = JSON.stringify(Object.entries(attributes).sort());
  const point = exported.get(name)?.find((point) =>
    JSON.stringify(Object.entries(point.attributes).sort()) === wanted
  );
  return point?.value;
}

/** Every metric the fixture's load must have produced, checked against its stats. */
function checkAgainstStats(exported: Exported, printed: Printed): void {
  const { tcp, unix, udp } = printed;
  const onTcp = {
    "server.address": "127.0.0.1",
    "server.port": String(tcp.port),
    "network.transport": "tcp",
    tls: "false",
  };
  const onUnix = { "server.address": unix.path, "network.transport": "unix" };
  const onUdp = {
    "server.address": "127.0.0.1",
    "server.port": String(udp.port),
    "network.transport": "udp",
  };
  const expect = (
    name: string,
    attributes: Record<string, string>,
    value: number,
  ) =>
    assert.equal(
      valueOf(exported, name, attributes),
      value,
      `${name} ${JSON.stringify(attributes)}`,
    );
  // The fixture's load: three TCP clients (one makes its handler throw a
  // TypeError), one Unix client, three datagrams of which one is too big.
  assert.equal(tcp.accepted, 3);
  assert.equal(tcp.handlerErrors, 1);
  assert.equal(unix.accepted, 1);
  assert.equal(udp.datagramsTooBig, 1);
  for (const [stats, on] of [[tcp, onTcp], [unix, onUnix]] as const) {
    expect("sock.server.connections.accepted", on, stats.accepted);
    expect("sock.server.connections.active", on, 0);
    expect("sock.server.connection.duration", on, stats.accepted);
    expect("sock.server.bytes.received", on, stats.bytesReceived);
    expect("sock.server.bytes.sent", on, stats.bytesSent);
  }
  expect(
    "sock.server.errors",
    { ...onTcp, "error.type": "TypeError" },
    tcp.handlerErrors,
  );
  expect("sock.server.datagrams.received", onUdp, udp.datagramsReceived);
  expect("sock.server.datagrams.sent", onUdp, udp.datagramsReplied);
  expect(
    "sock.server.datagrams.dropped",
    { ...onUdp, reason: "too_big" },
    udp.datagramsTooBig,
  );
  expect("sock.server.bytes.received", onUdp, udp.bytesReceived);
  expect("sock.server.bytes.sent", onUdp, udp.bytesSent);
  assert.equal(
    exported.get("sock.server.connections.accepted")?.length,
    2,
    "no connection metrics for the datagram server",
  );
}

test(
  "OTEL_DENO=true: Deno's console exporter shows the servers' metrics, equal to their stats",
  async () => {
    const { printed, stderr } = await runServers({
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_PROTOCOL: "console",
    });
    checkAgainstStats(parseConsole(stderr), printed);
  },
  { deadline: 30_000 },
);

test("without OTEL_DENO no server registers a metric", async () => {
  const { printed, stderr } = await runServers({
    OTEL_EXPORTER_OTLP_PROTOCOL: "console",
  });
  assert.equal(printed.tcp.accepted, 3);
  assert.doesNotMatch(stderr, /METRIC|sock\.server/);
}, { deadline: 30_000 });

test(
  "OTEL_DENO=true: an OTLP/HTTP JSON receiver gets the servers' metrics, equal to their stats",
  async () => {
    const bodies: unknown[] = [];
    const receiver = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen() {},
    }, async (request) => {
      const url = new URL(request.url);
      if (
        request.method === "POST" && url.pathname === "/v1/metrics" &&
        request.headers.get("content-type") === "application/json"
      ) {
        bodies.push(await request.json());
      } else await request.body?.cancel();
      return Response.json({});
    });
    try {
      const { printed } = await runServers({
        OTEL_DENO: "true",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.addr.port}`,
        OTEL_SERVICE_NAME: "sock-metrics-test",
      });
      assert.ok(bodies.length > 0, "the receiver got an export");
      // Sums are cumulative: the last export holds the final counts.
      const last = bodies.at(-1) as {
        resourceMetrics: {
          resource: { attributes: { key: string; value: Value }[] };
          scopeMetrics: { scope: { name: string } }[];
        }[];
      };
      type Value = { stringValue?: string };
      const resource = last.resourceMetrics[0]!;
      assert.equal(
        resource.resource.attributes.find((a) => a.key === "service.name")
          ?.value.stringValue,
        "sock-metrics-test",
      );
      assert.ok(
        resource.scopeMetrics.some((s) => s.scope.name === "@sock/sock"),
        "sock's own scope",
      );
      checkAgainstStats(parseOtlpJson(last), printed);
    } finally {
      await receiver.shutdown();
    }
  },
  { deadline: 30_000 },
);
