"""The milter socket: inet works like unix; a stale unix socket is replaced; a live one is not stolen."""
import os
import signal
import socket
import subprocess

import pytest

from harness import PYTHON, StartError, sample_message, smtp_send, unix_accepts


def pass_one(postfix, sink, staffeld, n=1, subject="socket test"):
    r = smtp_send(postfix.smtp_port, "alice@example.com", ["bob@example.net"],
                  sample_message(subject=subject))
    assert r.accepted, str(r)
    msgs = sink.wait_for(n)
    assert msgs[-1].headers("Subject") == [subject]
    (line,) = staffeld.wait_message_line(r.queue_id)
    assert line["action"] == "pass", line["line"]
    return line


def test_inet_socket_passthrough(staffeld_factory, postfix_factory, sink):
    staffeld = staffeld_factory(socket="inet")
    assert staffeld.socket_spec.startswith("inet:") and staffeld.socket_spec.endswith("@127.0.0.1")
    postfix = postfix_factory(milter=staffeld.socket_spec)
    line = pass_one(postfix, sink, staffeld)
    assert line["rcpts"] == "1"
    assert line["policy"] == staffeld.digest()


def leave_stale_socket(path):
    """A process binds a unix socket at path and dies by SIGKILL: the file stays."""
    code = ("import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); "
            "s.listen(1); print('up', flush=True); time.sleep(60)")
    p = subprocess.Popen([PYTHON, "-c", code, str(path)], stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline().strip() == b"up"
        assert unix_accepts(path)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(5)
        p.stdout.close()
    assert os.path.exists(path) and not unix_accepts(path), "want a stale socket file"


def test_stale_unix_socket_is_replaced(staffeld_factory, postfix_factory, sink, workdir):
    path = workdir / "stale.sock"
    leave_stale_socket(path)
    # (The inode number cannot tell old from new: ext4 hands the freed one
    # straight back. Accepting connections is what shows the replacement.)
    staffeld = staffeld_factory(socket="unix:%s" % path)
    assert staffeld.alive()
    assert unix_accepts(path), "the stale socket file should have been replaced"
    postfix = postfix_factory(milter=staffeld.socket_spec)
    pass_one(postfix, sink, staffeld)


def test_regular_file_in_socket_place_is_not_deleted(staffeld_factory, workdir):
    # Only a socket may be removed: a file an admin put there by mistake stays.
    path = workdir / "notasocket"
    path.write_text("important\n")
    staffeld = staffeld_factory(socket="unix:%s" % path, start=False)
    with pytest.raises(StartError):
        staffeld.start(timeout=10)
    rc = staffeld.proc.wait(10)
    assert rc != 0 and rc < 128, rc
    assert path.read_text() == "important\n"


def _second_refuses(staffeld_factory, spec):
    second = staffeld_factory(socket=spec, start=False, subdir="second")
    second.start(wait=False)
    try:
        rc = second.proc.wait(15)
    except subprocess.TimeoutExpired:
        pytest.fail("a second staffeld on %s kept running:\n%s" % (spec, second.log()))
    log = second.log()
    assert rc != 0 and rc < 128, "second staffeld: got exit %r, want a refusal\n%s" % (rc, log)
    assert "terminate called" not in log and "Segmentation" not in log, log
    return rc, log


def test_live_unix_socket_is_not_stolen(staffeld_factory, postfix_factory, sink, workdir):
    first = staffeld_factory()
    path = first.socket_spec.split(":", 1)[1]
    inode = os.stat(path).st_ino
    rc, log = _second_refuses(staffeld_factory, first.socket_spec)
    assert path in log, "the refusal should name the socket:\n%s" % log
    assert any(w in log.lower() for w in ("in use", "already", "another")), (
        "the refusal should say the socket is in use:\n%s" % log)
    # The first daemon keeps its socket and keeps serving.
    assert first.alive()
    assert os.stat(path).st_ino == inode, "the second staffeld replaced the live socket"
    postfix = postfix_factory(milter=first.socket_spec)
    pass_one(postfix, sink, first)


def test_live_inet_port_is_refused(staffeld_factory):
    first = staffeld_factory(socket="inet")
    rc, log = _second_refuses(staffeld_factory, first.socket_spec)
    port = first.socket_spec[5:].split("@")[0]
    assert port in log, "the refusal should name the port:\n%s" % log
    assert first.alive()
    with socket.create_connection(("127.0.0.1", int(port)), timeout=2):
        pass
