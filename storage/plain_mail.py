"""Plain mail stored on the DBAPI cursor (storage/driver.py): what SMTP delivery writes for a group
of messages whose recipients it knows, in a handful of statements whatever the group's size.

The rows are those storage.mailbox.append_messages writes, built by the same functions
(storage.mailbox.item_rows and change_rows: the same columns, ServerIds, change numbers and
change-log adds, in the same order), but the item ids are taken before the INSERT, so
each ServerId is written with its row instead of by an UPDATE after it: on SQLite the next ids
after the highest one (what SQLite itself hands out to an INTEGER PRIMARY KEY, under the write
lock the transaction holds from BEGIN IMMEDIATE), on PostgreSQL from the id column's sequence.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, bindparam, func, insert, select, update
from sqlalchemy.engine import Dialect

from easlab.eas.mime import ParsedMessage

from . import generations
from .driver import Prepared
from .mailbox import change_rows, item_rows
from .models import Folder, Item, ItemChange, User, utcnow
from .models_compose import OofSettings
from .models_items import ConversationAction

Entry = tuple[bytes, ParsedMessage, datetime, bool]  # (mime, parsed, received, read), as store_messages
_ITEMS, _CHANGES, _FOLDERS = Item.__table__, ItemChange.__table__, Folder.__table__
_ACTIONS, _OOF, _USERS = ConversationAction.__table__, OofSettings.__table__, User.__table__
_GENERATIONS = generations.Generation.__table__
_ITEM_KEYS = [c.name for c in _ITEMS.columns]
_CHANGE_KEYS = [c.name for c in _CHANGES.columns if c.name != "id"]


class Statements:
    """The statements of a plain group, compiled once per dialect (`for_dialect`)."""

    def __init__(self, dialect: Dialect):
        self.sqlite = dialect.name == "sqlite"
        self.access = Prepared(select(_GENERATIONS.c.value).where(_GENERATIONS.c.name == bindparam("name")), dialect)
        self.lock = Prepared(select(_USERS.c.id).where(_USERS.c.name == bindparam("name")).with_for_update(), dialect)
        self.moves = Prepared(select(_ACTIONS.c.conversation_id, _FOLDERS.c.id, _FOLDERS.c.server_id).join_from(
            _ACTIONS, _FOLDERS, _FOLDERS.c.id == _ACTIONS.c.folder_id).where(
            _ACTIONS.c.user_id == bindparam("user_id"), _FOLDERS.c.deleted == False), dialect)  # noqa: E712
        self.oof = Prepared(select(_OOF.c.state).where(_OOF.c.user_id == bindparam("user_id")), dialect)
        self.take_changes = Prepared(update(_FOLDERS).where(_FOLDERS.c.id == bindparam("f_id")).values(
            change_seq=_FOLDERS.c.change_seq + bindparam("f_n")).returning(_FOLDERS.c.change_seq), dialect)
        if self.sqlite:
            self.top_id = Prepared(select(func.max(_ITEMS.c.id)), dialect)
        else:
            self.new_ids = Prepared(select(func.nextval(func.pg_get_serial_sequence("item", "id"))).select_from(
                func.generate_series(1, bindparam("n", type_=Integer))), dialect)
        # inline(): no RETURNING of the new ids added on PostgreSQL (the ids are known, or not needed).
        self.items = Prepared(insert(_ITEMS).inline(), dialect, _ITEM_KEYS)
        self.changes = Prepared(insert(_CHANGES).inline(), dialect, _CHANGE_KEYS)

    def access_generation(self, cursor) -> int:
        row = self.access.one(cursor, {"name": generations.ACCESS})
        return int(row[0] or 0) if row else 0

    def lock_users(self, cursor, names: list[str]) -> None:
        """storage.users.lock_mailboxes: the users' rows locked in name order (PostgreSQL only)."""
        if not self.sqlite:
            for name in sorted(set(names)):
                self.lock.all(cursor, {"name": name})

    def oof_may_apply(self, cursor, user_id: int) -> bool:
        row = self.oof.one(cursor, {"user_id": user_id})
        return bool(row and row[0])

    def moved(self, cursor, user_id: int) -> dict[bytes, tuple[int, str]]:
        """The conversations the user moves always: conversation id -> (folder id, ServerId)."""
        return {bytes(c): (f, s) for c, f, s in self.moves.all(cursor, {"user_id": user_id})}

    def item_ids(self, cursor, count: int) -> list[int]:
        if self.sqlite:
            top = self.top_id.one(cursor, {})
            first = int(top[0] or 0) + 1 if top else 1
            return list(range(first, first + count))
        return sorted(int(row[0]) for row in self.new_ids.all(cursor, {"n": count}))


_COMPILED: dict[tuple[str, str, str], Statements] = {}


def for_dialect(dialect: Dialect) -> Statements:
    """The statements for `dialect`'s kind (compiled once: every engine has its own dialect object)."""
    key = (dialect.name, dialect.driver, dialect.paramstyle)
    statements = _COMPILED.get(key)
    if statements is None:
        statements = _COMPILED[key] = Statements(dialect)
    return statements


def write_plain(cursor, statements: Statements, folders: dict[tuple[int, str], list[Entry]]) -> list[int]:
    """Store each folder's entries (keyed by (folder id, ServerId)) as append_messages would, in
    the cursor's transaction: one UPDATE a folder, then one INSERT of every item and one of every
    change-log add.  Returns the item ids in order.  LookupError when a folder is gone."""
    folders = {key: entries for key, entries in folders.items() if entries}
    taken = iter(statements.item_ids(cursor, sum(map(len, folders.values()))))
    items: list[dict] = []
    changes: list[dict] = []
    now = utcnow()
    for (folder_id, folder_server_id), entries in folders.items():
        last = statements.take_changes.one(cursor, {"f_id": folder_id, "f_n": len(entries)})
        if last is None:
            raise LookupError(f"folder {folder_id} is gone")
        first = last[0] - len(entries) + 1
        ids = [next(taken) for _ in entries]
        server_ids = [f"{folder_server_id}:{item_id}" for item_id in ids]
        rows = item_rows(folder_id, first, entries, server_ids)
        for row, item_id in zip(rows, ids):
            row["id"] = item_id
        items += rows
        changes += change_rows(folder_id, first, ids, server_ids, now)
    statements.items.many(cursor, items)
    statements.changes.many(cursor, changes)
    return [row["id"] for row in items]
