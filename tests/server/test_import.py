"""`easlab import USER PATH`: mbox, Maildir and a folder of .eml files, through the click command."""
from __future__ import annotations

import mailbox
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from click.testing import CliRunner
from sqlmodel import select

import easlab.server.cli.imports
from easlab.server.cli.imports import import_command
from easlab.storage import Database
from easlab.storage.models import Folder, Item, ItemChange
from easlab.storage.users import add_user, get_user

BASE = datetime(2025, 6, 1, 8, 30, tzinfo=timezone(timedelta(hours=2)))


@pytest.fixture
def db_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'import.db'}"
    db = Database(url)
    db.create_all()
    with db.session() as s:
        add_user(s, "alice", "pw")
        add_user(s, "bob", "pw")
    db.dispose()
    return url


def make(n: int, date: datetime | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Sender {n} <s{n}@example.org>"
    msg["To"] = "alice@easlab.test"
    msg["Subject"] = f"message {n}"
    if date is not None:
        msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<m{n}@example.org>"
    msg.set_content(f"body {n}\nFrom the desk of sender {n}\n")
    return msg


def run(*args):
    return CliRunner().invoke(import_command, [str(a) for a in args], catch_exceptions=False)


def stored(db_url, user="alice", folder="Inbox"):
    db = Database(db_url)
    try:
        with db.session() as s:
            owner = get_user(s, user)
            target = s.exec(select(Folder).where(Folder.user_id == owner.id, Folder.display_name == folder)).one()
            items = list(s.exec(select(Item).where(Item.folder_id == target.id).order_by(Item.id)))
            changes = list(s.exec(select(ItemChange).where(ItemChange.folder_id == target.id).order_by(ItemChange.seq)))
            return target, items, changes
    finally:
        db.dispose()


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def test_mbox_with_a_corrupt_entry(tmp_path, db_url):
    path = tmp_path / "archive.mbox"
    box = mailbox.mbox(str(path))
    box.add(make(1, BASE))
    box.add(b"\x00\x01\x02 not a message at all\n\x00\xff\n")  # binary junk
    box.add(make(2, BASE + timedelta(days=1)))
    box.add(make(3))  # no Date header: received now
    box.flush()
    box.close()

    before = datetime.now(timezone.utc)
    result = run("alice", path, "--db", db_url)
    assert result.exit_code == 0, result.output
    assert "imported 3 messages into Inbox (1 skipped)" in result.stdout
    assert "skipped archive.mbox message 2: binary data, not a message" in result.stderr

    folder, items, changes = stored(db_url)
    assert [i.subject for i in items] == ["message 1", "message 2", "message 3"]
    assert utc(items[0].date_received) == BASE.astimezone(timezone.utc)
    assert utc(items[1].date_received) == (BASE + timedelta(days=1)).astimezone(timezone.utc)
    assert before - timedelta(seconds=1) <= utc(items[2].date_received) <= datetime.now(timezone.utc)
    assert not any(i.read for i in items)
    assert items[0].sender == '"Sender 1" <s1@example.org>'
    # Stored with CRLF line ends, without the mbox From_ line, the body's ">From " quoting undone.
    assert items[0].mime.startswith(b"From: Sender 1 <s1@example.org>\r\n")
    assert b"\r\nFrom the desk of sender 1\r\n" in items[0].mime
    assert items[0].body_text.replace("\r\n", "\n") == "body 1\nFrom the desk of sender 1\n"
    assert b"\n" not in items[0].mime.replace(b"\r\n", b"")
    assert items[0].size == len(items[0].mime)
    assert folder.change_seq == 3
    assert [(c.kind, c.seq, c.item_id) for c in changes] == [("add", n + 1, i.id) for n, i in enumerate(items)]
    assert stored(db_url, "bob")[1] == []


def test_maildir_read_flags(tmp_path, db_url):
    path = tmp_path / "Maildir"
    box = mailbox.Maildir(str(path), create=True)
    flags = {1: "S", 2: "", 3: "FS", 4: "RF", 5: None}  # None: still in new/
    for n, flag in flags.items():
        msg = mailbox.MaildirMessage(make(n, BASE + timedelta(hours=n)))
        if flag is not None:
            msg.set_subdir("cur")
            msg.set_flags(flag)
        box.add(msg)
    box.close()
    assert (path / "new").is_dir() and any((path / "new").iterdir())

    result = run("alice", path, "--db", db_url, "--folder", "junk e-mail")
    assert result.exit_code == 0, result.output
    assert "imported 5 messages into Junk E-Mail" in result.stdout
    _, items, changes = stored(db_url, folder="Junk E-Mail")
    by_subject = {i.subject: i for i in items}
    assert sorted(by_subject) == [f"message {n}" for n in flags]
    assert {n: by_subject[f"message {n}"].read for n in flags} == {1: True, 2: False, 3: True, 4: False, 5: False}
    for n in flags:
        assert utc(by_subject[f"message {n}"].date_received) == (BASE + timedelta(hours=n)).astimezone(timezone.utc)
    assert len(changes) == 5
    assert stored(db_url)[1] == []  # not in the Inbox


def test_eml_folder_skips_bad_files(tmp_path, db_url):
    path = tmp_path / "export"
    path.mkdir()
    for n in (1, 2, 3):
        (path / f"{n:02d}.eml").write_bytes(make(n, BASE + timedelta(minutes=n)).as_bytes())
    (path / "04-empty.EML").write_bytes(b"")
    (path / "05-junk.eml").write_bytes(b"just some text\nwith no headers\n")
    (path / "notes.txt").write_text("not an .eml: ignored")

    result = run("Alice", path, "--db", db_url)
    assert result.exit_code == 0, result.output
    assert "imported 3 messages into Inbox (2 skipped)" in result.stdout
    assert "skipped 04-empty.EML: empty" in result.stderr
    assert "skipped 05-junk.eml: no message headers" in result.stderr
    _, items, _ = stored(db_url)
    assert [i.subject for i in items] == ["message 1", "message 2", "message 3"]
    assert [utc(i.date_received) for i in items] == [(BASE + timedelta(minutes=n)).astimezone(timezone.utc) for n in (1, 2, 3)]


def test_parse_failure_is_reported_not_fatal(tmp_path, db_url, monkeypatch):
    import easlab.eas.mime

    real = easlab.eas.mime.parse_message

    def flaky(data):
        if b"message 2" in data:
            raise ValueError("cannot parse")
        return real(data)

    monkeypatch.setattr(easlab.eas.mime, "parse_message", flaky)
    path = tmp_path / "eml"
    path.mkdir()
    for n in (1, 2, 3):
        (path / f"{n}.eml").write_bytes(make(n, BASE).as_bytes())
    result = run("alice", path, "--db", db_url)
    assert result.exit_code == 0, result.output
    assert "skipped 2.eml: ValueError: cannot parse" in result.stderr
    assert "imported 2 messages into Inbox (1 skipped)" in result.stdout
    assert [i.subject for i in stored(db_url)[1]] == ["message 1", "message 3"]


def test_batches_commit_every_batch(tmp_path, db_url, monkeypatch):
    monkeypatch.setattr(easlab.server.cli.imports, "BATCH", 2)
    path = tmp_path / "big.mbox"
    box = mailbox.mbox(str(path))
    for n in range(7):
        box.add(make(n, BASE + timedelta(seconds=n)))
    box.close()
    result = run("alice", path, "--db", db_url)
    assert result.exit_code == 0, result.output
    assert "imported 7 messages into Inbox" in result.stdout
    folder, items, changes = stored(db_url)
    assert [i.subject for i in items] == [f"message {n}" for n in range(7)]
    assert folder.change_seq == 7 and [c.seq for c in changes] == list(range(1, 8))
    assert len({i.server_id for i in items}) == 7


def test_folder_and_user_errors(tmp_path, db_url):
    path = tmp_path / "one.eml"
    path.write_bytes(make(1, BASE).as_bytes())
    result = run("alice", path, "--db", db_url, "--folder", "Archive")
    assert result.exit_code != 0
    assert "alice has no folder 'Archive'" in result.output
    assert "Inbox, Drafts, Deleted Items, Sent Items, Outbox, Junk E-Mail" in result.output
    result = run("alice", path, "--db", db_url, "--folder", "calendar")
    assert result.exit_code != 0 and "Calendar is not a mail folder" in result.output
    result = run("carol", path, "--db", db_url)
    assert result.exit_code != 0 and "no user carol" in result.output
    not_mail = tmp_path / "data.bin"
    not_mail.write_bytes(b"PK\x03\x04zipdata")
    result = run("alice", not_mail, "--db", db_url)
    assert result.exit_code != 0 and "not an mbox file" in result.output
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    result = run("alice", empty_dir, "--db", db_url)
    assert result.exit_code != 0 and "no .eml files" in result.output
    assert stored(db_url)[1] == []
    # A single .eml file and an address for USER work too.
    result = run("alice@easlab.test", path, "--db", db_url, "--folder", "INBOX")
    assert result.exit_code == 0 and "imported 1 message into Inbox" in result.stdout


def test_registered_on_the_easlab_command(tmp_path, db_url):
    from easlab.server.cli import main

    path = tmp_path / "one.eml"
    path.write_bytes(make(1, BASE).as_bytes())
    result = CliRunner().invoke(main, ["import", "bob", str(path), "--db", db_url], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert [i.subject for i in stored(db_url, "bob")[1]] == ["message 1"]


MBOXES = {
    "plain": b"From a Mon\nSubject: 1\n\nbody\n\nFrom b Mon\nSubject: 2\n\nbody 2\n",
    "no blank before from": b"From a\nSubject: 1\n\nbody\nFrom b\nSubject: 2\n\nx\n",
    "crlf": b"From a\r\nSubject: 1\r\n\r\nbody\r\n\r\nFrom b\r\nSubject: 2\r\n\r\nx\r\n\r\n",
    "no final newline": b"From a\nSubject: 1\n\nbody",
    "two blank lines": b"From a\nSubject: 1\n\nbody\n\n\nFrom b\nS: 2\n\n\n",
    "empty messages": b"From a\nFrom b\n\nFrom c\n\n\nFrom d",
    "quoted from": b"From a\nSubject: 1\n\n>From here\n>>From there\nFrom b\n\nx\n",
    "garbage first": b"junk line\n\nFrom a\nSubject: 1\n\nbody\n",
    "from line only": b"From a",
    "blank only after from": b"From a\n\n",
}


@pytest.mark.parametrize("name", sorted(MBOXES))
def test_mbox_spans_are_what_mailbox_reads(tmp_path, name):
    """The import's own mbox reading finds the messages, bytes for bytes, that mailbox.mbox does."""
    path = tmp_path / "box.mbox"
    path.write_bytes(MBOXES[name])
    box = mailbox.mbox(str(path), create=False)
    expected = [box.get_bytes(key) for key in box.keys()]
    box.close()
    data = MBOXES[name]
    assert [data[a:b] for a, b in easlab.server.cli.imports.mbox_spans(data)] == expected


def test_header_names_as_compat32_reads_them():
    from email import policy
    from email.parser import BytesHeaderParser

    from easlab.server.cli.imports import SkipMessage, check_message

    cases = [b"Subject: x\n\nbody\n", b"X-Only: 1\n\nbody\n", b"Junk line\nSubject: x\n\n", b" cont\nFrom: a\n\n",
             b"Subject: x\nTo: y", b"Received: a\n b\nX: 1\n\n", b"Nonsense: 1\nFrom: a@b\n\nx"]
    for raw in cases:
        names = {n.lower() for n in BytesHeaderParser(policy=policy.compat32).parsebytes(raw).keys()}
        try:
            check_message(raw)
            taken = True
        except SkipMessage:
            taken = False
        assert taken == bool(names & {"from", "date", "subject", "message-id", "to", "received", "sender", "return-path"}), raw
