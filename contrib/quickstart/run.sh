#!/bin/bash
# run.sh - Staffel quick start: one message through Postfix + staffeld on loopback.
#
# Needs: Debian 12, root, a built daemon at build/staffeld (or $STAFFELD),
# and the packages postfix, redis-server, swaks, python3 (setup.sh installs
# them and builds). Touches no system mail configuration: Redis, a capture
# sink, staffeld and a private Postfix instance run from one directory under
# /tmp, on 127.0.0.1 and unix sockets only, and are stopped at the end.
#
# Usage: contrib/quickstart/run.sh [--keep] [--policy FILE]
#   --keep    leave everything running; prints the directory and stop.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
export STAFFELD=${STAFFELD:-$repo/build/staffeld}

die() { echo "run.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (a private Postfix instance needs it)"
[ -x "$STAFFELD" ] || die "no staffeld at $STAFFELD; build it first: contrib/quickstart/setup.sh"
for tool in /usr/bin/python3 /usr/sbin/postfix /usr/bin/redis-server; do
    [ -x "$tool" ] || die "missing $tool; install the packages: contrib/quickstart/setup.sh"
done

exec /usr/bin/python3 "$here/demo.py" "$@"
