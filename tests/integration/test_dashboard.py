"""The read-only dashboard (`staffelctl web`) through real Postfix, staffeld, Redis and Chromium.

One module-wide site: Redis, the capture sink, staffeld with [stats] and
[events] (the policy of test_stats.py plus a refusing quota, two routes and
[web] token_file) and Postfix. A run of mixed mail goes through it: accepted,
held, deferred and refused by quota, a suppressed recipient, two tags, bulk
mail by a route that is down (its fallback takes it), a hostile sender and
tag; then a DSN and an ARF report are ingested and an unsubscribe is added.

Then `staffelctl web --listen 127.0.0.1:PORT` serves it:
  - the API answers 401 without the token and 200 with it (Bearer or Basic);
    listening beyond loopback without a token_file is refused at start;
  - headless Chromium (Selenium; the token sent by CDP
    Network.setExtraHTTPHeaders) visits every section: the numbers shown are
    those of `staffelctl stats --json --since 24h` (and of `quota show`,
    `suppress list`, `route list` and the event stream in Redis), every chart
    canvas has pixels, the browser log has no errors, every request stayed
    on 127.0.0.1, and a screenshot of each section lands in
    $STAFFEL_TEST_OUTPUT or build/test-output/dashboard/;
  - hostile values (a sender with an <img onerror> local part, a tag with
    <script>) are shown as text and run nothing.
The browser parts are skipped when /usr/bin/chromedriver is missing.
"""
from __future__ import annotations

import base64
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

import harness
import harness_browser
from test_stats import QUOTAS, reports, send, stats_policy

TOKEN = "dash-" + secrets.token_hex(16)
# '/' instead of spaces: HTML takes it as the separator of attributes, and
# staffeld keeps it as is (it writes a space in a sender as %20).
XSS_SENDER = '"<img/src=x/onerror=window.__xss=1>"@xss.example'
XSS_TAG = "<script>window.__xss=1</script>"
SECTIONS = ("overview", "senders", "tags", "suppression", "routes", "events")
CHARTS = {"overview": "overview-chart", "senders": "senders-chart", "routes": "routes-chart"}
INT_FIELDS = ("messages", "recipients", "held", "refused", "deferred", "recipients_refused",
              "bounces", "complaints", "unsubscribes")
RATE_FIELDS = ("bounce_rate", "complaint_rate")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")

# test_stats.py's quotas and bulk stream; the bulk stream leaves by the
# "esp" route, which falls back to "inhouse"; d.example's second message is
# refused (5xx) by quota. return_path = "keep": Postfix still relays to the
# sink, only the statistics see the routes.
EXTRA = QUOTAS.replace('headers = ["List-Unsubscribe"]\n',
                       'headers = ["List-Unsubscribe"]\nroute = "esp"\n') + '''
[[quota]]
name = "refuse-d"
key = "sender"
limit = "1/1d"
domains = ["d.example"]
action = "reject"

[routing]
default_route = "inhouse"

[[route]]
name = "inhouse"
return_path = "keep"

[[route]]
name = "esp"
kind = "esp"
return_path = "keep"
fallback = "inhouse"
'''


def output_dir() -> Path:
    d = Path(os.environ.get("STAFFEL_TEST_OUTPUT")
             or harness.REPO / "build" / "test-output" / "dashboard")
    d.mkdir(parents=True, exist_ok=True)
    return d


def staffelctl(policy, *args, timeout=30):
    return subprocess.run([harness.STAFFELCTL, "-c", str(policy), *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def stats_json(policy, by, top=100):
    r = staffelctl(policy, "stats", "--by", by, "--since", "24h", "--top", str(top), "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def shown(row: dict) -> dict:
    """The texts the page shows for one Row of `stats --json`."""
    out = {"value": row["value"]}
    out.update({f: str(row[f]) for f in INT_FIELDS})
    out.update({f: "%.2f%%" % (row[f] * 100) for f in RATE_FIELDS})
    return out


def shown_rows(doc: dict) -> dict:
    return {r["value"]: shown(r) for r in doc["rows"]}


def stream_events(redis) -> list:
    """[(id, event)] of the whole event stream, oldest first. One stream entry
    holds the events of one flush; the API calls the n-th of entry E "E/n"."""
    out = []
    for entry_id, fields in redis.command("XRANGE", "staffel:events", "-", "+"):
        for n, i in enumerate(range(1, len(fields), 2)):
            out.append(("%s/%d" % (entry_id.decode(), n), json.loads(fields[i])))
    return out


# --------------------------------------------------------------------------
# staffelctl web


class Web(harness.Server):
    """`staffelctl -c POLICY web --listen 127.0.0.1:PORT`, stopped by its PID."""

    def __init__(self, tmpdir: Path, policy: Path):
        super().__init__()
        self.dir = Path(tmpdir)
        self.policy = policy
        self.log_path = self.dir / "web.log"
        self.port = None
        self.proc = None

    @property
    def base(self) -> str:
        return "http://%s:%d/" % (harness.LOOPBACK, self.port)

    def start(self, timeout: float = 15.0):
        last = None
        for _ in range(3):  # a free port can be taken between probe and bind
            self.port = harness.free_port()
            argv = [harness.STAFFELCTL, "-c", self.policy, "web", "--listen",
                    "%s:%d" % (harness.LOOPBACK, self.port)]
            self.proc = harness.spawn(argv, self.log_path)
            self._register("pid", str(self.proc.pid), self.dir)
            try:
                harness.wait_until(lambda: self.proc.poll() is not None
                                   or harness.tcp_accepts(harness.LOOPBACK, self.port),
                                   timeout, what="staffelctl web on port %d" % self.port)
            except TimeoutError as e:
                last = e
                self.stop()
                continue
            if self.proc.poll() is None:
                return self
            last = harness.StartError("staffelctl web exited %s:\n%s"
                                      % (self.proc.returncode, harness.tail(self.log_path)))
            self._unregister()
        raise harness.StartError(str(last))

    def stop(self):
        harness.stop_process(self.proc)
        self._unregister()

    def __repr__(self):
        return "Web(%s pid=%s)" % (self.port, self.proc.pid if self.proc else None)


def http_get(url: str, auth: str | None = None):
    """(status, headers, body bytes) of one GET; HTTP errors are answers too."""
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


# --------------------------------------------------------------------------
# the site: one run of mail for the whole module


def run_mail(postfix, staffeld, redis, sink) -> dict:
    """The mixed run; returns what was sent (the stats say what was counted)."""
    redis.command("SET", "staffel:s:*:gone@x.example", "1|hard_bounce|*|1763640000|0|test")

    def ok(r):
        assert r.accepted, str(r)

    ok(send(postfix, "app@a.example", ["bob@x.example"], tag="nov-1"))
    r = send(postfix, "app@a.example", ["carol@y.example", "gone@x.example"], tag="nov-1")
    assert r.accepted and r.code("rcpt gone@x.example") == 550, str(r)
    ok(send(postfix, "news@b.example", ["e1@y.example", "e2@y.example"], tag="dec-2", bulk=True))
    r = send(postfix, "news@b.example", ["e3@y.example"], tag="dec-2", bulk=True)
    assert r.step("dot").code == 451 and 'quota "cap"' in r.step("dot").message, str(r)
    ok(send(postfix, "h@c.example", ["f@x.example"]))
    ok(send(postfix, "h@c.example", ["g@x.example"]))  # held in Postfix's hold queue
    ok(send(postfix, "ops@d.example", ["k@x.example"]))
    r = send(postfix, "ops@d.example", ["l@x.example"])
    assert 500 <= r.step("dot").code < 600, str(r)
    # Hostile values: the sender's quoted local part and the tag header.
    r = send(postfix, XSS_SENDER, ["m@x.example"], tag=XSS_TAG)
    assert r.accepted, "Postfix or staffeld refused the hostile sender: %s" % r
    # The ESP route goes down: bulk mail takes its fallback.
    r = staffelctl(staffeld.policy_path, "route", "down", "esp")
    assert r.returncode == 0, r.stderr
    time.sleep(1.0)  # every staffeld reads the route states every 250 ms
    ok(send(postfix, "news@e.example", ["n1@y.example"], tag="dec-2", bulk=True))
    delivered = 7  # the held one stays in Postfix's hold queue
    sink.wait_for(delivered)

    dsn, arf = reports()
    for report in (dsn, arf):
        r = subprocess.run([harness.STAFFELCTL, "-c", str(staffeld.policy_path), "ingest"],
                           capture_output=True, text=True, timeout=30, input=report)
        assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    r = staffelctl(staffeld.policy_path, "suppress", "add", "u@z.example", "--reason",
                   "unsubscribe", "--scope", "b.example")
    assert r.returncode == 0, r.stderr
    time.sleep(1.0)  # a few flush intervals (200 ms) and then some
    assert sink.count() == delivered
    return {"delivered": delivered}


def dashboard_policy(redis, token_file: Path) -> str:
    return (stats_policy(redis, extra=EXTRA)
            + '\n[web]\ntoken_file = "%s"\n' % token_file)


@pytest.fixture(scope="module")
def site(request):
    if not os.access(harness.STAFFELD, os.X_OK):
        pytest.fail("no staffeld binary at %s: build it or set STAFFELD" % harness.STAFFELD)
    d = harness.make_workdir("staffel-dashboard-")
    servers = []
    failed_before = request.session.testsfailed

    def started(server):
        servers.append(server)
        server.start()
        return server
    try:
        redis = started(harness.Redis(d))
        sink = started(harness.Sink(d))
        token_file = d / "web.token"
        token_file.write_text(TOKEN + "\n")
        os.chmod(token_file, 0o600)
        staffeld = started(harness.Staffeld(d, policy=dashboard_policy(redis, token_file),
                                            redis=redis))
        pf_dir = d / "postfix"
        pf_dir.mkdir()
        os.chmod(pf_dir, 0o755)
        postfix = started(harness.Postfix(pf_dir, sink.port, milter=staffeld.socket_spec))
        sent = run_mail(postfix, staffeld, redis, sink)
        web = started(Web(d, staffeld.policy_path))
        yield SimpleNamespace(dir=d, redis=redis, sink=sink, staffeld=staffeld, postfix=postfix,
                              web=web, policy=staffeld.policy_path, sent=sent)
    finally:
        harness.close_workdir(
            d, servers, request.session.testsfailed != failed_before or sys.exc_info()[0] is not None,
            title="staffel dashboard test directory", lines=40)


@pytest.fixture(scope="module")
def browser(site):
    why = harness_browser.available()
    if why:
        pytest.skip("browser test: %s" % why)
    with harness_browser.Browser() as b:
        b.send_header("Authorization", "Bearer " + TOKEN)
        b.get(site.web.base)
        yield b


def visit(browser, section: str):
    """Shows a section and waits until it rendered anew (its link refreshes it when shown)."""
    browser.js("document.getElementById(arguments[0]).setAttribute('data-loaded', 'false');",
               section)
    browser.show(section)


def assert_clean(browser, base: str, expected=()):
    """No console errors (but the network errors of `expected` URL parts), no
    request off 127.0.0.1, no script of ours ran."""
    errors = [e for e in browser.console_errors()
              if not (e.get("source") == "network" and any(x in e["message"] for x in expected))]
    assert errors == [], "console errors: %s" % errors
    host = urlsplit(base).netloc
    for url in browser.request_urls():
        parts = urlsplit(url)
        assert parts.scheme in ("data", "about") or \
            (parts.scheme == "http" and parts.netloc == host), "request off 127.0.0.1: %s" % url
    assert browser.js("return typeof window.__xss;") == "undefined"


# --------------------------------------------------------------------------
# the API's front door


def test_api_answers_only_with_the_token(site):
    base = site.web.base
    for path in ("api/info", "api/overview?period=24h", ""):
        status, headers, _ = http_get(base + path)
        assert status == 401, (path, status)
        assert headers.get("WWW-Authenticate", "").startswith('Basic realm="staffel"'), \
            (path, dict(headers))
        status, _, _ = http_get(base + path, "Bearer wrong-" + TOKEN)
        assert status == 401, (path, status)
    status, headers, body = http_get(base + "api/info", "Bearer " + TOKEN)
    assert status == 200, body
    info = json.loads(body)
    assert info["auth"] is True, info
    assert headers.get("Cache-Control") == "no-store", dict(headers)
    assert headers.get("Content-Security-Policy") == CSP, dict(headers)
    basic = "Basic " + base64.b64encode(("anyone:" + TOKEN).encode()).decode()
    status, _, body = http_get(base + "api/overview?period=24h", basic)
    assert status == 200, body
    status, headers, body = http_get(base, "Bearer " + TOKEN)
    assert status == 200 and b"static/dashboard.js" in body, (status, body[:200])
    assert headers.get("Content-Security-Policy") == CSP, dict(headers)
    status, _, body = http_get(base + "api/overview?period=nonsense", "Bearer " + TOKEN)
    assert status == 400 and "error" in json.loads(body), (status, body)


def test_listening_beyond_loopback_needs_authentication(site):
    policy = site.dir / "no-token.toml"
    policy.write_text(re.sub(r'\n\[web\]\ntoken_file = "[^"]*"\n', "\n",
                             site.policy.read_text()))
    assert "token_file" not in policy.read_text()
    proc = subprocess.Popen([harness.STAFFELCTL, "-c", str(policy), "web", "--listen",
                             "0.0.0.0:%d" % harness.free_port()],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        harness.stop_process(proc)
        pytest.fail("staffelctl web listened on 0.0.0.0 without authentication")
    assert proc.returncode != 0, err
    assert "--listen" in err and re.search(r"authenticat", err, re.I), err


# --------------------------------------------------------------------------
# the page


def test_every_section_shows_what_staffelctl_stats_says(site, browser):
    policy = site.policy
    out = output_dir()

    # Overview.
    browser.show("overview")
    by_outcome = stats_json(policy, "outcome")
    total = by_outcome["total"]
    outcome_rows = {r["value"]: r for r in by_outcome["rows"]}
    got = {k: browser.text("overview-" + k) for k in
           ("messages", "recipients", "accepted", "refused", "held", "deferred", "bounces",
            "complaints", "bounce-rate", "complaint-rate", "complaint-limit")}
    assert got == {
        "messages": str(total["messages"]), "recipients": str(total["recipients"]),
        "accepted": str(outcome_rows["accepted"]["messages"]),
        "refused": str(total["refused"]), "held": str(total["held"]),
        "deferred": str(total["deferred"]), "bounces": str(total["bounces"]),
        "complaints": str(total["complaints"]),
        "bounce-rate": "%.2f%%" % (total["bounce_rate"] * 100),
        "complaint-rate": "%.2f%%" % (total["complaint_rate"] * 100),
        "complaint-limit": "0.30%"}, got
    # The run itself: 6 accepted (one of them held), 1 deferred, 1 refused.
    assert (got["held"], got["deferred"], got["refused"]) == ("1", "1", "1"), got
    # One complaint on 8 recipients is far over 0.3%: flagged.
    assert total["complaint_rate_over_limit"] is True, total
    assert browser.attr("#overview-complaint-rate", "data-over-limit") == "true"
    assert browser.js("return !document.getElementById('overview-complaint-flag').hidden;")
    streams = browser.rows("#overview-streams tbody")
    assert streams == shown_rows(stats_json(policy, "stream")), streams
    by_route = {r["value"]: r for r in stats_json(policy, "route")["rows"]}
    chart = browser.chart_data("overview-chart")
    assert sum(chart["sets"]["accepted"]) == outcome_rows["accepted"]["messages"], chart
    assert sum(chart["sets"]["complaints"]) == total["complaints"], chart
    assert len(chart["labels"]) == 24, chart["labels"]
    overview_split = browser.rows("#overview-split tbody")
    # The period selector: 7 daily buckets, the same totals (all mail is of today).
    browser.js("const s = document.getElementById('overview-period'); s.value = '7d';"
               "s.dispatchEvent(new Event('change'));")
    browser.wait(lambda: browser.attr("#overview", "data-period") == "7d"
                 and browser.attr("#overview", "data-loaded") == "true", what="overview 7d")
    assert len(browser.chart_data("overview-chart")["labels"]) == 7
    assert browser.text("overview-messages") == str(total["messages"])
    browser.js("const s = document.getElementById('overview-period'); s.value = '24h';"
               "s.dispatchEvent(new Event('change'));")
    browser.wait(lambda: browser.attr("#overview", "data-period") == "24h"
                 and browser.attr("#overview", "data-loaded") == "true", what="overview 24h")

    # Routes (their kinds say how the overview's split adds up).
    visit(browser, "routes")
    routes = browser.rows("#routes-table tbody")
    listed = [line.split("\t") for line in
              staffelctl(policy, "route", "list").stdout.splitlines()[1:]]
    assert {r: (c["status"], c["fallback"]) for r, c in routes.items()} == {
        name: (state, "–" if fallback in ("", "-") else fallback)
        for name, state, fallback, *_ in listed}, routes
    assert routes["esp"]["status"] == "down" and routes["esp"]["fallback"] == "inhouse"
    for name in ("inhouse", "esp"):
        assert routes[name]["messages"] == str(by_route.get(name, {}).get("messages", 0)), \
            (name, routes, by_route)
    # The bulk message sent while "esp" was down went by "inhouse".
    assert routes["inhouse"]["fallback_taken"] == "1", routes
    assert browser.text("routes-unrouted-messages") == \
        str(by_route.get("none", {}).get("messages", 0)), by_route
    chart = browser.chart_data("routes-chart")
    for name in ("inhouse", "esp"):
        assert sum(chart["sets"][name]) == int(routes[name]["messages"]), chart
    want_split = {}
    for name, cells in routes.items():
        kind = want_split.setdefault(cells["kind"], {"messages": 0, "recipients": 0})
        kind["messages"] += int(cells["messages"])
        kind["recipients"] += int(cells["recipients"])
    want_split["none"] = {"messages": int(browser.text("routes-unrouted-messages")),
                          "recipients": int(browser.text("routes-unrouted-recipients"))}
    got_split = {k: {f: int(v) for f, v in c.items()} for k, c in overview_split.items()}
    got_split = {k: v for k, v in got_split.items() if v["messages"] or v["recipients"]}
    want_split = {k: v for k, v in want_split.items() if v["messages"] or v["recipients"]}
    assert got_split == want_split, (overview_split, want_split)
    browser.screenshot(out / "routes.png")

    # Senders by domain, then by sender; a row's quota use.
    visit(browser, "senders")
    doc = stats_json(policy, "sender_domain", top=20)
    assert browser.rows("#senders-table tbody") == shown_rows(doc)
    assert browser.rows("#senders-table tfoot") == {"(total)": shown(doc["total"])}
    chart = browser.chart_data("senders-chart")
    top = {r["value"]: r["messages"] for r in doc["rows"][:5]}
    assert {value: sum(messages) for value, messages in chart["sets"].items()} == top, chart
    browser.js("document.getElementById('senders-by-sender').click();")
    browser.wait(lambda: browser.attr("#senders", "data-by") == "sender"
                 and browser.attr("#senders", "data-loaded") == "true", what="senders by sender")
    doc = stats_json(policy, "sender", top=20)
    assert browser.rows("#senders-table tbody") == shown_rows(doc)
    browser.js("document.querySelector('#senders-table tbody tr[data-value=\"news@b.example\"]')"
               ".click();")
    browser.wait_loaded("#quota-result")
    quota = browser.rows("#quota-table tbody")
    text = staffelctl(policy, "quota", "show", "news@b.example").stdout
    m = re.search(r"^cap\s+sender\s+(\d+)\s+(\d+)", text, re.M)
    assert m, text
    assert (quota["cap"]["used"], quota["cap"]["limit"]) == m.groups(), (quota, text)
    browser.screenshot(out / "senders.png")

    # Tags.
    visit(browser, "tags")
    doc = stats_json(policy, "tag", top=50)
    assert browser.rows("#tags-table tbody") == shown_rows(doc)
    assert browser.rows("#tags-table tfoot") == {"(total)": shown(doc["total"])}
    assert {"nov-1", "dec-2"} <= set(browser.rows("#tags-table tbody"))
    browser.screenshot(out / "tags.png")

    # Suppression: the census, the recent additions, one look-up.
    visit(browser, "suppression")
    listed = [line.split("\t") for line in
              staffelctl(policy, "suppress", "list").stdout.splitlines()[1:] if line]
    census = browser.rows("#suppression-census tbody")
    want = {}
    for _address, _scope, reason, *_ in listed:
        want[reason] = want.get(reason, 0) + 1
    assert {r: int(c["count"]) for r, c in census.items() if c["count"] != "0"} == want, \
        (census, listed)
    assert browser.text("suppression-total") == str(len(listed))
    assert browser.text("suppression-scoped") == str(sum(1 for x in listed if x[1] != "*"))
    assert browser.attr("#suppression-at", "datetime"), "the census has no time"
    recent = browser.js("return [...document.querySelectorAll('#suppression-recent tbody tr')]"
                        ".map(tr => tr.getAttribute('data-id'));")
    events = stream_events(site.redis)
    wanted = [i for i, e in events if e["type"] in
              ("bounce.hard", "bounce.soft", "complaint", "unsubscribe")]
    assert recent == list(reversed(wanted)), (recent, events)
    browser.js("document.getElementById('lookup-address').value = 'gone@x.example';"
               "document.querySelector('#lookup-form button[type=submit]').click();")
    browser.wait_loaded("#lookup-result")
    assert browser.attr("#lookup-verdict", "data-suppressed") == "true", \
        browser.text("lookup-verdict")
    entries = browser.rows("#lookup-table tbody")
    assert entries[""]["reason"] == "hard_bounce", entries
    browser.screenshot(out / "suppression.png")

    # Events: every event of the stream, newest first.
    visit(browser, "events")
    want_ids = [i for i, _ in reversed(events)][:200]
    browser.wait(lambda: browser.js(
        "return [...document.querySelectorAll('#events-table tbody tr')]"
        ".map(tr => tr.getAttribute('data-id'));") == want_ids, what="the event list")
    assert browser.text("events-count") == str(len(want_ids))
    browser.screenshot(out / "events.png")

    # Every chart drew something.
    for section, canvas in CHARTS.items():
        visit(browser, section)
        assert browser.canvas_pixels(canvas) > 1000, canvas
    browser.show("overview")
    browser.screenshot(out / "overview.png")
    for name in SECTIONS:
        assert (out / ("%s.png" % name)).stat().st_size > 5000, name
    assert_clean(browser, site.web.base)


def test_hostile_values_are_shown_as_text(site, browser):
    senders = {r["value"] for r in stats_json(site.policy, "sender")["rows"]}
    (hostile,) = [s for s in senders if "onerror" in s]
    tags = {r["value"] for r in stats_json(site.policy, "tag")["rows"]}
    (tag,) = [t for t in tags if "xss" in t]
    # Tags are sanitised by staffeld (no '<'); senders are not.
    assert "<img/src=x/onerror=window.__xss=1>" in hostile, hostile

    visit(browser, "senders")
    if browser.attr("#senders", "data-by") != "sender":
        browser.js("document.getElementById('senders-by-sender').click();")
        browser.wait(lambda: browser.attr("#senders", "data-by") == "sender"
                     and browser.attr("#senders", "data-loaded") == "true", what="by sender")
    assert hostile in browser.rows("#senders-table tbody")
    assert browser.js("return document.querySelectorAll('#senders img').length;") == 0
    legend = browser.chart_data("senders-chart")["sets"]
    assert hostile in legend, legend

    visit(browser, "tags")
    assert tag in browser.rows("#tags-table tbody")

    visit(browser, "events")
    browser.wait(lambda: hostile in browser.js(
        "return document.getElementById('events-table').textContent;"), what="the sender")
    assert browser.js("return document.querySelectorAll('main img, main script').length;") == 0

    # Typed into the look-up form, the payload comes back as text (the
    # suppression list takes no quoted local part: a 400, said in the form).
    visit(browser, "suppression")
    browser.js("document.getElementById('lookup-address').value = arguments[0];"
               "document.querySelector('#lookup-form button[type=submit]').click();", hostile)
    browser.wait_loaded("#lookup-result")
    assert browser.text("lookup-result-address") == hostile
    assert browser.attr("#lookup-verdict", "data-suppressed") == "error"
    assert browser.text("lookup-verdict").startswith("HTTP 400: "), browser.text("lookup-verdict")
    assert browser.js("return document.querySelectorAll('#lookup-result img').length;") == 0
    assert browser.banner() == ""
    browser.screenshot(output_dir() / "xss.png")
    assert_clean(browser, site.web.base, expected=["/api/suppression/lookup?address=%22%3Cimg"])
