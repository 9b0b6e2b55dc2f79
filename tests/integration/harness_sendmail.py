"""harness_sendmail.py - a private Sendmail 8.17 on loopback, from Debian's .debs.

Purpose: Debian's sendmail-bin conflicts with postfix, so it is never
  installed: `sendmail_tree()` runs `apt-get download sendmail-bin
  sendmail-cf` once per version into a cache directory next to staffeld
  (or $STAFFEL_SENDMAIL_CACHE) and unpacks them with `dpkg -x`. `Sendmail`
  builds a sendmail.cf from a .mc with the unpacked m4 macros plus the lines
  of contrib/sendmail/ (socket and ports substituted), and runs `sendmail
  -bD` (daemon, in the foreground) on a free loopback port with its own
  queue directory, relaying everything to the capture sink.
Isolation: every sendmail process (daemon and command line) runs through
  `unshare --mount --uts` in a namespace of its own where the host name is
  mta.staffel.test and /etc/hosts, /etc/resolv.conf (nameserver 127.0.0.1)
  and /etc/nsswitch.conf (files only) are private copies: Sendmail looks up
  its own name at start (and sleeps a minute when the answer has no dot),
  and nothing may query the off-box resolver. /dev/log in that namespace
  points to a datagram socket in the instance's directory that this module
  reads into `maillog` (there is no syslogd). Nothing touches the system's
  own MTA, /etc or /dev.
Teardown: the daemon by PID (SIGTERM, then SIGKILL), then every process
  left in its mount namespace (queue runners, deliveries) by PID.
Who calls it: harness.py re-exports it; conftest.py's sendmail fixtures.
Errors: StartError with the maillog tail when the daemon does not come up;
  SendmailUnavailable when the .debs cannot be fetched or unpacked.
"""
from __future__ import annotations

import grp
import os
import pwd
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

from harness_core import (LOOPBACK, REPO, STAFFELD, Maillog, Server, StartError, free_port,
                          pid_alive, smtp_greets, spawn, stop_process, tail, wait_until)

CONTRIB_SENDMAIL = REPO / "contrib" / "sendmail"
SENDMAIL_PACKAGES = ("sendmail-bin", "sendmail-cf")
HOSTNAME = "mta.staffel.test"


class SendmailUnavailable(RuntimeError):
    """The Sendmail .debs could not be fetched or unpacked."""


# --------------------------------------------------------------------------
# the unpacked tree


def _candidate_version(package: str) -> str:
    r = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True,
                       timeout=60)
    m = re.search(r"Candidate:\s*(\S+)", r.stdout)
    if not m or m.group(1) == "(none)":
        raise SendmailUnavailable("apt-cache knows no %s (run apt-get update): %s%s"
                                  % (package, r.stdout, r.stderr))
    return m.group(1)


def _deb_name(package: str, version: str, arch: str) -> str:
    # apt-get download names files with the epoch's colon as %3a.
    return "%s_%s_%s.deb" % (package, version.replace(":", "%3a"), arch)


def sendmail_tree(cache: Path | None = None) -> Path:
    """The root of an unpacked sendmail-bin + sendmail-cf, downloaded if missing."""
    cache = Path(os.environ.get("STAFFEL_SENDMAIL_CACHE") or
                 (cache or Path(STAFFELD).resolve().parent / "sendmail-debs"))
    cache.mkdir(parents=True, exist_ok=True)
    os.chmod(cache, 0o755)  # apt-get download runs as _apt
    version = _candidate_version("sendmail-bin")
    root = cache / ("root-" + version.replace(":", "_"))
    stamp = root / ".unpacked"
    if stamp.exists():
        return root
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    debs = [cache / _deb_name("sendmail-bin", version, arch),
            cache / _deb_name("sendmail-cf", version, "all")]
    missing = [p for p in SENDMAIL_PACKAGES
               if not any(d.name.startswith(p + "_") and d.exists() for d in debs)]
    if missing:
        r = subprocess.run(["apt-get", "download", "-o", "APT::Sandbox::User=root",
                            *("%s=%s" % (p, version) for p in missing)],
                           cwd=cache, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise SendmailUnavailable("apt-get download %s failed: %s%s"
                                      % (" ".join(missing), r.stdout, r.stderr))
    tmp = root.with_name(root.name + ".tmp")
    subprocess.run(["rm", "-rf", str(tmp)], check=True)
    for deb in debs:
        if not deb.exists():
            raise SendmailUnavailable("no %s after apt-get download" % deb)
        subprocess.run(["dpkg", "-x", str(deb), str(tmp)], check=True, timeout=120)
    (tmp / ".unpacked").write_text(version + "\n")
    subprocess.run(["rm", "-rf", str(root)], check=True)
    os.rename(tmp, root)
    return root


# --------------------------------------------------------------------------
# the namespace wrapper and the syslog capture

NAMESPACE_SH = """\
# Runs "$@" in the caller's fresh mount + UTS namespace (unshare) with a
# private host name, resolver, name-service switch and /dev/log.
set -e
d=$1; shift
hostname {hostname}
mount --bind "$d/etc/hosts" /etc/hosts
mount --bind "$d/etc/resolv.conf" /etc/resolv.conf
mount --bind "$d/etc/nsswitch.conf" /etc/nsswitch.conf
mkdir -p "$d/hostdev"
mount --rbind /dev "$d/hostdev"
mount -t tmpfs -o mode=0755 tmpfs /dev
for n in null zero random urandom full tty; do
  : > "/dev/$n"
  mount --bind "$d/hostdev/$n" "/dev/$n"
done
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
ln -s "$d/log.sock" /dev/log
umount -l "$d/hostdev"
exec "$@"
"""

HOSTS = "127.0.0.1 %s mta localhost\n::1 %s localhost ip6-localhost\n" % (HOSTNAME, HOSTNAME)
RESOLV_CONF = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
NSSWITCH = ("passwd: files\ngroup: files\nshadow: files\nhosts: files\nnetworks: files\n"
            "services: files\nprotocols: files\n")


class SyslogCapture:
    """A unix datagram socket that appends every syslog message to a file."""

    def __init__(self, sock_path: Path, log_path: Path):
        self.sock_path, self.log_path = Path(sock_path), Path(log_path)
        self._sock = None
        self._thread = None
        self._stop = threading.Event()

    def start(self):
        try:
            self.sock_path.unlink()
        except FileNotFoundError:
            pass
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self.sock_path))
        os.chmod(self.sock_path, 0o666)
        self._sock.settimeout(0.2)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        with open(self.log_path, "ab", buffering=0) as f:
            while not self._stop.is_set():
                try:
                    data = self._sock.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                # "<22>Dec  4 16:49:06 sendmail[2071]: ..." -> without the priority
                f.write(re.sub(rb"^<\d+>", b"", data).rstrip(b"\n") + b"\n")

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(2)
        if self._sock:
            self._sock.close()
            self._sock = None


# --------------------------------------------------------------------------
# Sendmail

BASE_MC = """\
divert(-1)
# sendmail.mc of a throw-away Sendmail instance (written by harness_sendmail.py).
divert(0)dnl
VERSIONID(`staffel test instance')dnl
OSTYPE(`linux')dnl
define(`confDOMAIN_NAME', `{hostname}')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`QUEUE_DIR', `{dir}/mqueue')dnl
define(`confPID_FILE', `{dir}/sendmail.pid')dnl
define(`STATUS_FILE', `{dir}/statistics')dnl
define(`ALIAS_FILE', `{dir}/etc/aliases')dnl
define(`confCW_FILE', `{dir}/etc/local-host-names')dnl
define(`confSERVICE_SWITCH_FILE', `{dir}/etc/service.switch')dnl
define(`confHOSTS_FILE', `{dir}/etc/hosts')dnl
define(`confLOG_LEVEL', `14')dnl
define(`confMILTER_LOG_LEVEL', `14')dnl
define(`confTO_QUEUERETURN', `1h')dnl
define(`confTO_QUEUEWARN', `30m')dnl
define(`confMIN_QUEUE_AGE', `0')dnl
define(`confPRIVACY_FLAGS', `authwarnings')dnl
define(`confDONT_BLAME_SENDMAIL', `GroupWritableDirPathSafe, TrustStickyBit')dnl
define(`SMART_HOST', `relay:[127.0.0.1]')dnl
define(`RELAY_MAILER_ARGS', `TCP $h {relay_port}')dnl
FEATURE(`no_default_msa')dnl
FEATURE(`nocanonify')dnl
FEATURE(`accept_unresolvable_domains')dnl
FEATURE(`accept_unqualified_senders')dnl
DAEMON_OPTIONS(`Port={smtp_port}, Addr=127.0.0.1, Name=MTA')dnl
"""


SUBMIT_MC = """\
divert(-1)
# submit.mc of a throw-away Sendmail instance (written by harness_sendmail.py).
divert(0)dnl
VERSIONID(`staffel test submission')dnl
define(`confCF_VERSION', `Submit')dnl
define(`__OSTYPE__',`')dnl
define(`confDOMAIN_NAME', `{hostname}')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`confSERVICE_SWITCH_FILE', `{dir}/etc/service.switch')dnl
define(`confHOSTS_FILE', `{dir}/etc/hosts')dnl
define(`confLOG_LEVEL', `14')dnl
define(`confDONT_BLAME_SENDMAIL', `GroupWritableDirPathSafe, TrustStickyBit')dnl
define(`MSP_QUEUE_DIR', `{dir}/clientmqueue')dnl
define(`confPID_FILE', `{dir}/clientmqueue/sm-client.pid')dnl
define(`confDELIVERY_MODE', `i')dnl
define(`confRUN_AS_USER', `nobody:nogroup')dnl
define(`confTRUSTED_USER', `root')dnl
define(`RELAY_MAILER_ARGS', `TCP $h {msp_port}')dnl
FEATURE(`msp', `[127.0.0.1]')dnl
"""


def contrib_mc(name: str = "staffel.mc") -> str:
    return (CONTRIB_SENDMAIL / name).read_text()


class Sendmail(Server, Maillog):
    """A private Sendmail daemon: own cf, queue and log, loopback only.

    relay_port: the sink every message goes to (SMART_HOST [127.0.0.1] via the
      relay mailer on that port).
    milter: staffeld's socket spec; the INPUT_MAIL_FILTER and macro lines of
      contrib/sendmail/staffel.mc are used with S= set to it. None: no filter.
    esp_port: also use contrib/sendmail/staffel-route.m4 with its ESP relay
      set to [127.0.0.1]:esp_port and its bounce domain to esp_bounce_domain.
    extra_mc: more .mc lines, appended before MAILER(smtp).
    """

    def __init__(self, tmpdir, relay_port: int, milter: str | None = None,
                 extra_mc: str = "", esp_port: int | None = None,
                 esp_bounce_domain: str = "bounce.esp.test",
                 queue_interval: str = "30s", msp: bool = False, max_seconds: float | None = None):
        super().__init__()
        self.dir = Path(tmpdir) / "sendmail"
        self.queue_interval = queue_interval
        self.msp_port = free_port() if msp else None
        self.client_queue = self.dir / "clientmqueue"
        self.submit_mc_path = self.dir / "submit.mc"
        self.submit_cf_path = self.dir / "submit.cf"
        self.etc = self.dir / "etc"
        self.queue = self.dir / "mqueue"
        self.cf_path = self.dir / "sendmail.cf"
        self.mc_path = self.dir / "sendmail.mc"
        self.maillog_path = self.dir / "maillog"
        self.relay_port = relay_port
        self.milter = milter
        self.extra_mc = extra_mc
        self.esp_port = esp_port
        self.esp_bounce_domain = esp_bounce_domain
        self.smtp_port = None
        self.proc = None
        self.mnt_ns = None
        self.tree = None
        self._syslog = None
        if max_seconds:
            self.max_seconds = max_seconds

    # ---- configuration

    @property
    def binary(self) -> Path:
        return self.tree / "usr" / "libexec" / "sendmail" / "sendmail"

    def mc(self) -> str:
        text = BASE_MC.format(hostname=HOSTNAME, dir=self.dir, relay_port=self.relay_port,
                              smtp_port=self.smtp_port)
        if self.milter:
            filt = contrib_mc("staffel.mc")
            filt, n = re.subn(r"S=unix:/run/staffel/staffeld\.sock", "S=%s" % self.milter, filt)
            assert n == 1, "contrib/sendmail/staffel.mc has no S=unix:/run/staffel/staffeld.sock"
            text += filt
        if self.esp_port:
            route = contrib_mc("staffel-route.m4")
            route = route.replace("bounce.esp.example.com", self.esp_bounce_domain)
            route = route.replace("[esp-relay.example.net]", "[%s]" % LOOPBACK)
            route, n = re.subn(r"TCP \$h 587", "TCP $h %d" % self.esp_port, route)
            assert n == 1, "contrib/sendmail/staffel-route.m4 has no A=TCP $h 587"
            text += route
        if self.msp_port:
            msp = contrib_mc("staffel-msp.m4")
            msp, n = re.subn(r"Port=10587", "Port=%d" % self.msp_port, msp)
            assert n == 1, "contrib/sendmail/staffel-msp.m4 has no Port=10587"
            text += msp
        text += self.extra_mc
        text += "MAILER(`smtp')dnl\n"
        return text

    def submit_mc(self) -> str:
        """The mail submission program's .mc: relay to the MTA's MSP daemon."""
        return SUBMIT_MC.format(hostname=HOSTNAME, dir=self.dir, msp_port=self.msp_port)

    def write_config(self):
        if self.tree is None:
            self.tree = sendmail_tree()
        for d in (self.dir, self.etc):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o755)
        self.queue.mkdir(exist_ok=True)
        os.chmod(self.queue, 0o700)
        if self.smtp_port is None:
            self.smtp_port = free_port()
        (self.etc / "hosts").write_text(HOSTS)
        (self.etc / "resolv.conf").write_text(RESOLV_CONF)
        (self.etc / "nsswitch.conf").write_text(NSSWITCH)
        (self.etc / "service.switch").write_text("hosts files\naliases files\n")
        (self.etc / "aliases").write_text("")
        (self.etc / "local-host-names").write_text("")
        (self.dir / "statistics").write_text("")
        (self.dir / "namespace.sh").write_text(NAMESPACE_SH.format(hostname=HOSTNAME))
        self.mc_path.write_text(self.mc())
        self._m4(self.mc_path, self.cf_path)
        if self.msp_port:
            self.client_queue.mkdir(exist_ok=True)
            os.chmod(self.client_queue, 0o770)
            nobody = pwd.getpwnam("nobody")
            os.chown(self.client_queue, nobody.pw_uid, grp.getgrnam("nogroup").gr_gid)
            (self.client_queue / "sm-client.st").write_text("")
            os.chown(self.client_queue / "sm-client.st", nobody.pw_uid, -1)
            self.submit_mc_path.write_text(self.submit_mc())
            self._m4(self.submit_mc_path, self.submit_cf_path)

    def _m4(self, mc: Path, cf: Path):
        cfdir = self.tree / "usr" / "share" / "sendmail" / "cf"
        r = subprocess.run(["m4", "-D_CF_DIR_=%s/" % cfdir, str(cfdir / "m4" / "cf.m4"),
                            str(mc)], capture_output=True, timeout=60)
        if r.returncode != 0 or r.stderr.strip():
            raise StartError("m4 %s failed (%d): %s" % (mc, r.returncode,
                                                       r.stderr.decode(errors="replace")))
        cf.write_bytes(r.stdout)

    def wrapped(self, *args, cf: Path | None = None) -> list:
        """argv running this instance's sendmail with args inside a private namespace."""
        return ["unshare", "--mount", "--uts", "--propagation", "private", "sh",
                str(self.dir / "namespace.sh"), str(self.dir), str(self.binary),
                "-C", str(cf or self.cf_path), *args]

    # ---- life cycle

    def start(self, timeout: float = 30.0):
        self.write_config()
        self._syslog = SyslogCapture(self.dir / "log.sock", self.maillog_path)
        self._syslog.start()
        # -bD: daemon in the foreground; -q30s: a queue run every 30 s.
        self.proc = spawn(self.wrapped("-bD", "-q%s" % self.queue_interval), self.dir / "sendmail.out",
                          detached=self.detached)
        self._register("pid", str(self.proc.pid), self.dir)
        try:
            state = wait_until(lambda: self._banner() or
                               ("exited" if self.proc.poll() is not None else False),
                               timeout, what="sendmail banner on %d" % self.smtp_port)
            if state == "exited":
                raise TimeoutError("sendmail exited with %s" % self.proc.returncode)
        except TimeoutError as e:
            self.stop()
            raise StartError("%s\n%s\nmaillog:\n%s" % (e, tail(self.dir / "sendmail.out"),
                                                       tail(self.maillog_path))) from None
        self.mnt_ns = _mnt_ns(self.proc.pid)
        return self

    def _banner(self) -> bool:
        return smtp_greets(self.smtp_port)

    def pids(self) -> list:
        """Every process in this instance's mount namespace (daemon and children)."""
        if not self.mnt_ns:
            return []
        out = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid() and _mnt_ns(int(entry)) == self.mnt_ns:
                out.append(int(entry))
        return out

    def stop(self, timeout: float = 15.0):
        left = self.pids()
        stop_process(self.proc, timeout=timeout)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(pid_alive(p) for p in left):
            time.sleep(0.1)
        for pid in left:
            if pid_alive(pid):
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
        if self._syslog:
            self._syslog.stop()
            self._syslog = None
        self._unregister()

    # ---- inspection and submission

    def run(self, *args, input: bytes | None = None, timeout: float = 60.0,
            cf: Path | None = None):
        """Runs this instance's sendmail binary (its cf) with args; CompletedProcess."""
        return subprocess.run(self.wrapped(*args, cf=cf), input=input, capture_output=True,
                              timeout=timeout)

    def mailq(self, quarantined: bool = False) -> str:
        """`mailq` (sendmail -bp), or with quarantined `mailq -qQ`: its output."""
        r = self.run("-bp", *(["-qQ"] if quarantined else []))
        return r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")

    def queue_files(self, prefix: str = "qf") -> list:
        """Names of the queue's control files: qf (queued), hf (quarantined), ..."""
        return sorted(p.name for p in self.queue.iterdir() if p.name.startswith(prefix))

    def submit(self, msg: bytes, *args, timeout: float = 60.0):
        """`sendmail -t -oi` (and args) reading msg, as the mail submission program
        (submit.cf): it hands the message to the MTA's MSP daemon over SMTP."""
        assert self.msp_port, "Sendmail(msp=True) for submissions"
        return self.run("-t", "-oi", *args, input=msg, timeout=timeout, cf=self.submit_cf_path)

    def client_queue_files(self) -> list:
        return sorted(p.name for p in self.client_queue.iterdir() if p.name.startswith("qf"))

    def __repr__(self):
        return "Sendmail(%s port=%s pid=%s)" % (self.dir, self.smtp_port,
                                                self.proc.pid if self.proc else None)


def _mnt_ns(pid: int):
    try:
        return os.readlink("/proc/%d/ns/mnt" % pid)
    except OSError:
        return None
