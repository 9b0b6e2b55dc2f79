"""staffelctl explain: policies/hybrid.toml, the sample messages in
tests/data/mail/ and a real redis-server, run as an admin would.

The shipped hybrid policy is used with only its key paths, Redis address
and socket changed, so these tests also keep it valid. Each test checks
the steps explain prints (stream rules, route, envelope, suppression,
quota, edits, signatures, DMARC, answer), its exit status, and that it
changed nothing in Redis: no quota counter is charged.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import harness

ROOT = Path(__file__).resolve().parent.parent.parent
MAIL = ROOT / "tests" / "data" / "mail"


@pytest.fixture
def policy(workdir, redis):
    keys = workdir / "keys"
    keys.mkdir(mode=0o700)
    for selector in ("inhouse2026", "esp2026"):
        r = subprocess.run([harness.STAFFELCTL, "dkim", "keygen", "--domain", "example.com",
                            "--selector", selector, "--algorithm", "rsa-sha256",
                            "--out", str(keys)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    text = (ROOT / "policies" / "hybrid.toml").read_text()
    text = text.replace("/etc/staffel/keys", str(keys))
    text = text.replace('address = "127.0.0.1:6379"', 'address = "%s"' % redis.address)
    text = text.replace("unix:/run/staffel/staffeld.sock", "unix:%s" % (workdir / "s.sock"))
    text = text.replace('user = "staffel"\n', "")
    path = workdir / "hybrid.toml"
    path.write_text(text)
    return path


def ctl(policy, *args):
    return subprocess.run([harness.STAFFELCTL, "-c", str(policy), *args],
                          capture_output=True, text=True, timeout=60)


def steps(out, topic):
    return [line[13:] for line in out.splitlines() if line.startswith(topic + " ")]


def quota_keys(redis):
    return redis.command("KEYS", "staffel:q:*")


def test_bulk_message_leaves_by_the_esp_with_verp(policy, redis):
    r = ctl(policy, "explain", str(MAIL / "newsletter.eml"))
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    line = policy.read_text().splitlines().index("[[stream]]") + 1
    assert steps(out, "stream") == [
        'rule 1 "bulk" (%s:%d:1): matches: header Precedence: bulk' % (policy, line),
        "bulk (the first rule that matches)"]
    assert steps(out, "route") == ["esp (named by the stream)"]
    assert ("MAIL FROM rewritten to <bounces+bob=example.net@bounce.esp.example.com> "
            "(return_path = verp)") in steps(out, "envelope")
    assert steps(out, "dkim") == [
        "key d=example.com s=inhouse2026 (rsa-sha256): does not sign, not a key of the route",
        "key d=example.com s=esp2026 (rsa-sha256): signs, in force",
        "signs as d=example.com s=esp2026 (rsa-sha256)"]
    edits = steps(out, "edit")
    assert "remove header X-Internal-Ticket (occurrence 1)" in edits
    assert "append at the end: X-Campaign: nov-2026" in edits
    assert "MAIL FROM:<bounces+bob=example.net@bounce.esp.example.com>" in edits
    assert any(e.startswith("insert on top: DKIM-Signature: v=1; a=rsa-sha256;") for e in edits)
    assert steps(out, "dmarc") == [
        "pass(dkim=example.com,spf=bounce.esp.example.com) (relaxed alignment)"]
    assert steps(out, "answer") == ["250 accepted"]
    assert quota_keys(redis) == []  # read, never charged


def test_transactional_message_and_suppressed_recipients(policy, redis):
    assert ctl(policy, "suppress", "add", "bob@example.net", "--reason", "hard_bounce").returncode == 0
    r = ctl(policy, "explain", str(MAIL / "receipt.eml"), "--client", "10.1.2.3")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert steps(out, "identity") == ["ip:10.1.2.3, client 10.1.2.3[10.1.2.3]"]
    assert steps(out, "recipient")[0] == "<alice@example.org>: not on a suppression list"
    assert steps(out, "RCPT")[0].startswith(
        "<bob@example.net>: 550 5.1.1 Staffel: <bob@example.net> is on the suppression list "
        "(hard bounce since ")
    assert steps(out, "stream")[-1] == "transactional (no rule matches: default_stream)"
    assert steps(out, "route") == ["inhouse (default_route)"]
    assert "MAIL FROM:<bounces@bounce.example.com>" in steps(out, "edit")
    assert "remove header X-App-Debug (occurrence 1)" in steps(out, "edit")
    quota = steps(out, "quota")
    assert quota[0].startswith('"per-sender-daily" for shop@example.com: 0 of 20000 used, '
                               "this message needs 1: fits")
    assert quota_keys(redis) == []
    # Every recipient refused: exit 1, nothing sent.
    r = ctl(policy, "explain", str(MAIL / "receipt.eml"), "--rcpt", "bob@example.net")
    assert r.returncode == 1
    assert steps(r.stdout, "answer")[0].startswith("every recipient is refused at RCPT")


def test_route_down_and_dead_redis(policy, redis):
    assert ctl(policy, "route", "down", "esp").returncode == 0
    r = ctl(policy, "explain", str(MAIL / "newsletter.eml"), "--from", "news@example.com",
            "--rcpt", "bob@example.net", "--rcpt", "carol@example.net")
    assert r.returncode == 0, r.stdout + r.stderr
    assert steps(r.stdout, "route") == ["esp (named by the stream)",
                                        "down: esp; the fallback inhouse carries it"]
    # Two recipients on the in-house route: plain return path, its own key.
    assert "MAIL FROM:<bounces@bounce.example.com>" in steps(r.stdout, "edit")
    assert steps(r.stdout, "dkim") == [
        "key d=example.com s=inhouse2026 (rsa-sha256): signs, in force",
        "key d=example.com s=esp2026 (rsa-sha256): does not sign, not a key of the route",
        "signs as d=example.com s=inhouse2026 (rsa-sha256)"]

    redis.kill()
    r = ctl(policy, "explain", str(MAIL / "newsletter.eml"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert steps(r.stdout, "recipient")[0].startswith(
        "<bob@example.net>: the suppression store failed (")
    assert steps(r.stdout, "RCPT")[0].startswith("<bob@example.net>: 451 4.3.0")
    # A 451 is a deferral, not a refusal; explain keeps no running counts.
    assert steps(r.stdout, "answer")[0].startswith("every recipient is deferred at RCPT"), r.stdout
    assert "since start" not in r.stdout


def test_bad_input_gets_a_clear_answer(policy, workdir):
    r = ctl(policy, "explain", str(workdir / "missing.eml"))
    assert r.returncode == 66 and "cannot read" in r.stderr
    bad = workdir / "bad.eml"
    bad.write_text("not a header\n\nbody\n")
    r = ctl(policy, "explain", str(bad))
    assert r.returncode == 65 and "line 1 is not a header field" in r.stderr
    r = ctl(policy, "explain", "--help")
    assert r.returncode == 0 and "EXIT STATUS" in r.stdout and "read" in r.stdout
