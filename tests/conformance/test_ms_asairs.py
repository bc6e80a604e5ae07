"""MS-ASAIRS as Microsoft's test suite exercises it: the same AirSyncBase BodyPreference asked of
Search, Sync and ItemOperations (truncation, AllOrNone, Preview, types), attachment metadata, and
the statuses a malformed preference earns.  Each test names the requirements it proves."""
from __future__ import annotations

import pytest
from sqlmodel import select

from easlab.eas.pim.timezone import from_zone_name
from easlab.eas.wbxml import E
from easlab.storage.models import Item
from tests.server.eas_helpers import Raw, collection, message
from tests.server.items_helpers import deliver

pytestmark = pytest.mark.anyio
A, ASB, S, IO = "AirSync", "AirSyncBase", "Search", "ItemOperations"
TEXT = "Conformance body: the quick brown fox jumps over the lazy dog."
HTML = "<p>Conformance body: the <b>quick</b> brown fox jumps over the lazy dog.</p>"


def body_pref(t=1, size=None, all_or_none=None, preview=None):
    return E(f"{ASB}:BodyPreference", E(f"{ASB}:Type", t),
             E(f"{ASB}:TruncationSize", size) if size is not None else None,
             E(f"{ASB}:AllOrNone", all_or_none) if all_or_none is not None else None,
             E(f"{ASB}:Preview", preview) if preview is not None else None)


async def properties(client, app, db, command, *options, version="14.1", mail=None):
    """The one delivered message as `command` returns it with `options`: Sync's ApplicationData,
    Search's or ItemOperations' Properties."""
    await deliver(app, mail or message(subject="Conformance", text=TEXT))
    dev = Raw(client, version=version)
    if command == "Sync":
        key = collection(await dev.sync("0", "1", E(f"{A}:Options", *options))).text(f"{A}:SyncKey")
        resp = await dev.sync(key, "1", E(f"{A}:Options", *options))
        [add] = collection(resp).find(f"{A}:Commands").findall(f"{A}:Add")
        return add.find(f"{A}:ApplicationData")
    if command == "Search":
        resp = await dev.call(S, E(f"{S}:Search", E(f"{S}:Store", E(f"{S}:Name", "Mailbox"), E(f"{S}:Query", E(f"{S}:And",
                              E(f"{A}:Class", "Email"), E(f"{A}:CollectionId", "1"), E(f"{S}:FreeText", "Conformance"))),
                              E(f"{S}:Options", E(f"{S}:Range", "0-9"), *options))))
        [result] = resp.find(f"{S}:Response").find(f"{S}:Store").findall(f"{S}:Result")
        return result.find(f"{S}:Properties")
    with db.session() as s:
        sid = s.exec(select(Item).order_by(Item.id.desc())).first().server_id
    resp = await dev.call(IO, E(f"{IO}:ItemOperations", E(f"{IO}:Fetch", E(f"{IO}:Store", "Mailbox"),
                          E(f"{A}:CollectionId", "1"), E(f"{A}:ServerId", sid), E(f"{IO}:Options", *options))))
    [fetch] = resp.find(f"{IO}:Response").findall(f"{IO}:Fetch")
    assert fetch.text(f"{IO}:Status") == "1"
    return fetch.find(f"{IO}:Properties")


def whole_text():
    return TEXT + "\n"  # the text part as the message carries it


@pytest.mark.req("MS-ASAIRS_R105", "MS-ASAIRS_R405", "MS-ASAIRS_R304", "MS-ASAIRS_R237", "MS-ASAIRS_R241", "MS-ASAIRS_R2411", "MS-ASAIRS_R402", "MS-ASAIRS_R277",
     "MS-ASAIRS_R180", "MS-ASAIRS_R276", "MS-ASAIRS_R77", "MS-ASAIRS_R78")
@pytest.mark.parametrize("command, size, all_or_none, expect", [
    pytest.param("Search", 1000, 1, "whole", marks=pytest.mark.req("MS-ASAIRS_R53")),
    pytest.param("Sync", 1000, 1, "whole", marks=pytest.mark.req("MS-ASAIRS_R373")),
    pytest.param("ItemOperations", 1000, 1, "whole", marks=pytest.mark.req("MS-ASAIRS_R54")),
    pytest.param("Search", 10, 1, "none", marks=pytest.mark.req("MS-ASAIRS_R375")),
    pytest.param("Sync", 10, 1, "none", marks=pytest.mark.req("MS-ASAIRS_R376")),
    pytest.param("ItemOperations", 10, 1, "none", marks=pytest.mark.req("MS-ASAIRS_R377")),
    pytest.param("Search", 10, 0, "cut", marks=pytest.mark.req("MS-ASAIRS_R55")),
    pytest.param("Sync", 10, 0, "cut", marks=pytest.mark.req("MS-ASAIRS_R378")),
    pytest.param("ItemOperations", 10, 0, "cut", marks=pytest.mark.req("MS-ASAIRS_R379")),
    pytest.param("Search", 1000, 0, "whole", marks=pytest.mark.req("MS-ASAIRS_R380")),
    pytest.param("Sync", 1000, 0, "whole", marks=pytest.mark.req("MS-ASAIRS_R381")),
    pytest.param("ItemOperations", 1000, 0, "whole", marks=pytest.mark.req("MS-ASAIRS_R382")),
    pytest.param("Search", 10, None, "cut", marks=pytest.mark.req("MS-ASAIRS_R73")),
    pytest.param("Sync", 10, None, "cut", marks=pytest.mark.req("MS-ASAIRS_R420")),
    pytest.param("ItemOperations", 10, None, "cut", marks=pytest.mark.req("MS-ASAIRS_R421")),
    pytest.param("Search", 1000, None, "whole", marks=pytest.mark.req("MS-ASAIRS_R422")),
    pytest.param("Sync", 1000, None, "whole", marks=pytest.mark.req("MS-ASAIRS_R423")),
    pytest.param("ItemOperations", 1000, None, "whole", marks=pytest.mark.req("MS-ASAIRS_R424")),
    pytest.param("Sync", None, 1, "whole", marks=pytest.mark.req("MS-ASAIRS_R300", "MS-ASAIRS_R401")),
    pytest.param("Sync", None, 0, "whole", marks=pytest.mark.req("MS-ASAIRS_R300", "MS-ASAIRS_R401")),
    pytest.param("ItemOperations", None, 1, "whole"),
    pytest.param("Search", None, 1, "whole"),
])
async def test_truncation_and_all_or_none_in_every_command(client, app, db, command, size, all_or_none, expect):
    props = await properties(client, app, db, command, body_pref(1, size, all_or_none))
    body, full = props.find(f"{ASB}:Body"), whole_text()
    assert body.text(f"{ASB}:Type") == "1"
    assert props.text(f"{ASB}:NativeBodyType") == "1"
    assert body.text(f"{ASB}:EstimatedDataSize") == str(len(full.encode()))
    assert not body.has(f"{IO}:Part")  # a Part only in multipart responses
    if expect == "whole":
        assert not body.has(f"{ASB}:Truncated")
        assert body.text(f"{ASB}:Data") == full
    else:
        assert body.text(f"{ASB}:Truncated") == "1"
        assert body.text(f"{ASB}:Data") == (None if expect == "none" else full[:10])
        assert body.has(f"{ASB}:Data") == (expect == "cut")


@pytest.mark.req("MS-ASAIRS_R305", "MS-ASAIRS_R238", "MS-ASAIRS_R2412")
@pytest.mark.parametrize("command", ["Sync", "Search", "ItemOperations"])
async def test_html_native_body_as_html_or_converted_to_text(client, app, db, command):
    mail = message(subject="Conformance", text=TEXT, html=HTML)
    props = await properties(client, app, db, command, body_pref(2), mail=mail)
    assert props.text(f"{ASB}:NativeBodyType") == "2"
    body = props.find(f"{ASB}:Body")
    assert body.text(f"{ASB}:Type") == "2" and HTML in body.text(f"{ASB}:Data")


@pytest.mark.req("MS-ASAIRS_R2412", "MS-ASAIRS_R304")
async def test_html_body_sent_as_plain_text_when_only_text_is_asked(client, app, db):
    html_only = message(subject="Conformance", text=TEXT, html=HTML)
    props = await properties(client, app, db, "Sync", body_pref(1), mail=html_only)
    body = props.find(f"{ASB}:Body")
    assert (body.text(f"{ASB}:Type"), props.text(f"{ASB}:NativeBodyType")) == ("1", "2")
    assert "<b>" not in body.text(f"{ASB}:Data") and "quick" in body.text(f"{ASB}:Data")


@pytest.mark.req("MS-ASAIRS_R248", "MS-ASAIRS_R250", "MS-ASAIRS_R2644")
@pytest.mark.parametrize("command", ["Sync", "Search", "ItemOperations"])
async def test_preview_is_plain_text_no_longer_than_asked(client, app, db, command):
    mail = message(subject="Conformance", text=TEXT, html=HTML)
    props = await properties(client, app, db, command, body_pref(2, preview=20), mail=mail)
    assert props.find(f"{ASB}:Body").text(f"{ASB}:Preview") == TEXT[:20]


@pytest.mark.req("MS-ASAIRS_R1001036")
@pytest.mark.parametrize("command", ["Sync", "Search", "ItemOperations"])
async def test_no_preview_beside_plain_text_data(client, app, db, command):
    props = await properties(client, app, db, command, body_pref(1, preview=20))
    body = props.find(f"{ASB}:Body")
    assert body.text(f"{ASB}:Data") == whole_text() and not body.has(f"{ASB}:Preview")


@pytest.mark.req("MS-ASAIRS_R307")
async def test_type_4_is_the_whole_mime_message(client, app, db):
    mail = message(subject="Conformance", text=TEXT)
    props = await properties(client, app, db, "Sync", E(f"{A}:MIMESupport", 2), body_pref(4), mail=mail)
    body = props.find(f"{ASB}:Body")
    assert body.text(f"{ASB}:Type") == "4"
    assert body.find(f"{ASB}:Data").value == mail


def with_attachments():
    from email.message import EmailMessage

    inner = EmailMessage()
    inner["Subject"], inner["From"] = "forwarded", "carol@example.net"
    inner.set_content("the forwarded text")
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "bob@example.net", "alice@easlab.test", "Conformance"
    m.set_content(TEXT)
    m.add_alternative(f'<p>{TEXT}<img src="cid:logo@easlab"></p>', subtype="html")
    m.get_payload()[1].add_related(b"\x89PNG-logo", maintype="image", subtype="png", cid="<logo@easlab>",
                                   disposition="inline", filename="logo.png")
    m.add_attachment(b"%PDF-1.4 report", maintype="application", subtype="pdf", filename="report.pdf")
    m.add_attachment(inner)
    return m.as_bytes()


@pytest.mark.req("MS-ASAIRS_R160", "MS-ASAIRS_R1343", "MS-ASAIRS_R10020", "MS-ASAIRS_R100299", "MS-ASAIRS_R100298",
     "MS-ASAIRS_R225", "MS-ASAIRS_R2299")
async def test_attachment_method_content_id_and_inline(client, app, db):
    props = await properties(client, app, db, "Sync", body_pref(2), mail=with_attachments())
    atts = {a.text(f"{ASB}:DisplayName"): a for a in props.find(f"{ASB}:Attachments").findall(f"{ASB}:Attachment")}
    assert set(atts) == {"logo.png", "report.pdf", "message.eml"}
    logo, pdf = atts["logo.png"], atts["report.pdf"]
    assert (logo.text(f"{ASB}:ContentId"), logo.text(f"{ASB}:IsInline"), logo.text(f"{ASB}:Method")) == ("logo@easlab", "1", "1")
    assert "cid:logo@easlab" in props.find(f"{ASB}:Body").text(f"{ASB}:Data")  # what the ContentId refers to
    assert (pdf.has(f"{ASB}:ContentId"), pdf.text(f"{ASB}:IsInline", "0"), pdf.text(f"{ASB}:Method")) == (False, "0", "1")
    assert atts["message.eml"].text(f"{ASB}:Method") == "5"


def search(*options):
    return E(f"{S}:Search", E(f"{S}:Store", E(f"{S}:Name", "Mailbox"), E(f"{S}:Query", E(f"{S}:And",
             E(f"{A}:Class", "Email"), E(f"{A}:CollectionId", "1"), E(f"{S}:FreeText", "Conformance"))),
             E(f"{S}:Options", E(f"{S}:Range", "0-9"), *options)))


def fetch(*options, sid="1:1"):
    return E(f"{IO}:ItemOperations", E(f"{IO}:Fetch", E(f"{IO}:Store", "Mailbox"), E(f"{A}:CollectionId", "1"),
             E(f"{A}:ServerId", sid), E(f"{IO}:Options", *options)))


NOT_A_NUMBER = E(f"{ASB}:BodyPreference", E(f"{ASB}:Type", 1), E(f"{ASB}:TruncationSize", "abc"))


@pytest.mark.req("MS-ASAIRS_R10016")
async def test_sync_with_two_preferences_of_one_type_is_status_4(client, app):
    await deliver(app, message(subject="Conformance", text=TEXT))
    dev = Raw(client)
    key = collection(await dev.sync("0", "1")).text(f"{A}:SyncKey")
    assert await dev.sync(key, "1", E(f"{A}:Options", body_pref(1), body_pref(1, 5))) == E(f"{A}:Sync", E(f"{A}:Status", 4))


@pytest.mark.req("MS-ASAIRS_R346")
async def test_itemoperations_fetch_with_a_non_numeric_truncation_size_is_status_2(client, app):
    await deliver(app, message(subject="Conformance", text=TEXT))
    resp = await Raw(client).call(IO, fetch(NOT_A_NUMBER))
    assert resp == E(f"{IO}:ItemOperations", E(f"{IO}:Status", 1), E(f"{IO}:Response", E(f"{IO}:Fetch",
                     E(f"{IO}:Status", 2), E(f"{A}:CollectionId", "1"), E(f"{A}:ServerId", "1:1"))))


@pytest.mark.req("MS-ASAIRS_R10033")
async def test_search_with_a_non_numeric_truncation_size_is_status_2(client, app):
    await deliver(app, message(subject="Conformance", text=TEXT))
    resp = await Raw(client).call(S, search(NOT_A_NUMBER))
    assert resp == E(f"{S}:Search", E(f"{S}:Status", 1), E(f"{S}:Response", E(f"{S}:Store", E(f"{S}:Status", 2))))


@pytest.mark.req("MS-ASAIRS_R214")
async def test_fetch_of_an_empty_file_reference_is_status_15(client):
    resp = await Raw(client).call(IO, E(f"{IO}:ItemOperations", E(f"{IO}:Fetch", E(f"{IO}:Store", "Mailbox"),
                                                                      E(f"{ASB}:FileReference", ""))))
    assert resp.find(f"{IO}:Response").find(f"{IO}:Fetch").text(f"{IO}:Status") == "15"


def event(*children):
    return E(f"{A}:ApplicationData", E("Calendar:Timezone", from_zone_name("Europe/Berlin", 2026).to_base64()),
             E("Calendar:AllDayEvent", 0), *children, E("Calendar:EndTime", "20260302T093000Z"),
             E("Calendar:Subject", "Standup"), E("Calendar:StartTime", "20260302T090000Z"))


async def calendar_item(dev):
    """The one event of the Calendar folder as `dev` downloads it from scratch."""
    key = collection(await dev.sync("0", "7")).text(f"{A}:SyncKey")
    [add] = collection(await dev.sync(key, "7")).find(f"{A}:Commands").findall(f"{A}:Add")
    return add.find(f"{A}:ApplicationData")


@pytest.mark.parametrize("version, body_type", [
    pytest.param("16.0", 1, marks=pytest.mark.req("MS-ASAIRS_R1400")),
    pytest.param("16.0", 2, marks=pytest.mark.req("MS-ASAIRS_R1401")),
    pytest.param("16.1", 1, marks=pytest.mark.req("MS-ASAIRS_R14000918")),
    pytest.param("16.1", 2, marks=pytest.mark.req("MS-ASAIRS_R14010918")),
])
@pytest.mark.req("MS-ASAIRS_R1001013")
async def test_calendar_body_types_and_an_empty_location_removes_it(client, version, body_type):
    data = "<p>Plan</p>" if body_type == 2 else "Plan"
    dev = Raw(client, device="cal", version=version)
    key = collection(await dev.sync("0", "7")).text(f"{A}:SyncKey")
    coll = collection(await dev.sync(key, "7", E(f"{A}:Commands", E(f"{A}:Add", E(f"{A}:ClientId", "e1"), event(
        E(f"{ASB}:Body", E(f"{ASB}:Type", body_type), E(f"{ASB}:Data", data)),
        E(f"{ASB}:Location", E(f"{ASB}:DisplayName", "Lab")))))))
    add = coll.find(f"{A}:Responses").find(f"{A}:Add")
    assert add.text(f"{A}:Status") == "1"
    got = await calendar_item(Raw(client, device="reader", version=version))
    body = got.find(f"{ASB}:Body")
    assert (body.text(f"{ASB}:Type"), body.text(f"{ASB}:Data")) == (str(body_type), data)
    assert got.find(f"{ASB}:Location") == E(f"{ASB}:Location", E(f"{ASB}:DisplayName", "Lab"))
    resp = await dev.sync(coll.text(f"{A}:SyncKey"), "7", E(f"{A}:Commands", E(f"{A}:Change",
                          E(f"{A}:ServerId", add.text(f"{A}:ServerId")), E(f"{A}:ApplicationData", E(f"{ASB}:Location")))))
    assert resp is None or not collection(resp).has(f"{A}:Responses")  # silence is success
    got = await calendar_item(Raw(client, device="reader2", version=version))
    # No location is left: an empty Location element, or none.
    assert got.find(f"{ASB}:Location") in (None, E(f"{ASB}:Location")) and got.text("Calendar:Subject") == "Standup"


@pytest.mark.req("MS-ASAIRS_R11500", "MS-ASAIRS_R406")
async def test_truncated_in_a_request_changes_nothing(client):
    """Two notes whose Body differs only in a Truncated element (none, 0, 1): the same answers, the
    same notes read back."""
    dev = Raw(client, device="notes", device_type="TestPhone")
    key = collection(await dev.sync("0", "10")).text(f"{A}:SyncKey")
    replies = []
    for n, truncated in enumerate((None, 0, 1)):
        body = E(f"{ASB}:Body", E(f"{ASB}:Type", 1), E(f"{ASB}:Truncated", truncated) if truncated is not None else None,
                 E(f"{ASB}:Data", "same"))
        coll = collection(await dev.sync(key, "10", E(f"{A}:Commands", E(f"{A}:Add", E(f"{A}:ClientId", "n"),
                                                  E(f"{A}:ApplicationData", E("Notes:Subject", "Note"), body)))))
        key = coll.text(f"{A}:SyncKey")
        replies.append(coll.find(f"{A}:Responses").find(f"{A}:Add"))
    assert [(r.text(f"{A}:ClientId"), r.text(f"{A}:Status")) for r in replies] == [("n", "1")] * 3
    reader = Raw(client, device="reader", device_type="TestPhone")
    rkey = collection(await reader.sync("0", "10")).text(f"{A}:SyncKey")
    adds = collection(await reader.sync(rkey, "10")).find(f"{A}:Commands").findall(f"{A}:Add")
    # The same notes, but for the time each was written (a second may pass between them).
    datas = [[child for child in a.find(f"{A}:ApplicationData").children if child.tag != "Notes:LastModifiedDate"]
             for a in adds]
    assert all(len(data) == len(a.find(f"{A}:ApplicationData").children) - 1 for data, a in zip(datas, adds))
    assert len({"".join(map(str, data)) for data in datas}) == 1 and len(adds) == 3
