"""The EAS endpoint in-process: authentication, OPTIONS, request-line and body errors."""
import logging

import pytest

from easlab.eas.commands import ADVERTISED_ORDER, foldersync
from easlab.eas.response import Response
from easlab.eas.wbxml import E, decode, encode
from tests.conftest import basic

pytestmark = pytest.mark.anyio
EAS = "/Microsoft-Server-ActiveSync"
Q = "?Cmd=FolderSync&User=alice&DeviceId=dev1&DeviceType=iPhone"
WBXML = {"Content-Type": "application/vnd.ms-sync.wbxml", "MS-ASProtocolVersion": "14.1"}


@pytest.fixture
def whoami(stand_in):
    """A stand-in FolderSync that answers with the authenticated user, to see whose mailbox a
    request acts on."""

    async def handler(ctx, request):
        return Response(200, E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", ctx.user)))

    stand_in("FolderSync", handler, "FolderHierarchy:FolderSync")


async def test_a_stand_in_stays_in_its_own_app(app, settings, db, stand_in):
    """Commands live in each app's registry: a stand-in put into one app is not another's."""
    from easlab.server.app import create_app

    async def handler(ctx, request):
        return Response(200)

    stand_in("FolderSync", handler, "FolderHierarchy:FolderSync")
    other = create_app(settings, db)
    assert app.state.commands["FolderSync"].handler is handler
    assert other.state.commands["FolderSync"] is foldersync.COMMANDS[0]


async def test_options_lists_versions_and_commands(client, whoami):
    r = await client.options(EAS, headers={"Authorization": basic("alice", "secret")})
    assert r.status_code == 200
    assert r.headers["MS-ASProtocolVersions"] == "2.5,12.0,12.1,14.0,14.1,16.0,16.1"
    unimplemented = ("CreateCollection", "DeleteCollection", "MoveCollection")
    assert r.headers["MS-ASProtocolCommands"] == ",".join(c for c in ADVERTISED_ORDER if c not in unimplemented)
    assert "FolderSync" in r.headers["MS-ASProtocolCommands"].split(",")
    assert "MS-Server-ActiveSync" in r.headers


async def test_options_needs_authentication(client):
    r = await client.options(EAS)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.parametrize("login", ["alice", "ALICE", "alice@easlab.test", "Alice@EASLAB.TEST", "easlab\\alice", "EASLAB.TEST\\Alice"])
async def test_three_login_forms_any_case(client, whoami, login):
    body = encode(E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0")))
    r = await client.post(EAS + Q, content=body, headers={**WBXML, "Authorization": basic(login, "secret")})
    assert r.status_code == 200
    assert decode(r.content).text("FolderHierarchy:SyncKey") == "alice"


@pytest.mark.req("MS-ASHTTP_R178", "MS-ASHTTP_R523")
@pytest.mark.parametrize(
    "authorization",
    [None, basic("alice", "wrong"), basic("alice@other.test", "secret"), basic("other\\alice", "secret"),
     basic("nobody", "secret"), "Bearer abc", "Basic !!!", basic("", "")],
)
async def test_bad_credentials_401(client, whoami, authorization):
    headers = dict(WBXML)
    if authorization:
        headers["Authorization"] = authorization
    r = await client.post(EAS + Q, content=b"", headers=headers)
    assert r.status_code == 401
    assert "WWW-Authenticate" in r.headers


async def test_user_parameter_never_selects_another_mailbox(client, whoami):
    body = encode(E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0")))
    q = "?Cmd=FolderSync&User=bob&DeviceId=dev1&DeviceType=iPhone"
    r = await client.post(EAS + q, content=body, headers={**WBXML, "Authorization": basic("alice", "secret")})
    assert decode(r.content).text("FolderHierarchy:SyncKey") == "alice"


async def test_password_change_takes_effect_despite_cache(client, whoami, db):
    from easlab.storage.users import set_password

    headers = {**WBXML, "Authorization": basic("alice", "secret")}
    assert (await client.post(EAS + Q, content=b"", headers=headers)).status_code == 200
    with db.session() as s:
        set_password(s, "alice", "new-secret")
    assert (await client.post(EAS + Q, content=b"", headers=headers)).status_code == 401


async def test_garbage_body_400_and_logged(client, whoami, caplog):
    caplog.set_level(logging.WARNING)
    r = await client.post(EAS + Q, content=b"\x03\x01\x6a\x00\x56\x99garbage", headers={**WBXML, "Authorization": basic("alice", "secret")})
    assert r.status_code == 400
    assert r.content == b""
    assert any("not valid WBXML" in rec.getMessage() for rec in caplog.records)


async def test_unsupported_version_400_with_versions_header(client, whoami):
    r = await client.post(EAS + Q, content=b"", headers={"MS-ASProtocolVersion": "13.0", "Authorization": basic("alice", "secret")})
    assert r.status_code == 400
    assert r.headers["MS-ASProtocolVersions"] == "2.5,12.0,12.1,14.0,14.1,16.0,16.1"


@pytest.mark.req("MS-ASHTTP_R186")
async def test_unknown_command_501(client):
    q = "?Cmd=Frobnicate&User=alice&DeviceId=dev1&DeviceType=iPhone"
    r = await client.post(EAS + q, content=b"", headers={**WBXML, "Authorization": basic("alice", "secret")})
    assert r.status_code == 501


@pytest.mark.req("MS-ASHTTP_R465")
async def test_get_is_not_part_of_the_protocol(client):
    r = await client.get(EAS, headers={"Authorization": basic("alice", "secret")})
    assert r.status_code == 501


@pytest.mark.parametrize("version, status, body", [("14.1", 200, b"110"), ("14.0", 200, b"110"), ("12.1", 500, None)])
async def test_handler_bug_is_common_status_110_without_traceback(client, caplog, stand_in, version, status, body):
    """What escapes a handler is MS-ASCMD's ServerError: in the body from 14.0, HTTP 500 before;
    one ERROR line names user, device and command, the traceback is at DEBUG only."""
    async def broken(ctx, request):
        raise RuntimeError("boom")

    stand_in("FolderSync", broken, "FolderHierarchy:FolderSync")
    caplog.set_level(logging.DEBUG, logger="easlab.http")
    r = await client.post(EAS + Q, content=b"", headers={**WBXML, "MS-ASProtocolVersion": version, "Authorization": basic("alice", "secret")})
    assert r.status_code == status
    if body is None:
        assert r.content == b""
    else:
        tree = decode(r.content)
        assert (tree.tag, tree.text("FolderHierarchy:Status")) == ("FolderHierarchy:FolderSync", body.decode())
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None
    assert errors[0].getMessage().startswith("alice dev1 FolderSync: RuntimeError: boom at ")
    assert [rec.exc_info[1] for rec in caplog.records if rec.levelno == logging.DEBUG and rec.exc_info][0].args == ("boom",)
