"""The first Out-of-Office set of a user is race-free: many at once, on SQLite and PostgreSQL."""
import asyncio

import pytest
from sqlmodel import select

from easlab.eas.wbxml import E
from easlab.storage.models_compose import OofSettings
from tests.server.eas_helpers import Raw
from tests.server.test_settings import S, oof_message, oof_set, ok
from tests.storage.conftest import database, pg_schema_url  # noqa: F401  (fixtures: SQLite and PostgreSQL)

pytestmark = pytest.mark.anyio
CONCURRENT = 24  # within both engines' connection pools, so every request is in flight at once


@pytest.fixture
def db(database):  # noqa: F811  (the app of tests/conftest.py over each engine)
    return database


async def test_concurrent_first_oof_sets_all_succeed_and_leave_one_row(client, db):
    devices = [Raw(client, device=f"oof{i}") for i in range(CONCURRENT)]
    for dev in devices:  # each device's partnership first: the race under test is the Oof row's
        assert await dev.call("Settings", E(f"{S}:Settings", E(f"{S}:UserInformation", E(f"{S}:Get"))))
    answers = await asyncio.gather(*[
        dev.call("Settings", oof_set(1, None, None, oof_message("AppliesToInternal", 1, f"Away {i}")))
        for i, dev in enumerate(devices)])
    assert answers == [ok(E(f"{S}:Oof", E(f"{S}:Status", 1)))] * CONCURRENT
    with db.session() as session:
        [row] = session.exec(select(OofSettings)).all()
    assert (row.state, row.internal_enabled) == (1, True)
    assert row.internal_message in {f"Away {i}" for i in range(CONCURRENT)}
