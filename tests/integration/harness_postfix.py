"""harness_postfix.py - a private Postfix 3.7 instance on loopback (see harness.py).

Purpose: writes main.cf/master.cf for an instance with its own config,
  queue and data directories (POSTFIX-SANDBOX.md has the why of each
  setting), starts it with `postfix -c DIR start`, stops it with `postfix
  -c DIR stop` and then by PID, and inspects its log and queue.
Who calls it: harness.py re-exports it; watchdog.py uses kill_postfix_instance.
Errors: StartError (with the maillog tail) when the instance does not come up.
"""
from __future__ import annotations

import json
import os
import pwd
import re
import signal
import subprocess
import time
from pathlib import Path

from harness_core import (LOOPBACK, Maillog, Server, StartError, free_port, pid_alive,
                          smtp_greets, tail, wait_until)

POSTFIX_BIN = "/usr/sbin/postfix"
POSTQUEUE_BIN = "/usr/sbin/postqueue"
SENDMAIL_BIN = "/usr/sbin/sendmail"

# --------------------------------------------------------------------------
# Postfix

MASTER_CF = """\
# master.cf of a throw-away Postfix instance (written by harness.py).
# chroot n everywhere: the instance has no copies of /etc in its queue.
{listen} inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix(Server, Maillog):
    """A private Postfix instance: own config, queue and data directories, loopback only.

    It accepts SMTP on 127.0.0.1:smtp_port from 127.0.0.0/8 and relays every
    message to [127.0.0.1]:relay_port. `milter` (a socket spec) is attached as
    both smtpd_milters and non_smtpd_milters with milter_default_action =
    tempfail. `extra_main_cf` entries override or add main.cf parameters.
    """

    QUEUES = ("maildrop", "incoming", "active", "deferred", "hold", "corrupt")

    def __init__(self, tmpdir, relay_port: int, milter: str | None = None,
                 extra_main_cf: dict | None = None, smtp_port: int | None = None,
                 max_seconds: float | None = None, extra_master_cf: str = ""):
        super().__init__()
        self.dir = Path(tmpdir) / "postfix"
        self.etc = self.dir / "etc"
        self.spool = self.dir / "spool"
        self.data = self.dir / "data"
        self.logdir = self.dir / "log"
        self.relay_port = relay_port
        self.milter = milter
        self.extra_main_cf = dict(extra_main_cf or {})
        self.extra_master_cf = extra_master_cf  # services appended to master.cf
        self.smtp_port = smtp_port
        self.running = False
        if max_seconds:
            self.max_seconds = max_seconds

    # ---- configuration

    def main_cf(self) -> dict:
        p = {
            "compatibility_level": "3.6",
            "queue_directory": self.spool,
            "data_directory": self.data,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "mta.staffel.test",
            "mydomain": "staffel.test",
            "myorigin": "$myhostname",
            "mydestination": "",
            "local_recipient_maps": "",
            "relay_domains": "",
            "alias_maps": "",
            "alias_database": "",
            "mynetworks": "127.0.0.0/8",
            "inet_interfaces": LOOPBACK,
            "inet_protocols": "ipv4",
            "smtp_bind_address": LOOPBACK,
            "relayhost": "[%s]:%d" % (LOOPBACK, self.relay_port),
            "default_transport": "smtp",
            "smtpd_peername_lookup": "no",
            "smtp_dns_support_level": "disabled",
            "smtp_host_lookup": "native",
            "smtp_tls_security_level": "none",
            "smtpd_tls_security_level": "none",
            "maillog_file": self.logdir / "maillog",
            "maillog_file_prefixes": self.dir,
            "in_flow_delay": "0",
            "disable_mime_output_conversion": "yes",
            "smtp_destination_recipient_limit": "50",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "notify_classes": "",
            "biff": "no",
            "message_size_limit": "52428800",
            # Quick retries so a deferred message shows up quickly in tests.
            "queue_run_delay": "5s",
            "minimal_backoff_time": "5s",
            "maximal_backoff_time": "10s",
        }
        if self.milter:
            spec = postfix_milter_spec(self.milter)
            p.update({
                "smtpd_milters": spec,
                "non_smtpd_milters": spec,
                "milter_protocol": "6",
                "milter_default_action": "tempfail",
            })
        p.update(self.extra_main_cf)
        return p

    def write_config(self):
        for d in (self.dir, self.etc, self.spool, self.logdir):
            d.mkdir(parents=True, exist_ok=True)
            os.chown(d, 0, 0)
            os.chmod(d, 0o755)
        self.data.mkdir(parents=True, exist_ok=True)
        pw = pwd.getpwnam("postfix")
        os.chown(self.data, pw.pw_uid, pw.pw_gid)
        os.chmod(self.data, 0o700)
        if self.smtp_port is None:
            self.smtp_port = free_port()
        text = "# main.cf of a throw-away Postfix instance (written by harness.py)\n"
        text += "".join("%s = %s\n" % (k, v) for k, v in self.main_cf().items())
        (self.etc / "main.cf").write_text(text)
        (self.etc / "master.cf").write_text(
            MASTER_CF.format(listen="%s:%d" % (LOOPBACK, self.smtp_port)) +
            self.extra_master_cf)

    def _postfix(self, *args, timeout: float = 60.0, check: bool = True):
        env = dict(os.environ, MAIL_CONFIG=str(self.etc))
        r = subprocess.run([POSTFIX_BIN, "-c", str(self.etc), *args], env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        if check and r.returncode != 0:
            raise StartError("postfix %s failed (%d): %s%s\nmaillog:\n%s" % (
                " ".join(args), r.returncode, r.stdout.decode(errors="replace"),
                r.stderr.decode(errors="replace"), tail(self.maillog_path)))
        return r

    # ---- life cycle

    def start(self, timeout: float = 30.0):
        self.write_config()
        self._postfix("start", timeout=timeout)
        self.running = True
        self._register("postfix", str(self.etc), self.dir)
        try:
            state = wait_until(lambda: self._banner() or
                               ("fatal" if " fatal: " in self.maillog() else False),
                               timeout, what="postfix smtpd banner on %d" % self.smtp_port)
            if state == "fatal":
                raise TimeoutError("a postfix daemon died at start")
        except TimeoutError as e:
            self.stop()
            raise StartError("%s\nmaillog:\n%s" % (e, tail(self.maillog_path))) from None
        return self

    def _banner(self) -> bool:
        return smtp_greets(self.smtp_port)

    def reload(self, main_cf: dict | None = None):
        """Rewrites main.cf (with main_cf merged into extra_main_cf) and reloads."""
        if main_cf:
            self.extra_main_cf.update(main_cf)
        self.write_config()
        self._postfix("reload")

    def master_pid(self):
        try:
            return int((self.spool / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, timeout: float = 20.0):
        if self.running:
            try:
                self._postfix("stop", timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                pass
            kill_postfix_instance(self.etc, self.spool, grace=timeout)
            self.running = False
        self._unregister()

    def pids(self) -> list:
        return instance_pids(self.etc)

    # ---- inspection

    @property
    def maillog_path(self) -> Path:
        return self.logdir / "maillog"

    def queue_ids_in(self, *queues) -> list:
        """Queue ids of the files in the named queues (default: all of them)."""
        ids = []
        for q in queues or self.QUEUES:
            for _root, _dirs, files in os.walk(self.spool / q):
                ids += files
        return sorted(ids)

    def postqueue(self) -> list:
        """`postqueue -j` as a list of dicts."""
        r = subprocess.run([POSTQUEUE_BIN, "-c", str(self.etc), "-j"], capture_output=True,
                           timeout=30, env=dict(os.environ, MAIL_CONFIG=str(self.etc)))
        return [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]

    def wait_queue_empty(self, timeout: float = 30.0, interval: float = 0.02):
        return wait_until(lambda: not self.queue_ids_in(), timeout, interval,
                          what="an empty postfix queue")

    def sendmail(self, msg: bytes, sender: str, rcpts, timeout: float = 30.0):
        """Submits through this instance's sendmail (non-SMTP, via postdrop and pickup)."""
        argv = [SENDMAIL_BIN, "-C", str(self.etc), "-oi", "-f", sender, "--", *rcpts]
        return subprocess.run(argv, input=msg, capture_output=True, timeout=timeout,
                              env=dict(os.environ, MAIL_CONFIG=str(self.etc)))

    def __repr__(self):
        return "Postfix(%s port=%s)" % (self.dir, self.smtp_port)


def postfix_milter_spec(spec: str) -> str:
    """libmilter's 'inet:PORT@HOST' -> Postfix's 'inet:HOST:PORT'; unix: as is.

    Postfix reads 'inet:10025@127.0.0.1' as host '10025@127.0.0.1' and its
    smtpd dies with 'garbage after numerical service'.
    """
    if spec.startswith("inet:") and "@" in spec:
        port, _, host = spec[5:].partition("@")
        return "inet:%s:%s" % (host, port)
    return spec


def instance_pids(config_dir) -> list:
    """PIDs of every process whose environment says MAIL_CONFIG=config_dir."""
    want = ("MAIL_CONFIG=%s" % config_dir).encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % entry, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if want in env:
            pids.append(int(entry))
    return pids


def kill_postfix_instance(config_dir, queue_dir, grace: float = 20.0):
    """Waits for the instance's processes to go after `postfix stop`, then kills them by PID."""
    config_dir, queue_dir = Path(config_dir), Path(queue_dir)
    master = None
    try:
        master = int((queue_dir / "pid" / "master.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        left = [p for p in instance_pids(config_dir) if pid_alive(p)]
        if master and pid_alive(master) and master not in left:
            left.append(master)
        if not left:
            return
        time.sleep(0.1)
    for pid in set(instance_pids(config_dir) + ([master] if master else [])):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
