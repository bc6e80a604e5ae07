"""A look inside the mailboxes, read-only: users, folders, items, raw MIME, attachments, and where
each device stands in each folder's change log (the admin center's "Mailpit face").

One layer under server/web/pages.py and server/api/, like server/admin/service.py: every method checks the
caller's role (the view permission, which every admin role has) and runs in one short read
transaction.  Nothing here changes mail: there is no write operation at all.

Mail is hostile content.  This module only hands it out as data; how it is shown is the caller's
business: the JSON API serves it as JSON strings, the raw downloads go out as attachments with a
sandboxing Content-Security-Policy (`download_headers`), and the web UI shows HTML bodies only in
a sandboxed iframe (server/templates/item.html).
"""
from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timezone
from email import policy as email_policy
from email.parser import BytesParser
from urllib.parse import quote

from sqlmodel import and_, func, or_, select

from easlab.storage.devices import get_device
from easlab.storage.mailbox import FOLDER_CLASS
from easlab.storage.models import Device, Folder, Item, ItemChange, SyncState, User
from easlab.storage.types import iso
from easlab.storage.users import get_user

from .admin import Actor, Forbidden, NotFound

DEFAULT_PAGE = 50
MAX_PAGE = 500
MAX_HEADERS = 500  # a message with more header fields is shown with the first 500
# Folder types by MS-ASCMD FolderHierarchy Type, for people reading the listings.
FOLDER_TYPES = {1: "Generic", 2: "Inbox", 3: "Drafts", 4: "Deleted Items", 5: "Sent Items", 6: "Outbox", 7: "Tasks",
                8: "Calendar", 9: "Contacts", 10: "Notes", 11: "Journal", 12: "Mail", 13: "Calendar", 14: "Contacts",
                15: "Tasks", 16: "Journal", 17: "Notes", 18: "Generic", 19: "Recipient information"}
# A raw download is never a document of this origin: it cannot run script, load anything or be
# framed, whatever its bytes and content type say.
DOWNLOAD_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"
_TOKEN = re.compile(r"^[a-z0-9!#$&^_.+-]{1,64}/[a-z0-9!#$&^_.+-]{1,127}$")
_UNSAFE_IN_NAME = set('<>:"/\\|?*;')
CURSOR_DATE = "%Y-%m-%dT%H:%M:%S.%fZ"
CURSOR_PATTERN = r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)~([1-9]\d{0,18})$"
_CURSOR = re.compile(CURSOR_PATTERN)


# -- downloads ----------------------------------------------------------------------------------
def safe_filename(name: str | None, fallback: str = "download") -> str:
    """A file name fit for Content-Disposition and any file system: the last path segment of
    `name` without control characters, quotes, separators or reserved characters, no leading dots,
    at most 120 characters (the extension kept); `fallback` when nothing is left."""
    text = unicodedata.normalize("NFC", str(name or ""))
    text = re.split(r"[/\\]", text)[-1]
    cleaned = []
    for char in text:
        category = unicodedata.category(char)
        if char.isspace() or category.startswith("Z"):  # tabs, line breaks, odd spaces: one space
            cleaned.append(" ")
        elif category.startswith("C"):  # other controls, format characters (bidi overrides), ...
            pass
        elif char in _UNSAFE_IN_NAME:
            cleaned.append("_")
        else:
            cleaned.append(char)
    text = re.sub(r"\s+", " ", "".join(cleaned)).strip().lstrip(".").strip()
    if len(text) > 120:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: 120 - len(ext) - 1] + "." + ext) if dot and 0 < len(ext) <= 16 else text[:120]
    return text or fallback


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII filename and, for other characters, RFC 6266's filename*."""
    ascii_name = "".join(c if 0x20 <= ord(c) < 0x7F else "_" for c in filename)
    value = f'attachment; filename="{ascii_name}"'
    if ascii_name != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def safe_content_type(value: str | None) -> str:
    """The MIME part's type when it is a plain type/subtype token, else application/octet-stream."""
    value = (value or "").strip().lower()
    return value if _TOKEN.match(value) else "application/octet-stream"


def download_headers(filename: str) -> dict:
    return {"Content-Disposition": content_disposition(filename), "Content-Security-Policy": DOWNLOAD_CSP,
            "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


# -- headers ------------------------------------------------------------------------------------
def parse_headers(mime: bytes) -> list[list[str]]:
    """The message's header fields in order, [name, value] with encoded words decoded and folding
    undone; a field the email package cannot model keeps its raw (unfolded) text."""
    if not mime:
        return []
    msg = BytesParser(policy=email_policy.default).parsebytes(mime, headersonly=True)
    out = []
    for name, raw in msg.raw_items():
        if len(out) >= MAX_HEADERS:
            break
        try:
            value = str(email_policy.default.header_fetch_parse(name, raw))
        except Exception:  # noqa: BLE001 - any malformed field: show it as it came
            value = str(raw)
        out.append([name, re.sub(r"\r?\n[ \t]*", " ", value).strip()])
    return out


# -- the views ----------------------------------------------------------------------------------
def item_summary(item: Item) -> dict:
    attachments = item.attachments
    return {"id": item.id, "server_id": item.server_id, "subject": item.subject, "from": item.sender, "to": item.to,
            "date": iso(item.date_received), "read": item.read, "flag": item.flag_status, "size": item.size,
            "has_attachments": bool(attachments)}


def cursor(item: Item) -> str:
    """Where a page ends, in the items' order: the last item's DateReceived (UTC, to the
    microsecond) and id, e.g. `2026-12-07T10:15:00.000000Z~42`."""
    return f"{item.date_received.astimezone(timezone.utc).strftime(CURSOR_DATE)}~{item.id}"


def parse_cursor(value: str) -> tuple[datetime, int]:
    """(date, id) of a `cursor`; ValueError for anything else."""
    match = _CURSOR.match(value or "")
    try:
        if match is not None:
            return datetime.strptime(match.group(1), CURSOR_DATE).replace(tzinfo=timezone.utc), int(match.group(2))
    except ValueError:  # a day or hour out of range
        pass
    raise ValueError(f"before={value!r}: pass the previous page's next_before")


def item_url(user: str, server_id: str) -> str:
    return f"/api/items/{quote(user, safe='')}/{quote(server_id, safe='')}"


class Mailboxes:
    """Read-only queries over the store, with the Admin layer's role rule (view)."""

    def __init__(self, db, domain: str = "easlab.test"):
        self.db = db
        self.domain = domain

    @staticmethod
    def _need(actor: Actor) -> None:
        if not actor.may("view"):
            raise Forbidden(f"{actor.name} ({actor.role or 'no role'}) may not view")

    @staticmethod
    def _user(session, name: str) -> User:
        user = get_user(session, name) if name and len(name) <= 64 else None
        if user is None:
            raise NotFound(f"no user {name}")
        return user

    @staticmethod
    def _folder(session, user: User, server_id: str) -> Folder:
        folder = session.exec(select(Folder).where(Folder.user_id == user.id, Folder.server_id == server_id,
                                                   Folder.deleted == False)).first()  # noqa: E712
        if folder is None:
            raise NotFound(f"{user.name} has no folder {server_id}")
        return folder

    @staticmethod
    def _item(session, user: User, server_id: str) -> tuple[Item, Folder]:
        row = session.exec(select(Item, Folder).join(Folder, Folder.id == Item.folder_id).where(
            Folder.user_id == user.id, Folder.deleted == False, Item.server_id == server_id)).first()  # noqa: E712
        if row is None:
            raise NotFound(f"{user.name} has no item {server_id}")
        return row

    # -- users and folders ------------------------------------------------------------------------
    def users(self, actor: Actor) -> list[dict]:
        self._need(actor)
        with self.db.session() as s:
            devices = dict(s.exec(select(Device.user_id, func.count()).group_by(Device.user_id)).all())
            return [{"name": u.name, "address": f"{u.name}@{self.domain}", "display_name": u.display_name,
                     "role": u.role or None, "activesync": u.activesync_enabled, "devices": devices.get(u.id, 0)}
                    for u in s.exec(select(User).order_by(User.name))]

    def folders(self, actor: Actor, user: str) -> list[dict]:
        """The user's folders in tree order (parents before their children), with item counts."""
        self._need(actor)
        with self.db.session() as s:
            u = self._user(s, user)
            rows = list(s.exec(select(Folder).where(Folder.user_id == u.id, Folder.deleted == False)))  # noqa: E712
            counts = dict(s.exec(select(Item.folder_id, func.count()).where(Item.folder_id.in_([f.id for f in rows]))
                                 .group_by(Item.folder_id)).all()) if rows else {}
        by_parent: dict[str, list[Folder]] = {}
        for f in rows:
            by_parent.setdefault(f.parent_id, []).append(f)
        known = {f.server_id for f in rows}
        out: list[dict] = []

        def walk(parent: str, depth: int) -> None:
            for f in sorted(by_parent.get(parent, []), key=lambda f: (len(f.server_id), f.server_id)):
                out.append({"server_id": f.server_id, "parent_id": f.parent_id, "name": f.display_name, "type": f.type,
                            "type_name": FOLDER_TYPES.get(f.type, str(f.type)),
                            "class": FOLDER_CLASS.get(f.type, "Email"), "item_count": counts.get(f.id, 0),
                            "change_seq": f.change_seq, "depth": depth})
                walk(f.server_id, depth + 1)

        walk("0", 0)
        for parent in sorted(set(by_parent) - known - {"0"}):  # orphans (a parent gone): still shown
            walk(parent, 0)
        return out

    # -- items ------------------------------------------------------------------------------------
    def items(self, actor: Actor, user: str, server_id: str, limit: int = DEFAULT_PAGE, before: str | None = None) -> dict:
        """One page of a folder, newest first by the message's date (DateReceived; the item id
        breaks ties), as Outlook lists a folder; `before`: the previous page's `next_before`, the
        (date, id) of its last item, so a page never repeats or skips an item when mail arrives
        or goes between pages."""
        self._need(actor)
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be 1-{MAX_PAGE}")
        after = parse_cursor(before) if before is not None else None
        with self.db.session() as s:
            u = self._user(s, user)
            folder = self._folder(s, u, server_id)
            total = s.exec(select(func.count()).select_from(Item).where(Item.folder_id == folder.id)).one()
            query = select(Item).where(Item.folder_id == folder.id)
            if after is not None:
                date, item_id = after
                query = query.where(or_(Item.date_received < date, and_(Item.date_received == date, Item.id < item_id)))
            rows = list(s.exec(query.order_by(Item.date_received.desc(), Item.id.desc()).limit(limit + 1)))
            more = len(rows) > limit
            rows = rows[:limit]
            return {"user": u.name, "folder": {"server_id": folder.server_id, "name": folder.display_name,
                                               "type": folder.type, "change_seq": folder.change_seq},
                    "total": total, "limit": limit, "before": before,
                    "next_before": cursor(rows[-1]) if more and rows else None,
                    "items": [item_summary(i) for i in rows]}

    def item(self, actor: Actor, user: str, server_id: str) -> dict:
        """Every property of one item, its bodies, its attachments (with download URLs) and the
        header fields of its MIME."""
        self._need(actor)
        with self.db.session() as s:
            u = self._user(s, user)
            item, folder = self._item(s, u, server_id)
            url = item_url(u.name, item.server_id)
            attachments = [{**a, "url": f"{url}/attachments/{a['index']}"} for a in item.attachments]
            return {
                **item_summary(item), "user": u.name,
                "folder": {"server_id": folder.server_id, "name": folder.display_name, "type": folder.type},
                "message_class": item.message_class, "cc": item.cc, "reply_to": item.reply_to,
                "display_to": item.display_to, "thread_topic": item.thread_topic, "importance": item.importance,
                "flag_type": item.flag_type, "internet_cpid": item.internet_cpid,
                "conversation_id": item.conversation_id.hex(), "conversation_index": item.conversation_index.hex(),
                "created_seq": item.created_seq, "modified_seq": item.modified_seq,
                "body_text": item.body_text, "body_html": item.body_html, "attachments": attachments,
                "headers": parse_headers(item.mime), "mime_url": f"{url}/mime",
                # Calendar/contact/task/note properties, or a meeting mail's MeetingRequest, as
                # eas.pim.tree keeps them: [[tag, value or children], ...].
                "properties": item.pim, "uid": item.uid,
            }

    def mime(self, actor: Actor, user: str, server_id: str) -> tuple[str, bytes]:
        """(file name, the stored RFC 5322 bytes)."""
        self._need(actor)
        with self.db.session() as s:
            u = self._user(s, user)
            item, _ = self._item(s, u, server_id)
            return safe_filename(f"{u.name}-{item.server_id}.eml", "message.eml"), bytes(item.mime or b"")

    def attachment(self, actor: Actor, user: str, server_id: str, index: str | int) -> tuple[str, str, bytes]:
        """(file name, content type, bytes) of the item's attachment number `index` (from 0)."""
        from easlab.eas.mime import attachment_bytes

        self._need(actor)
        with self.db.session() as s:
            u = self._user(s, user)
            item, _ = self._item(s, u, server_id)
            mime = bytes(item.mime or b"")
        text = str(index)
        found = attachment_bytes(mime, int(text)) if text.isdigit() and len(text) < 6 else None
        if found is None:
            raise NotFound(f"item {server_id} has no attachment {text}")
        meta, data = found
        return safe_filename(meta.name, f"attachment-{meta.index + 1}"), safe_content_type(meta.content_type), data

    # -- sync state -------------------------------------------------------------------------------
    def sync_state(self, actor: Actor, user: str, device_id: str) -> dict:
        """Where the device stands: its FolderSync key against the user's hierarchy counter, and
        per collection its SyncKeys, its position in the folder's change log against the folder's
        change_seq, and how many items it still has to receive."""
        self._need(actor)
        with self.db.session() as s:
            u = self._user(s, user)
            d = get_device(s, u, device_id) if device_id and len(device_id) <= 64 else None
            if d is None:
                raise NotFound(f"{u.name} has no device {device_id}")
            folders = {f.server_id: f for f in s.exec(select(Folder).where(Folder.user_id == u.id))}
            collections = []
            for st in s.exec(select(SyncState).where(SyncState.device_pk == d.id)):
                folder = folders.get(st.collection_id)
                collections.append(self._collection(s, st, folder))
            collections.sort(key=lambda c: (len(c["collection_id"]), c["collection_id"]))
            return {
                "user": u.name, "device_id": d.device_id, "protocol_version": d.protocol_version,
                "last_sync": iso(d.last_sync),
                "hierarchy": {"sync_key": d.hierarchy_key or None, "prev_key": d.hierarchy_prev_key or None,
                              "seq": d.hierarchy_seq, "user_seq": u.hierarchy_seq,
                              "behind": max(0, u.hierarchy_seq - d.hierarchy_seq) if d.hierarchy_key else None},
                "collections": collections,
            }

    @staticmethod
    def _collection(s, st: SyncState, folder: Folder | None) -> dict:
        initial = st.initial_cursor is not None
        pending = None
        if folder is not None and not folder.deleted:
            # As GetItemEstimate counts, without the FilterType window: the rest of the first
            # download, then every item changed in the log after the device's position.
            pending = 0
            base = st.seq
            if initial:
                pending += s.exec(select(func.count()).select_from(Item).where(
                    Item.folder_id == folder.id, Item.id > st.initial_cursor, Item.created_seq <= st.snapshot_seq)).one()
                base = st.snapshot_seq
            pending += s.exec(select(func.count(func.distinct(ItemChange.item_id))).where(
                ItemChange.folder_id == folder.id, ItemChange.seq > base)).one()
        change_seq = folder.change_seq if folder is not None else None
        return {
            "collection_id": st.collection_id, "folder": folder.display_name if folder is not None else None,
            "folder_deleted": bool(folder is None or folder.deleted),
            "sync_key": st.sync_key, "prev_key": st.prev_key or None,
            "seq": st.seq, "change_seq": change_seq,
            "behind": max(0, change_seq - st.seq) if change_seq is not None else None,
            "initial": initial, "initial_cursor": st.initial_cursor, "snapshot_seq": st.snapshot_seq,
            "pending": pending, "options": st.options,
            "window_start": iso(st.window_start),
        }
