"""Sync for the Email class, in-process, with exact trees."""
import asyncio
import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlmodel import select

from easlab.eas.wbxml import E, decode
from easlab.storage.models import Folder, Item, SyncState
from easlab.storage.users import get_user
from tests.conftest import until_held
from tests.server.eas_helpers import Raw, collection, commands, message

pytestmark = pytest.mark.anyio
A = "AirSync"


async def deliver(app, *msgs, to="alice@easlab.test"):
    for m in msgs:
        await app.state.store.deliver(m, [to])


async def primed(dev, collection_id="1", options=()):
    resp = await dev.sync("0", collection_id, *options)
    return collection(resp).text(f"{A}:SyncKey")


def opts(*prefs, **kw):
    parts = []
    if "filter" in kw:
        parts.append(E(f"{A}:FilterType", kw["filter"]))
    if "mime" in kw:
        parts.append(E(f"{A}:MIMESupport", kw["mime"]))
    for p in prefs:
        parts.append(E("AirSyncBase:BodyPreference", *p))
    return E(f"{A}:Options", *parts)


def pref(t, size=None, all_or_none=None):
    return [E("AirSyncBase:Type", t), E("AirSyncBase:TruncationSize", size) if size is not None else None,
            E("AirSyncBase:AllOrNone", all_or_none) if all_or_none is not None else None]


@pytest.mark.req("MS-ASCMD_R648", "MS-ASCMD_R654", "MS-ASCMD_R4599", "MS-ASCMD_R4606", "MS-ASCMD_R4602",
                 "MS-ASCMD_R4423", "MS-ASCMD_R3451", "MS-ASCMD_R3456", "MS-ASCMD_R4765", "MS-ASCMD_R4771", "MS-ASCMD_R5041",
                 "MS-ASCMD_R5051", "MS-ASCMD_R5032", "MS-ASCMD_R5060", "MS-ASCMD_R749")
async def test_handshake_then_full_download_in_windows(client, app):
    await deliver(app, *[message(subject=f"m{i}") for i in range(7)])
    dev = Raw(client)
    resp = await dev.sync("0")
    assert resp == E(f"{A}:Sync", E(f"{A}:Collections", E(f"{A}:Collection",
                     E(f"{A}:SyncKey", "1"), E(f"{A}:CollectionId", "1"), E(f"{A}:Status", 1))))
    seen, key, rounds = [], "1", 0
    while True:
        resp = await dev.sync(key, "1", E(f"{A}:WindowSize", 3))
        coll = collection(resp)
        assert coll.text(f"{A}:Status") == "1"
        batch = commands(resp)
        assert len(batch) <= 3
        seen += batch
        key = coll.text(f"{A}:SyncKey")
        rounds += 1
        if not coll.has(f"{A}:MoreAvailable"):
            break
    assert rounds == 3
    assert sorted(s for _, _, s in seen) == [f"m{i}" for i in range(7)]
    assert {k for k, _, _ in seen} == {"Add"}
    assert len({sid for _, sid, _ in seen}) == 7
    assert await dev.post("Sync", E(f"{A}:Sync", E(f"{A}:Collections", E(f"{A}:Collection", E(f"{A}:SyncKey", key), E(f"{A}:CollectionId", "1"))))) is not None


@pytest.mark.req("MS-ASCMD_R3128")
async def test_getchanges_with_key_zero_is_status_4(client):
    resp = await Raw(client).sync("0", "1", E(f"{A}:GetChanges"))
    assert resp == E(f"{A}:Sync", E(f"{A}:Status", 4))


@pytest.mark.req("MS-ASCMD_R4425", "MS-ASCMD_R4415")
async def test_unknown_key_is_status_3_and_unknown_folder_12(client):
    dev = Raw(client)
    await primed(dev)
    assert collection(await dev.sync("999")).text(f"{A}:Status") == "3"
    assert collection(await dev.sync("0", "4711")).text(f"{A}:Status") == "12"


@pytest.mark.req("MS-ASCMD_R656", "MS-ASCMD_R667", "MS-ASCMD_R679")
@pytest.mark.req("MS-ASEMAIL_R81")
async def test_nothing_new_is_the_empty_response_and_keeps_the_key(client, app):
    dev = Raw(client)
    key = await primed(dev)
    r = await dev.post("Sync", E(f"{A}:Sync", E(f"{A}:Collections", E(f"{A}:Collection", E(f"{A}:SyncKey", key), E(f"{A}:CollectionId", "1")))))
    assert r.status_code == 200 and r.content == b""
    await deliver(app, message(subject="late"))
    resp = await dev.sync(key)
    assert commands(resp) == [("Add", commands(resp)[0][1], "late")]


@pytest.mark.req("MS-ASCMD_R3119", "MS-ASCMD_R5556", "MS-ASCMD_R3835", "MS-ASCMD_R2160", "MS-ASCMD_R2161",
                 "MS-ASCMD_R5875")
async def test_incremental_add_change_delete_from_other_sources(client, app, db):
    await deliver(app, message(subject="one"), message(subject="two"))
    dev = Raw(client)
    key = await primed(dev)
    resp = await dev.sync(key)
    key = collection(resp).text(f"{A}:SyncKey")
    ids = {s: sid for _, sid, s in commands(resp)}
    other = Raw(client, device="dev2")
    okey = await primed(other)
    okey = collection(await other.sync(okey)).text(f"{A}:SyncKey")
    # dev2 marks "one" read and deletes "two"; a new message arrives.
    change = E(f"{A}:Commands",
               E(f"{A}:Change", E(f"{A}:ServerId", ids["one"]), E(f"{A}:ApplicationData", E("Email:Read", 1))),
               E(f"{A}:Delete", E(f"{A}:ServerId", ids["two"])))
    resp2 = await other.sync(okey, "1", change)
    assert collection(resp2).find(f"{A}:Responses") is None  # silence is success
    assert commands(resp2) == []  # its own changes are not echoed back
    await deliver(app, message(subject="three"))
    resp = await dev.sync(key)
    got = commands(resp)
    assert [(k, sid) for k, sid, _ in got if k != "Add"] == [("Change", ids["one"]), ("Delete", ids["two"])]
    assert [s for k, _, s in got if k == "Add"] == ["three"]
    read = [c for c in collection(resp).find(f"{A}:Commands").children if c.name == "Change"][0]
    assert read.find(f"{A}:ApplicationData").text("Email:Read") == "1"
    with db.session() as s:
        alice = get_user(s, "alice")
        trash = s.exec(select(Folder).where(Folder.user_id == alice.id, Folder.type == 4)).one()
        assert [i.subject for i in s.exec(select(Item).where(Item.folder_id == trash.id))] == ["two"]


@pytest.mark.req("MS-ASCMD_R2158")
async def test_delete_for_good_when_deletes_as_moves_is_0(client, app, db):
    await deliver(app, message(subject="gone"))
    dev = Raw(client)
    key = await primed(dev)
    resp = await dev.sync(key)
    key, sid = collection(resp).text(f"{A}:SyncKey"), commands(resp)[0][1]
    await dev.sync(key, "1", E(f"{A}:DeletesAsMoves", 0), E(f"{A}:Commands", E(f"{A}:Delete", E(f"{A}:ServerId", sid))))
    with db.session() as s:
        assert s.exec(select(Item)).all() == []


@pytest.mark.req("MS-ASCMD_R755", "MS-ASCMD_R4447", "MS-ASCMD_R4419", "MS-ASCMD_R4440", "MS-ASCMD_R3834")
async def test_flag_change_and_unknown_item_status_8(client, app, db):
    await deliver(app, message(subject="flag me"))
    dev = Raw(client)
    key = await primed(dev)
    resp = await dev.sync(key)
    key, sid = collection(resp).text(f"{A}:SyncKey"), commands(resp)[0][1]
    resp = await dev.sync(key, "1", E(f"{A}:Commands",
        E(f"{A}:Change", E(f"{A}:ServerId", sid), E(f"{A}:ApplicationData", E("Email:Flag", E("Email:Status", 2), E("Email:FlagType", "Flag for follow up")))),
        E(f"{A}:Change", E(f"{A}:ServerId", "1:999"), E(f"{A}:ApplicationData", E("Email:Read", 1))),
        E(f"{A}:Add", E(f"{A}:ClientId", "c1"), E(f"{A}:ApplicationData", E("Email:Subject", "x")))))
    responses = collection(resp).find(f"{A}:Responses")
    assert responses == E(f"{A}:Responses",
                          E(f"{A}:Change", E(f"{A}:ServerId", "1:999"), E(f"{A}:Status", 8)),
                          E(f"{A}:Add", E(f"{A}:ClientId", "c1"), E(f"{A}:Status", 6)))
    with db.session() as s:
        item = s.exec(select(Item)).one()
        assert (item.flag_status, item.flag_type) == (2, "Flag for follow up")


@pytest.mark.req("MS-ASCMD_R5433")
async def test_fetch_returns_application_data(client, app):
    await deliver(app, message(subject="fetch me", text="the body"))
    dev = Raw(client)
    key = await primed(dev)
    resp = await dev.sync(key)
    key, sid = collection(resp).text(f"{A}:SyncKey"), commands(resp)[0][1]
    resp = await dev.sync(key, "1", E(f"{A}:Commands", E(f"{A}:Fetch", E(f"{A}:ServerId", sid))))
    fetch = collection(resp).find(f"{A}:Responses").find(f"{A}:Fetch")
    assert fetch.text(f"{A}:Status") == "1"
    data = fetch.find(f"{A}:ApplicationData")
    assert data.text("Email:Subject") == "fetch me"
    assert data.find("AirSyncBase:Body").text("AirSyncBase:Data") == "the body\n"


async def test_resent_previous_key_gets_same_answer_no_duplicates(client, app, db):
    await deliver(app, message(subject="a"), message(subject="b"))
    dev = Raw(client)
    key = await primed(dev)
    first = await dev.sync(key)
    again = await dev.sync(key)  # the device never saw `first`
    assert again == first
    await deliver(app, message(subject="c"))
    nxt = await dev.sync(collection(first).text(f"{A}:SyncKey"))
    assert [s for _, _, s in commands(nxt)] == ["c"]
    # A resent key with a Change is not applied twice either: one log row only.
    key = collection(nxt).text(f"{A}:SyncKey")
    sid = commands(nxt)[0][1]
    change = E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), E(f"{A}:ApplicationData", E("Email:Read", 1))))
    r1 = await dev.sync(key, "1", change)
    r2 = await dev.sync(key, "1", change)
    assert r1 == r2
    from easlab.storage.models import ItemChange

    with db.session() as s:
        assert len(s.exec(select(ItemChange).where(ItemChange.kind == "change")).all()) == 1


@pytest.mark.parametrize("html", [None, "<p>Hello <b>world</b></p>"])
async def test_body_preferences(client, app, html):
    text = "Hello world, a plain body that is long enough to truncate.\n"
    await deliver(app, message(subject="b", text=text, html=html))
    dev = Raw(client, device_type="Android")
    key = await primed(dev, options=[opts(pref(1, 10))])
    body = collection(await dev.sync(key)).find(f"{A}:Commands").find(f"{A}:Add").find(f"{A}:ApplicationData").find("AirSyncBase:Body")
    assert body == E("AirSyncBase:Body", E("AirSyncBase:Type", 1), E("AirSyncBase:EstimatedDataSize", len(text.encode())),
                     E("AirSyncBase:Truncated", 1), E("AirSyncBase:Data", text[:10]))


async def test_apple_devices_get_opaque_body_data(client, app):
    await deliver(app, message(subject="ios", text="for the iPhone"))
    for device_type, expected in (("iPhone", b"for the iPhone\n"), ("Android", "for the iPhone\n")):
        dev = Raw(client, device=device_type.lower(), device_type=device_type)
        key = await primed(dev, options=[opts(pref(1))])
        data = collection(await dev.sync(key)).find(f"{A}:Commands").find(f"{A}:Add").find(f"{A}:ApplicationData")
        assert data.find("AirSyncBase:Body").find("AirSyncBase:Data").value == expected


async def test_html_and_all_or_none_and_native_type(client, app):
    html = "<p>Hello <b>world</b></p>\n"
    await deliver(app, message(subject="h", text="Hello world", html=html))
    dev = Raw(client)
    key = await primed(dev, options=[opts(pref(2, 5, 1), pref(1))])
    data = collection(await dev.sync(key)).find(f"{A}:Commands").find(f"{A}:Add").find(f"{A}:ApplicationData")
    # The HTML does not fit whole in 5 bytes, so the next preference, whole plain text, wins (MS-ASAIRS 2.2.2.3.2).
    body = data.find("AirSyncBase:Body")
    assert [c.tag for c in body.children] == ["AirSyncBase:Type", "AirSyncBase:EstimatedDataSize", "AirSyncBase:Data"]
    assert (body.text("AirSyncBase:Type"), body.text("AirSyncBase:Data")) == ("1", "Hello world\n")
    assert data.text("AirSyncBase:NativeBodyType") == "2"


async def test_mime_body_as_opaque_when_mimesupport_2(client, app):
    raw = message(subject="mime", attachments=[("a.bin", b"\x00\x01", "application/octet-stream")])
    await deliver(app, raw)
    dev = Raw(client)
    key = await primed(dev, options=[opts(pref(4), mime=2)])
    body = collection(await dev.sync(key)).find(f"{A}:Commands").find(f"{A}:Add").find(f"{A}:ApplicationData").find("AirSyncBase:Body")
    assert body.text("AirSyncBase:Type") == "4"
    data = body.find("AirSyncBase:Data").value
    assert isinstance(data, bytes) and data == raw
    assert body.text("AirSyncBase:EstimatedDataSize") == str(len(raw))


async def test_attachment_metadata(client, app):
    await deliver(app, message(subject="att", attachments=[("report.pdf", b"%PDF-1.4 xx", "application/pdf")]))
    dev = Raw(client)
    key = await primed(dev)
    data = collection(await dev.sync(key)).find(f"{A}:Commands").find(f"{A}:Add").find(f"{A}:ApplicationData")
    att = data.find("AirSyncBase:Attachments").find("AirSyncBase:Attachment")
    assert att.text("AirSyncBase:DisplayName") == "report.pdf"
    assert att.text("AirSyncBase:Method") == "1"
    assert att.text("AirSyncBase:EstimatedDataSize") == "11"
    assert att.text("AirSyncBase:FileReference").endswith(":0")


async def test_a_mail_without_a_date_is_dated_by_the_server_clock(settings, app, db):
    """A message without a Date header: its DateReceived and the time in its ConversationIndex are
    the app clock's arrival time (the index read the wall clock when the message was parsed)."""
    from easlab.eas.conversations import wire_index
    from easlab.eas.mime import conversation_id, conversation_index
    from easlab.server.app import create_app
    from easlab.server.clock import ManualClock

    clock = ManualClock(datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc))
    app = create_app(settings, db, clock=clock)
    await deliver(app, message(subject="Undated"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        dev = Raw(c)
        resp = await dev.sync(await primed(dev), "1")
    add, = collection(resp).find(f"{A}:Commands").children
    data = add.find(f"{A}:ApplicationData")
    assert data.text("Email:DateReceived") == "2031-05-06T07:08:09.000Z"
    # On the wire the index is its 5-byte header (MS-ASCON 2.2.2.4): the time, without GUID.
    assert data.find("Email2:ConversationIndex").value == wire_index(conversation_index(conversation_id("Undated"), clock.now()))


@pytest.mark.req("MS-ASCMD_R2987", "MS-ASCMD_R3967")
async def test_filter_type_window_and_soft_delete(settings, app, db):
    from easlab.server.app import create_app
    from easlab.server.clock import ManualClock

    clock = ManualClock()
    app = create_app(settings, db, clock=clock)  # the same mailbox, on a clock the test moves
    old = (clock.now() - timedelta(days=10)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    await deliver(app, message(subject="recent"))
    with db.session() as s:  # an old message, as if imported
        from easlab.storage.mailbox import store_message

        inbox = s.exec(select(Folder).where(Folder.user_id == get_user(s, "alice").id, Folder.type == 2)).one()
        store_message(s, inbox, message(subject="old", date=old))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        dev = Raw(client)
        key = await primed(dev, options=[opts(filter=2)])  # 3 days
        resp = await dev.sync(key)
        assert [s for _, _, s in commands(resp)] == ["recent"]
        key = collection(resp).text(f"{A}:SyncKey")
        # Time passes: "recent" slides out of the window by the next Sync.
        with db.session() as s:
            state = s.exec(select(SyncState)).one()
            item = s.exec(select(Item).where(Item.subject == "recent")).one()
            item.date_received = state.window_start.replace(tzinfo=timezone.utc) + timedelta(milliseconds=1)
            s.add(item)
        clock.advance(1)
        resp = await dev.sync(key)
    assert [(k, s) for k, _, s in commands(resp)] == [("SoftDelete", None)]


async def test_invalid_email_filter_is_status_4(client):
    """FilterType 8 (incomplete tasks) and 6/7 are not for mail: the collection fails with 4; the
    same values are valid in Tasks and Calendar (tests/server/test_sync_pim.py)."""
    dev = Raw(client)
    for ft in (6, 7, 8):
        assert await dev.sync("0", "1", opts(filter=ft)) == E(f"{A}:Sync", E(f"{A}:Collections", E(
            f"{A}:Collection", E(f"{A}:CollectionId", "1"), E(f"{A}:Status", 4))))
    assert await dev.sync("0", "1", opts(filter=9)) == E(f"{A}:Sync", E(f"{A}:Status", 4))


@pytest.mark.req("MS-ASCMD_R4456")
async def test_empty_request_repeats_the_cached_one(client, app):
    dev = Raw(client)
    r = await dev.post("Sync")  # nothing cached yet
    assert decode(r.content) == E(f"{A}:Sync", E(f"{A}:Status", 13))
    key = await primed(dev)
    r = await dev.post("Sync", E(f"{A}:Sync", E(f"{A}:Collections", E(f"{A}:Collection", E(f"{A}:SyncKey", key), E(f"{A}:CollectionId", "1")))))
    assert r.content == b""  # nothing yet: empty response, key kept
    await deliver(app, message(subject="cached"))
    resp = await dev.call("Sync")  # empty body: the cached request again
    assert [s for _, _, s in commands(resp)] == ["cached"]
    assert collection(resp).text(f"{A}:SyncKey") == str(int(key) + 1)


async def test_partial_request_adds_cached_collections(client, app):
    dev = Raw(client)
    inbox = await primed(dev, "1")
    sent = await primed(dev, "4")
    full = E(f"{A}:Sync", E(f"{A}:Collections",
             E(f"{A}:Collection", E(f"{A}:SyncKey", inbox), E(f"{A}:CollectionId", "1")),
             E(f"{A}:Collection", E(f"{A}:SyncKey", sent), E(f"{A}:CollectionId", "4"))))
    assert (await dev.post("Sync", full)).content == b""
    await deliver(app, message(subject="via partial"))
    partial = E(f"{A}:Sync", E(f"{A}:Collections", E(f"{A}:Collection", E(f"{A}:SyncKey", sent), E(f"{A}:CollectionId", "4"))), E(f"{A}:Partial"))
    resp = await dev.call("Sync", partial)
    by_id = {c.text(f"{A}:CollectionId"): c for c in resp.find(f"{A}:Collections").children}
    assert set(by_id) == {"1", "4"}
    adds = by_id["1"].find(f"{A}:Commands").findall(f"{A}:Add")
    assert [a.find(f"{A}:ApplicationData").text("Email:Subject") for a in adds] == ["via partial"]


async def test_wait_holds_until_mail_arrives(client, app):
    dev = Raw(client)
    key = await primed(dev)
    await dev.sync(key)
    task = asyncio.create_task(dev.sync(key, top=[E(f"{A}:HeartbeatInterval", 300)]))
    await until_held(app)
    assert not task.done()
    await deliver(app, message(subject="pushed"))
    resp = await asyncio.wait_for(task, 5)
    assert [s for _, _, s in commands(resp)] == ["pushed"]


@pytest.mark.parametrize("top, limit", [(E(f"{A}:HeartbeatInterval", 10), 60), (E(f"{A}:HeartbeatInterval", 4000), 3540),
                                        (E(f"{A}:Wait", 0), 1), (E(f"{A}:Wait", 60), 59)])
@pytest.mark.req("MS-ASCMD_R3160", "MS-ASCMD_R3225", "MS-ASCMD_R3227", "MS-ASCMD_R3228", "MS-ASCMD_R3229",
                 "MS-ASCMD_R3230", "MS-ASCMD_R4746", "MS-ASCMD_R4459", "MS-ASCMD_R5780", "MS-ASCMD_R4460",
                 "MS-ASCMD_R5781", "MS-ASCMD_R4461", "MS-ASCMD_R5782")
async def test_interval_out_of_bounds_status_14_with_limit(client, top, limit):
    dev = Raw(client)
    key = await primed(dev)
    resp = await dev.sync(key, top=[top])
    assert resp == E(f"{A}:Sync", E(f"{A}:Status", 14), E(f"{A}:Limit", limit))


@pytest.mark.parametrize("seconds, status, limit", [(30, None, None), (9, 14, 10), (301, 14, 300)])
async def test_heartbeat_bounds_are_the_servers_settings(tmp_path, db, seconds, status, limit):
    """Settings.heartbeat_min/max bound Sync as they bound Ping (review A.5: Sync used 60/3540)."""
    from easlab.server.app import create_app
    from easlab.server.clock import ManualClock
    from easlab.server.config import Settings
    from easlab.storage.users import add_user

    with db.session() as session:
        add_user(session, "alice", "secret", "Alice Example")
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'easlab.db'}", domain="easlab.test",
                        heartbeat_min=10, heartbeat_max=300)
    clock = ManualClock()
    app = create_app(settings, db, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        dev = Raw(c)
        key = await primed(dev)
        task = asyncio.create_task(dev.sync(key, top=[E(f"{A}:HeartbeatInterval", seconds)]))
        if status is None:  # accepted: held for the interval, then the empty response
            await until_held(app)
            clock.advance(seconds)
            assert await asyncio.wait_for(task, 5) is None
        else:
            assert await asyncio.wait_for(task, 5) == E(f"{A}:Sync", E(f"{A}:Status", status), E(f"{A}:Limit", limit))


@pytest.mark.req("MS-ASCMD_R3162", "MS-ASCMD_R4748", "MS-ASCMD_R5778", "MS-ASCMD_R5779")
async def test_wait_and_heartbeat_together_status_4(client):
    dev = Raw(client)
    key = await primed(dev)
    resp = await dev.sync(key, top=[E(f"{A}:Wait", 5), E(f"{A}:HeartbeatInterval", 300)])
    assert resp == E(f"{A}:Sync", E(f"{A}:Status", 4))


async def test_protocol_12_1_has_class_and_2_5_legacy_body(client, app):
    await deliver(app, message(subject="old client", text="legacy body"))
    dev = Raw(client, version="12.1", device="old1")
    tree = E(f"{A}:Sync", E(f"{A}:Collections", E(f"{A}:Collection", E(f"{A}:Class", "Email"), E(f"{A}:SyncKey", "0"), E(f"{A}:CollectionId", "1"))))
    resp = await dev.call("Sync", tree)
    assert collection(resp).text(f"{A}:Class") == "Email"
    legacy = Raw(client, version="2.5", device="old2")
    key = collection(await legacy.call("Sync", tree)).text(f"{A}:SyncKey")
    tree = E(f"{A}:Sync", E(f"{A}:Collections", E(f"{A}:Collection", E(f"{A}:Class", "Email"), E(f"{A}:SyncKey", key), E(f"{A}:CollectionId", "1"))))
    data = collection(await legacy.call("Sync", tree)).find(f"{A}:Commands").find(f"{A}:Add").find(f"{A}:ApplicationData")
    assert data.text("Email:Body") == "legacy body\n"
    assert data.find("AirSyncBase:Body") is None


async def test_user_never_sees_another_users_mail(client, app):
    await deliver(app, message(subject="for bob", to="bob@easlab.test"), to="bob@easlab.test")
    await deliver(app, message(subject="for alice"))
    alice = Raw(client)
    key = await primed(alice)
    assert [s for _, _, s in commands(await alice.sync(key))] == ["for alice"]
    bob = Raw(client, user="bob", password="hunter2")
    key = await primed(bob)
    assert [s for _, _, s in commands(await bob.sync(key))] == ["for bob"]


async def test_a_change_to_mail_outside_the_window_is_not_sent(client, app, db):
    """Another phone flags an old message this phone's FilterType never showed it: nothing to say
    (no Change, and no SoftDelete of an item it never had)."""
    old = (datetime.now(timezone.utc) - timedelta(days=10)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    with db.session() as s:
        from easlab.storage.mailbox import store_message

        inbox = s.exec(select(Folder).where(Folder.user_id == get_user(s, "alice").id, Folder.type == 2)).one()
        store_message(s, inbox, message(subject="old", date=old))
    dev = Raw(client)
    key = await primed(dev, options=[opts(filter=2)])
    resp = await dev.sync(key)
    key = collection(resp).text(f"{A}:SyncKey") if resp is not None else key
    other = Raw(client, device="dev2")
    okey = await primed(other)
    resp = await other.sync(okey)
    (sid,) = [s for _, s, _ in commands(resp)]
    okey = collection(resp).text(f"{A}:SyncKey")
    await other.sync(okey, "1", E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid),
                                                           E(f"{A}:ApplicationData", E("Email:Read", 1)))))
    assert await dev.sync(key) is None  # the empty Sync response: nothing for this phone
