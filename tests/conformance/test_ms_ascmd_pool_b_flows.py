"""MS-ASCMD command sequences (3.1.5.4, 3.1.5.6) and the windowing of Sync (WindowSize, MoreAvailable),
with the Responses a client's own changes earn, RequestId echoes, Find's GAL-only Phone, and the
bounds of a ResolveRecipients To."""
from __future__ import annotations

import pytest

from easlab.eas.wbxml import E
from tests.server.eas_helpers import Raw, collection, message
from tests.server.items_helpers import deliver

pytestmark = pytest.mark.anyio
A, GIE, M, RR, S = "AirSync", "GetItemEstimate", "MeetingResponse", "ResolveRecipients", "Search"
INBOX, CALENDAR, CONTACTS = "1", "7", "8"


def server_ids(coll):
    cmds = coll.find(f"{A}:Commands")
    return [c.text(f"{A}:ServerId") for c in (cmds.children if cmds is not None else [])]


async def inbox_of(client, app, n):
    await deliver(app, *[message(subject=f"m{i}") for i in range(n)])
    dev = Raw(client)
    return dev, collection(await dev.sync("0", INBOX)).text(f"{A}:SyncKey")


# -- WindowSize and MoreAvailable --------------------------------------------------------------------
@pytest.mark.req("MS-ASCMD_R5787", "MS-ASCMD_R5015")
async def test_a_window_smaller_than_the_changes_sends_that_many_and_more_available(client, app):
    dev, key = await inbox_of(client, app, 3)
    coll = collection(await dev.sync(key, INBOX, E(f"{A}:WindowSize", 2)))
    assert len(server_ids(coll)) == 2 and coll.has(f"{A}:MoreAvailable")
    coll = collection(await dev.sync(coll.text(f"{A}:SyncKey"), INBOX, E(f"{A}:WindowSize", 2)))
    assert len(server_ids(coll)) == 1 and not coll.has(f"{A}:MoreAvailable")


@pytest.mark.req("MS-ASCMD_R3459", "MS-ASCMD_R4767")
async def test_without_window_size_the_window_is_100(client, app):
    dev, key = await inbox_of(client, app, 101)
    coll = collection(await dev.sync(key, INBOX))
    assert len(server_ids(coll)) == 100 and coll.has(f"{A}:MoreAvailable")


@pytest.mark.req("MS-ASCMD_R4764")
async def test_a_window_of_512_may_be_answered_with_fewer(client, app):
    dev, key = await inbox_of(client, app, 3)
    app.state.limits.max_sync_size = 1  # the answer's content cap: only the first item fits
    coll = collection(await dev.sync(key, INBOX, E(f"{A}:WindowSize", 512)))
    assert len(server_ids(coll)) == 1 and coll.has(f"{A}:MoreAvailable")


@pytest.mark.req("MS-ASCMD_R4779")
async def test_a_filled_global_window_leaves_more_available_where_changes_did_not_fit(client, app):
    await deliver(app, *[message(subject=f"m{i}") for i in range(3)])
    dev = Raw(client)
    keys = {}
    for cid in (INBOX, CONTACTS):
        keys[cid] = collection(await dev.sync("0", cid)).text(f"{A}:SyncKey")
    tree = E(f"{A}:Sync", E(f"{A}:Collections", *[
        E(f"{A}:Collection", E(f"{A}:SyncKey", keys[cid]), E(f"{A}:CollectionId", cid)) for cid in (INBOX, CONTACTS)]),
        E(f"{A}:WindowSize", 2))
    resp = await dev.call("Sync", tree)
    [inbox] = [c for c in resp.find(f"{A}:Collections").children if c.text(f"{A}:CollectionId") == INBOX]
    assert len(server_ids(inbox)) == 2 and inbox.has(f"{A}:MoreAvailable")


# -- 3.1.5.4: several folders, first keys and then estimates ---------------------------------------------
@pytest.mark.req("MS-ASCMD_R5053", "MS-ASCMD_R5056")
async def test_each_collection_gets_its_key_then_its_estimate(client, app):
    await deliver(app, *[message(subject=f"m{i}") for i in range(2)])
    dev = Raw(client)
    folders = (INBOX, CALENDAR, CONTACTS)
    resp = await dev.call("Sync", E(f"{A}:Sync", E(f"{A}:Collections", *[
        E(f"{A}:Collection", E(f"{A}:SyncKey", "0"), E(f"{A}:CollectionId", cid)) for cid in folders])))
    got = {c.text(f"{A}:CollectionId"): (c.text(f"{A}:SyncKey"), c.text(f"{A}:Status")) for c in resp.find(f"{A}:Collections").children}
    assert got == {cid: ("1", "1") for cid in folders}
    resp = await dev.call(GIE, E(f"{GIE}:GetItemEstimate", E(f"{GIE}:Collections", *[
        E(f"{GIE}:Collection", E(f"{A}:SyncKey", "1"), E(f"{GIE}:CollectionId", cid)) for cid in folders])))
    estimates = {r.find(f"{GIE}:Collection").text(f"{GIE}:CollectionId"): r.find(f"{GIE}:Collection").text(f"{GIE}:Estimate")
                 for r in resp.findall(f"{GIE}:Response")}
    assert estimates == {INBOX: "2", CALENDAR: "0", CONTACTS: "0"}


# -- 3.1.5.6: receiving and accepting a meeting request -------------------------------------------------
@pytest.mark.req("MS-ASCMD_R5082", "MS-ASCMD_R5085", "MS-ASCMD_R5094", "MS-ASCMD_R5091")
async def test_receiving_and_accepting_a_meeting_request(client, app):
    from tests.server.test_meetings import meeting_response, outlook_request, request

    await app.state.store.deliver(outlook_request(), ["alice@easlab.test"])
    dev = Raw(client, device_type="TestPhone")
    first = collection(await dev.sync("0", INBOX))
    assert (first.text(f"{A}:SyncKey"), first.text(f"{A}:Status")) == ("1", "1")
    coll = collection(await dev.sync("1", INBOX))
    [add] = coll.find(f"{A}:Commands").children
    assert add.name == "Add"
    assert add.find(f"{A}:ApplicationData").text("Email:MessageClass") == "IPM.Schedule.Meeting.Request"
    sid = add.text(f"{A}:ServerId")
    cal_key = collection(await dev.sync("0", CALENDAR)).text(f"{A}:SyncKey")
    cal = collection(await dev.sync(cal_key, CALENDAR))
    [(_, event_id)] = [(c.name, c.text(f"{A}:ServerId")) for c in cal.find(f"{A}:Commands").children]
    resp = await dev.call(M, meeting_response(request(1, sid)))
    assert resp.find(f"{M}:Result").text(f"{M}:CalendarId") == event_id
    reply = (b"From: alice@easlab.test\r\nTo: anna.mueller@contoso.com\r\nSubject: Accepted: Team sync\r\n\r\nYes.\r\n")
    r = await dev.post("SendMail", E("ComposeMail:SendMail", E("ComposeMail:ClientId", "r1"), E("ComposeMail:Mime", reply)))
    assert (r.status_code, r.content) == (200, b"")
    cal = collection(await dev.sync(cal.text(f"{A}:SyncKey"), CALENDAR))
    [change] = cal.find(f"{A}:Commands").children
    assert (change.name, change.text(f"{A}:ServerId")) == ("Change", event_id)
    assert change.find(f"{A}:ApplicationData").text("Calendar:ResponseType") == "3"  # accepted


@pytest.mark.req("MS-ASCMD_R5092")
async def test_a_send_mail_that_fails_answers_a_status(client):
    dev = Raw(client)
    r = await dev.post("SendMail", E("ComposeMail:SendMail", E("ComposeMail:ClientId", "r2"), E("ComposeMail:Mime", b"Subject: nobody\r\n\r\nx\r\n")))
    assert r.status_code == 200
    from easlab.eas.wbxml import decode
    resp = decode(r.content)
    assert resp.tag == "ComposeMail:SendMail" and resp.text("ComposeMail:Status") not in (None, "1")


@pytest.mark.req("MS-ASCMD_R5374")
async def test_request_id_is_echoed_only_when_it_was_sent(client, app):
    from tests.server.test_meetings import meeting_response, outlook_request, request

    await app.state.store.deliver(outlook_request(), ["alice@easlab.test"])
    dev = Raw(client, device_type="TestPhone")
    await dev.sync("0", INBOX)
    [add] = collection(await dev.sync("1", INBOX)).find(f"{A}:Commands").children
    sid = add.text(f"{A}:ServerId")
    search = await dev.call(S, E(f"{S}:Search", E(f"{S}:Store", E(f"{S}:Name", "Mailbox"), E(f"{S}:Query", E(f"{S}:And",
                            E(f"{A}:CollectionId", INBOX), E(f"{S}:FreeText", "Team"))))))
    [result] = search.find(f"{S}:Response").find(f"{S}:Store").findall(f"{S}:Result")
    long_id = result.text(f"{S}:LongId")
    resp = await dev.call(M, meeting_response(E(f"{M}:Request", E(f"{M}:UserResponse", 2), E(f"{S}:LongId", long_id))))
    [res] = resp.children
    assert not res.has(f"{M}:RequestId") and res.text(f"{M}:Status") == "1"
    resp = await dev.call(M, meeting_response(request(2, sid)))
    assert resp.find(f"{M}:Result").text(f"{M}:RequestId") == sid


# -- Sync Responses: an Add's answer on success, a Delete's only on failure -----------------------------
@pytest.mark.req("MS-ASCMD_R5255", "MS-ASCMD_R5256")
async def test_responses_hold_the_add_that_worked_and_the_delete_that_failed(client):
    dev = Raw(client)
    key = collection(await dev.sync("0", CONTACTS)).text(f"{A}:SyncKey")
    coll = collection(await dev.sync(key, CONTACTS, E(f"{A}:Commands", E(f"{A}:Add", E(f"{A}:ClientId", "c1"),
                      E(f"{A}:ApplicationData", E("Contacts:FileAs", "Dora"))))))
    [add] = coll.find(f"{A}:Responses").children
    assert (add.name, add.text(f"{A}:ClientId"), add.text(f"{A}:Status")) == ("Add", "c1", "1")
    sid, key = add.text(f"{A}:ServerId"), coll.text(f"{A}:SyncKey")
    coll = collection(await dev.sync(key, CONTACTS, E(f"{A}:Commands", E(f"{A}:Delete", E(f"{A}:ServerId", sid)),
                                                      E(f"{A}:Delete", E(f"{A}:ServerId", "8:999999")))))
    [failed] = coll.find(f"{A}:Responses").children  # the one that worked is not answered
    assert (failed.name, failed.text(f"{A}:ServerId"), failed.text(f"{A}:Status")) == ("Delete", "8:999999", "8")


# -- Find: Phone is a GAL property -----------------------------------------------------------------------
def give_bob_a_phone(db):
    from easlab.storage.directory import set_directory

    with db.session() as s:
        set_directory(s, "bob", phone="+1 555 0100", title="Buyer")
        s.commit()


@pytest.mark.req("MS-ASCMD_R69581706")
async def test_phone_comes_only_with_a_gal_search(client, app, db):
    give_bob_a_phone(db)
    await deliver(app, message(subject="Bob phone numbers", text="bob"))
    dev = Raw(client, version="16.1")
    await dev.sync("0", INBOX)

    def find(criterion):
        return E("Find:Find", E("Find:SearchId", "s1"), E("Find:ExecuteSearch", E(f"Find:{criterion}",
                 E("Find:Query", E("Find:FreeText", "bob")), E("Find:Options", E("Find:Range", "0-9")))))

    gal = await dev.call("Find", find("GalSearchCriterion"))
    [hit] = gal.find("Find:Response").findall("Find:Result")
    assert hit.find("Find:Properties").text("GAL:Phone") == "+1 555 0100"
    mailbox = await dev.call("Find", find("MailBoxSearchCriterion"))
    results = mailbox.find("Find:Response").findall("Find:Result")
    assert results and not any(e.name == "Phone" for r in results for e in r.iter())


@pytest.mark.req("MS-ASCMD_R3692")
async def test_gal_entries_carry_the_properties_each_has(client, app, db):
    give_bob_a_phone(db)
    resp = await Raw(client).call(S, E(f"{S}:Search", E(f"{S}:Store", E(f"{S}:Name", "GAL"), E(f"{S}:Query", "e"),
                                                        E(f"{S}:Options", E(f"{S}:Range", "0-9")))))
    shown = [[p.name for p in r.find(f"{S}:Properties").children] for r in resp.find(f"{S}:Response").find(f"{S}:Store").findall(f"{S}:Result")]
    assert shown == [["DisplayName", "Alias", "EmailAddress"], ["DisplayName", "Phone", "Title", "Alias", "EmailAddress"]]


# -- ResolveRecipients: a To of 256 characters at most ----------------------------------------------------
@pytest.mark.req("MS-ASCMD_R5873")
async def test_a_to_over_256_characters_is_refused(client):
    dev = Raw(client)
    resp = await dev.call(RR, E(f"{RR}:ResolveRecipients", E(f"{RR}:To", "b" * 257)))
    assert resp == E(f"{RR}:ResolveRecipients", E(f"{RR}:Status", 5))
    resp = await dev.call(RR, E(f"{RR}:ResolveRecipients", E(f"{RR}:To", "b" * 256)))
    assert resp.text(f"{RR}:Status") == "1" and resp.find(f"{RR}:Response").text(f"{RR}:Status") == "4"  # not found


@pytest.mark.req("MS-ASDTYPE_R95")
@pytest.mark.parametrize("value", ["ten", "9-2", "0_9"])
async def test_a_string_that_breaks_its_format_is_refused(client, value):
    resp = await Raw(client).call(S, E(f"{S}:Search", E(f"{S}:Store", E(f"{S}:Name", "Mailbox"), E(f"{S}:Query", E(f"{S}:And",
                                  E(f"{A}:CollectionId", INBOX), E(f"{S}:FreeText", "x"))), E(f"{S}:Options", E(f"{S}:Range", value)))))
    assert resp == E(f"{S}:Search", E(f"{S}:Status", 1), E(f"{S}:Response", E(f"{S}:Store", E(f"{S}:Status", 2))))


@pytest.mark.req("MS-ASCMD_R4163")
async def test_a_fetch_past_the_answers_cap_is_status_11(client, app):
    await deliver(app, message(subject="big", attachments=[("big.bin", bytes(60_000), "application/octet-stream")]))
    dev = Raw(client)
    await dev.sync("0", INBOX)
    [add] = collection(await dev.sync("1", INBOX)).find(f"{A}:Commands").children
    app.state.limits.max_itemoperations_size = 50_000
    io = "ItemOperations"
    fetch = E(f"{io}:Fetch", E(f"{io}:Store", "Mailbox"), E("AirSyncBase:FileReference", add.text(f"{A}:ServerId") + ":0"))
    resp = await dev.call(io, E(f"{io}:ItemOperations", fetch))
    assert resp == E(f"{io}:ItemOperations", E(f"{io}:Status", 1), E(f"{io}:Response", E(f"{io}:Fetch", E(f"{io}:Status", 11),
                                                                                          E("AirSyncBase:FileReference", add.text(f"{A}:ServerId") + ":0"))))


@pytest.mark.req("MS-ASCMD_R4339")
async def test_a_search_of_a_store_the_user_may_not_reach_is_status_5(client, app, db):
    from easlab.server.admin.roles import SHELL
    from easlab.server.admin.service import Admin

    # A folder of the document library only bob may read (MS-ASDOC; eas/documents.py).
    Admin(db, app.state.hub.handle_event, "easlab.test").document_put(SHELL, "Shared\\Board", folder=True, readers=["bob"])
    resp = await Raw(client).call(S, E(f"{S}:Search", E(f"{S}:Store", E(f"{S}:Name", "DocumentLibrary"),
                                                        E(f"{S}:Query", E(f"{S}:EqualTo", E("DocumentLibrary:LinkId"),
                                                                          E(f"{S}:Value", "\\\\easlab\\Shared\\Board"))))))
    assert resp == E(f"{S}:Search", E(f"{S}:Status", 1), E(f"{S}:Response", E(f"{S}:Store", E(f"{S}:Status", 5))))


@pytest.mark.req("MS-ASCMD_R3775")
async def test_a_forward_with_replace_mime_carries_neither_the_original_body_nor_its_attachments(client, app, db):
    from tests.server.test_compose import folder_items, inbox_id, mime, original, smart

    await app.state.store.deliver(original(attachments=[("budget.xlsx", b"PK\x03\x04 sheet", "application/vnd.ms-excel")]),
                                  ["alice@easlab.test"])
    dev = Raw(client, version="16.1")
    sid = await inbox_id(dev, "Budget")
    fwd = mime(to="bob@easlab.test", subject="FW: Budget", text="Only this.")
    assert (await dev.post("SmartForward", smart("SmartForward", fwd, sid, save=False, replace=True))).content == b""
    [got] = folder_items(db, "bob", 2)
    assert got.attachments == [] and got.body_text.strip() == "Only this."


@pytest.mark.req("MS-ASCMD_R4183")
async def test_a_meeting_response_to_a_contact_is_status_2(client):
    dev = Raw(client)
    key = collection(await dev.sync("0", CONTACTS)).text(f"{A}:SyncKey")
    coll = collection(await dev.sync(key, CONTACTS, E(f"{A}:Commands", E(f"{A}:Add", E(f"{A}:ClientId", "c1"),
                      E(f"{A}:ApplicationData", E("Contacts:FileAs", "Dora"))))))
    sid = coll.find(f"{A}:Responses").find(f"{A}:Add").text(f"{A}:ServerId")
    resp = await dev.call(M, E(f"{M}:MeetingResponse", E(f"{M}:Request", E(f"{M}:UserResponse", 1),
                                                         E(f"{M}:CollectionId", CONTACTS), E(f"{M}:RequestId", sid))))
    assert resp == E(f"{M}:MeetingResponse", E(f"{M}:Result", E(f"{M}:RequestId", sid), E(f"{M}:Status", 2)))


@pytest.mark.req("MS-ASCMD_R5123")
async def test_autodiscover_takes_text_xml_and_text_html_alike(client):
    from tests.conftest import basic
    from tests.server.test_autodiscover import body

    answers = []
    for ctype in ("text/xml", "text/html"):
        r = await client.post("/autodiscover/autodiscover.xml", content=body("alice@easlab.test").encode(),
                              headers={"Authorization": basic("alice@easlab.test", "secret"), "Content-Type": ctype})
        answers.append((r.status_code, r.content))
    assert answers[0] == answers[1] and answers[0][0] == 200
    assert b"<Url>" in answers[0][1] and b"/Microsoft-Server-ActiveSync</Url>" in answers[0][1]
