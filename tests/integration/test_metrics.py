"""Prometheus metrics of a real staffeld, scraped over HTTP.

Chain: smtplib -> Postfix (private instance) -> staffeld (milter, DKIM keys,
a quota of one recipient a day, [metrics] listen on a free loopback port)
-> capture sink. The exposition is read from http://127.0.0.1:PORT/metrics
with urllib and parsed with python3-prometheus-client's parser, which is
independent of prometheus-cpp: counters must move by exactly what was sent,
and no label may carry an address. A listen address that is in use stops
staffeld at start with exit status 71, naming the address.
"""
import socket
import subprocess
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

import harness
from harness import LOOPBACK, free_port, sample_message, smtp_send
from test_dkim import dkim_policy, make_keys

QUOTA = '''
[[quota]]
name = "one-a-day"
key = "sender"
limit = "1/1d"
action = "reject"
'''


def metrics_policy(workdir, keys, port):
    return (dkim_policy(workdir, keys) + QUOTA +
            '\n[metrics]\nlisten = "%s:%d"\n' % (LOOPBACK, port))


def scrape(port):
    """[(name, labels, value)] of every sample /metrics serves."""
    url = "http://%s:%d/metrics" % (LOOPBACK, port)
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        text = r.read().decode()
    return [(s.name, dict(s.labels), s.value)
            for family in text_string_to_metric_families(text) for s in family.samples]


def total(samples, name, **labels):
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(v for n, l, v in samples
               if n == name and all(l.get(k) == w for k, w in labels.items()))


def test_counters_move_with_the_mail(workdir, staffeld_factory, postfix_factory, sink):
    keys = make_keys(workdir)
    port = free_port()
    staffeld = staffeld_factory(policy=metrics_policy(workdir, keys, port))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    before = scrape(port)
    assert total(before, "staffel_messages_total") == 0
    assert total(before, "staffel_policy_info", digest=staffeld.digest()) == 1

    sender = "alice@example.com"
    r = smtp_send(postfix.smtp_port, sender, ["bob@example.net"],
                  sample_message(subject="signed", sender=sender))
    assert r.accepted, str(r)
    r = smtp_send(postfix.smtp_port, sender, ["carol@example.net"],
                  sample_message(subject="over quota", sender=sender))
    assert r.code("dot") == 550, str(r)
    got = sink.wait_for(1)
    assert b"DKIM-Signature:" in got[0].data

    after = scrape(port)

    def moved(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    cases = [
        (("staffel_messages_total",), {}, 2),
        (("staffel_messages_total",), {"action": "pass"}, 1),
        (("staffel_messages_total",), {"action": "reject"}, 1),
        (("staffel_recipients_total",), {"action": "pass"}, 1),
        (("staffel_message_refusals_total",), {"action": "reject", "reason": "quota:one-a-day"},
         1),
        (("staffel_signatures_total",), {"algorithm": "rsa-sha256"}, 1),
        (("staffel_signatures_total",), {"algorithm": "ed25519-sha256"}, 1),
        (("staffel_milter_seconds_count",), {}, 2),
        (("staffel_milter_seconds_bucket",), {"le": "+Inf"}, 2),
        (("staffel_store_error_decisions_total",), {}, 0),
        (("staffel_redis_errors_total",), {}, 0),
        (("staffel_policy_reloads_total",), {}, 0),
    ]
    for (name,), labels, want in cases:
        got_value = moved(name, **labels)
        assert got_value == want, "%s%s: got %s, want %s" % (name, labels, got_value, want)
    # One quota script call per message at least (EVAL after NOSCRIPT may add one).
    assert moved("staffel_redis_round_trips_total") >= 2
    assert moved("staffel_redis_seconds_count") == moved("staffel_redis_round_trips_total")
    assert moved("staffel_message_bytes_total") > 0
    assert total(after, "staffel_milter_seconds_sum") > 0
    print("messages: %s" % [(l, v) for n, l, v in after if n == "staffel_messages_total"])
    for name, labels, _ in after:
        for key, value in labels.items():
            assert "@" not in value, "%s has %s=%r" % (name, key, value)

    # A reload is counted and moves the digest.
    old = staffeld.digest()
    staffeld.write_policy(metrics_policy(workdir, keys, port) + "# reloaded\n")
    mark = staffeld.log_size()
    staffeld.hup()
    staffeld.wait_log(r"policy reloaded", since=mark)
    reloaded = scrape(port)
    assert total(reloaded, "staffel_policy_reloads_total", result="ok") == 1
    assert total(reloaded, "staffel_policy_info", digest=staffeld.digest()) == 1
    assert total(reloaded, "staffel_policy_info", digest=old) == 0
    assert all(l.get("digest") != old for n, l, _ in reloaded if n == "staffel_policy_info")

    # A broken policy is counted as a failed reload; the digest stays.
    current = staffeld.digest()
    staffeld.write_policy("[milter\n")
    mark = staffeld.log_size()
    staffeld.hup()
    staffeld.wait_log(r"reload failed", since=mark)
    failed = scrape(port)
    assert total(failed, "staffel_policy_reloads_total", result="failed") == 1
    assert total(failed, "staffel_policy_reloads_total", result="ok") == 1
    assert total(failed, "staffel_policy_info", digest=current) == 1


def test_a_busy_listen_address_stops_the_start(workdir, redis):
    busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    busy.bind((LOOPBACK, 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        spec = "unix:%s" % (workdir / "staffeld.sock")
        policy = workdir / "policy.toml"
        policy.write_text(harness.minimal_policy(spec, redis.address) +
                          '\n[metrics]\nlisten = "%s:%d"\n' % (LOOPBACK, port))
        r = subprocess.run([harness.STAFFELD, "-f", "-c", str(policy)],
                           capture_output=True, text=True, timeout=30)
    finally:
        busy.close()
    assert r.returncode == 71, r.stderr
    assert "cannot listen on %s:%d" % (LOOPBACK, port) in r.stderr, r.stderr
    # Checked before the milter socket is made: nothing is left behind.
    assert not (workdir / "staffeld.sock").exists()
