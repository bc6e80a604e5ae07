"""What spans several tests — module scope sharing one server, function scope not, teardown
leaving nothing behind — checked by running whole modules as their own pytest sessions, so the
order the checks depend on is the session's, never a guess that a test selected alone can miss."""
import pytest

# Each module below runs as its own pytest session: the plugin comes from easlab's pytest11 entry
# point, or by name where easlab is importable without its distribution's metadata.
IN_PROCESS = """\
import asyncio

import pytest

pytestmark = pytest.mark.anyio

# -- scope ------------------------------------------------------------------------------------------
SEEN: dict[str, list] = {"module": [], "function": []}


@pytest.mark.easlab(scope="module")
def test_module_scope_first(easlab):
    SEEN["module"].append(easlab.db_url)
    easlab.make_user("shared")


@pytest.mark.easlab(scope="module")
async def test_module_scope_second_sees_the_same_store(easlab):
    assert SEEN["module"]
    SEEN["module"].append(easlab.db_url)
    assert SEEN["module"][0] == easlab.db_url
    await easlab.deliver(to="shared", subject="still here")  # the user made by the first test
    assert (await easlab.wait_for_mail("shared")).subject == "still here"


@pytest.mark.easlab(scope="module")
async def test_module_scope_a_ping_left_held(easlab):
    assert len(SEEN["module"]) == 2
    phone = await easlab.make_device("shared")
    SEEN["module"].append(phone)
    await phone.sync_all("Inbox")  # the mail of the test before: synced, so the Ping is held
    asyncio.create_task(phone.ping(["Inbox"], heartbeat=600))
    await easlab.wait_for_ping(phone)
    assert easlab.app.state.hub.held == 1  # and the test ends without answering it


@pytest.mark.easlab(scope="module")
async def test_module_scope_nothing_outlives_its_test(easlab):
    assert hasattr(SEEN["module"][-1], "http")
    assert easlab.app.state.hub.held == 0  # the abandoned Ping ended with its test's loop
    assert SEEN["module"][-1].http.is_closed  # and the device the fixture made was closed


def test_function_scope_gets_a_fresh_store(easlab):
    SEEN["function"].append(easlab.db_url)
    assert easlab.db_url not in SEEN["module"]
    easlab.make_user("shared")  # no such user here yet


def test_function_scope_again_fresh(easlab):
    assert easlab.db_url not in SEEN["function"] + SEEN["module"]
    assert not easlab.directory.samefile(easlab.directory.parent) and easlab.directory.exists()


def test_a_per_test_store_is_removed_afterwards():
    from pathlib import Path

    gone = [Path(url.removeprefix("sqlite:///")).parent for url in SEEN["function"]]
    assert gone
    assert not any(p.exists() for p in gone)
"""

PROCESS = """\
import asyncio
import os
from pathlib import Path

import httpx
import pytest

from easlab.server.control import socket_path
from easlab.testing.plugin import ModeError, ProcessEaslab

pytestmark = [pytest.mark.anyio, pytest.mark.easlab(mode="process")]

GONE: list[dict] = []  # what the first test's server left to check after its teardown


async def test_a_real_server_process_on_free_ports(easlab):
    assert isinstance(easlab, ProcessEaslab) and easlab.mode == "process"
    assert easlab.process.poll() is None
    assert easlab.url.startswith("http://127.0.0.1:") and easlab.smtp_port > 0
    GONE.append({"pid": easlab.process.pid, "directory": easlab.directory, "socket": socket_path(easlab.db.url)})
    assert Path(GONE[0]["socket"]).exists()  # the control socket the CLI and the factories talk to
    assert type(easlab.clock).__name__ == "ServerClock"  # the server runs with --test-clock
    with pytest.raises(ModeError, match="in-process only"):
        easlab.app
    async with httpx.AsyncClient() as client:  # black box: the real port answers
        response = await client.options(easlab.eas_url)
    assert response.status_code == 401


def test_teardown_left_no_process_files_or_socket():
    assert GONE
    (left,) = GONE
    with pytest.raises(ProcessLookupError):
        os.kill(left["pid"], 0)  # stopped and reaped: not even a zombie
    assert not left["directory"].exists()
    assert not Path(left["socket"]).exists()


# -- scope ------------------------------------------------------------------------------------------
SHARED: list[int] = []


@pytest.mark.easlab(scope="module")
async def test_module_scope_first(easlab):  # async like the next: pytest keeps them adjacent
    SHARED.append(easlab.process.pid)
    easlab.make_user("shared")


@pytest.mark.easlab(scope="module")
async def test_module_scope_second_shares_the_process_and_the_store(easlab):
    assert SHARED
    assert SHARED == [easlab.process.pid] and easlab.process.poll() is None
    await easlab.deliver(to="shared", subject="same server")
    assert (await easlab.wait_for_mail("shared")).subject == "same server"


def test_function_scope_is_a_new_process(easlab):
    assert easlab.process.pid not in SHARED
    from easlab.storage.users import list_users

    with easlab.db.session() as s:  # a fresh store: not even the wait account, made at the first wait
        assert [u.name for u in list_users(s)] == []
"""


def plugin_args() -> list[str]:
    """Nothing when the entry point is installed (loading the module by name as well would clash)."""
    from importlib.metadata import entry_points

    if any(ep.value == "easlab.testing.plugin" for ep in entry_points(group="pytest11")):
        return []
    return ["-p", "easlab.testing.plugin"]


def run(pytester, source: str, passed: int) -> None:
    pytester.makepyfile(test_module=source)
    result = pytester.runpytest_subprocess(*plugin_args(), "-p", "anyio", "-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=passed)


def test_in_process_module_and_function_scopes(pytester):
    run(pytester, IN_PROCESS, passed=7)


def test_process_mode_scopes_and_a_clean_teardown(pytester):
    run(pytester, PROCESS, passed=5)
