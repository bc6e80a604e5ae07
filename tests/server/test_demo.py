"""`easlab demo` / `easlab serve --demo` (issue 15 §4): the store of fixtures/demo, loaded once,
seen by a device as a phone would see it."""
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from easlab.server.app import create_app
from easlab.server.cli import main
from easlab.server.config import Settings
from easlab.server.demo import demo_folder, load_demo, week_shift
from easlab.storage import Database
from easlab.testing.aio import Device
from easlab.testing.device import Item

pytestmark = pytest.mark.anyio
ANCHOR_MONDAY = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
HTML = [(2, 200000, False)]


@pytest.fixture
def demo_db(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'demo.db'}")
    db.create_all()
    yield db
    db.dispose()


async def held(device, folder: str, **kw) -> dict[str, Item]:
    results = await device.sync_all(folder, window_size=100, **kw)
    assert results[-1].status == 1
    cid = device.core.resolve(folder)
    return {sid: Item(data) for sid, data in device.state.collections[cid].items.items()}


async def test_a_device_sees_the_demo(demo_db):
    now = ANCHOR_MONDAY + timedelta(weeks=10, days=2)  # ten weeks later, a Wednesday
    lines = load_demo(demo_db, now=now)
    assert lines == ["alice: added (5 messages, 3 events, 3 contacts, 3 tasks), password 'demo'",
                     "bob: added (1 message), password 'demo'", "carol: added (empty mailbox), password 'demo'"]
    app = create_app(Settings(db_url=demo_db.url, domain="easlab.test"), demo_db)
    async with Device(app, "alice", "demo", protocol_version="16.1") as device:
        assert (await device.provision()).ok
        assert (await device.folder_sync()).status == 1
        inbox = await held(device, "Inbox", body_preferences=HTML)
        by_subject = {item.subject: item for item in inbox.values()}
        assert sorted(by_subject) == ["Lunch on Thursday?", "Photo from the offsite", "Q4 report", "Welcome to easlab"]
        report = by_subject["Q4 report"]
        assert [a.name for a in report.attachments] == ["Q4-report.pdf", "figures.csv"]
        assert report.body_type == 2 and "<table" in report.body
        assert [a.name for a in by_subject["Welcome to easlab"].attachments] == ["logo.png"]
        assert by_subject["Welcome to easlab"].attachments[0].is_inline
        # Moved by whole weeks: the newest message arrived ten weeks after the files' date.
        assert by_subject["Photo from the offsite"].date_received == "2027-02-15T07:00:00.000Z"

        calendar = await held(device, "Calendar")
        events = {item.subject: item for item in calendar.values()}
        assert sorted(events) == ["Lunch with Carol", "Team offsite", "Weekly team meeting"]
        weekly = events["Weekly team meeting"].data
        assert weekly.text("Calendar:StartTime") == "20270216T090000Z"  # a Tuesday, ten weeks on
        recurrence = weekly.find("Calendar:Recurrence")
        assert (recurrence.text("Calendar:Type"), recurrence.text("Calendar:Occurrences")) == ("1", "12")
        exceptions = weekly.find("Calendar:Exceptions").findall("Calendar:Exception")
        assert len(exceptions) == 2
        deleted = [e for e in exceptions if e.text("Calendar:Deleted") == "1"]
        changed = [e for e in exceptions if e.text("Calendar:Deleted") != "1"]
        assert len(deleted) == 1 and len(changed) == 1
        assert changed[0].text("Calendar:Subject") == "Weekly team meeting (moved: release review)"
        assert changed[0].text("Calendar:StartTime") == "20270223T130000Z"
        assert deleted[0].text("AirSyncBase:InstanceId") == "20270302T090000Z"  # the EXDATE, moved too

        contacts = await held(device, "Contacts")
        assert sorted(item.subject for item in contacts.values()) == ["Baker, Bob", "Chen, Carol", "Diaz, Dan"]
        tasks = await held(device, "Tasks")
        due = {item.subject: item.data.text("Tasks:DueDate") for item in tasks.values()}
        assert due == {"Send the Q4 report to the board": "2027-02-17T00:00:00.000Z", "Book the offsite venue": None,
                       "Renew the lab certificate": "2027-02-26T00:00:00.000Z"}


async def test_loading_again_changes_nothing(demo_db):
    load_demo(demo_db, now=ANCHOR_MONDAY)
    with demo_db.session() as s:
        from sqlmodel import func, select

        from easlab.storage.models import Item as Row

        before = s.exec(select(func.count()).select_from(Row)).one()
    assert load_demo(demo_db, now=ANCHOR_MONDAY) == [f"{n}: already there, left as it is" for n in ("alice", "bob", "carol")]
    with demo_db.session() as s:
        assert s.exec(select(func.count()).select_from(Row)).one() == before


def test_week_shift_is_whole_weeks():
    anchor = ANCHOR_MONDAY.date()
    assert week_shift(anchor, anchor + timedelta(days=6)) == timedelta(0)
    assert week_shift(anchor, anchor + timedelta(days=7)) == timedelta(weeks=1)
    assert week_shift(anchor, anchor - timedelta(days=1)) == timedelta(weeks=-1)


def test_the_demo_command(tmp_path):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    assert CliRunner().invoke(main, ["init", "--db", db]).exit_code == 0
    result = CliRunner().invoke(main, ["demo", "--db", db])
    assert result.exit_code == 0 and result.output.startswith("demo: alice: added (5 messages"), result.output
    assert demo_folder().name == "demo" and (demo_folder() / "demo.json").is_file()
