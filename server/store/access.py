"""The AccessPort: the per-request gate and Provision.

The gate gathers the facts for eas.machines.access.evaluate from rows and writes back what it
decided, in one transaction.

Exchange evaluates a device's access on every request but OPTIONS and stores the outcome; when
the stored state changes into Quarantined or Blocked (for other reasons than policy) the user gets
a notice in the Inbox and, for quarantine, the admins get a mail with a link to approve.  The rules
are eas.machines.access; `access_facts` is the one way to gather its facts, for a request and for
`easlab device explain` alike, so the two never disagree.  The answer is decided on what the
server knew before the request; DeviceInformation the request carries is stored only when the
request runs (a blocked device keeps what it was blocked for, digest §11 item 24).
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from types import SimpleNamespace

from sqlmodel import Session, func, select
from starlette.concurrency import run_in_threadpool

from easlab.eas import policy
from easlab.eas.machines import access, wipe
from easlab.eas.machines.access import Gate, Recipient
from easlab.eas.folders import FolderType
from easlab.eas.machines.provision import ProvisionView, device_information
from easlab.eas.mime import parse_message
from easlab.storage import generations
from easlab.storage.access import device_facts, mailbox_access, org_settings, organisation, record_state, rules
from easlab.storage.db import WriteNeeded, probing
from easlab.storage.devices import LastSeen, deferred_seen, get_device, seen, touch_device
from easlab.storage.mailbox import folder_by_type, store_message
from easlab.storage.models import Device, User
from easlab.storage.policies import policy_for
from easlab.storage.users import get_user

from .. import notices, trips
from . import gate_cache
from .context import READ_AHEAD, Effects, StoreContext

log = logging.getLogger("easlab.access")


def _reported(command, request) -> dict:
    """The DeviceInformation a Provision or Settings request carries, cut to the columns' widths
    (a phone's over-long value must not fail the request)."""
    if command.name not in ("Provision", "Settings") or request is None or isinstance(request, bytes):
        return {}
    return {column: value[:Device.__table__.c[column].type.length or len(value)]
            for column, value in (device_information(request) or {}).items()}


# What a probe reads of a device; a new device starts from the row's own defaults.
_PROBED = ("device_type", "user_agent", "os", "model", "wipe_state", "access_state", "policy_key", "provisioned_at",
           "autoblock_reason", "autoblock_until")
_NEW_DEVICE = {column: Device.model_fields[column].default for column in _PROBED}


def _probe(user: User, device: Device | None, line, now: datetime, reported: dict | None) -> SimpleNamespace:
    """The device as it will be once this request is stored, without writing anything yet.  A plain
    object, not a Device: a SQLModel row resolves some forty field defaults when made and runs an
    instrumented __setattr__ per column, and the gate makes one on every request (a quarter of a
    new device's first Syncs)."""
    if device is None:
        values = dict(_NEW_DEVICE, first_sync=now)
    else:
        values = {column: getattr(device, column) for column in _PROBED}
        values["first_sync"] = device.first_sync
    values["device_type"] = line.device_type or values["device_type"]
    values.update(reported or {})
    return SimpleNamespace(device_id=line.device_id, **values)


def access_facts(session: Session, user: User, device: Device | None, line, command, now: datetime,
                 reported: dict | None = None) -> access.Facts:
    """What evaluate needs, from the rows and the request line (`device` None: not yet a partner)."""
    org = org_settings(session)
    probe = _probe(user, device, line, now, reported)
    count = 0
    if device is None:
        count = session.exec(select(func.count()).select_from(Device).where(Device.user_id == user.id)).one()

    def settings():
        # evaluate never reads the policy check for Provision and Ping, and Ping is the request a
        # server holds by the thousand: no policy lookup for it.
        pol = policy_for(session, user)
        return policy.PolicySettings.from_dict(pol.settings) if pol else None

    return facts_of(organisation(org), tuple(rules(session)), mailbox_access(user), user.max_devices_mail_at,
                    settings, probe, line, command, now, known=device is not None, partnerships=count)


def facts_of(org, rules_, mailbox, notice_at, settings, probe, line, command, now: datetime, *, known: bool,
             partnerships: int, key_of=None) -> access.Facts:
    """The Facts from what was read of the rows (`settings`: a callable giving the user's policy
    settings, asked only when the command is not exempt) and the request line."""
    policy_status = None
    if command.name not in policy.EXEMPT_COMMANDS:
        provisioning = policy.Provisioning(probe.policy_key, probe.provisioned_at, probe.wipe_state in wipe.PENDING)
        policy_status = policy.check(settings(), provisioning, line.policy_key, line.protocol_version, now, key_of)
    return access.Facts(
        organisation=org, rules=rules_, mailbox=mailbox,
        device=device_facts(probe, line.user_agent, line.ms_wl or ""), line=line, command=command, now=now,
        known=known, partnerships=partnerships, stored_state=probe.access_state,
        policy_status=policy_status,
        max_devices_notice_at=notice_at,
    )


def next_request(user: User, device: Device | None, device_id: str):
    """(RequestLine, Command) of the request `easlab device explain` answers for: the device's next
    Sync, sent as it presented itself last (its type, User-Agent, X-MS-WL and policy key)."""
    from easlab.eas import versions
    from easlab.eas.commands import sync
    from easlab.eas.request import RequestLine

    known = device or Device(device_id=device_id)
    line = RequestLine(command="Sync", device_id=device_id, device_type=known.device_type,
                       protocol_version=known.protocol_version or versions.SUPPORTED[-1], user=user.name,
                       policy_key=known.policy_key, user_agent=known.user_agent or None, ms_wl=known.ms_wl or None)
    return line, sync.COMMAND


def run_gate(session: Session, mailer, user: User, ctx, command, now: datetime, request=None) -> tuple[Gate, Effects]:
    line = ctx.request
    effects = Effects()
    device = get_device(session, user, line.device_id)
    # The answer is decided on what the server knew before this request (digest §5.2, §11 item 24):
    # a refused request (a blocked device's Settings or Provision) stores nothing it reports, so an
    # OS upgrade cannot free a device a DeviceOS rule blocked.
    facts = access_facts(session, user, device, line, command, now)
    decision = access.evaluate(facts)
    response = decision.response
    reported = _reported(command, request) if response is None else {}
    if reported:
        # A request let through stores its report, and the state recorded counts it from this
        # request: a Quarantine rule on the OS lifts the moment the device reports a new one (item 25).
        probe = _probe(user, device, line, now, reported)
        decision = access.evaluate(replace(facts, device=device_facts(probe, line.user_agent, line.ms_wl or "")))
    if probing() and _writes(device, decision):
        raise WriteNeeded("the gate stores its decision")  # before any notice or event is made
    if decision.state is None:  # refused before any partnership: nothing is stored
        if decision.step == "MaxDevices":
            log.warning("%s: device %s refused, %s", user.name, line.device_id, decision.path[-1])
        if Recipient.USER in decision.notify:
            notice = notices.max_devices(mailer.domain, user, org_settings(session).max_devices)
            effects.touched.append(mailer.post_to_inbox(session, user, notice, now=now).folder_id)
            user.max_devices_mail_at = now
            session.add(user)
        return Gate(decision, response), effects
    device = touch_device(session, user, line.device_id, line.device_type, line.user_agent, line.protocol_version, now=now)
    for column, value in reported.items():
        setattr(device, column, value)
    device.ms_wl = (line.ms_wl or "")[:Device.__table__.c["ms_wl"].type.length]
    if decision.recorded:
        changed = record_state(session, device, decision.state, decision.reason, decision.rule, decision.step, now)
        if changed:
            mailer.bus.publish("device", session=session, user=user.name, device_id=device.device_id,
                               state=decision.state, reason=decision.reason)
        if decision.notify:
            log.info("%s %s: now %s (%s)", user.name, device.device_id, decision.state, decision.reason)
            mailer.access_notices(session, user, device, org_settings(session), decision, effects, now)
    seen(session, device, now)  # with whatever else this request changed in the row
    return Gate(decision, response), effects


def _writes(device: Device | None, decision) -> bool:
    """Whether the gate's decision itself must be stored: a new partnership, a notice, a new state.
    (A changed fact the request reports is caught when its row would be written.)"""
    if decision.notify:
        return True
    if decision.state is None:
        return False
    if device is None:
        return True
    return decision.recorded and (device.access_state, device.access_reason, device.access_rule) != (
        decision.state, decision.reason, decision.rule or "")


def wipe_confirmation(store: StoreContext, session: Session, user: User, device: Device, now: datetime,
                      effects: Effects) -> None:
    """The mail Exchange leaves in the Inbox when a device confirmed its wipe; the addresses the
    administrator named (NotificationEmailAddresses) get it too, as Bcc: mail to local users
    lands in their Inbox, other mail goes to the outbound queue."""
    rows = [("Device ID", device.device_id), ("Device type", device.device_type), ("Model", device.model),
            ("User agent", device.user_agent), ("Protocol version", device.protocol_version)]
    mime = notices.wipe_confirmation(store.domain, store.address(user), user.display_name, rows, now)
    parsed = parse_message(mime)
    parsed.message_class = "IPM.Note.Exchange.ActiveSync.RemoteWipeConfirmation"
    inbox = folder_by_type(session, user, FolderType.Inbox)
    store_message(session, inbox, mime, parsed=parsed)
    effects.touched.append(inbox.id)
    if device.wipe_notify and store.mailer is not None:
        store.mailer.send(session, mime, list(device.wipe_notify), effects, now)


class AccessAdapter:
    def __init__(self, store: StoreContext):
        self.store = store
        self.cache = gate_cache.GateCache()
        self.last_seen = LastSeen(store.db)
        self.read_ahead: Callable[[str | None], Callable | None] = lambda command: None  # MailStore.read_ahead

    async def gate(self, ctx, command, request=None):
        """Access control and the policy check for this request."""
        store = self.store
        line = ctx.request
        now = store.clock.now()
        if not _reported(command, request):
            generation = getattr(ctx, "generation", None)
            # Read at the door: memory only, no thread needed; else (a device not in memory, a
            # due last-seen time) one statement in a worker thread.
            gate = self._from_memory(ctx.user, line, command, now, generation) if generation is not None else None
            if gate is None:
                ahead = self.read_ahead(command.name) if READ_AHEAD.get() is None else None
                gate, read = await store.trips.run(self._quick_ahead, ctx.user, line, command, now, generation,
                                                   ahead, store.hub.tick)
                if read is not None:
                    READ_AHEAD.set(read)
            if gate is not None:
                return gate

        def work(session):
            generation = generations.current(session.connection(), generations.ACCESS)  # before the rows
            user = get_user(session, ctx.user)
            gate, effects = run_gate(session, store.mailer, user, ctx, command, store.clock.now(), request)
            device = get_device(session, user, line.device_id) if gate.decision.state is not None else None
            entry = gate_cache.known(session, generation, user, device, _PROBED) if device is not None else None
            return gate, effects, entry

        # Most requests change nothing the gate stores: they are decided in a read, and only a
        # request that must store something is decided again in a writing transaction.  A due
        # last-seen time alone is written with other requests' (LastSeen), not by a transaction
        # of its own: a storm of reconnecting devices would otherwise queue for SQLite's writer.
        gate, effects, entry = await run_in_threadpool(self._decide, work)
        if entry is not None:
            self._remember(ctx.user, line.device_id, entry)
        store.follow_up(effects)
        return gate

    def _decide(self, work):
        with deferred_seen() as due:
            gate, effects, entry = self.store.db.read_first(work)
        self.last_seen.store(due)
        if entry is not None and entry.device_pk in due:
            entry.device["last_sync"] = due[entry.device_pk]  # as the row now reads
        return gate, effects, entry

    def _quick_ahead(self, user: str, line, command, now, generation, ahead, tick):
        """`_quick`, and on the same trip what the command reads next (MailStore.read_ahead) once
        the gate lets it run: a device not in memory (the storm after a restart) costs one trip."""
        gate = self._quick(user, line, command, now, generation)
        if gate is None or gate.response is not None or ahead is None:
            return gate, None
        return gate, ahead(user, line.device_id, tick)

    def _quick(self, user: str, line, command, now, generation: int | None = None):
        """In a worker thread: the gate from memory or, for a device not in it, from one statement
        (gate_cache.read_known), with a due last-seen time stored among others' (LastSeen); None
        when the request must take the full path."""
        db = self.store.db
        if generation is None:
            generation = gate_cache.read_generation(db)
        known = self.cache.get(user, line.device_id, generation)
        fresh = known is None
        if fresh:
            with trips.reading(db.engine) as connection:  # a storm's devices read on one (server/trips.py)
                known = gate_cache.read_known(connection, user, line.device_id, _PROBED,
                                              lambda counter: self.cache.shared(db, counter))
            if known is None:
                return None
        gate = gate_cache.decide(known, line, command, now, _PROBED, facts_of, due_ok=True)
        if gate is None:
            return None
        if gate_cache.seen_due(known, now):
            self.last_seen.store({known.device_pk: now})
            known.device["last_sync"] = now  # as the row now reads
        if fresh:
            self._remember(user, line.device_id, known)
        return gate

    def _remember(self, user: str, device_id: str, known) -> None:
        """The gate's facts for the next request, and the ids the device's later reads go by."""
        self.cache.put(user, device_id, known)
        ids = self.store.ids
        if len(ids) >= gate_cache.MAX_DEVICES:
            ids.clear()
        ids[(user, device_id)] = (known.user_id, known.device_pk)

    def _from_memory(self, user: str, line, command, now, generation: int | None = None):
        """The gate decided from what it knows while the rows are unchanged (server/store/gate_cache.py),
        under the `access` counter the request read at the door, else read here."""
        if generation is None:
            generation = gate_cache.read_generation(self.store.db)
        known = self.cache.get(user, line.device_id, generation)
        if known is None:
            return None
        return gate_cache.decide(known, line, command, now, _PROBED, facts_of)

    async def provision(self, ctx, decide):
        store = self.store
        effects = Effects()

        def work(session):
            user, device = store.who(session, ctx)
            pol = policy_for(session, user)
            now = store.clock.now()
            view = ProvisionView(
                version=ctx.version,
                settings=policy.PolicySettings.from_dict(pol.settings) if pol else None,
                policy_name=pol.name if pol else "",
                temp_policy_key=device.temp_policy_key,
                wipe_state=device.wipe_state,
                wipe_account_only=device.wipe_account_only,
                new_temp_key=secrets.randbelow(0xFFFFFFFF) + 1,
                now=now,
            )
            result, update = decide(view)
            for name, value in update.fields.items():
                setattr(device, name, value)
            session.add(device)
            if update.wipe_confirmation:
                wipe_confirmation(store, session, user, device, now, effects)
            return result

        result = await store.run(work)
        store.follow_up(effects)
        return result
