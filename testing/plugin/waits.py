"""The fixture's waits: each returns as soon as the server's own events show the condition holds
(at once when it already does) and raises `WaitTimeout` (a TimeoutError) otherwise; nothing here
sleeps.

In-process the waits ask server/api/waits.py's `Waits` directly; in process mode they are
long-polls on the server's /api/wait endpoints (`long_poll`).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from easlab.server.events import WaitTimeout

from .factories import User


class Waits:
    """wait_for_mail, wait_for_outbound, wait_for_device_state and wait_for_ping of the `Easlab`
    fixture object; the mode classes answer the `_wait_*` questions."""

    async def wait_for_mail(self, user: User | str, folder: str = "Inbox",
                            match: str | Callable[[Any], bool] | None = None, timeout: float = 5.0,
                            after=None):
        """The first message in the folder (already there or still to come) whose subject contains
        `match` (a string) or for which `match(mail)` is true; `after`: only messages newer than
        this one (a Mail or an id).  Returns a server.api.waits.Mail."""
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
        taking a server.api.waits.Outbound."""
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


async def long_poll(url: str, auth: tuple[str, str], path: str, params: dict, timeout: float) -> dict:
    """GET /api/wait/PATH on the server at `url`: its JSON once the condition holds."""
    import httpx

    params = {k: v for k, v in params.items() if v is not None}
    params["timeout"] = f"{timeout:.3f}"
    async with httpx.AsyncClient(base_url=url, auth=auth, timeout=timeout + 30) as client:
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
                           "easlab.server.api.router() at /api")
    if response.status_code == 404:
        raise LookupError(body.get("error"))
    raise RuntimeError(f"GET /api/wait/{path}: HTTP {response.status_code} {body.get('error')}")
