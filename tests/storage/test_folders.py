"""FolderSync in storage (storage.folders): one query for the folders, the device's own changes left out."""
from sqlalchemy import event

from easlab.storage.devices import touch_device
from easlab.storage.folders import folder_sync_with_echoes
from easlab.storage.mailbox import create_folder
from easlab.storage.models_items import HierarchyEcho
from easlab.storage.users import add_user, get_user


def test_folder_sync_reads_the_folders_once_even_with_echoes(db):
    with db.session() as s:
        add_user(s, "carol", "pw")
    with db.session() as s:
        user = get_user(s, "carol")
        device = touch_device(s, user, "dev1", "iPhone")
        key = folder_sync_with_echoes(s, user, device, "0").sync_key
        base = device.hierarchy_seq
        mine = create_folder(s, user, "0", "Mine", 12)
        theirs = create_folder(s, user, "0", "Theirs", 12)
        s.add(HierarchyEcho(device_pk=device.id, folder_id=mine.id, seq=mine.modified_seq, kind="create"))
        s.flush()
        assert mine.modified_seq > base
        seen = []

        def count(_conn, _cursor, statement, *_):
            if statement.lstrip().upper().startswith("SELECT") and "FROM folder" in statement:
                seen.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            outcome = folder_sync_with_echoes(s, user, device, key)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert [f.server_id for f in outcome.added] == [theirs.server_id]  # not the device's own folder
        assert outcome.updated == [] and outcome.deleted == []
        assert len(seen) == 1
