"""Thread trips taken together (server/trips.py): requests that wait for a worker thread at the same
time share one hand-off, each still gets its own outcome, and what they all read is read once."""
from __future__ import annotations

import asyncio

import anyio.to_thread
import pytest
from sqlalchemy import create_engine, text

from easlab.server import trips
from easlab.server.trips import Trips

pytestmark = pytest.mark.anyio


@pytest.fixture
def handoffs(monkeypatch):
    """How many times work was handed to a worker thread."""
    count = [0]
    original = anyio.to_thread.run_sync

    async def counted(func, *args, **kwargs):
        count[0] += 1
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    return count


async def test_requests_waiting_together_go_on_one_trip_each_with_its_own_answer(handoffs):
    pool = Trips()
    answers = await asyncio.gather(*(pool.run(lambda n: n * n, n) for n in range(50)))
    assert answers == [n * n for n in range(50)]
    assert handoffs[0] == 1


async def test_a_lone_request_makes_its_own_trip(handoffs):
    pool = Trips()
    assert await pool.run(str.upper, "a") == "A"
    assert await pool.run(str.upper, "b") == "B"
    assert handoffs[0] == 2


async def test_a_trip_takes_at_most_its_share_and_the_rest_follow(handoffs):
    pool = Trips(concurrent=1, most=3)
    assert await asyncio.gather(*(pool.run(int, str(n)) for n in range(7))) == list(range(7))
    assert handoffs[0] == 3  # 3 + 3 + 1


async def test_a_request_whose_work_fails_fails_alone():
    pool = Trips()

    def work(n):
        if n == 2:
            raise ValueError("two")
        return n

    outcomes = await asyncio.gather(*(pool.run(work, n) for n in range(4)), return_exceptions=True)
    assert outcomes[:2] == [0, 1] and outcomes[3] == 3
    assert isinstance(outcomes[2], ValueError) and str(outcomes[2]) == "two"


async def test_what_every_request_of_a_trip_reads_is_read_once_per_trip():
    pool = Trips()
    reads = []

    def counters():
        reads.append(1)
        return (7, 8)

    def door(_):
        return trips.once("counters", counters)

    assert await asyncio.gather(*(pool.run(door, n) for n in range(5))) == [(7, 8)] * 5
    assert len(reads) == 1
    await pool.run(door, 5)  # a later trip reads again
    assert len(reads) == 2
    trips.once("counters", counters)  # outside a trip: every time
    trips.once("counters", counters)
    assert len(reads) == 4


async def test_the_requests_of_a_trip_read_on_one_connection_closed_after_it(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'trips.db'}")
    pool = Trips()
    used = []

    def read(n):
        with trips.reading(engine) as connection:
            used.append(connection)
            if n == 1:
                raise RuntimeError("a statement failed")
            return connection.execute(text("SELECT :n"), {"n": n}).scalar()

    outcomes = await asyncio.gather(*(pool.run(read, n) for n in range(4)), return_exceptions=True)
    assert outcomes[0] == 0 and isinstance(outcomes[1], RuntimeError) and outcomes[2:] == [2, 3]
    # The failure closed the connection it read on; the requests after it share a new one.
    assert used[0] is used[1] and used[2] is used[3] and used[1] is not used[2]
    assert all(connection.closed for connection in used)
    with trips.reading(engine) as alone:  # outside a trip: a connection of its own, closed after
        assert alone.execute(text("SELECT 1")).scalar() == 1
    assert alone.closed
    engine.dispose()
