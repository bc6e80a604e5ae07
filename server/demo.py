"""The demo store (`easlab demo`, `easlab serve --demo`): users with mail, a calendar, contacts and
tasks, read from the top-level fixtures/demo/ folder (installed as easlab.fixtures).

Every date in the files is written for the week of demo.json's `anchor`; the loader moves them by
whole weeks to the current week, so a phone shows recent mail and meetings ahead whatever the day
(whole weeks keep each meeting on its weekday).  Each user is added through the admin service with
its content, in one transaction, and only when the user does not exist yet: loading again (a
restart with --demo) changes nothing, and a demo user's own changes survive it.
"""
from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from easlab.eas.folders import FolderType
from easlab.eas.mime import parse_message
from easlab.eas.pim import meeting, tree
from easlab.eas.pim.calendar import compact
from easlab.eas.pim.ical import Event, parse_calendar
from easlab.eas.pim.recurrence import parse_compact
from easlab.storage import Database
from easlab.storage.mailbox import folder_by_name, folder_by_type, store_message
from easlab.storage.models import User
from easlab.storage.pim import add_pim
from easlab.storage.users import get_user

from .admin import SHELL, Admin

# The JSON items' date properties, moved with the rest (MS-ASTASK dateTime values).
DATE_TAGS = frozenset({"Tasks:StartDate", "Tasks:UtcStartDate", "Tasks:DueDate", "Tasks:UtcDueDate",
                       "Tasks:ReminderTime", "Tasks:DateCompleted"})
PIM_FILES = (("contacts.json", "Contacts", FolderType.Contacts), ("tasks.json", "Tasks", FolderType.Tasks))


def demo_folder() -> Path:
    """fixtures/demo of the installed package, else of the checkout (an editable install made
    before fixtures/ existed does not map easlab.fixtures)."""
    try:
        from importlib.resources import files

        found = Path(str(files("easlab.fixtures"))) / "demo"
        if (found / "demo.json").is_file():
            return found
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parent.parent / "fixtures" / "demo"


def week_shift(anchor: date, today: date) -> timedelta:
    """Whole weeks from the anchor's week to today's."""
    return timedelta(weeks=(today - anchor).days // 7)


def load_demo(db: Database, now: datetime | None = None, root: Path | None = None, admin=None) -> list[str]:
    """Load what is missing of the demo through the admin service (`admin`: the CLI's, which tells
    a running server; else one of its own); one line per user says what happened."""
    root = root or demo_folder()
    spec = json.loads((root / "demo.json").read_text(encoding="utf-8"))
    now = now or datetime.now(timezone.utc)
    shift = week_shift(date.fromisoformat(spec["anchor"]), now.date())
    lines = []
    admin = admin or Admin(db, lambda event: None)
    for entry in spec["users"]:
        with db.session() as s:
            exists = get_user(s, entry["name"]) is not None
        if exists:
            lines.append(f"{entry['name']}: already there, left as it is")
            continue
        added = admin.user_add(SHELL, entry["name"], spec["password"], entry.get("display_name", ""), entry.get("role"),
                               content=lambda s, user: _load_user(s, user, root / user.name, shift, now))
        counts = added["content"]
        done = ", ".join(f"{n} {what[:-1] if n == 1 else what}" for what, n in counts.items() if n)
        lines.append(f"{entry['name']}: added ({done or 'empty mailbox'}), password {spec['password']!r}")
    return lines


def _load_user(session, user: User, folder: Path, shift: timedelta, now: datetime) -> dict[str, int]:
    counts = {"messages": _load_mail(session, user, folder, shift)}
    calendar = folder / "calendar.ics"
    counts["events"] = _load_calendar(session, user, calendar, shift, now) if calendar.is_file() else 0
    for name, class_name, ftype in PIM_FILES:
        path = folder / name
        items = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
        target = folder_by_type(session, user, ftype)
        for props in items:
            nodes = tree.sort(class_name, _nodes(props, shift))
            tree.validate(class_name, nodes)
            add_pim(session, target, class_name, nodes, now)
        counts[class_name.lower()] = len(items)  # "contacts", "tasks": plurals, as the others
    return counts


def _load_mail(session, user: User, folder: Path, shift: timedelta) -> int:
    """Each sub-folder of .eml files goes into the mail folder of that name."""
    stored = 0
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else ():
        target = folder_by_name(session, user, sub.name)
        if target is None:
            raise ValueError(f"{sub}: {user.name} has no folder {sub.name!r}")
        for path in sorted(sub.glob("*.eml")):
            mime = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            parsed = parse_message(mime)
            received = (parsed.date or datetime(2000, 1, 1, tzinfo=timezone.utc)) + shift
            store_message(session, target, mime, parsed=parsed, received=received, read=sub.name != "Inbox")
            stored += 1
    return stored


def _load_calendar(session, user: User, path: Path, shift: timedelta, now: datetime) -> int:
    calendar = folder_by_type(session, user, FolderType.Calendar)
    events = parse_calendar(path.read_bytes()).events
    for event in events:
        event = _moved(event, shift)
        organiser = event.organizer_email.partition("@")[0].lower() == user.name
        is_meeting = bool(event.attendees)
        nodes = meeting.event_nodes(event, meeting_status=1 if is_meeting else 0,
                                    response_type=1 if is_meeting and organiser else None, now=now)
        add_pim(session, calendar, "Calendar", nodes, now)
    return len(events)


def _moved(event: Event, shift: timedelta) -> Event:
    def later(value):
        return value + shift if value is not None else None

    recurrence = dict(event.recurrence) if event.recurrence else event.recurrence
    if recurrence and recurrence.get("Until"):
        recurrence["Until"] = compact(parse_compact(recurrence["Until"]) + shift)
    overrides = [dataclasses.replace(o, recurrence_id=o.recurrence_id + shift, start=later(o.start), end=later(o.end))
                 for o in event.overrides]
    return dataclasses.replace(event, start=later(event.start), end=later(event.end), dtstamp=later(event.dtstamp),
                               recurrence=recurrence, overrides=overrides)


def _nodes(props: dict, shift: timedelta) -> list:
    """{"Tasks:Subject": "x", "Tasks:Categories": {"Tasks:Category": ["a", "b"]}} as stored nodes:
    an object is a container, a list repeats its element."""
    out: list = []
    for tag, value in props.items():
        for one in value if isinstance(value, list) else [value]:
            if isinstance(one, dict):
                out.append([tag, _nodes(one, shift)])
            elif tag in DATE_TAGS:
                out.append([tag, (parse_compact(one) + shift).strftime("%Y-%m-%dT%H:%M:%S.000Z")])
            else:
                out.append([tag, None if one is None else str(one)])
    return out
