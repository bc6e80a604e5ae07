"""The JSON API under /api: the admin center's operations for scripts, and the test tools
(faults, traces, waits).  The route table is server/api/ops.py `OPS`; /api/openapi.json is built
from it (server/api/openapi.py)."""
from __future__ import annotations

from .ops import OPS, authenticate, router
from .openapi import doc_path, document

__all__ = ["OPS", "authenticate", "doc_path", "document", "router"]
