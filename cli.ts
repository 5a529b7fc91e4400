/**
 * `sock`, the command: a netcat for the terminal that knows Deno's
 * permission model and speaks Lisp. `sock connect HOST PORT` (or netcat's
 * `sock HOST PORT`) sends stdin to the socket and writes what arrives to
 * stdout; the end of stdin (Ctrl-D) half-closes the connection, and `sock`
 * exits 0 when the peer closes. `sock listen PORT` (`sock -l PORT`) waits
 * for one connection (`--keep-open`: serves every client at once;
 * `--broker`: a chat among them) and does the same. `--lisp` makes it a
 * REPL on the wire: each form typed is sent as Lisp's `~s` prints it, and
 * each datum that arrives is printed, one a line. `--udp` sends each line
 * as a datagram; `--tls [--ca-cert FILE] [--cert FILE --key FILE]`
 * connects over TLS, `--tls-cert FILE --tls-key FILE` listens over TLS,
 * and `--unix PATH` uses a Unix domain socket instead of HOST PORT.
 * `--exec PROGRAM [ARGS…]` gives the connection to a program.
 * `sock forward PORT HOST TARGET_PORT` relays connections (TLS on either
 * side, PROXY headers in and out), and `sock scan HOST PORTS` says which
 * ports are open. `--help` lists every flag.
 *
 * It asks only for the network address it uses (and to read the PEM files
 * it is given; a socket path needs `--allow-read=P --allow-write=P
 * --allow-net=unix:P`); when a grant is missing it says which flags to add. Install it with the grant for the
 * servers you talk to:
 *
 * ```sh
 * deno install -g -n sock --allow-net=localhost:9231 jsr:@sock/sock/cli
 * sock connect --lisp localhost 9231
 * deno run --allow-net=127.0.0.1:0 jsr:@sock/sock/cli listen --lisp 0
 * ```
 *
 * A mistake in the command line is one line and exit status 2; a network
 * failure (a refused connection, a missing grant) one line and status 1.
 *
 * @module
 */
import { run } from "./examples/_common/cli.ts";
import { HELP, main } from "./cli/main.ts";
import { tooOldDeno } from "./cli/version.ts";

if (import.meta.main) {
  const old = tooOldDeno(Deno.version.deno);
  if (old !== undefined) {
    console.error(`error: ${old}`);
    Deno.exit(1);
  }
  let status = 0;
  await run(async () => {
    status = await main(Deno.args);
  }, HELP);
  // A read of stdin may still be waiting: the work is done, so stop.
  Deno.exit(status);
}
