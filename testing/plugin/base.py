"""The `Easlab` object the fixture hands out: one easlab server with a fresh store.

What is common to both modes lives here (the store, the mode's questions, faults, lifetime);
factories.py and waits.py add what a test makes and waits for; inprocess.py and process.py are
the two modes.
"""
from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path
from typing import Any

from .factories import DEFAULT_DOMAIN, Factories, User
from .waits import Waits


class ModeError(RuntimeError):
    """The operation does not exist in this fixture mode (the clock of a server process, ...)."""


class Easlab(Factories, Waits):
    """One easlab server with a fresh store, and what a test does with it.  Mode-specific parts
    live in InProcessEaslab and ProcessEaslab."""

    mode: str = ""

    def __init__(self, directory: Path, domain: str = DEFAULT_DOMAIN, scope: str = "function",
                 owns_directory: bool = True):
        from easlab.storage import Database

        self.directory = Path(directory)
        self.domain = domain.lower()
        self.scope = scope
        self._owns_directory = owns_directory
        self.db_url = f"sqlite:///{self.directory / 'easlab.db'}"
        self.db = Database(self.db_url)
        self._passwords: dict[str, str] = {}
        self._device_numbers = itertools.count(1)
        self._open: list[Any] = []  # devices and HTTP clients of the running test
        self._closed = False

    # -- what the mode provides -------------------------------------------------------------------
    url: str = ""

    @property
    def eas_url(self) -> str:
        return f"{self.url}/Microsoft-Server-ActiveSync"

    @property
    def app(self):
        raise ModeError(f"easlab.app exists in-process only; this server runs as process {self.process.pid} "
                        f"at {self.url}")

    @property
    def clock(self):
        raise ModeError("easlab.clock: this server runs on the real clock (clock='system'); the default "
                        "clock='manual' gives a ManualClock in-process and `serve --test-clock` in process mode")

    @property
    def smtp_port(self) -> int:
        raise ModeError("easlab.smtp_port: the in-process server has no SMTP listener; deliver() stores mail "
                        "through the server's MailStore (use mode='process' for real SMTP)")

    @property
    def process(self) -> subprocess.Popen:
        raise ModeError("easlab.process: the in-process server runs in this process")

    def _target(self):
        raise NotImplementedError

    def _notify(self, event: dict) -> None:
        raise NotImplementedError

    def _http_client(self, **kw):
        raise NotImplementedError

    # -- administration ---------------------------------------------------------------------------
    @property
    def admin(self):
        """easlab.server.admin.Admin over this store, acting as the local shell (use with server.admin.SHELL)."""
        from easlab.server.admin import Admin

        return Admin(self.db, self._notify, self.domain, clock=self._admin_clock())

    def _admin_clock(self):
        """The clock the admin service writes times with: the server's own (in-process: its
        ManualClock, so a wipe request or a fault's expiry is dated as the server sees time; in
        process mode its test clock); None on the real clock."""
        return None

    # -- faults -----------------------------------------------------------------------------------
    def fault(self, kind: str, user: User | str | None = None, device=None, command: str | None = None,
              count: int | None = None, seconds: float | None = None, **params: Any) -> int:
        """Inject a fault (server/faults.py); returns its id.

        `kind`: throttle, reprovision, unauthorized, block, delay, drop or smtp.  It hits requests
        of `user` (a User or a name; None: anyone) from `device` (a Device or a DeviceId; None: any
        device; a Device also names its user) running `command` (FolderSync, Sync, ...; None:
        any), `count` times (None: until removed), for `seconds` from now on the server's clock
        (None: no end; `easlab fault add --for`).  The kind's parameters are keywords: status=,
        retry_after=, reason= (throttle), realm= (unauthorized), bytes= (drop), stage=, message=
        (smtp).  The one called `seconds` (delay, drop, a block's tarpit) goes in
        `params={"seconds": 2}`, since `seconds` here is how long the fault lasts.  Bad input
        raises ValueError (storage.faults.FaultError) in both modes."""
        from easlab.storage.faults import FaultError

        extra = params.pop("params", None)
        if extra is not None:
            if not isinstance(extra, dict):
                raise FaultError("params must be a dict of the kind's parameters")
            params = {**extra, **params}
        if device is not None and hasattr(device, "state"):
            user = user if user is not None else device.state.user
            device = device.state.device_id
        name = str(user).strip().lower() if user is not None else None
        return self._add_fault({"kind": kind, "user": name, "device_id": str(device) if device is not None else None,
                                "command": command, "count": count, "seconds": seconds, "params": params or None})["id"]

    def faults(self) -> list[dict]:
        """Every fault with its state (active, spent, expired), remaining count and hits."""
        raise NotImplementedError

    def remove_fault(self, fault_id: int) -> bool:
        """Remove one fault; False when there is no such fault."""
        raise NotImplementedError

    def clear_faults(self, user: User | str | None = None) -> int:
        """Remove every fault (or only `user`'s); returns how many were removed."""
        raise NotImplementedError

    def _add_fault(self, fields: dict) -> dict:
        raise NotImplementedError

    # -- lifetime ---------------------------------------------------------------------------------
    async def aclose_clients(self) -> None:
        """Close the devices and clients made since the last call (the fixture calls it after each test)."""
        opened, self._open = self._open, []
        for thing in reversed(opened):
            try:
                await thing.aclose()
            except Exception:  # a client whose loop or server is already gone
                pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop()
        self.db.dispose()
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _stop(self) -> None:
        pass

    def __enter__(self) -> Easlab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Easlab:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose_clients()
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} store {self.db_url}>"

