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


@pytest.mark.req("MS-ASEMAIL_R711")
async def test_reply_to_addresses_are_separated_by_semicolons(client, app):
    await deliver(app, addressed())  # Reply-To: team@example.net, lead@example.net
    _, _, data = await first_add(Raw(client, device_type="WP", version="14.1"))
    assert data.text("Email:ReplyTo") == "team@example.net; lead@example.net"


def body_pref(size, all_or_none=None):
    return E("AirSync:Options", E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", 1), E("AirSyncBase:TruncationSize", size),
                                  E("AirSyncBase:AllOrNone", all_or_none) if all_or_none is not None else None))


@pytest.mark.req("MS-ASEMAIL_R1057")
@pytest.mark.parametrize("options, data", [(body_pref(0), None), (body_pref(3), "tex"), (body_pref(3, 1), None),
                                           (body_pref(100, 1), "text\n")])
async def test_body_data_only_for_a_nonzero_truncation_size_that_all_or_none_allows(client, app, options, data):
    await deliver(app, addressed())  # the body: "text\n"
    dev = Raw(client, device_type="WP", version="14.1")
    key = (await dev.sync("0")).find("AirSync:Collections").find("AirSync:Collection").text("AirSync:SyncKey")
    resp = await dev.sync(key, "1", options)
    body = resp.find("AirSync:Collections").find("AirSync:Collection").find("AirSync:Commands").find("AirSync:Add").find(
        "AirSync:ApplicationData").find("AirSyncBase:Body")
    assert body.text("AirSyncBase:Data") == data and body.text("AirSyncBase:EstimatedDataSize") == "5"
