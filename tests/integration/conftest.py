"""conftest.py - pytest fixtures for Staffel's integration tests.

Each test gets its own directory under /tmp (mode 0755, removed afterwards
unless STAFFEL_KEEP_TMP is set) and its own servers on free loopback ports
or unix sockets in that directory; fixtures stop them by PID in teardown,
also when the test fails. When a test fails, the logs of its servers are
printed into the report.

Fixtures:
  workdir               the per-test directory (pathlib.Path)
  redis                 harness.Redis, running
  sink                  harness.Sink, running
  staffeld              harness.Staffeld on a unix socket with the minimal
                        policy, running, connected to `redis`
  staffeld_factory      staffeld_factory(policy=None, socket="unix", start=True, ...)
  postfix_factory       postfix_factory(milter=None|spec, extra_main_cf={}, start=True,
                        extra_master_cf="")
  postfix_with_staffeld (postfix, staffeld, sink): the whole chain
  postfix_bare          Postfix relaying to `sink`, no milter
  sendmail_factory      sendmail_factory(milter=None|spec, esp_port=None, msp=False,
                        queue_interval="30s", extra_mc="", start=True): a private
                        Sendmail 8.17 (Debian's .debs, unpacked) relaying to `sink`

Run one file with: /usr/bin/python3 -m pytest -q tests/integration/test_foo.py
"""
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def pytest_configure(config):
    harness.install_signal_cleanup()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request) -> bool:
    for when in ("setup", "call"):
        rep = getattr(request.node, "rep_" + when, None)
        if rep is not None and rep.failed:
            return True
    return False


@pytest.fixture
def workdir(request):
    # Only [A-Za-z0-9_-]: Postfix's scripts cannot cope with spaces in paths.
    d = harness.make_workdir("staffel-%s-" % re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name[:40]))
    servers = []
    request.node.staffel_servers = servers
    yield d
    # Servers made by fixtures are already stopped (fixture teardown runs
    # first); anything a test started itself and left running is stopped here.
    harness.close_workdir(d, servers, _failed(request))


def _track(request, server):
    servers = getattr(request.node, "staffel_servers", None)
    if servers is not None:
        servers.append(server)
    return server


@pytest.fixture
def redis(request, workdir):
    r = _track(request, harness.Redis(workdir))
    r.start()
    yield r
    r.stop()


@pytest.fixture
def sink(request, workdir):
    s = _track(request, harness.Sink(workdir))
    s.start()
    yield s
    s.stop()


def _require_staffeld():
    if not os.access(harness.STAFFELD, os.X_OK):
        pytest.fail("no staffeld binary at %s: build it (cmake --build build) or set STAFFELD"
                    % harness.STAFFELD)


@pytest.fixture
def staffeld_factory(request, workdir, redis):
    """staffeld_factory(policy=None, socket="unix", start=True, subdir=None, **kw)."""
    _require_staffeld()
    made = []

    def make(policy=None, socket="unix", start=True, subdir=None, **kw):
        d = workdir
        if subdir or made:
            d = workdir / (subdir or "staffeld%d" % len(made))
            d.mkdir(exist_ok=True)
            os.chmod(d, 0o755)
        kw.setdefault("redis", redis)
        s = _track(request, harness.Staffeld(d, policy=policy, socket=socket, **kw))
        made.append(s)
        if start:
            s.start()
        return s
    yield make
    for s in reversed(made):
        s.stop()


@pytest.fixture
def staffeld(staffeld_factory):
    return staffeld_factory()


@pytest.fixture
def postfix_factory(request, workdir, sink):
    """postfix_factory(milter=None, extra_main_cf=None, start=True, extra_master_cf="")
    relaying to `sink`."""
    made = []

    def make(milter=None, extra_main_cf=None, start=True, extra_master_cf=""):
        d = workdir if not made else workdir / ("pf%d" % len(made))
        d.mkdir(exist_ok=True)
        os.chmod(d, 0o755)
        p = _track(request, harness.Postfix(d, sink.port, milter=milter,
                                            extra_main_cf=extra_main_cf,
                                            extra_master_cf=extra_master_cf))
        made.append(p)
        if start:
            p.start()
        return p
    yield make
    for p in reversed(made):
        p.stop()


@pytest.fixture
def postfix_bare(postfix_factory):
    return postfix_factory()


@pytest.fixture
def postfix_with_staffeld(postfix_factory, staffeld, sink):
    """(postfix, staffeld, sink): Postfix -> staffeld (unix socket) -> sink."""
    p = postfix_factory(milter=staffeld.socket_spec)
    return p, staffeld, sink


@pytest.fixture
def sendmail_factory(request, workdir, sink):
    """sendmail_factory(milter=None, start=True, **kw) relaying to `sink` (harness.Sendmail)."""
    made = []

    def make(milter=None, start=True, **kw):
        d = workdir if not made else workdir / ("sm%d" % len(made))
        d.mkdir(exist_ok=True)
        os.chmod(d, 0o755)
        try:
            s = harness.Sendmail(d, sink.port, milter=milter, **kw)
            if start:
                s.tree = harness.sendmail_tree()
        except harness.SendmailUnavailable as e:
            pytest.fail("Sendmail is needed for this test: %s" % e)
        _track(request, s)
        made.append(s)
        if start:
            s.start()
        return s
    yield make
    for s in reversed(made):
        s.stop()
