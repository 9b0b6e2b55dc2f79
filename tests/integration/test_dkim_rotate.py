"""DKIM key rotation: `staffelctl dkim rotate` and `dkim check` with
not_before / not_after, and staffeld switching keys at the set time.

rotate and check run the real staffelctl on policies made of keygen's and
rotate's own [[dkim.keys]] entries; records come from zone-file text
(--record), so no DNS is needed. The switch runs through a private Postfix:
smtplib -> Postfix -> staffeld (milter) -> sink, and python3-dkim verifies
what arrives with the public keys from the key files.
"""
from __future__ import annotations

import datetime
import os
import re
import stat
import subprocess
import time
import tomllib

import pytest

from dkim_verify import public_key_record, verify_python_dkim
from harness import smtp_send
from test_staffelctl import Key, read_zone_record, run

HOUR = 3600


def rfc3339(t: float) -> str:
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def entry_of(note: str) -> tuple[str, dict]:
    """The [[dkim.keys]] block rotate prints on stderr, as text and parsed."""
    start = note.index("[[dkim.keys]]")
    block = note[start:note.index("\n\n", start) + 1]
    return block, tomllib.loads(block)["dkim"]["keys"][0]


def rotate(policy, *args):
    return run("-c", policy, "dkim", "rotate", *args)


def check(policy, zone):
    return run("-c", policy, "dkim", "check", "--record", zone)


# ---------------------------------------------------------------- rotate

def test_rotate_writes_the_next_key_and_the_entry_to_add(tmp_path):
    keydir = tmp_path / "keys"
    current = Key(keydir, "example.com", "s2026", "rsa-sha256")
    policy = tmp_path / "staffel.toml"
    policy.write_text(current.snippet)

    before = time.time()
    rc, out, err = rotate(policy, "--domain", "example.com")
    after = time.time()
    assert rc == 0, err
    # not_before: 48 hours ahead, rounded up to the hour; the selector: the
    # current one's letters, then that time's year and month.
    choices = {(int(t) + 48 * HOUR + HOUR - 1) // HOUR * HOUR for t in (before, after)}
    block, entry = entry_of(err)
    when = int(entry["not_before"].timestamp())
    assert when in choices, (when, choices)
    selector = "s" + rfc3339(when)[:4] + rfc3339(when)[5:7]
    assert entry["selector"] == selector and entry["domain"] == "example.com"
    assert entry["algorithm"] == "rsa-sha256"
    path = keydir / ("example.com.%s.pem" % selector)
    assert entry["key"] == str(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "s2026 (declared at %s:1:1) keeps signing until %s" % (policy, rfc3339(when)) in err
    # Standard output: the new key's record, the public half of the file.
    name, strings = read_zone_record(out)
    assert name == "%s._domainkey.example.com." % selector
    assert b"".join(strings).decode() == public_key_record(path)

    # With the entry added but the record not yet published, check warns.
    policy.write_text(current.snippet + "\n" + block)
    zone = tmp_path / "records.zone"
    zone.write_text(current.zone)
    rc, out_check, err_check = check(policy, zone)
    assert rc == 2, err_check
    lines = out_check.splitlines()
    assert lines[0] == "example.com s2026 rsa-sha256: match"
    assert lines[1] == (
        "example.com %s rsa-sha256: WARNING: no record found (not in %s); starts signing at %s "
        "(in 2d): publish it now" % (selector, zone, rfc3339(when)))
    # Published: all is well; the new key says when it starts.
    zone.write_text(current.zone + out)
    rc, out_check, err_check = check(policy, zone)
    assert rc == 0, err_check
    assert out_check.splitlines()[1] == (
        "example.com %s rsa-sha256: match; starts signing at %s (in 2d)" %
        (selector, rfc3339(when)))

    # Rotating again for the same time: that selector is taken, so "b".
    rc, out2, err2 = rotate(policy, "-d", "example.com", "--not-before", rfc3339(when))
    assert rc == 0, err2
    assert entry_of(err2)[1]["selector"] == selector + "b"
    assert (keydir / ("example.com.%sb.pem" % selector)).exists()


def test_rotate_with_a_chosen_selector_time_and_directory(tmp_path):
    current = Key(tmp_path / "keys", "example.com", "e2026", "ed25519-sha256")
    policy = tmp_path / "staffel.toml"
    policy.write_text("[dkim]\noverlap = \"all\"\n" + current.snippet)
    out_dir = tmp_path / "elsewhere"
    out_dir.mkdir()
    rc, out, err = rotate(policy, "-d", "example.com", "-s", "e-next", "-t", "7d",
                          "-o", out_dir)
    assert rc == 0, err
    _, entry = entry_of(err)
    assert entry["selector"] == "e-next" and entry["algorithm"] == "ed25519-sha256"
    assert entry["key"] == str(out_dir / "example.com.e-next.pem")
    assert abs(entry["not_before"].timestamp() - (time.time() + 7 * 86400)) < 60
    assert "both e2026 (declared at" in err and 'overlap = "all"' in err
    assert read_zone_record(out)[0] == "e-next._domainkey.example.com."


def test_rotate_refusals(tmp_path):
    rsa = Key(tmp_path / "keys", "example.com", "s2026", "rsa-sha256")
    ed = Key(tmp_path / "keys", "example.com", "e2026", "ed25519-sha256")
    policy = tmp_path / "staffel.toml"
    policy.write_text(rsa.snippet + "\n" + ed.snippet)
    (tmp_path / "keys" / "example.com.taken.pem").write_text("")
    cases = [
        (["-d", "other.example"], 64, "declares no [[dkim.keys]] for other.example"),
        (["-d", "example.com"], 64, "say which to rotate with --algorithm"),
        (["-d", "example.com", "-a", "rsa-sha256", "-t", "2020-01-01T00:00:00Z"], 64,
         "is not in the future"),
        (["-d", "example.com", "-a", "rsa-sha256", "-t", "soon"], 64,
         "expected an RFC 3339 time"),
        (["-d", "example.com", "-a", "rsa-sha256", "-s", "e2026"], 64,
         "e2026 of example.com is already declared at %s:" % policy),
        (["-d", "example.com", "-a", "ed25519-sha256", "-b", "2048"], 64,
         "--bits applies to rsa-sha256 keys only"),
        (["-d", "example.com", "-a", "rsa-sha256", "-s", "taken"], 73,
         "refusing to overwrite"),
        (["-d", "example.com", "-a", "rsa-sha256", "-o", tmp_path / "absent"], 73,
         "is not a directory"),
        (["-d", "bad domain"], 64, "--domain"),
    ]
    for args, want_rc, words in cases:
        rc, out, err = rotate(policy, *args)
        assert (rc, out) == (want_rc, ""), (args, err)
        assert words in err, (args, err)
    broken = tmp_path / "broken.toml"
    broken.write_text("[[dkim.keys]]\ndomain = \"example.com\"\n")
    rc, out, err = rotate(broken, "-d", "example.com")
    assert rc == 78 and "broken.toml" in err, err


@pytest.mark.parametrize("words", [["dkim", "rotate"]])
def test_rotate_help_reads_like_a_manual(words):
    rc, out, err = run(*words, "--help")
    assert rc == 0, err
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "EXAMPLES"):
        assert re.search(r"^%s$" % section, out, re.MULTILINE), (section, out)
    assert "s2026 -> s202607" in out


# ---------------------------------------------------------------- check with times

def test_check_follows_each_keys_time(tmp_path):
    keydir = tmp_path / "keys"
    now = time.time()
    cur = Key(keydir, "example.com", "cur", "rsa-sha256")
    gone = Key(keydir, "example.com", "gone", "rsa-sha256")
    due = Key(keydir, "example.com", "due", "rsa-sha256")
    lost = Key(keydir, "example.com", "lost", "ed25519-sha256")
    policy = tmp_path / "staffel.toml"
    zone = tmp_path / "records.zone"
    retired_at = rfc3339(now - HOUR)
    starts_at = rfc3339(now + 3 * HOUR + 90)  # mid-minute: "3h 1m" however fast the check runs

    # A retired key need not be published; one due to start must be (2).
    policy.write_text(cur.snippet + "\n" + gone.snippet + "not_after = %s\n\n" % retired_at +
                      due.snippet + "not_before = %s\n" % starts_at)
    zone.write_text(cur.zone)
    rc, out, err = check(policy, zone)
    assert rc == 2, err
    assert out.splitlines() == [
        "example.com cur rsa-sha256: match",
        "example.com gone rsa-sha256: no record found (not in %s); retired since %s" %
        (zone, retired_at),
        "example.com due rsa-sha256: WARNING: no record found (not in %s); starts signing at "
        "%s (in 3h 1m): publish it now" % (zone, starts_at)]

    # Published, the due key passes; a published key without its file warns.
    lost.path.unlink()
    policy.write_text(policy.read_text() + "\n" + lost.snippet)
    zone.write_text(cur.zone + due.zone + lost.zone)
    rc, out, err = check(policy, zone)
    assert rc == 2, err
    assert out.splitlines()[2:] == [
        "example.com due rsa-sha256: match; starts signing at %s (in 3h 1m)" % starts_at,
        "example.com lost ed25519-sha256: WARNING: published, but the private key %s is "
        "missing (staffeld refuses the policy until it is back or the entry is removed)" %
        lost.path]

    # A key that signs now and is not published is still an error (1).
    zone.write_text(due.zone + lost.zone)
    rc, out, err = check(policy, zone)
    assert rc == 1, err
    assert out.splitlines()[0] == "example.com cur rsa-sha256: no record found (not in %s)" % zone


# ---------------------------------------------------------------- through Postfix

def make_rsa_key(path):
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", str(path)], check=True, capture_output=True)
    os.chmod(path, 0o600)
    return path


MESSAGE = (b"From: Alice <alice@example.com>\r\n"
           b"To: Bob <bob@example.net>\r\n"
           b"Subject: rotation\r\n"
           b"Message-ID: <rotate-%d@example.com>\r\n"
           b"\r\n"
           b"Signed by whichever key is in force.\r\n")


@pytest.mark.parametrize("overlap,after_switch", [("newest", ["new"]), ("all", ["old", "new"])])
def test_staffeld_switches_keys_at_not_before_without_reload(
        workdir, staffeld_factory, postfix_factory, sink, overlap, after_switch):
    """old signs until `new`'s not_before, a few seconds ahead; then new
    does (overlap "newest") or both do ("all"). A retired key and one due
    tomorrow never sign. No reload in between."""
    keys = {s: make_rsa_key(workdir / ("%s.pem" % s)) for s in ("old", "new", "gone", "later")}
    now = time.time()
    switch = int(now) + 20
    times = {"old": 'not_after = %s\n' % rfc3339(now + 86400),
             "new": "not_before = %s\n" % rfc3339(switch),
             "gone": 'not_after = "%s"\n' % rfc3339(now - 60),
             "later": "not_before = %s\n" % rfc3339(now + 86400)}
    policy = '[milter]\nsocket_mode = "0666"\n[dkim]\noverlap = "%s"\n' % overlap
    for s, path in keys.items():
        policy += ('[[dkim.keys]]\ndomain = "example.com"\nselector = "%s"\nkey = "%s"\n%s' %
                   (s, path, times[s]))
    staffeld = staffeld_factory(policy=policy)
    postfix = postfix_factory(milter=staffeld.socket_spec)
    records = {"%s._domainkey.example.com" % s: public_key_record(p) for s, p in keys.items()}

    def send(n):
        r = smtp_send(postfix.smtp_port, "alice@example.com", ["bob@example.net"], MESSAGE % n)
        assert r.accepted, str(r)
        got = sink.wait_for(n)[-1]
        line = staffeld.wait_message_line(r.queue_id)[0]
        results = verify_python_dkim(got.data, records)
        assert all(v.ok for v in results), [(v.s, v.detail) for v in results]
        return [v.s for v in results], line["dkim"]

    assert time.time() < switch - 2, "setting up took too long to send before the switch"
    selectors, logged = send(1)
    assert selectors == ["old"] and logged == "example.com/old"
    time.sleep(max(0.0, switch + 1 - time.time()))
    selectors, logged = send(2)
    assert sorted(selectors) == sorted(after_switch), selectors
    assert logged == ",".join("example.com/%s" % s for s in after_switch), logged
