"""Quotas while Redis dies under load and comes back: real Postfix, staffeld, redis-server.

Redis is killed (SIGKILL, as a crash) while a few SMTP sessions send
single-recipient messages in a loop, and restarted on the same port a
moment later, staffeld running all along. What must hold:
  - on_store_error = "tempfail" (the default): every message of the outage
    gets `451 4.3.0 Staffel: sending limits cannot be checked now, try
    again later`; none is accepted; staffeld stays up (same PID) and logs
    one warning per such decision with a running count, and the totals
    when it stops;
  - after the restart staffeld admits mail again within 2 s, counted in the
    new Redis, without being restarted itself;
  - with a small quota and a Redis that keeps its data (append-only file,
    fsync before each reply), nothing is over-admitted across the crash:
    the counter ends at the limit, every accepted message is in it, and
    at most the messages in flight at the kill are counted but refused;
  - on_store_error = "accept": the outage's mail passes unchecked, each
    message logged `quota=store-error:accepted` with an ACCEPTING warning.
"""
import re
import threading
import time

import pytest

from harness import (LOOPBACK, Redis, StartError, free_port, sample_message, smtp_send, spawn,
                     stop_process, tail, wait_until)

SENDER = "alice@example.com"
SESSIONS = 4
OUTAGE_SECONDS = 2.0
RECOVERY_LIMIT = 2.0

STORE_ERROR_TEXT = "4.3.0 Staffel: sending limits cannot be checked now, try again later"
REFUSAL = re.compile(r'^4\.7\.1 Staffel: quota "per-sender" exceeded for sender '
                     r'alice@example\.com: ')
WARNING = re.compile(r"staffeld\[\d+\]: warning: quota store error: Redis at (?P<addr>\S+): "
                     r"(?P<why>.*); (?P<what>answering tempfail \(on_store_error = tempfail\)|"
                     r"ACCEPTING the message unchecked \(on_store_error = accept\)); "
                     r"(?P<n>\d+) such decisions? since start$")


def quota_policy(redis, limit: str, on_store_error: str | None = None) -> str:
    # socket and address are overridden by --socket/--redis (harness.Staffeld).
    extra = 'on_store_error = "%s"\n' % on_store_error if on_store_error else ""
    return ('[milter]\nsocket = "unix:/unused"\nsocket_mode = "0666"\n\n'
            '[redis]\naddress = "%s"\n%s\n'
            '[[quota]]\nname = "per-sender"\nkey = "sender"\nlimit = "%s"\n'
            'action = "tempfail"\n' % (redis.address, extra, limit))


class PersistentRedis(Redis):
    """A Redis whose data survives kill() and restart(): an append-only file in
    its directory, fsynced before each reply (appendfsync always), so every
    write a client saw acknowledged is there again after a SIGKILL."""

    def start(self, timeout: float = 10.0):
        fixed = self.port
        for _ in range(3):  # a free port can be taken between probe and bind
            self.port = fixed or free_port()
            self.proc = spawn(["redis-server", "--port", self.port, "--bind", LOOPBACK,
                               "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                               "--daemonize", "no", "--dir", self.dir, "--protected-mode", "yes"],
                              self.log_path)
            try:
                wait_until(lambda: self._pong() or self.proc.poll() is not None, timeout,
                           what="redis PONG")
            except TimeoutError:
                stop_process(self.proc)
                continue
            if self.proc.poll() is None:
                self._register("pid", str(self.proc.pid), self.dir)
                return self
        self.port = fixed
        raise StartError("persistent redis-server did not start:\n%s" % tail(self.log_path))


@pytest.fixture
def persistent_redis(request, workdir):
    r = PersistentRedis(workdir / "persistent")
    r.start()
    request.node.staffel_servers.append(r)  # its log goes into a failure report
    yield r
    r.stop()


# --------------------------------------------------------------------------
# load and its timeline


def classify(r) -> str:
    """accepted | quota (451 4.7.1 naming the limit) | store (451 4.3.0) | other."""
    dot = r.step("dot")
    if dot is None:
        return "other"
    if dot.code == 250 and r.queue_id:
        return "accepted"
    if dot.code == 451 and REFUSAL.search(dot.message):
        return "quota"
    if dot.code == 451 and dot.message == STORE_ERROR_TEXT:
        return "store"
    return "other"


class Traffic:
    """SESSIONS threads sending one message per SMTP session until stopped.

    Each send is recorded as (t0, t1, outcome, SmtpResult), times from
    time.monotonic() taken just before connecting and just after the reply
    to the end of DATA (and QUIT).
    """

    def __init__(self, port: int, sessions: int = SESSIONS):
        self.port = port
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.sends = []
        self.crashes = []
        self.seq = 0
        self.threads = [threading.Thread(target=self._session, name="smtp-%d" % i, daemon=True)
                        for i in range(sessions)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(60)
        assert not any(t.is_alive() for t in self.threads), "SMTP sessions hang"

    def _session(self):
        try:
            while not self.stopping.is_set():
                with self.lock:
                    self.seq += 1
                    n = self.seq
                msg = sample_message(subject="load %d" % n, sender=SENDER)
                t0 = time.monotonic()
                r = smtp_send(self.port, SENDER, ["bob@example.net"], msg)
                t1 = time.monotonic()
                with self.lock:
                    self.sends.append((t0, t1, classify(r), r))
        except Exception as e:  # noqa: BLE001 - reported by the test
            with self.lock:
                self.crashes.append(repr(e))

    def count(self, outcome: str, after: float = 0.0) -> int:
        with self.lock:
            return sum(1 for s in self.sends if s[2] == outcome and s[1] > after)

    def wait(self, outcome: str, n: int, after: float = 0.0, timeout: float = 60.0):
        wait_until(lambda: self.count(outcome, after) >= n or self.crashes, timeout,
                   what="%d %s message(s)" % (n, outcome))
        assert not self.crashes, self.crashes


def outage_sends(sends, down: float, up: float):
    """Sends that began after Redis was dead and ended before it was started again."""
    return [s for s in sends if s[0] >= down and s[1] <= up]


def others(sends) -> list:
    return [str(s[3]) for s in sends if s[2] == "other"]


def store_warnings(staffeld) -> list:
    lines = staffeld.log().splitlines()
    return [m for m in map(WARNING.search, lines) if m]


def message_quota_results(staffeld) -> list:
    return [d.get("quota") for d in staffeld.message_lines()]


def assert_still_the_same_process(staffeld, pid):
    assert staffeld.alive() and staffeld.pid == pid, "staffeld died:\n%s" % tail(
        staffeld.log_path)
    log = staffeld.log()
    for bad in (": error: ", ": crit: ", "fatal", "Assertion", "terminate called", "Sanitizer"):
        assert bad not in log, "%r in the staffeld log:\n%s" % (bad, tail(staffeld.log_path))


def assert_stop_totals(staffeld, tempfailed: int, accepted: int):
    assert staffeld.term() == 0, tail(staffeld.log_path)
    want = "stopped; quota store errors: %d tempfailed, %d accepted" % (tempfailed, accepted)
    assert want in staffeld.log(), "want %r in:\n%s" % (want, tail(staffeld.log_path))


def counter(redis):
    keys = redis.command("KEYS", "staffel:q:*")
    assert len(keys) <= 1, keys
    return int(redis.command("GET", keys[0])) if keys else 0


# --------------------------------------------------------------------------
# tests


def test_outage_tempfails_and_staffeld_recovers_within_2s(staffeld_factory, postfix_factory, sink,
                                                          redis):
    staffeld = staffeld_factory(policy=quota_policy(redis, "1000000/1d"))
    pid = staffeld.pid
    postfix = postfix_factory(milter=staffeld.socket_spec)

    with Traffic(postfix.smtp_port) as load:
        load.wait("accepted", 40)
        redis.kill()
        down = time.monotonic()
        time.sleep(OUTAGE_SECONDS)
        up_call = time.monotonic()
        redis.restart()
        up = time.monotonic()  # it answered PING
        load.wait("accepted", 20, after=up_call, timeout=10)
    sends = load.sends

    accepted = [s for s in sends if s[2] == "accepted"]
    stored = [s for s in sends if s[2] == "store"]
    outage = outage_sends(sends, down, up_call)
    first_after = min(s[1] for s in accepted if s[1] > up_call)
    recovery_from_start = first_after - up_call
    recovery_from_pong = first_after - up
    print("\nredis outage: sent=%d accepted=%d tempfailed(4.3.0)=%d; during the %.1fs outage "
          "%d sent, %d tempfailed; Redis start took %.3fs; first 250 %.3fs after the restart "
          "began, %.3fs after Redis answered PING"
          % (len(sends), len(accepted), len(stored), OUTAGE_SECONDS, len(outage),
             sum(s[2] == "store" for s in outage), up - up_call, recovery_from_start,
             recovery_from_pong))

    assert others(sends) == [], "unexpected outcomes:\n%s" % "\n".join(others(sends)[:10])
    assert not any(s[2] == "quota" for s in sends)
    assert len(outage) >= 10, "too few messages in the outage to judge: %d" % len(outage)
    bad = [str(s[3]) for s in outage if s[2] != "store"]
    assert bad == [], "during the outage, want only 451 %s, got:\n%s" % (STORE_ERROR_TEXT,
                                                                         "\n".join(bad))
    assert recovery_from_start <= RECOVERY_LIMIT, (
        "got the first 250 %.3fs after Redis was started, want <= %.1fs"
        % (recovery_from_start, RECOVERY_LIMIT))

    # staffeld lived through it, and said so once per tempfailed message.
    assert_still_the_same_process(staffeld, pid)
    warnings = store_warnings(staffeld)
    assert len(warnings) == len(stored), "got %d warnings, want %d" % (len(warnings), len(stored))
    # Concurrent sessions may log their counts out of order; each count once.
    assert sorted(int(w.group("n")) for w in warnings) == list(range(1, len(stored) + 1))
    assert all(w.group("addr") == redis.address and w.group("what").startswith("answering")
               for w in warnings), warnings[0].group(0)
    results = message_quota_results(staffeld)
    assert results.count("store-error:tempfail") == len(stored)
    assert results.count("ok") == len(accepted)
    assert len(results) == len(sends)

    # What was admitted after the restart is counted in the new Redis.
    assert counter(redis) == sum(1 for s in accepted if s[1] > up_call)

    sink.wait_for(len(accepted), timeout=60)
    postfix.wait_queue_empty(60)
    time.sleep(0.3)
    assert sink.count() == len(accepted)
    assert_stop_totals(staffeld, tempfailed=len(stored), accepted=0)


def test_small_quota_is_not_over_admitted_across_a_crash(staffeld_factory, postfix_factory, sink,
                                                         persistent_redis):
    limit = 300
    redis = persistent_redis
    staffeld = staffeld_factory(policy=quota_policy(redis, "%d/1d" % limit), redis=redis)
    pid = staffeld.pid
    postfix = postfix_factory(milter=staffeld.socket_spec)

    with Traffic(postfix.smtp_port) as load:
        load.wait("accepted", limit // 2)
        redis.kill()
        down = time.monotonic()
        time.sleep(OUTAGE_SECONDS)
        up_call = time.monotonic()
        redis.restart()
        counter_before = counter(redis)  # what the AOF kept
        load.wait("quota", 20, after=up_call, timeout=60)
    sends = load.sends

    accepted = [s for s in sends if s[2] == "accepted"]
    stored = [s for s in sends if s[2] == "store"]
    refused = [s for s in sends if s[2] == "quota"]
    outage = outage_sends(sends, down, up_call)
    accepted_before_kill = sum(1 for s in accepted if s[1] <= down)
    used = counter(redis)
    lost_replies = used - len(accepted)
    print("\nsmall quota across a crash: sent=%d accepted=%d (%d before the kill) "
          "tempfailed 4.3.0=%d 4.7.1=%d; counter kept by the AOF %d, final %d; "
          "counted but refused at the kill: %d; accepted while down: %d of %d sent"
          % (len(sends), len(accepted), accepted_before_kill, len(stored), len(refused),
             counter_before, used, lost_replies,
             sum(s[2] == "accepted" for s in outage), len(outage)))

    assert others(sends) == [], "unexpected outcomes:\n%s" % "\n".join(others(sends)[:10])
    assert len(outage) >= 10, "too few messages in the outage to judge: %d" % len(outage)
    assert sum(s[2] == "accepted" for s in outage) == 0, "accepted while Redis was down"
    assert all(s[2] == "store" for s in outage), [str(s[3]) for s in outage if s[2] != "store"]
    assert not any(s[2] == "quota" and s[1] <= down for s in sends), "refused below the limit"

    # Nothing over-admitted, nothing admitted uncounted: the counter is at
    # the limit, holds every accepted message, and at most the messages in
    # flight when Redis died were charged but answered 4.3.0.
    assert used == limit, "got counter %d, want %d" % (used, limit)
    assert len(accepted) <= limit, "got %d accepted, limit %d" % (len(accepted), limit)
    assert 0 <= lost_replies <= SESSIONS, "counter %d, accepted %d" % (used, len(accepted))
    # The AOF kept exactly what was charged before the crash.
    assert accepted_before_kill <= counter_before <= accepted_before_kill + SESSIONS, (
        counter_before, accepted_before_kill)
    assert used - counter_before == sum(1 for s in accepted if s[1] > up_call)

    assert_still_the_same_process(staffeld, pid)
    results = message_quota_results(staffeld)
    assert results.count("ok") == len(accepted)
    warnings = store_warnings(staffeld)
    assert results.count("store-error:tempfail") == len(stored) == len(warnings)
    # A message can only have been counted and still refused if its script
    # call was cut off (connection closed or reset): not when Redis was
    # already gone at connect time.
    cut_off = [w.group(0) for w in warnings if not w.group("why").startswith("connection refused")]
    assert lost_replies <= len(cut_off), (lost_replies, cut_off)
    assert results.count("over:per-sender") == len(refused)

    sink.wait_for(len(accepted), timeout=60)
    postfix.wait_queue_empty(60)
    time.sleep(0.3)
    assert sink.count() == len(accepted)
    assert_stop_totals(staffeld, tempfailed=len(stored), accepted=0)


def test_on_store_error_accept_lets_mail_through_unchecked(staffeld_factory, postfix_factory,
                                                           sink, redis):
    staffeld = staffeld_factory(policy=quota_policy(redis, "3/1d", on_store_error="accept"))
    pid = staffeld.pid
    postfix = postfix_factory(milter=staffeld.socket_spec)

    def send(subject):
        r = smtp_send(postfix.smtp_port, SENDER, ["bob@example.net"],
                      sample_message(subject=subject, sender=SENDER))
        assert r.accepted, str(r)
        (line,) = staffeld.wait_message_line(r.queue_id)
        return line

    assert send("before")["quota"] == "ok"
    redis.kill()
    # More than the limit of 3: fail open means unchecked and uncounted.
    for i in range(5):
        line = send("outage %d" % i)
        assert line["quota"] == "store-error:accepted" and line["action"] == "pass", line["line"]
    warnings = store_warnings(staffeld)
    assert [int(w.group("n")) for w in warnings] == [1, 2, 3, 4, 5], [w.group(0) for w in warnings]
    assert all("ACCEPTING the message unchecked" in w.group("what") for w in warnings)

    up_call = time.monotonic()
    redis.restart()
    after_restart = []
    while True:
        line = send("after %d" % len(after_restart))
        after_restart.append(line["quota"])
        if line["quota"] == "ok":
            break
        assert time.monotonic() - up_call <= RECOVERY_LIMIT, after_restart
    recovery = time.monotonic() - up_call
    print("\non_store_error=accept: 5 accepted unchecked during the outage; counted again "
          "%.3fs after the restart began (%d sent meanwhile)" % (recovery, len(after_restart)))
    assert set(after_restart[:-1]) <= {"store-error:accepted"}, after_restart
    assert counter(redis) == 1, "only the message after the restart is in the new Redis"

    assert_still_the_same_process(staffeld, pid)
    total = 1 + 5 + len(after_restart)
    sink.wait_for(total)
    postfix.wait_queue_empty(30)
    assert sink.count() == total
    assert_stop_totals(staffeld, tempfailed=0, accepted=5 + len(after_restart) - 1)
