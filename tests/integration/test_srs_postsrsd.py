"""Staffel's SRS core against the real postsrsd: each decodes what the other makes.

Debian's postsrsd 1.10 (libsrs2's scheme) runs on two free loopback ports
with a temporary secret file, answering Postfix tcp_table lookups
("get KEY" -> "200 VALUE" / "500 REASON", keys and values %XX-encoded);
Staffel's side is staffel_srs_probe (tests/integration/srs_probe.cpp), a
line driver of milter/core/route/srs.cpp with the OpenSSL HMAC. Checked, for
the separators "=" and "+": forward gives byte-identical addresses (SRS0,
SRS1, case kept, own domain untouched), each side reverses the other's
addresses, the second secret verifies but does not sign, ages 21 and 22 days
fall on the same side of the limit, and both refuse the same forgeries.
Both sides use the wall clock's day; a comparison that straddles midnight
UTC is run again.

Skipped when /usr/sbin/postsrsd is missing (apt-get install postsrsd). The
probe: $STAFFEL_SRS_PROBE, else staffel_srs_probe next to $STAFFELD.
"""
from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.parse

import pytest

import harness

POSTSRSD = "/usr/sbin/postsrsd"
PROBE = os.environ.get("STAFFEL_SRS_PROBE",
                       os.path.join(os.path.dirname(harness.STAFFELD), "staffel_srs_probe"))
DOMAIN = "srs.staffel.test"
SECRETS = ["first-secret", "second-secret"]
DAY = 86400

pytestmark = pytest.mark.skipif(not os.access(POSTSRSD, os.X_OK),
                                reason="postsrsd is not installed (%s; apt-get install postsrsd)"
                                % POSTSRSD)

PLAIN = [
    "alice@example.com",
    "Mixed.Case+tag@Sub.Example.ORG",
    "user=with=eq@example.net",
    "o'brien@example.ie",
    "\u00e9lise@\u00e9xample.fr",
    "x" * 64 + "@example.com",
]
FOREIGN_SRS = [
    "SRS0=abcd=AB=x.com=u@other.net",
    "srs0+abcd=AB=x.com=u@other.net",
    "SRS1=abcd=fw.net==XXXX=AB=x.com=u@other.net",
    "SRS1-abcd=fw.net=+XXXX=AB=x.com=u@other.net",
    "SRS0=@other.net",
    "SRS1=a=b=@other.net",  # another forwarder's hash need not have four characters
]


class Postsrsd(harness.Server):
    """postsrsd on two free loopback ports, run in the foreground, stopped by PID."""

    def __init__(self, workdir, secrets, separator="="):
        super().__init__()
        self.dir = workdir
        self.secret_path = workdir / ("postsrsd%s.secret" % {"=": "eq", "+": "plus",
                                                             "-": "minus"}[separator])
        self.secret_path.write_text("".join(s + "\n" for s in secrets))
        os.chmod(self.secret_path, 0o600)
        self.separator = separator
        self.log_path = workdir / "postsrsd.log"
        self.proc = None
        self.forward_port = self.reverse_port = None

    def start(self, timeout: float = 10.0):
        last = None
        for _ in range(3):  # a free port can be taken between probe and bind
            self.forward_port, self.reverse_port = harness.free_port(), harness.free_port()
            if self.forward_port == self.reverse_port:
                continue
            argv = [POSTSRSD, "-s", self.secret_path, "-d", DOMAIN, "-a", self.separator,
                    "-f", self.forward_port, "-r", self.reverse_port, "-l", harness.LOOPBACK]
            self.proc = harness.spawn(argv, self.log_path)
            try:
                harness.wait_until(
                    lambda: self.proc.poll() is not None or (
                        harness.tcp_accepts(harness.LOOPBACK, self.forward_port)
                        and harness.tcp_accepts(harness.LOOPBACK, self.reverse_port)),
                    timeout, what="postsrsd ports")
            except TimeoutError as e:
                last = e
                harness.stop_process(self.proc)
                continue
            if self.proc.poll() is None:
                self._register("pid", str(self.proc.pid), self.dir)
                return self
            last = harness.StartError("postsrsd exited %s:\n%s" % (
                self.proc.returncode, harness.tail(self.log_path)))
        raise harness.StartError(str(last))

    def stop(self):
        harness.stop_process(self.proc)
        self._unregister()

    def _get(self, port: int, key: str) -> tuple[int, str]:
        encoded = "".join(c if 0x20 < ord(c) < 0x7f and c != "%" else
                          "".join("%%%02X" % b for b in c.encode()) for c in key)
        with socket.create_connection((harness.LOOPBACK, port), timeout=5) as s:
            s.sendall(("get %s\n" % encoded).encode())
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
        code, _, value = reply.decode().rstrip("\n").partition(" ")
        return int(code), urllib.parse.unquote(value)

    def forward(self, address: str) -> tuple[int, str]:
        return self._get(self.forward_port, address)

    def reverse(self, address: str) -> tuple[int, str]:
        return self._get(self.reverse_port, address)


class Probe:
    """staffel_srs_probe: one request line in, one answer line out."""

    def __init__(self):
        self.proc = subprocess.Popen([PROBE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, encoding="utf-8")

    def ask(self, direction, address, now, secrets=SECRETS, separator="="):
        line = " ".join([direction, ",".join(secrets), DOMAIN, str(int(now)), address,
                         separator])
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().rstrip("\n")
        status, _, value = answer.partition(" ")
        assert status in ("ok", "error"), "probe answered %r to %r" % (answer, line)
        return status == "ok", value

    def close(self):
        self.proc.stdin.close()
        assert self.proc.wait(10) == 0


def same_day(check):
    """Runs check(now) until the UTC day did not change while it ran."""
    for _ in range(3):
        now = int(time.time())
        result = check(now)
        if int(time.time()) // DAY == now // DAY:
            return result
    raise AssertionError("the day kept changing")


@pytest.fixture
def probe():
    if not os.access(PROBE, os.X_OK):
        pytest.fail("no staffel_srs_probe at %s: build it (target staffel_srs_probe) or set "
                    "STAFFEL_SRS_PROBE" % PROBE)
    p = Probe()
    yield p
    p.close()


@pytest.fixture(params=["=", "+"], ids=["sep-eq", "sep-plus"])
def postsrsd(request, workdir):
    p = Postsrsd(workdir, SECRETS, separator=request.param)
    request.node.staffel_servers.append(p)
    p.start()
    yield p
    p.stop()


def test_forward_is_byte_identical(postsrsd, probe):
    def check(now):
        rows = []
        for a in PLAIN + FOREIGN_SRS + ["bob@" + DOMAIN, "bob@SRS.Staffel.TEST"]:
            code, theirs = postsrsd.forward(a)
            ok, ours = probe.ask("forward", a, now, separator=postsrsd.separator)
            rows.append((a, (code, theirs), (ok, ours)))
        return rows
    for a, (code, theirs), (ok, ours) in same_day(check):
        assert code == 200 and ok, "forward %r: postsrsd %s %r, staffel %s" % (a, code, theirs,
                                                                              ours)
        assert ours == theirs, "forward %r: got %r, want (postsrsd) %r" % (a, ours, theirs)


def test_postsrsd_decodes_staffel(postsrsd, probe):
    now = int(time.time())
    for a in PLAIN:
        ok, made = probe.ask("forward", a, now, separator=postsrsd.separator)
        assert ok, made
        assert postsrsd.reverse(made) == (200, a), "postsrsd reverse of %r" % made
    # SRS1 addresses decode to the first forwarder's SRS0 address, the same
    # on both sides.
    for a in FOREIGN_SRS:
        ok, made = probe.ask("forward", a, now, separator=postsrsd.separator)
        assert ok, made
        code, theirs = postsrsd.reverse(made)
        ok, ours = probe.ask("reverse", made, now)
        assert code == 200 and ok and ours == theirs, (a, made, theirs, ours)


def test_staffel_decodes_postsrsd(postsrsd, probe):
    now = int(time.time())
    for a in PLAIN:
        code, made = postsrsd.forward(a)
        assert code == 200, made
        assert probe.ask("reverse", made, now) == (True, a), "staffel reverse of %r" % made
        # Hash and timestamp are read case-insensitively, on both sides.
        assert probe.ask("reverse", made.lower(), now) == (True, a.lower())
        assert postsrsd.reverse(made.lower()) == (200, a.lower())


def test_second_secret_verifies_but_does_not_sign(postsrsd, probe):
    now = int(time.time())
    # Signed by postsrsd's first secret: Staffel verifies it as its second.
    code, made = postsrsd.forward("alice@example.com")
    assert code == 200
    assert probe.ask("reverse", made, now, secrets=["new", SECRETS[0]]) == (True,
                                                                            "alice@example.com")
    assert probe.ask("reverse", made, now, secrets=["new"])[0] is False
    # Signed by Staffel with postsrsd's second secret: postsrsd verifies it.
    ok, ours = probe.ask("forward", "bob@example.com", now, secrets=[SECRETS[1]])
    assert ok
    assert postsrsd.reverse(ours) == (200, "bob@example.com")
    ok, foreign = probe.ask("forward", "bob@example.com", now, secrets=["unknown"])
    assert ok
    assert postsrsd.reverse(foreign)[0] == 500


def test_age_limit_agrees(postsrsd, probe):
    def check(now):
        rows = []
        for days in (0, 1, 20, 21, 22, 23, 1023, 1024, 1045, 1046, -1):
            ok, made = probe.ask("forward", "carol@example.com", now - days * DAY)
            assert ok, made
            code, theirs = postsrsd.reverse(made)
            rows.append((days, code, theirs, probe.ask("reverse", made, now)))
        return rows
    for days, code, theirs, (ok, ours) in same_day(check):
        valid = days % 1024 <= 21
        assert (code == 200) == valid, "postsrsd at %d days: %s %s" % (days, code, theirs)
        assert ok == valid, "staffel at %d days: %s" % (days, ours)
        if not valid:
            assert theirs == "Time stamp out of date."
            assert ours.startswith("timestamp expired (%d days old, max 21)" % (days % 1024)), ours


def test_both_refuse_the_same_forgeries(postsrsd, probe):
    now = int(time.time())
    code, good = postsrsd.forward("alice@example.com")
    assert code == 200
    local, _, _ = good.partition("@")
    tag, hash_, stamp, host, user = local[:4], local[5:9], *local[10:].split("=", 2)
    flipped = ("B" if hash_[0] == "A" else "A") + hash_[1:]
    cases = {
        "own address": (good, True),
        "no domain part": (local, True),  # postsrsd decodes a bare local part too
        "other domain": (local + "@elsewhere.example", True),
        "longer hash": ("%s=%sxyz=%s=%s=%s@%s" % (tag, hash_, stamp, host, user, DOMAIN), True),
        "hash flipped": ("%s=%s=%s=%s=%s@%s" % (tag, flipped, stamp, host, user, DOMAIN), False),
        "user changed": ("%s=%s=%s=%s=mallory@%s" % (tag, hash_, stamp, host, DOMAIN), False),
        "domain changed": ("%s=%s=%s=evil.example=%s@%s" % (tag, hash_, stamp, user, DOMAIN),
                           False),
        "short hash": ("%s=%s=%s=%s=%s@%s" % (tag, hash_[:3], stamp, host, user, DOMAIN), False),
        "bad timestamp": ("%s=%s=%s1=%s=%s@%s" % (tag, hash_, stamp[0], host, user, DOMAIN),
                          False),
        "long timestamp": ("%s=%s=%sA=%s=%s@%s" % (tag, hash_, stamp, host, user, DOMAIN), False),
        "no user": ("%s=%s=%s=%s@%s" % (tag, hash_, stamp, host, DOMAIN), False),
        "plain": ("alice@example.com", False),
        "SRS1 unsigned": ("SRS1=abcd=other.net==abcd=AB=x.com=u@" + DOMAIN, False),
    }
    for name, (address, want_ok) in cases.items():
        code, theirs = postsrsd.reverse(address)
        ok, ours = probe.ask("reverse", address, now)
        assert (code == 200) == want_ok, "postsrsd, %s %r: %s %s" % (name, address, code, theirs)
        assert ok == want_ok, "staffel, %s %r: %s" % (name, address, ours)
        if ok:
            assert ours == theirs == "alice@example.com", name


def test_local_part_srs0_alone_decodes_both_ways(postsrsd, probe):
    # postsrsd takes "SRS0" alone for an SRS0 local part and makes an SRS1
    # address; Staffel takes it for a plain local part. Either decodes the
    # other's rewrite.
    now = int(time.time())
    code, theirs = postsrsd.forward("SRS0@other.net")
    ok, ours = probe.ask("forward", "SRS0@other.net", now, separator=postsrsd.separator)
    assert code == 200 and theirs.startswith("SRS1"), theirs
    assert ok and ours.startswith("SRS0"), ours
    assert probe.ask("reverse", theirs, now) == (True, "SRS0@other.net")
    assert postsrsd.reverse(ours) == (200, "SRS0@other.net")
