#!/usr/bin/python3
"""throughput.py - end-to-end throughput of Postfix bare, with staffeld, and with OpenDKIM.

Purpose: smtp-source submits N messages (10 parallel sessions, 2 KB, one
  recipient by default) from from@bench.example to a private, loopback-only
  Postfix, which relays them to Postfix's smtp-sink. A run's figure is
  messages per second from the first submission to the last delivery (the
  sink has counted all N and the Postfix queue is empty), plus CPU
  milliseconds per message of the Postfix processes, of the milter and of
  staffeld's Redis, read from /proc.
Modes (--modes, comma-separated; default bare,staffeld-unix,staffeld-inet):
  bare                  no milter
  staffeld-unix         staffeld, minimal policy (pass-through), unix socket;
                        "staffeld" is accepted for it
  staffeld-inet         the same on a loopback TCP socket
  staffeld-quota        staffeld, pass-through plus two [[quota]] limits (a daily
                        quota per sender and a rolling rate per sender domain,
                        both never reached), charged in staffeld's Redis
  staffeld-sender-quota staffeld, pass-through plus one daily quota per sender
  staffeld-ip-rate      staffeld, pass-through plus one rolling rate per client IP
  staffeld-suppress     staffeld, pass-through plus [suppression] (every
                        recipient looked up; none is listed). Before the
                        first run, SUPPRESSED (10,000) entries are written to
                        Redis, none of them a bench recipient
  staffeld-routes       staffeld, pass-through plus two [[stream]] rules and two
                        [[route]]s (the mail is transactional: plain return-path
                        on the in-house route's bounce domain)
  staffeld-stats        staffeld, pass-through plus [stats] (flushed every second)
  staffeld-events       staffeld, pass-through plus [events] (flushed every second)
  staffeld-all          staffeld-rsa plus everything above at once
  staffeld-all-noview   staffeld-all with [suppression] local_view = false: every
                        recipient looked up in Redis (one MGET each)
  staffeld-all-rcpt-domain
                        staffeld-all plus a [[quota]] key = "recipient_domain"
                        rate (never reached), charged in Redis at each RCPT:
                        the round trips per recipient of an exact per-domain
                        throttle next to the local suppression view
  staffeld-rsa          staffeld signing bench.example with RSA-2048
  staffeld-rsa-ed25519  staffeld signing bench.example with RSA-2048 and Ed25519
  staffeld-rsa-stats    staffeld-rsa plus [stats], [events] and [metrics] on
                        (counts and events flushed to Redis every second,
                        Prometheus on a loopback port, scraped after the run)
  opendkim-rsa          Debian's opendkim (-f, own config, unix socket) signing
                        bench.example with the same RSA-2048 key, relaxed/relaxed
  opendkim-postfwd      the stack an admin assembles today: opendkim-rsa plus
                        Debian's postfwd (needs `apt-get install postfwd`) with
                        a per-sender daily rate, asked at RCPT through
                        smtpd_recipient_restrictions = check_policy_service
                        inet:127.0.0.1:PORT. postfwd runs as a private server
                        on a free loopback port with its own rules and pid file
                        in the bench's temporary directory. Its postfwd1 binary
                        is used (one process): postfwd2's policy children exit
                        at start where no syslog socket (/dev/log) is listening.
                        Its CPU is the "policy" column.
  null-milter           tests/bench/null_milter.c (compiled here against Debian's
                        libmilter): every stage but end of message negotiated
                        away, "continue" there - the floor any milter costs
  null-milter-rcpt      the same, built with -DANSWER_RCPT: it also answers
                        each RCPT TO - the floor of a reply per recipient
  The summary gives each mode's median msgs/s and CPU ms/message across all
  processes (Postfix, milter, policy server, Redis) and the throughput ratios
  to bare, to staffeld-rsa and to opendkim-postfwd, where those ran too.
  Every staffeld mode serves Prometheus metrics on a loopback port, scraped
  before and after the measured run: "trips" is staffeld's own count of Redis
  round trips (staffel_redis_round_trips_total) per message.
  Runs are interleaved (bare, unix, ..., bare, ...) and medians are reported,
  since throughput swings with the host's steal time; CPU ms/message is the
  steadier figure to compare. The "scripts" column is Redis's own count
  (INFO commandstats: evalsha + eval calls) per measured message, "cmds"
  every command Redis counted (those scripts run inside it included) per
  message: with statistics on, both grow per flush, not per message. After
  the table, each staffeld mode's median commands per message are listed by
  name (the scripts' own commands included), for --rcpts recipients each.
Signature check: after each measured run, --check messages (20) go through
  the same chain to a capture sink (their recipient domain is routed there
  by transport_maps); each is verified with python3-dkim against the keys'
  public halves. A signing mode whose sample is not fully signed and
  verified counts as a failed run; the table shows signed/verified counts.
Profiles (one of them per invocation; needs Debian's linux-perf; throughput
  under perf is not comparable with a run without it):
  --syscalls            every syscall and context switch of the measured run,
                        counted system-wide by perf record and printed per
                        message by process name (smtpd, cleanup, staffeld,
                        redis-server, ...). Run it at --rcpts 1 and 10: the
                        difference divided by 9 is the cost of one recipient.
  --cycles PCT          perf record -a -g (cpu-clock, 997 Hz) over the measured
                        run; prints the symbols above PCT% of all samples.
                        With STAFFEL_KEEP_TMP=1 the run directory keeps
                        perf.data for perf report --comm NAME.
It is a benchmark, not a test: it prints numbers and exits 0 (1 only if
  no run at all could be measured). Every server runs on 127.0.0.1 or a unix
  socket in a temporary directory and is stopped by PID at the end. Keys are
  made per bench with `openssl genpkey`, mode 0600.

Usage: /usr/bin/python3 tests/bench/throughput.py [--messages 2000]
         [--sessions 10] [--runs 3] [--size 2048] [--rcpts 1] [--warmup 100]
         [--check 20] [--reuse] [--modes bare,staffeld-unix,staffeld-inet]
Environment: STAFFELD (default <repo>/build/staffeld), STAFFEL_KEEP_TMP.
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
import harness  # noqa: E402
from dkim_verify import public_key_record, verify_python_dkim  # noqa: E402

MODES = ("bare", "staffeld-unix", "staffeld-inet", "staffeld-quota", "staffeld-sender-quota",
         "staffeld-ip-rate", "staffeld-suppress", "staffeld-routes", "staffeld-stats",
         "staffeld-events", "staffeld-all", "staffeld-all-noview", "staffeld-all-rcpt-domain",
         "staffeld-rsa",
         "staffeld-rsa-ed25519", "staffeld-rsa-stats", "opendkim-rsa", "opendkim-postfwd", "null-milter",
         "null-milter-rcpt")
ALIASES = {"staffeld": "staffeld-unix"}
DEFAULT_MODES = ("bare", "staffeld-unix", "staffeld-inet")
# The selectors each mode signs with (the key files are named after them).
SIGNS = {"staffeld-rsa": ("rsa",), "staffeld-rsa-ed25519": ("rsa", "ed"),
         "staffeld-rsa-stats": ("rsa",), "staffeld-all": ("rsa",),
         "staffeld-all-noview": ("rsa",), "staffeld-all-rcpt-domain": ("rsa",),
         "opendkim-rsa": ("rsa",),
         "opendkim-postfwd": ("rsa",)}
KEY_ALGORITHMS = {"rsa": ("RSA", "rsa-sha256"), "ed": ("ed25519", "ed25519-sha256")}
DOMAIN = "bench.example"
SENDER = "from@" + DOMAIN  # smtp-source writes "From: <-f address>"
RCPT = "to@example.net"  # with --rcpts N, smtp-source sends to 1to@..., 2to@..., ...
CHECK_RCPT = "to@check.bench.test"  # routed to the capture sink
# Ratios printed when both modes ran (every mode is also compared with bare).
PAIRS = (("staffeld-inet", "staffeld-unix"), ("staffeld-quota", "staffeld-unix"),
         ("staffeld-rsa-stats", "staffeld-rsa"), ("staffeld-rsa", "staffeld-unix"),
         ("staffeld-rsa-ed25519", "staffeld-rsa"), ("staffeld-rsa", "opendkim-rsa"),
         ("staffeld-unix", "null-milter"), ("staffeld-all", "staffeld-rsa"),
         ("null-milter-rcpt", "null-milter"), ("staffeld-all", "staffeld-all-noview"),
         ("staffeld-all", "null-milter-rcpt"), ("staffeld-all-rcpt-domain", "staffeld-all"))
# Reference modes of the summary's ratio columns.
REFERENCES = (("bare", "/bare"), ("staffeld-rsa", "/rsa"), ("opendkim-postfwd", "/stack"))
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- CPU from /proc

def proc_cpu(pid, children=False):
    """utime+stime (and with children=True cutime+cstime) of pid, in seconds."""
    if pid is None:
        return 0.0
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[0] is state (field 3); utime is field 14 -> index 11.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def postfix_cpu(postfix):
    """CPU seconds of a Postfix instance: live processes + what the master reaped."""
    master = postfix.master_pid()
    total = 0.0
    for pid in postfix.pids():
        total += proc_cpu(pid, children=(pid == master))
    return total


# ---------------------------------------------------------------- perf, across processes

PERF_BIN = "/usr/bin/perf"  # Debian's linux-perf


class Perf:
    """perf record -a over one measured run: syscalls and context switches counted one by
    one (--syscalls), or sampled cycles with call graphs (--cycles); figures by process
    name, so Postfix's smtpd and cleanup, staffeld, Redis and the load generator stand
    apart."""

    def __init__(self, args, run_dir):
        self.args = args
        self.data = run_dir / "perf.data"
        self.proc = None

    def start(self):
        if self.args.syscalls:
            events = ["-c", "1", "-e", "raw_syscalls:sys_enter", "--exclude-perf",
                      "-e", "context-switches"]
        else:
            events = ["-F", "997", "-g", "-e", "cpu-clock"]
        self.proc = subprocess.Popen([PERF_BIN, "record", "-q", "-a", "-o", str(self.data)]
                                     + events, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        time.sleep(1.0)  # perf has no ready signal; it opens its counters well within this
        if self.proc.poll() is not None:
            raise RuntimeError("perf record exited: %s"
                               % self.proc.stderr.read().decode(errors="replace")[-300:])
        return self

    def kill(self):
        """Ends a recording whose run failed."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, n):
        """Stops recording; returns {"syscalls"|"cycles": ...} per message."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.communicate(timeout=120)
        if self.args.syscalls:
            out = subprocess.run([PERF_BIN, "script", "-i", str(self.data), "-F", "comm,event"],
                                 capture_output=True, text=True, check=True).stdout
            counts = {}
            for line in out.splitlines():
                if not line.strip():
                    continue
                comm, event = line.strip().rsplit(None, 1)  # "smtpd raw_syscalls:sys_enter:"
                comm = perf_comm(comm)
                event = "cs" if event.startswith("context-switches") else "sys"
                counts[(comm, event)] = counts.get((comm, event), 0) + 1
            return {"syscalls": {k: v / n for k, v in counts.items()}}
        out = subprocess.run([PERF_BIN, "report", "-i", str(self.data), "--stdio",
                              "--no-children", "-g", "none", "--sort", "comm,dso,sym",
                              "--percent-limit", str(self.args.cycles)],
                             capture_output=True, text=True, check=True).stdout
        rows = [line.rstrip() for line in out.splitlines()
                if line.strip() and not line.startswith("#")]
        return {"cycles": rows}


def perf_comm(comm):
    """A process name without the numbers of one instance (redis-server's port, memfd)."""
    return re.sub(r"[-:/ ]?\d+$", "", comm) or comm


# ---------------------------------------------------------------- smtp-sink

class SmtpSink(harness.Server):
    """Postfix's smtp-sink as nobody on a free loopback port; counts messages."""

    def __init__(self, tmpdir):
        super().__init__()
        self.dir = Path(tmpdir) / "smtp-sink"
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.out = self.dir / "counters.out"
        self.log_path = self.dir / "smtp-sink.log"
        self.port = None
        self.proc = None

    def start(self):
        self.port = harness.free_port()
        out = open(self.out, "wb")
        self.proc = harness.spawn(["smtp-sink", "-u", "nobody", "-c",
                                   "%s:%d" % (harness.LOOPBACK, self.port), "256"],
                                  self.log_path, stdout=out)
        out.close()
        self._register("pid", str(self.proc.pid), self.dir)
        harness.wait_until(lambda: harness.tcp_accepts(harness.LOOPBACK, self.port), 10,
                           what="smtp-sink on %d" % self.port)
        return self

    def count(self):
        try:
            data = self.out.read_bytes()[-200:]
        except OSError:
            return 0
        found = re.findall(rb"mesg=(\d+)", data)
        return int(found[-1]) if found else 0

    def stop(self):
        harness.stop_process(self.proc)
        self._unregister()


# ---------------------------------------------------------------- keys and milters

NULL_MILTER_SOURCE = Path(__file__).resolve().parent / "null_milter.c"


class NullMilter(harness.Server):
    """tests/bench/null_milter.c, built with cc against Debian's libmilter, on a unix socket."""

    def __init__(self, tmpdir, answer_rcpt: bool = False):
        super().__init__()
        self.answer_rcpt = answer_rcpt
        self.dir = Path(tmpdir) / "null-milter"
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.binary = self.dir / "null_milter"
        self.socket_path = self.dir / "null.sock"
        self.socket_spec = "unix:%s" % self.socket_path
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        flags = ["-DANSWER_RCPT"] if self.answer_rcpt else []
        subprocess.run(["cc", "-O2", *flags, "-o", str(self.binary), str(NULL_MILTER_SOURCE),
                        "-lmilter", "-pthread"], check=True, capture_output=True, timeout=120)
        self.proc = harness.spawn([str(self.binary), self.socket_spec], self.dir / "log")
        self._register("pid", str(self.proc.pid), self.dir)
        harness.wait_until(lambda: self.socket_path.exists(), 10, what="null milter socket")
        os.chmod(self.socket_path, 0o666)
        return self

    def stop(self):
        harness.stop_process(self.proc)
        self._unregister()


POSTFWD_BIN = "/usr/sbin/postfwd1"

# A per-sender daily rate that the bench never reaches, asked per recipient.
POSTFWD_RULES = """\
id=SENDER_DAILY; protocol_state==RCPT; \
    action=rate(sender/1000000000/86400/450 4.7.1 sender over its daily limit)
"""


class Postfwd(harness.Server):
    """Debian's postfwd (postfwd1 -d) on a free loopback port, rules and pid file in tmpdir.

    postfwd1 detaches itself (Net::Server setsid); its PID is read from the
    pid file it writes, and stop() signals that PID only.
    """

    def __init__(self, tmpdir):
        super().__init__()
        self.dir = Path(tmpdir) / "postfwd"
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o777)  # postfwd writes its pid file as nobody
        self.rules = self.dir / "postfwd.cf"
        self.pid_file = self.dir / "postfwd.pid"
        self.log_path = self.dir / "postfwd.log"
        self.port = None
        self.pid = None

    @property
    def policy_spec(self):
        return "inet:%s:%d" % (harness.LOOPBACK, self.port)

    def start(self):
        if not os.access(POSTFWD_BIN, os.X_OK):
            raise RuntimeError("no postfwd at %s (apt-get install postfwd)" % POSTFWD_BIN)
        self.rules.write_text(POSTFWD_RULES)
        os.chmod(self.rules, 0o644)
        self.port = harness.free_port()
        launcher = harness.spawn([POSTFWD_BIN, "-d", "-P", "-n", "-f", self.rules,
                                  "-i", harness.LOOPBACK, "-p", str(self.port),
                                  "--pidfile", self.pid_file, "-u", "nobody", "-g", "nogroup"],
                                 self.log_path)
        launcher.wait(30)

        def pid_written():
            try:
                return int(self.pid_file.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                return None
        self.pid = harness.wait_until(pid_written, 15, what="postfwd pid file")
        self._register("pid", str(self.pid), self.dir)
        harness.wait_until(lambda: harness.tcp_accepts(harness.LOOPBACK, self.port), 15,
                           what="postfwd on %d" % self.port)
        return self

    def stop(self):
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGTERM)
                deadline = time.monotonic() + 10
                while os.path.exists("/proc/%d" % self.pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if os.path.exists("/proc/%d" % self.pid):
                    os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.pid = None
        self._unregister()


class Keys:
    """One RSA-2048 and one Ed25519 key (PEM, mode 0600) and their TXT records."""

    def __init__(self, tmpdir):
        self.dir = Path(tmpdir) / "keys"
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.paths = {}
        for selector, (openssl_alg, _a) in KEY_ALGORITHMS.items():
            path = self.dir / ("%s.pem" % selector)
            argv = ["openssl", "genpkey", "-algorithm", openssl_alg, "-out", str(path)]
            if openssl_alg == "RSA":
                argv += ["-pkeyopt", "rsa_keygen_bits:2048"]
            subprocess.run(argv, check=True, capture_output=True, timeout=60)
            os.chmod(path, 0o600)
            self.paths[selector] = path
        self.records = {"%s._domainkey.%s" % (s, DOMAIN): public_key_record(p)
                        for s, p in self.paths.items()}


def signing_policy(socket_spec, redis_address, keys, selectors):
    """A minimal policy plus one [[dkim.keys]] table per selector, all for DOMAIN."""
    text = harness.minimal_policy(socket_spec, redis_address)
    for selector in selectors:
        text += "\n".join(["[[dkim.keys]]", 'domain = "%s"' % DOMAIN,
                           'selector = "%s"' % selector,
                           'algorithm = "%s"' % KEY_ALGORITHMS[selector][1],
                           'key = "%s"' % keys.paths[selector], "", ""])
    return text


QUOTAS = """
[[quota]]
name = "bench-daily"
key = "sender"
limit = "1000000000/1d"

[[quota]]
name = "bench-rate"
key = "sender_domain"
limit = "1000000/1s"
"""


SENDER_QUOTA = """
[[quota]]
name = "bench-sender"
key = "sender"
limit = "1000000000/1d"
"""

IP_RATE = """
[[quota]]
name = "bench-ip"
key = "client_ip"
limit = "1000000/1s"
"""

RCPT_DOMAIN_RATE = """
[[quota]]
name = "bench-rcpt-domain"
key = "recipient_domain"
limit = "1000000000/1h"
"""

SUPPRESS = """
[suppression]
enabled = true
"""

ROUTES = """
[routing]
default_stream = "transactional"
default_route = "inhouse"

[[stream]]
name = "bulk"
headers = ["List-Unsubscribe", "Precedence: bulk"]
route = "esp"

[[stream]]
name = "bulk"
senders = ["*@news.bench.example"]
route = "esp"

[[route]]
name = "inhouse"
bounce_domain = "bounce.bench.example"
return_path = "plain"
return_local = "bounces"

[[route]]
name = "esp"
kind = "esp"
bounce_domain = "bounce.esp.bench.example"
return_path = "verp"
fallback = "inhouse"
"""

STATS_ONLY = """
[stats]
enabled = true
tag_headers = ["X-Campaign-Id"]
"""

EVENTS_ONLY = """
[events]
enabled = true
"""

STATS = STATS_ONLY + EVENTS_ONLY

METRICS = """
[metrics]
listen = "127.0.0.1:%d"
"""

# What each staffeld mode adds to the minimal policy (signing keys aside).
EXTRAS = {"staffeld-quota": QUOTAS, "staffeld-sender-quota": SENDER_QUOTA,
          "staffeld-ip-rate": IP_RATE, "staffeld-suppress": SUPPRESS, "staffeld-routes": ROUTES,
          "staffeld-stats": STATS_ONLY, "staffeld-events": EVENTS_ONLY,
          "staffeld-rsa-stats": STATS,
          "staffeld-all": SENDER_QUOTA + IP_RATE + SUPPRESS + ROUTES + STATS,
          "staffeld-all-rcpt-domain": (SENDER_QUOTA + IP_RATE + RCPT_DOMAIN_RATE + SUPPRESS +
                                       ROUTES + STATS),
          "staffeld-all-noview": (SENDER_QUOTA + IP_RATE + SUPPRESS + "local_view = false\n" +
                                  ROUTES + STATS)}
SUPPRESSED = 10000  # entries in Redis for the [suppression] modes


def load_suppressed(redis):
    """SUPPRESSED entries, as staffelctl writes them (stored and announced)."""
    for i in range(SUPPRESSED):
        key = "staffel:s:*:listed%d@elsewhere.example" % i
        redis.command("SET", key, "1|hard_bounce|*|1763640000|0|bench")
        redis.command("XADD", "staffel:suppress:changes", "MAXLEN", "~", "100000", "*", "k", key)


def command_stats(redis):
    """{command: calls so far} from Redis's INFO commandstats, INFO itself left out."""
    text = redis.command("INFO", "commandstats")
    text = text.decode() if isinstance(text, bytes) else str(text)
    return {name: int(n) for name, n in re.findall(r"cmdstat_([a-z|]+):calls=(\d+)", text)
            if name != "info"}


def script_calls(stats):
    """evalsha + eval calls of a command_stats() result."""
    return stats.get("evalsha", 0) + stats.get("eval", 0)


def scrape_metrics(port):
    """Counters of staffeld's /metrics, parsed with prometheus_client."""
    import urllib.request
    from prometheus_client.parser import text_string_to_metric_families
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read()
    values = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            if sample.name.endswith("_total"):
                values[sample.name] = values.get(sample.name, 0) + sample.value
    return values


def start_milter(mode, run_dir, redis, keys):
    """Starts the mode's milter; returns (server or None, uses_redis)."""
    if mode == "bare":
        return None, False
    if mode in ("opendkim-rsa", "opendkim-postfwd"):
        return harness.OpenDkim(run_dir, DOMAIN, "rsa", keys.paths["rsa"]).start(), False
    if mode in ("null-milter", "null-milter-rcpt"):
        return NullMilter(run_dir, answer_rcpt=mode == "null-milter-rcpt").start(), False
    kind = "inet" if mode == "staffeld-inet" else "unix"
    # The socket is the one Staffeld passes with --socket, over the policy's.
    socket_spec = "unix:%s" % (run_dir / "staffeld.sock")
    policy = signing_policy(socket_spec, redis.address, keys, SIGNS.get(mode, ()))
    metrics_port = harness.free_port()
    policy += EXTRAS.get(mode, "") + METRICS % metrics_port
    staffeld = harness.Staffeld(run_dir, policy=policy, socket=kind, redis=redis)
    staffeld.metrics_port = metrics_port
    try:
        staffeld.start()
    except Exception:
        staffeld.stop()
        raise
    return staffeld, True


# ---------------------------------------------------------------- one run

def smtp_source(port, n, sessions, size, timeout, reuse=False, rcpt=RCPT, rcpts=1):
    argv = ["smtp-source", "-c", "-s", str(sessions), "-m", str(n), "-l", str(size),
            *(["-d"] if reuse else []), *(["-r", str(rcpts)] if rcpts > 1 else []),
            "-M", "bench.staffel.test", "-f", SENDER, "-t", rcpt,
            "%s:%d" % (harness.LOOPBACK, port)]
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=timeout)


def wait_delivered(postfix, sink, want, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sink.count() >= want and not postfix.queue_ids_in("incoming", "active", "deferred",
                                                              "maildrop"):
            return time.monotonic()
        time.sleep(0.01)
    raise TimeoutError("only %d of %d messages at the sink after %.0fs; queue %s"
                       % (sink.count(), want, timeout, postfix.queue_ids_in()[:5]))


def check_signatures(args, mode, postfix, capture, keys, timeout):
    """Sends args.check messages to the capture sink; returns (signed, verified).

    signed: messages with a DKIM-Signature for DOMAIN. verified: messages
    whose signatures are exactly the mode's selectors, each verified by
    python3-dkim (for a mode that does not sign: messages with none).
    """
    base = capture.count()
    r = smtp_source(postfix.smtp_port, args.check, min(args.sessions, args.check), args.size,
                    timeout, rcpt=CHECK_RCPT)
    if r.returncode != 0:
        raise RuntimeError("smtp-source (check) exited %d: %s"
                           % (r.returncode, r.stderr.decode()[-500:]))
    messages = capture.wait_for(base + args.check, timeout)[base:]
    want = sorted(SIGNS.get(mode, ()))
    signed = verified = 0
    for message in messages:
        results = [v for v in verify_python_dkim(message.data, keys.records) if v.d == DOMAIN]
        signed += bool(results)
        verified += sorted(v.s for v in results if v.ok) == want and all(v.ok for v in results)
    return signed, verified


def measure(args, run_dir, postfix, sink, milter, redis, uses_redis, timeout, policy=None):
    """Sends args.messages; returns the figures of one run."""
    def cpu():
        return (postfix_cpu(postfix), proc_cpu(milter.pid if milter else None),
                proc_cpu(redis.pid) if uses_redis else 0.0,
                proc_cpu(policy.pid) if policy else 0.0)

    base = sink.count()
    stats0 = command_stats(redis) if uses_redis else {}
    port = getattr(milter, "metrics_port", None)
    metrics0 = scrape_metrics(port) if port else {}
    perf = Perf(args, run_dir).start() if args.syscalls or args.cycles else None
    cpu0 = cpu()
    t0 = time.monotonic()
    try:
        r = smtp_source(postfix.smtp_port, args.messages, args.sessions, args.size, timeout,
                        args.reuse, rcpts=args.rcpts)
        t_submitted = time.monotonic()
        if r.returncode != 0:
            raise RuntimeError("smtp-source exited %d: %s"
                               % (r.returncode, r.stderr.decode()[-500:]))
        t1 = wait_delivered(postfix, sink, base + args.messages, timeout)
    except BaseException:
        if perf:
            perf.kill()
        raise
    cpu1 = cpu()
    n = args.messages
    profile = perf.stop(n) if perf else {}
    stats1 = command_stats(redis) if uses_redis else {}
    by_cmd = {name: (calls - stats0.get(name, 0)) / n for name, calls in stats1.items()
              if calls > stats0.get(name, 0)}
    trips = 0.0
    if port:
        metrics1 = scrape_metrics(port)

        def moved(name):
            return metrics1.get(name, 0) - metrics0.get(name, 0)

        if moved("staffel_messages_total") < n:
            raise RuntimeError("/metrics counted %d of %d messages"
                               % (moved("staffel_messages_total"), n))
        trips = moved("staffel_redis_round_trips_total") / n
    return {
        "scripts": script_calls(by_cmd),
        "cmds": sum(by_cmd.values()),
        "trips": trips,
        "by_cmd": by_cmd,
        "msgs_s": n / (t1 - t0),
        "submit_s": n / (t_submitted - t0),
        "seconds": t1 - t0,
        "cpu_postfix": 1000 * (cpu1[0] - cpu0[0]) / n,
        "cpu_milter": 1000 * (cpu1[1] - cpu0[1]) / n,
        "cpu_redis": 1000 * (cpu1[2] - cpu0[2]) / n,
        "cpu_policy": 1000 * (cpu1[3] - cpu0[3]) / n,
        **profile,
    }


def one_run(args, mode, run_dir, sink, capture, redis, keys):
    """Returns a dict with msgs_s, cpu figures and the signature check; raises on failure."""
    run_dir.mkdir(parents=True)
    os.chmod(run_dir, 0o755)
    milter = None
    postfix = None
    policy = None
    try:
        milter, uses_redis = start_milter(mode, run_dir, redis, keys)
        extra = {"in_flow_delay": "0",
                 "transport_maps": "inline:{ %s=smtp:[%s]:%d }" % (
                     CHECK_RCPT.split("@")[1], harness.LOOPBACK, capture.port)}
        if mode == "opendkim-postfwd":
            policy = Postfwd(run_dir).start()
            extra["smtpd_recipient_restrictions"] = "check_policy_service %s" % policy.policy_spec
        postfix = harness.Postfix(run_dir, sink.port, milter=milter.socket_spec if milter else None,
                                  extra_main_cf=extra)
        postfix.start()
        timeout = max(120.0, args.messages / 10.0)
        if args.warmup:
            base = sink.count()
            smtp_source(postfix.smtp_port, args.warmup, args.sessions, args.size, timeout,
                        args.reuse, rcpts=args.rcpts)
            wait_delivered(postfix, sink, base + args.warmup, timeout)

        result = measure(args, run_dir, postfix, sink, milter, redis, uses_redis, timeout, policy)
        result["signed"], result["verified"] = (
            check_signatures(args, mode, postfix, capture, keys, timeout) if args.check
            else (None, None))
        if isinstance(milter, harness.Staffeld):
            lines = len(milter.message_lines())
            if lines < args.messages:
                raise RuntimeError("staffeld logged %d message lines for %d messages"
                                   % (lines, args.messages))
        if args.check and mode in SIGNS and result["verified"] < args.check:
            raise RuntimeError("only %d of %d sample messages signed, %d verified (want %s)"
                               % (result["signed"], args.check, result["verified"],
                                  "+".join(SIGNS[mode])))
        return result
    finally:
        if postfix:
            postfix.stop()
        if milter:
            milter.stop()
        if policy:
            policy.stop()


# ---------------------------------------------------------------- main

def parse_args():
    ap = argparse.ArgumentParser(
        description="End-to-end throughput through a private Postfix: bare, with staffeld, "
                    "with OpenDKIM.",
        epilog="Prints a table; exits 0. Set STAFFELD to pick the binary.")
    ap.add_argument("--messages", "-m", type=int, default=2000, help="messages per run (2000)")
    ap.add_argument("--sessions", "-s", type=int, default=10, help="parallel SMTP sessions (10)")
    ap.add_argument("--runs", "-r", type=int, default=3, help="runs per mode (3)")
    ap.add_argument("--size", "-l", type=int, default=2048, help="message payload bytes (2048)")
    ap.add_argument("--recipients", "--rcpts", dest="rcpts", metavar="N", type=int, default=1,
                    help="recipients per message (1; smtp-source -r), all in one domain, so "
                         "Postfix delivers each message once")
    ap.add_argument("--warmup", type=int, default=100,
                    help="messages sent before each measured run (100; 0 for none)")
    ap.add_argument("--check", type=int, default=20,
                    help="messages captured and DKIM-verified after each run (20; 0 for none)")
    ap.add_argument("--reuse", action="store_true",
                    help="send many messages per SMTP session (smtp-source -d), so one milter "
                         "connection serves many messages; default: one session per message")
    ap.add_argument("--syscalls", action="store_true",
                    help="count every syscall and context switch of the measured runs with "
                         "perf record -a (Debian's linux-perf) and print them per message by "
                         "process name; throughput under it is not comparable")
    ap.add_argument("--cycles", metavar="PCT", type=float, default=0.0,
                    help="sample CPU with perf record -a -g during the measured runs and print "
                         "each run's symbols above PCT%% of all samples, by process name; "
                         "throughput under it is not comparable")
    ap.add_argument("--modes", "--configs", dest="modes", default=",".join(DEFAULT_MODES),
                    help="comma-separated subset of %s (default %s)"
                         % (",".join(MODES), ",".join(DEFAULT_MODES)))
    args = ap.parse_args()
    modes = [ALIASES.get(m.strip(), m.strip()) for m in args.modes.split(",") if m.strip()]
    args.modes = list(dict.fromkeys(modes))
    bad = [m for m in args.modes if m not in MODES]
    if (bad or not args.modes or args.messages < 1 or args.sessions < 1 or args.runs < 1
            or args.size < 0 or args.check < 0 or args.rcpts < 1):
        ap.error("bad arguments: %s" % (("unknown mode(s) %s" % ",".join(bad)) if bad
                                        else "counts must be positive"))
    if args.syscalls and args.cycles:
        ap.error("--syscalls and --cycles are separate runs: give one")
    if (args.syscalls or args.cycles) and not os.access(PERF_BIN, os.X_OK):
        ap.error("--syscalls and --cycles need %s (apt-get install linux-perf)" % PERF_BIN)
    if os.geteuid() != 0:
        ap.error("run as root (a private Postfix instance needs it)")
    return args


def available_modes(modes):
    """Drops (with a note) the modes whose daemon is not installed or built."""
    keep = []
    for m in modes:
        if m.startswith("staffeld") and not os.access(harness.STAFFELD, os.X_OK):
            print("note: no staffeld at %s; skipping %s" % (harness.STAFFELD, m))
        elif m.startswith("opendkim") and not os.access(harness.OPENDKIM_BIN, os.X_OK):
            print("note: no opendkim at %s; skipping %s" % (harness.OPENDKIM_BIN, m))
        elif m == "opendkim-postfwd" and not os.access(POSTFWD_BIN, os.X_OK):
            print("note: no postfwd at %s (apt-get install postfwd); skipping %s"
                  % (POSTFWD_BIN, m))
        else:
            keep.append(m)
    return keep


def run_all(args, modes, work):
    """The interleaved runs; returns ({mode: [result]}, [failure text])."""
    results = {m: [] for m in modes}
    failures = []
    keys = Keys(work)
    with SmtpSink(work) as sink, harness.Sink(work) as capture, harness.Redis(work) as redis:
        if any("[suppression]" in EXTRAS.get(m, "") for m in modes):
            load_suppressed(redis)
        print()
        print("CPU columns: milliseconds of CPU per message, from /proc (utime+stime)")
        if args.check:
            print("signed, verified: of %d sample messages after each run, how many carry a "
                  "DKIM-Signature for %s, and how many verify (signing modes)"
                  % (args.check, DOMAIN))
        print("%-21s %4s %9s %9s %8s %9s %9s %7s %9s %7s %9s %8s %6s %6s" % (
            "mode", "run", "msgs/s", "submit/s", "seconds", "postfix", "milter", "policy",
            "redis", "signed", "verified", "scripts", "cmds", "trips"))
        for i in range(args.runs):
            for m in modes:
                run_dir = work / ("run%d-%s" % (i + 1, m))
                try:
                    r = one_run(args, m, run_dir, sink, capture, redis, keys)
                except Exception as e:  # noqa: BLE001 - report and go on
                    failures.append("%s run %d: %s" % (m, i + 1, e))
                    print("%-21s %4d  FAILED: %s" % (m, i + 1, str(e).splitlines()[0]))
                    continue
                finally:
                    if not harness.keep_tmp():
                        shutil.rmtree(run_dir, ignore_errors=True)
                results[m].append(r)
                signed = "-" if r["signed"] is None else str(r["signed"])
                verified = "-" if r["signed"] is None or m not in SIGNS else str(r["verified"])
                print("%-21s %4d %9.0f %9.0f %8.2f %9.2f %9.2f %7.2f %9.2f %7s %9s %8.3f %6.2f %6.2f"
                      % (m, i + 1, r["msgs_s"], r["submit_s"], r["seconds"], r["cpu_postfix"],
                         r["cpu_milter"], r["cpu_policy"], r["cpu_redis"], signed, verified,
                         r["scripts"], r["cmds"], r["trips"]), flush=True)
    return results, failures


def report(modes, results, failures):
    """Prints medians and ratios; returns {mode: medians}."""
    med = {}
    print()
    print("%-21s %5s %9s %9s %9s %7s %9s %10s %6s %6s %6s %6s" % (
        "median", "runs", "msgs/s", "postfix", "milter", "policy", "redis", "cpu total",
        "trips", "/bare", "/rsa", "/stack"))
    for m in modes:
        rs = results[m]
        if not rs:
            print("%-21s %5d %9s" % (m, 0, "-"))
            continue
        for r in rs:
            r["cpu_total"] = r["cpu_postfix"] + r["cpu_milter"] + r["cpu_policy"] + r["cpu_redis"]
        med[m] = {k: statistics.median(r[k] for r in rs)
                  for k in ("msgs_s", "cpu_postfix", "cpu_milter", "cpu_policy", "cpu_redis",
                            "cpu_total", "trips")}
    for m in modes:
        if m not in med:
            continue
        ratios = ["%6.2f" % (med[m]["msgs_s"] / med[ref]["msgs_s"]) if ref in med else "%6s" % "-"
                  for ref, _label in REFERENCES]
        print("%-21s %5d %9.0f %9.2f %9.2f %7.2f %9.2f %10.2f %6.2f %s" % (
            m, len(results[m]), med[m]["msgs_s"], med[m]["cpu_postfix"], med[m]["cpu_milter"],
            med[m]["cpu_policy"], med[m]["cpu_redis"], med[m]["cpu_total"], med[m]["trips"],
            " ".join(ratios)))
    print("(/bare, /rsa, /stack: median msgs/s divided by that of bare, staffeld-rsa and "
          "opendkim-postfwd; cpu total: all processes, ms/message)")

    print()
    print("Redis commands per message by name (median of the runs; scripts' own commands "
          "included)")
    for m in modes:
        rs = [r for r in results[m] if r["by_cmd"]]
        if rs:
            names = sorted({name for r in rs for name in r["by_cmd"]})
            print("%-21s %s" % (m, "  ".join(
                "%s %.3f" % (name, statistics.median(r["by_cmd"].get(name, 0.0) for r in rs))
                for name in names)))

    report_profile(modes, results)

    print()
    pairs = [(m, "bare") for m in modes if m != "bare"] + list(PAIRS)
    for a, b in pairs:
        if a in med and b in med:
            print("%-44s throughput %5.2f   extra CPU %+.2f ms/msg" % (
                "%s / %s" % (a, b), med[a]["msgs_s"] / med[b]["msgs_s"],
                med[a]["cpu_total"] - med[b]["cpu_total"]))
    if failures:
        print("\nfailed runs:")
        for f in failures:
            print("  " + f.replace("\n", "\n    "))
    return med


def report_profile(modes, results):
    """With --syscalls: per message, syscalls and context switches by process name (median
    of the runs). With --cycles: each run's hottest symbols."""
    if any("syscalls" in r for m in modes for r in results[m]):
        print()
        print("Syscalls (sys) and context switches (cs) per message by process name, "
              "median of the runs; perf record -a, so the load generator and sinks are in it")
        for m in modes:
            rs = [r["syscalls"] for r in results[m] if "syscalls" in r]
            if not rs:
                continue
            keys = sorted({k for r in rs for k in r})
            med = {k: statistics.median(r.get(k, 0.0) for r in rs) for k in keys}
            comms = sorted({c for c, _ in keys}, key=lambda c: -med.get((c, "sys"), 0.0))
            total = {e: sum(v for (c, ev), v in med.items() if ev == e) for e in ("sys", "cs")}
            print("%-21s total sys %.1f cs %.1f" % (m, total["sys"], total["cs"]))
            for c in comms:
                if med.get((c, "sys"), 0.0) + med.get((c, "cs"), 0.0) >= 0.5:
                    print("    %-24s sys %7.1f   cs %6.1f"
                          % (c, med.get((c, "sys"), 0.0), med.get((c, "cs"), 0.0)))
    for m in modes:
        for i, r in enumerate(results[m]):
            if "cycles" in r:
                print()
                print("CPU samples of %s run %d (perf report --sort comm,dso,sym, "
                      "no children):" % (m, i + 1))
                for row in r["cycles"]:
                    print("    " + row)


def main():
    args = parse_args()
    modes = available_modes(args.modes)
    if not modes:
        print("nothing to measure")
        return 1
    harness.install_signal_cleanup()

    work = harness.make_workdir("staffel-bench-")
    print("Staffel throughput: %d messages x %d B, %d sessions, %d recipient(s), %d run(s) each"
          % (args.messages, args.size, args.sessions, args.rcpts, args.runs))
    print("staffeld: %s   work dir: %s   CPUs: %d" % (harness.STAFFELD, work, os.cpu_count()))
    print("modes: %s   signed domain: %s (From: %s)" % (",".join(modes), DOMAIN, SENDER))
    try:
        results, failures = run_all(args, modes, work)
    finally:
        harness.remove_workdir(work)
    return 0 if report(modes, results, failures) else 1


if __name__ == "__main__":
    sys.exit(main())
