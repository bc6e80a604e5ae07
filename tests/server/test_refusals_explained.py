"""Refusals out of MS-AS strictness explain themselves: the server's log line and the device's
protocol trace name the requirement that refused the request (eas/refusals.py)."""
import logging

import pytest

from easlab.eas import refusals
from easlab.eas.wbxml import E
from easlab.server.admin import SHELL
from easlab.server.traces import trace_view

pytestmark = pytest.mark.anyio
AS = "AirSync"


def traced(easlab, phone) -> None:
    easlab.admin.trace_set(SHELL, phone.state.user, phone.state.device_id, True)


def notes(easlab, phone) -> list[tuple[str, str]]:
    view = trace_view(easlab.db, phone.state.user, phone.state.device_id, bodies=False)
    return [(entry["command"], entry["note"]) for entry in view["entries"]]


def refusal_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "easlab.http" and "refused by" in r.getMessage()]


@pytest.mark.req("MS-ASCMD_R4954")
async def test_a_141_provision_without_device_information_names_r4954(easlab, caplog):
    alice = easlab.make_user("alice")
    phone = await easlab.make_device(alice, version="14.1", connect=False)
    traced(easlab, phone)
    policy = E("Provision:Policies", E("Provision:Policy", E("Provision:PolicyType", "MS-EAS-Provisioning-WBXML")))
    with caplog.at_level(logging.WARNING, logger="easlab.http"):
        result = await phone.command("Provision", E("Provision:Provision", policy), send_policy_key=False)
    assert result.status == 165
    [line] = refusal_lines(caplog)
    assert line == (f"alice {phone.state.device_id} Provision: refused by MS-ASCMD_R4954: a 14.1 or 16.x Provision "
                    "without DeviceInformation (with its Model) gets Status 165")
    assert notes(easlab, phone) == [("Provision", f"refused by {refusals.DEVICE_INFORMATION_REQUIRED}")]


@pytest.mark.req("MS-ASCMD_R3128", "MS-ASCMD_R5838")
@pytest.mark.parametrize(("get_changes", "requirement"), [(None, "MS-ASCMD_R3128"), ("1", "MS-ASCMD_R5838")])
async def test_get_changes_at_sync_key_0_names_its_requirement(easlab, caplog, get_changes, requirement):
    alice = easlab.make_user("alice")
    phone = await easlab.make_device(alice)
    inbox = phone.state.folder_by_name("Inbox").server_id
    traced(easlab, phone)
    collection = E(f"{AS}:Collection", E(f"{AS}:SyncKey", "0"), E(f"{AS}:CollectionId", inbox),
                   E(f"{AS}:GetChanges", get_changes))
    with caplog.at_level(logging.WARNING, logger="easlab.http"):
        result = await phone.command("Sync", E(f"{AS}:Sync", E(f"{AS}:Collections", collection)))
    assert result.status == 4
    [line] = refusal_lines(caplog)
    assert line.startswith(f"alice {phone.state.device_id} Sync: refused by {requirement}: a Sync with ")
    [(command, note)] = notes(easlab, phone)
    assert command == "Sync" and note.startswith(f"refused by {requirement}: ") and "at SyncKey 0 gets Status 4" in note


@pytest.mark.req("MS-ASCMD_R4249", "MS-ASCMD_R5837")
async def test_a_ping_heartbeat_out_of_bounds_names_its_requirement(easlab, caplog):
    alice = easlab.make_user("alice")
    phone = await easlab.make_device(alice)
    traced(easlab, phone)
    with caplog.at_level(logging.WARNING, logger="easlab.http"):
        assert (await phone.ping(["Inbox"], heartbeat=30)).status == 5
        assert (await phone.ping(["Inbox"], heartbeat=4000)).status == 5
    assert [line.split(" refused by ")[1].split(":")[0] for line in refusal_lines(caplog)] == ["MS-ASCMD_R5837",
                                                                                             "MS-ASCMD_R4249"]
    assert [note.split(":")[0] for _, note in notes(easlab, phone)] == ["refused by MS-ASCMD_R5837",
                                                                       "refused by MS-ASCMD_R4249"]


async def test_an_answer_that_refuses_nothing_names_no_requirement(easlab, caplog):
    alice = easlab.make_user("alice")
    phone = await easlab.make_device(alice)
    traced(easlab, phone)
    with caplog.at_level(logging.DEBUG, logger="easlab.http"):
        assert (await phone.folder_sync()).status == 1
    assert refusal_lines(caplog) == [] and notes(easlab, phone) == [("FolderSync", "")]
