"""dkim_verify.py - two independent DKIM verifiers for the integration tests, no DNS.

Purpose: check the signatures staffeld adds with code that is not ours:
  python3-dkim (`verify_python_dkim`) and Perl's Mail::DKIM through
  verify_mail_dkim.pl (`verify_mail_dkim`). Both take the public keys from
  a dict instead of DNS: {"SELECTOR._domainkey.DOMAIN": "v=DKIM1; k=rsa; p=..."};
  names are compared without case and without a trailing dot.
Result: a list with one SignatureResult per DKIM-Signature header, in header
  order. A SignatureResult is the tuple (d, s, a, ok) - strings and a bool,
  ok True only for a verified signature - and carries `.detail`, the
  verifier's reason in words (for assertion messages; not to be matched).
Keys: `txt_record` builds a record's text; `public_key_record` builds it from
  a PEM private key file (RSA or Ed25519, as staffeld reads them), with the
  openssl command line.
Errors: a signature that does not verify - altered message, wrong or
  missing key, unknown algorithm - gives ok=False; verify_mail_dkim raises
  RuntimeError when the Perl script cannot run or prints something else.
Who calls it: tests/integration/test_dkim_verifiers.py (which checks both
  verifiers), tests/bench/throughput.py (its signature sample), and the
  DKIM signing tests to come. Debian 12: python3-dkim, python3-nacl,
  libmail-dkim-perl (which pulls in libnet-dns-perl).
"""
from __future__ import annotations

import base64
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import NamedTuple

import dkim
import dkim.util

HERE = Path(__file__).resolve().parent
MAIL_DKIM_SCRIPT = HERE / "verify_mail_dkim.pl"
KEY_TYPES = {"rsa": "rsa", "rsa-sha256": "rsa", "ed25519": "ed25519",
             "ed25519-sha256": "ed25519"}


class _Verdict(NamedTuple):
    d: str
    s: str
    a: str
    ok: bool


class SignatureResult(_Verdict):
    """(d, s, a, ok) of one signature; `.detail` says why, for humans."""

    detail = ""

    def __new__(cls, d, s, a, ok, detail=""):
        self = super().__new__(cls, d, s, a, ok)
        self.detail = detail
        return self


# ---------------------------------------------------------------- key records

def txt_record(algorithm: str, p_base64: str) -> str:
    """'v=DKIM1; k=rsa|ed25519; p=...'; algorithm is rsa, ed25519 or an a= value."""
    try:
        k = KEY_TYPES[algorithm.lower()]
    except KeyError:
        raise ValueError("unknown DKIM key algorithm %r" % algorithm) from None
    return "v=DKIM1; k=%s; p=%s" % (k, p_base64)


def key_type(private_pem) -> str:
    """'rsa' or 'ed25519': the k= of a PEM private key file (asks openssl)."""
    text = subprocess.run(["openssl", "pkey", "-in", str(private_pem), "-noout", "-text"],
                          capture_output=True, check=True).stdout.decode(errors="replace")
    if text.startswith("ED25519"):
        return "ed25519"
    if "Private-Key:" in text.splitlines()[0] and "modulus:" in text:
        return "rsa"
    raise ValueError("%s: neither an RSA nor an Ed25519 private key" % private_pem)


def public_key_record(private_pem) -> str:
    """The TXT record text for the public half of a PEM private key file.

    RSA: p= is the DER SubjectPublicKeyInfo (RFC 6376 3.6.1). Ed25519: p= is
    the raw 32-byte key (RFC 8463 4.2), the tail of its SubjectPublicKeyInfo.
    """
    k = key_type(private_pem)
    der = subprocess.run(["openssl", "pkey", "-in", str(private_pem), "-pubout",
                          "-outform", "DER"], capture_output=True, check=True).stdout
    return txt_record(k, base64.b64encode(der[-32:] if k == "ed25519" else der).decode())


def _canonical_name(name) -> str:
    if isinstance(name, bytes):
        name = name.decode("ascii", errors="replace")
    return name.lower().rstrip(".")


# ---------------------------------------------------------------- python3-dkim

def _signature_tags(header_value: bytes) -> dict:
    try:
        return dkim.util.parse_tag_value(header_value)
    except dkim.util.InvalidTagValueList:
        return {}


def _tag(tags: dict, name: bytes) -> str:
    value = tags.get(name)
    return value.decode("ascii", errors="replace") if value else "-"


def verify_python_dkim(message_bytes: bytes, records: dict) -> list:
    """Verifies every DKIM-Signature of the message with python3-dkim."""
    table = {_canonical_name(k): v for k, v in records.items()}
    missing = set()

    def lookup(name, timeout=5):  # noqa: ARG001 - python3-dkim's dnsfunc signature
        text = table.get(_canonical_name(name))
        if text is None:
            missing.add(_canonical_name(name))
            return None
        return text.encode()

    headers = dkim.DKIM(message_bytes).headers
    signatures = [v for k, v in headers if k.lower() == b"dkim-signature"]
    results = []
    for idx, value in enumerate(signatures):
        tags = _signature_tags(value)
        missing.clear()
        try:
            ok = bool(dkim.DKIM(message_bytes).verify(idx=idx, dnsfunc=lookup))
            if ok:
                detail = "pass"
            elif missing:
                detail = "no key record for %s" % ", ".join(sorted(missing))
            else:
                detail = "signature did not verify"
        except dkim.DKIMException as e:
            ok, detail = False, "%s: %s" % (type(e).__name__, e)
        results.append(SignatureResult(_tag(tags, b"d"), _tag(tags, b"s"), _tag(tags, b"a"),
                                       ok, detail))
    return results


# ---------------------------------------------------------------- Mail::DKIM

_MAIL_DKIM_LINE = re.compile(
    r"^d=(?P<d>\S+) s=(?P<s>\S+) a=(?P<a>\S+) result=(?P<result>\S+) detail=(?P<detail>.*)$")


def parse_mail_dkim_output(text: str) -> list:
    """verify_mail_dkim.pl's lines -> SignatureResults (detail: Mail::DKIM's result_detail)."""
    results = []
    for line in text.splitlines():
        m = _MAIL_DKIM_LINE.match(line)
        if not m:
            raise RuntimeError("verify_mail_dkim.pl: unexpected line %r" % line)
        results.append(SignatureResult(m["d"], m["s"], m["a"], m["result"] == "pass",
                                       m["detail"] or m["result"]))
    return results


def verify_mail_dkim(message_bytes: bytes, records: dict, timeout: float = 60.0) -> list:
    """Verifies every DKIM-Signature of the message with Perl's Mail::DKIM."""
    lines = []
    for name, text in records.items():
        if any(c in name + text for c in "\t\r\n"):
            raise ValueError("record %r: no tabs or line breaks allowed" % name)
        lines.append("%s\t%s\n" % (name, text))
    fd, path = tempfile.mkstemp(prefix="dkim-records-", suffix=".txt")
    try:
        with os.fdopen(fd, "w") as f:
            f.writelines(lines)
        r = subprocess.run(["perl", str(MAIL_DKIM_SCRIPT), path], input=message_bytes,
                           capture_output=True, timeout=timeout)
    finally:
        os.unlink(path)
    if r.returncode != 0:
        raise RuntimeError("verify_mail_dkim.pl exited %d: %s"
                           % (r.returncode, r.stderr.decode(errors="replace")[-500:]))
    return parse_mail_dkim_output(r.stdout.decode(errors="replace"))


def mail_dkim_supports(algorithm: str) -> bool:
    """Does the installed Mail::DKIM know this a= algorithm?

    Debian 12's 1.20230212 knows rsa-sha1 and rsa-sha256 only; it reports an
    ed25519-sha256 signature as 'invalid (unsupported algorithm ...)'.
    """
    probe = ('use Mail::DKIM::Signature; '
             'exit(Mail::DKIM::Signature->get_algorithm_class($ARGV[0]) ? 0 : 1)')
    r = subprocess.run(["perl", "-e", probe, algorithm], capture_output=True, timeout=30)
    return r.returncode == 0
