"""The two reference DKIM verifiers of dkim_verify.py judge known messages correctly.

Before the verifiers judge staffeld's signatures, they must show that they
accept a good signature and reject a bad one. Messages are signed here with
python3-dkim (relaxed/relaxed) using keys made by `openssl genpkey` - RSA
2048 and Ed25519, PEM files as staffeld reads them - and each row of CASES
says how the message or the key record is spoiled afterwards and what every
signature's verdict must be, for both verifiers.

Mail::DKIM 1.20230212 (Debian 12) has no Ed25519 (its Signature.pm knows
rsa-sha1 and rsa-sha256 only): the Ed25519 rows are skipped for it, saying
so, and a separate test pins down what it does with a doubly signed message.
No DNS, no servers: the keys come from a dict.
"""
import base64
import subprocess

import pytest

import dkim
from dkim_verify import (key_type, mail_dkim_supports, public_key_record, txt_record,
                         verify_mail_dkim, verify_python_dkim)

DOMAIN = "example.com"
MESSAGE = (
    b"From: Alice Example <alice@example.com>\r\n"
    b"To: Bob Example <bob@example.net>\r\n"
    b"Subject: quarterly figures\r\n"
    b"Date: Mon, 06 Jan 2025 10:00:00 +0000\r\n"
    b"Message-ID: <verifiers-1@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Hello Bob,\r\n"
    b"\r\n"
    b"the figures are attached.\r\n"
)
VERIFIERS = {"python-dkim": verify_python_dkim, "mail-dkim": verify_mail_dkim}
ED25519_MISSING = ("Mail::DKIM %s on this host has no ed25519-sha256 (Debian 12 ships "
                   "1.20230212: rsa-sha1/rsa-sha256 only); the row is checked by "
                   "python3-dkim alone")


# ---------------------------------------------------------------- keys and signing

def genpkey(path, algorithm):
    argv = ["openssl", "genpkey", "-algorithm", algorithm, "-out", str(path)]
    if algorithm == "RSA":
        argv[4:4] = ["-pkeyopt", "rsa_keygen_bits:2048"]
    subprocess.run(argv, check=True, capture_output=True)
    path.chmod(0o600)
    return path


def python_dkim_private_key(pem_path):
    """A PEM key file in the form python3-dkim's sign() wants.

    RSA: PKCS#1 PEM ('-traditional'). Ed25519: the base64 of the 32-byte seed,
    the last 32 bytes of the PKCS#8 DER.
    """
    if key_type(pem_path) == "ed25519":
        der = subprocess.run(["openssl", "pkey", "-in", str(pem_path), "-outform", "DER"],
                             check=True, capture_output=True).stdout
        return base64.b64encode(der[-32:])
    return subprocess.run(["openssl", "pkey", "-in", str(pem_path), "-traditional"],
                          check=True, capture_output=True).stdout


def sign(message, selector, key_pem, algorithm):
    header = dkim.sign(message, selector.encode(), DOMAIN.encode(),
                       python_dkim_private_key(key_pem),
                       canonicalize=(b"relaxed", b"relaxed"),
                       signature_algorithm=algorithm.encode(),
                       include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    return header + message


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("dkim-keys")
    pems = {name: genpkey(d / ("%s.pem" % name), alg)
            for name, alg in (("rsa", "RSA"), ("rsa-other", "RSA"),
                              ("ed", "ed25519"), ("ed-other", "ed25519"))}
    return {name: (pem, public_key_record(pem)) for name, pem in pems.items()}


# ---------------------------------------------------------------- the table

def tamper_body(message):
    i = message.index(b"figures are")
    return message[:i] + b"F" + message[i + 1:]


def tamper_subject(message):
    return message.replace(b"Subject: quarterly figures", b"Subject: quarterly Figures")


def unchanged(message):
    return message


# name, signatures [(selector, key, a=)] top first, spoil(message),
# records {selector: key}, want [ok per signature] top first.
CASES = [
    ("rsa-good", [("rsa", "rsa", "rsa-sha256")], unchanged, {"rsa": "rsa"}, [True]),
    ("rsa-body-changed", [("rsa", "rsa", "rsa-sha256")], tamper_body, {"rsa": "rsa"}, [False]),
    ("rsa-subject-changed", [("rsa", "rsa", "rsa-sha256")], tamper_subject, {"rsa": "rsa"},
     [False]),
    ("rsa-wrong-key", [("rsa", "rsa", "rsa-sha256")], unchanged, {"rsa": "rsa-other"},
     [False]),
    ("rsa-no-key", [("rsa", "rsa", "rsa-sha256")], unchanged, {}, [False]),
    ("ed25519-good", [("ed", "ed", "ed25519-sha256")], unchanged, {"ed": "ed"}, [True]),
    ("ed25519-body-changed", [("ed", "ed", "ed25519-sha256")], tamper_body, {"ed": "ed"},
     [False]),
    ("ed25519-subject-changed", [("ed", "ed", "ed25519-sha256")], tamper_subject,
     {"ed": "ed"}, [False]),
    ("ed25519-wrong-key", [("ed", "ed", "ed25519-sha256")], unchanged, {"ed": "ed-other"},
     [False]),
    ("ed25519+rsa-good", [("ed", "ed", "ed25519-sha256"), ("rsa", "rsa", "rsa-sha256")],
     unchanged, {"rsa": "rsa", "ed": "ed"}, [True, True]),
    ("ed25519+rsa-body-changed",
     [("ed", "ed", "ed25519-sha256"), ("rsa", "rsa", "rsa-sha256")], tamper_body,
     {"rsa": "rsa", "ed": "ed"}, [False, False]),
    ("ed25519+rsa-one-key-wrong",
     [("ed", "ed", "ed25519-sha256"), ("rsa", "rsa", "rsa-sha256")], unchanged,
     {"rsa": "rsa-other", "ed": "ed"}, [True, False]),
]


def build(keys, signatures, spoil, records):
    """(message, records dict, want (d, s, a) per signature in header order)."""
    message = MESSAGE
    for selector, key, algorithm in reversed(signatures):
        message = sign(message, selector, keys[key][0], algorithm)  # goes on top
    table = {"%s._domainkey.%s" % (sel, DOMAIN): keys[key][1] for sel, key in records.items()}
    ids = [(DOMAIN, sel, alg) for sel, _key, alg in signatures]
    return spoil(message), table, ids


@pytest.mark.parametrize("verifier", sorted(VERIFIERS))
@pytest.mark.parametrize("name,signatures,spoil,records,want", CASES, ids=[c[0] for c in CASES])
def test_verdicts(keys, verifier, name, signatures, spoil, records, want):
    uses_ed25519 = any(alg == "ed25519-sha256" for _s, _k, alg in signatures)
    if verifier == "mail-dkim" and uses_ed25519 and not mail_dkim_supports("ed25519-sha256"):
        pytest.skip(ED25519_MISSING % _mail_dkim_version())
    message, table, ids = build(keys, signatures, spoil, records)
    got = VERIFIERS[verifier](message, table)
    want_results = [(d, s, a, ok) for (d, s, a), ok in zip(ids, want)]
    assert got == want_results, "%s/%s: got %s, want %s; details: %s" % (
        verifier, name, got, want_results, [r.detail for r in got])


def test_mail_dkim_rsa_verdict_stands_beside_unknown_ed25519(keys):
    """With no Ed25519 support, Mail::DKIM still passes the RSA signature of a
    doubly signed message and calls the Ed25519 one invalid - never pass."""
    if mail_dkim_supports("ed25519-sha256"):
        pytest.skip("this Mail::DKIM verifies ed25519-sha256; test_verdicts covers it")
    message, table, _ids = build(keys, [("ed", "ed", "ed25519-sha256"),
                                        ("rsa", "rsa", "rsa-sha256")],
                                 unchanged, {"rsa": "rsa", "ed": "ed"})
    got = verify_mail_dkim(message, table)
    assert [(r.s, r.ok) for r in got] == [("ed", False), ("rsa", True)], \
        "got %s (%s)" % (got, [r.detail for r in got])
    assert "unsupported algorithm" in got[0].detail, "got detail %r" % got[0].detail


@pytest.mark.parametrize("verifier", sorted(VERIFIERS))
def test_unsigned_message_has_no_verdicts(verifier):
    got = VERIFIERS[verifier](MESSAGE, {})
    assert got == [], "%s: got %s, want []" % (verifier, got)


def test_txt_record():
    rows = [
        (("rsa", "QUJD"), "v=DKIM1; k=rsa; p=QUJD"),
        (("rsa-sha256", "QUJD"), "v=DKIM1; k=rsa; p=QUJD"),
        (("ed25519", "QUJD"), "v=DKIM1; k=ed25519; p=QUJD"),
        (("ed25519-sha256", "QUJD"), "v=DKIM1; k=ed25519; p=QUJD"),
    ]
    for args, want in rows:
        got = txt_record(*args)
        assert got == want, "txt_record%r: got %r, want %r" % (args, got, want)
    with pytest.raises(ValueError):
        txt_record("dsa", "QUJD")


def test_public_key_record_shapes(keys):
    """RSA p= is a 294-byte SubjectPublicKeyInfo; Ed25519 p= is the raw 32-byte key."""
    for name, k, size in (("rsa", "rsa", 294), ("ed", "ed25519", 32)):
        record = keys[name][1]
        prefix = "v=DKIM1; k=%s; p=" % k
        assert record.startswith(prefix), "got %r, want prefix %r" % (record, prefix)
        got = len(base64.b64decode(record[len(prefix):]))
        assert got == size, "%s: got %d key bytes, want %d" % (name, got, size)


def _mail_dkim_version():
    r = subprocess.run(["perl", "-MMail::DKIM", "-e", "print $Mail::DKIM::VERSION"],
                       capture_output=True, timeout=30)
    return r.stdout.decode().strip() or "?"
