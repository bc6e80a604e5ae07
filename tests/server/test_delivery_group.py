"""Deliveries that arrive together are stored in one transaction (a group commit): each caller is
answered after that commit, the folders changed are told to the push hub once per commit, and a
delivery that fails in a group fails alone."""
from __future__ import annotations

import asyncio
import contextvars
import os
import threading

import pytest
from sqlmodel import select

import easlab.server.store.delivery as delivery
from easlab.storage.mailbox import folder_by_type
from easlab.storage.models import Item, ItemChange
from easlab.storage.users import get_user


def mail(n: int) -> bytes:
    return f"From: a@example.net\r\nTo: alice@easlab.test\r\nSubject: m{n}\r\n\r\nbody {n}\r\n".encode()


@pytest.fixture
def counted(app, monkeypatch):
    """The store, counting transactions (the ORM's and the plain path's) and the hub's notifications."""
    store = app.state.store
    runs, notices = [], []
    real_run, real_notify = store.context.transaction, store.context.hub.notify
    real_writing = delivery.writing

    def transaction(work):
        runs.append(1)
        return real_run(work)

    def writing(db):
        runs.append(1)
        return real_writing(db)

    monkeypatch.setattr(type(store.context), "transaction", lambda self, work: transaction(work))
    monkeypatch.setattr(delivery, "writing", writing)
    monkeypatch.setattr(store.context.hub, "notify", lambda ids: (notices.append(set(ids)), real_notify(ids)))
    return store, runs, notices


@pytest.mark.anyio
async def test_concurrent_deliveries_share_one_commit(counted, db):
    store, runs, notices = counted
    results = await asyncio.gather(*(store.deliver(mail(n), ["alice@easlab.test"]) for n in range(20)))
    assert [r.delivered for r in results] == [["alice"]] * 20
    assert len(runs) == 1  # one transaction for all twenty
    with db.session() as s:
        inbox = folder_by_type(s, get_user(s, "alice"), 2)
        items = s.exec(select(Item).where(Item.folder_id == inbox.id).order_by(Item.id)).all()
        log = s.exec(select(ItemChange).where(ItemChange.folder_id == inbox.id).order_by(ItemChange.seq)).all()
        assert [i.subject for i in items] == [f"m{n}" for n in range(20)]  # in arrival order
        assert [(c.seq, c.kind, c.server_id) for c in log] == [(n + 1, "add", i.server_id) for n, i in enumerate(items)]
        assert [i.server_id for i in items] == [f"1:{i.id}" for i in items]
        assert inbox.change_seq == 20
        assert notices == [{inbox.id}]  # one wake-up, after the commit


@pytest.mark.anyio
async def test_a_failing_delivery_fails_alone(counted, db, monkeypatch):
    store, runs, notices = counted
    real = delivery.write_plain

    def refuse_poison(cursor, statements, folders):
        if any(b"poison" in mime for entries in folders.values() for mime, *_ in entries):
            raise RuntimeError("disk full")
        return real(cursor, statements, folders)

    await store.deliver(mail(99), ["alice@easlab.test"])  # alice remembered: the plain path stores
    runs.clear()
    monkeypatch.setattr(delivery, "write_plain", refuse_poison)
    jobs = [store.deliver(mail(n) if n != 2 else b"Subject: poison\r\n\r\n", ["alice@easlab.test"]) for n in range(4)]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert isinstance(results[2], RuntimeError)
    assert [r.delivered for n, r in enumerate(results) if n != 2] == [["alice"]] * 3
    with db.session() as s:
        inbox = folder_by_type(s, get_user(s, "alice"), 2)
        subjects = s.exec(select(Item.subject).where(Item.folder_id == inbox.id).order_by(Item.id)).all()
        assert subjects == ["m99", "m0", "m1", "m3"] and inbox.change_seq == 4
    assert len(runs) == 1 + 4  # the group, rolled back, then each alone


@pytest.mark.anyio
async def test_groups_are_stored_in_the_delivery_thread(counted, monkeypatch):
    """A group goes to the one delivery thread (run_in_executor), not anyio's pool, with the
    caller's context variables; the loop's thread never stores."""
    store, _, _ = counted
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker")
    seen: list[tuple[str, str]] = []
    real = delivery.Delivery._store_group

    def store_group(self, jobs):
        seen.append((threading.current_thread().name, marker.get("unset")))
        return real(self, jobs)

    monkeypatch.setattr(delivery.Delivery, "_store_group", store_group)
    marker.set("caller")
    results = await asyncio.gather(*(store.deliver(mail(n), ["alice@easlab.test"]) for n in range(3)))
    assert [r.delivered for r in results] == [["alice"]] * 3
    assert seen and all(name.startswith("easlab-delivery") and value == "caller" for name, value in seen)


@pytest.mark.anyio
async def test_a_forked_worker_starts_its_own_delivery_thread(counted):
    """easlab serve --workers forks: the child must not submit to the parent's executor, whose
    thread it does not have (the delivery would wait for ever)."""
    store, _, _ = counted
    await store.deliver(mail(0), ["alice@easlab.test"])
    assert delivery._WRITER
    pid = os.fork()
    if pid == 0:  # the child: only look, then leave at once
        os._exit(0 if delivery._WRITER == [] else 1)
    assert os.waitpid(pid, 0)[1] == 0
    assert delivery._WRITER  # the parent keeps its own
