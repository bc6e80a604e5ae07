"""MS-ASAIRS, pool d: BodyPartPreference and BodyPart (14.1+) in Search, Sync and ItemOperations,
AllOrNone across several BodyPreferences, RTF bodies, and the statuses an AirSyncBase element out
of the schema earns in each command."""
from __future__ import annotations

import base64

import pytest

from easlab.eas.wbxml import E
from tests.conformance.test_ms_asairs import ASB, HTML, IO, TEXT, A, S, body_pref, fetch, properties, search
from tests.server.eas_helpers import Raw, collection, message
from tests.server.items_helpers import deliver

pytestmark = pytest.mark.anyio
COMMANDS = ("Search", "Sync", "ItemOperations")


def part_pref(size=None, all_or_none=None, preview=None, t=2):
    return E(f"{ASB}:BodyPartPreference", E(f"{ASB}:Type", t),
             E(f"{ASB}:TruncationSize", size) if size is not None else None,
             E(f"{ASB}:AllOrNone", all_or_none) if all_or_none is not None else None,
             E(f"{ASB}:Preview", preview) if preview is not None else None)


async def with_part(client, app, db, command, *prefs):
    """The Properties (or ApplicationData) of the one HTML message, its BodyPart and the HTML body
    the same answer carries whole (BodyPreference Type 2 without a limit)."""
    mail = message(subject="Conformance", text=TEXT, html=HTML)
    props = await properties(client, app, db, command, body_pref(2), *prefs, mail=mail)
    return props.find(f"{ASB}:BodyPart"), props.find(f"{ASB}:Body").text(f"{ASB}:Data")


@pytest.mark.req("MS-ASAIRS_R62", "MS-ASAIRS_R120", "MS-ASAIRS_R271", "MS-ASAIRS_R188", "MS-ASAIRS_R282", "MS-ASAIRS_R403")
@pytest.mark.parametrize("command", [
    pytest.param("Search", marks=pytest.mark.req("MS-ASAIRS_R392")),
    pytest.param("Sync", marks=pytest.mark.req("MS-ASAIRS_R407")),
    pytest.param("ItemOperations", marks=pytest.mark.req("MS-ASAIRS_R408")),
])
async def test_body_part_without_all_or_none_is_cut_to_the_truncation_size(client, app, db, command):
    part, html = await with_part(client, app, db, command, part_pref(size=12))
    assert part == E(f"{ASB}:BodyPart", E(f"{ASB}:Status", 1), E(f"{ASB}:Type", 2),
                     E(f"{ASB}:EstimatedDataSize", len(html.encode())), E(f"{ASB}:Truncated", 1),
                     E(f"{ASB}:Data", html[:12]))


@pytest.mark.req("MS-ASAIRS_R120", "MS-ASAIRS_R271", "MS-ASAIRS_R283")
@pytest.mark.parametrize("command", [
    pytest.param("Search", marks=pytest.mark.req("MS-ASAIRS_R409")),
    pytest.param("Sync", marks=pytest.mark.req("MS-ASAIRS_R410")),
    pytest.param("ItemOperations", marks=pytest.mark.req("MS-ASAIRS_R411")),
])
async def test_body_part_that_fits_is_whole_without_truncated(client, app, db, command):
    part, html = await with_part(client, app, db, command, part_pref(size=100_000))
    assert part == E(f"{ASB}:BodyPart", E(f"{ASB}:Status", 1), E(f"{ASB}:Type", 2),
                     E(f"{ASB}:EstimatedDataSize", len(html.encode())), E(f"{ASB}:Data", html))


@pytest.mark.req("MS-ASAIRS_R63")
@pytest.mark.parametrize("command", COMMANDS)
async def test_body_part_with_all_or_none_sends_no_cut_data(client, app, db, command):
    part, html = await with_part(client, app, db, command, part_pref(size=12, all_or_none=1))
    assert part == E(f"{ASB}:BodyPart", E(f"{ASB}:Status", 1), E(f"{ASB}:Type", 2),
                     E(f"{ASB}:EstimatedDataSize", len(html.encode())), E(f"{ASB}:Truncated", 1))


@pytest.mark.req("MS-ASAIRS_R294", "MS-ASAIRS_R400", "MS-ASAIRS_R283")
@pytest.mark.parametrize("all_or_none", [None, 0, 1])
async def test_body_part_without_truncation_size_is_whole_whatever_all_or_none(client, app, db, all_or_none):
    part, html = await with_part(client, app, db, "Sync", part_pref(all_or_none=all_or_none))
    # The one answer for every AllOrNone: the whole part, not truncated.
    assert part == E(f"{ASB}:BodyPart", E(f"{ASB}:Status", 1), E(f"{ASB}:Type", 2),
                     E(f"{ASB}:EstimatedDataSize", len(html.encode())), E(f"{ASB}:Data", html))


@pytest.mark.req("MS-ASAIRS_R253", "MS-ASAIRS_R255", "MS-ASAIRS_R256", "MS-ASAIRS_R2599")
@pytest.mark.parametrize("command", COMMANDS)
async def test_body_part_preview_is_plain_text_no_longer_than_asked(client, app, db, command):
    part, _ = await with_part(client, app, db, command, part_pref(preview=15))
    assert part.text(f"{ASB}:Preview") == TEXT[:15]
    assert [c.tag for c in part.children][-1] == f"{ASB}:Preview"


async def test_no_body_part_before_14_1_nor_unasked(client, app, db):
    mail = message(subject="Conformance", text=TEXT, html=HTML)
    old = await properties(client, app, db, "Sync", body_pref(2), mail=mail, version="14.0")
    assert old.find(f"{ASB}:Body") is not None and old.find(f"{ASB}:BodyPart") is None
    unasked = await properties(client, app, db, "ItemOperations", body_pref(2), mail=mail)
    assert unasked.find(f"{ASB}:BodyPart") is None


async def test_body_part_of_another_type_is_refused(client, app):
    await deliver(app, message(subject="Conformance", text=TEXT))
    dev = Raw(client)
    key = collection(await dev.sync("0", "1")).text(f"{A}:SyncKey")
    assert await dev.sync(key, "1", E(f"{A}:Options", part_pref(t=1))) == E(f"{A}:Sync", E(f"{A}:Status", 164))


# -- AllOrNone across several BodyPreferences ---------------------------------------------------------
@pytest.mark.req("MS-ASAIRS_R80")
@pytest.mark.parametrize("command", COMMANDS)
async def test_all_or_none_that_cannot_be_met_falls_to_the_preference_with_most_text(client, app, db, command):
    mail = message(subject="Conformance", text=TEXT, html=HTML)
    props = await properties(client, app, db, command, body_pref(2, 10, 1), body_pref(1, 30), mail=mail)
    body = props.find(f"{ASB}:Body")
    assert (body.text(f"{ASB}:Type"), body.text(f"{ASB}:Truncated"), body.text(f"{ASB}:Data")) == ("1", "1", TEXT[:30])


@pytest.mark.parametrize("command", COMMANDS)
async def test_all_or_none_that_is_met_keeps_its_preference(client, app, db, command):
    mail = message(subject="Conformance", text=TEXT, html=HTML)
    props = await properties(client, app, db, command, body_pref(2, 10_000, 1), body_pref(1, 30), mail=mail)
    body = props.find(f"{ASB}:Body")
    assert body.text(f"{ASB}:Type") == "2" and HTML in body.text(f"{ASB}:Data") and not body.has(f"{ASB}:Truncated")


# -- RTF ------------------------------------------------------------------------------------------------
RTF = b"{\\rtf1\\ansi{\\fonttbl\\f0\\fswiss Helvetica;}\\f0\\pard Note in RTF\\par}"


@pytest.mark.req("MS-ASAIRS_R179", "MS-ASAIRS_R239", "MS-ASAIRS_R306")
async def test_rtf_body_travels_as_base64_with_type_3(client):
    dev = Raw(client, device="notes", device_type="TestPhone")
    key = collection(await dev.sync("0", "10")).text(f"{A}:SyncKey")
    encoded = base64.b64encode(RTF).decode("ascii")
    coll = collection(await dev.sync(key, "10", E(f"{A}:Commands", E(f"{A}:Add", E(f"{A}:ClientId", "r"), E(
        f"{A}:ApplicationData", E("Notes:Subject", "RTF"), E(f"{ASB}:Body", E(f"{ASB}:Type", 3), E(f"{ASB}:Data", encoded)))))))
    assert coll.find(f"{A}:Responses").find(f"{A}:Add").text(f"{A}:Status") == "1"
    reader = Raw(client, device="reader", device_type="TestPhone")
    options = E(f"{A}:Options", body_pref(3))
    rkey = collection(await reader.sync("0", "10", options)).text(f"{A}:SyncKey")
    [add] = collection(await reader.sync(rkey, "10", options)).find(f"{A}:Commands").findall(f"{A}:Add")
    data = add.find(f"{A}:ApplicationData")
    body = data.find(f"{ASB}:Body")
    assert body.text(f"{ASB}:Type") == "3" and data.text(f"{ASB}:NativeBodyType") == "3"
    assert base64.b64decode(body.text(f"{ASB}:Data"), validate=True) == RTF


# -- elements out of the schema (MS-ASAIRS 3.2.5.1) -------------------------------------------------------
def pref(*children):
    return E(f"{ASB}:BodyPreference", *children)


T1, SIZE, AON = E(f"{ASB}:Type", 1), E(f"{ASB}:TruncationSize", 10), E(f"{ASB}:AllOrNone", 1)
OUT_OF_ORDER = pref(E(f"{ASB}:TruncationSize", 10), E(f"{ASB}:Type", 1))
NOT_BOOLEAN = pref(T1, SIZE, E(f"{ASB}:AllOrNone", "yes"))
TWO_ALL_OR_NONE = pref(T1, SIZE, E(f"{ASB}:AllOrNone", 1), E(f"{ASB}:AllOrNone", 0))
TWO_SIZES = pref(T1, E(f"{ASB}:TruncationSize", 10), E(f"{ASB}:TruncationSize", 20))
MISPLACED = pref(T1, E(f"{ASB}:Data", "x"))


@pytest.mark.parametrize("bad", [
    pytest.param(OUT_OF_ORDER, marks=pytest.mark.req("MS-ASAIRS_R348")),
    pytest.param(NOT_BOOLEAN, marks=pytest.mark.req("MS-ASAIRS_R350")),
    pytest.param(TWO_ALL_OR_NONE, marks=pytest.mark.req("MS-ASAIRS_R351")),
    MISPLACED,
])
async def test_sync_with_a_body_preference_out_of_the_schema_is_status_4(client, app, bad):
    await deliver(app, message(subject="Conformance", text=TEXT))
    dev = Raw(client)
    key = collection(await dev.sync("0", "1")).text(f"{A}:SyncKey")
    assert await dev.sync(key, "1", E(f"{A}:Options", bad)) == E(f"{A}:Sync", E(f"{A}:Status", 4))
    # The same preference in order and well typed is accepted.
    assert collection(await dev.sync(key, "1", E(f"{A}:Options", pref(T1, SIZE, AON)))).text(f"{A}:Status") == "1"


@pytest.mark.parametrize("bad", [
    pytest.param(TWO_SIZES, marks=pytest.mark.req("MS-ASAIRS_R10030")),
    pytest.param(OUT_OF_ORDER, marks=pytest.mark.req("MS-ASAIRS_R10031")),
    pytest.param(MISPLACED, marks=pytest.mark.req("MS-ASAIRS_R10032")),
])
async def test_itemoperations_with_a_body_preference_out_of_the_schema_is_status_2(client, app, bad):
    await deliver(app, message(subject="Conformance", text=TEXT))
    resp = await Raw(client).call(IO, fetch(bad))
    assert resp == E(f"{IO}:ItemOperations", E(f"{IO}:Status", 1), E(f"{IO}:Response", E(f"{IO}:Fetch",
                     E(f"{IO}:Status", 2), E(f"{A}:CollectionId", "1"), E(f"{A}:ServerId", "1:1"))))
    ok = await Raw(client).call(IO, fetch(pref(T1, SIZE, AON)))
    assert ok.find(f"{IO}:Response").find(f"{IO}:Fetch").text(f"{IO}:Status") == "1"


@pytest.mark.parametrize("bad", [
    pytest.param(TWO_SIZES, marks=pytest.mark.req("MS-ASAIRS_R10034")),
    pytest.param(OUT_OF_ORDER, marks=pytest.mark.req("MS-ASAIRS_R10035")),
    pytest.param(MISPLACED, marks=pytest.mark.req("MS-ASAIRS_R10036")),
])
async def test_search_with_a_body_preference_out_of_the_schema_is_status_2(client, app, bad):
    await deliver(app, message(subject="Conformance", text=TEXT))
    resp = await Raw(client).call(S, search(bad))
    assert resp == E(f"{S}:Search", E(f"{S}:Status", 1), E(f"{S}:Response", E(f"{S}:Store", E(f"{S}:Status", 2))))
    ok = await Raw(client).call(S, search(pref(T1, SIZE, AON)))
    assert ok.find(f"{S}:Response").find(f"{S}:Store").text(f"{S}:Status") == "1"


# A draft added over Sync (16.0+) whose AirSyncBase:Body breaks the schema: Add status 6.
def draft_body(*children):
    return E(f"{ASB}:Body", *children)


@pytest.mark.parametrize("body", [
    pytest.param(draft_body(E(f"{ASB}:Type", "html"), E(f"{ASB}:Data", "x")), marks=pytest.mark.req("MS-ASAIRS_R10014")),
    pytest.param(draft_body(E(f"{ASB}:Type", 1), E(f"{ASB}:Data", "x"), E(f"{ASB}:Data", "y")),
                 marks=pytest.mark.req("MS-ASAIRS_R10037")),
    pytest.param(draft_body(E(f"{ASB}:Data", "x"), E(f"{ASB}:Type", 1)), marks=pytest.mark.req("MS-ASAIRS_R10038")),
    pytest.param(draft_body(E(f"{ASB}:Type", 1), E(f"{ASB}:FileReference", "1:1"), E(f"{ASB}:Data", "x")),
                 marks=pytest.mark.req("MS-ASAIRS_R10039")),
])
async def test_sync_add_with_a_body_out_of_the_schema_is_status_6(client, db, body):
    from tests.server.test_drafts import DRAFTS, add, primed, run

    dev = Raw(client, version="16.1")
    key = await primed(dev)
    coll, key = await run(dev, key, add("bad", E("Email:Subject", "Plan"), body))
    assert coll.find(f"{A}:Responses") == E(f"{A}:Responses", E(f"{A}:Add", E(f"{A}:ClientId", "bad"), E(f"{A}:Status", 6)))
    coll, _ = await run(dev, key, add("good", E("Email:Subject", "Plan"),
                                      draft_body(E(f"{ASB}:Type", 1), E(f"{ASB}:Data", "x"))))
    assert coll.find(f"{A}:Responses").find(f"{A}:Add").text(f"{A}:Status") == "1"
    assert DRAFTS == "2"


# -- Body in meetingresponse:SendResponse (16.0+) -----------------------------------------------------------
async def _answer_with_body(client, app, version, body):
    from tests.server.test_meetings import INBOX, items, meeting_response, outlook_request, request

    await app.state.store.deliver(outlook_request(), ["alice@easlab.test"])
    dev = Raw(client, device="m1", version=version, device_type="TestPhone")
    (sid, _), = (await items(dev, INBOX)).items()
    return await dev.call("MeetingResponse", meeting_response(request(1, sid, INBOX, E("MeetingResponse:SendResponse", body))))


@pytest.mark.parametrize("version", [
    pytest.param("16.0", marks=pytest.mark.req("MS-ASAIRS_R1333")),
    pytest.param("16.1", marks=pytest.mark.req("MS-ASAIRS_R1000954")),
])
@pytest.mark.req("MS-ASAIRS_R1331")
async def test_send_response_body_of_type_and_data_goes_to_the_organiser(client, app, db, version):
    from sqlmodel import select

    from easlab.storage.models import OutboundMail

    resp = await _answer_with_body(client, app, version, E(f"{ASB}:Body", E(f"{ASB}:Type", 1), E(f"{ASB}:Data", "See you there")))
    assert resp.find("MeetingResponse:Result").text("MeetingResponse:Status") == "1"
    with db.session() as s:
        [out] = s.exec(select(OutboundMail)).all()
    assert b"See you there" in out.mime and out.recipients == ["anna.mueller@contoso.com"]


@pytest.mark.req("MS-ASAIRS_R1331")
async def test_send_response_body_with_more_than_type_and_data_is_invalid(client, app):
    body = E(f"{ASB}:Body", E(f"{ASB}:Type", 1), E(f"{ASB}:EstimatedDataSize", 13), E(f"{ASB}:Data", "See you there"))
    resp = await _answer_with_body(client, app, "16.1", body)
    assert resp == E("MeetingResponse:MeetingResponse", E("MeetingResponse:Status", 103))  # InvalidXML


@pytest.mark.req("MS-ASAIRS_R1333", "MS-ASAIRS_R1000954")
async def test_send_response_body_before_16_0_is_refused(client, app, db):
    resp = await _answer_with_body(client, app, "14.1", E(f"{ASB}:Body", E(f"{ASB}:Type", 1), E(f"{ASB}:Data", "x")))
    assert resp.find("MeetingResponse:Result").text("MeetingResponse:Status") == "2"


async def test_body_part_preference_is_kept_with_the_sync_options(client, app):
    await deliver(app, message(subject="Conformance", text=TEXT, html=HTML))
    dev = Raw(client)
    key = collection(await dev.sync("0", "1", E(f"{A}:Options", body_pref(2), part_pref(size=12)))).text(f"{A}:SyncKey")
    [add] = collection(await dev.sync(key, "1")).find(f"{A}:Commands").findall(f"{A}:Add")  # no Options this time
    part = add.find(f"{A}:ApplicationData").find(f"{ASB}:BodyPart")
    assert (part.text(f"{ASB}:Truncated"), len(part.text(f"{ASB}:Data"))) == ("1", 12)
