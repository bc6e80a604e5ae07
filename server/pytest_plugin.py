"""pytest plugin: a fresh easlab server for each test, factories, and waits that never sleep.

Installed with easlab and registered through the `pytest11` entry point, so a test only names the
fixture (without the entry point: `-p easlab.server.pytest_plugin`, or `pytest_plugins =
["easlab.server.pytest_plugin"]` in the root conftest.py):

    import asyncio
    import pytest

    pytestmark = pytest.mark.anyio

    async def test_new_mail_wakes_the_phone(easlab):
        alice = easlab.make_user("alice")
        phone = await easlab.make_device(alice, profile="ios")
        await phone.sync_all("Inbox")
        ping = asyncio.create_task(phone.ping(["Inbox"], heartbeat=600))
        await easlab.wait_for_ping(phone)
        await easlab.deliver(to=alice, subject="Hello")
        assert (await ping).status == 2

Two modes.  "inprocess" (the default) runs the Starlette app in the test's own event loop over
httpx.ASGITransport: no port, a SQLite file of its own, and a ManualClock (`easlab.clock`) that
moves only when the test says `advance(...)`.  "process" starts a real `easlab serve` on free HTTP
and SMTP ports, for black-box tests; its clock is the real one.  Choose with the marker
`@pytest.mark.easlab(mode="process")`, the option `--easlab-mode`, or the ini option `easlab_mode`.
The store is fresh for each test, or shared by the tests of a module with `scope="module"` (marker)
or `easlab_scope = module` (ini).

Faults (server/faults.py) are injected with `easlab.fault(kind, ...)`, listed with `faults()` and
removed with `clear_faults()`: in-process straight into the store on the server's clock, in process
mode through /api/faults as an org-admin account the fixture makes (`easlab-admin`).

Every wait (`wait_for_mail`, `wait_for_ping`, `wait_for_device_state`, `wait_for_outbound`)
returns as soon as the server's own events (server/events.py, the push hub) show the condition
holds — at once when it already does — and raises `WaitTimeout` (a TimeoutError) otherwise.  In
process mode the waits are long-polls on the server's /api/wait endpoints (server/api_wait.py).

Async tests run under AnyIO's pytest plugin (`@pytest.mark.anyio`, asyncio backend); devices the
fixture made are closed at the end of each test, and the server — its process, its files — when
its scope ends.  The same objects work without pytest: `start(mode=...)` returns an `Easlab`.
"""
from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import os
import re
import secrets
import selectors
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage, Message
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from pathlib import Path
from typing import Any

import pytest

from .events import WaitTimeout

__all__ = ["Easlab", "InProcessEaslab", "ProcessEaslab", "User", "Delivered", "ModeError", "WaitTimeout", "start"]

MODES = {"inprocess": "inprocess", "in-process": "inprocess", "asgi": "inprocess",
         "process": "process", "serve": "process"}
SCOPES = ("function", "module")
MARKER_ARGS = ("mode", "scope", "domain", "clock")
DEFAULT_DOMAIN = "easlab.test"
DEFAULT_PASSWORD = "secret"
WAITER = "easlab-waits"  # the viewer account process mode's waits authenticate as
ADMIN = "easlab-admin"  # the org-admin account process mode's fault calls authenticate as
STARTUP_TIMEOUT = 30.0


class ModeError(RuntimeError):
    """The operation does not exist in this fixture mode (the clock of a server process, ...)."""


# -- values the fixture hands out -----------------------------------------------------------------
@dataclass(frozen=True)
class User:
    name: str
    password: str
    display_name: str
    role: str
    address: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Delivered:
    message_id: str
    recipients: list[str]


# A device without a profile may still say what it is: these keys, the HTTP identity and the
# DeviceInformation it reports when it provisions (14.1+).
IDENTITY_KEYS = ("device_type", "user_agent", "model", "os", "friendly_name", "os_language", "imei",
                 "phone_number", "mobile_operator")


def _profile(profile):
    """None, an eas.profiles.Profile, its name, or a dict of IDENTITY_KEYS."""
    if profile is None or isinstance(profile, dict):
        unknown = set(profile or {}) - set(IDENTITY_KEYS)
        if unknown:
            raise ValueError(f"unknown device identity key(s) {', '.join(sorted(unknown))}; use {', '.join(IDENTITY_KEYS)}")
        return None
    from easlab.eas import profiles

    if isinstance(profile, profiles.Profile):
        return profile
    try:
        return profiles.get(str(profile))
    except KeyError:
        raise ValueError(f"device profile {profile!r}: use one of {', '.join(profiles.names())}, "
                         f"a dict of {', '.join(IDENTITY_KEYS)}, or None") from None


# -- password hashes: argon2 is slow on purpose, tests make the same users again and again --------
_HASHES: dict[str, str] = {}


def _hash(password: str) -> str:
    hashed = _HASHES.get(password)
    if hashed is None:
        from easlab.storage.passwords import hash_password

        hashed = _HASHES[password] = hash_password(password)
    return hashed


_WAITER_PASSWORD = secrets.token_urlsafe(18)  # one per test session: its hash is made once
_ADMIN_PASSWORD = secrets.token_urlsafe(18)


# -- the server -------------------------------------------------------------------------------------
class Easlab:
    """One easlab server with a fresh store, and what a test does with it.  Mode-specific parts
    live in InProcessEaslab and ProcessEaslab."""

    mode: str = ""
    _clock = None  # the server's clock when the server runs in this process

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
        raise ModeError("easlab.clock: in process mode the server is another process and runs on the real clock; "
                        "use mode='inprocess' for a ManualClock, or shorten the windows instead "
                        "(easlab.org(discovery_minutes=0), a policy's DevicePolicyRefreshInterval)")

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
        from .admin import Admin

        return Admin(self.db, self._notify, self.domain, clock=self._clock)

    def make_user(self, name: str, password: str = DEFAULT_PASSWORD, display_name: str | None = None,
                  role: str | None = None) -> User:
        """A mailbox NAME@domain with its folders; `role` is an admin role (org-admin, viewer, ...)."""
        from easlab.storage.mailbox import ensure_mailbox
        from easlab.storage.models import User as UserRow
        from easlab.storage.users import UserError, get_user, normalise_name

        from .admin import ROLES

        if role not in (None, "", *ROLES):
            raise ValueError(f"role {role!r}: use one of {', '.join(ROLES)}")
        if not password:
            raise ValueError("a password is required")
        name = normalise_name(name)
        with self.db.session() as s:
            if get_user(s, name) is not None:
                raise UserError(f"user {name} exists" + (" (this store is shared by the module)" if self.scope == "module" else ""))
            row = UserRow(name=name, display_name=display_name or name, password_hash=_hash(password), role=role or "")
            s.add(row)
            s.flush()
            ensure_mailbox(s, row)
            user = User(row.name, password, row.display_name, row.role, f"{row.name}@{self.domain}")
        self._passwords[name] = password
        self._user_added(user)
        return user

    def _user_added(self, user: User) -> None:
        pass

    def _credentials(self, user: User | str) -> tuple[str, str]:
        if isinstance(user, User):
            return user.name, user.password
        name = str(user).strip().lower()
        if name not in self._passwords:
            raise LookupError(f"no password known for {name!r}: create the user with make_user or pass its User")
        return name, self._passwords[name]

    def policy(self, name: str, *, default: bool = False, **settings: Any) -> dict:
        """Create (or change) mobile device mailbox policy NAME; settings by their Exchange names
        (PasswordEnabled=True, DevicePolicyRefreshInterval=24, ...).  Held requests of its users end."""
        from easlab.eas.policy import PolicySettings
        from easlab.storage.policies import PolicyError, add_policy, get_policy, update_policy, users_of

        unknown = set(settings) - set(PolicySettings.names())
        if unknown:
            raise PolicyError(f"unknown policy setting(s) {', '.join(sorted(unknown))}")
        with self.db.session() as s:
            if get_policy(s, name) is None:
                row = add_policy(s, name, PolicySettings(**settings), default=default)
            else:
                row = update_policy(s, name, settings, default=default)
            s.flush()
            users = users_of(s, row)
            out = {"name": row.name, "default": row.is_default, "settings": json.loads(row.settings)}
        self._notify({"event": "policy", "users": users})
        return out

    def assign_policy(self, user: User | str, name: str) -> None:
        """Set-CASMailbox -ActiveSyncMailboxPolicy NAME: the user's devices re-provision."""
        from easlab.storage.policies import assign_policy
        from easlab.storage.users import get_user

        from .admin import NotFound

        with self.db.session() as s:
            row = get_user(s, str(user))
            if row is None:
                raise NotFound(f"no user {user}")
            assign_policy(s, row, name)
            uid = row.id
        self._notify({"event": "policy", "users": [uid]})

    def rule(self, characteristic: str, query: str, access: str) -> dict:
        """A device access rule: rule("DeviceType", "iPhone", "Quarantine")."""
        from .admin import SHELL

        return self.admin.rule_add(SHELL, characteristic, query, access)

    def org(self, **settings: Any) -> dict:
        """ActiveSync organisation settings: default_access, admin_mail, user_mail_insert,
        max_devices, blocked_delay, discovery_minutes."""
        from .admin import SHELL

        return self.admin.org_set(SHELL, **settings)

    def messages(self, user: User | str, folder: str = "Inbox") -> list:
        """The messages in a folder now, oldest first (server.api_wait.Mail)."""
        from sqlmodel import func, select

        from easlab.storage.models import Folder, Item
        from easlab.storage.users import get_user

        from .admin import NotFound
        from .api_wait import mail_of

        name = str(user).strip().lower()
        with self.db.session() as s:
            row = get_user(s, name)
            if row is None:
                raise NotFound(f"no user {name}")
            box = s.exec(select(Folder).where(Folder.user_id == row.id, Folder.deleted == False,  # noqa: E712
                                              func.lower(Folder.display_name) == folder.lower())).first()
            if box is None:
                raise NotFound(f"{name} has no folder {folder!r}")
            return [mail_of(item, name, box) for item in s.exec(select(Item).where(Item.folder_id == box.id).order_by(Item.id))]

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

    # -- devices and clients ----------------------------------------------------------------------
    async def make_device(self, user: User | str, profile=None, version: str | None = None,
                          device_id: str | None = None, *, connect: bool = True, provision: bool = True,
                          **kw: Any):
        """A simulated device (server.device.Device) of `user`, connected, closed when the test ends.

        `profile`: a client from eas/profiles.py by name ("ios", "android-gmail", "outlook-mac",
        ...) or as a Profile: the device introduces itself as that client does (User-Agent,
        DeviceType, its protocol version, DeviceInformation, a DeviceId in its style) and
        connecting runs that client's first connection (server/profiles_run.py, without the
        Ping); the run is kept as `device.connection`.  Without a profile: eas.client's simulated
        device, or a dict of IDENTITY_KEYS for a made-up one; connecting is Provision (from 14.1 on
        it carries DeviceInformation) and FolderSync, and provision=False leaves Provision out
        unless the server demands it, so the device never says what it is.

        `version`: the protocol version (default: the profile's, else 14.1).  connect=False:
        nothing sent yet.  Other keywords go to Device (timeout=, encoded_query=, ...)."""
        from easlab.eas import versions

        from .device import Device

        name, password = self._credentials(user)
        spec = _profile(profile)
        if version is not None and version not in versions.SUPPORTED:
            raise ValueError(f"protocol version {version!r}: use one of {', '.join(versions.SUPPORTED)}")
        if spec is not None:
            if not provision:
                raise ValueError("a profile connects as its client does; for a device that never provisions "
                                 "use profile=None or a dict, with provision=False")
            from .profiles_run import device_for

            device = device_for(spec, self._target(), name, password, device_id=device_id, **kw)
            if version is not None:
                device.state.protocol_version = version
        else:
            identity = dict(profile or {})
            device = Device(self._target(), name, password,
                            device_id=device_id or f"EASLABSIM{next(self._device_numbers):04d}",
                            device_type=identity.pop("device_type", None), user_agent=identity.pop("user_agent", None),
                            protocol_version=version or "14.1", **kw)
            for attr, value in identity.items():
                setattr(device.state.info, attr, value)
        self._open.append(device)
        if not connect:
            return device
        if spec is not None:
            from .profiles_run import run_profile

            device.connection = await run_profile(device)
            refused = [s for s in device.connection.steps if s.http_status == 401]
        else:
            results = []
            if provision:
                results.append(await device.provision())
            results.append(await device.folder_sync())
            if results[-1].needs_provisioning:
                results.append(await device.provision())
                results.append(await device.folder_sync())
            refused = [r for r in results if r.http_status == 401]
        if refused:
            raise PermissionError(f"the server refused {name}'s credentials (HTTP 401)")
        return device

    def http(self, user: User | str | None = None):
        """An httpx.AsyncClient on the server's base URL (Basic auth as `user` if given); closed at
        the end of the test."""
        import httpx

        auth = httpx.BasicAuth(*self._credentials(user)) if user is not None else None
        client = self._http_client(auth=auth)
        self._open.append(client)
        return client

    async def aclose_clients(self) -> None:
        """Close the devices and clients made since the last call (the fixture calls it after each test)."""
        opened, self._open = self._open, []
        for thing in reversed(opened):
            try:
                await thing.aclose()
            except Exception:  # a client whose loop or server is already gone
                pass

    # -- mail -------------------------------------------------------------------------------------
    def _addresses(self, to) -> list[str]:
        if to is None:
            return []
        items = [to] if isinstance(to, (str, User)) else list(to)
        out = []
        for item in items:
            if isinstance(item, User):
                out.append(item.address)
            else:
                _, address = parseaddr(str(item))
                address = address or str(item)
                out.append(address if "@" in address else f"{address}@{self.domain}")
        return out

    def _now(self) -> datetime:
        return datetime.now(timezone.utc)

    def build_message(self, to, *, subject: str = "", body: str = "", sender: str | None = None,
                      html: str | None = None, headers: dict | None = None) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = sender or "Sender <sender@example.net>"
        msg["To"] = ", ".join(self._addresses(to))
        msg["Subject"] = subject
        msg["Date"] = format_datetime(self._now())
        msg["Message-ID"] = make_msgid(domain="example.net")
        for name, value in (headers or {}).items():
            msg[name] = value
        msg.set_content(body or "\n")
        if html is not None:
            msg.add_alternative(html, subtype="html")
        return msg

    async def deliver(self, mail: EmailMessage | Message | bytes | None = None, to=None, *, subject: str = "",
                      body: str = "", sender: str | None = None, html: str | None = None) -> Delivered:
        """Deliver a message to local mailboxes: an EmailMessage, raw bytes, or one built from
        subject/body/sender (and html).  `to`: users, names or addresses (default: the message's
        To, Cc and Bcc).  In process mode it goes through the server's SMTP listener."""
        if mail is None:
            if to is None:
                raise ValueError("deliver() needs `to` when it builds the message")
            mail = self.build_message(to, subject=subject, body=body, sender=sender, html=html)
        from email import message_from_bytes
        from email import policy as email_policy

        if isinstance(mail, (bytes, bytearray)):
            mime = bytes(mail)
            parsed = message_from_bytes(mime)
        else:
            parsed = mail
            mime = mail.as_bytes(policy=email_policy.SMTP)
        recipients = self._addresses(to)
        if not recipients:
            recipients = [a for _, a in getaddresses(parsed.get_all("To", []) + parsed.get_all("Cc", [])
                                                    + parsed.get_all("Bcc", [])) if a]
            if not recipients:
                raise ValueError("no recipients: pass `to` or give the message a To header")
        envelope_from = parseaddr(sender or parsed.get("From", ""))[1] or "sender@example.net"
        await self._deliver(mime, envelope_from, recipients)
        return Delivered(str(parsed.get("Message-ID", "")), recipients)

    async def _deliver(self, mime: bytes, sender: str, recipients: list[str]) -> None:
        raise NotImplementedError

    # -- waits ------------------------------------------------------------------------------------
    async def wait_for_mail(self, user: User | str, folder: str = "Inbox",
                            match: str | Callable[[Any], bool] | None = None, timeout: float = 5.0,
                            after=None):
        """The first message in the folder (already there or still to come) whose subject contains
        `match` (a string) or for which `match(mail)` is true; `after`: only messages newer than
        this one (a Mail or an id).  Returns a server.api_wait.Mail."""
        name = str(user).strip().lower()
        cursor = getattr(after, "id", after) or 0
        subject = match if isinstance(match, str) else None
        predicate = match if callable(match) else None
        deadline = time.monotonic() + timeout
        while True:
            found = await self._wait_mail(name, folder, subject, cursor, max(0.0, deadline - time.monotonic()),
                                          with_mime=predicate is not None)
            if predicate is None or predicate(found):
                return found
            cursor = found.id

    async def wait_for_outbound(self, match: str | Callable[[Any], bool] | None = None, timeout: float = 5.0,
                                *, to: str | None = None, subject: str | None = None, after=None):
        """The first message in the outbound queue (mail for other domains) that matches: `match`
        is a recipient address when it contains '@', else a piece of the subject, or a callable
        taking a server.api_wait.Outbound."""
        if isinstance(match, str):
            if "@" in match:
                to = to or match
            else:
                subject = subject or match
        predicate = match if callable(match) else None
        cursor = getattr(after, "id", after) or 0
        deadline = time.monotonic() + timeout
        while True:
            found = await self._wait_outbound(to, subject, cursor, max(0.0, deadline - time.monotonic()),
                                              with_mime=predicate is not None)
            if predicate is None or predicate(found):
                return found
            cursor = found.id

    async def wait_for_device_state(self, user: User | str, device_id, state: str, timeout: float = 5.0) -> dict:
        """Once the device's stored access state is `state` (Allowed, Blocked, Quarantined,
        DeviceDiscovery); returns the device as the admin API shows it."""
        device_id = getattr(getattr(device_id, "state", None), "device_id", device_id)
        return await self._wait_device(str(user).strip().lower(), str(device_id), state, timeout)

    async def wait_for_ping(self, device, timeout: float = 5.0, *, user: User | str | None = None) -> dict:
        """Once the server holds a Ping (or long-poll Sync) of `device` (a Device, or a device id
        with `user=`): after this, a delivery is what ends that Ping."""
        if hasattr(device, "state"):
            name, device_id = device.state.user, device.state.device_id
        else:
            if user is None:
                raise ValueError("wait_for_ping(device_id) needs user=")
            name, device_id = str(user), str(device)
        return await self._wait_ping(name.strip().lower(), device_id, timeout)

    async def _wait_mail(self, user, folder, subject, after, timeout, with_mime):
        raise NotImplementedError

    async def _wait_outbound(self, to, subject, after, timeout, with_mime):
        raise NotImplementedError

    async def _wait_device(self, user, device_id, state, timeout):
        raise NotImplementedError

    async def _wait_ping(self, user, device_id, timeout):
        raise NotImplementedError

    # -- lifetime ---------------------------------------------------------------------------------
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


class InProcessEaslab(Easlab):
    """The app in this process over httpx.ASGITransport, with a ManualClock by default."""

    mode = "inprocess"
    url = "http://testserver"

    def __init__(self, directory: Path, domain: str = DEFAULT_DOMAIN, scope: str = "function",
                 clock: str = "manual", owns_directory: bool = True):
        super().__init__(directory, domain, scope, owns_directory)
        from .app import create_app
        from .clock import ManualClock, SystemClock
        from .config import Settings

        # A ManualClock that starts at the real time and then stands still until advanced.
        self._clock = ManualClock(datetime.now(timezone.utc).replace(microsecond=0)) if clock == "manual" else SystemClock()
        settings = Settings(db_url=self.db_url, domain=self.domain, public_url=self.url)
        self._app = create_app(settings, self.db, clock=self._clock)
        from .api_wait import Waits

        self._waits = Waits(self.db, self._app.state.hub)

    @property
    def app(self):
        return self._app

    @property
    def clock(self):
        """The server's clock: a server.clock.ManualClock (advance(seconds, minutes=...))."""
        return self._clock

    def _now(self) -> datetime:
        return self._clock.now()

    def _target(self):
        return self._app

    def _http_client(self, **kw):
        import httpx

        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self._app), base_url=self.url, **kw)

    def _add_fault(self, fields: dict) -> dict:
        from .faults import inject

        kind = fields.pop("kind")
        return inject(self._app, kind, **fields)

    def faults(self) -> list[dict]:
        from .faults import listing

        return listing(self._app)

    def remove_fault(self, fault_id: int) -> bool:
        from .faults import remove

        return remove(self._app, int(fault_id))

    def clear_faults(self, user: User | str | None = None) -> int:
        from .faults import clear

        return clear(self._app, str(user).strip().lower() if user is not None else None)

    def _user_added(self, user: User) -> None:
        # The fixture knows the password it just set, so the server need not spend an argon2
        # verification on the test's first request: what a successful login would have cached.
        self._app.state.authenticator.remember(_hash(user.password), user.password)

    def _notify(self, event: dict) -> None:
        hub = self._app.state.hub
        loop = hub._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is not None and running is not loop and loop.is_running():
            loop.call_soon_threadsafe(hub.handle_event, event)
        else:
            hub.handle_event(event)

    async def _deliver(self, mime: bytes, sender: str, recipients: list[str]) -> None:
        # Injected smtp faults answer where the SMTP listener would (server/smtp.py): at RCPT for
        # one recipient, at DATA for the message; smtplib's exceptions, as in process mode.
        from .faults import smtp_fault

        store = self._app.state.store
        refused: dict[str, tuple[int, bytes]] = {}
        accepted = []
        for address in recipients:
            reply = await smtp_fault(store, address, "rcpt")
            if reply is not None:
                code, _, text = reply.partition(" ")
                refused[address] = (int(code), text.encode())
            else:
                accepted.append(address)
        if not accepted:
            raise smtplib.SMTPRecipientsRefused(refused)
        reply = await smtp_fault(store, accepted, "data")
        if reply is not None:
            code, _, text = reply.partition(" ")
            raise smtplib.SMTPDataError(int(code), text.encode())
        result = await store.deliver(mime, accepted)
        refused.update({a: (550, b"5.1.1 no such user here") for a in result.unknown})
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)

    async def _wait_mail(self, user, folder, subject, after, timeout, with_mime):
        return await self._waits.mail(user, folder, subject, after, timeout)

    async def _wait_outbound(self, to, subject, after, timeout, with_mime):
        return await self._waits.outbound(to, subject, after, timeout)

    async def _wait_device(self, user, device_id, state, timeout):
        return await self._waits.device(user, device_id, state, timeout)

    async def _wait_ping(self, user, device_id, timeout):
        return await self._waits.ping(user, device_id, timeout)

    def _stop(self) -> None:
        self._app.state.outbound.close()


def _easlab_command() -> list[str]:
    script = Path(sys.executable).parent / "easlab"
    return [str(script)] if script.exists() else [sys.executable, "-m", "easlab.server.cli"]


def _die_with_parent():
    """A preexec_fn giving the server SIGTERM when the test process dies, however it dies (Linux's
    PR_SET_PDEATHSIG), or None.  prctl is looked up here, in the parent: the child only calls it
    (no dlopen between fork and exec).  Only from the main thread, since the signal comes when the
    thread that forked ends."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ProcessEaslab(Easlab):
    """A real `easlab serve` on free ports (HTTP and SMTP) over its own SQLite file."""

    mode = "process"

    def __init__(self, directory: Path, domain: str = DEFAULT_DOMAIN, scope: str = "function",
                 owns_directory: bool = True, extra_args: Iterable[str] = ()):
        super().__init__(directory, domain, scope, owns_directory)
        self.db.create_all()  # before the server starts: two processes never race to create tables
        self.log_path = self.directory / "easlab.server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("EASLAB_")}
        command = [*_easlab_command(), "serve", "--host", "127.0.0.1", "--port", "0", "--smtp-port", "0",
                   "--db", self.db_url, "--domain", self.domain, "--log-level", "warning", *extra_args]
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                          env=env, cwd=self.directory,
                                          preexec_fn=_die_with_parent())
        try:
            self.url, self.smtp_host, self._smtp_port = self._read_addresses()
            self._ready()
        except BaseException:
            self.close()
            raise
        self._waiter: str | None = None
        self._admin: str | None = None

    # -- start-up ---------------------------------------------------------------------------------
    def _server_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def _read_addresses(self) -> tuple[str, str, int]:
        """The URL and SMTP port the server prints once it listens (no polling: a blocking read)."""
        fd = self._proc.stdout.fileno()
        buffer = b""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while not any(b"SMTP on" in line for line in buffer.split(b"\n")[:-1]):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise RuntimeError(f"easlab serve did not start within {STARTUP_TIMEOUT:g} s\n{self._server_log()}")
                chunk = os.read(fd, 4096)
                if not chunk:
                    self._proc.wait(5)
                    raise RuntimeError(f"easlab serve exited with {self._proc.returncode}\n{self._server_log()}")
                buffer += chunk
        url = smtp = None
        for line in buffer.decode(errors="replace").splitlines():
            if "EAS endpoint" in line:
                url = line.split()[-1].rsplit("/Microsoft-Server-ActiveSync", 1)[0]
            elif "SMTP on" in line:
                smtp = line.split()[-1]
        if url is None or smtp is None:
            raise RuntimeError(f"easlab serve printed no addresses: {buffer!r}\n{self._server_log()}")
        host, _, port = smtp.rpartition(":")
        return url, host.strip("[]"), int(port)

    def _ready(self) -> None:
        """One request: the listening socket was bound before the URL was printed, so it connects at
        once and is answered as soon as the app serves (and the control socket listens)."""
        host, _, port = self.url.split("://", 1)[1].rpartition(":")
        conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=STARTUP_TIMEOUT)
        try:
            conn.request("GET", "/Microsoft-Server-ActiveSync")
            conn.getresponse().read()
        finally:
            conn.close()

    # -- the mode's parts -------------------------------------------------------------------------
    @property
    def smtp_port(self) -> int:
        return self._smtp_port

    @property
    def process(self) -> subprocess.Popen:
        return self._proc

    def _target(self):
        return self.url

    def _http_client(self, **kw):
        import httpx

        return httpx.AsyncClient(base_url=self.url, **kw)

    def _notify(self, event: dict) -> None:
        from .control import send

        send(self.db.url, event)  # as the CLI tells a running server (server/control.py)

    async def _deliver(self, mime: bytes, sender: str, recipients: list[str]) -> None:
        # smtplib sends bytes as they are; a message written with bare LF (Python's default
        # as_bytes()) would reach the server as one overlong line.
        wire = re.sub(rb"\r?\n", b"\r\n", mime)

        def send() -> None:
            with smtplib.SMTP(self.smtp_host, self._smtp_port, timeout=30) as smtp:
                refused = smtp.sendmail(sender, recipients, wire)
            if refused:
                raise smtplib.SMTPRecipientsRefused(refused)

        await asyncio.to_thread(send)

    # -- faults: /api/faults as an org-admin ------------------------------------------------------
    def _admin_account(self) -> tuple[str, str]:
        if self._admin is None:
            from easlab.storage.users import get_user

            with self.db.session() as s:
                exists = get_user(s, ADMIN) is not None
            if not exists:
                self.make_user(ADMIN, _ADMIN_PASSWORD, "easlab test faults", role="org-admin")
            self._admin = ADMIN
        return ADMIN, _ADMIN_PASSWORD

    def _api(self, method: str, path: str, *, json_body: dict | None = None, params: dict | None = None,
             ok: tuple[int, ...] = (200,)):
        """One blocking call on the server's API as the fixture's admin: (status, JSON or None).
        Blocking is fine even from an async test: the server is another process."""
        import httpx

        from easlab.storage.faults import FaultError

        with httpx.Client(base_url=self.url, auth=self._admin_account(), timeout=30) as client:
            response = client.request(method, path, json=json_body, params=params)
        body = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = {"error": response.text}
        if response.status_code in ok:
            return response.status_code, body
        message = (body or {}).get("error") if isinstance(body, dict) else None
        if response.status_code == 400:
            raise FaultError(message or "bad input")
        raise RuntimeError(f"{method} {path}: HTTP {response.status_code} {message or ''}".rstrip())

    def _add_fault(self, fields: dict) -> dict:
        _, view = self._api("POST", "/api/faults", json_body={k: v for k, v in fields.items() if v is not None}, ok=(201,))
        return view

    def faults(self) -> list[dict]:
        return self._api("GET", "/api/faults")[1]

    def remove_fault(self, fault_id: int) -> bool:
        status, _ = self._api("DELETE", f"/api/faults/{int(fault_id)}", ok=(204, 404))
        return status == 204

    def clear_faults(self, user: User | str | None = None) -> int:
        params = {"user": str(user).strip().lower()} if user is not None else None
        return self._api("DELETE", "/api/faults", params=params)[1]["removed"]

    # -- waits: long-polls on /api/wait ----------------------------------------------------------
    def _waiter_account(self) -> tuple[str, str]:
        password = _WAITER_PASSWORD
        if self._waiter is None:
            from easlab.storage.users import get_user

            with self.db.session() as s:
                exists = get_user(s, WAITER) is not None
            if not exists:
                self.make_user(WAITER, password, "easlab test waits", role="viewer")
            self._waiter = WAITER
        return WAITER, password

    async def _long_poll(self, path: str, params: dict, timeout: float) -> dict:
        import httpx

        params = {k: v for k, v in params.items() if v is not None}
        params["timeout"] = f"{timeout:.3f}"
        auth = await asyncio.to_thread(self._waiter_account)
        async with httpx.AsyncClient(base_url=self.url, auth=auth, timeout=timeout + 30) as client:
            response = await client.get(f"/api/wait/{path}", params=params)
        if response.status_code == 200:
            return response.json()
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text}
        if response.status_code == 408:
            raise WaitTimeout(body.get("detail") or f"{path} wait timed out after {timeout:g} s")
        if response.status_code == 404 and body.get("error") == "no such API path":
            raise RuntimeError("this easlab server has no /api/wait endpoints: server/app.py must mount "
                               "easlab.server.api_wait.router() at /api/wait")
        if response.status_code == 404:
            raise LookupError(body.get("error"))
        raise RuntimeError(f"GET /api/wait/{path}: HTTP {response.status_code} {body.get('error')}")

    async def _wait_mail(self, user, folder, subject, after, timeout, with_mime):
        from .api_wait import Mail

        data = await self._long_poll("mail", {"user": user, "folder": folder, "subject": subject, "after": after,
                                              "mime": "1" if with_mime else None}, timeout)
        return Mail.from_json(data)

    async def _wait_outbound(self, to, subject, after, timeout, with_mime):
        from .api_wait import Outbound

        data = await self._long_poll("outbound", {"to": to, "subject": subject, "after": after,
                                                  "mime": "1" if with_mime else None}, timeout)
        return Outbound.from_json(data)

    async def _wait_device(self, user, device_id, state, timeout):
        return await self._long_poll("device", {"user": user, "device_id": device_id, "state": state}, timeout)

    async def _wait_ping(self, user, device_id, timeout):
        return await self._long_poll("ping", {"user": user, "device_id": device_id}, timeout)

    # -- shutdown ---------------------------------------------------------------------------------
    def _stop(self) -> None:
        proc = self._proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                # uvicorn waits for open requests (a held Ping) after the first signal; a second
                # one makes it stop without them.
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        from .control import socket_path

        try:  # left behind only if the server was killed
            os.unlink(socket_path(self.db.url))
        except OSError:
            pass


def start(mode: str = "inprocess", *, directory: str | Path | None = None, domain: str = DEFAULT_DOMAIN,
          clock: str = "manual", scope: str = "function") -> Easlab:
    """Start a server outside pytest (benchmarks, scripts); `close()` it, or use it as a context manager."""
    mode = _mode(mode)
    owns = directory is None
    path = Path(tempfile.mkdtemp(prefix="easlab-")) if directory is None else Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    if mode == "process":
        return ProcessEaslab(path, domain, scope, owns_directory=owns)  # the real clock, always
    return InProcessEaslab(path, domain, scope, clock=clock, owns_directory=owns)


# -- pytest wiring ---------------------------------------------------------------------------------
def _mode(value: str) -> str:
    mode = MODES.get(str(value).strip().lower())
    if mode is None:
        raise pytest.UsageError(f"easlab mode {value!r}: use inprocess or process")
    return mode


@dataclass(frozen=True)
class _Options:
    mode: str
    scope: str
    domain: str
    clock: str


def _options(item) -> _Options:
    config = item.config
    given: dict[str, Any] = {}
    for marker in item.iter_markers("easlab"):  # the closest marker first
        if marker.args:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.easlab takes keyword arguments only "
                                    f"({', '.join(MARKER_ARGS)})")
        for key, value in marker.kwargs.items():
            if key not in MARKER_ARGS:
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.easlab got {key}=; it knows "
                                        f"{', '.join(MARKER_ARGS)}")
            given.setdefault(key, value)
    mode = _mode(given.get("mode") or config.getoption("easlab_mode") or config.getini("easlab_mode") or "inprocess")
    scope = str(given.get("scope") or config.getini("easlab_scope") or "function").lower()
    if scope not in SCOPES:
        raise pytest.UsageError(f"easlab scope {scope!r}: use function or module")
    clock = str(given.get("clock") or ("manual" if mode == "inprocess" else "system")).lower()
    if clock not in ("manual", "system"):
        raise pytest.UsageError(f"easlab clock {clock!r}: use manual or system")
    if mode == "process" and clock == "manual":
        raise pytest.UsageError(f"{item.nodeid}: clock='manual' needs mode='inprocess'; a server process runs on "
                                "the real clock")
    return _Options(mode, scope, str(given.get("domain") or DEFAULT_DOMAIN).lower(), clock)


def _start(options: _Options, tmp_path_factory) -> Easlab:
    directory = tmp_path_factory.mktemp("easlab")
    if options.mode == "process":
        return ProcessEaslab(directory, options.domain, options.scope)
    return InProcessEaslab(directory, options.domain, options.scope, clock=options.clock)


def pytest_addoption(parser) -> None:
    group = parser.getgroup("easlab", "easlab server fixture")
    group.addoption("--easlab-mode", dest="easlab_mode", default=None, choices=sorted(set(MODES)),
                    help="run the easlab fixture in-process (default) or as a real `easlab serve` process; "
                         "a test's @pytest.mark.easlab(mode=...) still wins")
    parser.addini("easlab_mode", "easlab fixture mode: inprocess (default) or process", default="inprocess")
    parser.addini("easlab_scope", "easlab store per test (function, default) or shared per module (module)",
                  default="function")


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers",
        "easlab(mode=None, scope=None, domain=None, clock=None): how the easlab fixture runs its server: "
        "mode 'inprocess' or 'process', scope 'function' or 'module', the mail domain, clock 'manual' "
        "(in-process default) or 'system'",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test in process mode shows the server's log (which teardown removes)."""
    report = yield
    if report.failed and report.when == "call":
        server = getattr(item, "funcargs", {}).get("easlab")
        if isinstance(server, ProcessEaslab):
            log = server._server_log()
            if log.strip():
                report.sections.append(("easlab server log (tail)", log))
    return report


@pytest.fixture(scope="module")
def _easlab_shared():
    """Servers shared by the tests of one module (scope='module'), stopped after its last test."""
    servers: dict[_Options, Easlab] = {}
    yield servers
    for server in servers.values():
        server.close()


@pytest.fixture
def _easlab_server(request, _easlab_shared, tmp_path_factory):
    options = _options(request.node)
    if options.scope == "module":
        server = _easlab_shared.get(options)
        if server is None:
            server = _easlab_shared[options] = _start(options, tmp_path_factory)
        yield server
        return
    server = _start(options, tmp_path_factory)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def _easlab_loop(_easlab_server):
    """Closes the test's devices and clients on the test's own event loop, before the server stops."""
    yield
    await _easlab_server.aclose_clients()


@pytest.fixture
def easlab(request) -> Easlab:
    """An easlab server with a fresh store: see server/pytest_plugin.py and docs/testing.md."""
    if "anyio_backend" in request.fixturenames:
        backend = request.getfixturevalue("anyio_backend")
        name = backend if isinstance(backend, str) else backend[0]
        if name != "asyncio":
            pytest.skip(f"easlab's server runs on asyncio, not {name}")
        server = request.getfixturevalue("_easlab_server")
        request.getfixturevalue("_easlab_loop")
        return server
    return request.getfixturevalue("_easlab_server")
