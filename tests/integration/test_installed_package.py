"""The installed Debian package at work: /usr/sbin/staffeld, started as
root, drops to the package's staffel user, reads a DKIM key that
`/usr/sbin/staffelctl dkim keygen` wrote into /etc/staffel/keys, and signs
a message a sandboxed Postfix relays; python3-dkim verifies it.

Runs only from tests/package/run.sh (STAFFEL_INSTALLED_TEST=1), which
installs the package on the machine first and removes it afterwards; in
every other run it is skipped.
"""
import os
import pwd
import subprocess

import pytest

from dkim_verify import public_key_record, verify_python_dkim
from harness import sample_message, smtp_send

pytestmark = pytest.mark.skipif(os.environ.get("STAFFEL_INSTALLED_TEST") != "1",
                                reason="needs the installed package (tests/package/run.sh)")

KEYS = "/etc/staffel/keys"


def process_user(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return pwd.getpwuid(int(line.split()[2])).pw_name
    return None


def test_installed_staffeld_signs_as_the_staffel_user(staffeld_factory, postfix_factory, sink,
                                                      redis, workdir):
    assert os.environ["STAFFELD"] == "/usr/sbin/staffeld"
    selector = "pkg%d" % os.getpid()
    key = "%s/example.com.%s.pem" % (KEYS, selector)
    r = subprocess.run(["/usr/sbin/staffelctl", "dkim", "keygen", "--domain", "example.com",
                        "--selector", selector, "--out", KEYS],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        staffel = pwd.getpwnam("staffel")
        os.chown(key, staffel.pw_uid, staffel.pw_gid)
        spec = "unix:%s" % (workdir / "staffeld.sock")
        policy = ('[milter]\nsocket = "%s"\nsocket_mode = "0666"\nuser = "staffel"\n'
                  'group = "staffel"\n[redis]\naddress = "%s"\n'
                  '[[dkim.keys]]\ndomain = "example.com"\nselector = "%s"\nkey = "%s"\n'
                  % (spec, redis.address, selector, key))
        staffeld = staffeld_factory(policy=policy, socket=spec)
        assert process_user(staffeld.pid) == "staffel"
        assert "running as user staffel" in staffeld.log()

        postfix = postfix_factory(milter=spec)
        sent = smtp_send(postfix.smtp_port, "app@example.com", ["bob@example.net"],
                         sample_message(subject="from the package", sender="app@example.com"))
        assert sent.accepted, str(sent)
        got = sink.wait_for(1)[0]
        results = verify_python_dkim(got.data, {
            "%s._domainkey.example.com" % selector: public_key_record(key)})
        assert [(x.d, x.s, x.ok) for x in results] == [("example.com", selector, True)], \
            [x.detail for x in results]
    finally:
        os.unlink(key)
