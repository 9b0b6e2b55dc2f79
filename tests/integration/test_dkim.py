"""DKIM signing through a real Postfix, checked by two independent verifiers.

Chain: smtplib / sendmail -> Postfix (private instance) -> staffeld (milter,
unix socket, RSA-2048 and Ed25519 keys for example.com) -> Postfix smtp
client -> capture sink. What arrives at the sink is verified with
python3-dkim and with Perl's Mail::DKIM (tests/integration/dkim_verify.py),
the public keys supplied from the key files, since tests have no DNS.
"""
import os
import re
import subprocess

import pytest

from dkim_verify import mail_dkim_supports, public_key_record, verify_mail_dkim, verify_python_dkim
from harness import smtp_send

SENDER = "alice@example.com"

HEADERS = (
    b"From: Alice Example <alice@example.com>\r\n"
    b"To: Bob Example <bob@example.net>\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= signed\r\n"
    b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
    b"Message-ID: <dkim-1@example.com>\r\n"
    b"X-Folded: first part\r\n"
    b"\t   second part after a tab and spaces  \r\n"
    b"X-Spaces:   three leading spaces kept\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
)
BODY = (
    b"Hello Bob,\r\n"
    b"\r\n"
    b".a line that starts with a dot\r\n"
    b".\r\n"
    b"Gr\xc3\xbc\xc3\x9fe aus M\xc3\xbcnchen 8-bit UTF-8, caf\xe9 in Latin-1\r\n"
    b"trailing white space   \r\n"
    b"\tleading tab   and  runs\r\n"
    b"\r\n"
    b"\r\n"
)


def make_keys(workdir):
    keys = {}
    for name, args in (("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
                       ("ed", ["-algorithm", "ed25519"])):
        path = workdir / ("%s.pem" % name)
        subprocess.run(["openssl", "genpkey", *args, "-out", str(path)], check=True,
                       capture_output=True)
        os.chmod(path, 0o600)
        keys[name] = path
    return keys


def dkim_policy(staffeld_dir, keys, extra_dkim="", canon="relaxed/relaxed", milter_extra=""):
    return (
        "[milter]\n"
        'socket_mode = "0666"\n'
        + milter_extra +
        "[dkim]\n"
        'canonicalization = "%s"\n' % canon
        + extra_dkim +
        "[[dkim.keys]]\n"
        'domain = "example.com"\n'
        'selector = "rsa"\n'
        'algorithm = "rsa-sha256"\n'
        'key = "%s"\n'
        "[[dkim.keys]]\n"
        'domain = "example.com"\n'
        'selector = "ed"\n'
        'algorithm = "ed25519-sha256"\n'
        'key = "%s"\n' % (keys["rsa"], keys["ed"]))


def records_for(keys):
    return {"rsa._domainkey.example.com": public_key_record(keys["rsa"]),
            "ed._domainkey.example.com": public_key_record(keys["ed"])}


@pytest.fixture
def keys(workdir):
    return make_keys(workdir)


@pytest.fixture
def signing_chain(workdir, keys, staffeld_factory, postfix_factory, sink):
    def make(**kw):
        staffeld = staffeld_factory(policy=dkim_policy(workdir, keys, **kw))
        postfix = postfix_factory(milter=staffeld.socket_spec)
        return postfix, staffeld, sink
    return make


def verify_both(data, keys):
    """Both verifiers' results: {(verifier, selector): ok}, with details for messages."""
    records = records_for(keys)
    results = {}
    details = []
    py = verify_python_dkim(data, records)
    for r in py:
        results[("python3-dkim", r.s)] = r.ok
        details.append("python3-dkim %s %s %s" % (r.s, r.ok, r.detail))
    for r in verify_mail_dkim(data, records):
        if r.a == "ed25519-sha256" and not mail_dkim_supports("ed25519-sha256"):
            continue
        results[("Mail::DKIM", r.s)] = r.ok
        details.append("Mail::DKIM %s %s %s" % (r.s, r.ok, r.detail))
    return results, "\n".join(details)


def signature_fields(msg):
    return [f for f in msg.header_lines() if f.lower().startswith(b"dkim-signature:")]


def send_and_get(postfix, sink, staffeld, message, sender=SENDER, n=1):
    r = smtp_send(postfix.smtp_port, sender, ["bob@example.net"], message)
    assert r.accepted, str(r)
    got = sink.wait_for(n)[-1]
    lines = staffeld.wait_message_line(r.queue_id)
    return got, lines[0]


def test_rsa_and_ed25519_signatures_verify_with_two_verifiers(signing_chain, keys):
    postfix, staffeld, sink = signing_chain()
    got, line = send_and_get(postfix, sink, staffeld, HEADERS + b"\r\n" + BODY)

    assert got.body == BODY
    fields = signature_fields(got)
    assert len(fields) == 2, got.header_block
    for f in fields:  # folded within 78 columns, never l=
        for physical in f.split(b"\r\n"):
            assert len(physical) <= 78, f
        assert not re.search(rb"[;\s]l=", f)
        assert re.search(rb"[;\s]t=\d+;", f)
    # The signatures are on top, above Postfix's Received: field.
    assert got.header_lines()[0].lower().startswith(b"dkim-signature:")

    results, details = verify_both(got.data, keys)
    assert results[("python3-dkim", "rsa")] and results[("python3-dkim", "ed")], details
    assert results[("Mail::DKIM", "rsa")], details
    if mail_dkim_supports("ed25519-sha256"):
        assert results[("Mail::DKIM", "ed")], details
    assert line["dkim"] == "example.com/rsa,example.com/ed", line["line"]


@pytest.mark.parametrize("tamper", ["body", "subject", "added-from", "added-cc"])
def test_mail_tampered_after_signing_fails_verification(signing_chain, keys, tamper):
    postfix, staffeld, sink = signing_chain()
    got, _ = send_and_get(postfix, sink, staffeld, HEADERS + b"\r\n" + BODY)
    data = got.data
    ok, details = verify_both(data, keys)
    assert all(ok.values()), details
    if tamper == "body":
        data = data.replace(b"Hello Bob", b"Hello Eve")
    elif tamper == "subject":
        data = data.replace(b"signed\r\n", b"signed!\r\n", 1)
    elif tamper == "added-from":  # a second From: on top: over-signing catches it
        data = b"From: Mallory <mallory@example.com>\r\n" + data
    else:  # a Cc: the message did not have
        data = b"Cc: eve@example.org\r\n" + data
    results, details = verify_both(data, keys)
    assert results and not any(results.values()), details


def test_simple_simple_canonicalisation_verifies(signing_chain, keys):
    postfix, staffeld, sink = signing_chain(canon="simple/simple")
    got, line = send_and_get(postfix, sink, staffeld, HEADERS + b"\r\n" + BODY)
    results, details = verify_both(got.data, keys)
    assert results and all(results.values()), details
    assert b"c=simple/simple" in b"".join(signature_fields(got))


def test_identity_not_allowed_gets_no_signature(signing_chain):
    # Loopback is not trusted and no rule names it: the client may sign nothing.
    postfix, staffeld, sink = signing_chain(extra_dkim="trusted_networks = []\n")
    got, line = send_and_get(postfix, sink, staffeld, HEADERS + b"\r\n" + BODY)
    assert signature_fields(got) == []
    assert line["dkim"] == "none:not-allowed:example.com", line["line"]
    assert line["action"] == "pass"


def test_rule_limits_a_network_to_its_own_domains(signing_chain):
    postfix, staffeld, sink = signing_chain(
        extra_dkim='[[dkim.senders]]\nnetworks = ["127.0.0.0/8"]\ndomains = ["tenant.example"]\n')
    got, line = send_and_get(postfix, sink, staffeld, HEADERS + b"\r\n" + BODY)
    assert signature_fields(got) == []
    assert line["dkim"] == "none:not-allowed:example.com", line["line"]


AWKWARD = {
    "empty body": (HEADERS, b""),
    "no final line break": (HEADERS, b"last line without CRLF"),
    "only blank lines": (HEADERS, b"\r\n\r\n\r\n"),
    "long lines": (HEADERS, (b"x" * 990 + b"\r\n") * 50),
    "odd header case and whitespace": (
        b"fRoM:Alice <alice@example.com>\r\n"
        b"SUBJECT :   spaced   out  \r\n"
        b"to: bob@example.net\r\n"
        b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
        b"Message-ID: <odd@example.com>\r\n"
        b"X-Long: " + b"word " * 400 + b"\r\n", b"body\r\n"),
    "duplicate Subject and To": (
        HEADERS + b"Subject: a second subject\r\nTo: carol@example.net\r\n", b"body\r\n"),
    "long folded header": (
        HEADERS + b"References:" + b"".join(b" <ref%d@example.com>\r\n" % i for i in range(200)),
        b"body\r\n"),
}


@pytest.mark.parametrize("case", sorted(AWKWARD))
def test_awkward_mail_signs_and_verifies(signing_chain, keys, case):
    postfix, staffeld, sink = signing_chain()
    headers, body = AWKWARD[case]
    got, line = send_and_get(postfix, sink, staffeld, headers + b"\r\n" + body)
    assert len(signature_fields(got)) == 2, got.header_block
    results, details = verify_both(got.data, keys)
    assert results and all(results.values()), details
    assert staffeld.alive()


def test_mail_without_from_passes_unsigned_with_reason(workdir, keys, staffeld_factory,
                                                       postfix_factory, sink):
    # Postfix adds a missing From: for local clients before milters see the
    # header (and then Staffel signs it); with that off, the From stays missing.
    staffeld = staffeld_factory(policy=dkim_policy(workdir, keys))
    postfix = postfix_factory(milter=staffeld.socket_spec,
                              extra_main_cf={"local_header_rewrite_clients": ""})
    got, line = send_and_get(postfix, sink, staffeld,
                             b"To: bob@example.net\r\nSubject: no From\r\n\r\nbody\r\n")
    assert got.headers("From") == []
    assert signature_fields(got) == []
    assert line["dkim"] == "none:no-from", line["line"]


@pytest.mark.parametrize("headers,reason", [
    (b"From: a@example.com\r\nFrom: b@example.com\r\nSubject: two\r\n", "none:several-from"),
    (b"From: a@example.com, b@example.org\r\nSubject: two domains\r\n",
     "none:from-several-domains"),
    (b"From: someone@elsewhere.example\r\nSubject: no key\r\n", "none:no-key:elsewhere.example"),
])
def test_mail_without_one_signable_author_passes_unsigned_with_reason(signing_chain, headers,
                                                                      reason):
    postfix, staffeld, sink = signing_chain()
    got, line = send_and_get(postfix, sink, staffeld, headers + b"\r\nbody\r\n")
    assert signature_fields(got) == []
    assert line["dkim"] == reason, line["line"]


def test_header_over_the_bound_is_refused_with_552(signing_chain, sink):
    postfix, staffeld, _ = signing_chain(milter_extra='max_header_bytes = "4KiB"\n')
    big = HEADERS + b"".join(b"X-Filler-%d: %s\r\n" % (i, b"y" * 60) for i in range(100))
    r = smtp_send(postfix.smtp_port, SENDER, ["bob@example.net"], big + b"\r\nbody\r\n")
    dot = r.step("dot")
    assert dot is not None and dot.code == 552, str(r)
    assert "5.3.4" in dot.message and "header too large" in dot.message, str(r)
    assert staffeld.alive()
    # The next message on a fresh connection is signed as usual.
    r2 = smtp_send(postfix.smtp_port, SENDER, ["bob@example.net"], HEADERS + b"\r\nok\r\n")
    assert r2.accepted, str(r2)
    (got,) = sink.wait_for(1)
    assert len(signature_fields(got)) == 2


def test_sendmail_submission_is_signed(signing_chain, keys):
    postfix, staffeld, sink = signing_chain()
    postfix.sendmail(HEADERS + b"\r\n" + BODY, SENDER, ["bob@example.net"])
    (got,) = sink.wait_for(1)
    results, details = verify_both(got.data, keys)
    assert len(results) >= 3 and all(results.values()), details


def read_calls(pid: int) -> int:
    """read(2)-family system calls the process has made so far (/proc/PID/io)."""
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("syscr:"):
                return int(line.split()[1])
    raise AssertionError("no syscr in /proc/%d/io" % pid)


def test_each_signed_message_costs_staffeld_a_few_reads(signing_chain, keys):
    """libmilter reads every MTA command with two read(2) calls: about 40 for
    this message, whose headers and body staffeld asks for. staffeld reads
    ahead (adapters/milter/libmilter_reads.cpp), so Postfix's back-to-back
    commands arrive a stage at a time."""
    postfix, staffeld, sink = signing_chain()
    send_and_get(postfix, sink, staffeld, HEADERS + b"\r\n" + BODY)  # start-up reads done
    before = read_calls(staffeld.pid)
    n = 10
    for i in range(n):
        r = smtp_send(postfix.smtp_port, SENDER, ["bob@example.net"],
                      HEADERS.replace(b"dkim-1@", b"dkim-io-%d@" % i) + b"\r\n" + BODY)
        assert r.accepted, str(r)
    got = sink.wait_for(n + 1)
    per_message = (read_calls(staffeld.pid) - before) / n
    assert per_message <= 12, per_message
    results, details = verify_both(got[-1].data, keys)  # and the mail is intact
    assert results and all(results.values()), details


def test_feedback_id_is_added_before_signing_and_signed(workdir, keys, staffeld_factory,
                                                        postfix_factory, sink):
    """[stats] feedback_id adds Feedback-ID from the tag and strip_tag_headers
    removes the tag field, both before signing: the signature covers the
    header as it leaves, for both verifiers."""
    policy = dkim_policy(workdir, keys) + (
        '[stats]\ntag_headers = ["X-Campaign-Id"]\nstrip_tag_headers = true\n'
        'feedback_id = "{tag}:{stream}:{sender_domain}:staffel"\n')
    staffeld = staffeld_factory(policy=policy)
    postfix = postfix_factory(milter=staffeld.socket_spec)
    message = HEADERS + b"X-Campaign-Id: spring sale 2026\r\n\r\n" + BODY
    got, line = send_and_get(postfix, sink, staffeld, message)
    assert got.headers("Feedback-ID") == ["spring_sale_2026:transactional:example.com:staffel"]
    assert got.headers("X-Campaign-Id") == []
    assert "tag=spring_sale_2026" in line["line"], line
    for sig in signature_fields(got):
        h = re.search(rb"h=([^;]+)", re.sub(rb"\s+", b"", sig)).group(1).lower().split(b":")
        assert b"feedback-id" in h, sig
    results, details = verify_both(got.data, keys)
    assert results and all(results.values()), details
