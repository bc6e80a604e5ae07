"""Provision, policy enforcement and remote wipe over HTTP, for 12.1, 14.1 and 16.1 devices."""
import asyncio

import pytest
from sqlmodel import select

from easlab.eas.policy import PolicySettings, policy_key, provision_doc
from easlab.eas.wbxml import E, decode
from easlab.server.config import Settings
from easlab.storage.models import Device, Item
from easlab.storage.policies import update_policy
from tests.conftest import until_held
from tests.server.eas_helpers import Raw, device_information, provision

pytestmark = pytest.mark.anyio
P = "Provision"
FS = E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0"))
VERSIONS = ["12.1", "14.1", "16.1"]


@pytest.fixture
def settings(tmp_path):
    return Settings(db_url=f"sqlite:///{tmp_path / 'easlab.db'}", heartbeat_min=1)


@pytest.fixture
def strict(db):
    """The default policy requires a password and provisioning."""
    with db.session() as s:
        update_policy(s, "Default", {"PasswordEnabled": True, "MinPasswordLength": 6, "AllowNonProvisionableDevices": False})
    return PolicySettings(PasswordEnabled=True, MinPasswordLength=6)


def policy_of(resp):
    return resp.find(f"{P}:Policies").find(f"{P}:Policy")


@pytest.mark.req("MS-ASPROV_R378", "MS-ASPROV_R394", "MS-ASPROV_R486", "MS-ASPROV_R662", "MS-ASPROV_R678", "MS-ASPROV_R441", "MS-ASPROV_R688", "MS-ASPROV_R466", "MS-ASPROV_R703", "MS-ASPROV_R495")
@pytest.mark.parametrize("version", VERSIONS)
async def test_two_phases_exact_document_and_keys(client, strict, db, version):
    dev = Raw(client, version=version)
    first, second = await provision(dev)
    pol = policy_of(first)
    assert first.text(f"{P}:Status") == "1"
    assert pol.text(f"{P}:PolicyType") == "MS-EAS-Provisioning-WBXML"
    assert pol.text(f"{P}:Status") == "1"
    assert pol.find(f"{P}:Data").find(f"{P}:EASProvisionDoc") == provision_doc(strict, version)
    temp = pol.text(f"{P}:PolicyKey")
    final = policy_of(second).text(f"{P}:PolicyKey")
    assert temp != final
    assert int(final) == policy_key(strict, version)
    assert policy_of(second).find(f"{P}:Data") is None
    if version >= "14.1":
        assert first.children[0] == E("Settings:DeviceInformation", E("Settings:Status", 1))
    r = await dev.post("FolderSync", FS)
    assert r.status_code == 200 and decode(r.content).text("FolderHierarchy:Status") == "1"
    with db.session() as s:
        d = s.exec(select(Device)).one()
        assert d.policy_key == int(final) and d.policy_status == "AppliedInFull" and d.policy_name == "Default"
        if version >= "14.1":
            assert (d.model, d.os, d.imei, d.mobile_operator) == ("iPhone15,2", "iOS 17.1 21B80", "356938035643809", "Lab")


async def test_key_is_stable_across_reprovisioning(client, strict):
    dev = Raw(client)
    _, second = await provision(dev)
    _, again = await provision(dev)
    assert policy_of(second).text(f"{P}:PolicyKey") == policy_of(again).text(f"{P}:PolicyKey")


@pytest.mark.req("MS-ASCMD_R4954")
@pytest.mark.parametrize("version", ["14.1", "16.1"])
async def test_device_information_required_from_14_1(client, strict, version):
    dev = Raw(client, version=version)
    dev.policy_key = 0
    body = E(f"{P}:Provision", E(f"{P}:Policies", E(f"{P}:Policy", E(f"{P}:PolicyType", "MS-EAS-Provisioning-WBXML"))))
    assert await dev.call("Provision", body) == E(f"{P}:Provision", E(f"{P}:Status", 165))
    no_model = E(f"{P}:Provision", E("Settings:DeviceInformation", E("Settings:Set", E("Settings:OS", "x"))),
                 E(f"{P}:Policies", E(f"{P}:Policy", E(f"{P}:PolicyType", "MS-EAS-Provisioning-WBXML"))))
    assert await dev.call("Provision", no_model) == E(f"{P}:Provision", E(f"{P}:Status", 165))


@pytest.mark.req("MS-ASPROV_R382", "MS-ASPROV_R692", "MS-ASPROV_R475", "MS-ASPROV_R761", "MS-ASPROV_R708", "MS-ASPROV_R507", "MS-ASPROV_R657", "MS-ASPROV_R695")
async def test_wrong_temporary_key_is_policy_status_5(client, strict):
    dev = Raw(client)
    dev.policy_key = 0
    await dev.call("Provision", E(f"{P}:Provision", device_information(), E(f"{P}:Policies", E(f"{P}:Policy", E(f"{P}:PolicyType", "MS-EAS-Provisioning-WBXML")))))
    resp = await dev.call("Provision", E(f"{P}:Provision", E(f"{P}:Policies", E(f"{P}:Policy",
        E(f"{P}:PolicyType", "MS-EAS-Provisioning-WBXML"), E(f"{P}:PolicyKey", "12345"), E(f"{P}:Status", 1)))))
    assert resp == E(f"{P}:Provision", E(f"{P}:Status", 1), E(f"{P}:Policies", E(f"{P}:Policy",
                     E(f"{P}:PolicyType", "MS-EAS-Provisioning-WBXML"), E(f"{P}:Status", 5))))


@pytest.mark.req("MS-ASPROV_R395", "MS-ASPROV_R679", "MS-ASPROV_R450", "MS-ASPROV_R497", "MS-ASPROV_R380", "MS-ASPROV_R471", "MS-ASPROV_R502")
async def test_protocol_errors(client):
    dev = Raw(client)
    assert await dev.call("Provision", E(f"{P}:Provision")) == E(f"{P}:Provision", E(f"{P}:Status", 2))
    wap = E(f"{P}:Provision", device_information(), E(f"{P}:Policies", E(f"{P}:Policy", E(f"{P}:PolicyType", "MS-WAP-Provisioning-XML"))))
    assert await dev.call("Provision", wap) == E(f"{P}:Provision", E(f"{P}:Status", 2))
    odd = E(f"{P}:Provision", device_information(), E(f"{P}:Policies", E(f"{P}:Policy", E(f"{P}:PolicyType", "Something-Else"))))
    assert policy_of(await dev.call("Provision", odd)).text(f"{P}:Status") == "3"


async def test_2_5_gets_the_wap_document(client, strict):
    dev = Raw(client, version="2.5")
    first, second = await provision(dev)
    data = policy_of(first).text(f"{P}:Data")
    assert data.startswith("<wap-provisioningdoc>") and '<parm name="4131" value="0"/>' in data
    assert int(policy_of(second).text(f"{P}:PolicyKey")) == policy_key(strict, "2.5")


@pytest.mark.parametrize("version, expect", [("12.1", 449), ("14.1", 142), ("16.1", 142)])
async def test_unprovisioned_device_with_key_zero(client, strict, version, expect):
    dev = Raw(client, version=version)
    dev.policy_key = 0
    r = await dev.post("FolderSync", FS)
    if expect == 449:
        assert r.status_code == 449 and r.content == b""
    else:
        assert decode(r.content) == E("FolderHierarchy:FolderSync", E("FolderHierarchy:Status", expect))


@pytest.mark.req("MS-ASPROV_R682", "MS-ASPROV_R458", "MS-ASPROV_R685", "MS-ASPROV_R509")
@pytest.mark.parametrize("version, expect", [("12.1", 403), ("14.1", 141)])
async def test_no_key_header_refused_unless_non_provisionable_allowed(client, strict, db, version, expect):
    dev = Raw(client, version=version)
    r = await dev.post("FolderSync", FS)
    if expect == 403:
        assert r.status_code == 403
    else:
        assert decode(r.content) == E("FolderHierarchy:FolderSync", E("FolderHierarchy:Status", 141))
    with db.session() as s:
        update_policy(s, "Default", {"AllowNonProvisionableDevices": True})
    assert (await dev.post("FolderSync", FS)).status_code == 200
    assert decode((await dev.post("FolderSync", FS)).content).text("FolderHierarchy:Status") == "1"


@pytest.mark.req("MS-ASCMD_R4912")
@pytest.mark.req("MS-ASPROV_R537")
@pytest.mark.parametrize("version, expect", [("12.1", 449), ("14.1", 144), ("16.1", 144)])
async def test_policy_change_forces_reprovisioning(client, strict, db, version, expect):
    dev = Raw(client, version=version)
    await provision(dev)
    assert (await dev.post("FolderSync", FS)).status_code == 200
    with db.session() as s:
        update_policy(s, "Default", {"MinPasswordLength": 8})
    r = await dev.post("FolderSync", FS)
    if expect == 449:
        assert r.status_code == 449
    else:
        assert decode(r.content) == E("FolderHierarchy:FolderSync", E("FolderHierarchy:Status", 144))
    await provision(dev)
    assert decode((await dev.post("FolderSync", FS)).content).text("FolderHierarchy:Status") == "1"


async def test_refresh_interval_expired_is_143(client, strict, db):
    dev = Raw(client)
    await provision(dev)
    with db.session() as s:
        update_policy(s, "Default", {"DevicePolicyRefreshInterval": 1})
        d = s.exec(select(Device)).one()
        from datetime import timedelta

        d.provisioned_at = d.provisioned_at - timedelta(hours=2)
        s.add(d)
    r = await dev.post("FolderSync", FS)
    assert decode(r.content) == E("FolderHierarchy:FolderSync", E("FolderHierarchy:Status", 143))


async def ack(dev, status):
    dev.policy_key = 0
    first = await dev.call("Provision", E(f"{P}:Provision", device_information(), E(f"{P}:Policies", E(f"{P}:Policy", E(f"{P}:PolicyType", "MS-EAS-Provisioning-WBXML")))))
    dev.policy_key = policy_of(first).text(f"{P}:PolicyKey")
    return await dev.post("Provision", E(f"{P}:Provision", E(f"{P}:Policies", E(f"{P}:Policy",
        E(f"{P}:PolicyType", "MS-EAS-Provisioning-WBXML"), E(f"{P}:PolicyKey", dev.policy_key), E(f"{P}:Status", status)))))


@pytest.mark.req("MS-ASPROV_R681", "MS-ASPROV_R684", "MS-ASPROV_R1046", "MS-ASPROV_R697")
async def test_partial_ack_139_unless_non_provisionable_allowed(client, strict, db):
    dev = Raw(client)
    r = await ack(dev, 2)
    assert decode(r.content) == E(f"{P}:Provision", E(f"{P}:Status", 139))
    with db.session() as s:
        update_policy(s, "Default", {"AllowNonProvisionableDevices": True})
    r = await ack(dev, 2)
    assert policy_of(decode(r.content)).text(f"{P}:Status") == "1"
    with db.session() as s:
        assert s.exec(select(Device)).one().policy_status == "PartiallyApplied"


async def test_partial_ack_403_for_12_1(client, strict):
    dev = Raw(client, version="12.1")
    dev.policy_key = 0
    first = await dev.call("Provision", E(f"{P}:Provision", E(f"{P}:Policies", E(f"{P}:Policy", E(f"{P}:PolicyType", "MS-EAS-Provisioning-WBXML")))))
    dev.policy_key = policy_of(first).text(f"{P}:PolicyKey")
    r = await dev.post("Provision", E(f"{P}:Provision", E(f"{P}:Policies", E(f"{P}:Policy",
        E(f"{P}:PolicyType", "MS-EAS-Provisioning-WBXML"), E(f"{P}:PolicyKey", dev.policy_key), E(f"{P}:Status", 2)))))
    assert r.status_code == 403


@pytest.mark.req("MS-ASCMD_R4917")
@pytest.mark.req("MS-ASPROV_R686", "MS-ASPROV_R461", "MS-ASPROV_R687")
async def test_externally_managed_ack_145_unless_allowed(client, strict, db):
    dev = Raw(client)
    assert decode((await ack(dev, 4)).content) == E(f"{P}:Provision", E(f"{P}:Status", 145))
    with db.session() as s:
        update_policy(s, "Default", {"AllowExternalDeviceManagement": True})
    assert policy_of(decode((await ack(dev, 4)).content)).text(f"{P}:Status") == "1"


async def test_policy_change_ends_a_held_ping(client, app, strict, db):
    dev = Raw(client)
    await provision(dev)
    ping = E("Ping:Ping", E("Ping:HeartbeatInterval", 300), E("Ping:Folders", E("Ping:Folder", E("Ping:Id", "1"), E("Ping:Class", "Email"))))
    task = asyncio.create_task(dev.call("Ping", ping))
    await until_held(app)
    assert not task.done()
    with db.session() as s:
        update_policy(s, "Default", {"MinPasswordLength": 10})
    app.state.hub.notify_policy([1])
    resp = await asyncio.wait_for(task, 2)
    assert resp == E("Ping:Ping", E("Ping:Status", 7))
    assert decode((await dev.post("FolderSync", FS)).content).text("FolderHierarchy:Status") == "144"


@pytest.mark.req("MS-ASPROV_R1041")
@pytest.mark.req("MS-ASPROV_R1047", "MS-ASPROV_R653")
@pytest.mark.parametrize("version", VERSIONS)
async def test_remote_wipe_runs_through_its_states(client, app, strict, db, version):
    dev = Raw(client, version=version)
    await provision(dev)
    with db.session() as s:
        d = s.exec(select(Device)).one()
        d.wipe_state = "pending"
        s.add(d)
    r = await dev.post("FolderSync", FS)
    if version == "12.1":
        assert r.status_code == 449
    else:
        assert decode(r.content) == E("FolderHierarchy:FolderSync", E("FolderHierarchy:Status", 140))
    dev.policy_key = 0
    resp = await dev.call("Provision", E(f"{P}:Provision", *( [device_information()] if version != "12.1" else []),
                          E(f"{P}:Policies", E(f"{P}:Policy", E(f"{P}:PolicyType", "MS-EAS-Provisioning-WBXML")))))
    assert resp == E(f"{P}:Provision", E(f"{P}:Status", 1), E(f"{P}:RemoteWipe"))
    with db.session() as s:
        assert s.exec(select(Device)).one().wipe_state == "sent"
    resp = await dev.call("Provision", E(f"{P}:Provision", E(f"{P}:RemoteWipe", E(f"{P}:Status", 1))))
    assert resp == E(f"{P}:Provision", E(f"{P}:Status", 1))
    with db.session() as s:
        d = s.exec(select(Device)).one()
        assert d.wipe_state == "succeeded" and d.wipe_ack_at is not None and d.wipe_sent_at is not None
        mail = s.exec(select(Item)).one()
        assert mail.message_class == "IPM.Note.Exchange.ActiveSync.RemoteWipeConfirmation"
        assert mail.subject == "Remote Device Wipe Confirmation"


async def test_wipe_without_key_header_is_403_for_12_1(client, db):
    dev = Raw(client, version="12.1")
    await dev.post("FolderSync", FS)  # the partnership exists
    with db.session() as s:
        d = s.exec(select(Device)).one()
        d.wipe_state = "pending"
        s.add(d)
    assert (await dev.post("FolderSync", FS)).status_code == 403


async def test_account_only_wipe_for_16_1(client, strict, db):
    dev = Raw(client, version="16.1")
    await provision(dev)
    with db.session() as s:
        d = s.exec(select(Device)).one()
        d.wipe_state, d.wipe_account_only = "pending", True
        s.add(d)
    resp = await dev.call("Provision", E(f"{P}:Provision"))
    assert resp == E(f"{P}:Provision", E(f"{P}:Status", 1), E(f"{P}:AccountOnlyRemoteWipe"))
    resp = await dev.call("Provision", E(f"{P}:Provision", E(f"{P}:AccountOnlyRemoteWipe", E(f"{P}:Status", 1))))
    assert resp == E(f"{P}:Provision", E(f"{P}:Status", 1))


async def test_ack_phase_ignoring_the_wipe_gets_it_again_with_status_2(client, strict, db):
    dev = Raw(client)
    await provision(dev)
    with db.session() as s:
        d = s.exec(select(Device)).one()
        d.wipe_state = "pending"
        s.add(d)
    resp = await dev.call("Provision", E(f"{P}:Provision", E(f"{P}:Policies", E(f"{P}:Policy",
        E(f"{P}:PolicyType", "MS-EAS-Provisioning-WBXML"), E(f"{P}:PolicyKey", "1"), E(f"{P}:Status", 1)))))
    assert resp == E(f"{P}:Provision", E(f"{P}:Status", 2), E(f"{P}:RemoteWipe"))
