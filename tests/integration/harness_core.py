"""harness_core.py - shared pieces of the test harness: processes, ports, Redis, the sink.

Purpose: utilities (free loopback ports, work directories, bounded waits,
  spawning and stopping processes by PID), the `Server` base class with its
  registry, atexit hook and watchdog, and the two simple servers: `Redis`
  and the capture `Sink` (tests/integration/sink.py).
Who calls it: harness.py re-exports everything; import from there.
Errors: StartError when a server does not come up, TimeoutError from waits.
"""
from __future__ import annotations

import atexit
import ctypes
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PYTHON = "/usr/bin/python3"
STAFFELD = os.environ.get("STAFFELD", str(REPO / "build" / "staffeld"))
# staffelctl: $STAFFELCTL, else the one next to staffeld (so a sanitizer
# build tests its own).
STAFFELCTL = os.environ.get("STAFFELCTL", str(Path(STAFFELD).with_name("staffelctl")))
LOOPBACK = "127.0.0.1"
DEFAULT_MAX_SECONDS = float(os.environ.get("STAFFEL_MAX_SECONDS", "1800"))


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


def close_workdir(path: Path, servers, failed: bool, title: str = "staffel test directory",
                  lines: int = 60) -> None:
    """Ends a test directory: on failure, the tail of each server's logs on
    stderr; then every server in `servers` stopped (newest first), and the
    directory removed."""
    if failed:
        report = ["", "=== %s: %s" % (title, path)]
        for s in servers:
            for attr in ("log_path", "maillog_path"):
                log = getattr(s, attr, None)
                if log is not None:
                    report.append("--- %r %s (tail):\n%s" % (s, log, tail(log, lines)))
        sys.stderr.write("\n".join(report) + "\n")
    for s in reversed(servers):
        try:
            s.stop()
        except Exception as e:  # noqa: BLE001
            sys.stderr.write("stopping %r: %s\n" % (s, e))
    remove_workdir(path)


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


def smtp_greets(port: int) -> bool:
    """Does an SMTP server on 127.0.0.1:port answer with a 220 greeting?"""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=2) as s:
            s.settimeout(2)
            ok = s.recv(512).startswith(b"220")
            s.sendall(b"QUIT\r\n")
            return ok
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


def proc_start_time(pid: int):
    """A process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _pdeathsig():
    # Runs in the child between fork and exec: die with the parent.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def spawn(argv, log_path, env=None, stdout=None, detached: bool = False) -> subprocess.Popen:
    """Starts a server process in its own session, output appended to log_path.

    Unless detached, the process gets SIGTERM when this process dies.
    """
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(
            [str(a) for a in argv], stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else log, stderr=log,
            env=env, start_new_session=True, preexec_fn=None if detached else _pdeathsig,
            close_fds=True)
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
    # The parent's start time goes along: a watchdog that starts after a
    # quick death of its parent must still see that the parent is gone.
    argv = [PYTHON, HERE / "watchdog.py", "--parent", str(os.getpid()),
            "--parent-start", str(proc_start_time(os.getpid())),
            "--max-seconds", str(max_seconds), "--" + kind, target]
    if kind == "pid":
        argv += ["--pid-start", str(proc_start_time(int(target)))]
    return subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=open(Path(logdir) / "watchdog.log", "ab"),
                            start_new_session=True, close_fds=True)


class Maillog:
    """maillog() and wait_maillog() for an MTA whose log is self.maillog_path."""

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


class Server:
    """Base: context manager, registry, watchdog.

    Set `detached = True` before start() for a server that must outlive this
    process (the quick-start demo's --keep): no watchdog, no PDEATHSIG, no
    atexit stop. Then the caller owns its PIDs.
    """

    max_seconds = DEFAULT_MAX_SECONDS
    detached = False

    def __init__(self):
        self._watchdog = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def _register(self, kind: str, target: str, logdir):
        if self.detached:
            return
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

    def __init__(self, tmpdir, unixsocket: bool = False, max_seconds: float | None = None,
                 extra_args=()):
        super().__init__()
        self.extra_args = [str(a) for a in extra_args]  # e.g. ["--replicaof", host, port]
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
        fixed = self.port  # restart() keeps the port clients know
        for _ in range(3):  # a free port can be taken between probe and bind
            port = fixed or free_port()
            argv = ["redis-server", "--port", port, "--bind", LOOPBACK, "--save", "",
                    "--appendonly", "no", "--daemonize", "no", "--dir", self.dir,
                    "--protected-mode", "yes"]
            if self.unixsocket:
                argv += ["--unixsocket", self.unixsocket, "--unixsocketperm", "777"]
            argv += self.extra_args
            self.proc = spawn(argv, self.log_path, detached=self.detached)
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
        self.port = fixed
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
        self.proc = spawn(argv, self.log_path, stdout=subprocess.PIPE, detached=self.detached)
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
