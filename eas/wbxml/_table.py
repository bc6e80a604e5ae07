"""The shape of a code-page table entry; the table itself is `codepages.py`."""
from __future__ import annotations

from dataclasses import dataclass

# Protocol versions in the order they shipped; a token's `since`/`until` index into this.
from ..versions import SUPPORTED as VERSIONS


@dataclass(frozen=True, slots=True)
class Tag:
    token: int
    name: str
    since: str | None = None
    until: str | None = None
    legacy: bool = False

    def valid_in(self, version: str) -> bool:
        """Whether MS-ASWBXML lists this token for `version` (legacy tokens: always)."""
        i = VERSIONS.index(version)
        lo = VERSIONS.index(self.since) if self.since else 0
        hi = VERSIONS.index(self.until) if self.until else len(VERSIONS) - 1
        return lo <= i <= hi


@dataclass(frozen=True, slots=True)
class CodePage:
    number: int
    name: str
    namespace: str
    tags: tuple[Tag, ...]
