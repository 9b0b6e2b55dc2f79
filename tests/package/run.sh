#!/usr/bin/env bash
# tests/package/run.sh DEB - the Debian package, installed on this machine.
#
# Installs DEB with apt-get (so its computed dependencies are resolved),
# checks what it installed (binaries in /usr/sbin, the staffel user, the
# key directory, the conffile policy that staffeld -n accepts, the unit that
# systemd-analyze verify accepts, the man pages that render without a
# warning), runs lintian on it (no errors), runs the installed staffeld as
# user staffel against a sandboxed Postfix (tests/integration/
# test_installed_package.py), then removes and purges the package and checks
# nothing of it is left but the staffel user. Needs root and a machine where
# installing and removing the package does no harm (CI's, a container's).
set -euo pipefail
cd "$(dirname "$0")/../.."
deb=$(realpath "$1")
fail() { echo "package test: FAILED: $*" >&2; exit 1; }

if dpkg -s staffel >/dev/null 2>&1; then
  fail "a staffel package is installed already; remove it first"
fi
echo "== lintian $(basename "$deb") =="
lintian --fail-on error --tag-display-limit 0 "$deb" || fail "lintian reports errors"

echo "== apt-get install $(basename "$deb") =="
DEBIAN_FRONTEND=noninteractive apt-get install -y "$deb"
trap 'DEBIAN_FRONTEND=noninteractive apt-get purge -y staffel >/dev/null 2>&1 || true' EXIT

for f in /usr/sbin/staffeld /usr/sbin/staffelctl; do
  [[ -x $f ]] || fail "$f is not installed"
done
getent passwd staffel >/dev/null || fail "no staffel user"
[[ $(stat -c '%a %U' /etc/staffel/keys) == "700 staffel" ]] ||
  fail "/etc/staffel/keys is $(stat -c '%a %U' /etc/staffel/keys), want 700 staffel"
grep -qx /etc/staffel/staffel.toml /var/lib/dpkg/info/staffel.conffiles ||
  fail "/etc/staffel/staffel.toml is not a conffile"
/usr/sbin/staffeld -n -c /etc/staffel/staffel.toml || fail "staffeld -n refuses the policy"
/usr/sbin/staffelctl --version
unit=/lib/systemd/system/staffeld.service
[[ -f $unit ]] || fail "$unit is not installed"
out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $out"
if [[ -n $out ]]; then
  echo "$out"
  ! grep -q 'staffel' <<<"$out" || fail "systemd-analyze verify complains about the unit"
fi
for page in /usr/share/man/man8/staffeld.8.gz /usr/share/man/man8/staffelctl.8.gz \
            /usr/share/man/man5/staffel.toml.5.gz; do
  [[ -f $page ]] || fail "$page is not installed"
  warnings=$(zcat "$page" | LC_ALL=C.UTF-8 groff -ww -man -Tutf8 2>&1 >/dev/null)
  [[ -z $warnings ]] || fail "$page: $warnings"
done
[[ -f /usr/share/doc/staffel/examples/example.toml ]] || fail "no examples"
[[ -f /usr/share/doc/staffel/scaling.md ]] || fail "no scaling.md"

echo "== the installed staffeld through a sandboxed Postfix =="
STAFFEL_INSTALLED_TEST=1 STAFFELD=/usr/sbin/staffeld STAFFELCTL=/usr/sbin/staffelctl \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_installed_package.py

echo "== remove and purge =="
DEBIAN_FRONTEND=noninteractive apt-get remove -y staffel
[[ ! -e /usr/sbin/staffeld ]] || fail "staffeld left after remove"
[[ -f /etc/staffel/staffel.toml ]] || fail "remove took the conffile (only purge may)"
DEBIAN_FRONTEND=noninteractive apt-get purge -y staffel
trap - EXIT
[[ ! -e /etc/staffel ]] || fail "/etc/staffel left after purge: $(ls -la /etc/staffel)"
! dpkg -s staffel >/dev/null 2>&1 || fail "staffel still known to dpkg after purge"
echo "package test: ok"
