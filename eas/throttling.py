"""Exchange's throttling policy for EAS: EasMaxConcurrency and the request budget.

Rules (digest §9; Exchange 2010 SP1+ parameter names, every one Unlimited (None) by default, so a
lab that never sets them sees no change):

1. EasMaxConcurrency: requests of one user being served at once.  A Ping is not counted: it spends
   its life parked until its heartbeat, and Exchange lets a parked request go of its concurrency
   slot; counting it would throttle a lone device's Sync beside its own held Ping at
   EasMaxConcurrency 1.  Every other command counts from its admission to its answer, a held Sync
   included.  One request past the limit gets 503 (rule 4).
2. The budget is a token bucket per user, in milliseconds as Exchange's: it starts full at
   EasMaxBurst, gains EasRechargeRate per hour of the server's clock (never past EasMaxBurst),
   and each admitted request takes `request_charge` from it.  Exchange charges the time a request
   used; the lab charges a fixed cost so a run is repeatable.  The balance may go below zero; once
   it is below -EasCutoffBalance the user is out of budget and requests get 503 until it recharges
   past that line.  The budget applies when EasMaxBurst, EasRechargeRate and EasCutoffBalance are
   all set.
3. A refused request is not charged and not counted.
4. The refusal: HTTP 503 with no body for every version (Exchange's over-budget answer),
   `Retry-After` in whole seconds and `X-MS-ASThrottle: OutOfBudgets` (in Exchange concurrency is
   one part of the budget); each refusal is an OutOfBudgets incidence for the auto-block
   thresholds (eas/autoblock.py).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import asdict, dataclass, fields

from .response import Response

OUT_OF_BUDGETS = "OutOfBudgets"
UNCOUNTED_COMMANDS = frozenset({"Ping"})  # rule 1
CONCURRENCY_RETRY_AFTER = 5  # seconds: a slot frees when any of the user's requests ends
MAX_TRACKED_USERS = 10_000  # budgets kept in memory; the least recently seen user's goes first


@dataclass(frozen=True)
class ThrottlingPolicy:
    """Set-ThrottlingPolicy's EAS part; None is Exchange's Unlimited."""

    eas_max_concurrency: int | None = None
    eas_max_burst: int | None = None  # ms
    eas_recharge_rate: int | None = None  # ms per hour
    eas_cutoff_balance: int | None = None  # ms
    request_charge: int = 1000  # ms each admitted request takes (easlab's; rule 2)

    @property
    def budgeted(self) -> bool:
        return None not in (self.eas_max_burst, self.eas_recharge_rate, self.eas_cutoff_balance)

    @classmethod
    def from_dict(cls, data: dict | None) -> ThrottlingPolicy:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in names})

    def to_dict(self) -> dict:
        return asdict(self)


# Each setting: (lowest, highest) accepted; None (Unlimited) is always accepted but for the charge.
LIMITS = {
    "eas_max_concurrency": (1, 10_000),
    "eas_max_burst": (0, 10**9),
    "eas_recharge_rate": (1, 10**9),
    "eas_cutoff_balance": (0, 10**9),
    "request_charge": (0, 10**9),
}


def refusal(retry_after: float, reason: str = OUT_OF_BUDGETS) -> Response:
    """Rule 4's answer; also an auto-blocked device's (with its behaviour as the reason)."""
    seconds = max(1, math.ceil(retry_after))
    return Response(503, headers={"Retry-After": str(seconds), "X-MS-ASThrottle": reason})


def spend(policy: ThrottlingPolicy, stored: tuple[float, float] | None, now: float) -> tuple[tuple[float, float], float | None]:
    """Rule 2 on one user's bucket, `stored` as (balance ms, at) or None (full): what to store
    next, and None when the request is admitted, else the seconds until it would be."""
    # Only a budgeted policy (all three settings given) is charged: see `budgeted`.
    assert policy.eas_cutoff_balance is not None and policy.eas_recharge_rate
    balance = current(policy, stored, now)
    floor = -float(policy.eas_cutoff_balance)
    if balance < floor:
        return (balance, now), (floor - balance) * 3600.0 / policy.eas_recharge_rate
    return (balance - policy.request_charge, now), None


def current(policy: ThrottlingPolicy, stored: tuple[float, float] | None, now: float) -> float:
    """The balance of a bucket `stored` as (balance ms, at), recharged until `now`."""
    assert policy.eas_max_burst is not None and policy.eas_recharge_rate is not None
    balance, at = stored or (float(policy.eas_max_burst), now)
    recharged = balance + (now - at) * policy.eas_recharge_rate / 3600.0
    return min(recharged, float(policy.eas_max_burst))


class Budgets:
    """Rule 2's buckets, one per user, bounded by MAX_TRACKED_USERS (a forgotten user starts full
    again, which only ever errs towards letting requests through)."""

    def __init__(self) -> None:
        self._balance: OrderedDict[str, tuple[float, float]] = OrderedDict()  # user: (balance ms, at)

    def charge(self, policy: ThrottlingPolicy, user: str, now: float) -> float | None:
        """Take a request's charge; None when admitted, else the seconds until it would be."""
        stored, wait = spend(policy, self._balance.get(user), now)
        self._balance[user] = stored
        self._balance.move_to_end(user)
        while len(self._balance) > MAX_TRACKED_USERS:
            self._balance.popitem(last=False)
        return wait

    def balance(self, policy: ThrottlingPolicy, user: str, now: float) -> float:
        return current(policy, self._balance.get(user), now)


class Concurrency:
    """Rule 1's counters; a user with nothing in flight has no entry."""

    def __init__(self) -> None:
        self._running: dict[str, int] = {}

    @staticmethod
    def counted(command: str) -> bool:
        return command not in UNCOUNTED_COMMANDS

    def enter(self, policy: ThrottlingPolicy, user: str, command: str) -> bool:
        """Admit one more request of `user` (True), or refuse it (False)."""
        if not self.counted(command):
            return True
        running = self._running.get(user, 0)
        if policy.eas_max_concurrency is not None and running >= policy.eas_max_concurrency:
            return False
        self._running[user] = running + 1
        return True

    def leave(self, user: str, command: str) -> None:
        if not self.counted(command):
            return
        running = self._running.get(user, 0) - 1
        if running > 0:
            self._running[user] = running
        else:
            self._running.pop(user, None)

    def running(self, user: str) -> int:
        return self._running.get(user, 0)
