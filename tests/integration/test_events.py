"""The event feed through real Postfix, staffeld and redis-server.

`staffelctl events webhook` delivers every event to a local HTTP receiver
started by the test, each with a valid HMAC-SHA256 signature, including the
events that arrived while the receiver answered 500 twice; `events tail`
shows the same events; an event the receiver refuses for good is set aside
in PREFIXevents:failed and counted, not dropped.
"""
import hashlib
import hmac
import http.server
import json
import os
import signal
import subprocess
import threading
import time

import harness
from harness import sample_message, smtp_send

SECRET = "webhook secret 1"


class Receiver:
    """An HTTP server on loopback that records POSTs; answers[i] is the
    status of the i-th request (200 once they run out)."""

    def __init__(self, answers=()):
        self.answers = list(answers)
        self.requests = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.requests.append((status, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.server.server_address[1]

    def delivered(self):
        with self.lock:
            return [(h, b) for s, h, b in self.requests if s == 200]

    def close(self):
        self.server.shutdown()


def events_policy(redis) -> str:
    return ('[milter]\nsocket = "unix:/unused"\nsocket_mode = "0666"\n\n'
            '[redis]\naddress = "%s"\n\n[events]\nenabled = true\n\n'
            '[stats]\nflush_interval = "200ms"\n' % redis.address)


def start_webhook(staffeld, url, secret_file, *extra):
    return subprocess.Popen([harness.STAFFELCTL, "-c", str(staffeld.policy_path), "events",
                             "webhook", "--url", url, "--secret-file", str(secret_file), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    return proc.returncode, err


def secret_file(workdir):
    f = workdir / "webhook.secret"
    f.write_text(SECRET + "\n")
    os.chmod(f, 0o600)
    return f


def signature_ok(headers, body: bytes) -> bool:
    parts = dict(p.split("=", 1) for p in headers["X-Staffel-Signature"].split(","))
    want = hmac.new(SECRET.encode(), parts["t"].encode() + b"." + body,
                    hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, parts["v1"])


def test_webhook_delivers_every_event_signed_through_two_500s(
        staffeld_factory, postfix_factory, sink, redis, workdir):
    staffeld = staffeld_factory(policy=events_policy(redis))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    receiver = Receiver(answers=[500, 500])
    hook = start_webhook(staffeld, receiver.url, secret_file(workdir), "--timeout", "2s")
    try:
        for i in range(3):
            assert smtp_send(postfix.smtp_port, "app@a.example", ["bob%d@x.example" % i],
                             sample_message(subject="event %d" % i,
                                            sender="app@a.example")).accepted
        sink.wait_for(3)
        harness.wait_until(lambda: len(receiver.delivered()) >= 3, 30, what="3 deliveries")
        time.sleep(0.5)
        code, err = stop(hook)
    finally:
        if hook.poll() is None:
            hook.kill()
        receiver.close()
    assert code == 0, err
    statuses = [s for s, _h, _b in receiver.requests]
    assert statuses[:2] == [500, 500], statuses
    delivered = receiver.delivered()
    assert len(delivered) == 3, statuses
    assert all(signature_ok(h, b) for h, b in delivered)
    events = [json.loads(b) for _h, b in delivered]
    assert sorted(e["type"] for e in events) == ["message.accepted"] * 3
    assert sorted(e["recipients"] for e in events) == [1, 1, 1]
    # The first event was tried three times under one id.
    first_id = receiver.requests[0][1]["X-Staffel-Event-Id"]
    assert [h["X-Staffel-Event-Id"] for _s, h, _b in receiver.requests[:3]] == [first_id] * 3
    assert "3 delivered, 2 retries, 0 set aside" in err, err
    # The same events, as `events tail --json` shows them.
    tail = subprocess.run([harness.STAFFELCTL, "-c", str(staffeld.policy_path), "events", "tail",
                           "--json"], capture_output=True, text=True, timeout=30)
    assert tail.returncode == 0, tail.stderr
    assert sorted(tail.stdout.split()) == sorted(b.decode() for _h, b in delivered)
    people = subprocess.run([harness.STAFFELCTL, "-c", str(staffeld.policy_path), "events",
                             "tail", "--type", "message."], capture_output=True, text=True,
                            timeout=30)
    assert people.stdout.count(" message.accepted ") == 3, people.stdout


def test_an_event_refused_for_good_is_set_aside_and_counted(
        staffeld_factory, postfix_factory, sink, redis, workdir):
    staffeld = staffeld_factory(policy=events_policy(redis))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    receiver = Receiver(answers=[400])
    hook = start_webhook(staffeld, receiver.url, secret_file(workdir))
    try:
        for i in range(2):
            assert smtp_send(postfix.smtp_port, "app@a.example", ["bob@x.example"],
                             sample_message(subject="e%d" % i, sender="app@a.example")).accepted
            time.sleep(0.5)  # one event per stream entry
        harness.wait_until(lambda: len(receiver.delivered()) >= 1, 30, what="a delivery")
        time.sleep(0.5)
        code, err = stop(hook)
    finally:
        if hook.poll() is None:
            hook.kill()
        receiver.close()
    assert code == 0, err
    assert "1 delivered, 0 retries, 1 set aside" in err, err
    failed = redis.command("XRANGE", "staffel:events:failed", "-", "+")
    assert len(failed) == 1, failed
    fields = dict(zip(failed[0][1][::2], failed[0][1][1::2]))
    assert fields[b"error"] == b"HTTP 400"
    assert json.loads(fields[b"event"])["type"] == "message.accepted"
    # Nothing is left pending in the group.
    pending = redis.command("XPENDING", "staffel:events", "webhook")
    assert pending[0] == 0, pending


def test_a_secret_file_others_can_read_is_refused(staffeld_factory, redis, workdir):
    staffeld = staffeld_factory(policy=events_policy(redis))
    f = secret_file(workdir)
    os.chmod(f, 0o644)
    r = subprocess.run([harness.STAFFELCTL, "-c", str(staffeld.policy_path), "events", "webhook",
                        "--url", "http://127.0.0.1:9/x", "--secret-file", str(f)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 66, r
    assert "--secret-file" in r.stderr


def test_route_down_and_up_are_events(staffeld_factory, redis):
    policy = events_policy(redis) + (
        '\n[routing]\ndefault_route = "inhouse"\n\n[[route]]\nname = "inhouse"\n'
        'return_path = "keep"\nfallback = "esp"\n\n[[route]]\nname = "esp"\n'
        'return_path = "keep"\n')
    staffeld = staffeld_factory(policy=policy)
    ctl = [harness.STAFFELCTL, "-c", str(staffeld.policy_path)]
    for args in (["route", "down", "inhouse"], ["route", "down", "inhouse"],
                 ["route", "up", "inhouse"]):
        r = subprocess.run(ctl + args, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
    tail = subprocess.run(ctl + ["events", "tail", "--json", "--type", "route."],
                          capture_output=True, text=True, timeout=30)
    events = [json.loads(line) for line in tail.stdout.split("\n") if line]
    # The second "down" changed nothing and is no event.
    assert [(e["type"], e["route"], e["fallback"]) for e in events] == [
        ("route.down", "inhouse", "esp"), ("route.up", "inhouse", "esp")], tail.stdout


def test_tail_follow_prints_events_as_they_come(staffeld_factory, postfix_factory, sink, redis):
    staffeld = staffeld_factory(policy=events_policy(redis))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    # The stream does not exist yet: what comes after the first read counts.
    tail = subprocess.Popen([harness.STAFFELCTL, "-c", str(staffeld.policy_path), "events", "tail",
                             "--follow", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        for i in range(2):
            assert smtp_send(postfix.smtp_port, "app@a.example", ["bob@x.example"],
                             sample_message(subject="f%d" % i, sender="app@a.example")).accepted
            time.sleep(0.6)  # each in a flush of its own
        sink.wait_for(2)
        time.sleep(0.6)
        tail.send_signal(signal.SIGTERM)
        out, err = tail.communicate(timeout=20)
        code = tail.returncode
    finally:
        if tail.poll() is None:
            tail.kill()
    assert code == 0, err
    events = [json.loads(line) for line in out.split("\n") if line]
    assert [e["type"] for e in events] == ["message.accepted"] * 2, out
