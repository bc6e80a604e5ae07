"""Rights policy templates (MS-ASRM emulation) administered as a lab does it: `easlab rights` and
/api/rights add, list and remove templates and switch IRM, through the Admin service's rights_*
operations; a device's Settings then offers what was added."""
import json

import pytest

from easlab.eas.wbxml import E
from tests.server.eas_helpers import Raw
from tests.server.test_cli import initialised, run
from tests.server.test_web import set_role

LAB = "0b3c2a10-1111-4222-8333-444455556666"
DO_NOT_FORWARD = "cf5cf348-a8d7-40d5-91ef-a600b88a395d"


def test_rights_add_show_enable_remove(tmp_path):
    db = initialised(tmp_path / "r.db")
    added = run("rights", "add", LAB, "Lab Confidential", "--allow", "reply", "--allow", "print", "--db", db)
    assert added.exit_code == 0, added.output
    view = json.loads(run("rights", "show", "--json", "--db", db).output)[0]
    assert view["enabled"] is True
    assert [(t["template_id"], t["builtin"]) for t in view["templates"]] == [(DO_NOT_FORWARD, True), (LAB, False)]
    lab = view["templates"][1]
    assert (lab["reply"], lab["print"], lab["forward"], lab["description"]) == (True, True, False, "Lab Confidential")
    assert run("rights", "show", "--db", db).output.splitlines()[0] == "IRM: on"
    assert run("rights", "enable", "off", "--db", db).output.splitlines()[0] == "IRM: off"
    refused = run("rights", "add", "not-a-guid", "Bad", "--db", db)
    assert refused.exit_code != 0 and "'not-a-guid' is not a GUID" in refused.output
    assert run("rights", "remove", LAB, "--db", db).exit_code == 0
    gone = run("rights", "remove", LAB, "--db", db)
    assert gone.exit_code != 0 and f"no template {LAB}" in gone.output
    assert run("rights", "remove", DO_NOT_FORWARD, "--db", db).exit_code != 0  # the built-in one stays


def settings_templates(tree) -> list[str]:
    info = tree.find("Settings:RightsManagementInformation")
    templates = info.find("Settings:Get").find("RightsManagement:RightsManagementTemplates")
    return [t.text("RightsManagement:TemplateID") for t in (templates.children if templates is not None else [])]


@pytest.mark.anyio
async def test_api_templates_reach_a_devices_settings(client, db):
    set_role(db, "alice", "org-admin")
    set_role(db, "bob", "viewer")
    alice, bob = ("alice", "secret"), ("bob", "hunter2")
    new = {"template_id": LAB, "name": "Lab Confidential", "allow": ["reply"]}
    assert (await client.post("/api/rights/templates", json=new, auth=bob)).status_code == 403
    r = await client.post("/api/rights/templates", json=new, auth=alice)
    assert r.status_code == 201 and [t["template_id"] for t in r.json()["templates"]] == [DO_NOT_FORWARD, LAB]
    bad = await client.post("/api/rights/templates", json={**new, "allow": ["fly"]}, auth=alice)
    assert bad.status_code == 400 and "unknown rights fly" in bad.text
    ask = E("Settings:Settings", E("Settings:RightsManagementInformation", E("Settings:Get")))
    assert settings_templates(await Raw(client, version="14.1").call("Settings", ask)) == [DO_NOT_FORWARD, LAB]
    assert (await client.patch("/api/rights", json={"enabled": False}, auth=alice)).json()["enabled"] is False
    assert settings_templates(await Raw(client, version="14.1").call("Settings", ask)) == []
    assert (await client.delete(f"/api/rights/templates/{LAB}", auth=alice)).status_code == 204
    assert [t["template_id"] for t in (await client.get("/api/rights", auth=bob)).json()["templates"]] == [DO_NOT_FORWARD]
