"""Exchange's auto-block thresholds (Set-ActiveSyncDeviceAutoblockThreshold) and the per-device
behaviour counters that trip them.

Rules (digest §4.2 step 5, §5.2, §9):

1. A threshold per BehaviorType: BehaviorTypeIncidenceLimit (0: off, the lab's default),
   BehaviorTypeIncidenceDuration (minutes), DeviceBlockDuration (minutes) and AdminEmailInsert.
   A device with more than the limit of incidences within the duration is blocked for the block
   duration, the behaviour its DeviceAccessStateReason; its counters start again from nothing.
2. What an incidence is, per behaviour (INCIDENCE):
   - UserAgentsChanges: a request whose User-Agent differs from the device's previous request's;
   - RecentCommands: loop detection, the same request again (same command, same body) answered
     with an error again, as a client stuck retrying what the server refuses;
   - SyncCommands: a Sync request;
   - CommandFrequency: any request;
   - OutOfBudgets: a request refused by the throttling policy (eas/throttling.py);
   - Watsons: never: Watson reports are Exchange's own crash dumps, not something a client sends.
   EnableNotificationEmail is in the table as Exchange has it (its limit switches the user notice
   on), not a behaviour.
3. A blocked device is evaluated Blocked with the behaviour as its reason after the user's blocked
   list and before the allowed list (eas/machines/access.py), and answered HTTP 503 without a body,
   `Retry-After` (the seconds left) and `X-MS-ASThrottle: <behaviour>`.  The block lifts by itself
   when its time has passed on the server's clock; an administrator's Allow lifts it at once.
4. Counters live in memory, bounded: at most MAX_TRACKED_DEVICES devices (the least recently seen
   forgotten first) and, per behaviour, the last limit+1 incidence times.  Requests refused by an
   auto-block are not observed, so a block does not renew itself.
5. EnableNotificationEmail with a limit above 0 turns on the user's notice of an auto-block: a
   "Your device is blocked" message in the Inbox naming the behaviour, with the tripped threshold's
   AdminEmailInsert (or, when that is empty, EnableNotificationEmail's own), as Exchange mails it.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass, field

from .wbxml import Element

BEHAVIORS = ("UserAgentsChanges", "RecentCommands", "Watsons", "OutOfBudgets", "SyncCommands",
             "EnableNotificationEmail", "CommandFrequency")
NOTIFICATION = "EnableNotificationEmail"  # rule 5: a switch, not a behaviour
NOT_OBSERVED = frozenset({"Watsons", NOTIFICATION})  # rule 2
MAX_TRACKED_DEVICES = 10_000
# Top-level Status values that are not errors, per command (default: 1 alone).
SUCCESS_STATUS = {"Ping": {"1", "2"}, "MoveItems": {"3"}}


@dataclass(frozen=True)
class Threshold:
    behavior: str
    incidence_limit: int = 0  # BehaviorTypeIncidenceLimit; 0: off
    incidence_duration: int = 60  # BehaviorTypeIncidenceDuration, minutes
    block_duration: int = 60  # DeviceBlockDuration, minutes
    admin_email_insert: str = ""

    @property
    def active(self) -> bool:
        return self.incidence_limit > 0 and self.behavior not in NOT_OBSERVED

    def to_dict(self) -> dict:
        return asdict(self)


# Each editable setting: (lowest, highest).
LIMITS = {"incidence_limit": (0, 100_000), "incidence_duration": (1, 10_080), "block_duration": (1, 10_080)}


def thresholds(stored: dict | None) -> dict[str, Threshold]:
    """Every behaviour's threshold from the stored {behaviour: {setting: value}}."""
    stored = stored or {}
    keys = set(Threshold.__dataclass_fields__) - {"behavior"}
    return {b: Threshold(b, **{k: v for k, v in (stored.get(b) or {}).items() if k in keys}) for b in BEHAVIORS}


def canonical(behavior: str) -> str | None:
    return next((b for b in BEHAVIORS if b.lower() == (behavior or "").lower()), None)


def failed(command: str, status: int, body) -> bool:
    """Was this answer an error: an HTTP error, or a first Status element outside the command's
    successes (SUCCESS_STATUS)?"""
    if status >= 400:
        return True
    if not isinstance(body, Element):
        return False
    found = _first_status(body, 4)
    return found is not None and found not in SUCCESS_STATUS.get(command, {"1"})


def _first_status(element: Element, depth: int) -> str | None:
    for child in element.children:
        if child.name == "Status":
            return child.as_text()
    if depth > 1:
        for child in element.children:
            found = _first_status(child, depth - 1)
            if found is not None:
                return found
    return None


@dataclass
class Observation:
    """One answered request of a device, as the counters see it."""

    command: str
    user_agent: str
    body: bytes
    failed: bool


@dataclass
class _Device:
    user_agent: str | None = None
    last_failure: str | None = None  # digest of the last failing (command, body)
    times: dict[str, deque] = field(default_factory=dict)


def incidences(state: _Device, seen: Observation) -> list[str]:
    """Rule 2: the behaviours this request is an incidence of (OutOfBudgets aside)."""
    found = ["CommandFrequency"]
    if seen.command == "Sync":
        found.append("SyncCommands")
    if state.user_agent is not None and seen.user_agent != state.user_agent:
        found.append("UserAgentsChanges")
    state.user_agent = seen.user_agent
    digest = hashlib.sha256(seen.command.encode() + b"\0" + seen.body).hexdigest() if seen.failed else None
    if digest is not None and digest == state.last_failure:
        found.append("RecentCommands")
    state.last_failure = digest
    return found


class Tracker:
    """Rule 4's counters; `observe` and `incident` answer the threshold a device just passed."""

    def __init__(self) -> None:
        self._devices: OrderedDict[tuple[str, str], _Device] = OrderedDict()

    def _state(self, key: tuple[str, str]) -> _Device:
        state = self._devices.get(key)
        if state is None:
            state = self._devices[key] = _Device()
            while len(self._devices) > MAX_TRACKED_DEVICES:
                self._devices.popitem(last=False)
        else:
            self._devices.move_to_end(key)
        return state

    def observe(self, rules: dict[str, Threshold], key: tuple[str, str], seen: Observation,
                now: float) -> Threshold | None:
        state = self._state(key)
        for behavior in incidences(state, seen):
            tripped = self._count(rules, key, state, behavior, now)
            if tripped is not None:
                return tripped
        return None

    def incident(self, rules: dict[str, Threshold], key: tuple[str, str], behavior: str, now: float) -> Threshold | None:
        return self._count(rules, key, self._state(key), behavior, now)

    def _count(self, rules, key, state: _Device, behavior: str, now: float) -> Threshold | None:
        rule = rules.get(behavior)
        if rule is None or not rule.active:
            return None
        times = state.times.get(behavior)
        if times is None or times.maxlen != rule.incidence_limit + 1:
            times = state.times[behavior] = deque(times or (), maxlen=rule.incidence_limit + 1)
        times.append(now)
        if len(times) == times.maxlen and now - times[0] <= rule.incidence_duration * 60:
            self._devices.pop(key, None)  # rule 1: counted again from nothing after the block
            return rule
        return None

    def forget(self, key: tuple[str, str]) -> None:
        self._devices.pop(key, None)

    def __len__(self) -> int:
        return len(self._devices)
