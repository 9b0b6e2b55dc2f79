"""harness_staffeld.py - the daemon under test, `staffeld -n`, and an SMTP client.

Purpose: `Staffeld` runs the daemon in the foreground with its output in a
  log file and waits for its socket; `parse_message_line` reads the
  per-message log lines; `check_config` runs `staffeld -n`; `smtp_send`
  records the reply of every SMTP step so tests can assert 4xx/5xx exactly.
Who calls it: harness.py re-exports it.
Errors: StartError when staffeld exits or does not listen in time.
"""
from __future__ import annotations

import hashlib
import os
import pwd
import re
import signal
import smtplib
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness_core import (LOOPBACK, STAFFELD, Redis, Server, StartError, free_port,
                          minimal_policy, policy_digest, spawn, spec_accepts, stop_process,
                          tail, wait_until)

# --------------------------------------------------------------------------
# staffeld

_MSG_LINE = re.compile(r"staffeld\[(?P<pid>\d+)\]: (?P<level>\w+): (?P<qid>[0-9A-Za-z]+): "
                       r"(?P<rest>.*\baction=\S+.*)$")


def parse_message_line(line: str):
    """A per-message log line as a dict: qid, level, pid and every key=value field."""
    m = _MSG_LINE.search(line)
    if not m:
        return None
    d = dict(re.findall(r"(\w+)=(\S+)", m.group("rest")))
    d.update(qid=m.group("qid"), level=m.group("level"), pid=int(m.group("pid")), line=line)
    return d


def check_config(path, binary: str | None = None, as_user: str | None = None,
                 timeout: float = 10.0):
    """Runs `staffeld -n -c path`; returns (rc, stdout, stderr) as text.

    as_user ("nobody") runs it through setpriv without root's privileges.
    """
    argv = [binary or STAFFELD, "-n", "-c", str(path)]
    if as_user:
        pw = pwd.getpwnam(as_user)
        argv = ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
                "--clear-groups", "--"] + argv
    r = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


class Staffeld(Server):
    """The daemon under test, in the foreground, its output in tmpdir/staffeld.log.

    policy: the policy text (str), or a pathlib.Path to an existing file; None
      writes minimal_policy(). Text is written to tmpdir/policy.toml.
    socket: "unix" (tmpdir/staffeld.sock), "inet" (a free loopback port), an
      explicit spec ("unix:/p", "inet:N@127.0.0.1"), or None to keep the policy's.
    redis: a Redis object or an address string, passed as --redis; None: none.
    """

    def __init__(self, tmpdir, policy=None, socket: str | None = "unix", redis=None,
                 extra_args=(), binary: str | None = None, max_seconds: float | None = None):
        super().__init__()
        self.dir = Path(tmpdir)
        self.binary = binary or STAFFELD
        self.log_path = self.dir / "staffeld.log"
        self.extra_args = list(extra_args)
        self.redis_address = redis.address if isinstance(redis, Redis) else redis
        if socket == "unix":
            self.socket_spec = "unix:%s" % (self.dir / "staffeld.sock")
        elif socket == "inet":
            self.socket_spec = "inet:%d@%s" % (free_port(), LOOPBACK)
        else:
            self.socket_spec = socket
        if isinstance(policy, Path):
            self.policy_path = policy
        else:
            self.policy_path = self.dir / "policy.toml"
            if policy is None:
                policy = minimal_policy(self.socket_spec or "unix:%s" % (self.dir / "staffeld.sock"),
                                        self.redis_address or "127.0.0.1:6379")
            self.write_policy(policy)
        self.proc = None
        self.ready_line = None
        if max_seconds:
            self.max_seconds = max_seconds

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def argv(self) -> list:
        argv = [self.binary, "-f", "-c", str(self.policy_path)]
        if self.socket_spec:
            argv += ["--socket", self.socket_spec]
        if self.redis_address:
            argv += ["--redis", self.redis_address]
        return argv + self.extra_args

    def write_policy(self, text: str):
        """Replaces the policy file atomically (write + rename)."""
        tmp = self.policy_path.with_name(self.policy_path.name + ".tmp")
        tmp.write_bytes(text.encode() if isinstance(text, str) else text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.policy_path)

    def digest(self) -> str:
        return policy_digest(self.policy_path)

    def start(self, timeout: float = 15.0, wait: bool = True):
        if not os.access(self.binary, os.X_OK):
            raise StartError("no staffeld binary at %s (set STAFFELD or build it)" % self.binary)
        self._log_offset = self.log_size()
        self.proc = spawn(self.argv(), self.log_path, detached=self.detached)
        self._register("pid", str(self.proc.pid), self.dir)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 15.0):
        """Waits until the socket accepts connections (and the 'ready' line, briefly)."""
        if self.socket_spec is None:
            raise ValueError("wait_ready needs an explicit socket spec")

        def up():
            if self.proc.poll() is not None:
                return "exited"
            return spec_accepts(self.socket_spec)
        try:
            state = wait_until(up, timeout, what="staffeld socket %s" % self.socket_spec)
        except TimeoutError as e:
            raise StartError("%s\nstaffeld log:\n%s" % (e, tail(self.log_path))) from None
        if state == "exited":
            raise StartError("staffeld exited with %s before it was ready:\n%s"
                             % (self.proc.returncode, tail(self.log_path)))
        try:
            self.ready_line = wait_until(self._ready_line, 3.0, what="'ready' in log")
        except TimeoutError:
            self.ready_line = None
        return self

    def _ready_line(self):
        for line in self.log(since=self._log_offset).splitlines():
            if "ready" in line:
                return line
        return None

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log(self, since: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def wait_log(self, pattern: str, timeout: float = 10.0, since: int = 0):
        """Waits for a log line matching the regex; returns the match."""
        rx = re.compile(pattern)

        def found():
            for line in self.log(since).splitlines():
                m = rx.search(line)
                if m:
                    return m
            return None
        try:
            return wait_until(found, timeout, what="staffeld log /%s/" % pattern)
        except TimeoutError as e:
            raise TimeoutError("%s\nstaffeld log:\n%s" % (e, tail(self.log_path))) from None

    def message_lines(self, since: int = 0) -> list:
        return [d for d in map(parse_message_line, self.log(since).splitlines()) if d]

    def wait_message_line(self, qid: str, timeout: float = 10.0, since: int = 0):
        def found():
            return [d for d in self.message_lines(since) if d["qid"] == qid] or None
        try:
            return wait_until(found, timeout, what="staffeld line for %s" % qid)
        except TimeoutError as e:
            raise TimeoutError("%s\nstaffeld log:\n%s" % (e, tail(self.log_path))) from None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def hup(self):
        os.kill(self.proc.pid, signal.SIGHUP)

    def term(self, timeout: float = 10.0):
        """SIGTERM and wait; returns the exit code (None if it did not exit in time)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self):
        stop_process(self.proc, timeout=15)
        self._unregister()

    def __repr__(self):
        return "Staffeld(%s pid=%s)" % (self.socket_spec, self.pid)


# --------------------------------------------------------------------------
# SMTP client


@dataclass
class SmtpStep:
    name: str
    code: int
    message: str
    seconds: float = 0.0  # from sending the step to its reply (the dot step only)

    def __str__(self):
        return "%s -> %d %s" % (self.name, self.code, self.message)


@dataclass
class SmtpResult:
    steps: list = field(default_factory=list)

    def step(self, name: str) -> SmtpStep | None:
        """First step called name ('mail', 'data', 'dot', 'rcpt <a@b>'; 'rcpt' = first RCPT)."""
        for s in self.steps:
            if s.name == name or s.name.split(" ")[0] == name:
                return s
        return None

    def code(self, name: str):
        s = self.step(name)
        return s.code if s else None

    def first_failure(self) -> SmtpStep | None:
        for s in self.steps:
            if s.code >= 400 or s.code < 0:
                return s
        return None

    @property
    def accepted(self) -> bool:
        s = self.step("dot")
        return bool(s) and 200 <= s.code < 300

    @property
    def queue_id(self):
        s = self.step("dot")
        m = re.search(r"queued as ([0-9A-Za-z]+)", s.message) if s else None
        return m.group(1) if m else None

    def __str__(self):
        return "; ".join(map(str, self.steps))


def smtp_send(port: int, sender: str, rcpts, msg: bytes, host: str = LOOPBACK,
              helo: str = "client.staffel.test", timeout: float = 30.0) -> SmtpResult:
    """One SMTP transaction; the reply of every step is recorded, nothing raises.

    Steps: connect, ehlo, mail, 'rcpt <addr>' each, data (the 354), dot (the
    end-of-data reply), quit. It stops after the first step that fails in a way
    that ends the transaction. msg is sent as is, dot-stuffed by smtplib.
    """
    if host != LOOPBACK:
        raise ValueError("tests use loopback only")
    r = SmtpResult()
    s = smtplib.SMTP(timeout=timeout)
    try:
        code, text = s.connect(host, port)
        r.steps.append(SmtpStep("connect", code, _t(text)))
        if code != 220:
            return r
        code, text = s.ehlo(helo)
        r.steps.append(SmtpStep("ehlo", code, _t(text)))
        code, text = s.mail(sender)
        r.steps.append(SmtpStep("mail", code, _t(text)))
        if code >= 400:
            return r
        ok = 0
        for rcpt in rcpts:
            code, text = s.rcpt(rcpt)
            r.steps.append(SmtpStep("rcpt %s" % rcpt, code, _t(text)))
            ok += 200 <= code < 300
        if not ok:
            return r
        s.putcmd("data")
        code, text = s.getreply()
        r.steps.append(SmtpStep("data", code, _t(text)))
        if code != 354:
            return r
        q = re.sub(rb"(?m)^\.", b"..", msg)
        if not q.endswith(b"\r\n"):
            q += b"\r\n"
        sent = time.monotonic()
        s.send(q + b".\r\n")
        code, text = s.getreply()
        r.steps.append(SmtpStep("dot", code, _t(text), time.monotonic() - sent))
    except (smtplib.SMTPException, OSError) as e:
        r.steps.append(SmtpStep("error", -1, "%s: %s" % (type(e).__name__, e)))
    finally:
        if r.steps and r.steps[-1].code > 0:
            try:
                code, text = s.docmd("quit")
                r.steps.append(SmtpStep("quit", code, _t(text)))
            except (smtplib.SMTPException, OSError):
                pass
        try:
            s.close()
        except OSError:
            pass
    return r


def _t(text) -> str:
    return text.decode(errors="replace") if isinstance(text, bytes) else str(text)


def sample_message(subject: str = "Staffel test", sender: str = "alice@example.com",
                   to: str = "bob@example.net", body: bytes | None = None,
                   extra_headers=()) -> bytes:
    """A small RFC 5322 message with CRLF line ends."""
    msgid = "<%s.%d@example.com>" % (hashlib.sha1(os.urandom(8)).hexdigest()[:12], os.getpid())
    headers = [
        "From: Alice Example <%s>" % sender,
        "To: Bob Example <%s>" % to,
        "Subject: %s" % subject,
        "Date: Mon, 06 Jan 2025 10:00:00 +0000",
        "Message-ID: %s" % msgid,
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        *extra_headers,
    ]
    if body is None:
        body = b"Hello Bob,\r\n\r\nthis is a test message.\r\n"
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body
