"""harness.py - throw-away servers for Staffel's integration tests, bench and demo.

Purpose: start and stop, on loopback only, the pieces a message meets on its
  way out: a Redis (`Redis`), a capture SMTP sink (`Sink`), a private
  Postfix 3.7 instance (`Postfix`) and the daemon under test (`Staffeld`).
  Also an SMTP client that reports every step's reply (`smtp_send`) and a
  `staffeld -n` wrapper (`check_config`).
Who calls it: tests/integration/conftest.py (pytest fixtures),
  tests/bench/throughput.py and contrib/quickstart/demo.py.
Lifetime rules: every server is a context manager with start()/stop().
  Servers are torn down by PID, never by name. Each started server is
  registered, and an atexit hook stops whatever is left; each also gets a
  watchdog process (watchdog.py) that stops it when this Python process
  dies or after `max_seconds`, so nothing outlives a crashed test run.
  Directly spawned servers also get PR_SET_PDEATHSIG.
Ports: bound to 127.0.0.1 only; free ports are found by binding port 0.
  Unix sockets live in per-test directories made by `make_workdir()`
  (mode 0755 so the postfix user can traverse them).
Errors: a server that fails to come up raises `StartError` carrying the
  tail of its log; every wait is bounded by a timeout.
Standard library only; meant for Debian's /usr/bin/python3.
"""
from __future__ import annotations

import atexit
import ctypes
import hashlib
import json
import os
import pwd
import re
import select
import shutil
import signal
import smtplib
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PYTHON = "/usr/bin/python3"
STAFFELD = os.environ.get("STAFFELD", str(REPO / "build" / "staffeld"))
LOOPBACK = "127.0.0.1"
DEFAULT_MAX_SECONDS = float(os.environ.get("STAFFEL_MAX_SECONDS", "1800"))

POSTFIX_BIN = "/usr/sbin/postfix"
POSTQUEUE_BIN = "/usr/sbin/postqueue"
SENDMAIL_BIN = "/usr/sbin/sendmail"


class StartError(RuntimeError):
    """A server did not come up; the message carries its log tail."""


# --------------------------------------------------------------------------
# small utilities


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def keep_tmp() -> bool:
    return bool(os.environ.get("STAFFEL_KEEP_TMP"))


def make_workdir(prefix: str = "staffel-") -> Path:
    """A fresh root-owned directory under /tmp, mode 0755 (postfix can traverse it)."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(d, 0o755)
    return d


def remove_workdir(path: Path) -> None:
    """Removes a directory made by make_workdir(), unless STAFFEL_KEEP_TMP is set."""
    if keep_tmp():
        print("staffel: keeping %s (STAFFEL_KEEP_TMP)" % path, file=sys.stderr)
        return
    shutil.rmtree(path, ignore_errors=True)


def policy_digest(policy) -> str:
    """First 8 hex digits of the SHA-256 of a policy file's bytes (path or bytes)."""
    if isinstance(policy, (bytes, bytearray)):
        data = bytes(policy)
    elif isinstance(policy, str) and not os.path.exists(policy):
        data = policy.encode()
    else:
        data = Path(policy).read_bytes()
    return hashlib.sha256(data).hexdigest()[:8]


def minimal_policy(socket_spec: str = "unix:/run/staffel/staffeld.sock",
                   redis_address: str = "127.0.0.1:6379",
                   socket_mode: str | None = "0666") -> str:
    """The smallest valid policy (the form in the README)."""
    lines = ["[milter]", 'socket = "%s"' % socket_spec]
    if socket_mode:
        lines.append('socket_mode = "%s"' % socket_mode)
    lines += ["", "[redis]", 'address = "%s"' % redis_address, ""]
    return "\n".join(lines)


def tail(path, n: int = 40) -> str:
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)
    return "\n".join(lines[-n:])


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Polls predicate() until it returns a truthy value; raises TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def tcp_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def unix_accepts(path, timeout: float = 0.5) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    if not stat.S_ISSOCK(st.st_mode):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
            return True
        except OSError:
            return False


def spec_accepts(spec: str) -> bool:
    """Does a milter socket spec (unix:/path or inet:PORT@127.0.0.1) accept connections?"""
    kind, addr = parse_socket_spec(spec)
    if kind == "unix":
        return unix_accepts(addr)
    return tcp_accepts(addr[0], addr[1])


def parse_socket_spec(spec: str):
    """'unix:/p' -> ('unix', '/p'); 'inet:25@127.0.0.1' -> ('inet', ('127.0.0.1', 25))."""
    if spec.startswith("unix:") or spec.startswith("local:"):
        return "unix", spec.split(":", 1)[1]
    if spec.startswith("inet:"):
        port, _, host = spec[5:].partition("@")
        host = host or LOOPBACK
        if host not in (LOOPBACK, "localhost"):
            raise ValueError("tests use loopback only, got %r" % spec)
        return "inet", (LOOPBACK, int(port))
    raise ValueError("unknown socket spec %r" % spec)


def pid_alive(pid: int) -> bool:
    """True if pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0] != "Z"
    except OSError:
        return False


def _pdeathsig():
    # Runs in the child between fork and exec: die with the parent.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def spawn(argv, log_path, env=None, stdout=None) -> subprocess.Popen:
    """Starts a server process in its own session, output appended to log_path."""
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(
            [str(a) for a in argv], stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else log, stderr=log,
            env=env, start_new_session=True, preexec_fn=_pdeathsig, close_fds=True)
    finally:
        log.close()


def stop_process(proc: subprocess.Popen, timeout: float = 10.0, sig=signal.SIGTERM):
    """Signals one process by PID, waits, escalates to SIGKILL. Returns its exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


# --------------------------------------------------------------------------
# registry, atexit and watchdog

_live: list = []


def _stop_all():
    for server in reversed(list(_live)):
        try:
            server.stop()
        except Exception as e:  # noqa: BLE001 - best effort at exit
            print("staffel harness: stopping %r at exit: %s" % (server, e), file=sys.stderr)


atexit.register(_stop_all)


def install_signal_cleanup():
    """Turns SIGTERM/SIGHUP into SystemExit so atexit stops the servers."""
    def handler(signum, _frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def _start_watchdog(kind: str, target: str, max_seconds: float, logdir) -> subprocess.Popen:
    argv = [PYTHON, HERE / "watchdog.py", "--parent", str(os.getpid()),
            "--max-seconds", str(max_seconds), "--" + kind, target]
    return subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=open(Path(logdir) / "watchdog.log", "ab"),
                            start_new_session=True, close_fds=True)


class Server:
    """Base: context manager, registry, watchdog."""

    max_seconds = DEFAULT_MAX_SECONDS

    def __init__(self):
        self._watchdog = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def _register(self, kind: str, target: str, logdir):
        if self not in _live:
            _live.append(self)
        if self._watchdog is None or self._watchdog.poll() is not None:
            self._watchdog = _start_watchdog(kind, target, self.max_seconds, logdir)

    def _unregister(self):
        if self in _live:
            _live.remove(self)
        if self._watchdog is not None:
            stop_process(self._watchdog, timeout=5)
            self._watchdog = None


# --------------------------------------------------------------------------
# Redis


def resp_encode(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def _resp_read(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_resp_read(f) for _ in range(n)]
    raise ConnectionError("bad RESP reply %r" % line)


class RedisError(Exception):
    pass


class Redis(Server):
    """A throw-away redis-server on a free loopback port (and optionally a unix socket)."""

    def __init__(self, tmpdir, unixsocket: bool = False, max_seconds: float | None = None):
        super().__init__()
        self.dir = Path(tmpdir) / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.log_path = self.dir / "redis.log"
        self.port = None
        self.unixsocket = self.dir / "redis.sock" if unixsocket else None
        self.proc = None
        if max_seconds:
            self.max_seconds = max_seconds

    @property
    def address(self) -> str:
        return "%s:%d" % (LOOPBACK, self.port)

    @property
    def unix_address(self) -> str:
        return "unix:%s" % self.unixsocket

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, timeout: float = 10.0):
        last = None
        for _ in range(3):  # a free port can be taken between probe and bind
            port = self.port or free_port()
            argv = ["redis-server", "--port", port, "--bind", LOOPBACK, "--save", "",
                    "--appendonly", "no", "--daemonize", "no", "--dir", self.dir,
                    "--protected-mode", "yes"]
            if self.unixsocket:
                argv += ["--unixsocket", self.unixsocket, "--unixsocketperm", "777"]
            self.proc = spawn(argv, self.log_path)
            self.port = port
            try:
                wait_until(lambda: self._pong() or self.proc.poll() is not None,
                           timeout, what="redis PONG")
            except TimeoutError as e:
                last = e
                stop_process(self.proc)
                continue
            if self.proc.poll() is None:
                self._register("pid", str(self.proc.pid), self.dir)
                return self
            last = StartError("redis-server exited %s:\n%s" % (self.proc.returncode,
                                                              tail(self.log_path)))
            self.port = None
        raise StartError(str(last))

    def _pong(self) -> bool:
        try:
            return self.command("PING", timeout=0.5) == "PONG"
        except OSError:
            return False

    def command(self, *args, timeout: float = 5.0):
        """Sends one command over a new TCP connection; returns the decoded reply."""
        with socket.create_connection((LOOPBACK, self.port), timeout=timeout) as s:
            s.sendall(resp_encode(*args))
            with s.makefile("rb") as f:
                return _resp_read(f)

    def kill(self):
        """SIGKILL, as a crash would (for store-failure tests)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self, timeout: float = 10.0):
        """Starts again on the same port (after kill() or stop())."""
        self.kill()
        return self.start(timeout)

    def stop(self):
        stop_process(self.proc)
        self._unregister()

    def __repr__(self):
        return "Redis(%s pid=%s)" % (self.port, self.pid)


# --------------------------------------------------------------------------
# capture sink


@dataclass
class SinkMessage:
    number: int
    data: bytes
    mail_from: str
    rcpts: list
    meta: dict
    path: Path

    def split(self):
        """(header block incl. final line end, body) at the first empty line."""
        for sep in (b"\r\n\r\n", b"\n\n"):
            i = self.data.find(sep)
            if i >= 0:
                cut = i + len(sep) // 2
                return self.data[:cut], self.data[cut + len(sep) // 2:]
        return self.data, b""

    @property
    def header_block(self) -> bytes:
        return self.split()[0]

    @property
    def body(self) -> bytes:
        return self.split()[1]

    def header_lines(self) -> list:
        """Each header field as raw bytes, continuation lines kept, line ends stripped."""
        fields = []
        for line in re.split(rb"\r?\n", self.header_block):
            if not line:
                continue
            if line[:1] in (b" ", b"\t") and fields:
                fields[-1] += b"\r\n" + line
            else:
                fields.append(line)
        return fields

    def headers(self, name: str) -> list:
        """Values (str, unfolded) of every header field called name."""
        out = []
        for f in self.header_lines():
            k, _, v = f.partition(b":")
            if k.decode("latin-1").strip().lower() == name.lower():
                out.append(re.sub(rb"\r?\n", b"", v).decode("latin-1").strip())
        return out


class Sink(Server):
    """The capture SMTP server tests/integration/sink.py, run as a subprocess."""

    def __init__(self, tmpdir, max_seconds: float | None = None):
        super().__init__()
        self.dir = Path(tmpdir) / "sink"
        self.msgdir = self.dir / "messages"
        self.msgdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.log_path = self.dir / "sink.log"
        self.port = None
        self.proc = None
        if max_seconds:
            self.max_seconds = max_seconds

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def address(self) -> str:
        return "%s:%d" % (LOOPBACK, self.port)

    def start(self, timeout: float = 10.0):
        argv = [PYTHON, HERE / "sink.py", "--port", "0", "--bind", LOOPBACK,
                "--dir", self.msgdir, "--max-seconds", self.max_seconds]
        self.proc = spawn(argv, self.log_path, stdout=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline().decode() if ready else ""
        m = re.match(r"PORT (\d+)", line)
        if not m:
            stop_process(self.proc)
            raise StartError("sink did not report its port (got %r):\n%s"
                             % (line, tail(self.log_path)))
        self.port = int(m.group(1))
        self._register("pid", str(self.proc.pid), self.dir)
        return self

    def stop(self):
        stop_process(self.proc)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self._unregister()

    def count(self) -> int:
        return len(list(self.msgdir.glob("*.json")))

    def messages(self) -> list:
        out = []
        for meta_path in sorted(self.msgdir.glob("*.json")):
            meta = json.loads(meta_path.read_text())
            eml = meta_path.with_suffix(".eml")
            out.append(SinkMessage(int(meta_path.stem), eml.read_bytes(), meta["mail_from"],
                                   meta["rcpts"], meta, eml))
        return out

    def wait_for(self, n: int, timeout: float = 15.0) -> list:
        """Waits until at least n messages were captured; returns all of them."""
        try:
            wait_until(lambda: self.count() >= n, timeout, what="%d message(s) at the sink" % n)
        except TimeoutError as e:
            raise TimeoutError("%s (have %d)" % (e, self.count())) from None
        return self.messages()

    def __repr__(self):
        return "Sink(%s pid=%s)" % (self.port, self.pid)


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


class Postfix(Server):
    """A private Postfix instance: own config, queue and data directories, loopback only.

    It accepts SMTP on 127.0.0.1:smtp_port from 127.0.0.0/8 and relays every
    message to [127.0.0.1]:relay_port. `milter` (a socket spec) is attached as
    both smtpd_milters and non_smtpd_milters with milter_default_action =
    tempfail. `extra_main_cf` entries override or add main.cf parameters.
    """

    QUEUES = ("maildrop", "incoming", "active", "deferred", "hold", "corrupt")

    def __init__(self, tmpdir, relay_port: int, milter: str | None = None,
                 extra_main_cf: dict | None = None, smtp_port: int | None = None,
                 max_seconds: float | None = None):
        super().__init__()
        self.dir = Path(tmpdir) / "postfix"
        self.etc = self.dir / "etc"
        self.spool = self.dir / "spool"
        self.data = self.dir / "data"
        self.logdir = self.dir / "log"
        self.relay_port = relay_port
        self.milter = milter
        self.extra_main_cf = dict(extra_main_cf or {})
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
            p.update({
                "smtpd_milters": self.milter,
                "non_smtpd_milters": self.milter,
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
            MASTER_CF.format(listen="%s:%d" % (LOOPBACK, self.smtp_port)))

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
            wait_until(self._banner, timeout, what="postfix smtpd banner on %d" % self.smtp_port)
        except TimeoutError as e:
            self.stop()
            raise StartError("%s\nmaillog:\n%s" % (e, tail(self.maillog_path))) from None
        return self

    def _banner(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.smtp_port), timeout=2) as s:
                s.settimeout(2)
                ok = s.recv(512).startswith(b"220")
                s.sendall(b"QUIT\r\n")
                return ok
        except OSError:
            return False

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

    def maillog(self) -> str:
        try:
            return self.maillog_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_maillog(self, pattern: str, timeout: float = 15.0, count: int = 1):
        """Waits until `pattern` (a regex) matches at least `count` maillog lines; returns the matches."""
        rx = re.compile(pattern)

        def found():
            hits = [m for m in map(rx.search, self.maillog().splitlines()) if m]
            return hits if len(hits) >= count else None
        try:
            return wait_until(found, timeout, what="maillog /%s/ x%d" % (pattern, count))
        except TimeoutError as e:
            raise TimeoutError("%s\nmaillog:\n%s" % (e, tail(self.maillog_path))) from None

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
        self.proc = spawn(self.argv(), self.log_path)
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
        s.send(q + b".\r\n")
        code, text = s.getreply()
        r.steps.append(SmtpStep("dot", code, _t(text)))
        code, text = s.docmd("quit")
        r.steps.append(SmtpStep("quit", code, _t(text)))
    except (smtplib.SMTPException, OSError) as e:
        r.steps.append(SmtpStep("error", -1, "%s: %s" % (type(e).__name__, e)))
    finally:
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
