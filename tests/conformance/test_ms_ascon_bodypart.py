"""MS-ASCON 3.2.5.7, the message part: airsyncbase:BodyPartPreference in Sync, ItemOperations and
Search asks for the new content of a message (its HTML before the quoted history), answered as
airsyncbase:BodyPart next to, or instead of, airsyncbase:Body."""
from __future__ import annotations

import pytest

from easlab.eas.body import BodyPreference
from easlab.eas.commands.sync import SyncOptions
from easlab.eas.wbxml import E
from tests.server.eas_helpers import collection, message
from tests.server.items_helpers import deliver, device

pytestmark = pytest.mark.anyio
A, IO, S = "AirSync", "ItemOperations", "Search"
B = "AirSyncBase"
NEW = "<p>Sounds good, see you at 10.</p>"
REPLY = ("<html><body>" + NEW + '<hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg" dir="ltr">'
         "<b>From:</b> Bob<br><b>Subject:</b> Lunch</div><div>Shall we meet tomorrow?</div></body></html>")
PART = "<html><body>" + NEW + "</body></html>"


def part_pref(t=2, size=None, preview=None):
    return E(f"{B}:BodyPartPreference", E(f"{B}:Type", t), E(f"{B}:TruncationSize", size) if size is not None else None,
             E(f"{B}:Preview", preview) if preview is not None else None)


def body_pref(t=2):
    return E(f"{B}:BodyPreference", E(f"{B}:Type", t))


def bodies(data):
    """The Body and BodyPart children of an ApplicationData or Properties element, by local name."""
    return {c.name: c for c in data.children if c.name in ("Body", "BodyPart")}


async def synced_data(dev, *prefs, options=True):
    """The ApplicationData of the one mail in the Inbox, Options carrying `prefs` (none: no Options)."""
    opts = (E(f"{A}:Options", *prefs),) if options else ()
    key = collection(await dev.sync("0", "1", *opts)).text(f"{A}:SyncKey")
    resp = await dev.sync(key, "1", E(f"{A}:GetChanges"), *opts)
    [add] = collection(resp).find(f"{A}:Commands").children
    return add.find(f"{A}:ApplicationData")


@pytest.mark.req("MS-ASCON_R38", "MS-ASCON_R234", "MS-ASCON_R247")
async def test_sync_body_part_preference_alone_answers_the_message_part_alone(client, app):
    await deliver(app, message(subject="RE: Lunch", html=REPLY))
    dev = device(client, "14.1")
    data = await synced_data(dev, part_pref())
    assert bodies(data) == {"BodyPart": E(f"{B}:BodyPart", E(f"{B}:Status", 1), E(f"{B}:Type", 2),
                                          E(f"{B}:EstimatedDataSize", len(PART)), E(f"{B}:Data", PART))}
    # The collection keeps the preference: a later Sync without Options still gets the part.
    await deliver(app, message(subject="RE: Dinner", html=REPLY))
    key = collection(await dev.sync("0", "1", E(f"{A}:Options", part_pref()))).text(f"{A}:SyncKey")
    resp = await dev.sync(key, "1")
    got = [c.find(f"{A}:ApplicationData") for c in collection(resp).find(f"{A}:Commands").children]
    assert [sorted(bodies(d)) for d in got] == [["BodyPart"], ["BodyPart"]]
    assert {d.find(f"{B}:BodyPart").text(f"{B}:Data") for d in got} == {PART}


@pytest.mark.req("MS-ASCON_R243", "MS-ASCON_R248")
async def test_sync_both_preferences_answer_body_and_body_part(client, app):
    await deliver(app, message(subject="RE: Lunch", html=REPLY))
    data = await synced_data(device(client, "14.1"), body_pref(2), part_pref())
    found = bodies(data)
    assert sorted(found) == ["Body", "BodyPart"]
    assert found["Body"].text(f"{B}:Data") == REPLY + "\n"  # the whole message, history and all (MIME ends the part with a newline)
    assert found["BodyPart"].text(f"{B}:Data") == PART
    # BodyPart follows Body in the ApplicationData.
    names = [c.name for c in data.children]
    assert names.index("BodyPart") == names.index("Body") + 1


@pytest.mark.req("MS-ASCON_R245", "MS-ASCON_R246", "MS-ASCON_R237")
async def test_sync_without_body_part_preference_answers_body_only(client, app):
    await deliver(app, message(subject="RE: Lunch", html=REPLY))
    only_body = await synced_data(device(client, "14.1", name="a"), body_pref(2))
    assert sorted(bodies(only_body)) == ["Body"] and only_body.find(f"{B}:Body").text(f"{B}:Data") == REPLY + "\n"
    neither = await synced_data(device(client, "14.1", name="b"), options=False)
    assert sorted(bodies(neither)) == ["Body"]
    assert not any(e.name == "BodyPart" for e in neither.iter())
    # The absence is the request's: the same mail asked for its part has one.
    asked = await synced_data(device(client, "14.1", name="c"), body_pref(2), part_pref())
    assert sorted(bodies(asked)) == ["Body", "BodyPart"]


def test_sync_options_keep_the_body_part_preference_and_old_rows_read_the_same():
    opts = SyncOptions(body_preferences=[BodyPreference(type=2)], body_part_preference=BodyPreference(type=2, truncation_size=9))
    assert SyncOptions.from_dict(opts.to_dict()) == opts
    assert "body_part_preference" not in SyncOptions().to_dict()  # stored rows stay as they were
    assert SyncOptions.from_dict(SyncOptions().to_dict()).body_part_preference is None


@pytest.mark.req("MS-ASCON_R239", "MS-ASCON_R240")
async def test_a_message_part_longer_than_truncation_size_is_truncated(client, app):
    text = "Agreed.\n\n-----Original Message-----\nFrom: Bob\nCan you send the numbers?"
    await deliver(app, message(subject="RE: Numbers", text=text))  # plain text: its part is HTML too
    data = await synced_data(device(client, "14.1"), part_pref(size=20, preview=7))
    whole = "<html><body><pre>Agreed.\n\n</body></html>"  # cut before the separator, the document closed
    assert data.find(f"{B}:BodyPart") == E(f"{B}:BodyPart", E(f"{B}:Status", 1), E(f"{B}:Type", 2),
                                           E(f"{B}:EstimatedDataSize", len(whole)), E(f"{B}:Truncated", 1),
                                           E(f"{B}:Data", whole[:20]), E(f"{B}:Preview", "Agreed."))
    # Within the size nothing is cut, and Truncated is left out.
    data = await synced_data(device(client, "14.1", name="b"), part_pref(size=len(whole)))
    part = data.find(f"{B}:BodyPart")
    assert part.text(f"{B}:Data") == whole and not part.has(f"{B}:Truncated")


def fetch_item(sid, *prefs):
    return E(f"{IO}:ItemOperations", E(f"{IO}:Fetch", E(f"{IO}:Store", "Mailbox"), E(f"{A}:CollectionId", "1"),
                                       E(f"{A}:ServerId", sid), E(f"{IO}:Options", *prefs) if prefs else None))


async def inbox_server_id(dev):
    key = collection(await dev.sync("0", "1")).text(f"{A}:SyncKey")
    [add] = collection(await dev.sync(key, "1")).find(f"{A}:Commands").children
    return add.text(f"{A}:ServerId")


@pytest.mark.req("MS-ASCON_R39", "MS-ASCON_R236", "MS-ASCON_R340")
async def test_itemoperations_fetch_answers_body_part_when_asked(client, app):
    await deliver(app, message(subject="RE: Lunch", html=REPLY))
    dev = device(client, "14.1")
    sid = await inbox_server_id(dev)
    [op] = (await dev.call(IO, fetch_item(sid, part_pref()))).find(f"{IO}:Response").children
    assert op.text(f"{IO}:Status") == "1"
    assert bodies(op.find(f"{IO}:Properties")) == {"BodyPart": E(f"{B}:BodyPart", E(f"{B}:Status", 1), E(f"{B}:Type", 2),
                                                                 E(f"{B}:EstimatedDataSize", len(PART)), E(f"{B}:Data", PART))}
    for prefs in ((body_pref(2),), ()):
        [op] = (await dev.call(IO, fetch_item(sid, *prefs))).find(f"{IO}:Response").children
        assert sorted(bodies(op.find(f"{IO}:Properties"))) == ["Body"]


def search(*prefs):
    return E(f"{S}:Search", E(f"{S}:Store", E(f"{S}:Name", "Mailbox"),
                              E(f"{S}:Query", E(f"{S}:And", E(f"{S}:FreeText", "lunch"))),
                              E(f"{S}:Options", *prefs) if prefs else None))


@pytest.mark.req("MS-ASCON_R40", "MS-ASCON_R235", "MS-ASCON_R339")
async def test_search_answers_body_part_when_asked(client, app):
    await deliver(app, message(subject="RE: Lunch", html=REPLY))
    dev = device(client, "14.1")
    store = (await dev.call(S, search(body_pref(2), part_pref()))).find(f"{S}:Response").find(f"{S}:Store")
    assert store.text(f"{S}:Status") == "1"
    found = bodies(store.find(f"{S}:Result").find(f"{S}:Properties"))
    assert sorted(found) == ["Body", "BodyPart"] and found["BodyPart"].text(f"{B}:Data") == PART
    for prefs in ((body_pref(2),), ()):
        store = (await dev.call(S, search(*prefs))).find(f"{S}:Response").find(f"{S}:Store")
        assert sorted(bodies(store.find(f"{S}:Result").find(f"{S}:Properties"))) == ["Body"]


@pytest.mark.req("MS-ASCON_R241")
@pytest.mark.parametrize("ptype", [1, 3, 4])
async def test_a_body_part_type_other_than_html_answers_164(client, app, ptype):
    await deliver(app, message(subject="RE: Lunch", html=REPLY))
    dev = device(client, "14.1")
    sid = await inbox_server_id(dev)
    resp = await dev.sync("0", "1", E(f"{A}:Options", part_pref(ptype)))
    assert resp == E(f"{A}:Sync", E(f"{A}:Status", 164))
    [op] = (await dev.call(IO, fetch_item(sid, part_pref(ptype)))).find(f"{IO}:Response").children
    assert op.text(f"{IO}:Status") == "164" and not op.has(f"{IO}:Properties")
    store = (await dev.call(S, search(part_pref(ptype)))).find(f"{S}:Response").find(f"{S}:Store")
    assert store == E(f"{S}:Store", E(f"{S}:Status", 164))
