"""staffelctl, the admin tool: `dkim keygen` and `dkim check`, run as a user would.

keygen: the key file is 0600 and never overwritten; the printed TXT record is
  zone-file text whose strings are at most 255 bytes, and - read back by this
  file's own small parser - it is the public key `openssl` extracts from the
  private key file, and it verifies a signature that python3-dkim (and, for
  RSA, Perl's Mail::DKIM) made with that key. The [[dkim.keys]] snippet on
  stderr is valid TOML that the checks below use as their policy.
check: against zone-style record files (keygen's own output, another key, a
  revoked or broken record, none), against DNS through a tiny authoritative
  server on a free loopback UDP port (--nameserver), and with policies that
  are broken.
The binary: $STAFFELCTL, else staffelctl next to $STAFFELD (so a sanitizer
  build tests its own staffelctl), else build/staffelctl of this checkout.
Needs: python3-dkim, openssl, libmail-dkim-perl (Debian 12). No root needed.
"""
from __future__ import annotations

import base64
import os
import re
import socket
import stat
import struct
import subprocess
import threading
import tomllib
from pathlib import Path

import dkim
import pytest

import dkim_verify
import harness

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
STAFFELCTL = harness.STAFFELCTL

MESSAGE = (b"From: Alice <alice@example.com>\r\n"
           b"To: Bob <bob@example.net>\r\n"
           b"Subject: key check\r\n"
           b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
           b"Message-ID: <staffelctl-1@example.com>\r\n"
           b"\r\n"
           b"Hello Bob.\r\n")


@pytest.fixture(scope="module", autouse=True)
def _require_binary():
    if not os.access(STAFFELCTL, os.X_OK):
        pytest.fail("no staffelctl binary at %s: build it (cmake --build build) or set STAFFELCTL"
                    % STAFFELCTL)


def run(*args, stdin=None):
    r = subprocess.run([STAFFELCTL, *map(str, args)], capture_output=True, input=stdin,
                       timeout=120)
    assert r.returncode < 128 and r.returncode >= 0, "killed by signal: %r" % r
    for bad in ("terminate called", "AddressSanitizer", "runtime error:", "LeakSanitizer"):
        assert bad not in r.stderr.decode(errors="replace"), r.stderr.decode(errors="replace")
    return r.returncode, r.stdout.decode(), r.stderr.decode()


# ---------------------------------------------------------------- zone text, independently

_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def unescape(text: str) -> bytes:
    return re.sub(rb"\\(\d{3}|.)",
                  lambda m: bytes([int(m[1])]) if m[1].isdigit() else m[1],
                  text.encode())


def read_zone_record(stdout: str):
    """keygen's stdout -> (owner name, [character-strings as bytes])."""
    m = re.match(r"^(\S+) IN TXT \( (.*) \)\n\Z", stdout, re.DOTALL)
    assert m, "not a one-record zone-file TXT text:\n" + stdout
    strings = [unescape(s) for s in _QUOTED.findall(m[2])]
    rest = _QUOTED.sub("", m[2])
    assert rest.strip() == "", "stray text between the strings: %r" % rest
    return m[1], strings


class Key:
    """One `staffelctl dkim keygen` run."""

    def __init__(self, out_dir: Path, domain: str, selector: str, algorithm: str, *extra):
        out_dir.mkdir(parents=True, exist_ok=True)
        self.domain, self.selector, self.algorithm = domain, selector, algorithm
        self.rc, self.zone, self.note = run("dkim", "keygen", "--domain", domain,
                                            "--selector", selector, "--algorithm", algorithm,
                                            *extra, "--out", out_dir)
        assert self.rc == 0, self.note
        self.path = out_dir / ("%s.%s.pem" % (domain.lower().rstrip("."), selector))
        self.name, self.strings = read_zone_record(self.zone)
        self.record = b"".join(self.strings).decode()
        snippet = self.note[self.note.index("[[dkim.keys]]"):]
        self.snippet = snippet
        self.entry = tomllib.loads(snippet)["dkim"]["keys"][0]

    def sign(self, message: bytes = MESSAGE) -> bytes:
        if self.algorithm == "rsa-sha256":
            # python3-dkim reads PKCS#1 only; staffelctl writes PKCS#8.
            pem = subprocess.run(["openssl", "rsa", "-in", str(self.path), "-traditional"],
                                 capture_output=True, check=True).stdout
            return dkim.sign(message, self.selector.encode(), self.domain.encode(), pem)
        der = subprocess.run(["openssl", "pkey", "-in", str(self.path), "-outform", "DER"],
                             capture_output=True, check=True).stdout
        seed = base64.b64encode(der[-32:])
        return dkim.sign(message, self.selector.encode(), self.domain.encode(), seed,
                         signature_algorithm=b"ed25519-sha256")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """An RSA and an Ed25519 key of example.com, and another RSA key for s2026."""
    d = tmp_path_factory.mktemp("keys")
    return {"rsa": Key(d / "a", "example.com", "s2026", "rsa-sha256"),
            "ed": Key(d / "a", "example.com", "e2026", "ed25519-sha256"),
            "other": Key(d / "b", "example.com", "s2026", "rsa-sha256")}


def write_policy(directory: Path, *keys_used: Key) -> Path:
    """A policy made of keygen's own [[dkim.keys]] snippets."""
    policy = directory / "staffel.toml"
    policy.write_text("\n".join(k.snippet for k in keys_used))
    return policy


# ---------------------------------------------------------------- keygen

@pytest.mark.parametrize("algorithm,extra,want_strings", [
    ("rsa-sha256", [], 3),
    ("rsa-sha256", ["--bits", "1024"], 2),
    ("rsa-sha256", ["-b", "4096"], 4),
    ("ed25519-sha256", [], 2),
])
def test_keygen_record_verifies_a_signature(tmp_path, algorithm, extra, want_strings):
    key = Key(tmp_path / "keys", "Example.COM", "sel_2026", algorithm, *extra)
    assert key.path == tmp_path / "keys" / "example.com.sel_2026.pem"
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o600
    assert key.name == "sel_2026._domainkey.example.com."

    assert len(key.strings) == want_strings
    assert all(len(s) <= 255 for s in key.strings), [len(s) for s in key.strings]
    assert key.record == dkim_verify.public_key_record(key.path), "not the file's public key"
    k = "rsa" if algorithm.startswith("rsa") else "ed25519"
    assert key.record.startswith("v=DKIM1; k=%s; p=" % k)

    records = {key.name: key.record}
    signed = key.sign() + MESSAGE
    got = dkim_verify.verify_python_dkim(signed, records)
    assert [r.ok for r in got] == [True], [r.detail for r in got]
    if algorithm == "rsa-sha256" and dkim_verify.mail_dkim_supports(algorithm):
        got = dkim_verify.verify_mail_dkim(signed, records)
        assert [r.ok for r in got] == [True], [r.detail for r in got]
    # And a changed message does not verify: the record really is the check.
    got = dkim_verify.verify_python_dkim(signed.replace(b"Hello", b"Jello"), records)
    assert [r.ok for r in got] == [False]

    assert str(key.path) in key.note and "0600" in key.note
    assert key.entry == {"domain": "example.com", "selector": "sel_2026",
                         "algorithm": algorithm, "key": str(key.path)}


def test_keygen_record_of_another_key_does_not_verify(keys):
    signed = keys["rsa"].sign() + MESSAGE
    got = dkim_verify.verify_python_dkim(signed, {keys["other"].name: keys["other"].record})
    assert [r.ok for r in got] == [False]


def test_keygen_never_overwrites(tmp_path):
    key = Key(tmp_path, "example.com", "s1", "ed25519-sha256")
    before = key.path.read_bytes()
    rc, out, err = run("dkim", "keygen", "-d", "example.com", "-s", "s1", "-o", tmp_path)
    assert rc == 73, err
    assert out == ""
    assert "refusing to overwrite" in err and str(key.path) in err
    assert key.path.read_bytes() == before
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o600


@pytest.mark.parametrize("args,words", [
    (["-d", "exa mple.com", "-s", "s1"], "bad domain"),
    (["-d", "-x.example.com", "-s", "s1"], "bad domain"),
    (["-d", "under_score.com", "-s", "s1"], "bad domain"),
    (["-d", "example.com", "-s", "s 1"], "bad selector"),
    (["-d", "example.com", "-s", "s1", "-b", "512"], "1024"),
    (["-d", "example.com", "-s", "s1", "-b", "8192"], "4096"),
    (["-d", "example.com", "-s", "s1", "-a", "rsa-sha1"], "rsa-sha1"),
    (["-d", "example.com", "-s", "s1", "-a", "ed25519-sha256", "-b", "2048"], "--bits"),
    (["-s", "s1"], "--domain"),
    (["-d", "example.com"], "--selector"),
])
def test_keygen_refuses_bad_arguments(tmp_path, args, words):
    rc, out, err = run("dkim", "keygen", *args, "-o", tmp_path)
    assert rc == 64, err
    assert words in err
    assert out == ""
    assert list(tmp_path.iterdir()) == []


def test_keygen_needs_an_existing_directory(tmp_path):
    rc, out, err = run("dkim", "keygen", "-d", "example.com", "-s", "s1",
                       "-o", tmp_path / "missing")
    assert rc == 73, err
    assert "not a directory" in err and out == ""


# ---------------------------------------------------------------- check with record files

def check(policy: Path, *args, config_first=True, stdin=None):
    if config_first:
        return run("-c", policy, "dkim", "check", *args, stdin=stdin)
    return run("dkim", "check", *args, "-c", policy, stdin=stdin)


def test_check_keygen_output_matches(tmp_path, keys):
    policy = write_policy(tmp_path, keys["rsa"], keys["ed"])
    zone = tmp_path / "records.zone"
    zone.write_text("; both keys, as keygen printed them\n" + keys["rsa"].zone + "\n"
                    + keys["ed"].zone)
    want = ("example.com s2026 rsa-sha256: match\n"
            "example.com e2026 ed25519-sha256: match\n")
    for config_first in (True, False):
        rc, out, err = check(policy, "--record", zone, config_first=config_first)
        assert (rc, out) == (0, want), err
    rc, out, err = check(policy, "--record", "-", stdin=zone.read_bytes())
    assert (rc, out) == (0, want), err


def test_check_another_key_is_a_mismatch(tmp_path, keys):
    policy = write_policy(tmp_path, keys["rsa"])
    zone = tmp_path / "records.zone"
    zone.write_text(keys["other"].zone)
    rc, out, err = check(policy, "--record", zone)
    assert rc == 1, err
    assert out == "example.com s2026 rsa-sha256: MISMATCH: the published p= is another key\n"


def test_check_missing_record(tmp_path, keys):
    policy = write_policy(tmp_path, keys["rsa"], keys["ed"])
    zone = tmp_path / "records.zone"
    zone.write_text(keys["rsa"].zone)
    rc, out, err = check(policy, "--record", zone)
    assert rc == 1, err
    assert out.splitlines() == [
        "example.com s2026 rsa-sha256: match",
        "example.com e2026 ed25519-sha256: no record found (not in %s)" % zone]


def test_check_record_verdicts(tmp_path, keys):
    """Hand-written records: revoked, wrong k=, broken, several at one name."""
    rsa, ed = keys["rsa"], keys["ed"]
    ed_p = ed.record.split("p=")[1]
    rsa_p = rsa.record.split("p=")[1]
    folded = " ".join(rsa_p[i:i + 60] for i in range(0, len(rsa_p), 60))
    cases = [
        ('"v=DKIM1; k=rsa; p="', "revoked (empty p=)"),
        ('"v=DKIM1; k=ed25519; p=%s"' % ed_p,
         "MISMATCH: the record has k=ed25519, the key is rsa-sha256 (k=rsa)"),
        ('"v=DKIM1; k=rsa"', "record invalid: no p= tag"),
        ('"v=spf1 -all"', "record invalid: v=spf1 -all; a DKIM key record has v=DKIM1"),
        # No k= means rsa; spaces inside p= do not matter.
        ('( "v=DKIM1; p=%s" )' % folded[:200] + ' "%s"' % folded[200:], "match"),
        ('"v=spf1 -all"\ns2026._domainkey.example.com. TXT '
         + " ".join('"%s"' % x.decode() for x in rsa.strings), "match"),
    ]
    policy = write_policy(tmp_path, rsa)
    for i, (text, want) in enumerate(cases):
        zone = tmp_path / ("case%d.zone" % i)
        zone.write_text("$ORIGIN example.com.\n$TTL 300\n"
                        "@ IN MX 10 mail\n"
                        "s2026._domainkey 300 IN TXT %s\n" % text)
        rc, out, err = check(policy, "--record", zone)
        assert out == "example.com s2026 rsa-sha256: %s\n" % want, (text, err)
        assert rc == (0 if want == "match" else 1), (text, err)


def test_check_broken_record_files(tmp_path, keys):
    policy = write_policy(tmp_path, keys["rsa"])
    zone = tmp_path / "broken.zone"
    zone.write_text(keys["rsa"].zone.replace(" )", ""))
    rc, out, err = check(policy, "--record", zone)
    assert rc == 65, err
    assert err.startswith("%s: error: line 1: '(' is never closed" % zone), err
    assert out == ""
    rc, out, err = check(policy, "--record", tmp_path / "missing.zone")
    assert rc == 66, err
    assert "missing.zone" in err and out == ""


# ---------------------------------------------------------------- check: the policy

def test_check_refuses_a_key_others_can_read(tmp_path, keys):
    key_copy = tmp_path / "k.pem"
    key_copy.write_bytes(keys["rsa"].path.read_bytes())
    os.chmod(key_copy, 0o644)
    policy = tmp_path / "staffel.toml"
    policy.write_text('[[dkim.keys]]\ndomain = "example.com"\nselector = "s2026"\n'
                      'key = "k.pem"\n')
    zone = tmp_path / "records.zone"
    zone.write_text(keys["rsa"].zone)
    rc, out, err = check(policy, "--record", zone)
    assert rc == 78, err
    assert out == ""
    assert re.match(r"^%s:\d+:\d+: error: dkim\.keys\.key: .*k\.pem.*0644" % re.escape(str(policy)),
                    err), err


def test_check_policy_errors_and_no_keys(tmp_path):
    rc, out, err = run("-c", tmp_path / "absent.toml", "dkim", "check", "--record", "/dev/null")
    assert rc == 78 and "absent.toml" in err and out == ""
    broken = tmp_path / "broken.toml"
    broken.write_text('[[dkim.keys]]\ndomain = "example.com"\n')
    rc, out, err = run("-c", broken, "dkim", "check", "--record", "/dev/null")
    assert rc == 78 and "broken.toml" in err and out == "", err
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    rc, out, err = run("-c", empty, "dkim", "check")
    assert (rc, out) == (0, "") and "nothing to check" in err


# ---------------------------------------------------------------- check against DNS

class TinyDns:
    """An authoritative-only DNS server on 127.0.0.1 (UDP), for TXT questions.

    records: {name: [[b"string", ...], ...]} - one inner list per TXT record.
    A name in `servfail` answers SERVFAIL; a name with [] answers NODATA;
    any other name NXDOMAIN.
    """

    def __init__(self, records, servfail=()):
        self.records = {k.lower().rstrip("."): v for k, v in records.items()}
        self.servfail = {n.lower().rstrip(".") for n in servfail}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.questions = []
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self._answer(data)
            if reply:
                self.sock.sendto(reply, peer)

    def _answer(self, data):
        if len(data) < 12:
            return None
        pos, labels = 12, []
        while pos < len(data) and data[pos] != 0:
            n = data[pos]
            labels.append(data[pos + 1:pos + 1 + n].decode("ascii", "replace"))
            pos += 1 + n
        question_end = pos + 5
        name = ".".join(labels).lower()
        qtype = struct.unpack("!H", data[pos + 1:pos + 3])[0]
        self.questions.append((name, qtype))
        answers = []
        rcode = 0
        if name in self.servfail:
            rcode = 2
        elif name not in self.records:
            rcode = 3
        elif qtype == 16:
            for strings in self.records[name]:
                rdata = b"".join(bytes([len(s)]) + s for s in strings)
                answers.append(b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 300, len(rdata))
                               + rdata)
        flags = 0x8400 | (0x0100 if data[2] & 0x01 else 0) | rcode
        header = data[:2] + struct.pack("!HHHHH", flags, 1, len(answers), 0, 0)
        return header + data[12:question_end] + b"".join(answers)

    def close(self):
        self._stop = True
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def tiny_dns():
    servers = []

    def make(records, servfail=()):
        s = TinyDns(records, servfail)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()


def test_check_against_dns(tmp_path, keys, tiny_dns):
    big = Key(tmp_path / "big", "example.org", "big", "rsa-sha256", "--bits", "4096")
    policy = write_policy(tmp_path, keys["rsa"], keys["ed"], big)
    dns = tiny_dns({
        # keygen's strings as they are, so the resolver must join them
        keys["rsa"].name: [[b"v=spf1 -all"], keys["rsa"].strings],
        keys["ed"].name: [keys["ed"].strings],
        big.name: [big.strings],
    })
    rc, out, err = check(policy, "--nameserver", "127.0.0.1:%d" % dns.port)
    assert out.splitlines() == ["example.com s2026 rsa-sha256: match",
                                "example.com e2026 ed25519-sha256: match",
                                "example.org big rsa-sha256: match"], err
    assert rc == 0, err
    assert ("s2026._domainkey.example.com", 16) in dns.questions


def test_check_against_dns_failures(tmp_path, keys, tiny_dns):
    rsa, ed, other = keys["rsa"], keys["ed"], keys["other"]
    policy = write_policy(tmp_path, rsa, ed)
    dns = tiny_dns({rsa.name: [other.strings]})
    rc, out, err = check(policy, "--nameserver", "127.0.0.1:%d" % dns.port)
    assert rc == 1, err
    assert out.splitlines() == [
        "example.com s2026 rsa-sha256: MISMATCH: the published p= is another key",
        "example.com e2026 ed25519-sha256: no record found (NXDOMAIN)"]

    dns = tiny_dns({rsa.name: [], ed.name: [ed.strings]})
    rc, out, err = check(policy, "--nameserver", "127.0.0.1:%d" % dns.port)
    assert rc == 1, err
    assert out.splitlines() == [
        "example.com s2026 rsa-sha256: no record found (no TXT record at the name)",
        "example.com e2026 ed25519-sha256: match"]

    # Nothing could be checked: 69, not a verdict on the keys.
    dns = tiny_dns({}, servfail=[rsa.name, ed.name])
    rc, out, err = check(policy, "--nameserver", "127.0.0.1:%d" % dns.port)
    assert rc == 69, err
    assert [line.split(": ", 1)[1] for line in out.splitlines()] == [
        "lookup failed: no answer from the nameserver (timeout or SERVFAIL)"] * 2


def test_check_nameserver_must_be_an_address(tmp_path, keys):
    policy = write_policy(tmp_path, keys["rsa"])
    for bad in ("localhost", "127.0.0.1:0", "127.0.0.1:99999", "::1"):
        rc, out, err = check(policy, "--nameserver", bad)
        assert rc == 64 and "IPV4" in err and out == "", (bad, err)
    rc, out, err = check(policy, "--nameserver", "127.0.0.1", "--record", "/dev/null")
    assert rc == 64 and "excludes" in err


# ---------------------------------------------------------------- the command line

@pytest.mark.parametrize("words", [[], ["dkim"], ["dkim", "keygen"], ["dkim", "check"]])
def test_help_reads_like_a_manual(words):
    rc, out, err = run(*words, "--help")
    assert rc == 0, err
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXAMPLES"):
        assert re.search(r"^%s$" % section, out, re.MULTILINE), (section, out)
    if words:
        assert re.search(r"^  staffelctl %s - " % " ".join(words), out, re.MULTILINE), out
    if words in ([], ["dkim", "keygen"], ["dkim", "check"]):
        assert re.search(r"^EXIT STATUS$", out, re.MULTILINE), out


def test_version_and_usage_errors():
    rc, out, err = run("--version")
    assert rc == 0 and re.match(r"^staffelctl \d+\.\d+\.\d+\n$", out), out
    for args in ([], ["dkim"], ["nonsense"], ["dkim", "keygen", "--nonsense"]):
        rc, out, err = run(*args)
        assert rc == 64, (args, err)
        assert out == "" and err, args
