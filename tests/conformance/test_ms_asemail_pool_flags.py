"""MS-ASEMAIL: what a device may change on a message with Sync Change (Read, Flag) and what it may
not (server-set elements, flags without the properties their action needs, dates out of order).
Every refusal is the item's Status 6 and leaves the message as it was in the database."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlmodel import select

from easlab.eas.wbxml import E
from easlab.server.store.meeting import itip_mime
from easlab.storage.models import Item
from tests.conformance.test_ms_asemail import VECTORS, addressed, first_add
from tests.server.eas_helpers import Raw, collection
from tests.server.items_helpers import deliver

pytestmark = pytest.mark.anyio
A = "AirSync"
S, D = "2025-01-05T00:00:00.000Z", "2025-01-10T00:00:00.000Z"
FOLLOW_UP = E("Email:FlagType", "Flag for follow up")


def flag(*children):
    return E("Email:Flag", *children)


def dates(start=S, due=D, utc_start=S, utc_due=D):
    return (E("Tasks:StartDate", start), E("Tasks:UtcStartDate", utc_start), E("Tasks:DueDate", due),
            E("Tasks:UtcDueDate", utc_due))


def row(db, server_id):
    with db.session() as s:
        item = s.exec(select(Item).where(Item.server_id == server_id)).one()
        return item.read, item.flag_status, item.flag_type


async def changes(dev, key, sid, *datas):
    """One Sync with a Change per ApplicationData; returns (key, [Status of each Change response or None])."""
    cmds = [E(f"{A}:Change", E(f"{A}:ServerId", sid), E(f"{A}:ApplicationData", *d)) for d in datas]
    resp = await dev.sync(key, "1", E(f"{A}:Commands", *cmds))
    responses = collection(resp).find(f"{A}:Responses")
    statuses = [r.text(f"{A}:Status") for r in responses.children] if responses is not None else []
    return collection(resp).text(f"{A}:SyncKey"), statuses


async def flagged_message(client, app, db):
    """A message the device has flagged for follow up and read."""
    await deliver(app, addressed())
    dev = Raw(client, device_type="WP", version="16.1")
    key, sid, _ = await first_add(dev)
    key, statuses = await changes(dev, key, sid, (E("Email:Read", 1), flag(E("Email:Status", 2), FOLLOW_UP)))
    assert statuses == [] and row(db, sid) == (True, 2, "Flag for follow up")
    return dev, key, sid


# Each case: the ApplicationData of a Change the server must refuse with Status 6.
REFUSED = [
    ("Read not a boolean", (E("Email:Read", "yes"),)),
    ("ReceivedAsBcc", (E("Email2:ReceivedAsBcc", 1),)),
    ("Sender", (E("Email2:Sender", "mallory@example.net"),)),
    ("UmCallerID", (E("Email2:UmCallerID", "+15555550100"),)),
    ("UmUserNotes", (E("Email2:UmUserNotes", "call back"),)),
    ("ConversationId", (E("Email2:ConversationId", "AAAA"),)),
    ("flag Status 3", (flag(E("Email:Status", 3), FOLLOW_UP),)),
    ("DueDate before StartDate", (flag(E("Email:Status", 2), FOLLOW_UP, *dates(start=D, due=S)),)),
    ("UtcDueDate before UtcStartDate", (flag(E("Email:Status", 2), FOLLOW_UP, *dates(utc_start=D, utc_due=S)),)),
    ("two of four dates", (flag(E("Email:Status", 2), FOLLOW_UP, E("Tasks:StartDate", S), E("Tasks:DueDate", D)),)),
    ("ReminderSet without ReminderTime", (flag(E("Email:Status", 2), FOLLOW_UP, *dates(), E("Tasks:ReminderSet", 1)),)),
    ("complete without CompleteTime", (flag(E("Email:Status", 1), E("Tasks:DateCompleted", S)),)),
    ("complete without DateCompleted", (flag(E("Email:Status", 1), E("Email:CompleteTime", S)),)),
    ("flag without FlagType", (flag(E("Email:Status", 2)),)),
]


@pytest.mark.req("MS-ASEMAIL_R643", "MS-ASEMAIL_R648", "MS-ASEMAIL_R722", "MS-ASEMAIL_R723", "MS-ASEMAIL_R817",
                 "MS-ASEMAIL_R835", "MS-ASEMAIL_R347", "MS-ASEMAIL_R757", "MS-ASEMAIL_R406", "MS-ASEMAIL_R407",
                 "MS-ASEMAIL_R738", "MS-ASEMAIL_R739", "MS-ASEMAIL_R741", "MS-ASEMAIL_R850", "MS-ASEMAIL_R851",
                 "MS-ASEMAIL_R861", "MS-ASEMAIL_R862", "MS-ASEMAIL_R409", "MS-ASEMAIL_R853", "MS-ASEMAIL_R864",
                 "MS-ASEMAIL_R702", "MS-ASEMAIL_R334", "MS-ASEMAIL_R87", "MS-ASEMAIL_R92")
async def test_changes_that_break_a_rule_are_status_6_and_change_nothing(client, app, db):
    dev, key, sid = await flagged_message(client, app, db)
    key, statuses = await changes(dev, key, sid, *(data for _, data in REFUSED))
    assert list(zip([name for name, _ in REFUSED], statuses)) == [(name, "6") for name, _ in REFUSED]
    assert row(db, sid) == (True, 2, "Flag for follow up")
    # The same properties set as the rules allow are taken.
    key, statuses = await changes(dev, key, sid, (E("Email:Read", 0),),
                                  (flag(E("Email:Status", 2), E("Email:FlagType", "Call"), *dates(), E("Tasks:ReminderSet", 1),
                                        E("Tasks:ReminderTime", S)),))
    assert statuses == [] and row(db, sid) == (False, 2, "Call")
    key, statuses = await changes(dev, key, sid, (flag(E("Email:Status", 1), E("Email:CompleteTime", D),
                                                       E("Tasks:DateCompleted", D)),))
    assert statuses == [] and row(db, sid) == (False, 1, "")


@pytest.mark.req("MS-ASEMAIL_R89")
async def test_status_0_clears_the_flag(client, app, db):
    dev, key, sid = await flagged_message(client, app, db)
    key, statuses = await changes(dev, key, sid, (flag(E("Email:Status", 0)),))
    assert statuses == [] and row(db, sid) == (True, 0, "")


@pytest.mark.req("MS-ASEMAIL_R8900")
async def test_an_empty_flag_clears_it(client, app, db):
    dev, key, sid = await flagged_message(client, app, db)
    key, statuses = await changes(dev, key, sid, (flag(),))
    assert statuses == [] and row(db, sid) == (True, 0, "")


@pytest.mark.req("MS-ASEMAIL_R91")
async def test_a_flag_update_carries_only_what_changed(client, app, db):
    dev, key, sid = await flagged_message(client, app, db)
    key, statuses = await changes(dev, key, sid, (flag(E("Email:FlagType", "Reply")),))
    assert statuses == [] and row(db, sid) == (True, 2, "Reply")


# A property sent twice is no protocol error (Exchange 2007 SP1 and later): the flag is set.
TWICE = [
    pytest.param((*dates(), E("Tasks:DueDate", D)), marks=pytest.mark.req("MS-ASEMAIL_R581"), id="DueDate"),
    pytest.param((E("Tasks:OrdinalDate", S), E("Tasks:OrdinalDate", D)), marks=pytest.mark.req("MS-ASEMAIL_R634"), id="OrdinalDate"),
    pytest.param((*dates(), E("Tasks:ReminderSet", 0), E("Tasks:ReminderSet", 0)), marks=pytest.mark.req("MS-ASEMAIL_R697"),
                 id="ReminderSet"),
    pytest.param((*dates(), E("Tasks:ReminderSet", 1), E("Tasks:ReminderTime", S), E("Tasks:ReminderTime", D)),
                 marks=pytest.mark.req("MS-ASEMAIL_R706"), id="ReminderTime"),
    pytest.param((*dates(), E("Tasks:StartDate", S)), marks=pytest.mark.req("MS-ASEMAIL_R746"), id="StartDate"),
    pytest.param((E("Email:Status", 2),), marks=pytest.mark.req("MS-ASEMAIL_R761"), id="Status"),
    pytest.param((E("Tasks:SubOrdinalDate", "b"), E("Tasks:SubOrdinalDate", "c")), marks=pytest.mark.req("MS-ASEMAIL_R777"),
                 id="SubOrdinalDate"),
    pytest.param((*dates(), E("Tasks:UtcDueDate", D)), marks=pytest.mark.req("MS-ASEMAIL_R858"), id="UtcDueDate"),
    pytest.param((*dates(), E("Tasks:UtcStartDate", S)), marks=pytest.mark.req("MS-ASEMAIL_R869"), id="UtcStartDate"),
    pytest.param((E("Tasks:OrdinalDate", S), E("Tasks:SubOrdinalDate", "any text at all: 5 ünïcode")),
                 marks=pytest.mark.req("MS-ASEMAIL_R1007"), id="SubOrdinalDate-any-string"),
]


@pytest.mark.parametrize("more", TWICE)
async def test_a_property_twice_is_no_error(client, app, db, more):
    await deliver(app, addressed())
    dev = Raw(client, device_type="WP", version="16.1")
    key, sid, _ = await first_add(dev)
    key, statuses = await changes(dev, key, sid, (flag(E("Email:Status", 2), E("Email:FlagType", "Review"), *more),))
    assert statuses == [] and row(db, sid) == (False, 2, "Review")


@pytest.mark.req("MS-ASEMAIL_R470", "MS-ASEMAIL_R1058")
async def test_meeting_mail_is_flagged_without_a_flag_type(client, app, db):
    ics = (VECTORS / "outlook_weekly_request.ics").read_bytes()
    when = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    await deliver(app, itip_mime('"Anna" <anna@contoso.com>', ["alice@easlab.test"], "request", "agenda", ics, "REQUEST", when))
    reply = ics.replace(b"METHOD:REQUEST", b"METHOD:REPLY")
    await deliver(app, itip_mime('"Anna" <anna@contoso.com>', ["alice@easlab.test"], "reply", "accepted", reply, "REPLY", when))
    await deliver(app, addressed())
    dev = Raw(client, device_type="WP", version="16.1")
    key = collection(await dev.sync("0")).text(f"{A}:SyncKey")
    resp = await dev.sync(key, "1", E(f"{A}:WindowSize", 10))
    key = collection(resp).text(f"{A}:SyncKey")
    sids = {a.find(f"{A}:ApplicationData").text("Email:Subject"): a.text(f"{A}:ServerId")
            for a in collection(resp).find(f"{A}:Commands").findall(f"{A}:Add")}
    bare = (flag(E("Email:Status", 2)),)
    key, statuses = await changes(dev, key, sids["request"], bare)
    assert statuses == [] and row(db, sids["request"]) == (False, 2, "")
    key, statuses = await changes(dev, key, sids["reply"], bare)
    assert statuses == [] and row(db, sids["reply"]) == (False, 2, "")
    key, statuses = await changes(dev, key, sids["Addresses"], bare)  # plain mail needs its FlagType
    assert statuses == ["6"] and row(db, sids["Addresses"]) == (False, 0, "")
