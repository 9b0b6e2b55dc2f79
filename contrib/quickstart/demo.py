#!/usr/bin/python3
"""demo.py - Staffel's quick start: one message through Postfix + staffeld, on loopback.

Purpose: shows a new user the whole chain working on their own machine in
  a few seconds, without touching the system's mail setup:
    swaks -> Postfix (a private instance on 127.0.0.1) -> staffeld (milter)
          -> Postfix smtp client -> a capture sink that stores the message.
  Prints the policy check, staffeld's log line for the message and the
  message as it arrived. Then stops everything, or with --keep leaves it
  running and writes DIR/stop.sh.
Called by: contrib/quickstart/run.sh (as root on Debian 12, after a build).
Reuses tests/integration/harness.py for every server; all of them listen on
  127.0.0.1 or on unix sockets in one directory under /tmp.
Policy: policies/example.toml when it exists (else the minimal policy), with
  socket_mode "0666" so the postfix user can connect, `user` dropped when no
  such account exists, and a fresh private key (openssl genpkey, mode 0600)
  in the demo directory for each [[dkim.keys]] entry; socket and Redis are
  given with --socket / --redis ([redis] address is also pointed at the
  demo's Redis, for staffelctl). The DKIM signatures of the message that
  arrives are verified with python3-dkim against those keys, and when the
  policy has [[quota]] limits, `staffelctl quota show` prints the sender's
  counters.
"""
import argparse
import os
import pwd
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO / "tests" / "integration"))
import harness  # noqa: E402


def say(text=""):
    print(text, flush=True)


def heading(text):
    say()
    say("== " + text)


def demo_keys(text: str, keydir: Path):
    """Gives every [[dkim.keys]] entry a fresh key in keydir; returns (text, records, notes)."""
    from dkim_verify import public_key_record
    records, notes = {}, []
    blocks = re.split(r"(?m)^(?=\[)", text)
    for i, block in enumerate(blocks):
        if not block.startswith("[[dkim.keys]]"):
            continue
        domain = re.search(r'(?m)^domain\s*=\s*"([^"]+)"', block)
        selector = re.search(r'(?m)^selector\s*=\s*"([^"]+)"', block)
        algorithm = re.search(r'(?m)^algorithm\s*=\s*"([^"]+)"', block)
        if not (domain and selector):
            continue
        ed = algorithm is not None and algorithm.group(1) == "ed25519-sha256"
        keydir.mkdir(mode=0o700, exist_ok=True)
        path = keydir / ("%s.%s.pem" % (domain.group(1), selector.group(1)))
        args = ["-algorithm", "ed25519"] if ed else ["-algorithm", "RSA", "-pkeyopt",
                                                     "rsa_keygen_bits:2048"]
        subprocess.run(["openssl", "genpkey", *args, "-out", str(path)], check=True,
                       capture_output=True)
        os.chmod(path, 0o600)
        blocks[i] = re.sub(r'(?m)^key\s*=.*$', 'key = "%s"   # quick start: a fresh key' % path,
                           block)
        records["%s._domainkey.%s" % (selector.group(1), domain.group(1))] = \
            public_key_record(path)
        notes.append("a fresh %s key for %s, selector %s: %s" % (
            "Ed25519" if ed else "RSA-2048", domain.group(1), selector.group(1), path))
    return "".join(blocks), records, notes


def demo_policy(example: Path, socket_spec: str, redis_address: str):
    """The policy text and a list of what was changed from the example."""
    if not example.exists():
        return harness.minimal_policy(socket_spec, redis_address), [
            "%s not found: using the minimal policy" % example]
    text = example.read_text()
    notes = []
    if re.search(r'(?m)^socket_mode\s*=.*$', text):
        text = re.sub(r'(?m)^socket_mode\s*=.*$',
                      'socket_mode = "0666"   # quick start: postfix must reach the socket', text)
    else:
        text = re.sub(r'(?m)^\[milter\]\s*$', '[milter]\nsocket_mode = "0666"', text, count=1)
    notes.append('socket_mode = "0666" (the postfix user connects to a socket in a private '
                 'directory)')
    m = re.search(r'(?m)^user\s*=\s*"([^"]*)"', text)
    if m:
        try:
            pwd.getpwnam(m.group(1))
        except KeyError:
            text = re.sub(r'(?m)^user\s*=.*$', '# user = "%s"   # quick start: no such account'
                          % m.group(1), text)
            notes.append('user "%s" commented out (no such account here)' % m.group(1))
    if re.search(r'(?m)^address\s*=.*$', text):
        text = re.sub(r'(?m)^address\s*=.*$',
                      'address = "%s"   # quick start: the throw-away Redis' % redis_address,
                      text, count=1)
        notes.append("[redis] address = %s (so staffelctl finds the same counters)"
                     % redis_address)
    notes.append("socket and Redis given on the command line: --socket %s --redis %s"
                 % (socket_spec, redis_address))
    return text, notes


def send_sample(port: int):
    """Sends one message with swaks (smtplib if swaks is missing); returns the queue id."""
    subject = "Staffel quick start"
    body = "Hello from the Staffel quick start.\nThis message went through staffeld.\n"
    if shutil.which("swaks"):
        argv = ["swaks", "--server", "127.0.0.1", "--port", str(port),
                "--helo", "quickstart.staffel.test", "--from", "alice@example.com",
                "--to", "bob@example.net", "--header", "Subject: " + subject,
                "--body", body, "--timeout", "30"]
        say("$ " + " ".join("'%s'" % a if " " in a or "\n" in a else a for a in argv))
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        for line in r.stdout.splitlines():
            t = line.strip()
            if (t.startswith(("<-", "<~")) and not re.match(r"<[-~]\s+250-", t)) or \
                    re.match(r"[-~]>\s+(EHLO|MAIL|RCPT|DATA|QUIT|\.$)", t) or t.startswith("***"):
                say("   " + t)
        m = re.search(r"queued as ([0-9A-Za-z]+)", r.stdout)
        if r.returncode != 0 or not m:
            raise RuntimeError("swaks failed (exit %d):\n%s%s" % (r.returncode, r.stdout,
                                                                 r.stderr))
        return m.group(1)
    msg = harness.sample_message(subject=subject, body=body.replace("\n", "\r\n").encode())
    r = harness.smtp_send(port, "alice@example.com", ["bob@example.net"], msg)
    for step in r.steps:
        say("   " + str(step))
    if not r.accepted:
        raise RuntimeError("the message was not accepted: %s" % r)
    return r.queue_id


def write_stop_script(work: Path, postfix, servers):
    lines = ["#!/bin/bash", "# Stops the Staffel quick-start servers in %s, by PID." % work,
             "set -u", "postfix -c %s stop 2>/dev/null" % postfix.etc]
    for name, pid, needle in servers:
        lines.append('if grep -qa -- "%s" /proc/%d/cmdline 2>/dev/null; then kill %d; '
                     'echo "stopped %s (pid %d)"; fi' % (needle, pid, pid, name, pid))
    lines.append('echo "remove the directory with: rm -rf %s"' % work)
    path = work / "stop.sh"
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, 0o755)
    return path


def main():
    ap = argparse.ArgumentParser(description="Staffel quick start: one message through "
                                             "Postfix and staffeld on loopback.")
    ap.add_argument("--keep", action="store_true",
                    help="leave everything running and print how to stop it")
    ap.add_argument("--policy", type=Path, default=REPO / "policies" / "example.toml",
                    help="policy to start from (default policies/example.toml)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        ap.error("run as root: the private Postfix instance needs it")
    if not os.access(harness.STAFFELD, os.X_OK):
        ap.error("no staffeld at %s; build first (contrib/quickstart/setup.sh)" % harness.STAFFELD)
    harness.install_signal_cleanup()

    work = harness.make_workdir("staffel-quickstart-")
    servers = []

    def server(obj):
        if args.keep:
            obj.detached = True
            obj.max_seconds = 7 * 24 * 3600
        servers.append(obj)
        return obj

    ok = False
    try:
        heading("Starting Redis, a capture sink, staffeld and Postfix in %s" % work)
        redis = server(harness.Redis(work)).start()
        say("redis-server   127.0.0.1:%d (pid %d)" % (redis.port, redis.pid))
        sink = server(harness.Sink(work)).start()
        say("capture sink   127.0.0.1:%d (pid %d), messages in %s" % (sink.port, sink.pid,
                                                                       sink.msgdir))
        socket_spec = "unix:%s" % (work / "staffeld.sock")
        text, notes = demo_policy(args.policy, socket_spec, redis.address)
        text, records, key_notes = demo_keys(text, work / "keys")
        notes += key_notes
        policy_path = work / "staffel.toml"
        policy_path.write_text(text)
        say("policy         %s (from %s)" % (policy_path, args.policy))
        for n in notes:
            say("               - " + n)

        heading("Checking the policy: staffeld -n -c %s" % policy_path)
        rc, out, err = harness.check_config(policy_path)
        say((out + err).rstrip())
        if rc != 0:
            raise RuntimeError("the policy does not validate (exit %d)" % rc)

        staffeld = server(harness.Staffeld(work, policy=policy_path, socket=socket_spec,
                                           redis=redis)).start()
        say("staffeld       %s (pid %d)" % (staffeld.socket_spec, staffeld.pid))
        say("               $ %s" % " ".join(staffeld.argv()))
        postfix = server(harness.Postfix(work, sink.port, milter=staffeld.socket_spec)).start()
        say("postfix        127.0.0.1:%d (master pid %s), config %s" % (
            postfix.smtp_port, postfix.master_pid(), postfix.etc))
        say("               smtpd_milters = non_smtpd_milters = %s, milter_default_action = "
            "tempfail" % staffeld.socket_spec)

        heading("Sending one message to Postfix on 127.0.0.1:%d" % postfix.smtp_port)
        qid = send_sample(postfix.smtp_port)

        heading("staffeld's log line for queue id %s" % qid)
        for line in staffeld.wait_message_line(qid, timeout=15):
            say(line["line"])

        heading("The message as it arrived at the sink")
        got = sink.wait_for(1, timeout=30)[-1]
        say("envelope: MAIL FROM:<%s> RCPT TO:%s" % (got.mail_from,
                                                     ", ".join("<%s>" % r for r in got.rcpts)))
        say("file:     %s" % got.path)
        say("-" * 72)
        say(got.data.decode("utf-8", errors="replace").replace("\r\n", "\n").rstrip("\n"))
        say("-" * 72)
        if records:
            from dkim_verify import verify_python_dkim
            heading("Verifying its DKIM signatures with python3-dkim (keys from the files)")
            results = verify_python_dkim(got.data, records)
            for r in results:
                say("d=%s s=%s a=%s: %s" % (r.d, r.s, r.a, "pass" if r.ok else "FAIL " + r.detail))
            if not results or not all(r.ok for r in results):
                raise RuntimeError("the message did not arrive with valid DKIM signatures")
        if re.search(r"(?m)^\[\[quota\]\]", text):
            heading("Its quota counters: staffelctl -c %s quota show alice@example.com"
                    % policy_path)
            r = subprocess.run([harness.STAFFELCTL, "-c", str(policy_path), "quota", "show",
                                "alice@example.com"], capture_output=True, text=True, timeout=30)
            say((r.stdout + r.stderr).rstrip())
            if r.returncode != 0:
                raise RuntimeError("staffelctl quota show exited %d" % r.returncode)
        ok = True

        if args.keep:
            stop = write_stop_script(work, postfix, [
                ("staffeld", staffeld.pid, str(harness.STAFFELD)),
                ("capture sink", sink.pid, "sink.py"),
                ("redis-server", redis.pid, "redis-server")])
            heading("Left running (--keep)")
            say("send more:    swaks --server 127.0.0.1 --port %d --from alice@example.com "
                "--to bob@example.net" % postfix.smtp_port)
            say("staffeld log: %s" % staffeld.log_path)
            say("postfix log:  %s" % postfix.maillog_path)
            say("captured:     %s" % sink.msgdir)
            say("reload:       kill -HUP %d   (after editing %s)" % (staffeld.pid, policy_path))
            say("stop all:     bash %s" % stop)
            return 0
    except Exception as e:  # noqa: BLE001 - a demo explains, it does not trace back
        say()
        say("quick start FAILED: %s" % e)
        for s in servers:
            path = getattr(s, "maillog_path", None) or getattr(s, "log_path", None)
            if path:
                say("--- %s\n%s" % (path, harness.tail(path, 15)))
        if args.keep:
            say("(nothing is left running after a failure)")
    for s in reversed(servers):
        try:
            s.stop()
        except Exception as e:  # noqa: BLE001
            say("stopping %r: %s" % (s, e))
    heading("Stopped everything" + ("" if ok else " after the failure"))
    harness.remove_workdir(work)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
