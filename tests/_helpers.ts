// Shared test fixtures: real sockets on 127.0.0.1, closed when done.
import {
  connect,
  listen,
  type Listener,
  type Socket,
  type SocketOptions,
} from "../mod.ts";

/** A listener with one connected client and the server side of it. */
export interface Pair {
  listener: Listener;
  client: Socket<Deno.NetAddr>;
  server: Socket<Deno.NetAddr>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Opens a listener on 127.0.0.1 port 0 and connects one client to it. */
export async function socketPair(options: SocketOptions = {}): Promise<Pair> {
  const listener = listen({ port: 0, ...options });
  const client = await connect({
    port: listener.port,
    timeout: 5000,
    ...options,
  });
  const server = await listener.accept({ timeout: 5000 });
  return {
    listener,
    client,
    server,
    async [Symbol.asyncDispose]() {
      await client.close({ abort: true });
      await server.close({ abort: true });
      listener.close();
    },
  };
}

/** A raw Deno connection to `port`, for sending exact chunks. */
export function rawConnect(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

/** Writes every byte of `data` to a raw connection. */
export async function writeAllRaw(
  conn: Deno.Conn,
  data: Uint8Array | string,
): Promise<void> {
  let view = typeof data === "string" ? new TextEncoder().encode(data) : data;
  while (view.length > 0) view = view.subarray(await conn.write(view));
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `check()` is true, polling every few milliseconds, for at most `ms`. */
export async function until(check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("Condition not met in time");
    await delay(2);
  }
}

/** Bytes 0, 1, 2, … of length `n`, wrapping at 251 so runs are easy to spot. */
export function pattern(n: number, seed = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i + seed) % 251;
  return out;
}

/** How long one test may run before it fails as hung, in milliseconds. */
export const TEST_DEADLINE = 5_000;

/** A test body, as `Deno.test` takes it. */
export type TestBody = (t: Deno.TestContext) => void | Promise<void>;

/** Options for {@linkcode test}. */
export interface TestOptions {
  /** Milliseconds the test may take before it fails (5 s unless given). */
  deadline?: number;
  /** Skip the test (Deno counts it as ignored). */
  ignore?: boolean;
  /** The test's permissions, as `Deno.test` takes them ("none" for a test of pure code). */
  permissions?: Deno.PermissionOptions;
}

/**
 * Tests to leave out, by name: a regular expression in SOCK_TEST_SKIP.
 * `deno task mutate` uses it for tests that cannot see a mutant.
 */
const skipPattern = (() => {
  const env = { name: "env", variable: "SOCK_TEST_SKIP" } as const;
  if (Deno.permissions.querySync(env).state !== "granted") return undefined;
  const pattern = Deno.env.get("SOCK_TEST_SKIP");
  return pattern ? new RegExp(pattern) : undefined;
})();

/** The first test that hung in this run, if one did. */
let hung: string | undefined;

/**
 * Registers a test that fails, instead of hanging, when it has not finished
 * by its deadline: a broken library that never settles a promise fails
 * the run in seconds. A test that hung may leave sockets and reads behind
 * that would disturb every later one, so once a test has hung, the tests
 * after it fail at once, naming it, rather than each waiting out its own
 * deadline.
 */
export function test(
  name: string,
  fn: TestBody,
  options: TestOptions = {},
): void {
  const deadline = options.deadline ?? TEST_DEADLINE;
  Deno.test({
    name,
    ...(options.permissions === undefined
      ? {}
      : { permissions: options.permissions }),
    ignore: (options.ignore ?? false) || (skipPattern?.test(name) ?? false),
    async fn(t) {
      if (hung !== undefined) {
        throw new Error(`Not run: the test "${hung}" hung before it`);
      }
      try {
        await bounded(
          Promise.resolve().then(() => fn(t)),
          deadline,
          "the test",
        );
      } catch (error) {
        if (error instanceof DeadlineError) hung = name;
        throw error;
      }
    },
  });
}

/** What {@linkcode bounded} throws when its wait runs out. */
export class DeadlineError extends Error {
  override name = "DeadlineError";
}

/**
 * Waits for `promise`, but for at most `ms` milliseconds: then it rejects
 * with an error naming `what`. For waits the library gives no timeout for
 * (a server's `finished`, a loop's end, a child process).
 */
export async function bounded<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DeadlineError(`${what} did not finish within ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Whether `command` can be run: false when it is not installed, instead of
 * the NotFound error that `new Deno.Command(…).output()` throws at once.
 */
export async function canRun(command: string, args = ["--version"]) {
  try {
    const { success } = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
