// The socket files tests/unix_cases.ts opens, in SOCK_UNIX_DIR: each is
// granted exactly, as Deno needs for a socket path.

/** The socket files the cases use, each in SOCK_UNIX_DIR. */
export const UNIX_CASE_FILES = [
  "s.sock",
  "echo.sock",
  "stale.sock",
  "live.sock",
  "none.sock",
  "a.sock",
  "b.sock",
  "d.sock",
  "stream.sock",
  "report.sock",
  "data.txt",
  "nodir/x.sock",
];
