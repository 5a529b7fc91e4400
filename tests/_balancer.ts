// What the load balancer tests share: free ports, a client from a given
// address, and a load of sum requests whose every answer is checked.
import net from "node:net";
import { connect } from "../mod.ts";
import { delay } from "./_helpers.ts";

/** How many clients loop in a load phase. */
export const CLIENTS = 8;

/** Waits until something accepts connections on `port`. */
export async function waitForPort(port: number, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  for (;;) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch (error) {
      if (performance.now() > end) throw error;
      await delay(20);
    }
  }
}

/** What a load phase did. */
export interface Load {
  served: number;
  failed: number;
  failures: string[];
}

/**
 * CLIENTS clients, each sending sum requests one after another through the
 * frontend until `ms` have passed; every answer is checked.
 */
export async function sumLoad(port: number, ms: number): Promise<Load> {
  const end = performance.now() + ms;
  const load: Load = { served: 0, failed: 0, failures: [] };
  const decoder = new TextDecoder();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      for (let i = 0; performance.now() < end; i++) {
        const a = client * 1_000_003 + i;
        const b = i * 7 - 3;
        try {
          await using socket = await connect({ port, timeout: 3000 });
          await socket.write(`${a} ${b} `);
          await socket.flush();
          const answer = decoder.decode(
            await socket.readAll({ timeout: 2000 }),
          );
          if (answer !== String(a + b)) {
            throw new Error(`${a} + ${b}: got ${JSON.stringify(answer)}`);
          }
          load.served++;
        } catch (error) {
          load.failed++;
          if (load.failures.length < 5) {
            load.failures.push(
              `${(performance.now() - end + ms).toFixed(0)} ms: ${error}`,
            );
          }
        }
      }
    }),
  );
  return load;
}

/** Connects from `localAddress` with node:net and reads the whole reply. */
export function helloFrom(
  localAddress: string,
  port: number,
): Promise<{ port: number; reply: string }> {
  return new Promise((resolve, reject) => {
    let reply = "";
    const socket = net.connect({ host: "127.0.0.1", port, localAddress });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply from ${port} within 5 s`));
    }, 5000);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => reply += chunk);
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ port: localPort, reply });
    });
    let localPort = 0;
    socket.on("connect", () => localPort = socket.localPort!);
  });
}

/** `n` different ports, free a moment ago: all held open while chosen. */
export function distinctFreePorts(n: number): number[] {
  const listeners = Array.from(
    { length: n },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((listener) => listener.addr.port);
  for (const listener of listeners) listener.close();
  return ports;
}
