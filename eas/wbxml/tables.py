"""Lookup structures built once from the code-page table, shaped for the codec's hot loops."""
from __future__ import annotations

from ._table import CodePage, Tag
from .codepages import CODE_PAGES

PAGES: dict[int, CodePage] = {page.number: page for page in CODE_PAGES}
NAMESPACE_PAGE: dict[str, int] = {page.namespace: page.number for page in CODE_PAGES}

# DECODE[page][token] -> "Namespace:Name" (None where unassigned); 64 slots, as a tag byte's low
# six bits index it directly.
DECODE: dict[int, list[str | None]] = {}
# ENCODE["Namespace:Name"] -> (page, token)
ENCODE: dict[str, tuple[int, int]] = {}
TAGS: dict[str, Tag] = {}

for _page in CODE_PAGES:
    _slots: list[str | None] = [None] * 64
    for _tag in _page.tags:
        _qname = f"{_page.namespace}:{_tag.name}"
        if _slots[_tag.token] is not None:
            raise RuntimeError(f"code page {_page.number}: token 0x{_tag.token:02X} assigned twice")
        if _qname in ENCODE:
            raise RuntimeError(f"code page {_page.number}: name {_tag.name} assigned twice")
        _slots[_tag.token] = _qname
        ENCODE[_qname] = (_page.number, _tag.token)
        TAGS[_qname] = _tag
    DECODE[_page.number] = _slots
