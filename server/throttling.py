"""The throttling policy and the auto-block counters of one serving process (eas/throttling.py,
eas/autoblock.py hold the rules).

The settings are the organisation row's; they are read once and again after an administrator
changes them (the "throttling" event, server/push.py), not per request.  Concurrency and behaviour
counters live in memory, bounded, as Exchange keeps them per server, and so do budgets on SQLite;
on PostgreSQL, which several processes may serve, the budgets are rows in the store
(SharedBudgets).  A trip is written to the device's row at once, so the block outlives the process
and every front end shows it.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from starlette.concurrency import run_in_threadpool

from easlab.eas.autoblock import BEHAVIORS, NOTIFICATION, Observation, Threshold, Tracker, failed, thresholds
from easlab.eas.response import Response
from easlab.eas.throttling import (
    CONCURRENCY_RETRY_AFTER, OUT_OF_BUDGETS, Budgets, Concurrency, ThrottlingPolicy, current, refusal, spend,
)
from easlab.storage import budgets
from easlab.storage.access import org_settings, set_autoblock
from easlab.storage.devices import get_device
from easlab.storage.users import get_user

from . import notices

log = logging.getLogger("easlab.throttling")


class Throttle:
    def __init__(self, db, clock, bus, mailer=None, hub=None) -> None:
        self.db, self.clock, self.bus = db, clock, bus
        self.mailer, self.hub = mailer, hub  # the user's notice of a block (eas.autoblock rule 5)
        # The budget holds across processes sharing a PostgreSQL store (SharedBudgets, below);
        # EasMaxConcurrency and the auto-block counters are per process (README, Throttling).
        self.shared = db.dialect == "postgresql"
        self.budgets = SharedBudgets(db) if self.shared else Budgets()
        self.concurrency, self.tracker = Concurrency(), Tracker()
        self._config: tuple[ThrottlingPolicy, dict[str, Threshold], bool] | None = None

    def reload(self) -> None:
        """The settings changed: read them again at the next request."""
        self._config = None

    def _read(self):
        with self.db.session() as s:
            org = org_settings(s)
            policy, rules = ThrottlingPolicy.from_dict(org.throttling), thresholds(org.autoblock)
        return policy, rules, any(rule.active for rule in rules.values())

    async def _settings(self):
        if self._config is None:
            self._config = await run_in_threadpool(self._read)
        return self._config

    async def admit(self, user: str, line) -> Response | None:
        """None: serve the request (and call `leave` after); else the refusal it gets."""
        policy, rules, _ = await self._settings()
        if not self.concurrency.enter(policy, user, line.command):
            wait = CONCURRENCY_RETRY_AFTER
            log.info("%s %s %s: over EasMaxConcurrency %d", user, line.device_id, line.command, policy.eas_max_concurrency)
        else:
            wait = await self._charge(policy, user) if policy.budgeted else None
            if wait is None:
                return None
            self.concurrency.leave(user, line.command)
            log.info("%s %s %s: out of budget for %.0f s", user, line.device_id, line.command, wait)
        tripped = self.tracker.incident(rules, (user, line.device_id), OUT_OF_BUDGETS, self.clock.monotonic())
        if tripped is not None:
            await self._block(user, line.device_id, tripped)
        return refusal(wait)

    async def _charge(self, policy: ThrottlingPolicy, user: str) -> float | None:
        if self.shared:  # a write in the store: off the loop, on the server clock (one for every process)
            return await run_in_threadpool(self.budgets.charge, policy, user, self.clock.now().timestamp())
        return self.budgets.charge(policy, user, self.clock.monotonic())

    def leave(self, user: str, line) -> None:
        self.concurrency.leave(user, line.command)

    async def observe(self, user: str, line, body: bytes, response: Response) -> None:
        """Count what this answered request is an incidence of; block the device on a trip."""
        _, rules, active = await self._settings()
        if not active or (response.status == 503 and response.headers.get("X-MS-ASThrottle") in BEHAVIORS):
            return  # nothing to count, or the device is auto-blocked already (eas.autoblock rule 4)
        seen = Observation(line.command, line.user_agent or "", body, failed(line.command, response.status, response.body))
        tripped = self.tracker.observe(rules, (user, line.device_id), seen, self.clock.monotonic())
        if tripped is not None:
            await self._block(user, line.device_id, tripped)

    async def _block(self, user_name: str, device_id: str, rule: Threshold) -> None:
        _, rules, _ = await self._settings()
        notice = rules[NOTIFICATION].incidence_limit > 0 and self.mailer is not None

        def work():
            with self.db.session() as s:
                user = get_user(s, user_name)
                device = get_device(s, user, device_id) if user is not None else None
                if device is None:
                    return None
                now = self.clock.now()
                set_autoblock(s, device, rule.behavior, now + timedelta(minutes=rule.block_duration), now)
                self.bus.publish("device", session=s, user=user.name, device_id=device_id, state="Blocked",
                                 reason=rule.behavior)
                if not notice:
                    return set()
                insert = rule.admin_email_insert or rules[NOTIFICATION].admin_email_insert
                mime = notices.user_access(self.mailer.domain, f"{user.name}@{self.mailer.domain}", user.display_name,
                                           device, "Blocked", rule.behavior, insert, now)
                return {self.mailer.post_to_inbox(s, user, mime, now=now).folder_id}

        touched = await run_in_threadpool(work)
        if touched is None:
            return
        log.warning("%s %s: auto-blocked for %s (%d incidences in %d minutes), %d minutes", user_name, device_id,
                    rule.behavior, rule.incidence_limit + 1, rule.incidence_duration, rule.block_duration)
        if touched and self.hub is not None:
            self.hub.notify(touched)  # the user's other devices see the notice at once


class SharedBudgets:
    """Budgets (eas/throttling.py) kept in the store, for processes sharing a PostgreSQL store.

    Why the store and not a division of the budget by the number of processes: a device keeps its
    connection open, so its requests land on one process, and a budget / N there would refuse it
    at a fraction of EasMaxBurst while a user spread over N processes got it whole.  The cost is
    one short write per admitted request, and only while a budget is set (Exchange's default,
    Unlimited, charges nothing and writes nothing).  EasMaxConcurrency stays per process: a slot is
    held for a request's whole life (a held Sync for minutes), and a slot kept in the store would
    cost two writes per request and be left taken by a process that was killed."""

    def __init__(self, db) -> None:
        self.db = db

    def charge(self, policy: ThrottlingPolicy, user: str, now: float) -> float | None:
        """Budgets.charge, `now` the server clock in epoch seconds; blocking (a transaction)."""
        with self.db.session() as session:
            row = budgets.locked(session, user)
            (row.balance, row.at), wait = spend(policy, None if row.at == budgets.FULL else (row.balance, row.at), now)
            session.add(row)
        return wait

    def balance(self, policy: ThrottlingPolicy, user: str, now: float) -> float:
        with self.db.session(write=False) as session:
            row = session.get(budgets.ThrottleBudget, user)
        return current(policy, None if row is None or row.at == budgets.FULL else (row.balance, row.at), now)

