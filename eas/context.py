"""What a command handler knows about the request it serves."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .request import RequestLine


@dataclass
class CommandContext:
    request: RequestLine
    user: str  # the authenticated user's login name; requests act on this mailbox only
    address: str  # the user's SMTP address
    store: Any = None  # the server's implementation of the store interface the commands declare

    @property
    def version(self) -> str:
        return self.request.protocol_version
