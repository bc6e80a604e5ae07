"""What a command handler returns; the server turns it into an HTTP response verbatim."""
from __future__ import annotations

from dataclasses import dataclass, field

from . import versions
from .wbxml import E, Element

WBXML_CONTENT_TYPE = "application/vnd.ms-sync.wbxml"

# MS-ASCMD 2.2.2: the HTTP status that stands for a common status code in 2.5-12.1.
LEGACY_HTTP_STATUS = {
    101: 400, 103: 400, 106: 400, 110: 500, 111: 503, 112: 403, 113: 507, 125: 403, 126: 403,
    132: 403, 137: 501, 138: 400, 140: 449, 141: 449, 142: 449, 143: 449, 144: 449, 147: 400,
}


@dataclass
class Response:
    status: int = 200
    body: Element | bytes | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds the server holds the answer (Exchange's tarpit for blocked devices)


def common_status(code: int, version: str, root_tag: str) -> Response:
    """A common status code (MS-ASCMD 2.2.2) as this protocol version carries it.

    14.0+: HTTP 200 with `<Root><Status>code</Status></Root>` in the command's own namespace.
    2.5-12.1: the HTTP status MS-ASCMD maps the code to (400 where it names none).
    """
    if versions.status_in_body(version):
        ns = root_tag.partition(":")[0]
        return Response(200, E(root_tag, E(f"{ns}:Status", code)))
    return Response(LEGACY_HTTP_STATUS.get(code, 400))
