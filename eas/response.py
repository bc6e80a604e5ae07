"""What a command handler returns; the server turns it into an HTTP response verbatim."""
from __future__ import annotations

from dataclasses import dataclass, field

from .refusals import Requirement
from .wbxml import Element

WBXML_CONTENT_TYPE = "application/vnd.ms-sync.wbxml"


@dataclass
class Response:
    status: int = 200
    body: Element | bytes | list[bytes] | None = None  # a list: the pieces of an encoded answer
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds the server holds the answer (Exchange's tarpit for blocked devices)
    # The body carries bulk content (ItemOperations data): the server encodes it off the event loop,
    # so writing megabytes for one user does not hold up every other user's request.
    heavy: bool = False
    # The MS-AS requirement that made the server refuse the request (eas/refusals.py): the log
    # line and the device's trace name it.  Never on the wire.
    refused_by: Requirement | None = None

