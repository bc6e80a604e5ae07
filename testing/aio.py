"""A simulated EAS device over HTTP: `easlab.testing.device.SimulatedDevice` plus an httpx.AsyncClient.

Against a real server:

    async with Device("https://mail.example.test", "alice", "secret") as device:
        await device.provision()
        await device.folder_sync()
        result = await device.sync("Inbox")

In-process against the ASGI app (tests):

    async with Device(app, "alice", "secret", protocol_version="12.1") as device: ...

Every request the core builds is sent as is; the answer goes back to the core, which updates the
device state and returns the typed result.  `exchanges` keeps every (request, response) pair.
"""
from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from easlab.eas.wbxml import E, Element

from .device import (
    ENDPOINT,
    CommandResult,
    DeviceState,
    EstimateResult,
    FolderSyncResult,
    HTTPRequest,
    HTTPResponse,
    OptionsResult,
    PingResult,
    ProvisionResult,
    Result,
    SimulatedDevice,
    SyncCollection,
    SyncResult,
)

DEFAULT_TIMEOUT = 60.0
HOLD_MARGIN = 30.0  # a held Ping/Sync gets its interval plus this much


def _base_url(url: str) -> str:
    url = url.rstrip("/")
    if url.lower().endswith(ENDPOINT.lower()):
        url = url[: -len(ENDPOINT)]
    return url


class Device:
    """An asynchronous simulated device.  `target` is a base URL (with or without
    /Microsoft-Server-ActiveSync) or an ASGI application."""

    def __init__(self, target: str | Any, user: str, password: str | None, *,
                 device_id: str | None = None, device_type: str | None = None,
                 protocol_version: str | None = None, user_agent: str | None = None,
                 state: DeviceState | None = None, encoded_query: bool = False,
                 timeout: float = DEFAULT_TIMEOUT, verify: bool | ssl.SSLContext = True,
                 on_exchange: Callable[[HTTPRequest, HTTPResponse], None] | None = None):
        if state is None:
            state = DeviceState(user=user)
        state.user = user
        for name, value in (("device_id", device_id), ("device_type", device_type),
                            ("protocol_version", protocol_version), ("user_agent", user_agent)):
            if value is not None:
                setattr(state, name, value)
        self.core = SimulatedDevice(state=state, encoded_query=encoded_query)
        self.timeout = timeout
        self.exchanges: list[tuple[HTTPRequest, HTTPResponse]] = []
        self.on_exchange = on_exchange
        auth = httpx.BasicAuth(user, password) if password is not None else None
        if isinstance(target, str):
            self.http = httpx.AsyncClient(base_url=_base_url(target), auth=auth, verify=verify, timeout=timeout)
        else:
            self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=target), base_url="http://testserver",
                                          auth=auth, timeout=timeout)

    @classmethod
    def for_url(cls, url: str, user: str, password: str | None, **kw: Any) -> Device:
        return cls(url, user, password, **kw)

    @classmethod
    def for_app(cls, app: Any, user: str, password: str | None, **kw: Any) -> Device:
        return cls(app, user, password, **kw)

    # -- plumbing -------------------------------------------------------------------------------
    @property
    def state(self) -> DeviceState:
        return self.core.state

    async def __aenter__(self) -> Device:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def send(self, request: HTTPRequest) -> HTTPResponse:
        """Send one request as built; no interpretation."""
        hold = float(request.context.get("hold") or 0)
        timeout = max(self.timeout, hold + HOLD_MARGIN) if hold else self.timeout
        r = await self.http.request(request.method, request.path_and_query, headers=request.headers,
                                    content=request.body, timeout=timeout)
        response = HTTPResponse(r.status_code, dict(r.headers), r.content)
        self.exchanges.append((request, response))
        if self.on_exchange is not None:
            self.on_exchange(request, response)
        return response

    async def run(self, request: HTTPRequest) -> Result:
        """Send a request the core built and let the core read the answer."""
        return self.core.receive(request, await self.send(request))

    @property
    def last_exchange(self) -> tuple[HTTPRequest, HTTPResponse] | None:
        return self.exchanges[-1] if self.exchanges else None

    # -- commands -------------------------------------------------------------------------------
    async def options(self) -> OptionsResult:
        return await self.run(self.core.options())

    async def provision(self, ack_status: int = 1, **kw: Any) -> ProvisionResult:
        """Both phases: request the policy, then acknowledge it; returns the phase-2 result with
        the phase-1 result as `.initial` (or the phase-1 result itself when there is nothing to
        acknowledge: error, remote wipe, no key)."""
        first = await self.provision_initial(**kw)
        if not first.ok or first.remote_wipe or first.account_only_remote_wipe or self.state.temporary_policy_key is None:
            return first
        second = await self.provision_ack(ack_status)
        second.initial = first
        return second

    async def provision_initial(self, **kw: Any) -> ProvisionResult:
        return await self.run(self.core.provision(**kw))

    async def provision_ack(self, status: int = 1, **kw: Any) -> ProvisionResult:
        return await self.run(self.core.provision_ack(status, **kw))

    async def remote_wipe_ack(self, status: int = 1, **kw: Any) -> ProvisionResult:
        return await self.run(self.core.remote_wipe_ack(status, **kw))

    async def settings_device_information(self) -> CommandResult:
        return await self.run(self.core.settings_device_information())

    async def folder_sync(self, sync_key: str | None = None) -> FolderSyncResult:
        return await self.run(self.core.folder_sync(sync_key))

    async def sync(self, collection: str, **kw: Any) -> SyncResult:
        """See SimulatedDevice.sync (window_size=, filter_type=, body_preferences=, commands=,
        wait=, heartbeat_interval=, ...)."""
        return await self.run(self.core.sync(collection, **kw))

    async def sync_many(self, collections: Iterable[SyncCollection | str], **kw: Any) -> SyncResult:
        return await self.run(self.core.sync_many(collections, **kw))

    async def empty_sync(self) -> SyncResult:
        return await self.run(self.core.empty_sync())

    async def long_poll_sync(self, collections: Iterable[SyncCollection | str], seconds: int, **kw: Any) -> SyncResult:
        return await self.run(self.core.long_poll_sync(collections, seconds, **kw))

    async def sync_all(self, collection: str, *, max_rounds: int = 100, **kw: Any) -> list[SyncResult]:
        """Prime the collection if its key is 0, then Sync until MoreAvailable stops (or a status
        other than 1).  Returns every result in order."""
        results: list[SyncResult] = []
        cid = self.core.resolve(collection)
        if self.state.sync_key(cid) == "0":
            priming = {k: v for k, v in kw.items() if k not in ("commands", "get_changes")}
            first = await self.sync(cid, **priming)
            results.append(first)
            if first.status != 1:
                return results
        for _ in range(max_rounds):
            result = await self.sync(cid, **kw)
            results.append(result)
            kw.pop("commands", None)  # send the device's own commands once only
            if result.status not in (1, None) or not result.more_available:
                break
        return results

    async def get_item_estimate(self, collections: Iterable[str | tuple[str, str]] | str, **kw: Any) -> EstimateResult:
        return await self.run(self.core.get_item_estimate(collections, **kw))

    async def ping(self, folders: Iterable[str | tuple[str, str]] | None = None, heartbeat: int | None = None) -> PingResult:
        return await self.run(self.core.ping(folders, heartbeat))

    async def empty_ping(self) -> PingResult:
        return await self.run(self.core.empty_ping())

    async def command(self, name: str, tree: Element | bytes | None = None, **kw: Any) -> CommandResult:
        return await self.run(self.core.command(name, tree, **kw))

    async def meeting_response(self, *requests: Element) -> CommandResult:
        """MeetingResponse with Requests built by easlab.testing.device.meeting_response."""
        return await self.command("MeetingResponse", E("MeetingResponse:MeetingResponse", *requests))
