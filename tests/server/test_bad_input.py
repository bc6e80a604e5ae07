"""Bad input gets the command's protocol status, never a 500: values that are not text, a
MeetingResponse body type that is not a number, an answer the encoder cannot write, a mail with
NUL characters, and clients that leave in the middle (logged at DEBUG only)."""
import base64
import logging

import pytest

from easlab.eas.response import Response
from easlab.eas.wbxml import E, decode, encode
from tests.server.eas_helpers import EAS, Raw

pytestmark = pytest.mark.anyio
NOT_TEXT = b"\x00\xff"  # OPAQUE where a string belongs: a NUL, and not UTF-8


def _requests(bad):
    """(command, request with `bad` as one string value, the root and Status the answer carries)."""
    return [
        ("Sync", E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection", E("AirSync:SyncKey", "0"),
                                                                 E("AirSync:CollectionId", bad)))), "AirSync:Sync", "4"),
        ("GetItemEstimate", E("GetItemEstimate:GetItemEstimate", E("GetItemEstimate:Collections", E(
            "GetItemEstimate:Collection", E("AirSync:SyncKey", "1"), E("GetItemEstimate:CollectionId", bad)))),
         "GetItemEstimate:GetItemEstimate", "2"),
        ("MoveItems", E("Move:MoveItems", E("Move:Move", E("Move:SrcMsgId", bad), E("Move:SrcFldId", "1"), E("Move:DstFldId", "2"))),
         "Move:MoveItems", "103"),
        ("MeetingResponse", E("MeetingResponse:MeetingResponse", E("MeetingResponse:Request", E("MeetingResponse:UserResponse", "1"),
                              E("MeetingResponse:CollectionId", "1"), E("MeetingResponse:RequestId", bad))),
         "MeetingResponse:MeetingResponse", "103"),
        ("ItemOperations", E("ItemOperations:ItemOperations", E("ItemOperations:Fetch", E("ItemOperations:Store", "Mailbox"),
                             E("AirSync:CollectionId", "1"), E("AirSync:ServerId", bad))), "ItemOperations:ItemOperations", "2"),
        ("ResolveRecipients", E("ResolveRecipients:ResolveRecipients", E("ResolveRecipients:To", bad)),
         "ResolveRecipients:ResolveRecipients", "5"),
        ("Provision", E("Provision:Provision", E("Provision:Policies", E("Provision:Policy", E("Provision:PolicyType", bad)))),
         "Provision:Provision", "2"),
    ]


@pytest.mark.parametrize("version", ["14.1", "16.1"])
@pytest.mark.parametrize("case", range(7), ids=[c[0] for c in _requests(b"")])
async def test_a_value_that_is_not_text_gets_the_commands_protocol_status(client, version, case, caplog):
    command, tree, root, status = _requests(NOT_TEXT)[case]
    dev = Raw(client, version=version)
    await dev.folder_sync()
    r = await dev.post(command, tree)
    assert r.status_code == 200
    answer = decode(r.content)
    assert (answer.tag, answer.text(f"{root.partition(':')[0]}:Status")) == (root, status)
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]


@pytest.mark.parametrize("bad", [b"\x00", b"\xff\xfe", b"a\x00b"])
async def test_every_kind_of_non_text_is_refused(client, bad):
    dev = Raw(client)
    await dev.folder_sync()
    answer = await dev.call(*_requests(bad)[0][:2])
    assert answer == E("AirSync:Sync", E("AirSync:Status", 4))


async def test_text_sent_as_opaque_is_still_read(client):
    """OPAQUE that is UTF-8 without a NUL is a string some clients send that way: unchanged."""
    dev = Raw(client)
    await dev.folder_sync()
    answer = await dev.call(*_requests(b"1")[0][:2])
    collection = answer.find("AirSync:Collections").find("AirSync:Collection")
    assert (collection.text("AirSync:CollectionId"), collection.text("AirSync:Status")) == ("1", "1")


@pytest.mark.parametrize("kind, expect", [("x", "103"), ("2", "1")])
async def test_meeting_response_body_type_that_is_not_a_number_is_invalid_xml(client, kind, expect):
    dev = Raw(client, version="16.1")
    await dev.folder_sync()
    tree = E("MeetingResponse:MeetingResponse", E("MeetingResponse:Request", E("MeetingResponse:UserResponse", "1"),
             E("MeetingResponse:CollectionId", "1"), E("MeetingResponse:RequestId", "1:424242"),
             E("MeetingResponse:SendResponse", E("AirSyncBase:Body", E("AirSyncBase:Type", kind), E("AirSyncBase:Data", "hi")))))
    answer = await dev.call("MeetingResponse", tree)
    if expect == "103":
        assert answer == E("MeetingResponse:MeetingResponse", E("MeetingResponse:Status", 103))
    else:  # a number: read as before, and the unknown request is answered per Result
        assert answer == E("MeetingResponse:MeetingResponse", E("MeetingResponse:Result",
                           E("MeetingResponse:RequestId", "1:424242"), E("MeetingResponse:Status", 2)))


@pytest.mark.parametrize("version, status, body", [("16.1", 200, "110"), ("12.1", 500, None)])
async def test_an_answer_the_encoder_cannot_write_is_server_error(client, stand_in, caplog, version, status, body):
    async def echoes_nul(ctx, request):
        return Response(200, E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "a\x00b")))

    stand_in("FolderSync", echoes_nul, "FolderHierarchy:FolderSync")
    r = await Raw(client, version=version).post("FolderSync", E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0")))
    assert r.status_code == status
    if body is None:
        assert r.content == b""
    else:
        assert decode(r.content) == E("FolderHierarchy:FolderSync", E("FolderHierarchy:Status", 110))
    [error] = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert error.getMessage().startswith("alice dev1 FolderSync: WBXMLError: <FolderHierarchy:SyncKey> string contains NUL")


# -- clients that leave --------------------------------------------------------------------------
def _scope(body_length: int) -> dict:
    auth = "Basic " + base64.b64encode(b"alice:secret").decode()
    headers = {"authorization": auth, "ms-asprotocolversion": "14.1", "content-type": "application/vnd.ms-sync.wbxml",
               "content-length": str(body_length)}
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": EAS, "raw_path": EAS.encode(), "root_path": "",
            "query_string": b"Cmd=FolderSync&User=alice&DeviceId=dev1&DeviceType=iPhone",
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()], "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80)}


async def test_a_client_that_leaves_mid_body_is_logged_at_debug(app, caplog):
    caplog.set_level(logging.DEBUG)
    messages = [{"type": "http.request", "body": b"\x03\x01j\x00", "more_body": True}, {"type": "http.disconnect"}]
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    await app(_scope(100), receive, send)  # nothing escapes the app
    assert not [rec for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert "alice dev1 FolderSync: the client left in the middle of its body" in [rec.getMessage() for rec in caplog.records]


async def test_a_client_that_leaves_before_the_answer_is_logged_at_debug(app, caplog):
    caplog.set_level(logging.DEBUG)
    body = encode(E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0")))
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        raise OSError("the connection is closed")  # what a server's send does once the peer is gone

    await app(_scope(len(body)), receive, send)
    assert not [rec for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert any("the client left before the answer (OSError)" in rec.getMessage() for rec in caplog.records)


async def test_a_mail_with_nul_characters_syncs_without_them(client, app):
    """An SMTP sender is a client too: a NUL in a header, a body or a file name is dropped when
    the mail is stored, or every Sync of the Inbox would fail on it."""
    raw = (b"From: x@example.net\r\nTo: alice@easlab.test\r\nSubject: a\x00b\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
           b"--B\r\nContent-Type: text/plain\r\n\r\nx\x00y\r\n--B\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Disposition: attachment; filename=\"n\x00.txt\"\r\n\r\nabc\r\n--B--\r\n")
    await app.state.store.deliver(raw, ["alice@easlab.test"])
    dev = Raw(client, version="16.1")
    await dev.folder_sync()
    key = (await dev.sync("0")).find("AirSync:Collections").find("AirSync:Collection").text("AirSync:SyncKey")
    answer = await dev.sync(key, "1", E("AirSync:Options", E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", "1"))))
    data = answer.find("AirSync:Collections").find("AirSync:Collection").find("AirSync:Commands").find("AirSync:Add").find(
        "AirSync:ApplicationData")
    assert data.text("Email:Subject") == "ab"
    assert data.find("AirSyncBase:Body").text("AirSyncBase:Data") == "xy"
    assert data.find("AirSyncBase:Attachments").find("AirSyncBase:Attachment").text("AirSyncBase:DisplayName") == "n.txt"
