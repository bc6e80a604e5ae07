"""The one-statement writes and the writer hint of a device's usual cycle (issue 13, point 3),
on both databases: a FolderSync key rolled by a guarded UPDATE that does not hold once anything
it rests on moved, the look that sends a Sync owed changes to the writer at once, and the look
that answers a Sync with nothing to say (issue 16, point 3)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from sqlmodel import select

from easlab.eas.commands.sync import ClientCommand, CollectionRequest, SyncOptions

from easlab.storage.folders import QuietRoll, quick_folder_sync, roll_quietly
from easlab.storage.models import Device, Folder, Item, SyncState, User
from easlab.storage.sync import likely_writes, quiet_collections
from easlab.storage.users import add_user


def partnership(db) -> tuple[int, int]:
    with db.session() as session:
        user = add_user(session, "alice", "secret", "Alice")
        device = Device(user_id=user.id, device_id="dev1", device_type="iPhone", hierarchy_key="4",
                        hierarchy_prev_key="3", hierarchy_seq=user.hierarchy_seq, hierarchy_prev_seq=user.hierarchy_seq)
        session.add(device)
        session.flush()
        return user.id, device.id


def keys(db) -> tuple[str, str]:
    with db.session(write=False) as session:
        device = session.exec(select(Device).where(Device.device_id == "dev1")).one()
        return device.hierarchy_key, device.hierarchy_prev_key


def quick(db, ids, key):
    return quick_folder_sync(db.engine, *ids, "dev1", key)


def test_the_current_key_with_nothing_new_rolls_in_one_update(database):
    ids = partnership(database)
    roll = quick(database, ids, "4")
    assert isinstance(roll, QuietRoll) and (roll.sent, roll.key) == ("4", "5")
    with database.session() as session:
        assert roll_quietly(session.connection(), roll).sync_key == "5"
    assert keys(database) == ("5", "4")
    with database.session() as session:  # a second store of the same roll finds its key moved on
        assert roll_quietly(session.connection(), roll) is None
    assert keys(database) == ("5", "4")


def test_a_quiet_roll_does_not_hold_once_a_folder_changed_since_its_read(database):
    ids = partnership(database)
    roll = quick(database, ids, "4")
    with database.session() as session:  # another device adds a folder meanwhile
        user = session.get(User, ids[0])
        user.hierarchy_seq += 1
        session.add(Folder(user_id=user.id, server_id="99", parent_id="0", display_name="New", type=12,
                           created_seq=user.hierarchy_seq, modified_seq=user.hierarchy_seq))
        session.add(user)
    with database.session() as session:
        assert roll_quietly(session.connection(), roll) is None
    assert keys(database) == ("4", "3")
    assert quick(database, ids, "4") is None  # the full FolderSync reports the folder


def test_a_sync_is_sent_to_the_writer_at_once_only_when_its_key_is_owed_changes(database):
    ids = partnership(database)
    with database.session() as session:
        inbox = session.exec(select(Folder).where(Folder.user_id == ids[0], Folder.type == 2)).one()
        inbox.change_seq = 7
        session.add(inbox)
        session.add(SyncState(device_pk=ids[1], collection_id=inbox.server_id, sync_key="12", prev_key="11", seq=7))
        cid = inbox.server_id

    def hint(key, get_changes=True, window_size=50):
        request = SimpleNamespace(sync_key=key, collection_id=cid, get_changes=get_changes, window_size=window_size)
        with database.engine.connect() as connection:
            return likely_writes(connection, *ids, request)

    assert [hint("12"), hint("11"), hint("0"), hint("99")] == [False, False, True, False]
    with database.session() as session:
        inbox = session.exec(select(Folder).where(Folder.user_id == ids[0], Folder.type == 2)).one()
        inbox.change_seq = 8  # a message arrived
        session.add(inbox)
    assert [hint("12"), hint("11"), hint("12", get_changes=False), hint("12", window_size=0)] == [True, False, False, False]


def test_a_sync_with_nothing_to_say_is_told_from_one_look(database):
    ids = partnership(database)
    with database.session() as session:
        folders = {f.type: f for f in session.exec(select(Folder).where(Folder.user_id == ids[0], Folder.type.in_((2, 5))))}
        for folder in folders.values():
            folder.change_seq = 7
            session.add(folder)
            session.add(SyncState(device_pk=ids[1], collection_id=folder.server_id, sync_key="12", prev_key="11", seq=7,
                                  options=SyncOptions().to_dict()))
        device = session.get(Device, ids[1])
        device.cached_sync = b"kept"
        session.add(device)
        inbox, sent = folders[2].server_id, folders[5].server_id
        handles = {2: folders[2].id, 5: folders[5].id}

    def look(*requests, sent_bytes=b"kept", device_id="dev1"):
        return quiet_collections(database.engine, ids[0], ids[1], device_id, sent_bytes, list(requests), SyncOptions,
                                 datetime(2026, 12, 7, tzinfo=timezone.utc))

    both = look(CollectionRequest(inbox, "12"), CollectionRequest(sent, "12", get_changes=False))
    assert [(o.collection_id, o.sync_key, o.status, o.unchanged, o.watch) for o in both] == [
        (inbox, "12", 1, True, [handles[2]]), (sent, "12", 1, True, [handles[5]])]
    assert look(CollectionRequest(inbox, "12", options=SyncOptions())) is not None  # the options as kept
    refused = {
        "another request": look(CollectionRequest(inbox, "12"), sent_bytes=b"other"),
        "another device": look(CollectionRequest(inbox, "12"), device_id="dev2"),
        "the previous key": look(CollectionRequest(inbox, "11")),
        "key 0": look(CollectionRequest(inbox, "0")),
        "an unknown key": look(CollectionRequest(inbox, "99")),
        "an unknown collection": look(CollectionRequest(inbox, "12"), CollectionRequest("4242", "12")),
        "a collection twice": look(CollectionRequest(inbox, "12"), CollectionRequest(inbox, "12")),
        "new options": look(CollectionRequest(inbox, "12", options=SyncOptions(conflict=0))),
        "a FilterType window": look(CollectionRequest(inbox, "12", options=SyncOptions(filter_type=3))),
        "a bad FilterType": look(CollectionRequest(inbox, "12", options=SyncOptions(filter_type=8))),
        "commands": look(CollectionRequest(inbox, "12", commands=[ClientCommand("Fetch", server_id="1:1")])),
    }
    assert {why: outcome for why, outcome in refused.items() if outcome is not None} == {}
    with database.session() as session:
        state = session.exec(select(SyncState).where(SyncState.collection_id == sent)).one()
        state.initial_cursor = 3  # the initial download is under way
        session.add(state)
        folder = session.get(Folder, handles[2])
        folder.change_seq = 8  # a message arrived
        session.add(folder)
    assert look(CollectionRequest(inbox, "12")) is None
    assert look(CollectionRequest(sent, "12")) is None


def test_a_filtertype_window_that_moved_past_no_item_is_told_from_the_look(database):
    """A FilterType window moves with the clock; the look answers while no item the device may hold
    lies between the start kept and the new one, and leaves the Sync to sync_collection (which
    answers SoftDeletes and stores the start) once one does, or when the start would go back."""
    ids = partnership(database)
    now = datetime(2026, 12, 7, 12, tzinfo=timezone.utc)
    kept = now - timedelta(days=7, hours=1)
    with database.session() as session:
        inbox = session.exec(select(Folder).where(Folder.user_id == ids[0], Folder.type == 2)).one()
        inbox.change_seq = 7
        session.add(inbox)
        session.add(SyncState(device_pk=ids[1], collection_id=inbox.server_id, sync_key="12", prev_key="11", seq=7,
                              window_start=kept, options=SyncOptions(filter_type=3).to_dict()))
        session.add(Item(folder_id=inbox.id, server_id=f"{inbox.server_id}:1", date_received=kept - timedelta(days=1),
                         created_seq=1))  # already out of the window
        session.add(Item(folder_id=inbox.id, server_id=f"{inbox.server_id}:2", date_received=now - timedelta(days=6),
                         created_seq=2))  # inside for a day yet
        device = session.get(Device, ids[1])
        device.cached_sync = b"kept"
        session.add(device)
        cid = inbox.server_id

    def look(at: datetime):
        outcomes = quiet_collections(database.engine, ids[0], ids[1], "dev1", b"kept", [CollectionRequest(cid, "12")],
                                     SyncOptions, at)
        return None if outcomes is None else [(o.collection_id, o.sync_key, o.unchanged) for o in outcomes]

    assert look(now) == [(cid, "12", True)]  # the start moved by an hour past no item
    assert look(now + timedelta(days=1)) == [(cid, "12", True)]
    assert look(now + timedelta(days=1, seconds=1)) is None  # item 2 slid out: a SoftDelete to answer
    assert look(now - timedelta(hours=2)) is None  # the start would go back
    with database.session() as session:  # item 2 came after the device's position: not the device's
        item = session.exec(select(Item).where(Item.server_id == f"{cid}:2")).one()
        item.created_seq = 8
        session.add(item)
    assert look(now + timedelta(days=1, seconds=1)) == [(cid, "12", True)]
