"""easlab.eas.pim.tree: the version-neutral stored form, the Change rules, the per-version wire form."""
import base64

import pytest

from easlab.eas.body import BodyPreference
from easlab.eas.pim import tree
from easlab.eas.pim.calendar import FAR_FUTURE, busy_intervals, global_object_id, last_end, summarise
from easlab.eas.wbxml import E, encode

C, B = "Calendar", "AirSyncBase"


def data(*children):
    return E("AirSync:ApplicationData", *children)


def test_old_and_new_names_are_stored_alike():
    old = tree.parse("Calendar", data(E(f"{C}:Location", "Room"), E(f"{C}:Exceptions", E(f"{C}:Exception",
                                      E(f"{C}:ExceptionStartTime", "20260105T080000Z"), E(f"{C}:Location", "Other")))))
    new = tree.parse("Calendar", data(E(f"{B}:Location", E(f"{B}:DisplayName", "Room")), E(f"{C}:Exceptions", E(f"{C}:Exception",
                                      E(f"{B}:InstanceId", "20260105T080000Z"), E(f"{B}:Location", E(f"{B}:DisplayName", "Other"))))))
    assert old == new == [
        [f"{B}:Location", [[f"{B}:DisplayName", "Room"]]],
        [f"{C}:Exceptions", [[f"{C}:Exception", [[f"{C}:ExceptionStartTime", "20260105T080000Z"],
                                                  [f"{B}:Location", [[f"{B}:DisplayName", "Other"]]]]]]],
    ]


def test_16_attachment_instructions_are_not_stored_to_be_echoed():
    nodes = tree.parse("Calendar", data(E(f"{C}:Subject", "s"), E(f"{B}:Attachments", E(f"{B}:Add",
                       E(f"{B}:ClientId", "a1"), E(f"{B}:Method", 1), E(f"{B}:Content", "aGk="), E(f"{B}:DisplayName", "x.txt")))))
    assert nodes == [[f"{C}:Subject", "s"]]


def test_body_keeps_type_and_data_only_and_native_type_is_the_servers():
    nodes = tree.parse("Tasks", data(E(f"{B}:Body", E(f"{B}:Type", 2), E(f"{B}:EstimatedDataSize", 99), E(f"{B}:Data", "<b>x</b>")),
                                     E(f"{B}:NativeBodyType", 1)))
    assert nodes == [[f"{B}:Body", [[f"{B}:Type", "2"], [f"{B}:Data", "<b>x</b>"]]]]


@pytest.mark.parametrize("version, supported, kept", [
    ("14.1", None, {"Calendar:UID"}),                      # nothing ghosted: omitted = deleted
    ("14.1", [], {"Calendar:UID", "Calendar:Reminder", "Calendar:Sensitivity"}),  # empty Supported: all ghosted
    ("14.1", ["Reminder"], {"Calendar:UID", "Calendar:Sensitivity"}),  # listed: not ghosted
    ("16.1", None, {"Calendar:UID", "Calendar:Reminder", "Calendar:Sensitivity"}),  # 16.x: omitted stays
])
def test_change_rules(version, supported, kept):
    existing = [["Calendar:Reminder", "15"], ["Calendar:Sensitivity", "0"], ["Calendar:Subject", "a"], ["Calendar:UID", "u"]]
    merged = tree.merge(existing, [["Calendar:Subject", "b"]], tree.ChangeRules("Calendar", version, supported))
    assert {t for t, _ in merged} - {"Calendar:Subject"} == kept
    assert tree.value(merged, "Calendar:Subject") == "b"


def test_change_rules_body_without_data_and_absent_exceptions_are_kept():
    body = [f"{B}:Body", [[f"{B}:Type", "1"], [f"{B}:Data", "keep"]]]
    exceptions = ["Calendar:Exceptions", [["Calendar:Exception", [["Calendar:ExceptionStartTime", "20260101T000000Z"]]]]]
    merged = tree.merge([body, exceptions], [[f"{B}:Body", [[f"{B}:Type", "1"]]]], tree.ChangeRules("Calendar", "14.1"))
    assert tree.find(merged, f"{B}:Body") == body and tree.find(merged, "Calendar:Exceptions") == exceptions


def test_change_instance_creates_edits_and_deletes_occurrences():
    nodes = [["Calendar:Subject", "s"]]
    nodes = tree.change_instance(nodes, "20260105T080000Z", [["Calendar:Subject", "moved"], ["Calendar:UID", "ignored"]])
    nodes = tree.change_instance(nodes, "20260105T080000Z", [["Calendar:EndTime", "20260105T100000Z"]])
    nodes = tree.change_instance(nodes, "20260112T080000Z", [], delete=True)
    assert tree.children(nodes, "Calendar:Exceptions") == [
        ["Calendar:Exception", [["Calendar:ExceptionStartTime", "20260105T080000Z"], ["Calendar:Subject", "moved"],
                                ["Calendar:EndTime", "20260105T100000Z"]]],
        ["Calendar:Exception", [["Calendar:Deleted", "1"], ["Calendar:ExceptionStartTime", "20260112T080000Z"]]],
    ]


@pytest.mark.parametrize("bad", [
    ("Calendar", data(E(f"{C}:StartTime", "tomorrow"))),
    ("Calendar", data(E(f"{C}:Timezone", base64.b64encode(b"x" * 10).decode()))),
    ("Calendar", data(E(f"{C}:Recurrence", E(f"{C}:Type", 4)))),
    ("Calendar", data(E(f"{C}:Exceptions", E(f"{C}:Exception", E(f"{C}:Subject", "no start"))))),
    ("Notes", data(E("Notes:MessageClass", "IPM.Note"))),
    ("Contacts", data(E("Contacts:Picture", "A" * (48 * 1024 + 1)))),
    ("Tasks", data(E("Tasks:Complete", 1))),
])
def test_invalid_items(bad):
    with pytest.raises(tree.ItemError):
        tree.parse(*bad)


def test_render_per_version_drops_tokens_the_version_lacks():
    nodes = [["Calendar:Subject", "s"], ["Calendar:ResponseType", "3"], ["Calendar:ClientUid", "c"],
             [f"{B}:Location", [[f"{B}:DisplayName", "L"], [f"{B}:City", "X"]]]]
    assert tree.render("Calendar", nodes, tree.RenderOptions("12.1")) == data(E(f"{C}:Subject", "s"), E(f"{C}:Location", "L"))
    assert tree.render("Calendar", nodes, tree.RenderOptions("14.1")) == data(
        E(f"{C}:Subject", "s"), E(f"{C}:ResponseType", "3"), E(f"{C}:Location", "L"))
    modern = tree.render("Calendar", nodes, tree.RenderOptions("16.1"))
    assert modern == data(E(f"{C}:Subject", "s"), E(f"{C}:ResponseType", "3"), E(f"{C}:ClientUid", "c"),
                          E(f"{B}:Location", E(f"{B}:DisplayName", "L"), E(f"{B}:City", "X")))
    encode(modern)  # every token exists on its page


def test_render_body_honours_preference_and_truncation():
    nodes = [[f"{B}:Body", [[f"{B}:Type", "2"], [f"{B}:Data", "<p>héllo world</p>"]]]]
    plain = tree.render("Contacts", nodes, tree.RenderOptions("14.1", [BodyPreference(1, truncation_size=5)]))
    body = plain.find(f"{B}:Body")
    assert (body.text(f"{B}:Type"), body.text(f"{B}:Truncated"), body.text(f"{B}:Data")) == ("1", "1", "héll")
    assert plain.text(f"{B}:NativeBodyType") == "2"


def test_summary_window_dates():
    weekly = [["Calendar:StartTime", "20260105T080000Z"], ["Calendar:EndTime", "20260105T090000Z"],
              ["Calendar:Recurrence", [["Calendar:Type", "1"], ["Calendar:DayOfWeek", "2"], ["Calendar:Occurrences", "3"]]]]
    assert last_end(weekly).isoformat() == "2026-01-19T09:00:00+00:00"
    endless = [n for n in weekly if n[0] != "Calendar:Recurrence"] + [["Calendar:Recurrence", [["Calendar:Type", "0"]]]]
    assert last_end(endless) == FAR_FUTURE
    from datetime import datetime, timezone
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert summarise("Tasks", [["Tasks:Complete", "0"]], now).window_date == FAR_FUTURE
    assert summarise("Contacts", [["Contacts:FirstName", "Ann"], ["Contacts:LastName", "Lee"]], now).subject == "Ann Lee"
    assert busy_intervals(weekly + [["Calendar:MeetingStatus", "7"]], now, FAR_FUTURE) == []
    assert len(busy_intervals(weekly, now, FAR_FUTURE)) == 3


def test_global_object_id():
    # An Outlook UID is a hex GOID: it is the id itself.
    hex_uid = "040000008200E00074C5B7101A82E00800000000D0F4E0B4A86DDA01000000000000000010000000A1B2C3D4E5F60718293A4B5C6D7E8F90"
    assert base64.b64decode(global_object_id(hex_uid)) == bytes.fromhex(hex_uid)
    # Any other UID is wrapped as Outlook wraps it: the class id, then a "vCal-Uid" blob.
    raw = base64.b64decode(global_object_id("abc@x"))
    assert raw[:16] == bytes.fromhex("040000008200E00074C5B7101A82E008") and raw[36:40] == (len(raw) - 40).to_bytes(4, "little")
    assert raw[40:] == b"vCal-Uid\x01\x00\x00\x00abc@x\x00"


# -- whatever a device sends: a clean refusal or an item the server can read ----------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_VALUES = st.one_of(st.sampled_from(["", "0", "1", "2", "5", "127", "-1", "999999999999", "20260105T080000Z",
                                     "2026-01-05T08:00:00.000Z", "20261301T250000Z", "x"]),
                    st.text(max_size=12))
_LEAVES = ["Calendar:StartTime", "Calendar:EndTime", "Calendar:Subject", "Calendar:BusyStatus", "Calendar:Reminder",
           "Calendar:MeetingStatus", "Calendar:AllDayEvent", "Calendar:UID", "Calendar:Timezone", "Calendar:DtStamp"]
_REC = ["Calendar:Type", "Calendar:Interval", "Calendar:Until", "Calendar:Occurrences", "Calendar:DayOfWeek",
        "Calendar:DayOfMonth", "Calendar:WeekOfMonth", "Calendar:MonthOfYear", "Calendar:CalendarType", "Calendar:FirstDayOfWeek"]


def _leaf(tags):
    return st.builds(lambda t, v: E(t, v), st.sampled_from(tags), _VALUES)


_EXCEPTION = st.builds(lambda kids: E("Calendar:Exception", *kids),
                       st.lists(st.one_of(_leaf(_LEAVES + ["Calendar:ExceptionStartTime", "Calendar:Deleted"])), max_size=5))
_ITEM = st.lists(st.one_of(
    _leaf(_LEAVES),
    st.builds(lambda kids: E("Calendar:Recurrence", *kids), st.lists(_leaf(_REC), max_size=6)),
    st.builds(lambda kids: E("Calendar:Exceptions", *kids), st.lists(_EXCEPTION, max_size=3)),
), max_size=10)


@settings(max_examples=300, deadline=None)
@given(_ITEM)
def test_any_calendar_item_is_refused_cleanly_or_readable(children):
    from datetime import datetime, timezone

    try:
        nodes = tree.parse("Calendar", data(*children))
    except tree.ItemError:
        return
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    summarise("Calendar", nodes, now)
    busy_intervals(nodes, now, datetime(2026, 3, 1, tzinfo=timezone.utc))
    for version in ("12.1", "14.1", "16.1"):
        encode(tree.render("Calendar", nodes, tree.RenderOptions(version)))
    # The same item as an invitation: an iCalendar REQUEST, or a ValueError the sender logs.
    from easlab.eas.pim.ical import parse_calendar
    from easlab.eas.pim.ical_write import build_request
    from easlab.eas.pim.meeting import nodes_event

    stamp = datetime(2024, 1, 1, tzinfo=timezone.utc)  # the server clock build_request is given
    event = nodes_event(nodes, organizer_email="alice@easlab.test", organizer_name="Alice")
    try:
        ics = build_request(event, now=stamp)
    except ValueError:
        return
    assert parse_calendar(ics).events[0].uid == event.uid
