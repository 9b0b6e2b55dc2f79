"""Streams and routes through real Postfix with two capture sinks.

The in-house next hop and the ESP relay are two sinks. Postfix is set up
with the sender-dependent transport line of contrib/postfix/main.cf: a bulk
message leaves only through the ESP sink with the VERP return-path on the
ESP's bounce domain and the route's headers (the internal one stripped); a
transactional message leaves only through the in-house sink with its
envelope untouched; both DKIM signatures verify with two independent
verifiers after the rewrite.
"""
import re
from pathlib import Path

import pytest

import harness
from dkim_verify import mail_dkim_supports, verify_mail_dkim, verify_python_dkim
from harness import smtp_send
from test_dkim import make_keys, records_for

CONTRIB = Path(__file__).resolve().parent.parent.parent / "contrib" / "postfix"
SENDER = "app@example.com"


def routing_policy(keys, inhouse_return="keep"):
    return (
        '[milter]\nsocket_mode = "0666"\n\n'
        "[[dkim.keys]]\n"
        'domain = "example.com"\nselector = "rsa"\nalgorithm = "rsa-sha256"\nkey = "%s"\n'
        "[[dkim.keys]]\n"
        'domain = "example.com"\nselector = "ed"\nalgorithm = "ed25519-sha256"\nkey = "%s"\n\n'
        "[routing]\n"
        'default_route = "inhouse"\n\n'
        "[[stream]]\n"
        'name = "bulk"\n'
        'headers = ["Precedence: bulk", "List-Unsubscribe"]\n'
        'unsubscribe = "add"\n'
        'unsubscribe_template = "<https://example.com/u/{header:X-Campaign-Id}>"\n'
        'route = "esp"\n\n'
        "[[route]]\n"
        'name = "inhouse"\n'
        'return_path = "%s"\n'
        'bounce_domain = "bounce.example.com"\n\n'
        "[[route]]\n"
        'name = "esp"\n'
        'bounce_domain = "bounce.esp.test"\n'
        'return_path = "verp"\n'
        'add_headers = ["X-Campaign: {header:X-Campaign-Id}", "X-Stream: {stream}"]\n'
        'strip_headers = ["X-Internal-Ticket"]\n'
        % (keys["rsa"], keys["ed"], inhouse_return))


def message(subject, bulk):
    lines = [
        "From: App <app@example.com>",
        "To: Bob <bob@example.net>",
        "Subject: %s" % subject,
        "Date: Mon, 23 Nov 2026 10:00:00 +0000",
        "Message-ID: <%s@example.com>" % subject.replace(" ", "-"),
        "X-Internal-Ticket: T-4711",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if bulk:
        lines += ["Precedence: bulk", "List-Unsubscribe: <mailto:u@example.com>",
                  "X-Campaign-Id: nov-2026"]
    return ("\r\n".join(lines) + "\r\n\r\nHello Bob.\r\n").encode()


def contrib_transport_line():
    """The sender_dependent_default_transport_maps line of contrib/postfix/main.cf."""
    text = (CONTRIB / "main.cf").read_text()
    m = re.search(r"^sender_dependent_default_transport_maps = (.*)$", text, re.M)
    assert m, "contrib/postfix/main.cf lacks sender_dependent_default_transport_maps"
    return m.group(1)


@pytest.fixture
def esp_sink(request, workdir):
    d = workdir / "esp"
    d.mkdir()
    s = harness.Sink(d)
    s.start()
    yield s
    s.stop()


@pytest.fixture
def chain(workdir, staffeld_factory, postfix_factory, sink, esp_sink):
    keys = make_keys(workdir)

    def make(**kw):
        staffeld = staffeld_factory(policy=routing_policy(keys, **kw))
        # contrib's line maps the ESP route's bounce domain to its relay; here
        # the relay is the ESP sink on loopback.
        line = contrib_transport_line().replace("bounce.esp.example.com", "bounce.esp.test") \
            .replace("[esp-relay.example.net]:587", "[127.0.0.1]:%d" % esp_sink.port)
        postfix = postfix_factory(milter=staffeld.socket_spec, extra_main_cf={
            "sender_dependent_default_transport_maps": line})
        return postfix, staffeld, keys
    return make


def verify(data, keys):
    records = records_for(keys)
    ok = {("py", r.s): r.ok for r in verify_python_dkim(data, records)}
    for r in verify_mail_dkim(data, records):
        if r.a == "ed25519-sha256" and not mail_dkim_supports("ed25519-sha256"):
            continue
        ok[("perl", r.s)] = r.ok
    return ok


def test_bulk_leaves_by_the_esp_transactional_in_house(chain, sink, esp_sink):
    postfix, staffeld, keys = chain()
    bulk = smtp_send(postfix.smtp_port, SENDER, ["bob@example.net"], message("news", True))
    assert bulk.accepted, str(bulk)
    tx = smtp_send(postfix.smtp_port, SENDER, ["bob@example.net"], message("receipt", False))
    assert tx.accepted, str(tx)

    at_esp = esp_sink.wait_for(1)
    at_home = sink.wait_for(1)
    assert [m.headers("Subject") for m in at_esp] == [["news"]]
    assert [m.headers("Subject") for m in at_home] == [["receipt"]]

    esp = at_esp[0]
    assert esp.mail_from == "bounces+bob=example.net@bounce.esp.test"
    assert esp.headers("X-Campaign") == ["nov-2026"]
    assert esp.headers("X-Stream") == ["bulk"]
    assert esp.headers("X-Internal-Ticket") == []
    # The bulk-sender gate added the one-click field the message lacked, and
    # it is signed (the signatures verify below).
    assert esp.headers("List-Unsubscribe") == ["<mailto:u@example.com>"]
    assert esp.headers("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    for sig in esp.headers("DKIM-Signature"):
        assert "list-unsubscribe-post" in re.sub(r"\s", "", sig).lower()
    home = at_home[0]
    assert home.mail_from == SENDER  # in-house route with return_path = "keep"
    assert home.headers("X-Internal-Ticket") == ["T-4711"]

    for got in (esp, home):
        results = verify(got.data, keys)
        assert results and all(results.values()), results
        assert ("py", "rsa") in results and ("py", "ed") in results

    lines = staffeld.wait_message_line(bulk.queue_id)
    assert ("stream=bulk route=esp,from=bounces+bob=example.net@bounce.esp.test "
            "unsubscribe=added") in lines[0]["line"]
    # DMARC: the ESP's return path does not align with From:, the
    # example.com signature does; in-house both align.
    assert "dmarc=pass(dkim=example.com) " in lines[0]["line"]
    lines = staffeld.wait_message_line(tx.queue_id)
    assert "stream=transactional route=inhouse" in lines[0]["line"]
    assert "dmarc=pass(dkim=example.com,spf=example.com) " in lines[0]["line"]


def test_plain_return_path_and_several_recipients(chain, sink, esp_sink):
    postfix, staffeld, keys = chain(inhouse_return="plain")
    tx = smtp_send(postfix.smtp_port, SENDER, ["bob@example.net"], message("plain", False))
    assert tx.accepted, str(tx)
    assert sink.wait_for(1)[0].mail_from == "bounces@bounce.example.com"
    # bounce.example.com aligns with From: example.com through the Public
    # Suffix List (relaxed alignment).
    line = staffeld.wait_message_line(tx.queue_id)[0]["line"]
    assert "dmarc=pass(dkim=example.com,spf=bounce.example.com) " in line
    # VERP needs one recipient; with two, the ESP route falls back to plain.
    bulk = smtp_send(postfix.smtp_port, SENDER, ["a@example.net", "b@example.net"],
                     message("two", True))
    assert bulk.accepted, str(bulk)
    got = esp_sink.wait_for(1)[0]
    assert got.mail_from == "bounces@bounce.esp.test"
    assert sorted(got.rcpts) == ["a@example.net", "b@example.net"]
    # A bounce (null sender) is never rewritten.
    dsn = smtp_send(postfix.smtp_port, "", ["bob@example.net"], message("null", False))
    assert dsn.accepted, str(dsn)
    got = [m for m in sink.wait_for(2) if m.headers("Subject") == ["null"]]
    assert got and got[0].mail_from == ""


def failover_policy(redis, keys, srs_secret=None):
    text = routing_policy(keys, inhouse_return="plain").replace(
        'return_path = "verp"\n', 'return_path = "verp"\nfallback = "inhouse"\n')
    text = '[redis]\naddress = "%s"\n\n' % redis.address + text
    if srs_secret:
        text += ('\n[[route]]\nname = "forward"\nbounce_domain = "srs.staffel.test"\n'
                 'return_path = "srs"\nsrs_secret_file = "%s"\n' % srs_secret)
    return text


def staffelctl(policy_path, *args):
    import subprocess
    return subprocess.run([harness.STAFFELCTL, "-c", str(policy_path), *args],
                          capture_output=True, text=True, timeout=30)


def test_route_down_takes_the_fallback_within_a_second_on_two_nodes(
        workdir, redis, staffeld_factory, postfix_factory, sink, esp_sink):
    import time
    keys = make_keys(workdir)
    line = contrib_transport_line().replace("bounce.esp.example.com", "bounce.esp.test") \
        .replace("[esp-relay.example.net]:587", "[127.0.0.1]:%d" % esp_sink.port)
    nodes = []
    for _ in range(2):
        staffeld = staffeld_factory(policy=failover_policy(redis, keys))
        postfix = postfix_factory(milter=staffeld.socket_spec, extra_main_cf={
            "sender_dependent_default_transport_maps": line})
        nodes.append((postfix, staffeld))
    policy = nodes[0][1].policy_path

    down = staffelctl(policy, "route", "down", "esp")
    assert down.returncode == 0, down
    assert "its mail takes route inhouse" in down.stdout
    marked = time.monotonic()
    time.sleep(1.0)
    for i, (postfix, _) in enumerate(nodes):
        r = smtp_send(postfix.smtp_port, SENDER, ["bob@example.net"], message("down %d" % i, True))
        assert r.accepted, str(r)
    assert time.monotonic() - marked < 2.0
    home = sink.wait_for(2)
    assert sorted(m.headers("Subject")[0] for m in home) == ["down 0", "down 1"]
    assert {m.mail_from for m in home} == {"bounces@bounce.example.com"}
    assert esp_sink.count() == 0
    for _, staffeld in nodes:
        staffeld.wait_log(r"stream=bulk route=inhouse\(down:esp\)")

    listed = staffelctl(policy, "route", "list")
    assert re.search(r"^esp\tdown\tinhouse\t", listed.stdout, re.M), listed.stdout

    up = staffelctl(policy, "route", "up", "esp")
    assert up.returncode == 0, up
    time.sleep(1.0)
    for i, (postfix, _) in enumerate(nodes):
        r = smtp_send(postfix.smtp_port, SENDER, ["bob@example.net"], message("up %d" % i, True))
        assert r.accepted, str(r)
    assert sorted(m.headers("Subject")[0] for m in esp_sink.wait_for(2)) == ["up 0", "up 1"]
    assert staffelctl(policy, "route", "down", "nowhere").returncode == 1


def test_srs_route_rewrites_and_staffelctl_decodes(workdir, redis, staffeld_factory,
                                                   postfix_factory, sink):
    import os
    keys = make_keys(workdir)
    secret = workdir / "srs.secrets"
    secret.write_text("new-secret-2026\nold-secret-2025\n")
    os.chmod(secret, 0o600)
    policy = failover_policy(redis, keys, srs_secret=secret).replace(
        'default_route = "inhouse"', 'default_route = "forward"')
    staffeld = staffeld_factory(policy=policy)
    postfix = postfix_factory(milter=staffeld.socket_spec)
    r = smtp_send(postfix.smtp_port, "alice@example.org", ["bob@example.net"],
                  message("forwarded", False))
    assert r.accepted, str(r)
    got = sink.wait_for(1)[0]
    assert re.fullmatch(r"SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=example\.org=alice@srs\.staffel\.test",
                        got.mail_from), got.mail_from
    decoded = staffelctl(staffeld.policy_path, "srs", "decode", got.mail_from)
    assert decoded.returncode == 0, decoded
    assert decoded.stdout.strip() == "alice@example.org"
    encoded = staffelctl(staffeld.policy_path, "srs", "encode", "--route", "forward",
                         "alice@example.org")
    assert encoded.stdout.strip() == got.mail_from
    # Tampered: one character of the hash changed. The hash is compared
    # case-insensitively (as postsrsd does), so the new character must differ
    # in more than case: "b" -> "B" would still match.
    h = got.mail_from[5]
    tampered = got.mail_from[:5] + ("C" if h.lower() == "b" else "B") + got.mail_from[6:]
    bad = staffelctl(staffeld.policy_path, "srs", "decode", tampered)
    assert bad.returncode == 1, bad
    assert "hash" in bad.stderr
