"""MailStore is the server's implementation of every port (eas/ports.py).

mypy checks `_ports` statically (`.ci/run`); the test checks at run time that every port method
exists on MailStore as a coroutine function, so a renamed method fails here, not in whichever
integration test happens to reach it.
"""
import inspect

from easlab.eas import ports
from easlab.server.push import PushHub
from easlab.server.store import MailStore
from easlab.storage import Database


def _ports(db: Database, hub: PushHub) -> ports.Ports:
    return MailStore(db, hub, "easlab.test")


def port_methods() -> set[str]:
    names: set[str] = set()
    for port in (ports.AccessPort, ports.SyncPort, ports.FolderPort, ports.ItemPort, ports.ComposePort,
                 ports.SettingsPort, ports.DirectoryPort, ports.MeetingPort):
        names |= {name for name, value in vars(port).items() if inspect.iscoroutinefunction(value)}
    return names


def test_every_port_method_is_a_coroutine_of_mailstore() -> None:
    names = port_methods()
    assert len(names) == 27  # SyncPort.quiet_sync: a Sync with nothing to say, in one look
    assert {name for name in names if not inspect.iscoroutinefunction(getattr(MailStore, name, None))} == set()
