#!/usr/bin/env -S deno run --allow-net=127.0.0.1:12321
/**
 * The TCP half of the usocket tutorial, server side: it listens on
 * 127.0.0.1:12321, sends `Hello World` and a newline to each client, and
 * closes that connection. With `--once` it stops after the first client, as
 * the tutorial's server does; otherwise Ctrl-C (or SIGTERM) stops it. It
 * prints `said hello to HOST:PORT` for each client; behind a load balancer
 * that sends the PROXY protocol (`--proxy-protocol`), that is the client the
 * balancer names, not the balancer. When it stops it prints a summary of
 * its stats (`served 3 clients, 0 errors, …`); `--stats-every SECS` prints
 * it periodically too.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1:12321 examples/hello_server.ts [--host 127.0.0.1] [--port 12321] [--tls-cert FILE --tls-key FILE] [--unix PATH] [--once] [--quiet] [--proxy-protocol] [--stats-every SECS]
 * deno run --allow-net=127.0.0.1:12321 jsr:@sock/sock/hello-server
 * deno run --allow-net=127.0.0.1:12321 https://jsr.io/@sock/sock/0.1.0/examples/hello_server.ts
 * ```
 *
 * The grant names the one address it listens on; with `--host H --port P`
 * grant `--allow-net=H:P` instead. `--help` lists the flags.
 *
 * Over TLS, give the certificate and its key and grant reading them; on a
 * Unix domain socket, grant its path three times:
 *
 * ```sh
 * deno run --allow-net=127.0.0.1:12321 --allow-read=server.crt,server.key examples/hello_server.ts --tls-cert server.crt --tls-key server.key
 * deno run --allow-read=/tmp/hello.sock --allow-write=/tmp/hello.sock --allow-net=unix:/tmp/hello.sock examples/hello_server.ts --unix /tmp/hello.sock
 * ```
 *
 * @module
 */
import { serve, type Socket } from "../mod.ts";
import {
  describeListener,
  hostFlag,
  hostPort,
  listenPortFlag,
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
  `usage: hello_server.ts [--host 127.0.0.1] [--port 12321] [--tls-cert FILE --tls-key FILE] [--unix PATH] [--once] [--quiet] [--proxy-protocol] [--stats-every SECS]

Sends "Hello World" and a newline to each client, then closes that
connection (the usocket tutorial's TCP server). Ctrl-C stops it.

  --host H       the address to listen on (default 127.0.0.1)
  --port P       the port, 0 to 65535; 0 lets the OS choose (default 12321)
  --tls-cert F   serve over TLS with this PEM certificate...
  --tls-key F    ...and this PEM private key
  --unix PATH    listen on a Unix domain socket instead of TCP
  --once         stop after the first client
  --quiet        print no line per client
${proxyHelp(17)}
${statsHelp(17)}
  -h, --help     show this help

Grant: --allow-net=127.0.0.1:12321; with --host H --port P, --allow-net=H:P;
with --tls-cert C --tls-key K also --allow-read=C,K; with --unix P
--allow-read=P --allow-write=P --allow-net=unix:P.`;

/**
 * Greets one client and, unless `quiet`, prints a line naming it.
 *
 * @param socket The client's connection.
 * @param quiet Print nothing.
 *
 * @example A quiet hello server
 * ```ts
 * import { connect, serve } from "@sock/sock";
 * import { greet } from "@sock/sock/hello-server";
 * import assert from "node:assert/strict";
 *
 * await using server = serve((socket) => greet(socket, true), { port: 0 });
 * await using client = await connect({ port: server.port });
 * assert.equal(await client.readLine({ timeout: 1000 }), "Hello World");
 * ```
 */
export async function greet(
  socket: Socket<Deno.NetAddr> | Socket<Deno.UnixAddr>,
  quiet = false,
): Promise<void> {
  await socket.write("Hello World\n");
  await socket.flush();
  if (quiet) return;
  const peer = socket.remoteAddr;
  console.log(
    `said hello to ${
      "path" in peer
        ? `a client of ${describeListener(socket.localAddr)}`
        : hostPort(peer.hostname, peer.port)
    }`,
  );
}

async function main(): Promise<void> {
  const { values } = parseFlags({
    host: { type: "string" },
    port: { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    unix: { type: "string" },
    once: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
    ...PROXY_FLAGS,
    ...STATS_FLAG,
  });
  const statsEvery = statsEveryFlag(values["stats-every"]);
  const path = unixFlag(values.unix, values);
  const hostname = hostFlag(values.host ?? "127.0.0.1");
  const port = listenPortFlag(values.port, 12321);
  const tls = await tlsListenFlags(values["tls-cert"], values["tls-key"]);
  if (tls && path !== undefined) {
    throw new UsageError(
      "--unix cannot go with --tls-cert: Deno has no TLS over Unix sockets",
    );
  }
  const proxy = plainProxyOptions(values, {
    tls: tls !== undefined,
    unix: path !== undefined,
  });
  const stop = new AbortController();
  const handler = async (
    socket: Socket<Deno.NetAddr> | Socket<Deno.UnixAddr>,
  ) => {
    if (values.once) stop.abort();
    await greet(socket, values.quiet);
  };
  const server = path !== undefined
    ? await serve(handler, { path, signal: stop.signal })
    : serve(handler, {
      hostname,
      port,
      signal: stop.signal,
      ...(tls ? { tls } : {}),
      ...proxy,
    });
  using _stop = onStopSignal(() => stop.abort());
  console.log(`listening on ${describeListener(server.addr)}`);
  using _stats = reportStats(server, statsEvery);
  await server.finished;
}

if (import.meta.main) await run(main, HELP);
