"""What a command handler knows about the request it serves."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import limits
from .request import RequestLine

if TYPE_CHECKING:
    from .commands import Registry
    from .machines.access import Gate
    from .ports import Ports


@dataclass
class Limits:
    """Server-side bounds a command enforces; Exchange's defaults (MS-ASCMD 2.2.3.79, 3.1.5.10)."""

    heartbeat_min: int = 60
    heartbeat_max: int = 3540
    ping_max_folders: int = 300
    max_request_size: int = limits.MAX_REQUEST_SIZE  # eas/limits.py says why each is what it is
    decode_in_thread_size: int = limits.DECODE_IN_THREAD_SIZE
    max_itemoperations_size: int = limits.MAX_ITEMOPERATIONS_SIZE
    max_sync_size: int = limits.MAX_SYNC_SIZE
    max_sync_commands: int = limits.MAX_SYNC_COMMANDS
    max_estimate_collections: int = limits.MAX_ESTIMATE_COLLECTIONS


@dataclass
class CommandContext:
    request: RequestLine
    user: str  # the authenticated user's login name; requests act on this mailbox only
    address: str  # the user's SMTP address
    store: Ports  # the server's implementation of the ports the commands declare (eas/ports.py)
    # The server clock's monotonic seconds (Ping's heartbeat): required, so a test's ManualClock
    # governs every wait a command computes.
    clock: Callable[[], float]
    commands: Registry  # the server's commands: dispatch looks the request's up, FolderSync advertises them
    limits: Limits = field(default_factory=lambda: Limits())
    gate: Gate | None = None  # the access decision this request runs under
    # The server's `access` counter as read when the request came in (its gate decides from memory
    # under it); None: the store reads it itself.  Opaque to commands.
    generation: int | None = None

    def now(self) -> float:
        return self.clock()

    @property
    def restricted(self) -> bool:
        return bool(self.gate is not None and self.gate.restricted)

    @property
    def version(self) -> str:
        return self.request.protocol_version
