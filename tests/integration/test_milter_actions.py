"""What staffeld does when the MTA does not offer an action the policy needs.

Sendmail may offer fewer milter actions than Postfix (SMFIF_CHGFROM must be
compiled in, for instance). A minimal MTA side of the milter protocol
(milter_client.py) negotiates without SMFIF_CHGFROM, or without
SMFIF_QUARANTINE, and sends messages whose policy needs that action: a
route that rewrites the return path, a quota whose action is `hold`. Each
such message is tempfailed (451), never passed with the edit silently
skipped, and staffeld says so in its log once per connection, not once per
message. With every action offered the same messages pass.
"""
import pytest

from milter_client import (ALL_ACTIONS, SMFIF_CHGFROM, SMFIF_QUARANTINE, MilterClient)
from test_dkim import make_keys
from test_quota import DAILY5, quota_policy
from test_routes import routing_policy

BULK_HEADERS = [
    ("From", " App <app@example.com>"),
    ("To", " Bob <bob@example.net>"),
    ("Subject", " news"),
    ("Date", " Mon, 23 Nov 2026 10:00:00 +0000"),
    ("Message-ID", " <news@example.com>"),
    ("Precedence", " bulk"),
    ("List-Unsubscribe", " <mailto:u@example.com>"),
    ("X-Campaign-Id", " nov-2026"),
]
PLAIN_HEADERS = [h for h in BULK_HEADERS if h[0] not in ("Precedence", "List-Unsubscribe")]
BODY = b"Hello Bob.\r\n"


def socket_path(staffeld):
    return staffeld.socket_spec.split(":", 1)[1]


def missing_lines(staffeld, action):
    return [line for line in staffeld.log().splitlines() if action in line]


def run(staffeld, actions, headers, n, sender="app@example.com"):
    replies = []
    with MilterClient(socket_path(staffeld)) as c:
        c.negotiate(actions=actions)
        c.connect()
        c.helo()
        for i in range(n):
            replies.append(c.message(sender, ["bob@example.net"], headers, BODY,
                                     queue_id="Q%04dTEST" % i))
    return replies


@pytest.fixture
def route_staffeld(workdir, staffeld_factory):
    return staffeld_factory(policy=routing_policy(make_keys(workdir)))


def test_route_without_chgfrom_is_tempfailed_and_said_once_per_connection(route_staffeld):
    replies = run(route_staffeld, ALL_ACTIONS & ~SMFIF_CHGFROM, BULK_HEADERS, 2)
    for r in replies:
        assert r.tempfail, "got %s, want a 451 tempfail" % r
        assert r.code == b"t" or r.text.startswith("451"), str(r)
        assert not any(cmd == b"e" for cmd, _ in r.edits), "chgfrom sent though not offered"
    route_staffeld.wait_log(r"SMFIF_CHGFROM")
    lines = missing_lines(route_staffeld, "SMFIF_CHGFROM")
    assert len(lines) == 1, "got %d lines, want one per connection:\n%s" % (
        len(lines), "\n".join(lines))
    # A second connection says it again.
    run(route_staffeld, ALL_ACTIONS & ~SMFIF_CHGFROM, BULK_HEADERS, 1)
    route_staffeld.wait_log(r"SMFIF_CHGFROM")
    assert len(missing_lines(route_staffeld, "SMFIF_CHGFROM")) == 2
    lines = [d["line"] for d in route_staffeld.message_lines()]
    assert sum("action=tempfail" in line for line in lines) == 3, "\n".join(lines)


def test_route_with_chgfrom_offered_passes(route_staffeld):
    replies = run(route_staffeld, ALL_ACTIONS, BULK_HEADERS, 1)
    assert replies[0].code in (b"c", b"a"), str(replies[0])
    froms = [d for cmd, d in replies[0].edits if cmd == b"e"]
    assert froms and froms[0].startswith(b"<bounces+bob=example.net@bounce.esp.test>"), replies
    assert missing_lines(route_staffeld, "SMFIF_CHGFROM") == []


def test_transactional_mail_needs_no_chgfrom_and_passes(route_staffeld):
    replies = run(route_staffeld, ALL_ACTIONS & ~SMFIF_CHGFROM, PLAIN_HEADERS, 1)
    assert replies[0].code in (b"c", b"a"), str(replies[0])


def test_hold_without_quarantine_is_tempfailed_and_said_once_per_connection(
        staffeld_factory, redis):
    policy = quota_policy(redis, DAILY5.replace('"tempfail"', '"hold"').replace("5/1d", "1/1d"))
    staffeld = staffeld_factory(policy=policy)
    replies = run(staffeld, ALL_ACTIONS & ~SMFIF_QUARANTINE, PLAIN_HEADERS, 3)
    assert replies[0].code in (b"c", b"a"), str(replies[0])  # under the quota: no hold
    for r in replies[1:]:
        assert r.tempfail, "got %s, want a 451 tempfail instead of a hold" % r
        assert not any(cmd == b"q" for cmd, _ in r.edits), "quarantine sent though not offered"
    staffeld.wait_log(r"SMFIF_QUARANTINE")
    lines = missing_lines(staffeld, "SMFIF_QUARANTINE")
    assert len(lines) == 1, "got %d lines, want one per connection:\n%s" % (
        len(lines), "\n".join(lines))
    # With the action offered the same over-quota message is held.
    held = run(staffeld, ALL_ACTIONS, PLAIN_HEADERS, 1)[0]
    assert any(cmd == b"q" for cmd, _ in held.edits), str(held)
