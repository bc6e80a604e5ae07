"""The fixture's fault calls, in both modes: `fault(...)` returns an id, `faults()` lists,
`remove_fault(id)` and `clear_faults(user=None)` remove; in-process through server.faults on the
server's clock, in process mode through /api/faults as the fixture's org-admin account."""
import pytest

from easlab.testing.plugin import ADMIN, InProcessEaslab, ProcessEaslab
from easlab.storage.faults import FaultError

pytestmark = pytest.mark.anyio

BOTH = pytest.mark.parametrize("mode", ["inprocess", pytest.param("process", marks=pytest.mark.easlab(mode="process"))])


@BOTH
async def test_a_throttle_answers_503_with_retry_after_then_clears(easlab, mode):
    assert easlab.mode == mode
    alice = easlab.make_user("alice")
    phone = await easlab.make_device(alice)
    fault_id = easlab.fault("throttle", device=phone, command="FolderSync", count=1, retry_after=7, reason="Lab")
    assert isinstance(fault_id, int)
    (listed,) = easlab.faults()
    assert listed["id"] == fault_id and listed["state"] == "active" and listed["remaining"] == 1
    assert (listed["user"], listed["device_id"], listed["command"]) == ("alice", phone.state.device_id, "FolderSync")
    assert listed["params"] == {"status": 503, "retry_after": 7, "reason": "Lab"}

    assert (await phone.sync("Inbox")).http_status == 200  # another command: untouched
    throttled = await phone.folder_sync()
    assert throttled.http_status == 503
    assert throttled.headers["retry-after"] == "7" and throttled.headers["x-ms-asthrottle"] == "Lab"
    again = await phone.folder_sync()
    assert again.http_status == 200 and again.status == 1

    (spent,) = easlab.faults()
    assert (spent["state"], spent["hits"], spent["remaining"]) == ("spent", 1, 0)
    assert easlab.clear_faults() == 1
    assert easlab.faults() == []


@BOTH
async def test_faults_by_user_device_id_and_removal(easlab, mode):
    alice, bob = easlab.make_user("alice"), easlab.make_user("bob")
    alices, bobs = await easlab.make_device(alice), await easlab.make_device(bob)
    by_user = easlab.fault("unauthorized", user=alice)
    by_id = easlab.fault("reprovision", user="bob", device=bobs.state.device_id, command="Sync", count=5)
    assert by_user != by_id
    assert [(f["kind"], f["user"], f["device_id"]) for f in easlab.faults()] == [
        ("unauthorized", "alice", None), ("reprovision", "bob", bobs.state.device_id)]

    assert (await alices.folder_sync()).http_status == 401
    assert (await bobs.folder_sync()).http_status == 200  # bob's fault is for Sync only
    assert (await bobs.sync("Inbox")).status == 142  # 14.1: in the body

    assert easlab.remove_fault(by_user) is True
    assert easlab.remove_fault(by_user) is False
    assert (await alices.folder_sync()).http_status == 200
    easlab.fault("delay", user=alice, params={"seconds": 0.01})  # a delay's own seconds
    assert easlab.clear_faults(user=bob) == 1
    (left,) = easlab.faults()
    assert left["kind"] == "delay" and left["params"] == {"seconds": 0.01} and left["expires_at"] is None


@BOTH
async def test_bad_faults_raise_value_error(easlab, mode):
    easlab.make_user("alice")
    for kwargs in ({"kind": "sideways"}, {"kind": "throttle", "status": "soon"}, {"kind": "throttle", "colour": "red"},
                   {"kind": "smtp", "status": 450}, {"kind": "throttle", "count": 0}, {"kind": "delay", "seconds": -1}):
        kind = kwargs.pop("kind")
        with pytest.raises(ValueError) as raised:
            easlab.fault(kind, **kwargs)
        assert isinstance(raised.value, FaultError) and str(raised.value), kwargs
    assert easlab.faults() == []


async def test_in_process_a_fault_ends_on_the_servers_clock(easlab):
    assert isinstance(easlab, InProcessEaslab)
    phone = await easlab.make_device(easlab.make_user("alice"))
    easlab.fault("throttle", user="alice", seconds=60)
    assert (await phone.folder_sync()).http_status == 503
    easlab.clock.advance(59)
    assert (await phone.folder_sync()).http_status == 503
    easlab.clock.advance(2)
    assert (await phone.folder_sync()).http_status == 200
    assert easlab.faults()[0]["state"] == "expired"


@BOTH
async def test_smtp_faults_refuse_a_delivery(easlab, mode):
    """In-process deliver() meets them where the SMTP listener would: at RCPT and at DATA."""
    import smtplib

    alice, bob = easlab.make_user("alice"), easlab.make_user("bob")
    easlab.fault("smtp", user=alice, status=451, count=1)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await easlab.deliver(to=alice, subject="first")
    assert refused.value.recipients["alice@easlab.test"][0] == 451
    with pytest.raises(smtplib.SMTPRecipientsRefused):  # bob still gets it; alice's refusal is raised
        easlab.fault("smtp", user=alice, status=550, count=1)
        await easlab.deliver(to=[alice, bob], subject="to both")
    assert (await easlab.wait_for_mail(bob)).subject == "to both"
    easlab.fault("smtp", user=bob, status=554, stage="data", count=1)
    with pytest.raises(smtplib.SMTPDataError) as data:
        await easlab.deliver(to=bob, subject="refused whole")
    assert data.value.smtp_code == 554
    await easlab.deliver(to=alice, subject="second")
    assert (await easlab.wait_for_mail(alice)).subject == "second"
    assert [m.subject for m in easlab.messages(bob)] == ["to both"]


@pytest.mark.easlab(mode="process")
async def test_process_mode_uses_an_org_admin_made_on_first_use(easlab):
    assert isinstance(easlab, ProcessEaslab)
    easlab.make_user("alice")
    from easlab.storage.users import get_user

    with easlab.db.session() as s:
        assert get_user(s, ADMIN) is None  # nothing made before a fault call
    easlab.fault("throttle", user="alice", count=1)
    with easlab.db.session() as s:
        assert get_user(s, ADMIN).role == "org-admin"
    assert len(easlab.faults()) == 1  # the account is reused
