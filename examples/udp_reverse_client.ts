#!/usr/bin/env -S deno run --unstable-net --allow-net=127.0.0.1:0,127.0.0.1:12321
/**
 * The UDP half of the usocket tutorial, client side: it sends the bytes
 * 1 to 8 (or the bytes given) to 127.0.0.1:12321, waits for the reply (one
 * second, three tries) and prints it as a Lisp vector:
 * `#(8 7 6 5 4 3 2 1)`.
 *
 * ```sh
 * deno run --unstable-net --allow-net=127.0.0.1:0,127.0.0.1:12321 examples/udp_reverse_client.ts [--host 127.0.0.1] [--port 12321] [BYTE …]
 * deno run --unstable-net --allow-net=127.0.0.1:0,127.0.0.1:12321 jsr:@sock/sock/udp-reverse-client
 * deno run --unstable-net --allow-net=127.0.0.1:0,127.0.0.1:12321 https://jsr.io/@sock/sock/0.1.0/examples/udp_reverse_client.ts
 * ```
 *
 * The grant names the local socket (`127.0.0.1:0`, a port the OS chooses)
 * and the server; with `--host H --port P` grant `H:0,H:P` instead.
 *
 * @module
 */
import { connectDatagram, TimeoutError } from "../mod.ts";
import {
  Failure,
  lispVector,
  parseFlags,
  portFlag,
  run,
  UsageError,
} from "./_common/cli.ts";

const USAGE =
  "udp_reverse_client.ts [--host 127.0.0.1] [--port 12321] [--timeout 1000] [--tries 3] [BYTE …]";

function parseBytes(args: string[]): Uint8Array {
  if (args.length === 0) return new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  return new Uint8Array(args.map((arg) => {
    if (!/^\d+$/.test(arg) || Number(arg) > 255) {
      throw new UsageError(
        `each BYTE must be a whole number from 0 to 255, not "${arg}"`,
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
  const payload = parseBytes(positionals);
  const port = portFlag(values.port, 12321);
  const timeout = Number(values.timeout);
  const tries = Number(values.tries);
  using socket = connectDatagram({
    remoteHostname: values.host,
    remotePort: port,
  });
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
    `no reply from ${values.host}:${port} after ${tries} tries of ${timeout} ms (is the server running?)`,
  );
}

if (import.meta.main) await run(main, USAGE);
