"""harness_opendkim.py - Debian's OpenDKIM as a signing milter, for comparisons (see harness.py).

Purpose: `OpenDkim` runs /usr/sbin/opendkim in the foreground (-f) from its
  own opendkim.conf in a temporary directory, on a unix socket there, signing
  one domain with one key (Mode s, relaxed/relaxed by default). Every
  loopback client is an internal host, so all mail that Postfix hands it is
  signed. It is the yardstick staffeld's signing is measured against
  (tests/bench/throughput.py).
Logging: Syslog no - nothing goes to the system log; start-up errors land on
  stderr, which is appended to tmpdir/opendkim/opendkim.log.
Keys: RequireSafeKeys is off because the work directories live under /tmp,
  which OpenDKIM counts as unsafe (others may write there); the key file
  itself should still be mode 0600.
Privileges: no UserID, so it stays root; it opens no network sockets and, in
  sign mode, makes no DNS queries.
Errors: StartError (with the log tail) when it exits or its socket does not
  accept connections in time. Stopped by PID (SIGTERM).
"""
from __future__ import annotations

import os
from pathlib import Path

from harness_core import Server, StartError, spawn, spec_accepts, stop_process, tail, wait_until

OPENDKIM_BIN = "/usr/sbin/opendkim"


class OpenDkim(Server):
    """opendkim -f signing `domain` with `key_path` as selector `selector`."""

    def __init__(self, tmpdir, domain: str, selector: str, key_path,
                 canonicalization: str = "relaxed/relaxed",
                 internal_hosts: str = "127.0.0.0/8", binary: str = OPENDKIM_BIN,
                 max_seconds: float | None = None):
        super().__init__()
        self.dir = Path(tmpdir) / "opendkim"
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.binary = binary
        self.domain = domain
        self.selector = selector
        self.key_path = Path(key_path)
        self.canonicalization = canonicalization
        self.internal_hosts = internal_hosts
        self.config_path = self.dir / "opendkim.conf"
        self.log_path = self.dir / "opendkim.log"
        self.socket_path = self.dir / "opendkim.sock"
        self.socket_spec = "unix:%s" % self.socket_path
        self.proc = None
        if max_seconds:
            self.max_seconds = max_seconds

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def config_text(self) -> str:
        settings = [
            ("Syslog", "no"),
            ("Mode", "s"),
            ("Domain", self.domain),
            ("Selector", self.selector),
            ("KeyFile", self.key_path),
            ("Canonicalization", self.canonicalization),
            ("SignatureAlgorithm", "rsa-sha256"),
            ("InternalHosts", "csl:%s" % self.internal_hosts),
            ("Socket", "local:%s" % self.socket_path),
            ("UMask", "000"),  # the socket must be writable for Postfix's smtpd
            ("RequireSafeKeys", "no"),
        ]
        head = "# opendkim.conf of a throw-away signing instance (written by harness_opendkim.py)\n"
        return head + "".join("%-20s %s\n" % (k, v) for k, v in settings)

    def start(self, timeout: float = 15.0):
        if not os.access(self.binary, os.X_OK):
            raise StartError("no opendkim at %s (apt-get install opendkim)" % self.binary)
        self.config_path.write_text(self.config_text())
        os.chmod(self.config_path, 0o644)
        self.proc = spawn([self.binary, "-f", "-x", self.config_path], self.log_path,
                          detached=self.detached)
        self._register("pid", str(self.proc.pid), self.dir)

        def up():
            if self.proc.poll() is not None:
                return "exited"
            return spec_accepts(self.socket_spec)
        try:
            state = wait_until(up, timeout, what="opendkim socket %s" % self.socket_path)
        except TimeoutError as e:
            self.stop()
            raise StartError("%s\nopendkim log:\n%s" % (e, tail(self.log_path))) from None
        if state == "exited":
            code = self.proc.returncode
            self.stop()
            raise StartError("opendkim exited with %s:\n%s" % (code, tail(self.log_path)))
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        stop_process(self.proc, timeout=15)
        self._unregister()

    def __repr__(self):
        return "OpenDkim(%s pid=%s)" % (self.socket_path, self.pid)
