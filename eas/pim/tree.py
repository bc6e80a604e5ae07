"""One stored form of a PIM item for every protocol version, and the per-version wire form.

A Calendar, Contacts, Tasks or Notes item is kept as the ApplicationData the device sent, as
nested `[tag, value]` pairs (value: text, None for an empty element, or a list of pairs), so every
property a device writes comes back to it and to every other device unchanged — including
properties this server does not interpret.  Three things differ between versions and are stored
in one form:

- where an event is: `calendar:Location` (text, up to 14.1) and `airsyncbase:Location` (16.0+) are
  kept as the 16.0 structure; older versions read its DisplayName;
- which occurrence an exception is: `calendar:ExceptionStartTime` (up to 14.1) and
  `airsyncbase:InstanceId` (16.0+) carry the same Compact DateTime, kept as ExceptionStartTime;
- the body: kept as Type and Data; EstimatedDataSize, Truncated and Preview are computed when it is
  sent, against the device's BodyPreference.

Tokens a version does not have (MS-ASWBXML's version column) are left out of what it receives.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from .. import versions
from ..body import BodyPreference, render_body
from ..folders import BodyType
from ..mime import html_to_text, text_to_html
from ..wbxml import E, Element
from ..wbxml.tables import NAMESPACE_PAGE, PAGES, TAGS

PLAIN, HTML = BodyType.PlainText, BodyType.HTML

Node = list  # [tag, str | None | list[Node]]

CLASSES = ("Calendar", "Contacts", "Tasks", "Notes")
EXCEPTION_TIME = "Calendar:ExceptionStartTime"
INSTANCE_ID = "AirSyncBase:InstanceId"
BODY = "AirSyncBase:Body"
LOCATION = "AirSyncBase:Location"
OLD_LOCATION = "Calendar:Location"

# Exchange's order of calendar properties (MS-ASCAL 2.2.2, the order of its examples); the other
# classes follow their code page.  Properties not listed keep the order they arrived in, after.
_CALENDAR_ORDER = (
    "Timezone AllDayEvent Body BusyStatus OrganizerName OrganizerEmail DtStamp EndTime Location Reminder "
    "Sensitivity Subject StartTime UID MeetingStatus Attendees Categories Recurrence Exceptions ResponseRequested "
    "DisallowNewTimeProposal AppointmentReplyTime ResponseType OnlineMeetingConfLink OnlineMeetingExternalLink ClientUid"
).split()


def _page(name: str):
    return PAGES[NAMESPACE_PAGE[name]]


_TAG = TAGS


def _order(names: list[str]) -> dict[str, int]:
    return {name: i for i, name in enumerate(names)}


ORDER = {
    "Calendar": _order([BODY if n == "Body" else LOCATION if n == "Location" else f"Calendar:{n}" for n in _CALENDAR_ORDER]),
    "Contacts": _order([f"Contacts:{t.name}" for t in _page("Contacts").tags if not t.legacy] + [BODY]
                       + [f"Contacts2:{t.name}" for t in _page("Contacts2").tags]),
    "Tasks": _order([BODY] + [f"Tasks:{t.name}" for t in _page("Tasks").tags if not t.legacy]),
    "Notes": _order(["Notes:Subject", BODY, "Notes:MessageClass", "Notes:LastModifiedDate", "Notes:Categories"]),
}

# MS-ASCMD 2.2.3.24 (Change): leaving these out of a Change leaves them as they are, whatever the
# ghosting rules say.  UID and ClientUid are the server's record of the event's identity.
# MS-ASTASK 3.2.5.3.1-2 and MS-ASNOTE 3.2.5.3 say the same of a task's Importance and ReminderSet
# and a note's Subject.
KEPT_WHEN_ABSENT = frozenset({"Calendar:Exceptions", BODY, "Contacts:Picture", "Calendar:UID", "Calendar:ClientUid",
                              "Tasks:Importance", "Tasks:ReminderSet", "Notes:Subject"})

# What a 16.x Change with an InstanceId may set on one occurrence, in MS-ASCAL's Exception order
# (2.2.2.20).
_EXCEPTION_ORDER = [
    BODY if n == "Body" else LOCATION if n == "Location" else f"Calendar:{n}" for n in (
        "Deleted ExceptionStartTime Subject StartTime EndTime Body Location Categories Sensitivity BusyStatus "
        "AllDayEvent Reminder DtStamp MeetingStatus Attendees AppointmentReplyTime ResponseType OnlineMeetingConfLink "
        "OnlineMeetingExternalLink"
    ).split()
]
EXCEPTION_ORDER = _order(_EXCEPTION_ORDER)
EXCEPTION_PROPERTIES = frozenset(_EXCEPTION_ORDER) - {EXCEPTION_TIME}


class ItemError(ValueError):
    """The device's item cannot be stored (Sync Status 6)."""


# -- Element <-> nodes ------------------------------------------------------------------------------
def _text(value: str | bytes | None) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")  # OPAQUE where a string belongs (some iOS bodies)
    if value is not None and "\x00" in value:
        # Only OPAQUE can carry a NUL, and no EAS string property holds one; stored, it could not
        # be sent to any device again.
        raise ItemError("a NUL character in a string property")
    return value


def node_of(el: Element) -> Node:
    if el.children:
        return [el.tag, [node_of(c) for c in el.children]]
    return [el.tag, _text(el.value)]


def element_of(node: Node) -> Element:
    tag, value = node
    if isinstance(value, list):
        return E(tag, *[element_of(n) for n in value])
    return E(tag, value)


def scrub(nodes: list[Node]) -> list[Node]:
    """Drop NUL characters (from iCalendar text, say): WBXML strings cannot carry them."""
    for n in nodes:
        if isinstance(n[1], list):
            scrub(n[1])
        elif isinstance(n[1], str) and "\x00" in n[1]:
            n[1] = n[1].replace("\x00", "")
    return nodes


def find(nodes: list[Node], tag: str) -> Node | None:
    return next((n for n in nodes if n[0] == tag), None)


def value(nodes: list[Node], tag: str) -> str | None:
    found = find(nodes, tag)
    return found[1] if found is not None and not isinstance(found[1], list) else None


def children(nodes: list[Node], tag: str) -> list[Node]:
    found = find(nodes, tag)
    return found[1] if found is not None and isinstance(found[1], list) else []


def put(nodes: list[Node], tag: str, new: str | None | list) -> None:
    """Set `tag` (replacing it where it stands, else appending)."""
    for n in nodes:
        if n[0] == tag:
            n[1] = new
            return
    nodes.append([tag, new])


def drop(nodes: list[Node], tag: str) -> None:
    nodes[:] = [n for n in nodes if n[0] != tag]


# -- from the device ------------------------------------------------------------------------------
def _normalise(nodes: list[Node]) -> list[Node]:
    out: list[Node] = []
    for tag, val in nodes:
        if tag == OLD_LOCATION:
            out.append([LOCATION, [["AirSyncBase:DisplayName", val]] if val else []])
        elif tag == INSTANCE_ID:
            out.append([EXCEPTION_TIME, val])
        elif tag == BODY:
            kept = [n for n in (val or []) if n[0] in ("AirSyncBase:Type", "AirSyncBase:Data")] if isinstance(val, list) else []
            out.append([BODY, kept])
        elif tag == "AirSyncBase:NativeBodyType":
            continue  # the server's to say
        elif tag == "AirSyncBase:Attachments":
            # 16.x event attachments arrive as Add/Delete instructions, which are not what any
            # device may be sent back; they are not kept (see the issue note: not supported yet).
            continue
        elif tag == "Calendar:Recurrence" and isinstance(val, list):
            out.append([tag, _recurrence(val)])
        elif tag == "Calendar:Exceptions" and isinstance(val, list):
            out.append([tag, [[t, _normalise(v) if isinstance(v, list) else v] for t, v in val]])
        else:
            out.append([tag, val])
    return out


def _recurrence(rec: list[Node]) -> list[Node]:
    # As Exchange 2013 SP1 and later: Interval 0 is read as 1 and CalendarType 1 (Gregorian) as 0
    # (Default) (MS-ASCAL appendix B); with both Occurrences and Until the series ends after
    # Occurrences (3.2.5.3).
    counted = bool(value(rec, "Calendar:Occurrences"))
    read_as = {("Calendar:Interval", "0"): "1", ("Calendar:CalendarType", "1"): "0"}
    return [[t, read_as.get((t, v), v)] for t, v in rec if not (counted and t == "Calendar:Until")]


def sort(class_name: str, nodes: list[Node]) -> list[Node]:
    order = ORDER.get(class_name, {})
    last = len(order)
    return sorted(nodes, key=lambda n: order.get(n[0], last))  # stable: unknown tags keep their order


def parse(class_name: str, data: Element | None) -> list[Node]:
    """The stored form of a device's ApplicationData; ItemError when it is not a valid item."""
    nodes = _normalise([node_of(c) for c in data.children]) if data is not None else []
    validate(class_name, nodes)
    rec = children(nodes, "Tasks:Recurrence") if class_name == "Tasks" else []
    if find(rec, "Tasks:Occurrences") is not None:
        drop(rec, "Tasks:Until")  # MS-ASTASK 3.2.5.3.4: Occurrences wins
    if value(rec, "Tasks:Type") in ("2", "3", "5", "6") and find(rec, "Tasks:CalendarType") is None:
        # MS-ASTASK 2.2.2.4: a monthly or yearly pattern is sent with its CalendarType; 0 is the default.
        at = next((i for i, n in enumerate(rec) if n[0] in ("Tasks:IsLeapMonth", "Tasks:FirstDayOfWeek")), len(rec))
        rec.insert(at, ["Tasks:CalendarType", "0"])  # its place in the schema; the rest as sent
    return sort(class_name, nodes)


def validate(class_name: str, nodes: list[Node]) -> None:
    from .recurrence import parse_compact
    from .timezone import TimeZoneBlob

    def compact(tag: str, within: list[Node]) -> None:
        text = value(within, tag)
        if text:
            try:
                parse_compact(text)
            except ValueError:
                raise ItemError(f"{tag} is not a date: {text!r}") from None

    if class_name == "Notes":
        # MS-ASNOTE 2.2.2.5: anything but a sticky note is refused.
        mc = value(nodes, "Notes:MessageClass")
        if mc is not None and mc != "IPM.StickyNote" and not mc.startswith("IPM.StickyNote."):
            raise ItemError(f"notes:MessageClass {mc!r}")
    elif class_name == "Calendar":
        for tag in ("Calendar:StartTime", "Calendar:EndTime", "Calendar:DtStamp"):
            compact(tag, nodes)
        tz = value(nodes, "Calendar:Timezone")
        if tz:
            try:
                TimeZoneBlob.from_base64(tz)
            except ValueError:
                raise ItemError("calendar:Timezone is not a TimeZone structure") from None
        rec = children(nodes, "Calendar:Recurrence")
        if rec:
            _check_recurrence(rec)
        exceptions = children(nodes, "Calendar:Exceptions")
        if len(exceptions) > 1000:  # MS-ASCAL 2.2.2.21
            raise ItemError("more than 1000 exceptions")
        for exc in exceptions:
            if not isinstance(exc[1], list) or not value(exc[1], EXCEPTION_TIME):
                raise ItemError("an exception without its start time")
            for tag in (EXCEPTION_TIME, "Calendar:StartTime", "Calendar:EndTime"):
                compact(tag, exc[1])
    elif class_name == "Contacts":
        picture = value(nodes, "Contacts:Picture")
        if picture and len(picture) > 48 * 1024:  # MS-ASCNTC 2.2.2.56
            raise ItemError("contacts:Picture larger than 48 KB")
    elif class_name == "Tasks":
        if value(nodes, "Tasks:Complete") == "1" and not value(nodes, "Tasks:DateCompleted"):
            raise ItemError("a complete task needs DateCompleted")  # MS-ASTASK 2.2.2.6
        if value(nodes, "Tasks:ReminderSet") not in (None, "0", "1"):
            raise ItemError("tasks:ReminderSet other than 0 or 1")  # MS-ASTASK 2.2.2.22
        if find(nodes, "Tasks:Recurrence") is not None:
            _validate_task_recurrence(children(nodes, "Tasks:Recurrence"))


MAX_CATEGORIES = 300

# MS-ASTASK 2.2.2.9, 2.2.2.10, 2.2.2.33: which recurrence Types a pattern element belongs to.
_TASK_PATTERN = {"Tasks:DayOfMonth": ("2", "5"), "Tasks:WeekOfMonth": ("3", "6")}


def _validate_task_recurrence(rec: list[Node]) -> None:
    kind = value(rec, "Tasks:Type")
    if kind is None or value(rec, "Tasks:Start") is None:
        raise ItemError("a task recurrence without its Type or Start")  # MS-ASTASK 2.2.2.29, 3.2.5.3.3
    for tag, kinds in _TASK_PATTERN.items():
        if find(rec, tag) is not None and kind not in kinds:
            raise ItemError(f"{tag} with a recurrence of Type {kind}")
    if find(rec, "Tasks:DayOfWeek") is not None and kind in ("2", "5"):
        raise ItemError(f"tasks:DayOfWeek with a recurrence of Type {kind}")
    if value(rec, "Tasks:FirstDayOfWeek") not in (None, "0", "1", "2", "3", "4", "5", "6"):
        raise ItemError("tasks:FirstDayOfWeek outside 0-6")  # MS-ASTASK 2.2.2.13
    if value(rec, "Tasks:CalendarType") not in (None, "0", "1", "2") and kind not in ("2", "3", "5", "6"):
        raise ItemError("tasks:CalendarType with a daily or weekly recurrence")


# MS-ASCAL 3.2.5.3: the Types each pattern element belongs to; sent with another Type, Status 6.
PATTERN_TYPES = {
    "Calendar:DayOfMonth": ("2", "5"), "Calendar:DayOfWeek": ("0", "1", "3", "6"),
    "Calendar:MonthOfYear": ("5", "6"), "Calendar:WeekOfMonth": ("3", "6"),
}
REFUSED_CALENDAR_TYPES = frozenset({"13", "16", "17", "18", "19", "21", "22", "23"})  # MS-ASCAL 3.2.5.3


def _check_recurrence(rec: list[Node]) -> None:
    kind = value(rec, "Calendar:Type")
    if kind not in ("0", "1", "2", "3", "5", "6"):
        raise ItemError("calendar:Recurrence Type")
    for tag, types in PATTERN_TYPES.items():
        if value(rec, tag) and kind not in types:
            raise ItemError(f"{tag} with Recurrence Type {kind}")
    calendar_types = [v for t, v in rec if t == "Calendar:CalendarType"]
    if len(calendar_types) > 1 or REFUSED_CALENDAR_TYPES.intersection(calendar_types):
        raise ItemError("calendar:CalendarType")
    occurrences = value(rec, "Calendar:Occurrences")
    if occurrences and (not (occurrences.isascii() and occurrences.isdigit()) or int(occurrences) > 999):
        raise ItemError("calendar:Occurrences over 999")  # MS-ASCAL 2.2.2.32
    first = value(rec, "Calendar:FirstDayOfWeek")
    if first and first not in ("0", "1", "2", "3", "4", "5", "6"):
        raise ItemError("calendar:FirstDayOfWeek outside 0-6")


# -- Change ---------------------------------------------------------------------------------------
@dataclass
class ChangeRules:
    """What an omitted property means in a Change (MS-ASCMD 2.2.3.24, 2.2.3.179 Supported)."""

    class_name: str
    version: str
    supported: list[str] | None = None  # local names from Supported at SyncKey 0; None: none sent

    def keeps(self, tag: str) -> bool:
        if tag in KEPT_WHEN_ABSENT:
            return True
        if self.class_name == "Calendar" and versions.has(self.version, "calendar_keeps_omitted"):
            return True  # 16.x: omitted calendar properties stay as they are
        if self.supported is None:
            return False  # nothing ghosted: what is left out is deleted
        return tag.partition(":")[2] not in self.supported  # ghosted unless listed


def merge(existing: list[Node], incoming: list[Node], rules: ChangeRules) -> list[Node]:
    merged = [n for n in incoming if not (n[0] == BODY and not value(n[1] or [], "AirSyncBase:Data") and find(existing, BODY))]
    present = {n[0] for n in merged}
    for n in existing:
        if n[0] not in present and rules.keeps(n[0]):
            merged.append(n)
    sent = find(merged, "Calendar:Exceptions")
    if sent is not None and isinstance(sent[1], list):
        # An exception the Change leaves out stays as it was (MS-ASCAL 3.2.5.3.1).
        named = {value(e[1], EXCEPTION_TIME) for e in sent[1] if isinstance(e[1], list)}
        kept = [e for e in children(existing, "Calendar:Exceptions") if value(e[1], EXCEPTION_TIME) not in named]
        sent[1] = sent[1] + kept
    return sort(rules.class_name, merged)


def change_instance(existing: list[Node], instance_id: str, incoming: list[Node], *, delete: bool = False) -> list[Node]:
    """16.x: a Change or Delete with an InstanceId edits one occurrence — an exception of the series."""
    nodes = [list(n) for n in existing]
    exceptions = [list(e) for e in children(nodes, "Calendar:Exceptions")]
    current = next((e for e in exceptions if value(e[1], EXCEPTION_TIME) == instance_id), None)
    if current is None:
        current = ["Calendar:Exception", [[EXCEPTION_TIME, instance_id]]]
        exceptions.append(current)
    if delete:
        current[1] = [["Calendar:Deleted", "1"], [EXCEPTION_TIME, instance_id]]
    else:
        props = [list(n) for n in current[1]]
        for n in incoming:
            if n[0] in EXCEPTION_PROPERTIES:
                put(props, n[0], n[1])
        last = len(EXCEPTION_ORDER)
        current[1] = sorted(props, key=lambda n: EXCEPTION_ORDER.get(n[0], last))
    if len(exceptions) > 1000:
        raise ItemError("more than 1000 exceptions")
    put(nodes, "Calendar:Exceptions", exceptions)
    return nodes


# -- to the device ---------------------------------------------------------------------------------
@dataclass
class RenderOptions:
    version: str
    body_types: list = field(default_factory=list)  # eas.email.BodyPreference, as the device asked
    opaque_data: bool = False


@lru_cache(maxsize=4096)
def _valid(tag: str, version: str) -> bool:
    entry = _TAG.get(tag)
    return entry is None or entry.valid_in(version)


def _body(node_value: list[Node], options: RenderOptions, class_name: str) -> tuple[Element, int]:
    native = int(value(node_value, "AirSyncBase:Type") or 1)
    data = value(node_value, "AirSyncBase:Data") or ""
    prefs = {p.type: p for p in options.body_types}
    text_or_html = class_name == "Calendar" and versions.has(options.version, "calendar_text_or_html_body")
    allowed = (PLAIN, HTML) if text_or_html else (PLAIN, HTML, BodyType.RTF)
    pref = prefs.get(native) if native in allowed else None
    pref = (pref or next((prefs[t] for t in (PLAIN, HTML) if t in prefs), None)
            or BodyPreference(type=native if native in allowed else PLAIN))
    if pref.type == native:
        raw = data.encode("utf-8")
    elif native == BodyType.RTF:
        raw = b""  # RTF is not converted; the device asked for text it can show
    else:
        raw = (text_to_html(data) if pref.type == HTML else html_to_text(data)).encode("utf-8")
    plain_text = lambda: data if native == PLAIN else html_to_text(data)  # noqa: E731
    return render_body(raw, pref, options.version, plain_text, options.opaque_data), native


def _render_nodes(nodes: list[Node], options: RenderOptions, class_name: str) -> tuple[list[Element], int | None]:
    modern = versions.has(options.version, "airsyncbase_location")
    out: list[Element] = []
    native = None
    for tag, val in nodes:
        if tag == BODY:
            if isinstance(val, list) and val:
                el, native = _body(val, options, class_name)
                out.append(el)
            continue
        if tag == LOCATION and not modern:
            name = value(val, "AirSyncBase:DisplayName") if isinstance(val, list) else None
            out.append(E("Email:Location" if class_name == "Email" else OLD_LOCATION, name or ""))
            continue
        if tag == "Calendar:UID" and class_name == "Email" and not modern:
            continue  # a meeting request names its event by GlobalObjId up to 14.1, by UID after
        if tag == EXCEPTION_TIME and modern:
            out.append(E(INSTANCE_ID, val))
            continue
        if not _valid(tag, options.version):
            continue
        if isinstance(val, list):
            inner, _ = _render_nodes(val, options, class_name)
            out.append(E(tag, *inner))
        else:
            out.append(E(tag, val))
    return out, native


def render_meeting(nodes: list[Node], version: str) -> Element:
    """email:MeetingRequest of a meeting message (MS-ASEMAIL 2.2.2.48) for `version`."""
    out, _ = _render_nodes(nodes, RenderOptions(version), "Email")
    return E("Email:MeetingRequest", *out)


# The first day of the week of a weekly series that names none: Monday, the week this server
# expands such a series by (eas.pim.recurrence), and the user's option Exchange would use.
DEFAULT_FIRST_DAY = "1"


def _first_day_of_week(out: list[Element], version: str, ns: str = "Calendar") -> None:
    """MS-ASCAL 3.2.5, MS-ASTASK 2.2.2.13: a weekly Recurrence always carries FirstDayOfWeek (14.1+)."""
    rec = next((e for e in out if e.tag == f"{ns}:Recurrence"), None)
    if (rec is not None and rec.text(f"{ns}:Type") == "1" and not rec.has(f"{ns}:FirstDayOfWeek")
            and _valid(f"{ns}:FirstDayOfWeek", version)):
        rec.children.append(E(f"{ns}:FirstDayOfWeek", DEFAULT_FIRST_DAY))


def render(class_name: str, nodes: list[Node], options: RenderOptions) -> Element:
    """The AirSync:ApplicationData a device of `options.version` receives."""
    out, native = _render_nodes(nodes, options, class_name)
    for element in out:
        if element.tag.endswith(":Categories"):
            del element.children[MAX_CATEGORIES:]  # MS-ASCAL appendix B: no more than 300 (Exchange 2007 SP1+)
    if class_name in ("Calendar", "Tasks"):
        _first_day_of_week(out, options.version, class_name)
    if native is not None and versions.has(options.version, "airsyncbase_body"):
        out.append(E("AirSyncBase:NativeBodyType", native))
    return E("AirSync:ApplicationData", *out)

