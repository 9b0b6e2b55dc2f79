"""A Redis that hangs, and a store-error policy per feature: real Postfix, staffeld, redis-server.

A hung Redis (SIGSTOP: it accepts connections and never answers) costs a
message the full command_timeout until the circuit breaker opens after
[redis] breaker_timeouts timeouts in a row; from then on the store fails at
once and on_store_error answers without waiting, while one probe at a time
asks whether Redis answers again. What must hold, under load through
Postfix:
  - once the breaker is open, 99% of messages get their end-of-data answer
    (451 4.3.0) within 50 ms;
  - after SIGCONT mail is accepted again within 1 s;
  - nothing is lost: every message sent is either delivered or tempfailed;
  - the opening and the closing are logged.

[suppression] on_store_error and [[quota]] on_store_error override
[redis] on_store_error for their feature: with Redis dead, a fail-open
suppression passes the recipient unchecked at RCPT while a fail-closed
quota tempfails the message at end of data, and the reverse.
"""
import os
import re
import signal
import statistics
import time

from harness import sample_message, smtp_send
from test_quota_redis_failure import SENDER, Traffic, others

OPEN_P99_LIMIT = 0.050
RECOVERY_LIMIT = 1.0
HANG_SECONDS = 3.0
BREAKER_OPEN = re.compile(r"staffeld\[\d+\]: warning: Redis at \S+: 3 round trips in a row timed "
                          r"out; quota store circuit breaker open: failing fast, probing every "
                          r"200ms \(opening 1 since start\)$", re.M)
BREAKER_CLOSED = re.compile(r"staffeld\[\d+\]: notice: Redis at \S+: answers again; quota store "
                            r"circuit breaker closed after \d+ms open \(closing 1 since start\)$",
                            re.M)


def percentile(values, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def dot_seconds(sends) -> list:
    return [s[3].step("dot").seconds for s in sends if s[3].step("dot") is not None]


def quota_policy(redis) -> str:
    return ('[milter]\nsocket = "unix:/unused"\nsocket_mode = "0666"\n\n'
            '[redis]\naddress = "%s"\ncommand_timeout = "500ms"\nbreaker_timeouts = 3\n'
            'breaker_probe_interval = "200ms"\n\n'
            '[[quota]]\nname = "per-sender"\nkey = "sender"\nlimit = "1000000/1d"\n'
            % redis.address)


def test_hung_redis_opens_the_breaker_fails_fast_and_recovers(staffeld_factory, postfix_factory,
                                                              sink, redis):
    staffeld = staffeld_factory(policy=quota_policy(redis))
    postfix = postfix_factory(milter=staffeld.socket_spec)

    with Traffic(postfix.smtp_port) as load:
        load.wait("accepted", 40)
        os.kill(redis.proc.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            time.sleep(HANG_SECONDS)
        finally:
            os.kill(redis.proc.pid, signal.SIGCONT)
        resumed = time.monotonic()
        load.wait("accepted", 20, after=resumed, timeout=20)
    sends = load.sends

    before = [s for s in sends if s[1] <= stopped]
    # The breaker opens after 3 timeouts of 500 ms: well within the first
    # second of the hang, even with every session waiting at once.
    open_period = [s for s in sends if s[0] >= stopped + 1.0 and s[1] <= resumed]
    accepted_after = [s for s in sends if s[2] == "accepted" and s[0] >= resumed]
    first_accept = min(s[1] for s in accepted_after) - resumed
    # In flight when Redis stopped, or sent before the breaker could open.
    opening = [s for s in sends if s[1] > stopped and s[0] < stopped + 0.5]
    lat_before, lat_open = dot_seconds(before), dot_seconds(open_period)
    lat_opening = dot_seconds(opening) or [0.0]
    print("\nhung Redis: sent=%d; before the hang %d sends, end-of-data p50 %.1f ms p99 %.1f ms; "
          "hung, before the breaker opened: %d sends, p50 %.1f ms max %.1f ms; "
          "breaker open: %d sends, p50 %.1f ms p99 %.1f ms (all 451 4.3.0: %s); first 250 "
          "%.3f s after SIGCONT"
          % (len(sends), len(before), 1000 * statistics.median(lat_before),
             1000 * percentile(lat_before, 0.99), len(opening),
             1000 * statistics.median(lat_opening), 1000 * max(lat_opening), len(open_period),
             1000 * statistics.median(lat_open), 1000 * percentile(lat_open, 0.99),
             all(s[2] == "store" for s in open_period), first_accept))

    assert others(sends) == [], "unexpected outcomes:\n%s" % "\n".join(others(sends)[:10])
    assert len(open_period) >= 20, "too few messages while the breaker was open: %d" % len(
        open_period)
    assert all(s[2] == "store" for s in open_period), [str(s[3]) for s in open_period
                                                       if s[2] != "store"][:5]
    assert percentile(lat_open, 0.99) <= OPEN_P99_LIMIT
    assert first_accept <= RECOVERY_LIMIT, "first 250 %.3f s after SIGCONT" % first_accept

    log = staffeld.log()
    assert len(BREAKER_OPEN.findall(log)) == 1, log[-3000:]
    assert len(BREAKER_CLOSED.findall(log)) == 1, log[-3000:]

    # Nothing lost: what was accepted is delivered, the rest was tempfailed.
    accepted = [s for s in sends if s[2] == "accepted"]
    assert len(sends) == len(accepted) + sum(s[2] == "store" for s in sends)
    sink.wait_for(len(accepted), timeout=60)
    postfix.wait_queue_empty(60)
    time.sleep(0.3)
    assert sink.count() == len(accepted)
    assert staffeld.alive()


def feature_policy(redis, redis_mode: str, suppression_mode: str | None,
                   quota_mode: str | None) -> str:
    def own(mode):
        return 'on_store_error = "%s"\n' % mode if mode else ""
    return ('[milter]\nsocket = "unix:/unused"\nsocket_mode = "0666"\n\n'
            '[redis]\naddress = "%s"\non_store_error = "%s"\n\n'
            '[suppression]\n%s\n'
            '[[quota]]\nname = "per-sender"\nkey = "sender"\nlimit = "1000/1d"\n%s'
            % (redis.address, redis_mode, own(suppression_mode), own(quota_mode)))


def send_one(postfix, subject: str):
    return smtp_send(postfix.smtp_port, SENDER, ["bob@example.net"],
                     sample_message(subject=subject, sender=SENDER))


def test_fail_open_suppression_with_fail_closed_quota(staffeld_factory, postfix_factory, sink,
                                                      redis):
    staffeld = staffeld_factory(policy=feature_policy(redis, "tempfail", "accept", "tempfail"))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    mark = staffeld.log_size()
    assert send_one(postfix, "redis up").accepted
    redis.kill()
    # The local suppression view answers for local_view_max_lag (1s) after
    # its last read of Redis; then it is stale and lookups meet the outage.
    staffeld.wait_log(r"warning: suppression view is stale .*every lookup goes to Redis",
                      since=mark)

    r = send_one(postfix, "redis down")
    rcpt, dot = r.step("rcpt bob@example.net"), r.step("dot")
    assert rcpt.code == 250, str(r)  # suppression: fail open, the recipient passes
    assert dot is not None and dot.code == 451, str(r)  # quota: fail closed
    assert dot.message == ("4.3.0 Staffel: sending limits cannot be checked now, "
                           "try again later"), str(r)
    log = staffeld.log()
    assert re.search(r"warning: suppression store error: Redis at \S+: .*; ACCEPTING the "
                     r"recipient unchecked \(\[suppression\] on_store_error = accept\); 1 such "
                     r"decision since start", log), log[-2000:]
    assert re.search(r'warning: quota store error: Redis at \S+: .*; answering tempfail '
                     r'\(\[\[quota\]\] "per-sender" on_store_error = tempfail\); 1 such decision '
                     r'since start', log), log[-2000:]
    sink.wait_for(1)
    postfix.wait_queue_empty(30)
    assert sink.count() == 1


def test_fail_closed_suppression_with_fail_open_quota(staffeld_factory, postfix_factory, sink,
                                                      redis):
    # [redis] says accept; the suppression overrides it, the quota inherits it.
    staffeld = staffeld_factory(policy=feature_policy(redis, "accept", "tempfail", None))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    redis.kill()

    r = send_one(postfix, "suppression fails closed")
    rcpt = r.step("rcpt bob@example.net")
    assert rcpt.code == 451, str(r)
    assert rcpt.message == ("4.3.0 Staffel: the suppression list cannot be checked now, "
                            "try again later"), str(r)
    assert r.step("dot") is None and not r.accepted, str(r)

    # The same Redis outage, a policy whose suppression inherits [redis]
    # accept: both fail open and the message is delivered unchecked.
    mark = staffeld.log_size()
    staffeld.write_policy(feature_policy(redis, "accept", None, None))
    staffeld.hup()
    staffeld.wait_log(r"policy reloaded from ", since=mark)
    r = send_one(postfix, "both fail open")
    assert r.accepted, str(r)
    (line,) = staffeld.wait_message_line(r.queue_id)
    assert line["quota"] == "store-error:accepted", line["line"]
    sink.wait_for(1)
    postfix.wait_queue_empty(30)
    assert sink.count() == 1
