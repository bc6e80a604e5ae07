"""Exchange's device access decision (Allow / Block / Quarantine), as a pure function.

`decide` follows the evaluation order of Exchange 2013 (digest §4.2): ActiveSync enabled → pending
wipe → the user's blocked list → the user's allowed list → device discovery → rules (UserAgent,
DeviceOS, DeviceModel, DeviceType; whole string, case-insensitive) → the organisation default.  It
returns the state, the reason, the rule that matched and the step that decided, with the path it
took in words, so `easlab device explain` and the web UI can say *why*.  `answer` says what a
command gets in each state (digest §5), per protocol version.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .response import Response
from .status import Common, encode
from .wbxml import E

ALLOWED, BLOCKED, QUARANTINED, DISCOVERY = "Allowed", "Blocked", "Quarantined", "DeviceDiscovery"
GLOBAL, INDIVIDUAL, DEVICE_RULE, POLICY = "Global", "Individual", "DeviceRule", "Policy"
LEVEL_STATE = {"Allow": ALLOWED, "Block": BLOCKED, "Quarantine": QUARANTINED}
CHARACTERISTICS = ("UserAgent", "DeviceOS", "DeviceModel", "DeviceType", "XMSWLHeader")
ACCESS_LEVELS = ("Allow", "Block", "Quarantine")


@dataclass(frozen=True)
class Rule:
    characteristic: str  # one of CHARACTERISTICS
    query: str
    access_level: str  # Allow | Block | Quarantine

    @property
    def name(self) -> str:
        """Exchange names a rule "<QueryString> (<Characteristic>)"; 64 characters at most."""
        name = f"{self.query} ({self.characteristic})"
        if len(name) > 64:
            import hashlib

            name = name[:55] + hashlib.sha1(name.encode()).hexdigest()[:9]
        return name


@dataclass
class Organisation:
    default_access: str = "Allow"  # Allow | Block | Quarantine
    discovery_minutes: int = 14


@dataclass
class MailboxAccess:
    activesync_enabled: bool = True
    allowed_ids: list[str] = field(default_factory=list)
    blocked_ids: list[str] = field(default_factory=list)


@dataclass
class DeviceFacts:
    device_id: str
    device_type: str
    user_agent: str = ""
    os: str = ""
    model: str = ""  # DeviceInformation Model; empty: never sent
    xmswl: str = ""  # the X-MS-WL header
    created_at: datetime | None = None  # partnership creation
    wipe_pending: bool = False

    @property
    def has_device_information(self) -> bool:
        return bool(self.model)


@dataclass
class Decision:
    state: str | None  # None: the request is refused before any device evaluation (126)
    reason: str = ""
    rule: str | None = None
    step: str = ""
    path: list[str] = field(default_factory=list)

    @property
    def token(self) -> str:
        """Exchange's protocol-log token: AllowedI, QuarantinedG, BlockedD ..."""
        return f"{self.state}{self.reason[:1]}" if self.state else "Disabled"


def _value(device: DeviceFacts, characteristic: str) -> str:
    if characteristic == "UserAgent":
        return device.user_agent
    if characteristic == "DeviceOS":
        return device.os
    if characteristic == "DeviceModel":
        # A device that never sent DeviceInformation is matched with Model = its DeviceType.
        return device.model or device.device_type
    if characteristic == "DeviceType":
        return device.device_type
    return device.xmswl


def decide(org: Organisation, rules: list[Rule], mailbox: MailboxAccess, device: DeviceFacts, now: datetime) -> Decision:
    path: list[str] = []

    def done(state, reason, step, rule=None):
        return Decision(state, reason, rule, step, path)

    if not mailbox.activesync_enabled:
        path.append("ActiveSync is disabled for this mailbox: refused before any device evaluation (126)")
        return done(None, "", "ActiveSyncEnabled")
    path.append("ActiveSync is enabled for the mailbox")
    if device.wipe_pending:
        path.append("a remote wipe is pending: access control is bypassed so the wipe can be delivered")
        return done(ALLOWED, GLOBAL, "RemoteWipe")
    folded = device.device_id.lower()
    if folded in (d.lower() for d in mailbox.blocked_ids):
        path.append(f"{device.device_id} is on the user's blocked list")
        return done(BLOCKED, INDIVIDUAL, "BlockedList")
    path.append("not on the user's blocked list")
    if folded in (d.lower() for d in mailbox.allowed_ids):
        path.append(f"{device.device_id} is on the user's allowed list")
        return done(ALLOWED, INDIVIDUAL, "AllowedList")
    path.append("not on the user's allowed list")
    window = timedelta(minutes=org.discovery_minutes)
    # A partnership made during this very request may carry a timestamp a hair after `now`.
    young = device.created_at is not None and max(now - device.created_at, timedelta(0)) < window
    if rules and not device.has_device_information:
        if young:
            path.append(f"rules exist and the device has sent no DeviceInformation within {org.discovery_minutes} minutes of its partnership: discovery")
            return done(DISCOVERY, DEVICE_RULE, "Discovery")
        path.append("rules exist, the device sent no DeviceInformation, and the discovery window has passed")
    for characteristic in CHARACTERISTICS:
        value = _value(device, characteristic)
        for rule in rules:
            if rule.characteristic == characteristic and value and rule.query.lower() == value.lower():
                path.append(f"rule {rule.name!r} matches {characteristic} {value!r}: {rule.access_level}")
                return done(LEVEL_STATE[rule.access_level], DEVICE_RULE, "Rule", rule.name)
    path.append(f"no rule matches ({len(rules)} rules)" if rules else "no rules")
    default = org.default_access
    if default == "Quarantine" and not device.has_device_information and young:
        path.append(f"organisation default Quarantine, no DeviceInformation yet, partnership younger than {org.discovery_minutes} minutes: discovery")
        return done(DISCOVERY, GLOBAL, "Default")
    path.append(f"organisation default: {default}")
    return done(LEVEL_STATE[default], GLOBAL, "Default")


# -- what each state gets ------------------------------------------------------------------------
# Commands a quarantined (or discovering) device may run; Sync, GetItemEstimate and Ping run with
# server changes filtered down to the quarantine notice.
QUARANTINE_ALLOWED = {"Provision", "Settings", "FolderSync", "GetHierarchy", "Sync", "GetItemEstimate", "Ping"}


def quarantine_answer(command: str, version: str) -> Response:
    """What a refused command gets from a quarantined device (digest §5.3)."""
    if command in ("SendMail", "SmartReply", "SmartForward"):
        return encode(Common.MailSubmissionFailed, version, f"ComposeMail:{command}")
    if command == "ItemOperations":
        return Response(200, E("ItemOperations:ItemOperations", E("ItemOperations:Status", 3)))
    if command == "Search":
        return Response(200, E("Search:Search", E("Search:Status", 3)))
    if command == "MoveItems":
        return Response(200, E("Move:MoveItems", E("Move:Response", E("Move:Status", 5))))
    if command == "MeetingResponse":
        return Response(200, E("MeetingResponse:MeetingResponse", E("MeetingResponse:Result", E("MeetingResponse:Status", 4))))
    if command == "ResolveRecipients":
        return Response(200, E("ResolveRecipients:ResolveRecipients", E("ResolveRecipients:Status", 6)))
    if command == "ValidateCert":
        return Response(200, E("ValidateCert:ValidateCert", E("ValidateCert:Status", 17)))
    if command in ("FolderCreate", "FolderUpdate", "FolderDelete"):
        return Response(200, E(f"FolderHierarchy:{command}", E("FolderHierarchy:Status", 6)))
    return Response(500)  # GetAttachment and anything without an XML root


@dataclass
class Gate:
    """What the server found before running a command: the access decision as stored, and the
    answer the request gets instead of running (None: run it)."""

    decision: Decision | None
    response: Response | None = None

    @property
    def restricted(self) -> bool:
        """Quarantined or discovering: server changes are withheld but for the notice."""
        return self.decision is not None and self.decision.state in (QUARANTINED, DISCOVERY)


def gate_response(decision: Decision, command: str, root: str | None, version: str, blocked_delay: float) -> Response | None:
    """The answer access control gives `command`, or None to go on to the policy check."""
    if decision.state is None:
        return encode(Common.UserDisabledForSync, version, root)
    if decision.state == BLOCKED:
        response = encode(Common.DeviceIsBlockedForThisUser, version, root, headers={"X-MS-ASThrottle": decision.reason})
        response.delay = blocked_delay
        return response
    if decision.state in (QUARANTINED, DISCOVERY) and command not in QUARANTINE_ALLOWED:
        return quarantine_answer(command, version)
    return None
