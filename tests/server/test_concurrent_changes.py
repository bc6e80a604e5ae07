"""Two devices of one user change the same item at the same moment: every device converges on the
server's state, under both Conflict values (issue 13 point 4; MS-ASCMD 2.2.3.34 Conflict: 1 server
wins, the default, and the losing change is answered Status 7; 0 the client's change replaces the
server's).  "At the same moment": both Sync (or MoveItems) requests are in flight together
(asyncio.gather on the in-process app), on SQLite and on PostgreSQL."""
import asyncio
import itertools
from email.message import EmailMessage

import pytest

from easlab.eas.wbxml import E
from easlab.testing.aio import Device
from easlab.testing.device import Item, add, change, change_flag, change_read, delete
from tests.storage.conftest import database, pg_schema_url  # noqa: F401  (fixtures: SQLite and PostgreSQL)

pytestmark = pytest.mark.anyio
INBOX, DELETED, SENT, JUNK, CONTACTS = "1", "3", "4", "6", "8"
MAIL_FOLDERS = (INBOX, DELETED, SENT, JUNK)
M = "Move"


@pytest.fixture
def db(database):  # noqa: F811  (the app of tests/conftest.py over each engine)
    return database


def message(subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Bob <bob@example.net>", "alice@easlab.test", subject
    msg.set_content("Race me.\n")
    return msg.as_bytes()


def view(device: Device) -> dict[str, dict[str, tuple]]:
    """What a device holds: per folder, ServerId -> the properties the races touch."""
    out = {}
    for cid in (*MAIL_FOLDERS, CONTACTS):
        items = device.core.items(cid)
        if cid == CONTACTS:
            out[cid] = {sid: (data.text("Contacts:FirstName"),) for sid, data in items.items()}
        else:
            out[cid] = {sid: (Item(data).read, Item(data).flag_status or 0) for sid, data in items.items()}
    return out


async def catch_up(device: Device) -> None:
    for cid in (*MAIL_FOLDERS, CONTACTS):
        results = await device.sync_all(cid)
        assert all(r.status in (1, None) for r in results), (device.core.state.device_id, cid, results[-1])


async def setup(app, conflict: int) -> tuple[Device, Device, str, str]:
    """Alice's two phones holding one message and one contact; returns (a, b, message id, contact id)."""
    await app.state.store.deliver(message("race"), ["alice@easlab.test"])
    a, b = (Device(app, "alice", "secret", device_id=name) for name in ("racea", "raceb"))
    for dev in (a, b):
        await dev.folder_sync()
        for cid in (*MAIL_FOLDERS, CONTACTS):
            await dev.sync_all(cid, conflict=conflict)
    added = await a.sync(CONTACTS, commands=[add("c1", E("Contacts:FirstName", "Original"), E("Contacts:FileAs", "Original"))])
    [contact] = [r.server_id for r in added.collection(CONTACTS).responses if r.kind == "Add"]
    await b.sync_all(CONTACTS)
    [mail] = list(a.core.items(INBOX))
    return a, b, mail, contact


def action(kind: str, side: int, mail: str, contact: str):
    """What one phone sends for `kind`; the two sides want different outcomes."""
    if kind == "read":
        return INBOX, [change_read(mail, side == 0)]
    if kind == "flag":
        return INBOX, [change_flag(mail, 2 if side == 0 else 0)]
    if kind == "delete":
        return INBOX, [delete(mail)]
    if kind == "move":
        return "move", (mail, INBOX, JUNK if side == 0 else SENT)
    if kind == "pim":
        name = "Alpha" if side == 0 else "Beta"
        return CONTACTS, [change(contact, E("Contacts:FirstName", name), E("Contacts:FileAs", name))]
    if kind == "pim-delete":
        return CONTACTS, [delete(contact)]
    raise ValueError(kind)


async def send(device: Device, what) -> None:
    target, payload = what
    if target == "move":
        sid, src, dst = payload
        await device.command("MoveItems", E(f"{M}:MoveItems", E(f"{M}:Move", E(f"{M}:SrcMsgId", sid),
                                                                   E(f"{M}:SrcFldId", src), E(f"{M}:DstFldId", dst))))
    else:
        await device.sync(target, commands=payload)


MAIL = ("read", "flag", "move", "delete")
PAIRS = [*itertools.combinations_with_replacement(MAIL, 2), ("pim", "pim"), ("pim", "pim-delete"),
         ("pim-delete", "pim-delete")]


@pytest.mark.parametrize("conflict", [1, 0])
@pytest.mark.parametrize("pair", PAIRS, ids="-".join)
async def test_two_devices_racing_converge_on_the_servers_state(app, pair, conflict):
    a, b, mail, contact = await setup(app, conflict)
    try:
        await asyncio.gather(send(a, action(pair[0], 0, mail, contact)), send(b, action(pair[1], 1, mail, contact)))
        for dev in (a, b):
            await catch_up(dev)
        async with Device(app, "alice", "secret", device_id="referee") as server:  # a fresh phone: the server's state
            await server.folder_sync()
            await catch_up(server)
            assert view(a) == view(server)
            assert view(b) == view(server)
    finally:
        await a.aclose()
        await b.aclose()


@pytest.mark.parametrize("conflict, winner", [(1, "first"), (0, "second")])
async def test_the_losing_change_is_answered_status_7_under_server_wins(app, conflict, winner):
    """Sent one after the other over the same state: under Conflict 1 the later Change of a
    property the server changed since the device's last Sync is discarded with Status 7 and the
    server's value sent; under Conflict 0 it replaces the server's."""
    a, b, mail, _ = await setup(app, conflict)
    try:
        await a.sync(INBOX, commands=[change_read(mail, True)])
        late = await b.sync(INBOX, commands=[change_read(mail, False)])
        statuses = [r.status for r in late.collection(INBOX).responses if r.kind == "Change"]
        assert statuses == ([7] if conflict == 1 else [])
        for dev in (a, b):
            await catch_up(dev)
        expected = conflict == 1  # read, as the first device set it, or unread, as the second
        assert Item(a.core.items(INBOX)[mail]).read is expected
        assert Item(b.core.items(INBOX)[mail]).read is expected
    finally:
        await a.aclose()
        await b.aclose()
