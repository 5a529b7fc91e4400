// A server's counts as OpenTelemetry metrics, through the meter provider
// Deno has built in (`Deno.telemetry.meterProvider`). Deno exports them
// itself when the process runs with OTEL_DENO=true; otherwise its provider
// refuses to make a meter, and no server registers anything.

type Meter = ReturnType<typeof Deno.telemetry.meterProvider.getMeter>;
type Counter = ReturnType<Meter["createCounter"]>;

/** The instruments every server of the process records into. */
interface Instruments {
  accepted: Counter;
  active: ReturnType<Meter["createUpDownCounter"]>;
  duration: ReturnType<Meter["createHistogram"]>;
  errors: Counter;
  bytesReceived: Counter;
  bytesSent: Counter;
  datagramsReceived: Counter;
  datagramsSent: Counter;
  datagramsDropped: Counter;
}

type Attributes = Record<string, string | number | boolean>;

/** Connection durations' bucket bounds, in seconds: 1 ms to 1 hour. */
const DURATION_BOUNDS = [
  0.001,
  0.005,
  0.01,
  0.05,
  0.1,
  0.5,
  1,
  5,
  10,
  30,
  60,
  300,
  900,
  3600,
];

/** Made at the first server; `null` when OpenTelemetry is off. */
let instruments: Instruments | null | undefined;

function makeInstruments(): Instruments | null {
  let meter: Meter;
  try {
    // Throws when the process was not started with OTEL_DENO=true.
    meter = Deno.telemetry.meterProvider.getMeter("@sock/sock");
  } catch {
    return null;
  }
  const counter = (name: string, unit: string, description: string) =>
    meter.createCounter(name, { unit, description });
  return {
    accepted: counter(
      "sock.server.connections.accepted",
      "{connection}",
      "Connections accepted",
    ),
    active: meter.createUpDownCounter("sock.server.connections.active", {
      unit: "{connection}",
      description: "Connections being handled",
    }),
    duration: meter.createHistogram("sock.server.connection.duration", {
      unit: "s",
      description: "How long connections stayed open",
      advice: { explicitBucketBoundaries: DURATION_BOUNDS },
    }),
    errors: counter(
      "sock.server.errors",
      "{error}",
      "Errors told to onError, by error class",
    ),
    bytesReceived: counter(
      "sock.server.bytes.received",
      "By",
      "Bytes received",
    ),
    bytesSent: counter("sock.server.bytes.sent", "By", "Bytes sent"),
    datagramsReceived: counter(
      "sock.server.datagrams.received",
      "{datagram}",
      "Datagrams received",
    ),
    datagramsSent: counter(
      "sock.server.datagrams.sent",
      "{datagram}",
      "Replies sent",
    ),
    datagramsDropped: counter(
      "sock.server.datagrams.dropped",
      "{datagram}",
      "Datagrams dropped unhandled, by reason",
    ),
  };
}

/**
 * The metrics of one server, or `undefined` when OpenTelemetry is off:
 * `addr` is where it listens, `tls` whether it serves over TLS.
 */
export function serverMetrics(
  addr: Deno.Addr,
  tls: boolean | undefined,
): ServerMetrics | undefined {
  instruments ??= makeInstruments();
  if (instruments === null) return undefined;
  const attributes: Attributes = addr.transport === "tcp" ||
      addr.transport === "udp"
    ? {
      "server.address": addr.hostname,
      "server.port": addr.port,
      "network.transport": addr.transport,
    }
    : {
      "server.address": (addr as Deno.UnixAddr).path ?? "",
      "network.transport": "unix",
    };
  if (tls !== undefined) attributes.tls = tls;
  return new ServerMetrics(instruments, attributes);
}

/** Records one server's events into the shared instruments. */
export class ServerMetrics {
  readonly #on: Instruments;
  readonly #attributes: Attributes;
  /** Each error class's attributes, made once. */
  readonly #byError = new Map<string, Attributes>();
  /** Each drop reason's attributes, made once. */
  readonly #byReason = new Map<string, Attributes>();
  /** When the connection in each slot began (`performance.now()`). */
  readonly #began: number[] = [];

  constructor(on: Instruments, attributes: Attributes) {
    this.#on = on;
    this.#attributes = attributes;
  }

  /** A connection began in `slot`. */
  began(slot: number): void {
    this.#began[slot] = performance.now();
    this.#on.accepted.add(1, this.#attributes);
    this.#on.active.add(1, this.#attributes);
  }

  /** The connection in `slot` ended, having moved these bytes. */
  ended(slot: number, received: number, sent: number): void {
    const seconds = (performance.now() - (this.#began[slot] ?? 0)) / 1000;
    this.#on.active.add(-1, this.#attributes);
    this.#on.duration.record(seconds, this.#attributes);
    if (received > 0) this.#on.bytesReceived.add(received, this.#attributes);
    if (sent > 0) this.#on.bytesSent.add(sent, this.#attributes);
  }

  /** A datagram of `bytes` bytes arrived. */
  received(bytes: number): void {
    this.#on.datagramsReceived.add(1, this.#attributes);
    this.#on.bytesReceived.add(bytes, this.#attributes);
  }

  /** A reply of `bytes` bytes was sent. */
  sent(bytes: number): void {
    this.#on.datagramsSent.add(1, this.#attributes);
    this.#on.bytesSent.add(bytes, this.#attributes);
  }

  /** A datagram was dropped: `too_big`, `stranger` or `over_limit`. */
  dropped(reason: string): void {
    this.#on.datagramsDropped.add(
      1,
      this.#keyed(this.#byReason, "reason", reason),
    );
  }

  /** An error was told to `onError`. */
  error(error: unknown): void {
    const type = error instanceof Error ? error.name : typeof error;
    this.#on.errors.add(1, this.#keyed(this.#byError, "error.type", type));
  }

  #keyed(
    cache: Map<string, Attributes>,
    key: string,
    value: string,
  ): Attributes {
    let attributes = cache.get(value);
    if (attributes === undefined) {
      attributes = { ...this.#attributes, [key]: value };
      cache.set(value, attributes);
    }
    return attributes;
  }
}
