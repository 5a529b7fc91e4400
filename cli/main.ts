// `sock`'s main program: the command line decides between a stream
// (connect or listen: bytes, Lisp, or a program), datagrams, a forwarder
// and a port scan; Ctrl-C ends it with status 0.
import { lookupHostname, PermissionError } from "../mod.ts";
import { hostPort, onStopSignal, UsageError } from "../examples/_common/cli.ts";
import { Input, StdoutClosed } from "./io.ts";
import { execGrant, runExecStream } from "./exec.ts";
import { HELP as STREAM_HELP, parseOptions, splitExec } from "./options.ts";
import {
  missingGrant,
  needGrants,
  netGrant,
  unixGrants,
} from "./permissions.ts";
import { runStream } from "./stream.ts";
import { runDatagrams } from "./udp.ts";
import { FORWARD_HELP, parseForward, runForward } from "./forward.ts";
import { parseScan, runScan, SCAN_HELP } from "./scan.ts";

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
