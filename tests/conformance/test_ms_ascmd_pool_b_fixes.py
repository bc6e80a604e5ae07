"""MS-ASCMD rules easlab broke until this pool: a Search with two Stores (answered, the first) or two
ConversationIds (refused), ItemOperations options their parent does not take (Status 2), the element
limits of Sync and GetItemEstimate (3.1.5.10) and that they can be configured, and the Body of an
S/MIME message sent as MIME (always Type, EstimatedDataSize, Truncated and Data)."""
from __future__ import annotations

import pytest

from easlab.eas.wbxml import E
from tests.server.eas_helpers import Raw, collection, message
from tests.server.items_helpers import deliver

pytestmark = pytest.mark.anyio
A, ASB, S, IO, GIE = "AirSync", "AirSyncBase", "Search", "ItemOperations", "GetItemEstimate"


def mailbox_store(*and_children, options=()):
    return E(f"{S}:Store", E(f"{S}:Name", "Mailbox"), E(f"{S}:Query", E(f"{S}:And", *and_children)),
             E(f"{S}:Options", E(f"{S}:Range", "0-9"), *options))


@pytest.mark.req("MS-ASCMD_R4535")
async def test_two_stores_are_no_protocol_error_the_first_is_answered(client, app):
    await deliver(app, message(subject="budget"), message(subject="holiday"))
    first = mailbox_store(E(f"{A}:CollectionId", "1"), E(f"{S}:FreeText", "budget"))
    second = mailbox_store(E(f"{A}:CollectionId", "1"), E(f"{S}:FreeText", "holiday"))
    resp = await Raw(client).call(S, E(f"{S}:Search", first, second))
    assert resp.text(f"{S}:Status") == "1"
    [store] = resp.find(f"{S}:Response").findall(f"{S}:Store")
    assert store.text(f"{S}:Status") == "1"
    assert [r.find(f"{S}:Properties").text("Email:Subject") for r in store.findall(f"{S}:Result")] == ["budget"]


@pytest.mark.req("MS-ASCMD_R5815")
async def test_two_conversation_ids_are_a_protocol_error(client, app):
    await deliver(app, message(subject="budget"))
    store = mailbox_store(E(f"{A}:CollectionId", "1"), E("Email2:ConversationId", b"0123456789abcdef"),
                          E("Email2:ConversationId", b"fedcba9876543210"))
    resp = await Raw(client).call(S, E(f"{S}:Search", store))
    assert resp == E(f"{S}:Search", E(f"{S}:Status", 1), E(f"{S}:Response", E(f"{S}:Store", E(f"{S}:Status", 2))))


@pytest.mark.req("MS-ASCMD_R3547")
@pytest.mark.parametrize("operation, option", [
    ("Fetch", E(f"{IO}:DeleteSubFolders")),
    ("Fetch", E(f"{IO}:MoveAlways")),
    ("EmptyFolderContents", E(f"{A}:MIMESupport", 1)),
    ("Move", E(f"{IO}:Range", "0-9")),
])
async def test_an_option_the_parent_does_not_take_is_status_2(client, app, operation, option):
    await deliver(app, message(subject="kept"))
    dev = Raw(client)
    key = collection(await dev.sync("0", "1")).text(f"{A}:SyncKey")
    [add] = collection(await dev.sync(key, "1")).find(f"{A}:Commands").findall(f"{A}:Add")
    sid = add.text(f"{A}:ServerId")
    ops = {
        "Fetch": E(f"{IO}:Fetch", E(f"{IO}:Store", "Mailbox"), E(f"{A}:CollectionId", "1"), E(f"{A}:ServerId", sid),
                   E(f"{IO}:Options", option)),
        "EmptyFolderContents": E(f"{IO}:EmptyFolderContents", E(f"{A}:CollectionId", "1"), E(f"{IO}:Options", option)),
        "Move": E(f"{IO}:Move", E(f"{IO}:ConversationId", b"0123456789abcdef"), E(f"{IO}:DstFldId", "3"),
                  E(f"{IO}:Options", option)),
    }
    resp = await dev.call(IO, E(f"{IO}:ItemOperations", ops[operation]))
    assert resp.text(f"{IO}:Status") == "1"
    [answer] = resp.find(f"{IO}:Response").children
    assert (answer.name, answer.text(f"{IO}:Status")) == (operation, "2")
    # Nothing was done: the mail is still in the Inbox.
    coll = collection(await Raw(client, device="check").sync(
        collection(await Raw(client, device="check").sync("0", "1")).text(f"{A}:SyncKey"), "1"))
    assert [c.text(f"{A}:ServerId") for c in coll.find(f"{A}:Commands").children] == [sid]


async def test_the_options_each_parent_takes_still_work(client, app):
    await deliver(app, message(subject="kept", text="kept text"))
    dev = Raw(client)
    key = collection(await dev.sync("0", "1")).text(f"{A}:SyncKey")
    [add] = collection(await dev.sync(key, "1")).find(f"{A}:Commands").findall(f"{A}:Add")
    resp = await dev.call(IO, E(f"{IO}:ItemOperations", E(f"{IO}:Fetch", E(f"{IO}:Store", "Mailbox"), E(f"{A}:CollectionId", "1"),
                                E(f"{A}:ServerId", add.text(f"{A}:ServerId")), E(f"{IO}:Options", E(f"{A}:MIMESupport", 0),
                                E(f"{ASB}:BodyPreference", E(f"{ASB}:Type", 1))))))
    [fetch] = resp.find(f"{IO}:Response").children
    assert fetch.text(f"{IO}:Status") == "1"
    assert fetch.find(f"{IO}:Properties").find(f"{ASB}:Body").text(f"{ASB}:Data") == "kept text\n"


# -- 3.1.5.10: element limits, Exchange's by default, others when configured ---------------------------
def deletes(n):
    return E(f"{A}:Commands", *[E(f"{A}:Delete", E(f"{A}:ServerId", f"1:{900000 + i}")) for i in range(n)])


@pytest.mark.req("MS-ASCMD_R5659", "MS-ASCMD_R5671")
async def test_a_sync_with_more_than_200_commands_is_status_4(client):
    dev = Raw(client)
    key = collection(await dev.sync("0", "1")).text(f"{A}:SyncKey")
    assert await dev.sync(key, "1", deletes(201)) == E(f"{A}:Sync", E(f"{A}:Status", 4))
    coll = collection(await dev.sync(key, "1", deletes(200)))
    assert coll.text(f"{A}:Status") == "1"
    assert len(coll.find(f"{A}:Responses").findall(f"{A}:Delete")) == 200  # each answered: not found


def estimate(n):
    return E(f"{GIE}:GetItemEstimate", E(f"{GIE}:Collections", *[
        E(f"{GIE}:Collection", E(f"{A}:SyncKey", "1"), E(f"{GIE}:CollectionId", "1")) for _ in range(n)]))


@pytest.mark.req("MS-ASCMD_R5647", "MS-ASCMD_R5671")
async def test_a_get_item_estimate_with_more_than_1000_collections_is_status_103(client):
    dev = Raw(client)
    await dev.sync("0", "1")
    assert await dev.call(GIE, estimate(1001)) == E(f"{GIE}:GetItemEstimate", E(f"{GIE}:Status", 103))
    assert len((await dev.call(GIE, estimate(1000))).findall(f"{GIE}:Response")) == 1000


@pytest.mark.req("MS-ASCMD_R5673")
async def test_the_limits_can_be_configured(settings, db, monkeypatch):
    import httpx

    from easlab.server.app import create_app
    from easlab.server.config import Settings
    from easlab.storage.users import add_user

    assert (Settings().max_sync_commands, Settings().max_estimate_collections) == (200, 1000)
    monkeypatch.setenv("EASLAB_MAX_SYNC_COMMANDS", "2")
    monkeypatch.setenv("EASLAB_MAX_ESTIMATE_COLLECTIONS", "3")
    configured = Settings.from_env()
    settings.max_sync_commands, settings.max_estimate_collections = configured.max_sync_commands, configured.max_estimate_collections
    with db.session() as session:
        add_user(session, "alice", "secret", "Alice Example")
    app = create_app(settings, db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        dev = Raw(http)
        key = collection(await dev.sync("0", "1")).text(f"{A}:SyncKey")
        assert await dev.sync(key, "1", deletes(3)) == E(f"{A}:Sync", E(f"{A}:Status", 4))
        assert collection(await dev.sync(key, "1", deletes(2))).text(f"{A}:Status") == "1"
        assert await dev.call(GIE, estimate(4)) == E(f"{GIE}:GetItemEstimate", E(f"{GIE}:Status", 103))
        assert len((await dev.call(GIE, estimate(3))).findall(f"{GIE}:Response")) == 3


# -- MIMESupport: an S/MIME message's Body (2.2.3.110.2, 2.2.3.110.3) ----------------------------------
SIGNED = (b'From: Bob <bob@example.net>\r\nTo: alice@easlab.test\r\nSubject: signed budget\r\nMIME-Version: 1.0\r\n'
          b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="b1"\r\n\r\n'
          b'--b1\r\nContent-Type: text/plain\r\n\r\nsigned text\r\n'
          b'--b1\r\nContent-Type: application/pkcs7-signature; name="smime.p7s"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
          b'MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwEAAA==\r\n--b1--\r\n')
MIME_OPTIONS = (E(f"{A}:MIMESupport", 1), E(f"{ASB}:BodyPreference", E(f"{ASB}:Type", 4)),
                E(f"{ASB}:BodyPreference", E(f"{ASB}:Type", 1)))


async def smime_body(client, app, command, mail):
    await deliver(app, mail)
    dev = Raw(client)
    if command == "Sync":
        key = collection(await dev.sync("0", "1", E(f"{A}:Options", *MIME_OPTIONS))).text(f"{A}:SyncKey")
        [add] = collection(await dev.sync(key, "1", E(f"{A}:Options", *MIME_OPTIONS))).find(f"{A}:Commands").findall(f"{A}:Add")
        return add.find(f"{A}:ApplicationData").find(f"{ASB}:Body")
    store = mailbox_store(E(f"{A}:CollectionId", "1"), E(f"{S}:FreeText", "budget"), options=MIME_OPTIONS)
    [result] = (await dev.call(S, E(f"{S}:Search", store))).find(f"{S}:Response").find(f"{S}:Store").findall(f"{S}:Result")
    return result.find(f"{S}:Properties").find(f"{ASB}:Body")


@pytest.mark.parametrize("command", [
    pytest.param("Sync", marks=pytest.mark.req("MS-ASCMD_R3408", "MS-ASCMD_R3409", "MS-ASCMD_R3410")),
    pytest.param("Search", marks=pytest.mark.req("MS-ASCMD_R3387", "MS-ASCMD_R3388")),
])
async def test_an_smime_message_is_a_whole_mime_blob_with_truncated_0(client, app, command):
    body = await smime_body(client, app, command, SIGNED)
    assert body == E(f"{ASB}:Body", E(f"{ASB}:Type", 4), E(f"{ASB}:EstimatedDataSize", len(SIGNED)),
                     E(f"{ASB}:Truncated", 0), E(f"{ASB}:Data", SIGNED))


@pytest.mark.parametrize("command", ["Sync", "Search"])
async def test_mime_support_1_sends_other_mail_as_text_without_truncated(client, app, command):
    body = await smime_body(client, app, command, message(subject="plain budget", text="plain text"))
    assert body.text(f"{ASB}:Type") == "1" and not body.has(f"{ASB}:Truncated")
