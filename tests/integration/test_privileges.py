"""staffeld opens its socket as root, then runs as [milter] user; it still reloads and serves."""
import os
import pwd
import time

from harness import check_config, sample_message, smtp_send


def process_ids(pid):
    """(real, effective, saved) uid and gid of a process, from /proc."""
    uids = gids = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                uids = tuple(int(x) for x in line.split()[1:4])
            elif line.startswith("Gid:"):
                gids = tuple(int(x) for x in line.split()[1:4])
            elif line.startswith("Groups:"):
                groups = tuple(int(x) for x in line.split()[1:])
    return uids, gids, groups


def policy_as(user, socket_spec, redis_address, level="info"):
    return "\n".join([
        "[milter]",
        'socket = "%s"' % socket_spec,
        'socket_mode = "0666"',
        'user = "%s"' % user,
        "[redis]",
        'address = "%s"' % redis_address,
        "[log]",
        'level = "%s"' % level,
        "",
    ])


def test_runs_as_configured_user_and_still_serves(staffeld_factory, postfix_factory, sink,
                                                  redis, workdir):
    nobody = pwd.getpwnam("nobody")
    sock = workdir / "staffeld.sock"
    spec = "unix:%s" % sock
    staffeld = staffeld_factory(policy=policy_as("nobody", spec, redis.address), socket=spec)
    uids, gids, groups = process_ids(staffeld.pid)
    assert uids == (nobody.pw_uid,) * 3, "uids %s, want all %d" % (uids, nobody.pw_uid)
    assert gids == (nobody.pw_gid,) * 3, "gids %s, want all %d" % (gids, nobody.pw_gid)
    assert 0 not in groups, "supplementary groups still hold root's: %s" % (groups,)
    st = os.stat(sock)
    assert st.st_uid == nobody.pw_uid, "socket owned by uid %d" % st.st_uid
    assert st.st_mode & 0o777 == 0o666
    assert "running as user nobody" in staffeld.log()

    postfix = postfix_factory(milter=spec)
    r = smtp_send(postfix.smtp_port, "alice@example.com", ["bob@example.net"],
                  sample_message(subject="as nobody"))
    assert r.accepted, str(r)
    assert sink.wait_for(1)[0].headers("Subject") == ["as nobody"]

    # A reload after dropping privileges reads the policy as that user.
    before = staffeld.log_size()
    staffeld.write_policy(policy_as("nobody", spec, redis.address, level="notice"))
    staffeld.hup()
    staffeld.wait_log("policy reloaded", since=before)
    assert "reload failed" not in staffeld.log(since=before)


def test_unknown_user_is_refused_by_check_and_at_start(staffeld_factory, redis, workdir):
    spec = "unix:%s" % (workdir / "staffeld.sock")
    staffeld = staffeld_factory(policy=policy_as("no-such-user-staffel", spec, redis.address),
                                socket=spec, start=False)
    rc, out, err = check_config(staffeld.policy_path)
    assert rc == 78, "staffeld -n exit %d, want 78\n%s%s" % (rc, out, err)
    assert 'unknown user "no-such-user-staffel"' in err
    staffeld.start(wait=False)
    deadline = time.time() + 10
    while staffeld.proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert staffeld.proc.returncode == 71, "exit %r, want 71\n%s" % (
        staffeld.proc.returncode, staffeld.log())
    assert 'unknown user "no-such-user-staffel"' in staffeld.log()
