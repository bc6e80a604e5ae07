import pytest

from easlab.eas import commands
from easlab.eas.context import CommandContext
from easlab.eas.dispatch import dispatch
from easlab.eas.request import RequestLine
from easlab.eas.response import Response
from easlab.eas.status import encode as encode_status
from easlab.eas.wbxml import E, encode


@pytest.fixture
def echo_command():
    """(the request trees it saw, a registry of only it): a stand-in FolderSync."""
    seen = []

    async def handler(ctx, request):
        seen.append(request)
        return Response(200, E("FolderHierarchy:FolderSync", E("FolderHierarchy:Status", 1)))

    return seen, commands.Registry([commands.Command("FolderSync", handler, root="FolderHierarchy:FolderSync")])


class OpenGate:
    """The store interface as far as dispatch uses it: every request may run."""

    async def gate(self, ctx, command, request=None):
        from easlab.eas.machines.access import Gate

        return Gate(decision=None)


def ctx(registry, command="FolderSync", version="14.1"):
    return CommandContext(RequestLine(command, "dev1", "iPhone", version), "alice", "alice@easlab.test", store=OpenGate(),
                          clock=lambda: 0.0, commands=registry)


WBXML = "application/vnd.ms-sync.wbxml"


@pytest.mark.anyio
async def test_dispatch_decodes_and_calls_handler(echo_command):
    seen, registry = echo_command
    tree = E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0"))
    response = await dispatch(ctx(registry), encode(tree), WBXML)
    assert response.status == 200
    assert seen == [tree]


@pytest.mark.anyio
async def test_empty_body_reaches_handler_as_none(echo_command):
    seen, registry = echo_command
    await dispatch(ctx(registry), b"", None)
    assert seen == [None]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"garbage", WBXML),
        (b"\x03\x01\x6a\x00\x45", WBXML),  # truncated
        (encode(E("AirSync:Sync")), WBXML),  # another command's root
        (encode(E("FolderHierarchy:FolderSync")), "text/plain"),
    ],
)
async def test_bad_bodies_get_400(echo_command, body, content_type, caplog):
    seen, registry = echo_command
    response = await dispatch(ctx(registry), body, content_type)
    assert response.status == 400
    assert seen == []
    assert any("FolderSync" in r.getMessage() for r in caplog.records)


@pytest.mark.anyio
async def test_unknown_command_501(echo_command):
    _, registry = echo_command
    assert (await dispatch(ctx(registry, "Frobnicate"), b"", None)).status == 501
    assert (await dispatch(ctx(commands.Registry()), b"", None)).status == 501  # a command this server lacks


def test_command_version_window():
    async def h(ctx, req):
        return Response()

    cmd = commands.Command("GetAttachment", h, root=None, until="12.1", body="none")
    assert cmd.supports("2.5") and cmd.supports("12.1")
    assert not cmd.supports("14.0")
    find = commands.Command("Find", h, root="Find:Find", since="16.1")
    assert find.supports("16.1") and not find.supports("16.0")


def test_common_status_in_body_for_14_and_http_before():
    r = encode_status(142, "14.1", "FolderHierarchy:FolderSync")
    assert r.status == 200
    assert encode(r.body) == bytes.fromhex("03016a00 0007 56 4c 03 313432 00 01 01")
    assert encode_status(142, "12.1", "FolderHierarchy:FolderSync").status == 449
    assert encode_status(126, "12.1", "AirSync:Sync").status == 403
    assert encode_status(137, "2.5", "AirSync:Sync").status == 501
    # MS-ASCMD names no HTTP status for 177; Exchange's code answers 403 (access model §5.1).
    assert encode_status(177, "12.1", "AirSync:Sync").status == 403
