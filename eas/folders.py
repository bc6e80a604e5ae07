"""Folder types, the item class each holds, FilterType windows and body types: the tables every
layer reads (MS-ASCMD 2.2.3.186.3, 2.2.3.68; MS-ASAIRS 2.2.2.22)."""
from __future__ import annotations

from enum import IntEnum


class FolderType(IntEnum):
    """FolderHierarchy Type (MS-ASCMD 2.2.3.186.3)."""
    UserGeneric = 1
    Inbox = 2
    Drafts = 3
    DeletedItems = 4
    SentItems = 5
    Outbox = 6
    Tasks = 7
    Calendar = 8
    Contacts = 9
    Notes = 10
    Journal = 11
    UserMail = 12
    UserCalendar = 13
    UserContacts = 14
    UserTasks = 15
    UserJournal = 16
    UserNotes = 17
    Unknown = 18
    RecipientInformationCache = 19


class BodyType(IntEnum):
    """AirSyncBase Type of a Body or BodyPreference (MS-ASAIRS 2.2.2.22.1)."""
    PlainText = 1
    HTML = 2
    RTF = 3
    MIME = 4


# The item class a folder of each type holds; journals and the other types hold none of these.
FOLDER_CLASS: dict[FolderType, str] = {
    FolderType.UserGeneric: "Email", FolderType.Inbox: "Email", FolderType.Drafts: "Email",
    FolderType.DeletedItems: "Email", FolderType.SentItems: "Email", FolderType.Outbox: "Email",
    FolderType.UserMail: "Email",
    FolderType.Tasks: "Tasks", FolderType.UserTasks: "Tasks",
    FolderType.Calendar: "Calendar", FolderType.UserCalendar: "Calendar",
    FolderType.Contacts: "Contacts", FolderType.UserContacts: "Contacts",
    FolderType.Notes: "Notes", FolderType.UserNotes: "Notes",
}

# The types a client may create (FolderCreate): user-created folders, never a default one.
USER_FOLDER_TYPES = frozenset({
    FolderType.UserGeneric, FolderType.UserMail, FolderType.UserCalendar, FolderType.UserContacts,
    FolderType.UserTasks, FolderType.UserJournal, FolderType.UserNotes,
})

# FilterType per class (MS-ASCMD 2.2.3.68) and how many days back it reaches (None: all items):
# mail 0-5, calendar 0 and 4-7, tasks 0 and 8 (incomplete tasks: not a date window).  Contacts and
# notes ignore FilterType, so any value is valid and selects everything.
FILTER: dict[str, dict[int, int | None]] = {
    "Email": {0: None, 1: 1, 2: 3, 3: 7, 4: 14, 5: 31},
    "Calendar": {0: None, 4: 14, 5: 31, 6: 92, 7: 183},
    "Tasks": {0: None, 8: None},
}


def filter_valid(folder_class: str, filter_type: int) -> bool:
    allowed = FILTER.get(folder_class)
    return allowed is None or filter_type in allowed


# GetItemEstimate answers a FilterType its class does not take with Status 110 (MS-ASCMD 2.2.3.68.1's
# "No" cells), and one past the table (9 and above) with 103, whatever the class.
ESTIMATE_FILTER_UNSUPPORTED, ESTIMATE_FILTER_INVALID = 110, 103
MAX_FILTER_TYPE = 8
# The classes one collection may sync side by side, each with its own Options (MS-ASCMD 2.2.3.27.2,
# 2.2.3.27.6); any other pair fails with Status 4.
TOGETHER = frozenset({"Email", "SMS"})
# The classes whose collections take airsync:ConversationMode (MS-ASCMD 2.2.3.36).
CONVERSATION_CLASSES = frozenset({"Email"})


def estimate_filter_status(folder_class: str, filter_type: int | None) -> int | None:
    """The GetItemEstimate Status a FilterType earns in `folder_class`; None when it is fine."""
    if filter_type is None:
        return None
    if filter_type > MAX_FILTER_TYPE:
        return ESTIMATE_FILTER_INVALID
    return None if filter_valid(folder_class, filter_type) else ESTIMATE_FILTER_UNSUPPORTED


def conversation_valid(folder_class: str, conversation_mode: bool | None) -> bool:
    """Whether a collection of `folder_class` may carry ConversationMode (None: it was not sent)."""
    return conversation_mode is None or folder_class in CONVERSATION_CLASSES


def classes_together(classes: list[str | None]) -> bool:
    """Whether a collection's Options may name these classes (None: the collection's own) together:
    each at most once, and two only when both are Email and SMS."""
    if len(set(classes)) != len(classes):
        return False
    named = {c for c in classes if c is not None}
    return len(classes) < 2 or named <= TOGETHER


def filter_days(folder_class: str, filter_type: int) -> int | None:
    """Days back the window reaches for `folder_class` (None: everything)."""
    return FILTER.get(folder_class, {}).get(filter_type)
