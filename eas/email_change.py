"""What a device may change on an e-mail item with Sync Change (MS-ASEMAIL 2.2.2, 3.2.5.3.2):
Read and the Flag, checked before anything is stored.

A request that breaks a rule is answered with the item's Status 6 (conversion error) and changes
nothing: a Read that is not a boolean, an element only the server sets, a flag without the
properties its action needs (the table of MS-ASEMAIL 3.2.5.3.2), dates that are partly set or out
of order, a reminder without a time.  A property sent twice is no error (Exchange takes one).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from .oof import parse_datetime
from .status import SyncStatus
from .wbxml import Element

# Set by the server, read-only on the client (MS-ASEMAIL 2.2.2.21, 2.2.2.59, 2.2.2.70, 2.2.2.83, 2.2.2.84).
SERVER_ONLY = ("Email2:ConversationId", "Email2:ReceivedAsBcc", "Email2:Sender", "Email2:UmCallerID",
               "Email2:UmUserNotes")
FLAG_STATUS = {"0": 0, "1": 1, "2": 2}  # cleared, complete, active (MS-ASEMAIL 2.2.2.74)
# The four dates of a flag: either all set or none (MS-ASEMAIL 2.2.2.31, 2.2.2.72, 2.2.2.86, 2.2.2.87).
FLAG_DATES = ("Tasks:StartDate", "Tasks:DueDate", "Tasks:UtcStartDate", "Tasks:UtcDueDate")
# Flag properties required per action (MS-ASEMAIL 3.2.5.3.2); meeting requests and responses need
# no FlagType (2.2.2.35).
REQUIRED = {1: ("Email:CompleteTime", "Tasks:DateCompleted"), 2: ("Email:FlagType",)}


class EmailChangeError(Exception):
    def __init__(self, reason: str, status: int = SyncStatus.ConversionError):
        self.status = status
        self.reason = reason
        super().__init__(reason)


@dataclass
class FlagChange:
    status: int | None  # None: the Flag updates properties and keeps its status
    flag_type: str | None


@dataclass
class EmailChange:
    read: bool | None = None
    flag: FlagChange | None = None


def _date(flag: Element, tag: str) -> datetime | None:
    try:
        return parse_datetime(flag.text(tag))
    except ValueError:
        raise EmailChangeError(f"{tag} is not a dateTime") from None


def parse_flag(flag: Element, is_meeting: Callable[[], bool]) -> FlagChange:
    """An Email:Flag of a Change.  Empty or Status 0 clears it; a Flag without Status updates the
    flag's properties.  `is_meeting` tells whether the message is a meeting request or response
    (asked only when it matters: it reads the message)."""
    if not flag.children:
        return FlagChange(0, "")
    raw = flag.text("Email:Status")
    if raw is not None and raw not in FLAG_STATUS:
        raise EmailChangeError(f"flag Status {raw!r}")
    status = FLAG_STATUS[raw] if raw is not None else None
    if status == 0:
        return FlagChange(0, "")
    required = REQUIRED.get(status or 0, ())
    if status == 2 and not flag.has("Email:FlagType") and is_meeting():
        required = ()
    missing = [tag for tag in required if not flag.has(tag)]
    if missing:
        raise EmailChangeError(f"flag Status {status} without {', '.join(missing)}")
    dates = {tag: _date(flag, tag) for tag in FLAG_DATES}
    if any(dates.values()) and not all(dates.values()):
        raise EmailChangeError("flag dates partly set")
    for start, due in (("Tasks:StartDate", "Tasks:DueDate"), ("Tasks:UtcStartDate", "Tasks:UtcDueDate")):
        if dates[start] and dates[due] and dates[due] < dates[start]:  # type: ignore[operator]
            raise EmailChangeError(f"{due} before {start}")
    reminder = flag.text("Tasks:ReminderSet")
    if reminder is not None and reminder not in ("0", "1"):
        raise EmailChangeError(f"ReminderSet {reminder!r}")
    if reminder == "1" and not flag.has("Tasks:ReminderTime"):
        raise EmailChangeError("ReminderSet without ReminderTime")
    _date(flag, "Tasks:ReminderTime")
    _date(flag, "Email:CompleteTime")
    _date(flag, "Tasks:DateCompleted")
    # A new status replaces the flag (a FlagType left out goes); without one, what it names changes.
    return FlagChange(status, flag.text("Email:FlagType", "" if status is not None else None))


def parse_email_change(data: Element | None, is_meeting: Callable[[], bool]) -> EmailChange:
    """The Read and Flag a Change sets; raises EmailChangeError for what breaks a rule."""
    change = EmailChange()
    if data is None:
        return change
    for tag in SERVER_ONLY:
        if data.has(tag):
            raise EmailChangeError(f"{tag} is set by the server")
    read = data.text("Email:Read")
    if data.has("Email:Read"):
        if read not in ("0", "1"):
            raise EmailChangeError(f"Read {read!r} is not a boolean")
        change.read = read == "1"
    flag = data.find("Email:Flag")
    if flag is not None:
        change.flag = parse_flag(flag, is_meeting)
    return change
