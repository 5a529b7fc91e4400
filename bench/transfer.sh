#!/bin/sh
# One transfer of FILE from a client to a listener on 127.0.0.1, both ends
# the same tool: sock, nc (OpenBSD) or socat. The listener writes what it
# gets to /dev/null. Used by `hyperfine` in BENCHMARKS.md:
#   sh bench/transfer.sh sock|nc|socat FILE
# SOCK_ROOT names another checkout whose cli.ts to time (an older one).
set -eu
tool=$1
file=$2
root=${SOCK_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# A port that is free now: the kernel picks one, which is then released.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
case $tool in
  sock)
    deno run --allow-net=127.0.0.1:$port "$root/cli.ts" listen --quiet $port < /dev/null > /dev/null &
    ;;
  nc)
    nc -l 127.0.0.1 $port < /dev/null > /dev/null &
    ;;
  socat)
    socat -u TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr - > /dev/null &
    ;;
  *)
    echo "usage: transfer.sh sock|nc|socat FILE" >&2
    exit 2
    ;;
esac
listener=$!
# Ready when the port is listening (a connection would be taken as the client).
until ss -Hltn "sport = :$port" | grep -q .; do sleep 0.005; done
case $tool in
  sock) deno run --allow-net=127.0.0.1:$port "$root/cli.ts" connect 127.0.0.1 $port < "$file" > /dev/null ;;
  nc) nc -N 127.0.0.1 $port < "$file" > /dev/null ;;
  socat) socat -u - TCP:127.0.0.1:$port < "$file" ;;
esac
wait $listener
