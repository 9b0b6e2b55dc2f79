"""staffelctl suppress: add, remove, show, list, import, export, run as an admin would.

Each test gets its own redis-server (the `redis` fixture, a free loopback
port) and a policy pointing at it; the tests look at what lands in Redis
directly (key layout and value format of milter/core/suppress/suppress.hpp)
as well as at staffelctl's output and exit status (sysexits: 0, 1, 64, 65,
66, 69). Import and export are checked against the CSV format of
milter/core/suppress/csv.hpp: bad rows reported as FILE:LINE with the rest
imported, a wrong header refused whole, export -> import round trips, and
with hash_secret_file set, HMAC-SHA-256 keys and h:HEX in list and export.
The binary: $STAFFELCTL, else staffelctl next to $STAFFELD, else
build/staffelctl of this checkout.
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

import harness

STAFFELCTL = harness.STAFFELCTL
HEADER = "address,reason,scope,streams,expires,source"  # without added: still imported
HEADER_ADDED = HEADER + ",added"  # what export writes
SECRET = b"correct horse battery staple"


@pytest.fixture(scope="module", autouse=True)
def _require_binary():
    if not os.access(STAFFELCTL, os.X_OK):
        pytest.fail("no staffelctl binary at %s: build it or set STAFFELCTL" % STAFFELCTL)


def write_policy(workdir: Path, redis_address: str, suppression: str = "",
                 name: str = "policy.toml") -> Path:
    text = harness.minimal_policy("unix:%s" % (workdir / "staffeld.sock"), redis_address)
    text = text.replace("[redis]\n", '[redis]\nprefix = "t:"\n')
    text += "\n[suppression]\n" + suppression
    path = workdir / name
    path.write_text(text)
    return path


@pytest.fixture
def policy(workdir, redis):
    return write_policy(workdir, redis.address)


@pytest.fixture
def hashed_policy(workdir, redis):
    secret = workdir / "secret"
    secret.write_bytes(SECRET + b"\n")
    os.chmod(secret, 0o600)
    return write_policy(workdir, redis.address, 'hash_secret_file = "%s"\n' % secret,
                        name="hashed.toml")


def run(policy_path, *args, stdin: str | None = None):
    r = subprocess.run([STAFFELCTL, "-c", str(policy_path), *map(str, args)],
                                     capture_output=True, text=True, input=stdin, timeout=120)
    assert 0 <= r.returncode < 128, "killed by signal: %r" % r
    for bad in ("terminate called", "AddressSanitizer", "runtime error:", "LeakSanitizer"):
        assert bad not in r.stderr, r.stderr
    return r.returncode, r.stdout, r.stderr


def get(redis, key: str):
    v = redis.command("GET", key)
    return v.decode() if isinstance(v, bytes) else v


CHANGES = "t:suppress:changes"  # where staffelctl announces each entry it writes


def keys(redis, pattern: str = "*") -> set[str]:
    """The keys matching pattern, the changes stream left out."""
    return {k.decode() for k in redis.command("KEYS", pattern)} - {CHANGES}


def announced(redis) -> list[str]:
    """The entry keys on the changes stream, oldest first."""
    return [dict(zip(*[iter(fields)] * 2))[b"k"].decode()
            for _, fields in redis.command("XRANGE", CHANGES, "-", "+")]


def hashed(address: str) -> str:
    return "h:" + hmac.new(SECRET, address.encode(), hashlib.sha256).hexdigest()


def csv_rows(text: str) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(text)))
    assert rows and rows[0] == HEADER_ADDED.split(","), text[:200]
    return rows[1:]


# ---------------------------------------------------------------- add, show, list, remove

def test_add_show_list_remove(policy, redis):
    rc, out, err = run(policy, "suppress", "add", "Bob@Example.ORG", "--reason", "hard_bounce")
    assert rc == 0, err
    assert out.startswith("added the global entry of bob@example.org: hard_bounce, every stream,")
    value = get(redis, "t:s:*:bob@example.org")
    assert re.fullmatch(r"1\|hard_bounce\|\*\|\d+\|0\|staffelctl", value), value

    rc, out, err = run(policy, "suppress", "add", "carol@example.net", "--reason", "unsubscribe",
                       "--scope", "Example.COM", "--source", "crm export")
    assert rc == 0, err
    assert re.fullmatch(r"1\|unsubscribe\|bulk\|\d+\|0\|crm export",
                        get(redis, "t:s:example.com:carol@example.net"))

    # The same address and scope again: replaced, not added.
    rc, out, err = run(policy, "suppress", "add", "bob@example.org", "--reason", "complaint",
                       "--streams", "bulk,news")
    assert rc == 0 and out.startswith("replaced the global entry of bob@example.org: complaint, "
                                      "streams bulk,news"), (out, err)

    rc, out, err = run(policy, "suppress", "show", "<BOB@example.org>")
    assert rc == 0, err
    assert out.splitlines()[0] == "bob@example.org"
    assert "  global entry: complaint, streams bulk,news, added " in out
    assert ("  mail from any sender: removed at end of message from mail of stream bulk, news; "
            "mail of other streams is delivered") in out

    rc, out, err = run(policy, "suppress", "show", "carol@example.net")
    assert rc == 0, err
    assert "  entry for mail from example.com: unsubscribe, streams bulk," in out
    assert "  mail from other senders: delivered (no entry applies)" in out
    assert "  mail from example.com: removed at end of message from mail of stream bulk" in out
    rc, out, err = run(policy, "suppress", "show", "carol@example.net",
                       "--sender-domain", "other.example")
    assert rc == 1 and out == "" and "not on the suppression list for mail from other.example" in err

    rc, out, err = run(policy, "suppress", "list")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == "ADDRESS\tSCOPE\tREASON\tSTREAMS\tADDED\tEXPIRES\tSOURCE"
    rows = sorted(tuple(line.split("\t")) for line in lines[1:])
    assert [(r[0], r[1], r[2], r[3], r[5], r[6]) for r in rows] == [
        ("bob@example.org", "*", "complaint", "bulk,news", "never", "staffelctl"),
        ("carol@example.net", "example.com", "unsubscribe", "bulk", "never", "crm export")]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r[4]) for r in rows)

    for args, want in ((["--reason", "complaint"], ["bob@example.org"]),
                       (["--global"], ["bob@example.org"]),
                       (["--scope", "example.com"], ["carol@example.net"]),
                       (["--reason", "manual"], [])):
        rc, out, err = run(policy, "suppress", "list", *args)
        assert rc == 0, err
        assert [line.split("\t")[0] for line in out.splitlines()[1:]] == want, args

    rc, out, err = run(policy, "suppress", "remove", "carol@example.net")
    assert rc == 1 and "there is no global entry of carol@example.net" in err
    rc, out, err = run(policy, "suppress", "remove", "carol@example.net", "--scope", "example.com")
    assert rc == 0 and out == "removed the entry for mail from example.com of carol@example.net\n"
    rc, out, err = run(policy, "suppress", "remove", "bob@example.org")
    assert rc == 0, err
    assert keys(redis, "t:*") == set()
    # Each add was announced to the nodes' local views; removals are not
    # (a view that still holds a removed key only asks Redis about it).
    assert announced(redis) == ["t:s:*:bob@example.org", "t:s:example.com:carol@example.net",
                                "t:s:*:bob@example.org"]
    rc, out, err = run(policy, "suppress", "show", "bob@example.org")
    assert rc == 1 and "bob@example.org is not on the suppression list" in err


def test_add_with_expiry_sets_the_ttl(policy, redis):
    before = int(time.time())
    rc, out, err = run(policy, "suppress", "add", "dave@example.com", "--reason", "manual",
                       "--expires", "12h")
    assert rc == 0, err
    expires = int(get(redis, "t:s:*:dave@example.com").split("|")[4])
    assert before + 12 * 3600 <= expires <= int(time.time()) + 12 * 3600 + 1
    assert redis.command("EXPIRETIME", "t:s:*:dave@example.com") == expires
    rc, out, err = run(policy, "suppress", "list")
    assert time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires)) in out


@pytest.mark.parametrize("args,want", [
    (["add", "bob", "--reason", "manual"], 'ADDRESS: the address has no "@"'),
    (["add", "bob@example.org", "--reason", "bounced"],
     '--reason: unknown reason "bounced"; expected hard_bounce, complaint'),
    (["add", "bob@example.org"], "--reason is required"),
    (["add", "bob@example.org", "--reason", "manual", "--expires", "3 days"], "--expires:"),
    (["add", "bob@example.org", "--reason", "manual", "--scope", "bad domain"], "--scope:"),
    (["add", "bob@example.org", "--reason", "manual", "--streams", "bulk,,news"], "--streams:"),
    (["add", "h:" + "0" * 64, "--reason", "manual"], "hash_secret_file"),
    (["list", "--global", "--scope", "example.com"], "excludes"),
    (["show"], "ADDRESS is required"),
    (["nonsense"], ""),
    ([], ""),
])
def test_usage_errors_exit_64(policy, redis, args, want):
    rc, out, err = run(policy, "suppress", *args)
    assert rc == 64, (args, out, err)
    assert out == "" and want in err, (args, err)
    assert keys(redis, "t:*") == set()


def test_store_down_exits_69(workdir):
    dead = write_policy(workdir, "127.0.0.1:%d" % harness.free_port(), name="dead.toml")
    csv_file = workdir / "one.csv"
    csv_file.write_text(HEADER + "\nbob@example.org,manual,,,,\n")
    for args in (["add", "bob@example.org", "--reason", "manual"], ["remove", "bob@example.org"],
                 ["show", "bob@example.org"], ["list"], ["import", csv_file], ["export"]):
        rc, out, err = run(dead, "suppress", *args)
        assert rc == 69, (args, err)
        assert "Redis at 127.0.0.1:" in err and "connection refused" in err.lower(), (args, err)


def test_invalid_policy_exits_78(workdir):
    bad = workdir / "bad.toml"
    bad.write_text("[suppression]\nfold_local_part = 3\n")
    rc, out, err = run(bad, "suppress", "list")
    assert rc == 78 and "fold_local_part" in err, err


# ---------------------------------------------------------------- import and export

BAD_FILE = "\n".join([
    HEADER,
    "bob@example.org,hard_bounce,,,,dsn",                           # 2
    "carol@example.net,bounced,,,,",                                # 3 bad reason
    "dave@example.com,unsubscribe,example.com,bulk;news,2099-01-31T00:00:00Z,crm",  # 4
    "not-an-address,manual,,,,",                                    # 5 bad address
    "erin@example.com,manual,,,2001-01-01T00:00:00Z,",              # 6 in the past
    "frank@example.com,manual",                                     # 7 field count
    '"grace@example.com",complaint,,*,,"fbl, ""yahoo"""',           # 8
    "heidi@example.com,manual,bad domain,,,",                       # 9 bad scope
    "ivan@example.com,manual,,,next week,",                         # 10 bad time
    "",
])


def test_import_reports_bad_rows_and_imports_the_rest(policy, redis, workdir):
    f = workdir / "list.csv"
    f.write_text(BAD_FILE)
    rc, out, err = run(policy, "suppress", "import", f)
    assert rc == 65, err
    assert out.splitlines()[-1] == "imported 3 entries, 6 rows refused"
    errors = [line for line in err.splitlines() if line.startswith(str(f) + ":")]
    assert [int(line.split(":")[1]) for line in errors] == [3, 5, 6, 7, 9, 10], err
    want = {3: "column 2 (reason): unknown reason \"bounced\"; expected hard_bounce, complaint, "
               "unsubscribe, manual or invalid",
            5: "column 1 (address):",
            6: "column 5 (expires):",
            7: "expected 6 fields",
            9: "column 3 (scope):",
            10: "column 5 (expires): \"next week\" is not a time"}
    for line in errors:
        n = int(line.split(":")[1])
        assert want[n] in line, line
    assert "in the past" in errors[2]
    assert keys(redis, "t:*") == {"t:s:*:bob@example.org", "t:s:example.com:dave@example.com",
                                  "t:s:*:grace@example.com"}
    assert get(redis, "t:s:*:grace@example.com").endswith("|0|fbl, \"yahoo\"")
    assert redis.command("EXPIRETIME", "t:s:example.com:dave@example.com") == 4073500800  # 2099-01-31T00:00:00Z
    assert get(redis, "t:s:*:bob@example.org").endswith("|dsn")


def test_import_fills_in_source_and_reads_stdin(policy, redis):
    rc, out, err = run(policy, "suppress", "import", "-",
                       stdin=HEADER + "\r\nbob@example.org,unsubscribe,,,,\r\n\r\n"
                                      "carol@example.net,manual,,,,\r\n")
    assert rc == 0, err
    assert out == "imported 2 entries, 0 rows refused\n"
    assert get(redis, "t:s:*:bob@example.org").split("|")[1:3] == ["unsubscribe", "bulk"]
    assert get(redis, "t:s:*:bob@example.org").endswith("|import:stdin:2")
    assert get(redis, "t:s:*:carol@example.net").endswith("|import:stdin:4")


def test_import_refuses_a_file_without_the_header(policy, redis, workdir):
    f = workdir / "noheader.csv"
    f.write_text("bob@example.org,manual,,,,\ncarol@example.net,manual,,,,\n")
    rc, out, err = run(policy, "suppress", "import", f)
    assert rc == 65
    assert "%s:1: the header line must be exactly %s" % (f, HEADER_ADDED) in err
    assert "nothing imported" in err
    assert keys(redis, "t:*") == set()
    rc, out, err = run(policy, "suppress", "import", workdir / "missing.csv")
    assert rc == 66 and "cannot read" in err


def test_export_round_trip(policy, redis, workdir):
    f = workdir / "in.csv"
    rows = [HEADER]
    for i in range(2500):  # more than one SCAN batch
        reason = ("hard_bounce", "complaint", "unsubscribe", "manual", "invalid")[i % 5]
        scope = "example.com" if i % 7 == 0 else ""
        streams = ("", "*", "bulk;news")[i % 3]
        expires = "2099-0%d-01T00:00:00Z" % (1 + i % 9) if i % 4 == 0 else ""
        rows.append("user%d@example.org,%s,%s,%s,%s,src %d" % (i, reason, scope, streams,
                                                                 expires, i))
    f.write_text("\n".join(rows) + "\n")
    rc, out, err = run(policy, "suppress", "import", f)
    assert rc == 0 and out == "imported 2500 entries, 0 rows refused\n", err

    rc, exported, err = run(policy, "suppress", "export")
    assert rc == 0 and "exported 2500 entries" in err, err
    # The added column (the time of the import) is left out here.
    got = sorted(tuple(r[:6]) for r in csv_rows(exported))
    assert len(got) == 2500
    want = []
    for line in rows[1:]:
        a, reason, scope, streams, expires, source = line.split(",")
        if streams == "":
            streams = "bulk" if reason == "unsubscribe" else "*"
        want.append((a, reason, scope, streams, expires, source))
    assert got == sorted(want)

    # The export, imported into an empty store, exports the same.
    out_file = workdir / "out.csv"
    rc, out, err = run(policy, "suppress", "export", out_file)
    assert rc == 0, err
    assert out == "" and (os.stat(out_file).st_mode & 0o777) == 0o600
    assert sorted(csv_rows(out_file.read_text())) == sorted(csv_rows(exported))
    assert not list(workdir.glob("out.csv.tmp*"))
    assert redis.command("FLUSHALL") == "OK"
    rc, out, err = run(policy, "suppress", "import", out_file)
    assert rc == 0 and out == "imported 2500 entries, 0 rows refused\n", err
    rc, again, err = run(policy, "suppress", "export")
    assert rc == 0
    assert sorted(csv_rows(again)) == sorted(csv_rows(exported))


def test_export_import_keeps_added_times(policy, redis, workdir):
    # The added time is the "since" of staffeld's 550 replies: moving a
    # list through export and import must not make every entry new.
    assert run(policy, "suppress", "add", "bob@example.org", "--reason", "hard_bounce")[0] == 0
    f = workdir / "old.csv"
    f.write_text(HEADER_ADDED + "\ncarol@example.net,manual,,,,crm,2020-02-29T12:00:00Z\n"
                 "dave@example.com,manual,,,,crm,\n")
    assert run(policy, "suppress", "import", f)[0] == 0
    before = {k: get(redis, k) for k in keys(redis, "t:s:*")}
    assert before["t:s:*:carol@example.net"].split("|")[3] == "1582977600"
    rc, exported, err = run(policy, "suppress", "export")
    assert rc == 0, err
    assert exported.startswith(HEADER_ADDED + "\n")
    time.sleep(1.1)  # an import would now stamp a later time
    assert redis.command("FLUSHALL") == "OK"
    rc, out, err = run(policy, "suppress", "import", "-", stdin=exported)
    assert rc == 0 and out == "imported 3 entries, 0 rows refused\n", err
    assert {k: get(redis, k) for k in keys(redis, "t:s:*")} == before


def test_import_without_the_added_column_stamps_the_import_time(policy, redis):
    before = int(time.time())
    rc, out, err = run(policy, "suppress", "import", "-",
                       stdin=HEADER + "\nbob@example.org,manual,,,,crm\n")
    assert rc == 0, err
    added = int(get(redis, "t:s:*:bob@example.org").split("|")[3])
    assert before <= added <= int(time.time())


def test_expires_has_one_grammar_for_add_and_import(policy, redis):
    # A duration, an RFC 3339 time and epoch seconds, in both places.
    before = int(time.time())
    rc, out, err = run(policy, "suppress", "import", "-",
                       stdin=HEADER + "\nbob@example.org,manual,,,30d,\n"
                                      "carol@example.net,manual,,,2099-01-31T00:00:00Z,\n"
                                      "erin@example.com,manual,,,4073500800,\n")
    assert rc == 0 and out == "imported 3 entries, 0 rows refused\n", err
    bob = int(get(redis, "t:s:*:bob@example.org").split("|")[4])
    assert before + 30 * 86400 <= bob <= int(time.time()) + 30 * 86400
    for address, value in (("dave@example.com", "2099-01-31T00:00:00Z"),
                           ("frank@example.com", "4073500800")):
        rc, out, err = run(policy, "suppress", "add", address, "--reason", "manual",
                           "--expires", value)
        assert rc == 0, err
        assert "expires 2099-01-31T00:00:00Z" in out, out
        assert int(get(redis, "t:s:*:" + address).split("|")[4]) == 4073500800
    for args in (["add", "x@example.com", "--reason", "manual", "--expires", "500ms"],
                 ["add", "x@example.com", "--reason", "manual", "--expires", "2001-01-01T00:00:00Z"]):
        rc, out, err = run(policy, "suppress", *args)
        assert rc == 64 and "--expires:" in err, (args, err)


def test_unicode_domains_are_stored_as_a_labels_as_help_says(policy, redis):
    r = subprocess.run([STAFFELCTL, "suppress", "--help"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "are refused" not in text, "the help says IDNs are refused"
    assert "A-label form" in text and "xn--bcher-kva.example" in text
    rc, out, err = run(policy, "suppress", "add", "bob@b\u00fccher.example", "--reason", "manual")
    assert rc == 0, err
    assert "bob@xn--bcher-kva.example" in out
    assert keys(redis, "t:*") == {"t:s:*:bob@xn--bcher-kva.example"}
    rc, out, err = run(policy, "suppress", "show", "bob@xn--bcher-kva.example")
    assert rc == 0, err


def test_corrupt_values_are_reported(policy, redis):
    assert run(policy, "suppress", "add", "bob@example.org", "--reason", "manual")[0] == 0
    assert redis.command("SET", "t:s:*:bad@example.org", "garbage") == "OK"
    rc, out, err = run(policy, "suppress", "list")
    assert rc == 65
    assert "t:s:*:bad@example.org: a suppression entry value has too few fields" in err
    assert [line.split("\t")[0] for line in out.splitlines()[1:]] == ["bob@example.org"]
    rc, out, err = run(policy, "suppress", "export")
    assert rc == 65 and "(not exported)" in err
    assert [r[0] for r in csv_rows(out)] == ["bob@example.org"]
    rc, out, err = run(policy, "suppress", "show", "bad@example.org")
    assert rc == 69 and "t:s:*:bad@example.org" in err and "too few fields" in err
    # A scoped value found by show's SCAN: reported, the rest still shown.
    assert redis.command("SET", "t:s:example.com:bob@example.org", "1|nonsense|*|0|0|") == "OK"
    rc, out, err = run(policy, "suppress", "show", "bob@example.org")
    assert rc == 65, err
    assert "t:s:example.com:bob@example.org: a suppression entry value has an unknown reason" in err
    assert "  global entry: manual, every stream," in out


# ---------------------------------------------------------------- hashed addresses

def test_hashed_addresses(hashed_policy, policy, redis, workdir):
    rc, out, err = run(hashed_policy, "suppress", "add", "Bob@Example.org", "--reason",
                       "hard_bounce")
    assert rc == 0, err
    key = "t:s:*:" + hashed("bob@example.org")
    assert keys(redis, "t:*") == {key}
    assert "bob" not in get(redis, key)

    rc, out, err = run(hashed_policy, "suppress", "show", "bob@example.org")
    assert rc == 0 and "global entry: hard_bounce" in out, err

    rc, out, err = run(hashed_policy, "suppress", "list")
    assert rc == 0
    assert err.splitlines()[0].startswith("staffelctl: addresses are stored hashed")
    assert out.splitlines()[1].split("\t")[0] == hashed("bob@example.org")

    rc, exported, err = run(hashed_policy, "suppress", "export")
    assert rc == 0 and "addresses are stored hashed" in err
    assert csv_rows(exported)[0][0] == hashed("bob@example.org")

    # The export imports again with the same secret; without one it is refused.
    assert redis.command("FLUSHALL") == "OK"
    f = workdir / "hashed.csv"
    f.write_text(exported + "carol@example.net,manual,,,,,\n")
    rc, out, err = run(hashed_policy, "suppress", "import", f)
    assert rc == 0 and out == "imported 2 entries, 0 rows refused\n", err
    assert keys(redis, "t:*") == {key, "t:s:*:" + hashed("carol@example.net")}
    rc, out, err = run(hashed_policy, "suppress", "show", "bob@example.org")
    assert rc == 0, err
    # An h:HEX address works for show and remove as well.
    rc, out, err = run(hashed_policy, "suppress", "remove", hashed("carol@example.net").upper())
    assert rc == 0, err

    assert redis.command("FLUSHALL") == "OK"
    rc, out, err = run(policy, "suppress", "import", f)
    assert rc == 65 and "imported 1 entries, 1 rows refused" in out
    assert "%s:2: column 1 (address): an already-hashed address" % f in err


# ---------------------------------------------------------------- help

@pytest.mark.parametrize("words", [["suppress"], ["suppress", "add"], ["suppress", "remove"],
                                   ["suppress", "show"], ["suppress", "list"],
                                   ["suppress", "import"], ["suppress", "export"]])
def test_help_reads_like_a_manual(words):
    r = subprocess.run([STAFFELCTL, *words, "--help"], capture_output=True,
                                     text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "EXAMPLES"):
        assert re.search(r"^%s$" % section, r.stdout, re.MULTILINE), (section, r.stdout)
    assert re.search(r"^  staffelctl %s - " % " ".join(words), r.stdout, re.MULTILINE)
    if words[-1] in ("import", "export"):
        assert "FILE FORMAT" in r.stdout and HEADER in r.stdout
