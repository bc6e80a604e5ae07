"""Provision's handler over the fake ports: the two phases, a wrong key, missing DeviceInformation."""
import pytest

from easlab.eas.policy import PolicySettings, policy_key, provision_doc
from easlab.eas.wbxml import E

from .fake_ports import FakePorts, run

P, S = "Provision", "Settings"
pytestmark = pytest.mark.anyio
DEVICE_INFO = E(f"{S}:DeviceInformation", E(f"{S}:Set", E(f"{S}:Model", "Lab Phone")))


def request(*policy, info=True):
    return E(f"{P}:Provision", DEVICE_INFO if info else None,
             E(f"{P}:Policies", E(f"{P}:Policy", E(f"{P}:PolicyType", "MS-EAS-Provisioning-WBXML"), *policy)))


async def test_download_then_acknowledge_hands_out_the_final_key():
    store = FakePorts()
    store.policy = PolicySettings()
    download = await run(store, "Provision", request())
    assert download.body == E(f"{P}:Provision", E(f"{S}:DeviceInformation", E(f"{S}:Status", 1)), E(f"{P}:Status", 1),
                              E(f"{P}:Policies", E(f"{P}:Policy", E(f"{P}:PolicyType", "MS-EAS-Provisioning-WBXML"),
                                                   E(f"{P}:Status", 1), E(f"{P}:PolicyKey", "1234"),
                                                   E(f"{P}:Data", provision_doc(store.policy, "14.1")))))
    assert (store.device["temp_policy_key"], store.device["model"]) == (1234, "Lab Phone")
    ack = await run(store, "Provision", request(E(f"{P}:PolicyKey", "1234"), E(f"{P}:Status", 1), info=False))
    final = policy_key(store.policy, "14.1")
    assert ack.body == E(f"{P}:Provision", E(f"{P}:Status", 1), E(f"{P}:Policies", E(f"{P}:Policy", E(
        f"{P}:PolicyType", "MS-EAS-Provisioning-WBXML"), E(f"{P}:Status", 1), E(f"{P}:PolicyKey", str(final)))))
    assert (store.device["policy_key"], store.device["policy_status"], store.device["temp_policy_key"]) == \
        (final, "AppliedInFull", None)


async def test_a_wrong_temporary_key_is_policy_status_5():
    store = FakePorts()
    store.policy = PolicySettings()
    store.device["temp_policy_key"] = 1234
    response = await run(store, "Provision", request(E(f"{P}:PolicyKey", "999"), E(f"{P}:Status", 1), info=False))
    assert response.body == E(f"{P}:Provision", E(f"{P}:Status", 1), E(f"{P}:Policies", E(f"{P}:Policy", E(
        f"{P}:PolicyType", "MS-EAS-Provisioning-WBXML"), E(f"{P}:Status", 5))))
    assert "policy_key" not in store.device


async def test_no_device_information_in_14_1_is_common_status_165():
    store = FakePorts()
    response = await run(store, "Provision", request(info=False))
    assert response.body == E(f"{P}:Provision", E(f"{P}:Status", 165))
    assert store.device["temp_policy_key"] is None
