"""What a command handler knows about the request it serves."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .request import RequestLine


@dataclass
class Limits:
    """Server-side bounds a command enforces; Exchange's defaults (MS-ASCMD 2.2.3.79, 3.1.5.10)."""

    heartbeat_min: int = 60
    heartbeat_max: int = 3540
    ping_max_folders: int = 300


@dataclass
class CommandContext:
    request: RequestLine
    user: str  # the authenticated user's login name; requests act on this mailbox only
    address: str  # the user's SMTP address
    store: Any = None  # the server's implementation of the store interface the commands declare
    limits: Limits = field(default_factory=lambda: Limits())
    gate: Any = None  # eas.machines.access.Gate: the access decision this request runs under

    clock: Any = None  # callable returning monotonic seconds; the test plugin swaps in its own

    def now(self) -> float:
        return (self.clock or time.monotonic)()

    @property
    def restricted(self) -> bool:
        return bool(self.gate is not None and self.gate.restricted)

    @property
    def version(self) -> str:
        return self.request.protocol_version
