"""Fault injection at run time: which fault a request gets, and what it looks like on the wire.

Faults live in the database (storage/faults.py), so `easlab fault add` in another shell, the API
and the test plugin all reach a running server at its next request.  For each EAS request the
server asks `Faults.probe` (an in-memory snapshot, kept current by one counter read) and, only
when a fault may apply, `Faults.match` (the credentials are verified only then), which counts the hit down atomically, so a fault with `--count 3` fires exactly three
times even under concurrent requests.  Expiry uses the server's clock (server/clock.py), so a
ManualClock moves a `--for 60` fault past its end without real time passing.

What each kind answers (digest: eas-protocol-facts §1.7/§1.8, exchange-access-model §5.2/§9):

- throttle: HTTP 503 (or --status) with `Retry-After` and `X-MS-ASThrottle: <reason>`, no body;
- reprovision: 449 for 2.5-12.1, HTTP 200 + `<Root><Status>142</Status>` (or 140-144) for 14.0+;
- unauthorized: 401 with `WWW-Authenticate: Basic realm="..."`;
- block: what a blocked device gets (status 129 or bare 403) with `X-MS-ASThrottle: <reason>`,
  optionally held for `seconds` first, as Exchange's tarpit does;
- delay: the request runs normally; its answer is held `seconds` before it leaves;
- drop: the request runs normally; the headers and part of the body are sent, then the
  connection is closed (server/traces.py `Instrument` does the cutting);
- smtp: a 4xx/5xx reply at RCPT (for that recipient) or at DATA (for the whole message).

The answers that replace the command are built here; delay and drop need the ASGI layer and are
carried out by `server.traces.Instrument`, which also calls `match` itself, so the EAS endpoint
needs no change when the route is wrapped.  create_app makes one `Faults` per app
(`app.state.faults`) and the SMTP listener is handed it (server/smtp.py `start_smtp`).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response as HTTPResponse

from easlab.eas.commands import Registry
from easlab.eas.response import Response
from easlab.eas.status import Common, encode
from easlab.storage.faults import InstrumentSnapshot, candidates, consume, load_instrument
from easlab.storage.generations import INSTRUMENT, peek

from .clock import clock_sleep

log = logging.getLogger("easlab.faults")

IMMEDIATE = ("throttle", "reprovision", "unauthorized", "block")  # answered instead of the command
WIRE = ("delay", "drop")  # the command runs; its answer is held or cut
SCOPE_KEY = "easlab.fault"  # the FaultAction for the ASGI layer, in the request's scope
CHECKED_KEY = "easlab.fault_checked"  # set once a request has been matched (never twice)


@dataclass
class FaultAction:
    """A fault that fired for one request."""

    fault_id: int
    kind: str
    params: dict = field(default_factory=dict)
    user: str | None = None
    device_id: str | None = None
    command: str | None = None

    @property
    def immediate(self) -> bool:
        return self.kind in IMMEDIATE

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.params.items() if v is not None)
        return f"fault #{self.fault_id} {self.kind}" + (f" ({shown})" if shown else "")


def root_of(command: str | None, commands: Registry) -> str | None:
    """The command's request root (Command.root) among the app's `commands`, for answers in body form."""
    known = commands.get(command or "")
    return known.root if known is not None else None


def eas_response(action: FaultAction, version: str, commands: Registry) -> Response | None:
    """The answer an immediate fault gives instead of running the command (None for delay/drop)."""
    p = action.params
    if action.kind == "throttle":
        return Response(int(p["status"]), headers={"Retry-After": str(p["retry_after"]), "X-MS-ASThrottle": p["reason"]})
    if action.kind == "reprovision":
        root = root_of(action.command, commands)
        code = int(p["status"])
        return encode(code, version, root)
    if action.kind == "unauthorized":
        return Response(401, headers={"WWW-Authenticate": f'Basic realm="{p["realm"]}"'})
    if action.kind == "block":
        response = encode(Common.DeviceIsBlockedForThisUser, version, root_of(action.command, commands), headers={"X-MS-ASThrottle": p["reason"]})
        response.delay = float(p.get("seconds") or 0)
        return response
    return None


def http_response(action: FaultAction, version: str, commands: Registry) -> HTTPResponse | None:
    response = eas_response(action, version, commands)
    if response is None:
        return None
    from .activesync import to_http  # late: activesync may import this module

    out = to_http(response)
    if response.status == 401:
        # 401 carries no MS-Server-ActiveSync header in easlab's own answer; keep it that way.
        del out.headers["MS-Server-ActiveSync"]
    return out


class Faults:
    """The faults of one server: matching and counting, on the database, with the server's clock."""

    def __init__(self, db, clock):
        self.db = db
        self.clock = clock
        self._snapshot: InstrumentSnapshot | None = None

    def probe(self, user: str | None, device_id: str | None, generation: int | None = None) -> tuple[bool, bool]:
        """(traced, a fault may apply) for a request.  Every EAS request asks this, so it costs one
        counter read while the traces and faults are unchanged (storage/generations.py), and none
        when the caller read the `instrument` counter already (`generation`, with the `access` one
        in the same statement); blocking only when the snapshot must be read again.  Threads racing
        to reload only do the same read twice."""
        return self._current(generation).probe(user, device_id)

    def _current(self, generation: int | None = None) -> InstrumentSnapshot:
        known = self._snapshot
        if known is not None and known.generation == generation:
            return known
        with self.db.engine.connect() as connection:
            snapshot = load_instrument(connection, self._snapshot)
        self._snapshot = snapshot
        return snapshot

    def match(self, user: str | None, device_id: str | None, command: str | None, *,
              verify: Callable[[], bool] | None = None) -> FaultAction | None:
        """Blocking: the first active fault for this request, counted; None when none applies.
        `verify` is called (once, only if some fault matches) to check the credentials: a
        request that would not authenticate gets no fault."""
        now = self.clock.now()
        with self.db.session() as session:
            found = candidates(session, now, user=user, device_id=device_id, command=command)
            if not found:
                return None
        if verify is not None and not verify():
            return None
        with self.db.session() as session:
            for fault in candidates(session, now, user=user, device_id=device_id, command=command):
                if consume(session, fault.id, now):
                    action = FaultAction(fault.id, fault.kind, dict(fault.params), user, device_id, command)
                    log.warning("%s injected for %s/%s %s", action.describe(), user, device_id, command)
                    return action
        return None

    async def check(self, identity, line) -> FaultAction | None:
        """For an authenticated request: the fault it gets, if any."""
        return await run_in_threadpool(self.match, identity.name, line.device_id, line.command)

    def generation(self) -> int:
        """The `instrument` counter now (one read by primary key, no ORM)."""
        return peek(self.db.engine, INSTRUMENT)

    def smtp_clear(self, users: Iterable[str], generation: int | None) -> bool:
        """True when no SMTP fault can apply to `users` (the snapshot of `generation`, the
        `instrument` counter the caller read, says so), known without I/O; False: ask match_smtp."""
        known = self._snapshot
        return generation is not None and known is not None and known.generation == generation \
            and not known.smtp_may_apply(list(users))

    def match_smtp(self, users: Iterable[str], stage: str, generation: int | None = None) -> FaultAction | None:
        """Blocking: the SMTP fault `users` get at `stage`, counted; None when none applies.
        `generation`: the `instrument` counter, when the caller read it already."""
        users = list(users)
        if not self._current(generation).smtp_may_apply(users):
            return None  # the usual answer, from memory: no recipient has an smtp fault
        now = self.clock.now()
        with self.db.session() as session:
            for user in users:
                for fault in candidates(session, now, user=user, smtp=True):
                    params = dict(fault.params)
                    if params.get("stage", "rcpt") != stage:
                        continue
                    if consume(session, fault.id, now):
                        action = FaultAction(fault.id, "smtp", params, user)
                        log.warning("%s injected at %s for recipient %s", action.describe(), stage.upper(), user)
                        return action
        return None


async def answer(action: FaultAction, version: str, scope: dict, clock) -> HTTPResponse | None:
    response = http_response(action, version, scope["app"].state.commands)
    if response is not None:
        if action.kind == "block":
            await clock_sleep(clock, float(action.params.get("seconds") or 0))
        return response
    scope[SCOPE_KEY] = action
    if not scope.get("easlab.instrumented"):
        if action.kind == "delay":
            await clock_sleep(clock, float(action.params.get("seconds") or 0))
        else:
            log.warning("%s needs server.traces.Instrument on the EAS route; the answer goes out whole",
                        action.describe())
    return None


# -- SMTP ----------------------------------------------------------------------------------------
def smtp_reply(action: FaultAction) -> str:
    return f"{int(action.params['status'])} {action.params['message']}"


async def smtp_fault(store, addresses: str | Iterable[str], stage: str, faults: Faults) -> str | None:
    """The reply an injected fault gives at RCPT (one address) or DATA (the envelope's
    recipients), or None.  `store` is the server's MailStore (its domain); `faults` the app's."""
    if isinstance(addresses, str):
        addresses = [addresses]
    users = [u for u in (store.local_user_name(a) for a in addresses) if u]
    if not users:
        return None
    action = await run_in_threadpool(faults.match_smtp, users, stage)
    return smtp_reply(action) if action is not None else None


# -- for in-process callers (the test plugin) ------------------------------------------------------
def _admin(app):
    """The Admin service over the app's store and clock, for a caller with full rights in this
    process.  Faults wake nothing (every request reads them), so there is nothing to notify."""
    from .admin import Admin

    state = app.state
    return Admin(state.db, lambda event: None, state.settings.domain, clock=state.clock)


def inject(app, kind: str, **kw) -> dict:
    """Add a fault to a running app (blocking; from a test or a worker thread), timed on the
    app's clock: `inject(app, "throttle", user="alice", count=2, params={"retry_after": 5})`."""
    from .admin import SHELL

    return _admin(app).fault_add(SHELL, kind, **kw)


def listing(app) -> list[dict]:
    from easlab.storage.faults import list_faults

    with app.state.db.session() as session:
        return list_faults(session, app.state.clock.now())


def remove(app, fault_id: int) -> bool:
    from .admin import SHELL, NotFound

    try:
        _admin(app).fault_remove(SHELL, fault_id)
    except NotFound:
        return False
    return True


def clear(app, user: str | None = None) -> int:
    from .admin import SHELL

    return _admin(app).faults_clear(SHELL, user)
