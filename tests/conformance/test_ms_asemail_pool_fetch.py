"""MS-ASEMAIL: an e-mail fetched with ItemOperations and an airsync:Schema carries only the
Schema's elements."""
from __future__ import annotations

import pytest

from easlab.eas.wbxml import E
from tests.conformance.test_ms_asemail import addressed, first_add
from tests.server.eas_helpers import Raw
from tests.server.items_helpers import deliver

pytestmark = pytest.mark.anyio
IO = "ItemOperations"


@pytest.mark.req("MS-ASEMAIL_R63")
async def test_itemoperations_schema_restricts_an_email(client, app):
    await deliver(app, addressed())
    dev = Raw(client, device_type="WP", version="14.1")
    _, sid, _ = await first_add(dev)
    resp = await dev.call(IO, E(f"{IO}:ItemOperations", E(f"{IO}:Fetch", E(f"{IO}:Store", "Mailbox"),
                                                          E("AirSync:CollectionId", "1"), E("AirSync:ServerId", sid),
                                                          E(f"{IO}:Options", E(f"{IO}:Schema", E("Email:Subject"), E("Email:To"))))))
    [fetch] = resp.find(f"{IO}:Response").findall(f"{IO}:Fetch")
    assert fetch.find(f"{IO}:Properties") == E(f"{IO}:Properties", E("Email:To", '"Alice Example" <alice@easlab.test>, "Dan" <dan@example.net>'),
                                                E("Email:Subject", "Addresses"))


@pytest.mark.req("MS-ASEMAIL_R68")
async def test_a_search_on_email_properties_is_store_status_2(client, app):
    await deliver(app, addressed())
    resp = await Raw(client, version="14.1").call("Search", E("Search:Search", E(
        "Search:Store", E("Search:Name", "Mailbox"), E("Search:Query", E("Search:And", E("AirSync:Class", "Email"),
                                                                          E("AirSync:CollectionId", "1"), E("Email:Subject", "Addresses"))),
        E("Search:Options", E("Search:Range", "0-9")))))
    assert resp == E("Search:Search", E("Search:Status", 1), E("Search:Response", E("Search:Store", E("Search:Status", 2))))
