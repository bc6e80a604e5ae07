"""eas.machines.access.evaluate: the whole gate as one pure function, and its invariants."""
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from easlab.eas import policy
from easlab.eas.commands import catalog
from easlab.eas.machines.access import (
    ALLOWED, BLOCKED, CHARACTERISTICS, DISCOVERY, QUARANTINE_ALLOWED, QUARANTINED, DeviceFacts, Facts,
    MailboxAccess, Organisation, Recipient, Rule, evaluate, listed,
)
from easlab.eas.request import RequestLine
from easlab.eas.status import Common
from easlab.eas.wbxml import E

COMMANDS = catalog.registry()
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
VALUES = ("iPhone", "LabWiFi", "iOS 17", "Android", "")
POLICY_STATUSES = (None, Common.RemoteWipeRequested, Common.LegacyDeviceOnStrictPolicy, Common.DeviceNotProvisioned,
                   Common.PolicyRefresh, Common.InvalidPolicyKey)


def make(command="Sync", version="14.1", *, org=None, rules=(), mailbox=None, device=None, **kw) -> Facts:
    line = RequestLine(command, "Dev1", "iPhone", version, policy_key=1)
    device = device or DeviceFacts("Dev1", "iPhone", created_at=NOW - timedelta(days=1))
    return Facts(org or Organisation(), tuple(rules), mailbox or MailboxAccess(), device, line,
                 COMMANDS[command], NOW, **kw)


@st.composite
def facts(draw) -> Facts:
    device_id = draw(st.sampled_from(["Dev1", "dev1", "DEV1"]))
    rules = draw(st.lists(st.builds(Rule, st.sampled_from(CHARACTERISTICS), st.sampled_from(VALUES[:-1]),
                                    st.sampled_from(["Allow", "Block", "Quarantine"])), max_size=3))
    ids = st.lists(st.sampled_from(["dev1", "DEV1", "other"]), max_size=2)
    device = DeviceFacts("Dev1", "iPhone", draw(st.sampled_from(VALUES)), draw(st.sampled_from(VALUES)),
                         model=draw(st.sampled_from(VALUES)), xmswl=draw(st.sampled_from(VALUES)),
                         created_at=NOW - timedelta(minutes=draw(st.integers(0, 60))), wipe_pending=draw(st.booleans()))
    command = draw(st.sampled_from(sorted(c for c in COMMANDS if COMMANDS[c].root)))
    line = RequestLine(command, device_id, "iPhone", draw(st.sampled_from(["12.1", "14.0", "14.1", "16.1"])), policy_key=1)
    return Facts(
        Organisation(draw(st.sampled_from(["Allow", "Block", "Quarantine"])), draw(st.integers(0, 30)),
                     max_devices=draw(st.integers(1, 3)), blocked_delay=5),
        tuple(rules), MailboxAccess(draw(st.booleans()), draw(ids), draw(ids)), device, line,
        COMMANDS[command], NOW, known=draw(st.booleans()), partnerships=draw(st.integers(0, 4)),
        # eas.policy.check answers RemoteWipeRequested first whenever a wipe is pending.
        policy_status=Common.RemoteWipeRequested if device.wipe_pending else draw(st.sampled_from(POLICY_STATUSES)),
        stored_state=draw(st.sampled_from(["Unknown", ALLOWED, BLOCKED, QUARANTINED, DISCOVERY])),
    )


def refused_before_device(f: Facts) -> bool:
    return not f.mailbox.activesync_enabled or (not f.known and f.partnerships >= f.organisation.max_devices)


@given(facts())
def test_the_blocked_list_wins_unless_a_wipe_is_pending(f):
    d = evaluate(f)
    if refused_before_device(f):
        assert d.state is None and d.response is not None and not d.recorded
    elif f.device.wipe_pending:
        assert (d.state, d.step, d.recorded) == (ALLOWED, "RemoteWipe", False) and not d.notify
    elif listed(f.device.device_id, f.mailbox.blocked_ids):
        assert (d.state, d.reason, d.step) == (BLOCKED, "Individual", "BlockedList")
        assert d.response.headers["X-MS-ASThrottle"] == "Individual"


@given(facts())
def test_a_rule_match_never_yields_discovery_after_the_window(f):
    d = evaluate(f)
    after = NOW - f.device.created_at >= timedelta(minutes=f.organisation.discovery_minutes)
    if d.step == "Rule" or after:
        assert d.state != DISCOVERY


@given(facts())
def test_who_is_told(f):
    d = evaluate(f)
    if d.step == "MaxDevices":
        assert d.notify <= {Recipient.USER}
        return
    if d.notify:
        assert d.recorded and d.state != f.stored_state and d.reason != "Policy"
        assert d.notify == ({Recipient.USER, Recipient.ADMINS} if d.state == QUARANTINED else {Recipient.USER})
    elif d.recorded and d.state != f.stored_state:
        assert d.state not in (QUARANTINED, BLOCKED) or d.reason == "Policy"


@given(facts())
def test_what_the_request_gets(f):
    d = evaluate(f)
    if d.response is None:  # the command runs
        assert d.state == ALLOWED or (d.state in (QUARANTINED, DISCOVERY) and f.command.name in QUARANTINE_ALLOWED)
        assert f.policy_status is None or f.command.name in policy.EXEMPT_COMMANDS
    if d.reason == "Policy":
        assert d.state == BLOCKED and f.policy_status not in (None, Common.PolicyRefresh, Common.RemoteWipeRequested)


@given(facts())
def test_the_same_facts_the_same_decision(f):
    """explain and the gate call evaluate on facts gathered one way: nothing else may vary."""
    a, b = evaluate(f), evaluate(f)
    assert (a.state, a.reason, a.rule, a.step, a.path, a.notify) == (b.state, b.reason, b.rule, b.step, b.path, b.notify)


def test_activesync_disabled_is_126_before_anything():
    d = evaluate(make(mailbox=MailboxAccess(False, [], ["Dev1"])))
    assert (d.state, d.step) == (None, "ActiveSyncEnabled")
    assert d.response.body == E("AirSync:Sync", E("AirSync:Status", Common.UserDisabledForSync))


def test_max_devices_refuses_a_new_partnership_and_tells_the_user_once_a_day():
    org = Organisation(max_devices=2)
    d = evaluate(make(org=org, known=False, partnerships=2))
    assert (d.state, d.step, d.notify) == (None, "MaxDevices", {Recipient.USER})
    assert d.response.body == E("AirSync:Sync", E("AirSync:Status", Common.MaximumDevicesReached))
    assert d.path[-1] == "2 partnerships, the limit is 2: a new partnership is refused (177)"
    assert evaluate(make(org=org, known=False, partnerships=2, max_devices_notice_at=NOW - timedelta(hours=1))).notify == set()
    assert evaluate(make("Sync", "14.0", org=org, known=False, partnerships=2)).response.status == 403  # 177 is 14.1+
    assert evaluate(make(org=org, known=True, partnerships=5)).state == ALLOWED


def test_failing_the_policy_is_stored_blocked_policy_without_a_notice():
    d = evaluate(make(policy_status=Common.DeviceNotProvisioned))
    assert (d.state, d.reason, d.step, d.notify) == (BLOCKED, "Policy", "Policy", frozenset())
    assert d.path[-1] == "policy check: status 142"
    assert d.response.body == E("AirSync:Sync", E("AirSync:Status", 142))
    assert evaluate(make("Provision", policy_status=Common.DeviceNotProvisioned)).state == ALLOWED
    refresh = evaluate(make(policy_status=Common.PolicyRefresh))
    assert refresh.state == ALLOWED and refresh.response.body == E("AirSync:Sync", E("AirSync:Status", 143))


def test_the_xmswl_rule_blocks_once_discovery_is_over():  # review A.4, as pure facts
    rule = Rule("XMSWLHeader", "LabWiFi", "Block")
    device = DeviceFacts("Dev1", "iPhone", "easlab-tests/1", xmswl="LabWiFi", created_at=NOW)
    d = evaluate(make(org=Organisation(discovery_minutes=0), rules=[rule], device=device, stored_state="Unknown"))
    assert (d.state, d.reason, d.rule, d.notify) == (BLOCKED, "DeviceRule", "LabWiFi (XMSWLHeader)", {Recipient.USER})
    d = evaluate(make(org=Organisation(discovery_minutes=14), rules=[rule], device=device))
    assert (d.state, d.step) == (DISCOVERY, "Discovery")


def test_quarantine_notifies_user_and_admins_on_the_change_only():
    org = Organisation("Quarantine")
    assert evaluate(make(org=org)).notify == {Recipient.USER, Recipient.ADMINS}
    assert evaluate(make(org=org, stored_state=QUARANTINED)).notify == frozenset()
    moved = evaluate(make("MoveItems", org=org))
    assert moved.response.body == E("Move:MoveItems", E("Move:Response", E("Move:Status", 5)))
