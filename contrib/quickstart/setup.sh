#!/bin/bash
# setup.sh - install what Staffel needs on Debian 12, build it, run the quick start.
#
# As root: installs the build dependencies and the demo's servers from
# Debian's packages (Postfix preseeded as "No configuration", so the system
# gets no mail setup and nothing is started), configures and builds with
# CMake into build/, then runs contrib/quickstart/run.sh with the arguments
# given here (e.g. --keep).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root" >&2; exit 1; }

# One list for the quick start, the tests and CI.
mapfile -t packages < <(grep -v '^#' "$repo/contrib/debian-packages.txt" | grep .)

echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y "${packages[@]}"

cmake -S "$repo" -B "$repo/build"
cmake --build "$repo/build" -j"$(nproc)"

exec "$here/run.sh" "$@"
