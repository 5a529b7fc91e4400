// Shared test fixtures: real sockets on 127.0.0.1, closed when done.
import {
  connect,
  listen,
  type Listener,
  type Socket,
  type SocketOptions,
  TimeoutError,
} from "../mod.ts";
import { DeadlineError, killRunning } from "../tools/examples.ts";

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
    timeout: 2000,
    ...options,
  });
  const server = await listener.accept({ timeout: 2000 });
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
    if (Date.now() > end) {
      throw new DeadlineError(`Condition not met within ${ms} ms`);
    }
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
  /** The permissions the test runs with, as `Deno.test` takes them. */
  permissions?: Deno.PermissionOptions;
}

/** A test as one object, as `Deno.test({ name, fn })` takes it. */
export interface TestDefinition extends TestOptions {
  /** The test's name. */
  name: string;
  /** The test's body. */
  fn: TestBody;
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

/** The first test of this file that ran out of time, if one did. */
let stalled: string | undefined;

/**
 * Whether `error` says that a wait ran out of time: a test's or a helper's
 * deadline, or the library's own timeout on a read, a connect or a flush.
 */
function ranOutOfTime(error: unknown): boolean {
  if (error instanceof DeadlineError || error instanceof TimeoutError) {
    return true;
  }
  if (error instanceof AggregateError) return error.errors.some(ranOutOfTime);
  return error instanceof Error && error.cause !== undefined &&
    ranOutOfTime(error.cause);
}

/** The error of a test or step not run because an earlier one ran out of time. */
function notRun(): Error {
  return new Error(`Not run: the test "${stalled}" ran out of time before it`);
}

/** Runs `fn`, noting the test `name` as stalled when it ran out of time. */
async function watch(name: string, fn: () => unknown): Promise<void> {
  try {
    await fn();
  } catch (error) {
    if (ranOutOfTime(error)) stalled ??= name;
    throw error;
  }
}

/** `t`, with each step watched as the test itself is. */
function watchSteps(name: string, t: Deno.TestContext): Deno.TestContext {
  const step = t.step.bind(t) as (
    definition: Deno.TestStepDefinition,
  ) => Promise<boolean>;
  const watched = (inner: TestBody): TestBody => (context) => {
    if (stalled !== undefined) throw notRun();
    return watch(name, () => inner(watchSteps(name, context)));
  };
  return Object.assign(Object.create(t), {
    step(
      first: string | Deno.TestStepDefinition | TestBody,
      second?: TestBody,
    ): Promise<boolean> {
      if (typeof first === "string") {
        return step({ name: first, fn: watched(second!) });
      }
      if (typeof first === "function") {
        return step({ name: first.name, fn: watched(first) });
      }
      return step({ ...first, fn: watched(first.fn) });
    },
  });
}

/**
 * Registers a test that fails, instead of hanging, when it has not finished
 * by its deadline: a broken library that never settles a promise fails
 * the run in seconds, and the programs the test started are killed.
 *
 * A test that ran out of time, its own deadline or a wait's (a read's
 * timeout, a helper's), says that something the tests rely on does not
 * arrive: a broken library, or a test that hung and left sockets and reads
 * behind that would disturb every later one. So once a test of this file
 * has run out of time, the tests after it fail at once, naming it, rather
 * than each waiting out its own deadline: a broken library ends the run
 * failing in about the time of one wait per file.
 */
export function test(name: string, fn: TestBody, options?: TestOptions): void;
export function test(definition: TestDefinition): void;
export function test(
  first: string | TestDefinition,
  body?: TestBody,
  given: TestOptions = {},
): void {
  const { name, fn, ...options } = typeof first === "string"
    ? { ...given, name: first, fn: body! }
    : first;
  const deadline = options.deadline ?? TEST_DEADLINE;
  Deno.test({
    name,
    ...(options.permissions ? { permissions: options.permissions } : {}),
    ignore: (options.ignore ?? false) || (skipPattern?.test(name) ?? false),
    async fn(t) {
      if (stalled !== undefined) throw notRun();
      await watch(name, async () => {
        try {
          await bounded(
            Promise.resolve().then(() => fn(watchSteps(name, t))),
            deadline,
            "the test",
          );
        } catch (error) {
          // Nothing the test started outlives it.
          if (error instanceof DeadlineError) killRunning();
          throw error;
        }
      });
    },
  });
}

export { DeadlineError };

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

/** Where Debian and others install programs for the administrator, often not on a user's PATH. */
const SBIN = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/**
 * The path of the program `name`: the first executable file of that name
 * in the directories of `path` (the PATH variable by default), then in the
 * sbin directories (Debian installs haproxy in /usr/sbin, which a user's
 * PATH often lacks). Undefined when there is none.
 */
export function findProgram(
  name: string,
  path: string = Deno.env.get("PATH") ?? "",
): string | undefined {
  const dirs = [...path.split(":").filter((dir) => dir !== ""), ...SBIN];
  for (const dir of dirs) {
    const file = `${dir}/${name}`;
    try {
      const { isFile, mode } = Deno.statSync(file);
      if (isFile && mode !== null && (mode & 0o111) !== 0) return file;
    } catch (error) {
      if (
        !(error instanceof Deno.errors.NotFound ||
          error instanceof Deno.errors.NotADirectory ||
          error instanceof Deno.errors.PermissionDenied)
      ) {
        throw error;
      }
    }
  }
  return undefined;
}

/**
 * Why this machine cannot listen on the IPv6 loopback, said in one line
 * for a test to give when it is ignored; undefined when it can.
 */
export function noIpv6Loopback(): string | undefined {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return undefined;
  } catch (error) {
    if (
      error instanceof Deno.errors.AddrNotAvailable ||
      (error instanceof Error &&
        /EADDRNOTAVAIL|not available/i.test(error.message))
    ) {
      return "this machine has no IPv6 loopback (::1)";
    }
    throw error;
  }
}

/**
 * Asserts that input arrives at `socket` within `options.timeout`: the
 * same check as `assert.equal(await socket.waitForInput(options), true)`,
 * but input that never comes fails as a wait that ran out of time.
 */
export async function inputArrives(
  socket: { waitForInput(options: { timeout: number }): Promise<boolean> },
  options: { timeout: number },
): Promise<void> {
  if (!await socket.waitForInput(options)) {
    throw new DeadlineError(`no input arrived within ${options.timeout} ms`);
  }
}

/**
 * {@linkcode test} with another default deadline, for a file whose tests
 * start programs (a Deno start is slow on a busy machine) or run long
 * computations. Their waits keep their own, shorter bounds.
 */
export function testsWithDeadline(deadline: number): typeof test {
  function bounded(name: string, fn: TestBody, options?: TestOptions): void;
  function bounded(definition: TestDefinition): void;
  function bounded(
    first: string | TestDefinition,
    fn?: TestBody,
    options: TestOptions = {},
  ): void {
    if (typeof first === "string") test(first, fn!, { deadline, ...options });
    else test({ deadline, ...first });
  }
  return bounded;
}
