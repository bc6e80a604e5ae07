"""The access decision as a pure function: Exchange's evaluation order (digest §4.2, §11)."""
from datetime import datetime, timedelta, timezone

import pytest

from easlab.eas.commands import catalog
from easlab.eas.machines.access import (
    BLOCKED, DISCOVERY, QUARANTINED, Decision, DeviceFacts, MailboxAccess, Organisation, Rule, decide,
    gate_response, quarantine_answer,
)
from easlab.eas.status import encode
from easlab.eas.wbxml import E

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
OLD = NOW - timedelta(days=1)
IPHONE = DeviceFacts("ApplDNPX1234", "iPhone", "Apple-iPhone15C2/2101.80", "iOS 17.1 21B80", "iPhone15,2", created_at=OLD)
MUTE = DeviceFacts("Legacy01", "SmartPhone", "MSFT-SPhone/5.2", created_at=NOW - timedelta(minutes=5))


def run(default="Allow", rules=(), allowed=(), blocked=(), device=IPHONE, enabled=True):
    return decide(Organisation(default), list(rules), MailboxAccess(enabled, list(allowed), list(blocked)), device, NOW)


def test_default_allow_without_rules_or_lists():  # §11 item 1
    d = run()
    assert (d.state, d.reason, d.rule, d.step) == ("Allowed", "Global", None, "Default")


@pytest.mark.parametrize("default, state", [("Quarantine", QUARANTINED), ("Block", BLOCKED)])
def test_default_applies_to_existing_devices(default, state):  # §11 item 2
    assert (run(default).state, run(default).reason) == (state, "Global")


def test_blocked_list_beats_everything():  # items 5-7
    d = run("Allow", rules=[Rule("DeviceModel", "iPhone15,2", "Allow")], allowed=["ApplDNPX1234"], blocked=["ApplDNPX1234"])
    assert (d.state, d.reason, d.step) == (BLOCKED, "Individual", "BlockedList")


def test_allowed_list_beats_rules_and_default():  # items 8, 12
    d = run("Block", rules=[Rule("DeviceOS", "iOS 17.1 21B80", "Block")], allowed=["ApplDNPX1234"])
    assert (d.state, d.reason, d.rule) == ("Allowed", "Individual", None)


def test_list_comparison_ignores_case():  # item 9
    assert run("Quarantine", allowed=["appldnpx1234"]).state == "Allowed"
    assert run("Allow", blocked=["APPLDNPX1234"]).state == BLOCKED


def test_new_device_id_is_not_covered_by_old_approval():  # item 13
    fresh = DeviceFacts("ApplNEW99999", "iPhone", IPHONE.user_agent, IPHONE.os, IPHONE.model, created_at=OLD)
    assert run("Quarantine", allowed=["ApplDNPX1234"], device=fresh).state == QUARANTINED


def test_rule_matching_is_whole_string_case_insensitive():  # item 14
    assert run("Block", rules=[Rule("DeviceOS", "ios 17.1 21b80", "Allow")]).state == "Allowed"
    d = run("Block", rules=[Rule("DeviceOS", "iOS 17.1", "Allow")])
    assert (d.state, d.reason) == (BLOCKED, "Global")


def test_rule_precedence_useragent_os_model_type():  # item 15
    rules = [Rule("DeviceType", "iPhone", "Block"), Rule("DeviceModel", "iPhone15,2", "Quarantine"),
             Rule("DeviceOS", "iOS 17.1 21B80", "Allow"), Rule("UserAgent", "Apple-iPhone15C2/2101.80", "Block")]
    assert (run(rules=rules).state, run(rules=rules).rule) == (BLOCKED, "Apple-iPhone15C2/2101.80 (UserAgent)")
    assert run(rules=rules[:3]).rule == "iOS 17.1 21B80 (DeviceOS)"
    assert run(rules=rules[:2]).rule == "iPhone15,2 (DeviceModel)"
    assert run(rules=rules[:1]).rule == "iPhone (DeviceType)"


def test_model_falls_back_to_device_type():  # item 16
    old_enough = DeviceFacts("Legacy01", "SmartPhone", "MSFT-SPhone/5.2", created_at=OLD)
    d = run("Allow", rules=[Rule("DeviceModel", "SmartPhone", "Block")], device=old_enough)
    assert (d.state, d.reason, d.rule) == (BLOCKED, "DeviceRule", "SmartPhone (DeviceModel)")


def test_rule_name_and_only_rule_matches_set_the_rule():  # items 17, 18
    assert Rule("DeviceModel", "ContosoPhone", "Allow").name == "ContosoPhone (DeviceModel)"
    assert run("Quarantine").rule is None


def test_discovery_window_with_rules():  # items 21, 23
    rules = [Rule("DeviceType", "Android", "Allow")]
    d = run("Allow", rules=rules, device=MUTE)
    assert (d.state, d.reason, d.step) == (DISCOVERY, "DeviceRule", "Discovery")
    later = DeviceFacts("Legacy01", "SmartPhone", created_at=NOW - timedelta(minutes=15))
    assert run("Quarantine", rules=rules, device=later).state == QUARANTINED
    assert run("Quarantine", device=MUTE).state == DISCOVERY  # default Quarantine, no rules
    assert run("Quarantine", device=later).state == QUARANTINED


def test_user_agent_rule_uses_the_current_header():  # item 26
    rules = [Rule("UserAgent", "Apple-iPhone15C2/2101.80", "Block")]
    assert run(rules=rules).state == BLOCKED
    newer = DeviceFacts(IPHONE.device_id, "iPhone", "Apple-iPhone15C2/2102.1", IPHONE.os, IPHONE.model, created_at=OLD)
    assert run(rules=rules, device=newer).state == "Allowed"


def test_activesync_disabled_refused_first():  # item 56
    d = run("Allow", blocked=["ApplDNPX1234"], enabled=False)
    assert d.state is None and d.step == "ActiveSyncEnabled"
    assert encode(126, "14.1", "AirSync:Sync").body == E("AirSync:Sync", E("AirSync:Status", 126))
    assert encode(126, "12.1", "AirSync:Sync").status == 403


def test_pending_wipe_bypasses_access_control():  # item 78
    wiping = DeviceFacts(IPHONE.device_id, "iPhone", created_at=OLD, wipe_pending=True)
    assert run("Block", blocked=[IPHONE.device_id], device=wiping).step == "RemoteWipe"


def test_explanation_path_names_each_step():
    d = run("Quarantine", rules=[Rule("DeviceType", "Android", "Allow")])
    assert d.path[0] == "ActiveSync is enabled for the mailbox"
    assert d.path[-1] == "organisation default: Quarantine"
    assert d.token == "QuarantinedG"


@pytest.mark.parametrize("version, status, body", [("12.1", 403, None), ("14.0", 200, 129), ("14.1", 200, 129), ("16.1", 200, 129)])
def test_blocked_answer_per_version(version, status, body):  # items 5, 27, 28
    r = gate_response(Decision(BLOCKED, "DeviceRule"), "Sync", "AirSync:Sync", version, blocked_delay=20)
    assert r.status == status
    assert r.headers["X-MS-ASThrottle"] == "DeviceRule"
    assert r.delay == 20
    if body:
        assert r.body == E("AirSync:Sync", E("AirSync:Status", body))


def test_177_reaches_only_14_1_and_later_as_a_status():  # items 57, 87
    assert encode(177, "14.0", "AirSync:Sync").status == 403
    assert encode(177, "14.1", "AirSync:Sync").body == E("AirSync:Sync", E("AirSync:Status", 177))


@pytest.mark.parametrize("command, version, expected", [
    ("SendMail", "14.1", (200, E("ComposeMail:SendMail", E("ComposeMail:Status", 120)))),
    ("SmartReply", "12.1", (500, None)),
    ("ItemOperations", "14.1", (200, E("ItemOperations:ItemOperations", E("ItemOperations:Status", 3)))),
    ("Search", "16.1", (200, E("Search:Search", E("Search:Status", 3)))),
    ("MoveItems", "14.1", (200, E("Move:MoveItems", E("Move:Response", E("Move:Status", 5))))),
    ("FolderCreate", "14.1", (200, E("FolderHierarchy:FolderCreate", E("FolderHierarchy:Status", 6)))),
    ("ResolveRecipients", "14.1", (200, E("ResolveRecipients:ResolveRecipients", E("ResolveRecipients:Status", 6)))),
    ("ValidateCert", "14.1", (200, E("ValidateCert:ValidateCert", E("ValidateCert:Status", 17)))),
    ("MeetingResponse", "14.1", (200, E("MeetingResponse:MeetingResponse", E("MeetingResponse:Result", E("MeetingResponse:Status", 4))))),
    ("GetAttachment", "12.1", (500, None)),
])
def test_quarantine_answers(command, version, expected):  # items 35-43
    r = quarantine_answer(command, catalog.registry()[command].root, version)
    assert (r.status, r.body) == expected


@pytest.mark.parametrize("command", ["Provision", "Settings", "FolderSync", "Sync", "GetItemEstimate", "Ping"])
def test_quarantined_device_may_run(command):  # item 30
    assert gate_response(Decision(QUARANTINED, "Global"), command, None, "14.1", 20) is None


@pytest.mark.parametrize("allowed, blocked, stored, reason, enabled, pending", [
    (["DEV1"], [], "Quarantined", "Global", True, "Allowed"),  # Allow pressed, the device not back yet
    (["dev1"], [], "DeviceDiscovery", "DeviceRule", True, "Allowed"),  # lists ignore case
    ([], ["DEV1"], "Quarantined", "Global", True, "Blocked"),
    (["DEV1"], ["DEV1"], "Quarantined", "Global", True, "Blocked"),  # the blocked list wins, as in decide
    (["DEV1"], [], "Allowed", "Individual", True, None),  # taken effect
    ([], [], "Quarantined", "Global", True, None),  # on no list: rules and the default decide
    (["DEV1"], [], "Blocked", "Policy", True, None),  # the allowed list does not meet the policy
    (["DEV1"], [], "Quarantined", "Global", False, None),  # ActiveSync off: nothing is recorded
])
def test_pending_state_of_an_admin_decision(allowed, blocked, stored, reason, enabled, pending):
    from easlab.eas.machines.access import pending_state

    assert pending_state("DEV1", stored, reason, MailboxAccess(enabled, allowed, blocked)) == pending
