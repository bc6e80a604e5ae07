"""The serving process's garbage collector settings, applied once it is set up.

CPython's cyclic collector runs a young-generation pass every 700 container allocations and,
every hundred of those, a full pass over every tracked object.  A Sync page builds tens of
thousands of short-lived containers (its WBXML tree, the ORM's rows), so with the defaults a
server spends a sixth of an initial Sync's CPU in the collector, most of it walking the ~140,000
objects that imports and the app built at start-up and that live as long as the process.  So,
once the app is up: collect what start-up left over, then freeze the rest (gc.freeze: the
collector never walks them again), and let the young generation grow to 10,000 objects before a
pass, so a page's tree is mostly freed by reference counting before a pass would promote it.
Reference cycles are still collected, only later; what is frozen stays alive, which it would anyway.
"""
from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000  # CPython's default is 700
OLDER_THRESHOLDS = (10, 10)  # CPython's defaults


def settle() -> None:
    """Free start-up garbage, exempt what remains from later passes, and widen the young generation."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
