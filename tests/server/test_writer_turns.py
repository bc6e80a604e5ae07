"""SQLite's writers queue for their turn on the event loop, not in worker threads (issue 13.3,
server/store/writers.py): fifty devices writing at once must leave threads for the requests
that only read, and the writers are served first come first served."""
import asyncio
import threading

import pytest
from sqlalchemy import update

from easlab.server.store.context import StoreContext
from easlab.server.store.writers import WIDTH, WriterTurns
from easlab.storage import Database
from easlab.storage.models import User
from easlab.storage.users import add_user, get_user

pytestmark = pytest.mark.anyio
WAIT = 10.0  # an upper bound for a thread handing over; the tests never sleep
WRITERS = 45  # more than the thread pool's 40


@pytest.fixture
def store(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'easlab.db'}")
    db.create_all()
    with db.session() as s:
        add_user(s, "alice", "pw", "Alice")
    yield StoreContext(db=db, hub=None, clock=None, domain="easlab.test")
    db.dispose()


async def settle() -> None:
    """Let every started task run up to where it waits."""
    for _ in range(20):
        await asyncio.sleep(0)


async def until(condition) -> None:
    """Wait (a thread may have to hand over first) until `condition()` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not condition():
        assert loop.time() < deadline
        await asyncio.sleep(0.001)


async def test_queued_writers_leave_threads_for_reads(store):
    """One writer holds SQLite's write lock; 45 more (plain writes and read-first work that turns
    out to write) queue behind it.  A read is answered meanwhile, no more than WIDTH writers sit in
    threads, and the writers then commit in the order they came (give or take WIDTH)."""
    started, release = threading.Event(), threading.Event()
    order: list[int] = []

    def first(session):
        get_user(session, "alice")
        started.set()
        assert release.wait(WAIT)
        order.append(0)

    def writer(n):
        def work(session):
            get_user(session, "alice")
            session.exec(update(User).where(User.name == "alice").values(display_name=f"writer {n}"))
            order.append(n)
        return work

    holder = asyncio.ensure_future(store.run(first))
    assert await asyncio.to_thread(started.wait, WAIT)
    queued = []
    for n in range(1, WRITERS + 1):
        queued.append(asyncio.ensure_future((store.run if n % 2 else store.read_first)(writer(n))))
        # each in line before the next comes (read-first work reads in a thread first)
        await until(lambda: store.turns.queued == max(0, n - (WIDTH - 1)))
    assert store.turns.queued == WRITERS - (WIDTH - 1)
    assert store.db.writer.waiting <= WIDTH - 1
    name = await asyncio.wait_for(store.read(lambda s: get_user(s, "alice").display_name), WAIT)
    assert name == "Alice"
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, *queued), WAIT)
    # In the order they came, but for the WIDTH in threads at once, which may swap places.
    assert sorted(order) == list(range(WRITERS + 1))
    assert all(abs(n - place) < WIDTH for place, n in enumerate(order)), order
    assert store.turns.queued == 0
    assert await store.read(lambda s: get_user(s, "alice").display_name) == f"writer {WRITERS}"


async def test_turns_first_come_first_served_and_a_cancelled_waiter_leaves_its_place():
    turns = WriterTurns(width=1)
    served: list[str] = []

    async def take(name, hold: asyncio.Event | None = None):
        async with turns:
            served.append(name)
            if hold is not None:
                await hold.wait()

    hold = asyncio.Event()
    a = asyncio.ensure_future(take("a", hold))
    await settle()
    b, c, d = (asyncio.ensure_future(take(name)) for name in "bcd")
    await settle()
    assert turns.queued == 3
    c.cancel()
    await settle()
    assert turns.queued == 2
    hold.set()
    await asyncio.gather(a, b, d)
    assert served == ["a", "b", "d"]
    assert c.cancelled()
    async with turns:  # every turn came back
        assert turns.queued == 0


async def test_a_turn_handed_over_as_its_waiter_is_cancelled_goes_to_the_next():
    turns = WriterTurns(width=1)
    served: list[str] = []

    async def take(name):
        async with turns:
            served.append(name)

    await turns.__aenter__()
    b, c = asyncio.ensure_future(take("b")), asyncio.ensure_future(take("c"))
    await settle()
    await turns.__aexit__(None, None, None)  # b's turn now, its wake-up scheduled...
    b.cancel()  # ...and b gives up before it runs
    await asyncio.wait_for(c, WAIT)
    assert served == ["c"]
    assert b.cancelled()


def test_a_turn_is_handed_to_a_waiter_on_another_loop():
    """Test clients run their own loops: a waiter is woken on its own."""
    turns = WriterTurns(width=1)
    got = threading.Event()
    waiting = threading.Event()

    async def other():
        waiter = asyncio.ensure_future(turns.__aenter__())
        await settle()
        waiting.set()
        await waiter
        got.set()
        await turns.__aexit__(None, None, None)

    async def main():
        await turns.__aenter__()
        thread = threading.Thread(target=asyncio.run, args=(other(),))
        thread.start()
        assert await asyncio.to_thread(waiting.wait, WAIT)
        assert turns.queued == 1
        await turns.__aexit__(None, None, None)
        await asyncio.to_thread(thread.join, WAIT)
        assert got.is_set()

    asyncio.run(main())
