"""The harness itself: sink byte-exactness, Redis restart, bare Postfix relaying, teardown.

These need no staffeld, so they also tell a broken harness from a broken daemon.
"""
import os
import socket

import harness
from harness import pid_alive, sample_message, smtp_send


def raw_smtp(port, lines):
    """Sends raw bytes line by line as one session; returns the server's replies."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rb")
        replies = [f.readline()]
        for chunk in lines:
            s.sendall(chunk)
            if chunk.upper().startswith(b"EHLO"):
                while True:
                    line = f.readline()
                    replies.append(line)
                    if line[3:4] == b" ":
                        break
            elif chunk.endswith(b"\n") and (chunk[:4].upper() in (b"MAIL", b"RCPT", b"DATA", b"QUIT")
                                            or chunk.endswith(b"\r\n.\r\n")):
                replies.append(f.readline())
        return replies


def test_sink_keeps_bytes_and_unstuffs_dots(sink):
    data = (b"Subject: raw\r\n\r\n"
            b"..leading dot (stuffed)\r\n"
            b"...two dots (stuffed)\r\n"
            b"bare LF line\n"
            b"8-bit \xe9\xff\r\n"
            b"\r\n")
    replies = raw_smtp(sink.port, [
        b"EHLO t.test\r\n", b"MAIL FROM:<a@example.com> BODY=8BITMIME\r\n",
        b"RCPT TO:<b@example.net>\r\n", b"RCPT TO:<c@example.net>\r\n", b"DATA\r\n",
        data + b".\r\n", b"QUIT\r\n"])
    assert replies[-2].startswith(b"250 2.0.0"), replies
    (m,) = sink.wait_for(1)
    want = data.replace(b"\r\n..leading", b"\r\n.leading").replace(b"\r\n...two", b"\r\n..two")
    assert m.data == want
    assert m.mail_from == "a@example.com"
    assert m.meta["mail_params"] == ["BODY=8BITMIME"]
    assert m.rcpts == ["b@example.net", "c@example.net"]


def test_redis_kill_and_restart_same_port(redis):
    assert redis.command("SET", "k", "v") == "OK"
    port, pid = redis.port, redis.pid
    redis.kill()
    assert not pid_alive(pid)
    assert not harness.tcp_accepts("127.0.0.1", port)
    redis.restart()
    assert redis.port == port and redis.pid != pid
    assert redis.command("GET", "k") is None  # --save "": nothing survives


def test_bare_postfix_relays_to_sink(postfix_bare, sink):
    msg = sample_message(subject="bare")
    r = smtp_send(postfix_bare.smtp_port, "alice@example.com", ["bob@example.net"], msg)
    assert r.accepted and r.queue_id, str(r)
    (m,) = sink.wait_for(1)
    assert m.headers("Subject") == ["bare"]
    assert m.body == msg.split(b"\r\n\r\n", 1)[1]
    postfix_bare.wait_maillog(r"%s: to=<bob@example.net>.*status=sent" % r.queue_id)
    postfix_bare.wait_queue_empty(10)
    assert "smtpd_milters" not in (postfix_bare.etc / "main.cf").read_text()


def test_postfix_stop_leaves_no_process(workdir, sink):
    p = harness.Postfix(workdir, sink.port)
    p.start()
    pids = p.pids()
    assert p.master_pid() in pids
    p.stop()
    assert [x for x in pids if pid_alive(x)] == []
    assert p.pids() == []


def test_inet_milter_spec_is_translated_for_postfix():
    assert harness.postfix_milter_spec("inet:8891@127.0.0.1") == "inet:127.0.0.1:8891"
    assert harness.postfix_milter_spec("unix:/run/x.sock") == "unix:/run/x.sock"


def test_workdir_is_traversable_by_postfix(workdir):
    assert os.stat(workdir).st_mode & 0o777 == 0o755
    assert os.stat(workdir).st_uid == 0
