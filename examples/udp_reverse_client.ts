#!/usr/bin/env -S deno run --unstable-net --allow-net=127.0.0.1:0,127.0.0.1:12321
/**
 * The UDP half of the usocket tutorial, client side: it sends the bytes
 * 1 to 8 (or the bytes given) to 127.0.0.1:12321, waits for the reply (one
 * second, three tries) and prints it as a Lisp vector:
 * `#(8 7 6 5 4 3 2 1)`.
 *
 * ```sh
 * deno run --unstable-net --allow-net=127.0.0.1:0,127.0.0.1:12321 examples/udp_reverse_client.ts [--host 127.0.0.1] [--port 12321] [--timeout 1000] [--tries 3] [BYTE …]
 * deno run --unstable-net --allow-net=127.0.0.1:0,127.0.0.1:12321 jsr:@sock/sock/udp-reverse-client
 * deno run --unstable-net --allow-net=127.0.0.1:0,127.0.0.1:12321 https://jsr.io/@sock/sock/0.1.0/examples/udp_reverse_client.ts
 * ```
 *
 * The grant names the local socket (`127.0.0.1:0`, a port the OS chooses)
 * and the server. `localhost` stands for `127.0.0.1`, so `--host localhost
 * --port P` needs `--allow-net=127.0.0.1:0,127.0.0.1:P`, and `--host ::1
 * --port P` needs `--allow-net=[::1]:0,[::1]:P`. Any other address A is
 * reached from the wildcard address: `--allow-net=0.0.0.0:0,A:P` (for IPv6,
 * `[::]:0,[A]:P`). Another host name is looked up first: grant the name as
 * well as `0.0.0.0:0` and the address it gives, or, when that is not known
 * in advance, `--allow-net` without a list. `--help` lists the flags.
 *
 * @module
 */
import { connectDatagram, TimeoutError } from "../mod.ts";
import {
  countFlag,
  Failure,
  hostFlag,
  hostPort,
  lispVector,
  millisecondsFlag,
  parseFlags,
  peerPortFlag,
  run,
  UsageError,
} from "./_common/cli.ts";

const HELP =
  `usage: udp_reverse_client.ts [--host 127.0.0.1] [--port 12321] [--timeout 1000] [--tries 3] [BYTE …]

Sends the bytes 1 to 8 (or the BYTEs given, each 0 to 255) to the UDP
reverse server and prints its reply as a Lisp vector (the usocket
tutorial's UDP client).

  --host H       the server's IP address or host name (default 127.0.0.1)
  --port P       its port, 1 to 65535 (default 12321)
  --timeout MS   how long to wait for each reply (default 1000)
  --tries N      how many times to send, 1 to 100 (default 3)
  -h, --help     show this help

Grant: --unstable-net --allow-net=127.0.0.1:0,127.0.0.1:12321; with
--host localhost --port P, --allow-net=127.0.0.1:0,127.0.0.1:P.`;

/** The most sends before giving up. */
const MOST_TRIES = 100;

function parseBytes(args: string[]): Uint8Array {
  if (args.length === 0) return new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  return new Uint8Array(args.map((arg) => {
    if (!/^\d+$/.test(arg) || Number(arg) > 255) {
      throw new UsageError(
        `each BYTE must be a whole number from 0 to 255, not ${
          JSON.stringify(arg)
        }`,
      );
    }
    return Number(arg);
  }));
}

async function main(): Promise<void> {
  const { values, positionals } = parseFlags({
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    timeout: { type: "string", default: "1000" },
    tries: { type: "string", default: "3" },
  }, true);
  const host = hostFlag(values.host);
  const port = peerPortFlag(values.port, 12321);
  const timeout = millisecondsFlag("--timeout", values.timeout);
  const tries = countFlag("--tries", values.tries, MOST_TRIES);
  const payload = parseBytes(positionals);
  using socket = connectDatagram({ remoteHostname: host, remotePort: port });
  for (let attempt = 1; attempt <= tries; attempt++) {
    await socket.send(payload);
    try {
      const { data } = await socket.receive({ timeout });
      console.log(lispVector(data));
      return;
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error;
    }
  }
  throw new Failure(
    `no reply from ${hostPort(host, port)} after ${tries} ${
      tries === 1 ? "try" : "tries"
    } of ${timeout} ms (is the server running?)`,
  );
}

if (import.meta.main) await run(main, HELP);
