"""One Sync answer's item content is bounded in total (issue 13.2; eas/limits.py MAX_SYNC_SIZE):
the window ends early with MoreAvailable, the rest comes in the next Sync, every item exactly once,
and an item alone larger than the bound is still sent."""
import pytest
from sqlmodel import select

from easlab.eas.limits import MAX_SYNC_SIZE
from easlab.eas.wbxml import E
from easlab.storage.models import Folder, Item
from easlab.storage.users import get_user
from tests.server.eas_helpers import Raw, collection, message

pytestmark = pytest.mark.anyio
A = "AirSync"
BODY = 50_000  # characters of plain text in each message
WHOLE_TEXT = E(f"{A}:Options", E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", 1)))  # no TruncationSize


def big(n: int) -> bytes:
    line = f"message {n:02d} ".ljust(99, "x") + "\n"
    return message(subject=f"m{n:02d}", text=line * (BODY // 100))


async def deliver(app, count: int) -> None:
    for n in range(count):
        await app.state.store.deliver(big(n), ["alice@easlab.test"])


def server_ids(db, folder_type: int = 2) -> set[str]:
    with db.session() as s:
        alice = get_user(s, "alice")
        folder = s.exec(select(Folder).where(Folder.user_id == alice.id, Folder.type == folder_type)).one()
        return set(s.exec(select(Item.server_id).where(Item.folder_id == folder.id)))


def adds(coll) -> list[tuple[str, int]]:
    """(ServerId, body length) of each Add in a Collection."""
    cmds = coll.find(f"{A}:Commands")
    out = []
    for c in cmds.children if cmds is not None else []:
        assert c.name == "Add"
        body = c.find(f"{A}:ApplicationData").find("AirSyncBase:Body")
        assert body.text("AirSyncBase:Truncated") in (None, "0")
        out.append((c.text(f"{A}:ServerId"), len(body.text("AirSyncBase:Data") or "")))
    return out


async def drain(dev: Raw, key: str, window: int = 100) -> tuple[list[list[str]], str]:
    """Sync until no MoreAvailable: the ServerIds of each answer, and the last key."""
    pages = []
    while True:
        coll = collection(await dev.sync(key, "1", E(f"{A}:WindowSize", window)))
        assert coll.text(f"{A}:Status") == "1"
        got = adds(coll)
        assert all(size >= BODY for _, size in got)  # whole bodies: nothing truncated to fit
        pages.append([sid for sid, _ in got])
        key = coll.text(f"{A}:SyncKey")
        if not coll.has(f"{A}:MoreAvailable"):
            return pages, key
        assert len(pages) < 40


def test_the_bound_is_documented_with_its_default():
    assert MAX_SYNC_SIZE == 10_240_000


async def test_an_initial_download_stops_at_the_answers_size_and_continues(app, client, db):
    app.state.limits.max_sync_size = 200_000  # three ~50 KB items fit, a fourth does not
    await deliver(app, 30)
    dev = Raw(client)
    key = collection(await dev.sync("0", "1", WHOLE_TEXT)).text(f"{A}:SyncKey")
    pages, _ = await drain(dev, key)
    assert [len(p) for p in pages] == [3] * 10
    sent = [sid for p in pages for sid in p]
    assert len(sent) == len(set(sent)) == 30
    assert set(sent) == server_ids(db)


async def test_the_change_log_stops_at_the_answers_size_and_continues(app, client, db):
    app.state.limits.max_sync_size = 200_000
    dev = Raw(client)
    key = collection(await dev.sync("0", "1", WHOLE_TEXT)).text(f"{A}:SyncKey")
    assert await dev.sync(key) is None  # an empty Inbox: the device is now on the change log
    await deliver(app, 30)
    pages, key = await drain(dev, key)
    assert [len(p) for p in pages] == [3] * 10
    sent = [sid for p in pages for sid in p]
    assert len(sent) == len(set(sent)) == 30
    assert set(sent) == server_ids(db)
    assert await dev.sync(key) is None  # nothing left: the empty answer


async def test_an_item_alone_larger_than_the_bound_is_still_sent_whole(app, client, db):
    app.state.limits.max_sync_size = 20_000
    await deliver(app, 3)
    dev = Raw(client)
    key = collection(await dev.sync("0", "1", WHOLE_TEXT)).text(f"{A}:SyncKey")
    pages, key = await drain(dev, key)
    assert [len(p) for p in pages] == [1, 1, 1]
    await deliver(app, 2)
    pages, _ = await drain(dev, key)
    assert [len(p) for p in pages] == [1, 1]


async def test_collections_of_one_answer_share_one_bound(app, client, db):
    app.state.limits.max_sync_size = 200_000
    await deliver(app, 4)
    dev = Raw(client)
    with db.session() as s:
        alice = get_user(s, "alice")
        trash = s.exec(select(Folder).where(Folder.user_id == alice.id, Folder.type == 4)).one().server_id
    moved = sorted(server_ids(db))[:2]
    for sid in moved:
        await dev.call("MoveItems", E("Move:MoveItems", E("Move:Move", E("Move:SrcMsgId", sid), E("Move:SrcFldId", "1"),
                                                           E("Move:DstFldId", trash))))
    keys = {}
    for cid in ("1", trash):
        keys[cid] = collection(await dev.sync("0", cid, WHOLE_TEXT)).text(f"{A}:SyncKey")
    sent: list[str] = []
    rounds = []
    while True:
        body = E(f"{A}:Sync", E(f"{A}:Collections", *[
            E(f"{A}:Collection", E(f"{A}:SyncKey", keys[cid]), E(f"{A}:CollectionId", cid)) for cid in keys]))
        colls = (await dev.call("Sync", body)).find(f"{A}:Collections").children
        counts = []
        for coll in colls:
            keys[coll.text(f"{A}:CollectionId")] = coll.text(f"{A}:SyncKey")
            got = [sid for sid, _ in adds(coll)]
            counts.append(len(got))
            sent += got
        rounds.append(counts)
        if not any(c.has(f"{A}:MoreAvailable") for c in colls):
            break
    assert rounds == [[2, 1], [0, 1]]  # three in all fit the first answer, whichever collection holds them
    assert len(sent) == len(set(sent)) == 4
    assert set(sent) == server_ids(db) | server_ids(db, 4)


def fetch_request(key: str, server_ids: list[str]):
    return E(f"{A}:Sync", E(f"{A}:Collections", E(
        f"{A}:Collection", E(f"{A}:SyncKey", key), E(f"{A}:CollectionId", "1"), E(f"{A}:GetChanges", 0), WHOLE_TEXT,
        E(f"{A}:Commands", *[E(f"{A}:Fetch", E(f"{A}:ServerId", sid)) for sid in server_ids]))))


def fetched(coll) -> list[tuple[str, str, int, str | None, int]]:
    """(ServerId, Status, body length, Truncated, EstimatedDataSize) of each Fetch response."""
    out = []
    for r in coll.find(f"{A}:Responses").children:
        body = r.find(f"{A}:ApplicationData").find("AirSyncBase:Body")
        out.append((r.text(f"{A}:ServerId"), r.text(f"{A}:Status"), len(body.text("AirSyncBase:Data") or ""),
                    body.text("AirSyncBase:Truncated"), int(body.text("AirSyncBase:EstimatedDataSize"))))
    return out


async def test_fetches_of_one_large_item_share_the_bound_and_the_rest_is_truncated(app, client, db):
    """Issue 13.2: 100 Fetches of one item made a Sync answer 100 times the item.  Every Fetch is
    answered; once the room is used up the bodies are cut and say so (Truncated, the whole size)."""
    app.state.limits.max_sync_size = 200_000
    await deliver(app, 1)
    dev = Raw(client)
    key = collection(await dev.sync("0", "1", WHOLE_TEXT)).text(f"{A}:SyncKey")
    _, key = await drain(dev, key)
    [sid] = server_ids(db)
    got = fetched(collection(await dev.call("Sync", fetch_request(key, [sid] * 10))))
    assert [(s, status) for s, status, *_ in got] == [(sid, "1")] * 10
    whole = [g for g in got if g[3] is None]
    assert len(whole) == 3 and all(size >= BODY for _, _, size, _, _ in whole)  # three fit whole, as Adds do
    assert got[3][3] == "1" and 0 < got[3][2] < BODY  # the fourth gets what is left of the room
    assert [(t, size) for _, _, size, t, _ in got[4:]] == [("1", 0)] * 6
    assert {estimate for *_, estimate in got} == {got[0][2]}  # each says how large the body is
    assert sum(size for _, _, size, _, _ in got) <= 200_000
