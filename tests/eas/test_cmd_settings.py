"""Settings over the fake ports: Oof set and get, UserInformation, a bad block."""
import pytest

from easlab.eas.wbxml import E

from .fake_ports import FakePorts, run

S = "Settings"
pytestmark = pytest.mark.anyio


async def test_oof_set_then_get_and_user_information():
    store = FakePorts()
    put = E(f"{S}:Settings", E(f"{S}:Oof", E(f"{S}:Set", E(f"{S}:OofState", 1), E(f"{S}:OofMessage", E(f"{S}:AppliesToInternal"),
            E(f"{S}:Enabled", 1), E(f"{S}:ReplyMessage", "Away"), E(f"{S}:BodyType", "Text")))))
    assert (await run(store, "Settings", put)).body == E(f"{S}:Settings", E(f"{S}:Status", 1), E(f"{S}:Oof", E(f"{S}:Status", 1)))
    get = E(f"{S}:Settings", E(f"{S}:Oof", E(f"{S}:Get", E(f"{S}:BodyType", "Text"))),
            E(f"{S}:UserInformation", E(f"{S}:Get")))
    response = await run(store, "Settings", get, version="14.0")
    oof, user = response.body.children[1:]
    internal = oof.find(f"{S}:Get").children[1]
    assert (oof.find(f"{S}:Get").text(f"{S}:OofState"), internal.text(f"{S}:Enabled"), internal.text(f"{S}:ReplyMessage")) == \
        ("1", "1", "Away")
    assert user == E(f"{S}:UserInformation", E(f"{S}:Status", 1), E(f"{S}:Get", E(f"{S}:EmailAddresses",
                                                                            E(f"{S}:SMTPAddress", "alice@easlab.test"))))


async def test_a_bad_block_gets_its_status_and_an_unknown_one_fails_the_request():
    store = FakePorts()
    bad = await run(store, "Settings", E(f"{S}:Settings", E(f"{S}:Oof", E(f"{S}:Set", E(f"{S}:OofState", 9)))))
    assert bad.body == E(f"{S}:Settings", E(f"{S}:Status", 1), E(f"{S}:Oof", E(f"{S}:Status", 5)))
    unknown = await run(store, "Settings", E(f"{S}:Settings", E(f"{S}:RightsManagementInformation", E(f"{S}:Get"))),
                        version="14.0")
    assert unknown.body == E(f"{S}:Settings", E(f"{S}:Status", 2))
    assert store.oof.state == 0
