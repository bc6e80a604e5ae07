"""The command registry: one module per command lists its Command(s) in `COMMANDS`; a server
builds its Registry from a tuple of such modules (eas.commands.catalog.MODULES for all of them).

A handler is `async def handler(ctx: CommandContext, request: Element | bytes | None) -> Response`.
The request is the decoded WBXML root (already checked to be the command's own element), the raw
bytes for MIME bodies (SendMail and friends before 14.0), or None for an empty body.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType
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
    # The command's own status for a request it cannot read (a value that is not text, say),
    # answered as `<Root><Status>n</Status></Root>`; None: common status 103 InvalidXML.
    malformed: int | None = None

    def supports(self, version: str) -> bool:
        return versions.within(version, self.since, self.until)


class Registry:
    """The commands one server answers, by name.  Each app holds its own (app.state.commands,
    handed to dispatch in the CommandContext), so a test swaps a command in a copy (`replacing`)
    and never in a global."""

    def __init__(self, commands: Iterable[Command] = ()):
        self._by_name: dict[str, Command] = {}
        for command in commands:
            if command.name not in ADVERTISED_ORDER:
                raise ValueError(f"{command.name} is not an EAS command")
            self._by_name[command.name] = command

    @classmethod
    def of(cls, modules: Iterable[ModuleType]) -> Registry:
        """The commands the modules list in their `COMMANDS`; a later module's command wins."""
        return cls(command for module in modules for command in module.COMMANDS)

    def replacing(self, *commands: Command) -> Registry:
        """A copy with `commands` in place of the ones of the same name."""
        return Registry([*self._by_name.values(), *commands])

    def get(self, name: str) -> Command | None:
        return self._by_name.get(name)

    def __getitem__(self, name: str) -> Command:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def advertised(self) -> list[str]:
        """The implemented commands, for MS-ASProtocolCommands."""
        return [name for name in ADVERTISED_ORDER if name in self._by_name]
