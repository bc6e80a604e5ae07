"""The answer that handed out a Sync key is kept as the bytes the caller encoded it to, and handed
back as they are when the device resends the previous key: storage neither encodes nor decodes."""
from __future__ import annotations

from datetime import datetime, timezone

from easlab.eas.commands.sync import CollectionRequest, SyncOptions
from easlab.storage.devices import touch_device
from easlab.storage.mailbox import folder_by_type, store_message
from easlab.storage.sync import sync_collection
from easlab.storage.users import add_user, get_user

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def sync(db, key: str, answer: bytes):
    rendered = []

    def render(outcome):
        rendered.append(outcome.sync_key)
        return answer

    with db.session() as s:
        user = get_user(s, "alice")
        device = touch_device(s, user, "dev1", "Phone", "ua", "14.1", now=NOW)
        result = sync_collection(s, user, device, CollectionRequest("1", key), SyncOptions, render, NOW, set())
    return result, rendered


def test_a_resent_key_gets_the_kept_bytes_back_unread(database):
    with database.session() as s:
        inbox = folder_by_type(s, add_user(s, "alice", "pw"), 2)
        assert inbox.server_id == "1"
        store_message(s, inbox, b"Subject: one\r\n\r\nx", received=NOW)
    (primed, _), rendered = sync(database, "0", b"never kept")
    assert (primed.sync_key, primed.rendered, rendered) == ("1", None, [])  # key 0: nothing rendered, nothing kept
    (first, replay), rendered = sync(database, "1", b"\x00opaque page")
    assert (first.sync_key, [c.kind for c in first.changes], replay, rendered) == ("2", ["Add"], None, ["2"])
    (again, replay), rendered = sync(database, "1", b"a different page")
    assert (again.sync_key, replay, rendered) == ("2", b"\x00opaque page", [])


def test_an_answer_handed_over_in_pieces_is_kept_as_the_same_row(database):
    """The adapter hands its encoded page over in pieces (never joined into one block): the row
    holds what compressing the joined bytes would have stored, and gives them back joined."""
    import zlib

    from sqlmodel import select

    from easlab.storage.models import SyncState

    with database.session() as s:
        inbox = folder_by_type(s, add_user(s, "alice", "pw"), 2)
        store_message(s, inbox, b"Subject: one\r\n\r\nx", received=NOW)
    sync(database, "0", b"")
    pieces = [bytes(range(256)) * 300, b"a page " * 9000, b"\x00tail"]
    sync(database, "1", pieces)
    with database.session() as s:
        kept = s.exec(select(SyncState.last_response)).one()
    assert kept == zlib.compress(b"".join(pieces), 1)
    (_, replay), _ = sync(database, "1", b"another")
    assert replay == b"".join(pieces)
