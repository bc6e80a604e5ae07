"""The command registry: one module per command registers its handler here.

A handler is `async def handler(ctx: CommandContext, request: Element | bytes | None) -> Response`.
The request is the decoded WBXML root (already checked to be the command's own element), the raw
bytes for MIME bodies (SendMail and friends before 14.0), or None for an empty body.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .. import versions

if TYPE_CHECKING:
    from ..context import CommandContext
    from ..response import Response
    from ..wbxml import Element

# The request is `Element | bytes | None` as the command's `body` kind says: a WBXML command's
# handler takes `Element | None`, so the parameter cannot be typed once for every handler.
Handler = Callable[["CommandContext", Any], Awaitable["Response"]]

# MS-ASHTTP's order for MS-ASProtocolCommands; OPTIONS lists the implemented ones in this order.
ADVERTISED_ORDER = (
    "Sync", "SendMail", "SmartForward", "SmartReply", "GetAttachment", "GetHierarchy",
    "CreateCollection", "DeleteCollection", "MoveCollection", "FolderSync", "FolderCreate",
    "FolderDelete", "FolderUpdate", "MoveItems", "GetItemEstimate", "MeetingResponse", "Search",
    "Settings", "Ping", "ItemOperations", "Provision", "ResolveRecipients", "ValidateCert", "Find",
)


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    root: str | None  # the request's root tag; None for commands without a WBXML body
    since: str = "2.5"
    until: str | None = None
    body: Literal["wbxml", "mime", "none"] = "wbxml"

    def supports(self, version: str) -> bool:
        return versions.within(version, self.since, self.until)


REGISTRY: dict[str, Command] = {}


def register(command: Command) -> Command:
    if command.name not in ADVERTISED_ORDER:
        raise ValueError(f"{command.name} is not an EAS command")
    REGISTRY[command.name] = command
    return command


def advertised() -> list[str]:
    """The implemented commands, for MS-ASProtocolCommands."""
    return [name for name in ADVERTISED_ORDER if name in REGISTRY]


def load_all() -> None:
    """Import every command module so it registers itself."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
