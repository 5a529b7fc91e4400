#!/usr/bin/env -S deno run --allow-net=127.0.0.1:9231
/**
 * The sum server of the Allegro CL socket tutorial, made safe to expose: on
 * 127.0.0.1:9231 it reads two Lisp numbers from each client and writes
 * their sum exactly as a Common Lisp `(format s "~s" (+ a b))` would (no
 * newline), then closes the connection. Many clients are served at once.
 *
 * Anything else gets one readable Lisp form that is not a number, such as
 * `(:ERROR "FOO is not a number")`, and the server goes on serving everyone
 * else: nothing is ever evaluated (`#.` is refused), and tokens, nesting
 * and idle clients are bounded. Ctrl-C or SIGTERM stop it: requests
 * already begun are answered, and a client that has sent nothing yet is told
 * `(:ERROR "the server is shutting down")`; it exits 0.
 *
 * Behind a load balancer (docs/DEPLOYMENT.md), `--proxy-protocol` makes it
 * read the PROXY header HAProxy's `send-proxy-v2` sends, and
 * `--drain-delay MS` makes a stop lossless: for that long it serves on but
 * fails the balancer's health checks, so the balancer stops sending before
 * the port closes. `--reuse-port` (with `--unstable-net`) lets several sum
 * servers share one port, the kernel spreading connections among them:
 * `workers.ts` runs one per core that way.
 *
 * When it stops it prints a summary of its stats (`served 1,234 clients, 2
 * errors, …`); `--stats-every SECS` prints it periodically too.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1:9231 examples/sum_server.ts [--host 127.0.0.1] [--port 9231] [--tls-cert FILE --tls-key FILE] [--unix PATH] [--idle-timeout 10000] [--max-connections 1024] [--quiet] [--proxy-protocol] [--drain-delay MS] [--reuse-port] [--stats-every SECS]
 * deno run --allow-net=127.0.0.1:9231 jsr:@sock/sock/sum-server
 * deno run --allow-net=127.0.0.1:9231 https://jsr.io/@sock/sock/0.1.0/examples/sum_server.ts
 * ```
 *
 * The grant names the one address it listens on; with `--host H --port P`
 * grant `--allow-net=H:P` instead. `--help` lists the flags.
 *
 * Over TLS, give the certificate and its key, and grant reading the two
 * files:
 *
 * ```sh
 * deno run --allow-net=127.0.0.1:9231 --allow-read=server.crt,server.key examples/sum_server.ts --tls-cert server.crt --tls-key server.key
 * ```
 *
 * On a Unix domain socket, grant the path three times (a socket file left
 * by a server that crashed is removed; anything else there is left alone):
 *
 * ```sh
 * deno run --allow-read=/tmp/sum.sock --allow-write=/tmp/sum.sock --allow-net=unix:/tmp/sum.sock examples/sum_server.ts --unix /tmp/sum.sock
 * ```
 *
 * @module
 */
import {
  add,
  ConnectionResetError,
  EndOfStreamError,
  formatLisp,
  type HandlerContext,
  isLispNumber,
  type LispDatum,
  LispList,
  type LispNumber,
  LispSymbol,
  readLisp,
  serve,
  type Socket,
  SocketError,
} from "../mod.ts";
import {
  countFlag,
  describeListener,
  durationFlag,
  hostFlag,
  listenPortFlag,
  millisecondsFlag,
  onStopSignal,
  parseFlags,
  plainProxyOptions,
  PROXY_FLAGS,
  proxyHelp,
  run,
  tlsListenFlags,
  unixFlag,
  UsageError,
} from "./_common/cli.ts";
import {
  reportStats,
  STATS_FLAG,
  statsEveryFlag,
  statsHelp,
} from "./_common/stats.ts";

const HELP =
  `usage: sum_server.ts [--host 127.0.0.1] [--port 9231] [--tls-cert FILE --tls-key FILE] [--unix PATH] [--idle-timeout 10000] [--max-connections 1024] [--quiet] [--proxy-protocol] [--drain-delay MS] [--reuse-port] [--stats-every SECS]

Reads two Lisp numbers from each client and writes their sum, or an
(:ERROR "...") form for anything else (the Allegro CL tutorial's sum
server). Ctrl-C stops it.

  --host H               the address to listen on (default 127.0.0.1)
  --port P               the port, 0 to 65535; 0 lets the OS choose (default 9231)
  --tls-cert FILE        serve over TLS with this PEM certificate...
  --tls-key FILE         ...and this PEM private key
  --unix PATH            listen on a Unix domain socket instead of TCP
  --idle-timeout MS      close a client silent this long (default 10000)
  --max-connections N    serve at most N clients at once (default 1024)
  --quiet                print no report of a client that fails
${proxyHelp(25)}
  --drain-delay MS       on Ctrl-C or SIGTERM, serve on this long first, failing
                         health checks, so a load balancer can stop sending
                         (default 0)
  --reuse-port           share the port with other sum servers (SO_REUSEPORT),
                         one process per core; needs --unstable-net
${statsHelp(25)}
  -h, --help             show this help

Grant: --allow-net=127.0.0.1:9231; with --host H --port P, --allow-net=H:P;
with --tls-cert C --tls-key K also --allow-read=C,K; with --unix P
--allow-read=P --allow-write=P --allow-net=unix:P.`;

/** The most clients the server takes at once: far beyond any descriptor limit. */
const MOST_CONNECTIONS = 1_000_000;

/** A request that cannot be summed; its message goes back to the client. */
class BadRequest extends Error {}

async function readNumber(socket: Socket, which: string): Promise<LispNumber> {
  let datum: LispDatum;
  try {
    datum = await readLisp(socket);
  } catch (error) {
    if (error instanceof EndOfStreamError) {
      throw new BadRequest(
        which === "first"
          ? "expected two numbers, got an empty request"
          : "expected two numbers, the request ended after one",
      );
    }
    throw error;
  }
  if (!isLispNumber(datum)) {
    throw new BadRequest(`${formatLisp(datum)} is not a number`);
  }
  return datum;
}

/** Reads and drops what a client is still sending, for a short while, so it can read our answer before the connection closes. */
async function drain(socket: Socket): Promise<void> {
  const scrap = new Uint8Array(16384);
  const until = performance.now() + 200;
  let dropped = 0;
  while (dropped < 1 << 20) {
    const timeout = until - performance.now();
    if (timeout <= 0) return;
    const n = await socket.read(scrap, { timeout }).catch(() => null);
    if (n === null) return;
    dropped += n;
  }
}

/**
 * Serves one sum request on `socket`: two Lisp numbers in, their sum out,
 * or an `(:ERROR "…")` form for anything else. When `signal` aborts before
 * the client has sent anything, the answer is
 * `(:ERROR "the server is shutting down")`; a request already begun is
 * answered.
 *
 * @param socket A connected socket; the caller closes it.
 * @param context `signal`: aborts when the server begins to shut down.
 * @returns A promise that settles when the answer is written and flushed.
 *
 * @example
 * ```ts
 * import { connect, serve } from "@sock/sock";
 * import { handleSum } from "@sock/sock/sum-server";
 * import assert from "node:assert/strict";
 *
 * await using server = serve(handleSum, { port: 0 });
 * await using client = await connect({ port: server.port });
 * await client.write("1 3 ");
 * await client.flush();
 * const answer = await client.readAll({ timeout: 2000 });
 * assert.equal(new TextDecoder().decode(answer), "4");
 * ```
 */
export async function handleSum(
  socket: Socket,
  { signal }: Partial<HandlerContext> = {},
): Promise<void> {
  let answer: string;
  let failed = false;
  try {
    if (signal) await socket.waitForInput({ signal });
    const a = await readNumber(socket, "first");
    const b = await readNumber(socket, "second");
    answer = formatLisp(add(a, b));
  } catch (error) {
    if (error instanceof ConnectionResetError || socket.closed) return;
    const stopping = signal?.aborted === true && error === signal.reason;
    if (
      !stopping && error instanceof SocketError &&
      !(error.name === "LimitExceededError")
    ) throw error;
    failed = true;
    const message = stopping
      ? "the server is shutting down"
      : error instanceof Error
      ? error.message
      : String(error);
    answer = formatLisp(new LispList([new LispSymbol("ERROR", true), message]));
  }
  try {
    await socket.write(answer);
    await socket.flush();
  } catch (error) {
    // A client that left without waiting for its answer.
    if (error instanceof ConnectionResetError) return;
    throw error;
  }
  if (failed) {
    await socket.closeWrite();
    await drain(socket);
  }
}

async function main(): Promise<void> {
  const { values } = parseFlags({
    host: { type: "string" },
    port: { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    unix: { type: "string" },
    "idle-timeout": { type: "string", default: "10000" },
    "max-connections": { type: "string", default: "1024" },
    quiet: { type: "boolean", default: false },
    ...PROXY_FLAGS,
    "drain-delay": { type: "string", default: "0" },
    "reuse-port": { type: "boolean", default: false },
    ...STATS_FLAG,
  });
  const statsEvery = statsEveryFlag(values["stats-every"]);
  const path = unixFlag(values.unix, values);
  const hostname = hostFlag(values.host ?? "127.0.0.1");
  const port = listenPortFlag(values.port, 9231);
  const idleTimeout = millisecondsFlag(
    "--idle-timeout",
    values["idle-timeout"],
  );
  const maxConnections = countFlag(
    "--max-connections",
    values["max-connections"],
    MOST_CONNECTIONS,
  );
  const tls = await tlsListenFlags(values["tls-cert"], values["tls-key"]);
  if (tls && path !== undefined) {
    throw new UsageError(
      "--unix cannot go with --tls-cert: Deno has no TLS over Unix sockets",
    );
  }
  const stop = new AbortController();
  const limits = {
    signal: stop.signal,
    idleTimeout,
    maxConnections,
    maxBufferSize: 256 * 1024,
    ...(values.quiet ? { onError: () => {} } : {}),
    drainDelay: durationFlag("--drain-delay", values["drain-delay"]),
  };
  const proxy = plainProxyOptions(values, {
    tls: tls !== undefined,
    unix: path !== undefined,
  });
  if (values["reuse-port"] && path !== undefined) {
    throw new UsageError("--reuse-port cannot go with --unix");
  }
  const server = path !== undefined
    ? await serve(handleSum, { path, ...limits })
    : serve(handleSum, {
      hostname,
      port,
      ...limits,
      ...proxy,
      reusePort: values["reuse-port"],
      ...(tls ? { tls } : {}),
    });
  using _stop = onStopSignal(() => stop.abort());
  console.log(`listening on ${describeListener(server.addr)}`);
  using _stats = reportStats(server, statsEvery);
  await server.finished;
}

if (import.meta.main) await run(main, HELP);
