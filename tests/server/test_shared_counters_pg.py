"""Processes serving one PostgreSQL store count as one process: wrong passwords split over two
`easlab serve` processes trip the lockout at the fifth (server/lockout.py's SharedLockout,
storage/logonfailures.py), a right password costs no write, and a user's request budget is one
budget whichever process serves the request (server/throttling.py's SharedBudgets)."""
from __future__ import annotations

import asyncio
from contextlib import ExitStack

import httpx
import pytest
from sqlalchemy import event
from sqlmodel import select

from easlab.eas.throttling import ThrottlingPolicy
from easlab.server.admin import SHELL, Admin
from easlab.server.lockout import LockoutPolicy, SharedLockout
from easlab.server.throttling import SharedBudgets
from easlab.storage import logonfailures
from tests.conftest import basic
from tests.server.test_auth_lockout import Clock
from tests.server.live import served
from tests.server.test_processes_pg import ADMIN, store  # noqa: F401  (the fixture)

pytestmark = pytest.mark.anyio
EAS = "/Microsoft-Server-ActiveSync?Cmd=FolderSync&User={user}&DeviceId=dev1&DeviceType=iPhone"


def test_two_lockouts_on_one_store_count_together(store):  # noqa: F811
    _, db = store
    a, b = SharedLockout(db, LockoutPolicy(), Clock()), SharedLockout(db, LockoutPolicy(), Clock())
    for lockout in (a, b, a, b):
        lockout.failed("alice", "10.0.0.1")
    assert not a.refused("alice", None) and not b.refused("alice", None)
    b.failed("alice", "10.0.0.2")  # the fifth
    assert b.refused("alice", None) and not b.refused("bob", "10.0.0.3")
    assert a.succeeded("alice") is False  # a saw failures of alice: it asks the store, which says locked
    assert a.refused("alice", None)
    with db.session() as session:
        rows = {(r.kind, r.key): (r.failures, r.locked_until > logonfailures.now(session))
                for r in session.exec(select(logonfailures.LogonFailure))}
    assert rows == {("user", "alice"): (0, True), ("address", "10.0.0.1"): (4, False),
                    ("address", "10.0.0.2"): (1, False)}


def test_a_right_password_with_no_known_failure_touches_no_table(store):  # noqa: F811
    _, db = store
    lockout = SharedLockout(db, LockoutPolicy(), Clock())
    statements = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert lockout.succeeded("alice") is True
    assert not lockout.refused("alice", "10.0.0.1")
    assert statements == []
    lockout.failed("alice", None)
    assert lockout.succeeded("alice") is True  # clears the count in the store: one transaction
    assert any(s.startswith("DELETE FROM logonfailure") for s in statements)
    statements.clear()
    assert lockout.succeeded("alice") is True
    assert statements == []


async def status(client: httpx.AsyncClient, user: str, password: str) -> int:
    r = await client.post(EAS.format(user=user), headers={"Authorization": basic(user, password),
                                                          "MS-ASProtocolVersion": "14.1"})
    return r.status_code


async def test_wrong_passwords_split_over_two_processes_lock_out_at_the_fifth(store):  # noqa: F811
    url, _ = store
    with ExitStack() as stack:
        a_url, _, _ = stack.enter_context(served(url))
        b_url, _, _ = stack.enter_context(served(url))
        async with httpx.AsyncClient(base_url=a_url.rsplit("/", 1)[0]) as a, \
                httpx.AsyncClient(base_url=b_url.rsplit("/", 1)[0]) as b:
            for n, process in enumerate((a, b, a, b)):
                assert await status(process, "alice", f"wrong{n}") == 401
            assert await status(a, "alice", "secret") != 401  # four: not locked; the count starts again
            for n, process in enumerate((a, b, a, b)):
                assert await status(process, "alice", f"again{n}") == 401
            assert await status(b, "alice", "fifth") == 401  # 2 + 3: one process alone would be at 3
            assert await status(b, "alice", "secret") == 401
            assert await status(a, "alice", "secret") == 401  # a saw two of them: it asks the store
            # A lockout set on B alone reaches A through the relay (server/pgnotify.py).
            for n in range(5):
                assert await status(b, ADMIN[0], f"wrong{n}") == 401
            for _ in range(1000):
                if await status(a, ADMIN[0], ADMIN[1]) == 401:
                    break
                await asyncio.sleep(0.01)
            else:
                pytest.fail("A never heard of the lockout B set")


def test_one_budget_charged_from_two_processes(store):  # noqa: F811
    _, db = store
    policy = ThrottlingPolicy(eas_max_burst=2000, eas_recharge_rate=3_600_000, eas_cutoff_balance=0)
    a, b = SharedBudgets(db), SharedBudgets(db)
    assert [a.charge(policy, "alice", 100.0), b.charge(policy, "alice", 100.0), a.charge(policy, "alice", 100.0)] == [
        None, None, None]  # 2000 -> 1000 -> 0 -> -1000
    assert b.charge(policy, "alice", 100.0) == 1.0  # one second until the balance is back at 0
    assert b.charge(policy, "bob", 100.0) is None  # a budget is per user
    assert a.balance(policy, "alice", 101.0) == 0.0
    assert a.charge(policy, "alice", 101.0) is None


async def test_a_budget_split_over_two_processes_is_spent_at_the_same_count(store):  # noqa: F811
    url, db = store
    # 2 s of burst, no recharge to speak of, no cut-off margin, 1 s a request: three requests.
    Admin(db, lambda event: None, "easlab.test").throttling_set(
        SHELL, eas_max_burst=2000, eas_recharge_rate=1, eas_cutoff_balance=0, request_charge=1000)
    with ExitStack() as stack:
        a_url, _, _ = stack.enter_context(served(url))
        b_url, _, _ = stack.enter_context(served(url))
        async with httpx.AsyncClient(base_url=a_url.rsplit("/", 1)[0]) as a, \
                httpx.AsyncClient(base_url=b_url.rsplit("/", 1)[0]) as b:
            assert [await status(process, "alice", "secret") != 503 for process in (a, b, a)] == [True] * 3
            r = await b.post(EAS.format(user="alice"), headers={"Authorization": basic("alice", "secret"),
                                                                "MS-ASProtocolVersion": "14.1"})
            assert (r.status_code, r.headers["X-MS-ASThrottle"]) == (503, "OutOfBudgets")
            assert await status(a, "alice", "secret") == 503
