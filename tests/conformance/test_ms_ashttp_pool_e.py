"""MS-ASHTTP 3.2.5.1.1: the User-Agent change block is configurable, in the number of changes, the
time they are counted over, and how long a device stays blocked (Exchange 2013 and later)."""
from __future__ import annotations

import pytest

from easlab.server.admin import SHELL
from tests.server.test_autoblock import Agent, assert_blocked, stored
from tests.server.test_throttling import FS, admin, app, clock  # noqa: F401  (fixtures)

pytestmark = pytest.mark.anyio


async def change_agent(dev, agent):
    dev.agent = agent
    assert (await dev.post("FolderSync", FS)).status_code == 200


@pytest.mark.req("MS-ASHTTP_R456", "MS-ASHTTP_R457")
async def test_user_agent_changes_block_as_configured(client, admin, clock, db):
    admin.autoblock_set(SHELL, "UserAgentsChanges", incidence_limit=2, incidence_duration=2, block_duration=30)
    dev = Agent(client)
    # Three changes, each more than two minutes after the one before: never more than two in the period.
    for agent in ("A/1", "B/1", "C/1", "D/1"):
        await change_agent(dev, agent)
        clock.advance(minutes=3)
    assert stored(db)[:2] == ("Allowed", "Global")
    # Three changes within two minutes: blocked for the 30 minutes configured, not 14 hours.
    for agent in ("E/1", "F/1", "G/1"):
        await change_agent(dev, agent)
        clock.advance(30)
    assert stored(db) == ("Blocked", "UserAgentsChanges", "UserAgentsChanges")
    await assert_blocked(dev, "UserAgentsChanges", 30 * 60 - 30)  # blocked at the third change, 30 s ago
