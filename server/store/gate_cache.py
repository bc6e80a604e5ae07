"""The access gate's memory: per device, what the gate read of the rows, kept while the `access`
generation (storage/access_watch.py) is unchanged.

A request that changes nothing (a Ping taken in, a FolderSync or Sync with nothing to report) is
then decided from memory after one counter read: the same `evaluate`, on the same facts, with the
request's own line and the clock's now (discovery windows and auto-blocks end by time, not by a
write).  Whenever the gate would store something (a new state or step, a notice, a reported
DeviceInformation, a new User-Agent, type, version or X-MS-WL, a last-seen time a minute old) the
request goes the full way (server/store/access.py run_gate) instead, so what is stored and when
is as before.  Any write that can change a decision bumps the counter in its own transaction, in
this process or another, so the next request reads the rows again.

A device this process has not seen yet (every device, after a restart) is read in one statement:
its row, its user's row and the counter together (`read_known`); the organisation, the rules and
the policies are the same for every device under one counter value and are read once (`Shared`).
A last-seen time that is due is then no reason for the full path: it is stored with other
requests' (storage/devices.py LastSeen), as the full path would.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import and_, bindparam, select
from sqlmodel import Session

from easlab.eas import policy
from easlab.eas.machines import access
from easlab.eas.machines.access import Gate
from easlab.storage import generations
from easlab.storage.access import mailbox_access, org_settings, organisation, rules
from easlab.storage import devices
from easlab.storage.models import Device, OrgSettings, Policy, User
from easlab.storage.policies import policy_for

MAX_DEVICES = 20_000  # entries kept; past it the oldest goes (a device that comes back is read again)
_MS_WL = Device.__table__.c["ms_wl"].type.length
_UA = 512  # touch_device's cut
# Read from the row besides the probed facts: what the gate compares before it would write.
_KEPT = ("protocol_version", "ms_wl", "access_reason", "access_rule", "access_step", "last_sync", "first_sync")


@dataclass(frozen=True)
class Known:
    generation: int
    user_id: int
    device_pk: int
    org: access.Organisation
    rules: tuple
    mailbox: access.MailboxAccess
    notice_at: datetime | None
    settings: policy.PolicySettings | None
    device: dict
    keys: dict = field(default_factory=dict, compare=False)  # protocol version -> policy key

    def key_of(self, settings: policy.PolicySettings, version: str) -> int:
        """policy_key of the kept settings, worked out once per protocol version."""
        key = self.keys.get(version)
        if key is None:
            key = self.keys[version] = policy.policy_key(settings, version)
        return key


def known(session: Session, generation: int, user: User, device: Device, probed: tuple[str, ...]) -> Known:
    """What the gate read, for the device's next requests (`generation` read before the rows)."""
    pol = policy_for(session, user)
    return Known(
        generation=generation, user_id=user.id, device_pk=device.id, org=organisation(org_settings(session)),
        rules=tuple(rules(session)), mailbox=mailbox_access(user), notice_at=user.max_devices_mail_at,
        settings=policy.PolicySettings.from_dict(pol.settings) if pol else None,
        device={column: getattr(device, column) for column in (*probed, *_KEPT)},
    )


def seen_due(known: Known, now: datetime) -> bool:
    """Whether `seen` would store `now` as the device's last-seen time (and nothing else)."""
    last = known.device["last_sync"]
    return last is not None and now - last >= devices.LAST_SEEN_EVERY


def stays(known: Known, line, now: datetime, due_ok: bool = False) -> bool:
    """Whether touch_device and seen would leave the row as it is for this request (`due_ok`: but
    for a last-seen time that is due, which the caller stores)."""
    d = known.device
    return not (
        (line.device_type and line.device_type != d["device_type"])
        or (line.user_agent and line.user_agent[:_UA] != d["user_agent"])
        or (line.protocol_version and line.protocol_version != d["protocol_version"])
        or (line.ms_wl or "")[:_MS_WL] != d["ms_wl"]
        or d["last_sync"] is None or (not due_ok and seen_due(known, now))
    )


def decide(known: Known, line, command, now: datetime, probed: tuple[str, ...], facts_of,
           due_ok: bool = False) -> Gate | None:
    """The gate's answer from memory, or None when the request must take the full path (it would
    store something; `due_ok`: a due last-seen time aside)."""
    if not stays(known, line, now, due_ok):
        return None
    d = known.device
    probe = SimpleNamespace(device_id=line.device_id, **{c: d[c] for c in probed}, first_sync=d["first_sync"])
    facts = facts_of(known.org, known.rules, known.mailbox, known.notice_at, lambda: known.settings, probe, line,
                     command, now, known=True, partnerships=0, key_of=known.key_of)
    decision = access.evaluate(facts)
    if decision.notify or decision.state is None:
        return None
    if decision.recorded and (d["access_state"], d["access_reason"], d["access_rule"], d["access_step"]) != (
            decision.state, decision.reason, decision.rule or "", decision.step):
        return None
    return Gate(decision, decision.response)


@dataclass(frozen=True)
class Shared:
    """What the gate reads alike for every device under one `access` counter value."""

    generation: int
    org: access.Organisation
    rules: tuple
    policies: dict  # policy id -> its settings
    default: int | None  # the default policy's id; None: not made yet (the full path makes it)


def read_shared(session: Session, generation: int) -> Shared | None:
    """The organisation, rules and policies, if the counter still reads `generation` (else None)."""
    if generations.current(session.connection(), generations.ACCESS) != generation:
        return None
    settings = session.scalars(select(OrgSettings)).first()
    if settings is None or not settings.secret:  # org_settings would make it: the full path does
        return None
    policies = {p.id: p for p in session.scalars(select(Policy))}
    default = next((p.id for p in policies.values() if p.is_default), None)
    return Shared(generation, organisation(settings), tuple(rules(session)),
                  {pk: policy.PolicySettings.from_dict(p.settings) for pk, p in policies.items()}, default)


_USER_COLUMNS = ("id", "activesync_enabled", "allowed_device_ids", "blocked_device_ids", "max_devices_mail_at",
                 "policy_id")
_STATEMENTS: dict[tuple[str, ...], object] = {}


def _row_statement(probed: tuple[str, ...]):
    """One SELECT: the counter, the user's row and the device's, read in one snapshot."""
    statement = _STATEMENTS.get(probed)
    if statement is None:
        users, table = User.__table__, Device.__table__
        counter = generations.Generation.__table__
        value = select(counter.c.value).where(counter.c.name == generations.ACCESS).scalar_subquery()
        columns = dict.fromkeys(("id", *probed, *_KEPT))
        statement = _STATEMENTS[probed] = select(
            value.label("generation"), *(users.c[c].label(f"u_{c}") for c in _USER_COLUMNS),
            *(table.c[c].label(f"d_{c}") for c in columns),
        ).select_from(users.join(table, and_(table.c.user_id == users.c.id,
                                              table.c.device_id == bindparam("device_id")))
                      ).where(users.c.name == bindparam("user"))
    return statement


def read_known(connection, user: str, device_id: str, probed: tuple[str, ...], shared_of) -> Known | None:
    """The device's Known from one statement; None for a device (or user) without its row, or a
    user whose policy the full path must make."""
    row = connection.execute(_row_statement(probed), {"user": user.strip().lower(), "device_id": device_id}).first()
    if row is None:
        return None
    values = row._mapping
    common = shared_of(int(values["generation"] or 0))
    if common is None:
        return None
    policy_id = values["u_policy_id"]
    settings = common.policies.get(policy_id if policy_id in common.policies else common.default)
    if settings is None:
        return None
    return Known(
        generation=common.generation, user_id=values["u_id"], device_pk=values["d_id"], org=common.org,
        rules=common.rules, notice_at=values["u_max_devices_mail_at"], settings=settings,
        mailbox=mailbox_access(SimpleNamespace(activesync_enabled=values["u_activesync_enabled"],
                                               allowed_device_ids=values["u_allowed_device_ids"] or [],
                                               blocked_device_ids=values["u_blocked_device_ids"] or [])),
        device={c: values[f"d_{c}"] for c in (*probed, *_KEPT)},
    )


class GateCache:
    """Known facts by (user name, DeviceId); a plain dict, as the gate's callers run in threads
    and a lost race costs one read of the rows."""

    def __init__(self, size: int = MAX_DEVICES):
        self.size = size
        self._known: dict[tuple[str, str], Known] = {}
        self._shared: Shared | None = None

    def get(self, user: str, device_id: str, generation: int) -> Known | None:
        hit = self._known.get((user, device_id))
        return hit if hit is not None and hit.generation == generation else None

    def put(self, user: str, device_id: str, entry: Known) -> None:
        known = self._known
        known.pop((user, device_id), None)
        while len(known) >= self.size:
            try:
                known.pop(next(iter(known)))
            except (StopIteration, KeyError, RuntimeError):
                break
        known[(user, device_id)] = entry

    def clear(self) -> None:
        self._known.clear()
        self._shared = None

    def shared(self, db, generation: int) -> Shared | None:
        """`Shared` under `generation`, read once per counter value."""
        kept = self._shared
        if kept is not None and kept.generation == generation:
            return kept
        with db.session(write=False) as session:
            kept = read_shared(session, generation)
        if kept is not None:
            self._shared = kept
        return kept


def read_generation(db) -> int:
    return generations.peek(db.engine, generations.ACCESS)
