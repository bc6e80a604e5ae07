"""`easlab import USER PATH`: load an mbox file, a Maildir or a folder of .eml files into a folder.

Messages are stored like delivered mail (parsed once, logged as adds in the folder's change log),
`BATCH` per transaction and per batch of statements (storage.mailbox.store_messages), so a large import is quick and an interrupted one keeps what it stored.
A message that cannot be read or parsed is reported and skipped.  The import runs in its own
process, so Pings held by a running server learn of the new items at their next heartbeat, and a
device's next Sync gets them.
"""
from __future__ import annotations

import mailbox
import mmap
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

import click

from easlab.eas import mime_scan

from .common import db_option

BATCH = 500  # messages per transaction

# Headers at least one of which any real message has; a file with none of them is not mail.
_MAIL_HEADERS = ("from", "date", "subject", "message-id", "to", "received", "sender", "return-path")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FROM_QUOTED = re.compile(rb"^>(>*From )", re.MULTILINE)


class SkipMessage(Exception):
    """This message cannot be imported; the text says why."""


@dataclass
class Source:
    kind: str  # "mbox" | "maildir" | "eml"
    count: int
    # Yields (label for reports, a loader returning (raw bytes, read flag)).
    entries: Callable[[], Iterator[tuple[str, Callable[[], tuple[bytes, bool]]]]]


def mbox_spans(data) -> list[tuple[int, int]]:
    """(start, stop) of each message in an mbox's bytes, the "From " line left out, as
    mailbox.mbox reads them: every line beginning "From " starts a message, and the empty line
    before the next one (or the end) belongs to none.  Found with bytes.find rather than
    mailbox's table of contents, a Python loop over every line of the file (a fifth of an
    import)."""
    froms = [0] if data[:5] == b"From " else []
    at = data.find(b"\nFrom ")
    while at >= 0:
        froms.append(at + 1)
        at = data.find(b"\nFrom ", at + 1)
    spans = []
    for n, start in enumerate(froms):
        end = froms[n + 1] if n + 1 < len(froms) else len(data)
        newline = data.find(b"\n", start, end)
        first = newline + 1 if newline >= 0 else end
        # The line before the next "From " (or the end) is empty: not the message's.
        stop = end - 1 if end - first >= 1 and data[end - 2:end] == b"\n\n" else end
        spans.append((first, stop))
    return spans


def _open_mbox(path: Path) -> Source:
    with path.open("rb") as fh:
        data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    spans = mbox_spans(data)

    def load(start: int, stop: int) -> tuple[bytes, bool]:
        # Writers quote body lines starting "From " as ">From "; undo one level (mboxrd's rule,
        # which also reads mboxo files right unless a line really began with ">From ").
        raw = data[start:stop]
        return (_FROM_QUOTED.sub(rb"\1", raw) if b">From " in raw else raw), False

    def entries():
        for n, (start, stop) in enumerate(spans, start=1):
            yield f"{path.name} message {n}", lambda start=start, stop=stop: load(start, stop)

    return Source("mbox", len(spans), entries)


def _open_maildir(path: Path) -> Source:
    box = mailbox.Maildir(str(path), factory=None, create=False)
    keys = sorted(box.keys())
    # The flags are the file name's ":2,FLAGS" info (messages in new/ have none yet); reading
    # them from the names spares parsing every message twice.  S is seen: read.
    flags: dict[str, str] = {}
    for entry in (path / "cur").iterdir():
        key, _, info = entry.name.partition(box.colon)
        if info.startswith("2,"):
            flags[key] = info[2:]

    def load(key: str) -> tuple[bytes, bool]:
        return box.get_bytes(key), "S" in flags.get(key, "")

    def entries():
        for key in keys:
            yield f"{path.name}/{key}", lambda key=key: load(key)

    return Source("maildir", len(keys), entries)


def _open_eml_folder(path: Path) -> Source:
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".eml")

    def entries():
        for file in files:
            yield file.name, lambda file=file: (file.read_bytes(), False)

    return Source("eml", len(files), entries)


def _is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def open_source(path: Path) -> Source:
    if path.is_dir():
        if _is_maildir(path):
            return _open_maildir(path)
        source = _open_eml_folder(path)
        if source.count == 0:
            raise click.ClickException(f"{path}: no .eml files here, and not a Maildir (no cur/new/tmp)")
        return source
    if not path.is_file():
        raise click.ClickException(f"{path}: no such file or directory")
    with path.open("rb") as fh:
        head = fh.read(5)
    if head == b"From ":
        return _open_mbox(path)
    if path.suffix.lower() == ".eml":
        return Source("eml", 1, lambda: iter([(path.name, lambda: (path.read_bytes(), False))]))
    if not head:
        raise click.ClickException(f"{path}: empty file")
    raise click.ClickException(f"{path}: not an mbox file (it does not start with 'From '), a Maildir or .eml files")


def check_message(raw: bytes) -> bytes:
    """The message with CRLF line ends (RFC 5322's), or SkipMessage if it is not mail."""
    if not raw.strip():
        raise SkipMessage("empty")
    end = _HEADER_END.search(raw)
    if b"\x00" in raw[:end.start() if end else len(raw)]:
        raise SkipMessage("binary data, not a message")
    split = mime_scan.split_headers(raw.decode("ascii", "surrogateescape"))
    if split is not None:  # the header lines as compat32 reads them, without its feed parser
        names = {name.lower() for name, _ in split[0]}
    else:
        names = {name.lower() for name in BytesHeaderParser(policy=policy.compat32).parsebytes(raw).keys()}
    if not names.intersection(_MAIL_HEADERS):
        raise SkipMessage("no message headers (From, Date, Subject, Message-ID, ...)")
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # every LF, with its CR if any, as CRLF


def _find_folder(session, user, name: str):
    from sqlmodel import select

    from easlab.storage.mailbox import FOLDER_CLASS, ensure_mailbox
    from easlab.storage.models import Folder

    ensure_mailbox(session, user)
    folders = list(session.exec(select(Folder).where(Folder.user_id == user.id, Folder.deleted == False)  # noqa: E712
                                .order_by(Folder.id)))
    wanted = name.strip().casefold()
    for folder in folders:
        if folder.display_name.casefold() == wanted:
            if FOLDER_CLASS.get(folder.type) != "Email":
                raise click.ClickException(f"{folder.display_name} is not a mail folder")
            return folder
    names = ", ".join(f.display_name for f in folders if FOLDER_CLASS.get(f.type) == "Email")
    raise click.ClickException(f"{user.name} has no folder {name!r}; mail folders: {names}")


def _user_name(user: str, configured: str) -> str:
    local, at, domain = user.strip().rpartition("@")
    if not at:
        return user.strip().lower()
    if domain.lower() != configured.lower():
        raise click.ClickException(f"{user}: not an address of this server's domain ({configured})")
    return local.lower()


@click.command("import")
@click.argument("user")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--folder", "folder_name", default="Inbox", show_default=True,
              help="Display name of the mail folder to import into (any case).")
@db_option
def import_command(user, path, folder_name, db_url) -> None:
    """Import the messages of PATH into a folder of USER.

    PATH is an mbox file, a Maildir (a directory with cur/, new/ and tmp/) or a directory of .eml
    files.  Maildir messages flagged S (seen) are imported read, all others unread; each
    message's Date header becomes its received time (now, if it has none).
    """
    from sqlalchemy.exc import SQLAlchemyError

    from easlab.eas.mime import parse_message
    from easlab.storage.mailbox import store_messages
    from easlab.storage.models import Folder
    from easlab.storage.users import get_user

    from .common import _db, server_domain

    db = _db(db_url)
    try:
        name = _user_name(user, server_domain(db))
        with db.session() as session:
            account = get_user(session, name)
            if account is None:
                raise click.ClickException(f"no user {name}")
            folder = _find_folder(session, account, folder_name)
            folder_id, display = folder.id, folder.display_name
        try:
            source = open_source(path)
        except (OSError, mailbox.Error) as exc:
            raise click.ClickException(f"{path}: {exc}") from None

        imported = 0
        skipped: list[str] = []
        batch: list[tuple[bytes, object, datetime, bool]] = []

        def flush() -> None:
            nonlocal imported
            if not batch:
                return
            try:
                with db.session() as session:
                    target = session.get(Folder, folder_id)
                    store_messages(session, target, batch)
            except SQLAlchemyError as exc:  # the store itself failed: stop, keeping what is committed
                raise click.ClickException(f"database error after {imported} imported messages: {exc}") from exc
            imported += len(batch)
            batch.clear()

        with click.progressbar(length=source.count, label=f"importing {source.kind} into {display}",
                               show_pos=True) as bar:
            for label, load in source.entries():
                try:
                    raw, read = load()
                    mime = check_message(raw)
                    parsed = parse_message(mime)
                except SkipMessage as exc:
                    skipped.append(f"{label}: {exc}")
                except Exception as exc:  # a broken message must not end the import
                    skipped.append(f"{label}: {type(exc).__name__}: {exc}")
                else:
                    batch.append((mime, parsed, parsed.date or datetime.now(timezone.utc), read))
                    if len(batch) >= BATCH:
                        flush()
                bar.update(1)
            flush()
    finally:
        db.dispose()

    for line in skipped:
        click.echo(f"skipped {line}", err=True)
    noun = "message" if imported == 1 else "messages"
    summary = f"imported {imported} {noun} into {display}"
    if skipped:
        summary += f" ({len(skipped)} skipped)"
    click.echo(summary)

