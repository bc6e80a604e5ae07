"""Exchange's device access decision (Allow / Block / Quarantine) and what a request gets for it.

Rules (everything that decides a device's access lives in this file; digest §4, §5, §11):

1. `evaluate` follows Exchange 2013's order: ActiveSync enabled for the mailbox (else 126, before
   any device evaluation) → a new partnership beyond the organisation's MaxDevices (177) → a
   pending remote wipe (access control is bypassed so the wipe can be delivered) → the user's
   blocked list → an auto-block still running (eas/autoblock.py) → the user's allowed list →
   device discovery → rules (UserAgent, DeviceOS,
   DeviceModel, DeviceType, XMSWLHeader; whole string, case-insensitive) → the organisation
   default.  Each step taken is a sentence in `Decision.path`, which `easlab device explain` shows.
2. Device ids on the user's lists compare case-insensitively (`listed`).
3. Discovery: while rules exist and a device has sent no DeviceInformation, it is in
   DeviceDiscovery (DeviceRule) for `discovery_minutes` after its partnership began, whatever the
   rules say; after that its Model counts as its DeviceType and the rules decide.  With no rule
   matching and the default Quarantine, the same window gives DeviceDiscovery (Global).
4. A blocked device gets 129 with X-MS-ASThrottle, held `blocked_delay` seconds; an auto-blocked
   one gets HTTP 503, Retry-After (the block's seconds left) and X-MS-ASThrottle: <behaviour>.  A quarantined or
   discovering device may run only QUARANTINE_ALLOWED (server changes are withheld but for the
   notice); any other command gets its QUARANTINE_ANSWER.
5. A device let through is checked against its policy (eas.policy.check), except for the commands
   that provision it (eas.policy.EXEMPT_COMMANDS).  Failing the check answers the policy status and
   is stored Blocked (Policy), except PolicyRefresh and RemoteWipeRequested.
6. The outcome is stored (`Decision.recorded`) except for the refusals before a partnership and the
   wipe bypass.  Stored state changing into Quarantined or Blocked, other than for Policy or an
   auto-block behaviour, notifies
   the user, and for Quarantined the administrators too; a refused new partnership notifies the
   user at most once per MAX_DEVICES_NOTICE_EVERY.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .. import policy
from ..autoblock import BEHAVIORS as AUTOBLOCK_REASONS
from ..dispatch import policy_refusal
from ..response import Response
from ..status import Common, encode
from ..throttling import refusal
from ..wbxml import E

if TYPE_CHECKING:
    from ..commands import Command
    from ..request import RequestLine

ALLOWED, BLOCKED, QUARANTINED, DISCOVERY = "Allowed", "Blocked", "Quarantined", "DeviceDiscovery"
GLOBAL, INDIVIDUAL, DEVICE_RULE, POLICY = "Global", "Individual", "DeviceRule", "Policy"
LEVEL_STATE = {"Allow": ALLOWED, "Block": BLOCKED, "Quarantine": QUARANTINED}
CHARACTERISTICS = ("UserAgent", "DeviceOS", "DeviceModel", "DeviceType", "XMSWLHeader")
ACCESS_LEVELS = ("Allow", "Block", "Quarantine")
MAX_DEVICES_NOTICE_EVERY = timedelta(hours=24)


class Recipient:
    USER = "user"  # a notice in the owner's Inbox
    ADMINS = "admins"  # a mail to the organisation's AdminMailRecipients


def same_device(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def listed(device_id: str, ids) -> bool:
    """Is `device_id` on a user's allowed or blocked list (Exchange ignores case)?"""
    return any(same_device(device_id, d) for d in ids)


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
            name = name[:55] + hashlib.sha1(name.encode()).hexdigest()[:9]
        return name


@dataclass
class Organisation:
    default_access: str = "Allow"  # Allow | Block | Quarantine
    discovery_minutes: int = 14
    max_devices: int = 100
    blocked_delay: float = 20  # seconds a blocked answer is held (Exchange's ErrorResponseDelay)


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
    autoblock_reason: str = ""  # the behaviour of an auto-block (eas/autoblock.py)
    autoblock_until: datetime | None = None  # when it lifts, on the server's clock

    def autoblocked(self, now: datetime) -> bool:
        return bool(self.autoblock_reason) and self.autoblock_until is not None and now < self.autoblock_until

    @property
    def has_device_information(self) -> bool:
        return bool(self.model)


@dataclass
class Decision:
    state: str | None  # None: refused before any device evaluation (126, 177)
    reason: str = ""
    rule: str | None = None
    step: str = ""
    path: list[str] = field(default_factory=list)
    response: Response | None = None  # what the request gets instead of running; None: run it
    notify: frozenset[str] = frozenset()  # Recipient values
    autoblock_until: datetime | None = None  # an auto-block's end (step AutoBlock)

    @property
    def token(self) -> str:
        """Exchange's protocol-log token: AllowedI, QuarantinedG, BlockedD ..."""
        return f"{self.state}{self.reason[:1]}" if self.state else "Disabled"

    @property
    def recorded(self) -> bool:
        """Is this outcome stored as the device's access state?"""
        return self.state is not None and self.step != "RemoteWipe"


@dataclass(frozen=True)
class Facts:
    """Everything `evaluate` looks at, gathered the same way for a request and for explain."""

    organisation: Organisation
    rules: tuple[Rule, ...]
    mailbox: MailboxAccess
    device: DeviceFacts
    line: RequestLine  # the request line (command, version, X-MS-PolicyKey)
    command: Command
    now: datetime
    known: bool = True  # the partnership exists; False: this request would make it
    partnerships: int = 0  # the user's partnerships before this request
    policy_status: int | None = None  # eas.policy.check's answer; None: the policy is met
    stored_state: str = "Unknown"  # the device's access state before this request
    max_devices_notice_at: datetime | None = None  # the user's last MaxDevices notice


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


def list_state(device_id: str, mailbox: MailboxAccess) -> str | None:
    """What the user's lists make of the device, the blocked list first (rule 1); None: on neither."""
    if listed(device_id, mailbox.blocked_ids):
        return BLOCKED
    if listed(device_id, mailbox.allowed_ids):
        return ALLOWED
    return None


def pending_state(device_id: str, stored_state: str, stored_reason: str, mailbox: MailboxAccess) -> str | None:
    """The state an administrator's Allow or Block gives the device at its next request, while the
    stored state is still another (the gate records a state only when the device asks, rule 6);
    None: nothing pending.  A device blocked for its policy is left out: being on the allowed list
    does not make it meet the policy (rule 5)."""
    if not mailbox.activesync_enabled or stored_reason == POLICY:
        return None
    state = list_state(device_id, mailbox)
    return state if state is not None and state != stored_state else None


def decide(org: Organisation, rules: list[Rule], mailbox: MailboxAccess, device: DeviceFacts, now: datetime) -> Decision:
    """The device's access state by rules 1-3, without MaxDevices, policy or the answer."""
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
    by_list = list_state(device.device_id, mailbox)
    if by_list == BLOCKED:
        path.append(f"{device.device_id} is on the user's blocked list")
        return done(BLOCKED, INDIVIDUAL, "BlockedList")
    path.append("not on the user's blocked list")
    if device.autoblocked(now) and device.autoblock_until is not None:
        path.append(f"auto-blocked for {device.autoblock_reason} until {device.autoblock_until.isoformat(timespec='seconds')}")
        return Decision(BLOCKED, device.autoblock_reason, None, "AutoBlock", path, autoblock_until=device.autoblock_until)
    if by_list == ALLOWED:
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


def evaluate(facts: Facts) -> Decision:
    """The whole gate: the access state, the answer the request gets, and who is told."""
    org, command, line = facts.organisation, facts.command, facts.line
    version = line.protocol_version
    decision = decide(org, list(facts.rules), facts.mailbox, facts.device, facts.now)
    if decision.state is None:
        return replace(decision, response=encode(Common.UserDisabledForSync, version, command.root))
    if not facts.known and facts.partnerships >= org.max_devices:
        last = facts.max_devices_notice_at
        notify = {Recipient.USER} if last is None or facts.now - last > MAX_DEVICES_NOTICE_EVERY else set()
        path = decision.path[:1] + [f"{facts.partnerships} partnerships, the limit is {org.max_devices}: "
                                    "a new partnership is refused (177)"]
        return Decision(None, step="MaxDevices", path=path, notify=frozenset(notify),
                        response=encode(Common.MaximumDevicesReached, version, command.root))
    if decision.step == "AutoBlock" and decision.autoblock_until is not None:
        left = (decision.autoblock_until - facts.now).total_seconds()
        return replace(decision, response=autoblock_response(decision.reason, left))
    response = gate_response(decision, command.name, command.root, version, org.blocked_delay)
    status = facts.policy_status
    if response is None and command.name not in policy.EXEMPT_COMMANDS and status is not None:
        response = policy_refusal(status, command, line)
        if status not in (Common.PolicyRefresh, Common.RemoteWipeRequested):
            # Exchange records a device that fails the policy check as Blocked (Policy).
            decision = Decision(BLOCKED, POLICY, None, "Policy", decision.path + [f"policy check: status {status}"])
    return replace(decision, response=response, notify=_notify(decision, facts.stored_state))


def _notify(decision: Decision, stored_state: str) -> frozenset[str]:
    if not decision.recorded or decision.state == stored_state or decision.reason in (POLICY, *AUTOBLOCK_REASONS):
        return frozenset()
    if decision.state == QUARANTINED:
        return frozenset({Recipient.USER, Recipient.ADMINS})
    if decision.state == BLOCKED:
        return frozenset({Recipient.USER})
    return frozenset()


# -- what each state gets ------------------------------------------------------------------------
# Commands a quarantined (or discovering) device may run; Sync, GetItemEstimate and Ping run with
# server changes filtered down to the quarantine notice.
QUARANTINE_ALLOWED = {"Provision", "Settings", "FolderSync", "GetHierarchy", "Sync", "GetItemEstimate", "Ping"}

# What any other command gets (digest §5.3): the path of its status element under the command's
# root and the code; no path: the common status, encoded for the version.  Commands not listed
# (GetAttachment, and anything without an XML root) get HTTP 500.
QUARANTINE_ANSWER: dict[str, tuple[tuple[str, ...], int]] = {
    "SendMail": ((), Common.MailSubmissionFailed),
    "SmartReply": ((), Common.MailSubmissionFailed),
    "SmartForward": ((), Common.MailSubmissionFailed),
    "ItemOperations": (("ItemOperations:Status",), 3),
    "Search": (("Search:Status",), 3),
    "MoveItems": (("Move:Response", "Move:Status"), 5),
    "MeetingResponse": (("MeetingResponse:Result", "MeetingResponse:Status"), 4),
    "ResolveRecipients": (("ResolveRecipients:Status",), 6),
    "ValidateCert": (("ValidateCert:Status",), 17),
    "FolderCreate": (("FolderHierarchy:Status",), 6),
    "FolderUpdate": (("FolderHierarchy:Status",), 6),
    "FolderDelete": (("FolderHierarchy:Status",), 6),
}


def quarantine_answer(command: str, root: str | None, version: str) -> Response:
    """What a refused command gets from a quarantined device; `root` is its Command.root."""
    answer = QUARANTINE_ANSWER.get(command)
    if answer is None or root is None:
        return Response(500)
    path, code = answer
    if not path:
        return encode(code, version, root)
    element = E(path[-1], code)
    for tag in reversed(path[:-1]):
        element = E(tag, element)
    return Response(200, E(root, element))


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


def autoblock_response(behavior: str, seconds_left: float) -> Response:
    """Rule 4: HTTP 503 and no body for every version (digest §5.2), as a budget's refusal."""
    return refusal(seconds_left, behavior)


def gate_response(decision: Decision, command: str, root: str | None, version: str, blocked_delay: float) -> Response | None:
    """The answer the access state gives `command`, or None to go on to the policy check."""
    if decision.state is None:
        return encode(Common.UserDisabledForSync, version, root)
    if decision.state == BLOCKED:
        response = encode(Common.DeviceIsBlockedForThisUser, version, root, headers={"X-MS-ASThrottle": decision.reason})
        response.delay = blocked_delay
        return response
    if decision.state in (QUARANTINED, DISCOVERY) and command not in QUARANTINE_ALLOWED:
        return quarantine_answer(command, root, version)
    return None
