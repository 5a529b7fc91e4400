/**
 * The reference row: each scenario's server on `node:net` / `node:dgram`
 * under Deno, the other socket API a Deno user has, written the way Node
 * code that cares about speed is written: requests parsed from the
 * `Buffer`s of each `data` event, the replies to one event sent in one
 * `write()`, `pipe()` for echo (it pauses on backpressure), `noDelay` on.
 * Prints `listening <port>` once it is ready.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 --unstable-net bench/node_server.ts <scenario> [port] [reuse-port]
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createSocket } from "node:dgram";
import { createServer, type Socket } from "node:net";
import { parseInteger, writeInteger } from "./raw_server.ts";

const LF = 0x0a;
const SPACE = 0x20;
const HELLO = Buffer.from("Hello World\n");

function sum(socket: Socket): void {
  let text = "";
  socket.on("data", (chunk: Buffer) => {
    text += chunk.toString("latin1");
    const words = text.trimStart().split(/\s+/);
    if (words.length >= 3) {
      socket.end(String(BigInt(words[0]!) + BigInt(words[1]!)));
    }
  });
  socket.on("end", () => socket.end());
}

function line(socket: Socket): void {
  socket.setNoDelay(true);
  let rest: Buffer | undefined;
  socket.on("data", (chunk: Buffer) => {
    const buf = rest ? Buffer.concat([rest, chunk]) : chunk;
    const out = Buffer.allocUnsafe(2 * buf.length);
    let o = 0;
    let start = 0;
    for (let lf = buf.indexOf(LF); lf >= 0; lf = buf.indexOf(LF, start)) {
      const stop = lf > start && buf[lf - 1] === 0x0d ? lf - 1 : lf;
      const space = buf.indexOf(SPACE, start);
      let a = NaN, b = NaN;
      if (space >= 0 && space < stop) {
        a = parseInteger(buf, start, space);
        b = parseInteger(buf, space + 1, stop);
      }
      if (Number.isNaN(a) || Number.isNaN(b)) {
        const [x, y] = buf.toString("utf8", start, stop).split(" ");
        o += out.write(`${Number(x) + Number(y)}\n`, o);
      } else {
        o = writeInteger(out, o, a + b);
        out[o++] = LF;
      }
      start = lf + 1;
    }
    rest = start < buf.length ? buf.subarray(start) : undefined;
    if (o > 0) socket.write(out.subarray(0, o));
  });
  socket.on("end", () => socket.end());
}

function echo(socket: Socket): void {
  socket.setNoDelay(true);
  socket.pipe(socket);
}

function receive(socket: Socket): void {
  let total = 0;
  socket.on("data", (chunk: Buffer) => total += chunk.length);
  socket.on("end", () => socket.end(`${total}\n`));
}

function hello(socket: Socket): void {
  socket.end(HELLO);
}

function idle(socket: Socket): void {
  let text = "";
  socket.on("data", (chunk: Buffer) => {
    text += chunk.toString("latin1");
    const lf = text.indexOf("\n");
    if (lf >= 0) socket.end(text.slice(0, lf + 1));
  });
  socket.on("end", () => socket.end());
}

if (import.meta.main) {
  const [scenario, portArg, reuse] = Deno.args;
  const port = Number(portArg ?? 0);
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  if (scenario === "udp") {
    const socket = createSocket("udp4");
    socket.on("message", (msg: Buffer, from) => {
      socket.send(msg.reverse(), from.port, from.address);
    });
    socket.bind(port, "127.0.0.1", () => {
      console.log(`listening ${socket.address().port}`);
    });
  } else {
    const handlers: Record<string, (socket: Socket) => void> = {
      sum,
      "idle-sum": sum,
      idle,
      line,
      echo,
      receive,
      hello,
    };
    const handle = handlers[scenario ?? ""];
    if (!handle) throw new Error(`unknown scenario "${scenario}"`);
    const server = createServer((socket) => {
      socket.on("error", () => socket.destroy());
      handle(socket);
    });
    server.listen(
      {
        host: "127.0.0.1",
        port,
        backlog: 4096,
        ...(reuse === "reuse-port" ? { reusePort: true } : {}),
      },
      () => {
        const addr = server.address();
        console.log(
          `listening ${typeof addr === "object" && addr ? addr.port : 0}`,
        );
      },
    );
  }
}
