#!/usr/bin/env -S deno run --unstable-net --allow-net=127.0.0.1
/**
 * The UDP half of the usocket tutorial, server side: it receives datagrams
 * on 127.0.0.1:12321, prints each as a Lisp vector like `#(1 2 3 4 5 6 7 8)`
 * and sends the same bytes back reversed to whoever sent them. `--once`
 * stops after one datagram, as the tutorial's server does; `--quiet` drops
 * the per-datagram line. Ctrl-C (or SIGTERM) stops it; it then prints a
 * summary of its stats (`answered 12 of 13 datagrams, 0 errors, 1
 * dropped`), which `--stats-every SECS` prints periodically too.
 *
 * ```sh
 * deno run --unstable-net --allow-net=127.0.0.1 examples/udp_reverse_server.ts [--host 127.0.0.1] [--port 12321] [--once] [--quiet] [--stats-every SECS]
 * deno run --unstable-net --allow-net=127.0.0.1 jsr:@sock/sock/udp-reverse-server
 * deno run --unstable-net --allow-net=127.0.0.1 https://jsr.io/@sock/sock/0.1.0/examples/udp_reverse_server.ts
 * ```
 *
 * The grant is host-wide because Deno checks every destination a datagram
 * is sent to, and clients write from ports nobody knows in advance. With
 * `--host H`, grant `--allow-net=H`. `--help` lists the flags.
 *
 * @module
 */
import { serveDatagram } from "../mod.ts";
import {
  hostFlag,
  hostPort,
  lispVector,
  listenPortFlag,
  onStopSignal,
  parseFlags,
  run,
} from "./_common/cli.ts";
import {
  reportStats,
  STATS_FLAG,
  statsEveryFlag,
  statsHelp,
} from "./_common/stats.ts";

const HELP =
  `usage: udp_reverse_server.ts [--host 127.0.0.1] [--port 12321] [--once] [--quiet] [--stats-every SECS]

Sends each datagram back reversed to whoever sent it, printing it as a Lisp
vector (the usocket tutorial's UDP server). Ctrl-C stops it.

  --host H       the address to listen on (default 127.0.0.1)
  --port P       the port, 0 to 65535; 0 lets the OS choose (default 12321)
  --once         stop after the first datagram
  --quiet        do not print the datagrams
${statsHelp(17)}
  -h, --help     show this help

Grant: --unstable-net --allow-net=127.0.0.1; with --host H, --allow-net=H.`;

async function main(): Promise<void> {
  const { values } = parseFlags({
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    once: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
    ...STATS_FLAG,
  });
  const statsEvery = statsEveryFlag(values["stats-every"]);
  const hostname = hostFlag(values.host);
  const port = listenPortFlag(values.port, 12321);
  const server = serveDatagram(({ data }) => {
    if (!values.quiet) console.log(lispVector(data));
    if (values.once) void server.shutdown();
    return data.reverse();
  }, {
    hostname,
    port,
    onError: (error, where) => console.error(`${where}: ${error.message}`),
  });
  using _stop = onStopSignal(() => void server.shutdown());
  console.log(`listening on ${hostPort(server.addr.hostname, server.port)}`);
  using _stats = reportStats(server, statsEvery, true);
  await server.finished;
}

if (import.meta.main) await run(main, HELP);
