/**
 * Benchmark servers for TLS and Unix domain sockets, raw Deno and sock side
 * by side, speaking what bench/load.ts speaks. Prints `listening <port>`
 * (0 for a Unix socket) once it is ready.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 --allow-read=CERT,KEY bench/tls_unix_servers.ts raw|sock tls-sum|tls-echo [port] --cert CERT --key KEY
 * deno run --allow-read=P --allow-write=P --allow-net=unix:P bench/tls_unix_servers.ts raw|sock unix-sum --path P
 * ```
 *
 * - `tls-sum`: one TLS connection per request, "A B " in, the sum out, then
 *   close: TLS handshakes per second.
 * - `tls-echo`: 64 KiB messages echoed over persistent TLS connections.
 * - `unix-sum`: the sum protocol, one connection per request, over a Unix
 *   socket.
 *
 * The raw servers are the TCP baselines' handlers (`bench/raw_server.ts`:
 * requests parsed from the bytes, one reused buffer per connection) on
 * `Deno.listenTls` and `Deno.listen({ transport: "unix" })`, with the
 * handshake done implicitly by the first read.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { serve, type Server } from "../mod.ts";
import { handleSum } from "../examples/sum_server.ts";
import { acceptLoop, echo as rawEcho, sum as rawSum } from "./raw_server.ts";
import { echo as sockEcho } from "./sock_server.ts";

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      cert: { type: "string" },
      key: { type: "string" },
      path: { type: "string" },
    },
    allowPositionals: true,
  });
  const [impl, scenario, portArg] = positionals;
  const port = Number(portArg ?? 0);
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  const tls = scenario?.startsWith("tls-")
    ? {
      cert: await Deno.readTextFile(values.cert!),
      key: await Deno.readTextFile(values.key!),
    }
    : undefined;
  if (scenario === "unix-sum" && !values.path) {
    throw new Error("unix-sum needs --path P");
  }
  if (impl === "raw") {
    const handle = scenario === "tls-echo" ? rawEcho : rawSum;
    const listener: Deno.Listener = tls
      ? Deno.listenTls({ hostname: "127.0.0.1", port, ...tls })
      : Deno.listen({ transport: "unix", path: values.path! });
    const addr = listener.addr;
    console.log(`listening ${"port" in addr ? addr.port : 0}`);
    await acceptLoop(listener, handle);
  } else if (impl === "sock") {
    let server: Server | Server<Deno.UnixAddr>;
    if (scenario === "unix-sum") {
      server = await serve(handleSum, {
        path: values.path!,
        maxConnections: 100_000,
      });
    } else {
      const handler = scenario === "tls-echo" ? sockEcho : handleSum;
      server = serve(handler, {
        port,
        tls: tls!,
        maxConnections: 100_000,
      });
    }
    console.log(`listening ${server.port ?? 0}`);
    await server.finished;
  } else {
    throw new Error(`unknown implementation "${impl}": raw or sock`);
  }
}
