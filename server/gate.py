"""The per-request gate: the facts for eas.machines.access.evaluate gathered from rows, and what it
decided written back, in one transaction.

Exchange evaluates a device's access on every request but OPTIONS and stores the outcome; when
the stored state changes into Quarantined or Blocked (for other reasons than policy) the user gets
a notice in the Inbox and, for quarantine, the admins get a mail with a link to approve.  The rules
are eas.machines.access; `access_facts` is the one way to gather its facts, for a request and for
`easlab device explain` alike, so the two never disagree.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, func, select

from easlab.eas import policy
from easlab.eas.machines import access, wipe
from easlab.eas.machines.access import Gate, Recipient
from easlab.eas.machines.provision import device_information
from easlab.storage.access import device_facts, mailbox_access, org_settings, organisation, record_state, rules
from easlab.storage.devices import get_device, touch_device
from easlab.storage.models import Device, User
from easlab.storage.policies import policy_for

from . import notices

log = logging.getLogger("easlab.access")


@dataclass
class GateEffects:
    """What the gate did besides answering: folders that got mail, mail queued for others."""

    touched: list[int] = field(default_factory=list)
    outbound: bool = False


def _reported(command, request) -> dict:
    """The DeviceInformation a Provision or Settings request carries, cut to the columns' widths
    (a phone's over-long value must not fail the request).  It counts from the request that carries
    it: a Quarantine rule on the OS lifts the moment the device reports a new one (digest §11 item 25)."""
    if command.name not in ("Provision", "Settings") or request is None or isinstance(request, bytes):
        return {}
    return {column: value[:Device.__table__.c[column].type.length or len(value)]
            for column, value in (device_information(request) or {}).items()}


def access_facts(session: Session, user: User, device: Device | None, line, command, now: datetime,
                 reported: dict | None = None) -> access.Facts:
    """What evaluate needs, from the rows and the request line (`device` None: not yet a partner)."""
    org = org_settings(session)
    # The device as it will be once this request is stored, without writing anything yet.
    probe = Device(user_id=user.id, device_id=line.device_id, first_sync=now)
    if device is not None:
        for column in ("device_type", "user_agent", "os", "model", "first_sync", "wipe_state", "access_state",
                       "policy_key", "provisioned_at"):
            setattr(probe, column, getattr(device, column))
    probe.device_type = line.device_type or probe.device_type
    for column, value in (reported or {}).items():
        setattr(probe, column, value)
    count = 0
    if device is None:
        count = session.exec(select(func.count()).select_from(Device).where(Device.user_id == user.id)).one()
    pol = policy_for(session, user)
    settings = policy.PolicySettings.from_json(pol.settings) if pol else None
    provisioning = policy.Provisioning(probe.policy_key, probe.provisioned_at, probe.wipe_state in wipe.PENDING)
    return access.Facts(
        organisation=organisation(org), rules=tuple(rules(session)), mailbox=mailbox_access(user),
        device=device_facts(probe, line.user_agent, line.ms_wl or ""), line=line, command=command, now=now,
        known=device is not None, partnerships=count, stored_state=probe.access_state,
        policy_status=policy.check(settings, provisioning, line.policy_key, line.protocol_version, now),
        max_devices_notice_at=user.max_devices_mail_at,
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


def run_gate(session: Session, mailer, user: User, ctx, command, now: datetime, request=None) -> tuple[Gate, GateEffects]:
    line = ctx.request
    effects = GateEffects()
    device = get_device(session, user, line.device_id)
    reported = _reported(command, request)
    decision = access.evaluate(access_facts(session, user, device, line, command, now, reported))
    if decision.state is None:  # refused before any partnership: nothing is stored
        if decision.step == "MaxDevices":
            log.warning("%s: device %s refused, %s", user.name, line.device_id, decision.path[-1])
        if Recipient.USER in decision.notify:
            notice = notices.max_devices(mailer.domain, user, org_settings(session).max_devices)
            effects.touched.append(mailer.post_to_inbox(session, user, notice, now=now).folder_id)
            user.max_devices_mail_at = now
            session.add(user)
        return Gate(decision, decision.response), effects
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
    return Gate(decision, decision.response), effects
