// `sock`'s main program: the options decide between a stream (connect or
// listen, bytes or Lisp) and datagrams; Ctrl-C ends it with status 0.
import {
  lookupHostname,
  PermissionError,
  type Socket,
  TimeoutError,
} from "../mod.ts";
import { hostPort, onStopSignal, UsageError } from "../examples/_common/cli.ts";
import { Input, note, StdoutClosed, warn } from "./io.ts";
import { type Exec, execGrant, runExec, splitExec } from "./exec.ts";
import { type Options, parseOptions } from "./options.ts";
import {
  missingGrant,
  needGrants,
  netGrant,
  unixGrants,
} from "./permissions.ts";
import { runSession } from "./session.ts";
import { peerOf, runHub } from "./hub.ts";
import { type Acceptor, chooseTransport } from "./transport.ts";
import { runDatagrams } from "./udp.ts";
import { parseForward, runForward } from "./forward.ts";
import { parseScan, runScan, SCAN_HELP } from "./scan.ts";

import { HELP as STREAM_HELP } from "./options.ts";
import { FORWARD_HELP } from "./forward.ts";

/** `sock --help`. */
export const HELP = `${STREAM_HELP}\n\n${FORWARD_HELP}\n\n${SCAN_HELP}`;

/**
 * Runs `sock` with `args`. It returns when the work is done or on Ctrl-C
 * (or SIGTERM); a mistake in `args` is a UsageError, a failure a one-line
 * error.
 *
 * @returns The exit status: 0, or 1 when a scan found no port open.
 */
export async function main(args: string[] = Deno.args): Promise<number> {
  let work: (open: DisposableStack) => Promise<number | void>;
  let udp = false;
  const [own, exec] = splitExec(args);
  if (exec !== undefined && (own[0] === "forward" || own[0] === "scan")) {
    throw new UsageError(`--exec is for connect and listen, not ${own[0]}`);
  }
  args = own;
  if (args[0] === "forward") {
    const options = parseForward(args.slice(1));
    work = (open) => runForward(options, open);
  } else if (args[0] === "scan" || args.some((arg) => /^-[^-]*z/.test(arg))) {
    const options = parseScan(args[0] === "scan" ? args.slice(1) : args);
    work = async () => (await runScan(options)) ? 0 : 1;
  } else {
    const options = parseOptions(args, exec);
    udp = options.udp;
    work = async (open) => {
      if (options.exec) {
        await needGrants(
          [
            execGrant(options.exec),
            ...(options.unix !== undefined
              ? unixGrants(options.unix)
              : options.family === undefined
              ? [netGrant(options.host, options.port)]
              : []),
          ],
          `run ${options.exec.program} for ${
            options.unix ?? hostPort(options.host, options.port)
          }`,
        );
      }
      if (options.family !== undefined && options.unix === undefined) {
        options.host = await addressOf(options.host, options.family);
      }
      if (options.exec) return await runExecStream(options, options.exec, open);
      const input = new Input();
      await (options.udp
        ? runDatagrams(options, input)
        : runStream(options, input, open));
      return 0;
    };
  }
  let stopped!: () => void;
  const stop = new Promise<void>((resolve) => stopped = resolve);
  using _signals = onStopSignal(() => stopped());
  // What a stop must close (a listener removes its socket file).
  using open = new DisposableStack();
  try {
    return (await Promise.race([work(open), stop])) ?? 0;
  } catch (error) {
    if (error instanceof StdoutClosed) return 0;
    if (error instanceof PermissionError) {
      throw missingGrant(
        error.message.replace(/^Cannot (.*?): permission denied.*$/, "$1"),
        `${udp ? "--unstable-net " : ""}${error.flag}`,
      );
    }
    throw error;
  }
}

/**
 * `-4`/`-6`: the first address of the family for a host name (an IP
 * address is itself). Looking a name up needs `--allow-net=NAME`.
 */
async function addressOf(host: string, family: 4 | 6): Promise<string> {
  if (host.includes(":") || /^\d+\.\d+\.\d+\.\d+$/.test(host)) return host;
  await needGrants([{ name: "net", host }], `look up ${host}`);
  const [first] = await lookupHostname(host, { family });
  return first!;
}

/** The oldest Deno `sock` runs on. */
const OLDEST_DENO = [2, 9, 6] as const;

/**
 * The one line to print when Deno `version` is older than `sock` needs,
 * else undefined.
 */
export function tooOldDeno(version: string): string | undefined {
  const parts = version.split(/[.+-]/).slice(0, 3).map(Number);
  for (let i = 0; i < OLDEST_DENO.length; i++) {
    const part = parts[i] ?? 0;
    if (part > OLDEST_DENO[i]!) return undefined;
    if (part < OLDEST_DENO[i]!) {
      return `sock needs Deno ${
        OLDEST_DENO.join(".")
      } or later, and this is Deno ${version}: upgrade with deno upgrade (or npm install -g deno@${
        OLDEST_DENO.join(".")
      })`;
    }
  }
  return undefined;
}

/** `sock connect` or `sock listen` over a stream. */
async function runStream(
  options: Options,
  input: Input,
  open: DisposableStack,
): Promise<void> {
  const transport = chooseTransport(options);
  if (options.mode === "connect") {
    await using socket = await transport.connect();
    if (options.verbose) note(false, `connected to ${transport.address}`);
    await runSession(socket, input, options, {
      received: 0,
      sent: 0,
      ...(options.unix === undefined && !options.tls
        ? { plainTo: transport.address }
        : {}),
    });
    return;
  }
  let acceptor: Acceptor | undefined = await transport.listen();
  const close = () => {
    acceptor?.[Symbol.dispose]();
    acceptor = undefined;
  };
  open.defer(close);
  note(options.quiet, `listening on ${acceptor.address}`);
  if (options.keepOpen) {
    await runHub(acceptor, input, options);
    return;
  }
  try {
    do {
      await using socket = await acceptor.accept();
      if (options.unix !== undefined) {
        // Another listener checks whether the path is in use by connecting
        // and closing at once: a connection that ends before a byte goes
        // either way is not the one client, and the path stays bound.
        // Its close is seen before anything is sent to it, so what stdin
        // has is kept for the client.
        await socket.peek(false, { timeout: CHECK_WAIT }).catch((error) => {
          if (!(error instanceof TimeoutError)) throw error;
        });
        const traffic = await runSession(socket, input, options, {
          received: 0,
          sent: 0,
          onFirst() {
            note(options.quiet, `connection from ${peerOf(socket)}`);
            close();
          },
        }).catch((error) => {
          if (acceptor === undefined) throw error;
          return undefined;
        });
        if (traffic !== undefined && acceptor === undefined) return;
        continue;
      }
      note(options.quiet, `connection from ${peerOf(socket)}`);
      // One connection: no one else may connect meanwhile.
      close();
      await handshake(socket);
      await runSession(socket, input, options);
      return;
    } while (acceptor !== undefined);
  } finally {
    close();
  }
}

/**
 * `--exec`: connect, or listen for one client (`--keep-open`: every
 * client, at once), each connection given to its own run of the program.
 *
 * @returns The program's exit status (for one connection).
 */
async function runExecStream(
  options: Options,
  exec: Exec,
  open: DisposableStack,
): Promise<number> {
  const transport = chooseTransport(options);
  if (options.mode === "connect") {
    await using socket = await transport.connect();
    if (options.verbose) note(false, `connected to ${transport.address}`);
    return await runExec(socket, exec);
  }
  const acceptor = await transport.listen();
  open.defer(() => acceptor[Symbol.dispose]());
  note(options.quiet, `listening on ${acceptor.address}`);
  if (!options.keepOpen) {
    await using socket = await acceptor.accept();
    note(options.quiet, `connection from ${peerOf(socket)}`);
    acceptor[Symbol.dispose]();
    await handshake(socket);
    return await runExec(socket, exec);
  }
  let failed!: (error: unknown) => void;
  const failure = new Promise<never>((_, reject) => failed = reject);
  const serveOne = async (socket: Socket) => {
    const name = peerOf(socket);
    note(options.quiet, `connection from ${name}`);
    try {
      await handshake(socket);
      const code = await runExec(socket, exec);
      if (code !== 0) warn(`${exec.program} for ${name} exited with ${code}`);
    } catch (error) {
      if (error instanceof PermissionError) failed(error);
      else warn(`${name}: ${error instanceof Error ? error.message : error}`);
    } finally {
      await socket.close({ abort: true }).catch(() => {});
    }
  };
  const accepting = (async () => {
    for (;;) serveOne(await acceptor.accept());
  })();
  return await Promise.race([accepting, failure]);
}

/** How long a Unix connection may take to show it was only a check. */
const CHECK_WAIT = 100;

/** How long a TLS client may take over its handshake. */
const HANDSHAKE_TIMEOUT = 10_000;

/** Completes an accepted TLS connection's handshake, so a failure is its own. */
async function handshake(socket: Socket): Promise<void> {
  if (socket.tls) await socket.handshake({ timeout: HANDSHAKE_TIMEOUT });
}
