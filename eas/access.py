"""A common status as Exchange encodes it for a protocol version (body status or bare HTTP status).

The access decision itself is eas.machines.access.
"""
from __future__ import annotations

from . import versions
from .response import Response
from .wbxml import E


def _body_known(code: int, version: str) -> bool:
    """Exchange sends a common status in the body only to versions that know it (digest §5.1)."""
    if not versions.at_least(version, "14.0"):
        return False
    if version == "14.0":
        return code <= 163
    if version == "14.1":
        return code <= 177
    return True


LEGACY_HTTP = {126: 403, 129: 403, 177: 403, 120: 500, 110: 500, 111: 503}


def refuse(code: int, version: str, root: str | None, headers: dict | None = None) -> Response:
    """A common status as Exchange encodes it for `version`: body status or bare HTTP status."""
    if root and _body_known(code, version):
        ns = root.partition(":")[0]
        return Response(200, E(root, E(f"{ns}:Status", code)), headers=dict(headers or {}))
    return Response(LEGACY_HTTP.get(code, 403), headers=dict(headers or {}))
