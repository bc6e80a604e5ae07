"""MS-ASPROV: the exact shape of both phases' responses, the temporary key, wipe acknowledgements that
report failure, policy settings in the document.  tests/server/test_provision.py proves the rest."""
from __future__ import annotations

import pytest
from sqlmodel import select

from easlab.eas.wbxml import E, decode
from easlab.storage.models import Device
from easlab.storage.policies import update_policy
from tests.server.eas_helpers import Raw, device_information, provision

pytestmark = pytest.mark.anyio
P = "Provision"
WBXML_TYPE = "MS-EAS-Provisioning-WBXML"
FS = E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0"))


@pytest.fixture
def strict(db):
    with db.session() as s:
        update_policy(s, "Default", {"PasswordEnabled": True, "MinPasswordLength": 6, "AllowNonProvisionableDevices": False})


def policy_of(resp):
    return resp.find(f"{P}:Policies").find(f"{P}:Policy")


def initial(info=True):
    return E(f"{P}:Provision", device_information() if info else None,
             E(f"{P}:Policies", E(f"{P}:Policy", E(f"{P}:PolicyType", WBXML_TYPE))))


def acknowledge(key, status=1):
    return E(f"{P}:Provision", E(f"{P}:Policies", E(f"{P}:Policy", E(f"{P}:PolicyType", WBXML_TYPE),
                                                    E(f"{P}:PolicyKey", key), E(f"{P}:Status", status))))


def set_wipe(db, account_only=False):
    with db.session() as s:
        d = s.exec(select(Device)).one()
        d.wipe_state, d.wipe_account_only = "pending", account_only
        s.add(d)


@pytest.mark.req("MS-ASPROV_R310", "MS-ASPROV_R605", "MS-ASPROV_R417", "MS-ASPROV_R419", "MS-ASPROV_R209",
                 "MS-ASPROV_R601", "MS-ASPROV_R888", "MS-ASPROV_R654", "MS-ASPROV_R66615")
@pytest.mark.parametrize("version", ["14.1", "16.1"])
@pytest.mark.req("MS-ASCMD_R4990", "MS-ASCMD_R4992", "MS-ASCMD_R5026", "MS-ASCMD_R5028")
async def test_both_phases_have_exactly_the_specified_children(client, strict, version):
    dev = Raw(client, version=version)
    first, second = await provision(dev)
    # No RemoteWipe or AccountOnlyRemoteWipe: none was asked for.
    assert [c.tag for c in first.children] == ["Settings:DeviceInformation", f"{P}:Status", f"{P}:Policies"]
    assert sorted(c.tag for c in policy_of(first).children) == sorted(
        [f"{P}:PolicyType", f"{P}:PolicyKey", f"{P}:Status", f"{P}:Data"])
    assert policy_of(first).text(f"{P}:PolicyType") == WBXML_TYPE
    assert policy_of(first).find(f"{P}:Data").find(f"{P}:EASProvisionDoc") is not None
    assert [c.tag for c in second.children] == [f"{P}:Status", f"{P}:Policies"]
    assert sorted(c.tag for c in policy_of(second).children) == sorted([f"{P}:PolicyType", f"{P}:PolicyKey", f"{P}:Status"])
    assert (policy_of(second).text(f"{P}:PolicyType"), policy_of(second).text(f"{P}:Status")) == (WBXML_TYPE, "1")


@pytest.mark.req("MS-ASPROV_R650")
async def test_the_temporary_key_is_good_for_the_acknowledgement_only(client, strict):
    dev = Raw(client)
    dev.policy_key = 0
    temp = policy_of(await dev.call("Provision", initial())).text(f"{P}:PolicyKey")
    dev.policy_key = temp
    refused = decode((await dev.post("FolderSync", FS)).content)
    assert refused == E("FolderHierarchy:FolderSync", E("FolderHierarchy:Status", 142))  # not provisioned yet
    final = policy_of(await dev.call("Provision", acknowledge(temp))).text(f"{P}:PolicyKey")
    assert final != temp
    assert policy_of(await dev.call("Provision", acknowledge(temp))).text(f"{P}:Status") == "5"  # used up


@pytest.mark.req("MS-ASPROV_R537")
async def test_a_key_that_does_not_match_the_stored_one_asks_for_provisioning(client, strict):
    dev = Raw(client)
    await provision(dev)
    dev.policy_key = str((int(dev.policy_key) + 1) % 2**32 or 1)
    assert decode((await dev.post("FolderSync", FS)).content) == \
        E("FolderHierarchy:FolderSync", E("FolderHierarchy:Status", 144))


@pytest.mark.req("MS-ASPROV_R1048", "MS-ASPROV_R1042", "MS-ASPROV_R702")
async def test_a_failed_remote_wipe_gets_status_2_and_the_directive_again(client, strict, db):
    dev = Raw(client)
    await provision(dev)
    set_wipe(db)
    assert await dev.call("Provision", initial()) == E(f"{P}:Provision", E(f"{P}:Status", 1), E(f"{P}:RemoteWipe"))
    resp = await dev.call("Provision", E(f"{P}:Provision", E(f"{P}:RemoteWipe", E(f"{P}:Status", 2))))
    assert resp == E(f"{P}:Provision", E(f"{P}:Status", 2), E(f"{P}:RemoteWipe"))
    with db.session() as s:
        assert s.exec(select(Device)).one().wipe_state == "failed"


@pytest.mark.req("MS-ASPROV_R66610", "MS-ASPROV_R66611", "MS-ASPROV_R66609", "MS-ASPROV_R66613")
async def test_account_only_wipe_acknowledgements(client, strict, db):
    dev = Raw(client, version="16.1")
    await provision(dev)
    set_wipe(db, account_only=True)
    assert await dev.call("Provision", initial()) == \
        E(f"{P}:Provision", E(f"{P}:Status", 1), E(f"{P}:AccountOnlyRemoteWipe"))
    resp = await dev.call("Provision", E(f"{P}:Provision", E(f"{P}:AccountOnlyRemoteWipe", E(f"{P}:Status", 2))))
    assert resp == E(f"{P}:Provision", E(f"{P}:Status", 2), E(f"{P}:AccountOnlyRemoteWipe"))
    set_wipe(db, account_only=True)
    await dev.call("Provision", initial())
    resp = await dev.call("Provision", E(f"{P}:Provision", E(f"{P}:AccountOnlyRemoteWipe", E(f"{P}:Status", 1))))
    assert resp == E(f"{P}:Provision", E(f"{P}:Status", 1))


def _setting(resp, name):
    return policy_of(resp).find(f"{P}:Data").find(f"{P}:EASProvisionDoc").find(f"{P}:{name}")


@pytest.mark.req("MS-ASPROV_R206", "MS-ASPROV_R207")
async def test_attachments_enabled_follows_the_policy(client, db):
    dev = Raw(client)
    with db.session() as s:
        update_policy(s, "Default", {"AttachmentsEnabled": False})
    first, _ = await provision(dev)
    assert _setting(first, "AttachmentsEnabled").value == "0"
    with db.session() as s:
        update_policy(s, "Default", {"AttachmentsEnabled": True})
    first, _ = await provision(dev)
    assert _setting(first, "AttachmentsEnabled").value == "1"


@pytest.mark.req("MS-ASPROV_R1044", "MS-ASPROV_R1045")
async def test_a_setting_unset_on_the_server_is_sent_empty_or_as_its_default(client, db):
    dev = Raw(client)
    with db.session() as s:
        update_policy(s, "Default", {"MinPasswordLength": 6, "MaxEmailBodyTruncationSize": 100})
    first, _ = await provision(dev)
    assert (_setting(first, "MinDevicePasswordLength").value, _setting(first, "MaxEmailBodyTruncationSize").value) == \
        ("6", "100")
    with db.session() as s:
        update_policy(s, "Default", {"MinPasswordLength": None, "MaxEmailBodyTruncationSize": None})
    first, _ = await provision(dev)
    empty = _setting(first, "MinDevicePasswordLength")
    assert empty is not None and not empty.value and not empty.children  # an empty tag
    assert _setting(first, "MaxEmailBodyTruncationSize").value == "-1"  # the default: no limit
