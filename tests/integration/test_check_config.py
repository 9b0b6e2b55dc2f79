"""`staffeld -n` on the broken policies a new user writes: one located error each, no crash.

Each row: the policy text, where the error must be reported (line, and the
allowed column(s)), the field it must name (None for TOML syntax errors,
which have no field yet), and words the message must contain. A wrong
location, a second error line, a crash or exit 0 fails the row.
"""
import os
import re
import subprocess
import sys

import pytest

import harness

VALID = """\
[milter]
socket = "unix:/tmp/staffel-check.sock"
socket_mode = "0666"

[redis]
address = "127.0.0.1:6379"
"""

# name: (policy text, line, columns, field, [words the message must contain])
CASES = {
    "typo_in_key": (
        '[milter]\nsockett = "unix:/tmp/x.sock"\n\n[redis]\naddress = "127.0.0.1:6379"\n',
        2, {1}, "milter.sockett", ["unknown key", '"socket"']),
    "wrong_type": (
        '[milter]\nsocket = 5\n',
        2, {10}, "milter.socket", ["integer", "unix:"]),
    "backlog_zero": (
        '[milter]\nsocket = "unix:/tmp/x.sock"\nbacklog = 0\n',
        3, {11}, "milter.backlog", ["out of range", "65535"]),
    "backlog_too_big": (
        '[milter]\nsocket = "unix:/tmp/x.sock"\nbacklog = 999999\n',
        3, {11}, "milter.backlog", ["out of range", "65535"]),
    "bad_unit": (
        '[milter]\nsocket = "unix:/tmp/x.sock"\ntimeout = "5x"\n',
        3, {11}, "milter.timeout", ['"5x"', "ms"]),
    "negative_duration": (
        '[redis]\naddress = "127.0.0.1:6379"\nconnect_timeout = "-5s"\n',
        3, {19}, "redis.connect_timeout", ['"-5s"']),
    "bad_socket_scheme": (
        '[milter]\nsocket = "tcp:8891"\n',
        2, {10}, "milter.socket", ['"tcp:8891"', "inet:"]),
    "bad_redis_address": (
        '[milter]\nsocket = "unix:/tmp/x.sock"\n\n[redis]\naddress = "localhost"\n',
        5, {11}, "redis.address", ['"localhost"', "HOST:PORT"]),
    "bad_socket_mode": (
        '[milter]\nsocket = "unix:/tmp/x.sock"\nsocket_mode = "rw-rw-rw-"\n',
        3, {15}, "milter.socket_mode", ['"rw-rw-rw-"']),
    # The section name starts in column 2; column 1 (the '[') is as good.
    "unknown_section": (
        '[milter]\nsocket = "unix:/tmp/x.sock"\n\n[telemetry]\nport = 9100\n',
        4, {1, 2}, "telemetry", ["unknown section"]),
    # Accounts are looked up only after the policy is valid, but the error
    # still points at the line that names them.
    "unknown_user": (
        '[milter]\nsocket = "unix:/tmp/x.sock"\nuser = "staffel-no-such-user"\n',
        3, {8}, "milter.user", ['unknown user "staffel-no-such-user"']),
    "unknown_group": (
        '[milter]\nsocket = "unix:/tmp/x.sock"\nuser = "root"\n'
        'group = "staffel-no-such-group"\n',
        4, {9}, "milter.group", ['unknown group "staffel-no-such-group"']),
    # One entry of a table value: located at that entry, not the table.
    "bad_dsn_status_verdict": (
        '[suppression]\ndsn_status = { "4.*.*" = "soft_bounce", "5.1.1" = "hard" }\n',
        2, {51}, "suppression.dsn_status", ['"5.1.1" = "hard"', '"hard_bounce"']),
    "toml_missing_bracket": (
        '[milter\nsocket = "unix:/tmp/x.sock"\n',
        1, {8}, None, ["invalid TOML", "]"]),
    "toml_missing_value": (
        '[milter]\nsocket = "unix:/tmp/x.sock"\nsocket_mode =\n',
        3, {14}, None, ["invalid TOML", "value"]),
    "toml_unterminated_string": (
        '[milter]\nsocket = "unix:/tmp/x.sock\n',
        2, set(range(10, 28)), None, ["invalid TOML"]),
}

LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): error: (?P<rest>.*)$")


def run(path, **kw):
    rc, out, err = harness.check_config(path, **kw)
    assert rc < 128, "killed by signal %d\n%s" % (rc - 128, err)
    for bad in ("terminate called", "Segmentation", "Aborted", "AddressSanitizer",
                "runtime error:"):
        assert bad not in err, err
    return rc, out, err


def error_lines(err):
    return [line for line in err.splitlines() if line.strip()]


@pytest.fixture
def policy_dir():
    d = harness.make_workdir("staffel-check-")
    yield d
    harness.remove_workdir(d)


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_policy_one_located_error(policy_dir, name):
    text, want_line, want_cols, want_field, words = CASES[name]
    path = policy_dir / ("%s.toml" % name)
    path.write_text(text)
    rc, out, err = run(path)
    assert rc != 0, "exit 0 for a broken policy; stdout: %s" % out
    assert rc == 78, "got exit %d, want 78 (EX_CONFIG)" % rc
    lines = error_lines(err)
    assert len(lines) == 1, "want exactly one error line, got:\n%s" % err
    m = LOCATED.match(lines[0])
    assert m, "not FILE:LINE:COL: error: ...: %r" % lines[0]
    assert m["file"] == str(path), "got file %r, want %r" % (m["file"], str(path))
    got = (int(m["line"]), int(m["col"]))
    assert got[0] == want_line and got[1] in want_cols, (
        "got %d:%d, want %d:%s in %r" % (got[0], got[1], want_line, sorted(want_cols), lines[0]))
    if want_field:
        assert m["rest"].startswith(want_field + ":"), (
            "got %r, want the field %s named first" % (m["rest"], want_field))
    for w in words:
        assert w in m["rest"], "got %r, want it to mention %r" % (m["rest"], w)
    assert "is valid" not in out


def test_valid_minimal_policy(policy_dir):
    path = policy_dir / "ok.toml"
    path.write_text(VALID)
    rc, out, err = run(path)
    assert rc == 0, "got exit %d, want 0: %s" % (rc, err)
    assert "staffeld: policy %s is valid" % path in out, out
    assert "error" not in err, err


def _assert_file_error(path, err, reason_rx):
    lines = error_lines(err)
    assert len(lines) == 1, "want one error line, got:\n%s" % err
    assert lines[0].startswith("%s:" % path), "the line must start with the file name: %r" % lines[0]
    assert re.search(reason_rx, lines[0], re.I), "got %r, want a reason like /%s/" % (
        lines[0], reason_rx)


def test_missing_file(policy_dir):
    path = policy_dir / "does-not-exist.toml"
    rc, out, err = run(path)
    assert rc != 0 and rc == 78, (rc, out, err)
    _assert_file_error(path, err, r"no such file|not found|does not exist")


def test_directory_instead_of_file(policy_dir):
    path = policy_dir / "policy.toml"
    path.mkdir()
    rc, out, err = run(path)
    assert rc != 0 and rc < 128, (rc, out, err)
    _assert_file_error(path, err, r"directory")


def test_unreadable_file_as_nobody(policy_dir):
    # Root reads mode-000 files, so drop to nobody: a 0600 root file is unreadable.
    path = policy_dir / "secret.toml"
    path.write_text(VALID)
    os.chmod(path, 0o600)
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to nobody")
    rc, out, err = run(path, as_user="nobody")
    assert rc != 0 and rc < 128, (rc, out, err)
    _assert_file_error(path, err, r"permission denied")
    # The same file is fine for root: the failure above is about the permission.
    assert run(path)[0] == 0


def test_multiple_errors_each_located(policy_dir):
    # Not one error at a time: a user fixing a file sees all of them at once.
    path = policy_dir / "two.toml"
    path.write_text('[milter]\nsockett = "unix:/tmp/x.sock"\ntimeout = "5x"\n')
    rc, _out, err = run(path)
    assert rc == 78
    got = [(int(m["line"]), int(m["col"])) for m in map(LOCATED.match, error_lines(err)) if m]
    assert got == [(2, 1), (3, 11)], err


def test_errors_in_line_order(policy_dir):
    # The TOML library hands keys over sorted by name (backlog before
    # timeout): the errors still come in the order of the file's lines.
    path = policy_dir / "order.toml"
    path.write_text('[milter]\ntimeout = "5x"\nbacklog = 0\n')
    rc, _out, err = run(path)
    assert rc == 78
    got = [(int(m["line"]), int(m["col"])) for m in map(LOCATED.match, error_lines(err)) if m]
    assert got == [(2, 11), (3, 11)], err


if __name__ == "__main__":
    sys.exit(subprocess.call([harness.PYTHON, "-m", "pytest", "-q", __file__]))
