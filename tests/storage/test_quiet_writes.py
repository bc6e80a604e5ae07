"""The one-statement writes and the writer hint of a device's usual cycle (issue 13, point 3),
on both databases: a FolderSync key rolled by a guarded UPDATE that does not hold once anything
it rests on moved, and the look that sends a Sync owed changes to the writer at once."""
from __future__ import annotations

from types import SimpleNamespace

from sqlmodel import select

from easlab.storage.folders import QuietRoll, quick_folder_sync, roll_quietly
from easlab.storage.models import Device, Folder, SyncState, User
from easlab.storage.sync import likely_writes
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
    with db.engine.connect() as connection:
        return quick_folder_sync(connection, *ids, "dev1", key)


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
