"""The per-request gate: access control (eas.access) then the policy check (eas.policy), stored
and notified in one transaction.

Exchange evaluates a device's access on every request but OPTIONS and stores the outcome; when
the stored state changes into Quarantined or Blocked (for other reasons than policy) the user gets
a notice in the Inbox and, for quarantine, the admins get a mail with a link to approve.  Both
checks are pure functions; this module feeds them rows and writes back what they decided.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlmodel import Session, func, select

from easlab.eas import access, policy
from easlab.eas.access import BLOCKED, POLICY, QUARANTINED, Decision, Gate
from easlab.eas.dispatch import policy_refusal
from easlab.storage.access import device_facts, mailbox_access, org_settings, organisation, record_state, rules
from easlab.storage.devices import get_device, touch_device
from easlab.storage.models import Device, User, utcnow
from easlab.storage.policies import policy_for

from . import notices

log = logging.getLogger("easlab.access")


@dataclass
class GateEffects:
    """What the gate did besides answering: folders that got mail, mail queued for others."""

    touched: list[int] = field(default_factory=list)
    outbound: bool = False


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def run_gate(session: Session, mailer, user: User, ctx, command, now: datetime, request=None) -> tuple[Gate, GateEffects]:
    line = ctx.request
    effects = GateEffects()
    org = org_settings(session)
    if not user.activesync_enabled:
        decision = Decision(None, step="ActiveSyncEnabled", path=["ActiveSync is disabled for this mailbox"])
        return Gate(decision, access.refuse(126, line.protocol_version, command.root)), effects

    device = get_device(session, user, line.device_id)
    if device is None:
        count = session.exec(select(func.count()).select_from(Device).where(Device.user_id == user.id)).one()
        if count >= org.max_devices:
            log.warning("%s: device %s refused, %d partnerships reached", user.name, line.device_id, org.max_devices)
            last = _aware(user.max_devices_mail_at)
            if last is None or now - last > timedelta(hours=24):
                notice = notices.max_devices(mailer.domain, user, org.max_devices)
                effects.touched.append(mailer.post_to_inbox(session, user, notice, now=now).folder_id)
                user.max_devices_mail_at = now
                session.add(user)
            decision = Decision(None, step="MaxDevices", path=[f"{count} partnerships, the limit is {org.max_devices}"])
            return Gate(decision, access.refuse(177, line.protocol_version, command.root)), effects
    device = touch_device(session, user, line.device_id, line.device_type, line.user_agent, line.protocol_version, now=now)
    if command.name in ("Provision", "Settings") and request is not None and not isinstance(request, bytes):
        # DeviceInformation counts from the request that carries it: a Quarantine rule on the
        # OS lifts the moment the device reports a new one (digest §11 item 25).
        from easlab.eas.commands.provision import device_information

        for column, value in (device_information(request) or {}).items():
            width = Device.__table__.c[column].type.length or len(value)
            setattr(device, column, value[:width])  # a phone's over-long value must not fail the request

    decision = access.decide(organisation(org), rules(session), mailbox_access(user),
                             device_facts(device, line.user_agent, line.ms_wl or ""), now)
    response = access.gate_response(decision, line.command, command.root, line.protocol_version, org.blocked_delay)
    stored = decision
    if response is None and command.name not in policy.EXEMPT_COMMANDS:
        pol = policy_for(session, user)
        from easlab.eas.policy import PolicySettings, Provisioning

        settings = PolicySettings.from_json(pol.settings) if pol else None
        provisioning = Provisioning(device.policy_key, _aware(device.provisioned_at), device.wipe_state in ("pending", "sent"))
        status = policy.check(settings, provisioning, line.policy_key, line.protocol_version, now)
        if status is not None:
            response = policy_refusal(status, command, line)
            if status != policy.POLICY_REFRESH and status != policy.REMOTE_WIPE_REQUESTED:
                # Exchange records a device that fails the policy check as Blocked (Policy).
                stored = Decision(BLOCKED, POLICY, None, "Policy", decision.path + [f"policy check: status {status}"])
    if stored.step != "RemoteWipe":
        changed = record_state(session, device, stored.state, stored.reason, stored.rule, stored.step)
        if changed:
            mailer.bus.publish("device", session=session, user=user.name, device_id=device.device_id,
                           state=stored.state, reason=stored.reason)
        if changed and stored.state in (QUARANTINED, BLOCKED) and stored.reason != POLICY:
            log.info("%s %s: now %s (%s)", user.name, device.device_id, stored.state, stored.reason)
            mailer.access_notices(session, user, device, org, stored, effects, now)
    return Gate(stored, response), effects
