"""SQLite write contention: a transaction that reads and then writes never fails for a lock
(issue 13, point 3), and reads still run beside a writer (WAL)."""
import sqlite3
import threading

from sqlalchemy import update
from sqlmodel import select

from easlab.storage import Database
from easlab.storage.models import User
from easlab.storage.users import add_user, get_user

WAIT = 10.0  # an upper bound for a thread handing over; the tests never sleep


def fresh(tmp_path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'easlab.db'}")
    db.create_all()
    with db.session() as s:
        add_user(s, "alice", "pw", "Alice")
    return db


def read_then_write(db: Database, name: str, read_done: threading.Event | None, go: threading.Event | None, errors: list):
    try:
        with db.session() as s:
            get_user(s, "alice")  # the read that pins this transaction's snapshot
            if read_done is not None:
                read_done.set()
            if go is not None:
                assert go.wait(WAIT)
            s.exec(update(User).where(User.name == "alice").values(display_name=name))
    except Exception as exc:  # noqa: BLE001  (the error is the finding)
        errors.append(exc)


def test_two_writers_that_read_first_both_commit(tmp_path):
    """A reads, B reads, A writes and commits, B writes: with deferred transactions B's write is
    refused at once ("database is locked": its snapshot is older than A's commit).  B must wait
    for A instead and then commit."""
    db = fresh(tmp_path)
    errors: list = []
    a_read, b_read, a_may_write = threading.Event(), threading.Event(), threading.Event()
    a = threading.Thread(target=read_then_write, args=(db, "A", a_read, a_may_write, errors))
    a.start()
    assert a_read.wait(WAIT)
    b = threading.Thread(target=read_then_write, args=(db, "B", b_read, None, errors))
    b.start()
    # A writes once B has read (deferred BEGIN) or is queued behind A for the write lock.
    while not (b_read.wait(0.001) or getattr(getattr(db, "writer", None), "waiting", 0)):
        assert b.is_alive() and a.is_alive()
    a_may_write.set()
    a.join(WAIT)
    b.join(WAIT)
    assert errors == []
    with db.session() as s:
        assert get_user(s, "alice").display_name == "B"  # B ran after A, on A's result


def test_a_writing_transaction_holds_the_write_lock_from_its_first_statement(tmp_path):
    """Another process (the CLI, a second server) sees the lock taken at BEGIN, not at the
    first write."""
    db = fresh(tmp_path)
    other = sqlite3.connect(tmp_path / "easlab.db", timeout=0, isolation_level=None)
    try:
        with db.session() as s:
            get_user(s, "alice")
            try:
                other.execute("BEGIN IMMEDIATE")
                taken = False
                other.execute("ROLLBACK")
            except sqlite3.OperationalError as exc:
                taken = "locked" in str(exc)
        assert taken
        other.execute("BEGIN IMMEDIATE")  # released at commit
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_reads_run_beside_a_writer(tmp_path):
    db = fresh(tmp_path)
    with db.session() as writer:
        writer.exec(update(User).where(User.name == "alice").values(display_name="Changing"))
        done: list = []

        def read():
            with db.session(write=False) as s:
                done.append(s.exec(select(User.display_name).where(User.name == "alice")).one())

        reader = threading.Thread(target=read)
        reader.start()
        reader.join(WAIT)
        assert done == ["Alice"]  # WAL: the committed state, while the writer is still open


def test_a_transaction_opened_inside_a_writing_one_does_not_wait_for_it(tmp_path):
    db = fresh(tmp_path)
    with db.session() as outer:
        outer.exec(update(User).where(User.name == "alice").values(display_name="Outer"))
        with db.session() as inner:  # the same thread: a read, as before
            assert get_user(inner, "alice").display_name == "Alice"
    with db.session() as s:
        assert get_user(s, "alice").display_name == "Outer"


def test_many_concurrent_read_then_write_transactions(tmp_path):
    db = fresh(tmp_path)
    errors: list = []
    threads = [threading.Thread(target=read_then_write, args=(db, f"T{i}", None, None, errors)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 3)
    assert errors == []


def queue_writers(lock, count: int, order: list) -> list[threading.Thread]:
    """`count` threads queued on `lock` (held by the caller) one after the other, in ticket order."""
    def writer(n: int) -> None:
        with lock:
            order.append(n)

    threads = []
    for n in range(count):
        threads.append(threading.Thread(target=writer, args=(n,)))
        threads[-1].start()
        while lock.waiting < n + 1:  # queued (its ticket taken) before the next one asks
            assert threads[-1].is_alive()
            threading.Event().wait(0.001)
    return threads


def test_writers_take_their_turns_in_the_order_they_asked():
    from easlab.storage.db import WriterLock

    lock, order = WriterLock(timeout=WAIT), []
    with lock:
        threads = queue_writers(lock, 5, order)
        assert order == []
    for t in threads:
        t.join(WAIT)
    assert order == [0, 1, 2, 3, 4]
    assert lock.waiting == 0
    with lock:  # the last turn was given back
        assert lock.held()
    assert not lock.held()


def test_a_writer_that_gave_up_waiting_passes_its_turn_on():
    from easlab.storage.db import WriterLock

    lock = WriterLock(timeout=0)  # a queued writer gives up at once
    holding, release, done = threading.Event(), threading.Event(), threading.Event()

    def holder():
        with lock:
            holding.set()
            assert release.wait(WAIT)
        done.set()

    thread = threading.Thread(target=holder)
    thread.start()
    assert holding.wait(WAIT)
    try:
        with lock:
            raise AssertionError("the turn was not free")
    except TimeoutError:
        pass
    assert not lock.held()
    release.set()
    thread.join(WAIT)
    with lock:  # the abandoned ticket is skipped: the next writer goes straight in
        assert lock.held()
