"""server/heap.py: the serving process's collector settings."""
from __future__ import annotations

import gc

import pytest

from easlab.server import heap


@pytest.fixture
def restored_gc():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_settle_freezes_what_start_up_built_and_widens_the_young_generation(restored_gc):
    built = [[n] for n in range(1000)]  # containers alive at start-up, as the app's are
    garbage = [[]]
    garbage[0].append(garbage)  # a start-up cycle: collected, not frozen
    del garbage
    heap.settle()
    assert gc.get_threshold() == (10_000, 10, 10)
    assert gc.get_freeze_count() >= len(built)
    assert gc.is_tracked(built[0])
    assert gc.get_count()[0] < 10  # the young generation starts empty
