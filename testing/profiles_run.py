"""Drive a simulated device (testing/aio.py) as a real client would: testing/profiles.py made I/O.

    device = device_for("ios", app_or_url, "alice", "secret")
    async with device:
        run = await run_profile(device)
    assert run.ok, run.summary()
    assert not run.findings          # the server met every expectation of the real client

`device_for` makes a `Device` that introduces itself like the profile's client (User-Agent,
DeviceType, protocol version, DeviceInformation, a DeviceId in its style, extra headers).
`run_profile` sends the profile's first-connection sequence.  Whenever an answer asks for
provisioning (449 or status 140-144) the device provisions, both phases, and sends the step
again, as every real client does; the sequence goes on after a refused optional step (e.g. a
Settings the server does not implement) and stops after a refused required one.  The Ping at
the end is left out unless asked for, because it is held until mail arrives or the heartbeat
ends.  Each `expects` quirk is checked on the answers and reported in `findings`.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from easlab.eas import versions
from easlab.eas.wbxml import E, Element

from .aio import Device
from .device import HTTPRequest, Result
from .profiles import EXPECTS, PIM, Profile, Step, get

PIM_TYPES = {7, 8, 9, 13, 14, 15}
# MS-ASCMD 2.2.3.46 (DeviceInformation/Set): element order and the versions that know them.
INFO_ORDER = ("Model", "IMEI", "FriendlyName", "OS", "OSLanguage", "PhoneNumber", "UserAgent",
              "EnableOutboundSMS", "MobileOperator")
INFO_SINCE = {"UserAgent": "12.1", "EnableOutboundSMS": "14.0", "MobileOperator": "14.0"}
STEP_COMMAND = {"options": "OPTIONS", "provision": "Provision", "settings": "Settings", "foldersync": "FolderSync",
                "sync-prime": "Sync", "estimate": "GetItemEstimate", "sync": "Sync", "ping": "Ping"}
SYNC_OPTIONS = ("window_size", "filter_type", "body_preferences", "deletes_as_moves", "mime_support", "get_changes",
                "conversation_mode")


def device_for(profile_name: str | Profile, url_or_app: str | Any, user: str, password: str | None, *,
               device_id: str | None = None, rng=None, **kw: Any) -> Device:
    """A Device that introduces itself as the profile's client."""
    profile = profile_name if isinstance(profile_name, Profile) else get(profile_name)
    device = Device(url_or_app, user, password, device_id=device_id or profile.new_device_id(rng),
                    device_type=profile.device_type, protocol_version=profile.protocol_version,
                    user_agent=profile.user_agent, **kw)
    info = profile.device_information
    state_info = device.state.info
    state_info.model = info.get("Model", "")
    state_info.imei = info.get("IMEI")
    state_info.friendly_name = info.get("FriendlyName", "")
    state_info.os = info.get("OS", "")
    state_info.os_language = info.get("OSLanguage", "")
    state_info.phone_number = info.get("PhoneNumber")
    state_info.mobile_operator = info.get("MobileOperator")
    device.http.headers.update(profile.extra_headers)
    if profile.has("policy_key_zero_before_provisioning"):
        device.state.policy_key = "0"
    device.profile = profile
    return device


def device_information(profile: Profile, version: str) -> Element:
    """DeviceInformation as this client writes it (its own UserAgent value included)."""
    info = profile.device_information
    children = [E(f"Settings:{name}", info[name]) for name in INFO_ORDER
                if info.get(name) and versions.within(version, INFO_SINCE.get(name, "2.5"))]
    return E("Settings:DeviceInformation", E("Settings:Set", *children))


@dataclass
class StepResult:
    action: str
    command: str
    collection: str | None = None
    http_status: int | None = None
    status: int | None = None
    ok: bool = True
    detail: str = ""
    skipped: str | None = None
    results: list[Result] = field(default_factory=list, repr=False)

    def line(self) -> str:
        what = self.command + (f" {self.collection}" if self.collection else "")
        if self.skipped:
            return f"{what}: skipped ({self.skipped})"
        status = f"HTTP {self.http_status}" + (f", status {self.status}" if self.status is not None else "")
        return f"{what}: {status} {'ok' if self.ok else 'REFUSED'}" + (f" - {self.detail}" if self.detail else "")


@dataclass
class Check:
    quirk: str
    ok: bool | None  # None: nothing to check it on
    detail: str

    def line(self) -> str:
        verdict = {True: "met", False: "NOT MET", None: "not checked"}[self.ok]
        return f"expects {self.quirk}: {verdict} - {self.detail}"


@dataclass
class ProfileRun:
    profile: str
    steps: list[StepResult] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    stopped_at: str | None = None
    advertised: list[str] | None = None

    @property
    def ok(self) -> bool:
        """Every required step got through."""
        return self.stopped_at is None

    @property
    def findings(self) -> list[Check]:
        """Expectations of the real client the server did not meet."""
        return [c for c in self.checks if c.ok is False]

    @property
    def commands(self) -> list[str]:
        """The commands sent, in order (provisioning the server asked for included)."""
        return [s.command for s in self.steps if not s.skipped]

    def summary(self) -> str:
        lines = [f"profile {self.profile}" + (f": stopped at {self.stopped_at}" if self.stopped_at else "")]
        lines += ["  " + s.line() for s in self.steps]
        lines += ["  " + c.line() for c in self.checks]
        return "\n".join(lines)


def _outcome(step: StepResult, result: Result) -> StepResult:
    step.results.append(result)
    step.http_status = result.http_status
    step.status = result.status
    step.ok = step.ok and result.ok
    if not result.ok:
        step.detail = result.error or (f"status {result.status}" if result.status not in (None, 1)
                                       else f"HTTP {result.http_status}")
    return step


async def provision(device: Device, profile: Profile) -> Result:
    """Both phases, with the profile's DeviceInformation where the client puts it."""
    core = device.core
    include = profile.device_information_via in ("provision", "both") and versions.has(core.version, "device_information_required")
    tree = E("Provision:Provision", device_information(profile, core.version) if include else None,
             E("Provision:Policies", E("Provision:Policy", E("Provision:PolicyType", core.policy_type()))))
    first = await device.run(core.build("Provision", tree, send_policy_key=False, context={"phase": 1}))
    if not first.ok or first.remote_wipe or first.account_only_remote_wipe or device.state.temporary_policy_key is None:
        return first
    second = await device.provision_ack()
    second.initial = first
    return second


async def settings(device: Device, profile: Profile, user_information: bool = False) -> Result:
    tree = E("Settings:Settings", E("Settings:UserInformation", E("Settings:Get")) if user_information else None,
             device_information(profile, device.core.version))
    return await device.command("Settings", tree)


async def options(device: Device, profile: Profile) -> Result:
    request = device.core.options()
    if profile.has("policy_key_zero_before_provisioning") and device.state.policy_key in (None, "0"):
        request = HTTPRequest("OPTIONS", request.path_and_query, {**request.headers, "X-MS-PolicyKey": "0"}, b"",
                              "OPTIONS")
    return await device.run(request)


def _collections(device: Device, name: str) -> list[str]:
    if name == PIM:
        return [f.server_id for f in device.state.folders.values() if f.type in PIM_TYPES]
    return [name]


async def _perform(device: Device, profile: Profile, step: Step, collection: str | None) -> list[Result]:
    args = step.args
    if step.action == "options":
        return [await options(device, profile)]
    if step.action == "provision":
        return [await provision(device, profile)]
    if step.action == "settings":
        return [await settings(device, profile, bool(args.get("user_information")))]
    if step.action == "foldersync":
        return [await device.folder_sync()]
    if step.action == "sync-prime":
        return [await device.sync(collection, sync_key="0")]
    if step.action == "estimate":
        return [await device.get_item_estimate(collection)]
    if step.action == "sync":
        opts = {k: v for k, v in args.items() if k in SYNC_OPTIONS}
        return await device.sync_all(collection, **opts)
    if step.action == "ping":
        return await ping(device, profile, args.get("folders"), args.get("heartbeat"))
    raise ValueError(f"unknown step action {step.action!r}")


async def ping(device: Device, profile: Profile, folders: Iterable[str] | None = None,
               heartbeat: int | None = None, overlap: float = 0.2) -> list[Result]:
    """The profile's Ping; a client with the duplicate_ping quirk starts a second one on another
    connection `overlap` seconds into the first.  Returns every Ping's result, in start order."""
    folders = list(folders) if folders else ["Inbox"]
    first = asyncio.create_task(device.ping(folders, heartbeat))
    if not profile.has("duplicate_ping"):
        return [await first]
    await asyncio.sleep(overlap)
    second = asyncio.create_task(device.ping(folders, heartbeat))
    return list(await asyncio.gather(first, second))


async def run_profile(device: Device, profile: Profile | str | None = None, *, include_ping: bool = False,
                      ping_heartbeat: int | None = None) -> ProfileRun:
    """Send the profile's first-connection sequence; see the module's doc."""
    if profile is None:
        profile = device.profile
    elif isinstance(profile, str):
        profile = get(profile)
    run = ProfileRun(profile.name)
    for step in profile.first_connection:
        command = STEP_COMMAND[step.action]
        if step.action == "ping" and not include_ping:
            continue
        if step.only_if_advertised and run.advertised is not None and command not in run.advertised:
            run.steps.append(StepResult(step.action, command, skipped="the server does not advertise it"))
            continue
        if step.action == "provision" and device.state.policy_key not in (None, "0"):
            run.steps.append(StepResult(step.action, command, skipped="already provisioned at the server's demand"))
            continue
        if step.action == "ping" and ping_heartbeat is not None:
            step = Step(step.action, {**step.args, "heartbeat": ping_heartbeat}, step.optional)
        targets = _collections(device, step.args["collection"]) if "collection" in step.args else [None]
        if not targets:
            run.steps.append(StepResult(step.action, command, step.args.get("collection"), skipped="no such folders"))
        for collection in targets:
            shown = device.state.folders[collection].display_name if collection in device.state.folders else collection
            outcome = StepResult(step.action, command, shown)
            results = await _perform(device, profile, step, collection)
            if step.action != "provision" and any(r.needs_provisioning for r in results):
                run.steps.append(_outcome(StepResult(step.action, command, shown, detail="provisioning required"),
                                          results[-1]))
                prov = _outcome(StepResult("provision", "Provision", detail=""), await provision(device, profile))
                run.steps.append(prov)
                if not prov.ok:
                    run.stopped_at = "Provision"
                    break
                results = await _perform(device, profile, step, collection)
            for result in results:
                _outcome(outcome, result)
            run.steps.append(outcome)
            if step.action == "options" and results[0].http_status == 200:
                run.advertised = list(results[0].commands)
            if not outcome.ok and not step.optional:
                run.stopped_at = outcome.command + (f" {shown}" if shown else "")
                break
        if run.stopped_at:
            break
    run.checks = check_expectations(device, profile, run)
    return run


# -- what the real client needs from the server --------------------------------------------------------
def check_expectations(device: Device, profile: Profile, run: ProfileRun) -> list[Check]:
    checks = []
    for quirk in profile.quirks:
        if quirk.effect != EXPECTS:
            continue
        checker = CHECKERS.get(quirk.name)
        checks.append(checker(device, run) if checker else Check(quirk.name, None, "no automatic check"))
    return checks


def _outbox_and_drafts(device: Device, run: ProfileRun) -> Check:
    types = {f.type for f in device.state.folders.values()}
    if not types:
        return Check("outbox_and_drafts_required", None, "no FolderSync answer to check")
    missing = [name for name, t in (("Drafts", 3), ("Outbox", 6)) if t not in types]
    return Check("outbox_and_drafts_required", not missing,
                 f"FolderSync lacks {', '.join(missing)}" if missing else "FolderSync lists Drafts (3) and Outbox (6)")


def _body_opaque(device: Device, run: ProfileRun) -> Check:
    inline = opaque = 0
    for collection in device.state.collections.values():
        for item in collection.items.values():
            for el in item.iter():
                if el.tag == "AirSyncBase:Data" and el.value is not None:
                    if isinstance(el.value, bytes):
                        opaque += 1
                    else:
                        inline += 1
    if not inline and not opaque:
        return Check("body_opaque", None, "no synced item carried body data")
    return Check("body_opaque", inline == 0,
                 f"{inline} bod{'y' if inline == 1 else 'ies'} sent as inline strings, {opaque} as OPAQUE")


def _ping_answer(device: Device, run: ProfileRun) -> Check:
    pings = [r for s in run.steps if s.command == "Ping" for r in s.results]
    if not pings:
        return Check("ping_answer_required", None, "no Ping was sent (run with include_ping=True)")
    empty = [r for r in pings if r.http_status == 200 and r.status is None]
    return Check("ping_answer_required", not empty,
                 f"{len(empty)} of {len(pings)} Ping answers had no Status" if empty else "every Ping answer had a Status")


CHECKERS = {
    "outbox_and_drafts_required": _outbox_and_drafts,
    "body_opaque": _body_opaque,
    "ping_answer_required": _ping_answer,
}
