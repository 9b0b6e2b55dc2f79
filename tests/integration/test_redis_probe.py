"""staffeld checks its Redis at start: reachable is reported, unreachable is a warning, not a stop.

Until quotas and suppression lists use Redis, an unreachable Redis must not
keep mail from passing; the warning tells the admin at once.
"""
from harness import free_port, sample_message, smtp_send


def test_reachable_redis_is_reported(staffeld, redis):
    log = staffeld.log()
    assert "redis %s reachable (redis " % redis.address in log, log


def test_unreachable_redis_is_a_warning_and_mail_still_passes(staffeld_factory, postfix_factory,
                                                              sink):
    dead = "127.0.0.1:%d" % free_port()  # nothing listens there
    staffeld = staffeld_factory(redis=dead)
    log = staffeld.log()
    assert "warning: cannot connect to Redis at %s: Connection refused" % dead in log, log
    postfix = postfix_factory(milter=staffeld.socket_spec)
    r = smtp_send(postfix.smtp_port, "alice@example.com", ["bob@example.net"],
                  sample_message(subject="redis down"))
    assert r.accepted, str(r)
    assert sink.wait_for(1)[0].headers("Subject") == ["redis down"]
