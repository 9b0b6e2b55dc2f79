"""`staffelctl ingest` on hostile bounces: refused or parsed within bounds.

Anyone can send mail to the bounce address, and pipe(8) hands it to
`staffelctl ingest`. Each case runs the real binary on one message and checks
three things: the exit status (never a signal), the peak memory of that one
process (from wait4(2)'s rusage) and the time it took.

- The reproducer (tests/data/bounces/malformed/ingest-oom-901.eml): 901 bytes
  that used to make GMime 3.2's parameter encoder loop for ever (24 GB, or
  GLib's SIGTRAP under a ulimit). Now: exit 65 in well under a second, within
  64 MB. Its siblings: every parameter-name length that hit the loop, with
  and without a boundary.
- Input over [suppression] ingest_max_size: exit 65, refused before parsing.
- Structure that GMime would blow up 70-85 times (10 MiB of addresses,
  parameters, header fields or parts): exit 65 before MIME parsing; a report
  just under those bounds parses within 100 MB.
- [suppression] ingest_memory_limit too small for the message: exit 75 and
  one line (Postfix keeps the message and retries), never a signal. Not in
  AddressSanitizer builds, which cannot cap their address space.
Every run also has an outer address-space cap of 4 GiB (non-ASan) and a
timeout, so a regression fails the test instead of taking the host.
No Redis: --dry-run only decides.
"""
from __future__ import annotations

import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import harness

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data" / "bounces"
STAFFELCTL = harness.STAFFELCTL
MiB = 1 << 20


def sanitized() -> bool:
    r = subprocess.run(["ldd", STAFFELCTL], capture_output=True, text=True)
    return "libasan" in r.stdout


ASAN = sanitized()
# ASan's shadow memory and quarantine raise every process's RSS.
MEMORY_BUDGET_KB = (256 if ASAN else 64) * 1024
# and its start-up alone takes about 0.3 s on a busy machine.
SECONDS_BUDGET = 3.0 if ASAN else 1.0


class Run:
    def __init__(self, status: int, maxrss_kb: int, seconds: float, out: str, err: str):
        self.status, self.maxrss_kb, self.seconds = status, maxrss_kb, seconds
        self.out, self.err = out, err

    @property
    def exit_code(self) -> int:
        assert os.WIFEXITED(self.status), "killed by signal %d: %s" % (
            os.WTERMSIG(self.status), self.err)
        return os.WEXITSTATUS(self.status)

    def __repr__(self):
        return "status=%d maxrss=%d KB %.3f s stderr=%r" % (
            self.status, self.maxrss_kb, self.seconds, self.err[-500:])


def ingest(policy: Path, message: bytes, timeout: float = 60.0, env: dict | None = None) -> Run:
    """Runs `staffelctl -c POLICY ingest --dry-run` on `message`, measured by
    GNU time: its wait4(2) rusage is that of staffelctl alone (a child forked
    from this test would inherit pytest's own peak RSS)."""
    def outer_cap():
        if not ASAN:
            resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    with tempfile.TemporaryDirectory() as tmp:
        usage = Path(tmp) / "usage"
        start = time.monotonic()
        r = subprocess.run(["/usr/bin/time", "-o", str(usage), "-f", "%M %x",
                            STAFFELCTL, "-c", str(policy), "ingest", "--dry-run"],
                           input=message, capture_output=True, timeout=timeout,
                           preexec_fn=outer_cap, env={**os.environ, **(env or {})})
        seconds = time.monotonic() - start
        lines = usage.read_text().splitlines()
    signalled = [l for l in lines if "terminated by signal" in l]
    maxrss_kb, code = (int(x) for x in lines[-1].split())
    status = (int(signalled[0].split()[-1]) if signalled else code << 8)
    run = Run(status, maxrss_kb, seconds, r.stdout.decode(errors="replace"),
              r.stderr.decode(errors="replace"))
    print("ingest of %d bytes: %r" % (len(message), run))
    for bad in ("AddressSanitizer", "runtime error:", "LeakSanitizer", "GLib-ERROR"):
        assert bad not in run.err, run
    return run


@pytest.fixture
def policy(tmp_path):
    def make(extra: str = "") -> Path:
        p = tmp_path / "policy.toml"
        p.write_text('[redis]\naddress = "127.0.0.1:1"\n\n[suppression]\n' + extra)
        return p
    return make


HEAD = ("From: MAILER-DAEMON@relay.example.org\nTo: bounces@example.com\n"
        "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n")
STATUS = ("--B\nContent-Type: message/delivery-status\n\n"
          "Reporting-MTA: dns; relay.example.org\n\n"
          "Final-Recipient: rfc822; bob@example.net\nAction: failed\nStatus: 5.1.1\n\n")


def report(content_type: str, parts: str = "", head: str = HEAD) -> bytes:
    return (head + "Content-Type: " + content_type + "\n\n" + STATUS + parts + "--B--\n").encode(
        "latin-1")


def test_the_901_byte_reproducer_is_refused_at_once_within_64_mb(policy):
    message = (DATA / "malformed" / "ingest-oom-901.eml").read_bytes()
    assert len(message) == 901
    run = ingest(policy(), message)
    assert run.exit_code == 65, run
    assert "multipart/report has no boundary parameter" in run.err, run
    assert run.maxrss_kb < MEMORY_BUDGET_KB, run
    assert run.seconds < SECONDS_BUDGET, run


@pytest.mark.parametrize("name_length", [69, 70, 71, 72, 73])
def test_parameter_names_that_looped_gmime_are_harmless(policy, name_length):
    """70-72-byte names with a value that needs RFC 2231 encoding made GMime's
    encoder loop once anything changed the Content-Type; 69 and 73 did not."""
    name = "x" * name_length
    odd = '%s="relay.exa\xedple.org"' % name
    without = report("multipart/report; report-type=delivery-status;\n\t" + odd)
    run = ingest(policy(), without)
    assert run.exit_code == 65, run
    assert "no boundary parameter" in run.err, run
    assert run.maxrss_kb < MEMORY_BUDGET_KB and run.seconds < SECONDS_BUDGET, run

    with_boundary = report('multipart/report; report-type=delivery-status; boundary="B";\n\t' + odd)
    run = ingest(policy(), with_boundary)
    assert run.exit_code == 0, run
    assert run.out == ('would suppress bob@example.net hard_bounce '
                       '(status 5.1.1, dsn_status "5.*.*")\n'), run
    assert run.maxrss_kb < MEMORY_BUDGET_KB and run.seconds < SECONDS_BUDGET, run


def test_input_over_ingest_max_size_is_refused_before_parsing(policy):
    run = ingest(policy(), b"X" * (10 * MiB + 1))
    assert run.exit_code == 65, run
    assert run.err == ("staffelctl: ingest: the input is larger than 10MiB "
                       "([suppression] ingest_max_size); refused before parsing\n"), run

    good = report('multipart/report; report-type=delivery-status; boundary="B"',
                  parts="--B\nContent-Type: text/plain\n\n" + "y" * 2048 + "\n")
    assert ingest(policy(), good).exit_code == 0
    run = ingest(policy('ingest_max_size = "2KiB"\n'), good)
    assert run.exit_code == 65, run
    assert "larger than 2KiB ([suppression] ingest_max_size)" in run.err, run


CT = 'multipart/report; report-type=delivery-status; boundary="B"'
N = 9 * MiB


BLOW_UPS = {
    "addresses": lambda: report(
        CT, head=HEAD.replace("To: bounces@example.com", "To: " + "a@b," * (N // 4))),
    "parameters": lambda: report(
        CT, parts="--B\nContent-Type: a/b" + ";a=b" * (N // 4) + "\n\nx\n"),
    "header fields": lambda: report(CT, head="X-A: b\n" * (N // 7) + HEAD),
    "embedded addresses": lambda: report(
        CT, parts="--B\nContent-Type: message/rfc822\n\nTo: a@b" + ",\n a@b" * (N // 6) + "\n\nx\n"),
    "parts": lambda: report(CT, parts="--B\n\n\n" * (N // 6)),
}


@pytest.mark.parametrize("what", sorted(BLOW_UPS))
def test_structure_gmime_would_blow_up_is_refused_before_parsing(policy, what):
    """Each of these took 500-900 MB (50-85 times the input) in GMime."""
    run = ingest(policy(), BLOW_UPS[what]())
    assert run.exit_code == 65, run
    assert "(refused before MIME parsing)" in run.err, run
    assert run.maxrss_kb < MEMORY_BUDGET_KB, run
    assert run.seconds < 2.0, run


def under_the_bounds() -> bytes:
    """About 10 MiB with as much structure as the bounds let through."""
    pad = "--B\nContent-Type: text/plain\n\n" + ("y" * 76 + "\n") * (9 * MiB // 77)
    head = HEAD.replace("Subject:", "X-A: b\n" * 20000 + "Subject:")
    head = head.replace("To: bounces@example.com", "To: " + "a@b," * 20000)
    return report(CT, head=head, parts="--B\nContent-Type: a/b\n\nx\n" * 4900 + pad)


def test_a_report_just_under_the_bounds_parses_within_a_small_multiple(policy):
    message = under_the_bounds()
    run = ingest(policy(), message)
    assert run.exit_code == 0, run
    assert "would suppress bob@example.net" in run.out, run
    budget_kb = 10 * len(message) // 1024 + (200 if ASAN else 32) * 1024
    assert run.maxrss_kb < budget_kb, run
    print("peak %.1f MB for %.1f MB of input (%.1fx)" % (
        run.maxrss_kb / 1024, len(message) / MiB, run.maxrss_kb * 1024 / len(message)))


@pytest.mark.skipif(ASAN, reason="AddressSanitizer builds cannot cap their address space")
@pytest.mark.parametrize("g_slice", ["", "always-malloc"])
def test_running_out_of_the_memory_limit_is_exit_75_not_a_signal(policy, g_slice):
    """GLib fails differently with and without its slice allocator (GSlice
    aborts; plain malloc fails where GLib or GMime cannot cope): both end in
    exit 75."""
    run = ingest(policy('ingest_memory_limit = "64MiB"\n'), under_the_bounds(),
                 env={"G_SLICE": g_slice} if g_slice else None)
    assert run.exit_code == 75, run
    # GLib may print its own line first (GSlice does, before it aborts).
    last = run.err.splitlines()[-1]
    assert last.startswith("staffelctl: ingest: "), run
    assert last.endswith("; the message is kept for a retry (exit 75)"), run
