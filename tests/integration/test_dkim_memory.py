"""A 50 MB message is signed while staffeld's resident memory grows by less than 4 MB.

The body is streamed through the canonicaliser into the hash; nothing of it
is kept. Measured from /proc: VmRSS after a small warm-up message (with the peak
reset through /proc/PID/clear_refs), then VmHWM, the peak, after the big one. Prints the figures.
"""
import os

from dkim_verify import verify_python_dkim
from harness import smtp_send
from test_dkim import HEADERS, dkim_policy, make_keys, records_for, signature_fields

BODY_MB = 50


def proc_status(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])  # kB
    raise KeyError(field)


def sanitized(pid):
    """AddressSanitizer keeps freed memory in quarantine: RSS then says nothing."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def big_body(megabytes):
    line = b"The quick brown fox jumps over the lazy dog 0123456789 " * 1 + b"\t  \r\n"
    reps = megabytes * 1024 * 1024 // len(line) + 1
    return line * reps


def test_50mb_message_signed_in_constant_memory(workdir, staffeld_factory, postfix_factory, sink):
    keys = make_keys(workdir)
    staffeld = staffeld_factory(policy=dkim_policy(workdir, keys))
    postfix = postfix_factory(milter=staffeld.socket_spec,
                              extra_main_cf={"message_size_limit": "0",
                                             "mailbox_size_limit": "0"})
    warm = smtp_send(postfix.smtp_port, "alice@example.com", ["bob@example.net"],
                     HEADERS + b"\r\nwarm-up\r\n")
    assert warm.accepted, str(warm)
    sink.wait_for(1)
    # Reset the peak so VmHWM below is the peak during the big message only.
    with open("/proc/%d/clear_refs" % staffeld.pid, "w") as f:
        f.write("5")
    rss_before = proc_status(staffeld.pid, "VmRSS")
    body = big_body(BODY_MB)
    r = smtp_send(postfix.smtp_port, "alice@example.com", ["bob@example.net"],
                  HEADERS + b"\r\n" + body, timeout=300)
    assert r.accepted, str(r)
    got = sink.wait_for(2, timeout=300)[-1]
    peak = proc_status(staffeld.pid, "VmHWM")
    growth_kb = peak - rss_before
    print("\nstaffeld RSS before %d kB, peak after a %d MB message %d kB: growth %d kB"
          % (rss_before, len(body) // (1024 * 1024), peak, growth_kb))
    assert len(signature_fields(got)) == 2
    results = verify_python_dkim(got.data, records_for(keys))
    assert results and all(r.ok for r in results), results
    if sanitized(staffeld.pid):
        print("AddressSanitizer build: its quarantine holds freed memory, budget not checked")
        return
    assert growth_kb < 4 * 1024, "staffeld grew by %d kB signing a %d MB message" % (
        growth_kb, BODY_MB)
    assert os.path.exists("/proc/%d" % staffeld.pid)
