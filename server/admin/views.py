"""Rows as the front ends show them: plain dicts of JSON types, the same for the CLI's --json,
the web templates and the API's bodies."""
from __future__ import annotations

from easlab.eas.machines import wipe
from easlab.eas.machines.access import MailboxAccess, listed, pending_state
from easlab.eas.policy import PolicySettings, policy_key, provision_doc, wap_doc
from easlab.eas.versions import has
from easlab.eas.wbxml import to_xml
from easlab.storage.models import AccessRule, Device, OutboundMail, Policy, User
from easlab.storage.types import iso


def device_view(device: Device, user: User, with_history=None) -> dict:
    row = {
        "user": user.name, "display_name": user.display_name, "device_id": device.device_id,
        # Exchange sets Model = DeviceType for a device that never sent DeviceInformation.
        "device_type": device.device_type, "model": device.model or device.device_type, "os": device.os,
        "user_agent": device.user_agent,
        "friendly_name": device.friendly_name, "imei": device.imei, "phone_number": device.phone_number,
        "protocol_version": device.protocol_version, "first_sync": iso(device.first_sync), "last_sync": iso(device.last_sync),
        "access_state": device.access_state, "access_reason": device.access_reason, "access_rule": device.access_rule,
        "access_step": device.access_step, "access_changed_at": iso(device.access_changed_at),
        # An auto-block's behaviour and end; it may have passed (lifted at the next request).
        "autoblock_reason": device.autoblock_reason, "autoblock_until": iso(device.autoblock_until),
        "policy": device.policy_name, "policy_key": device.policy_key, "policy_status": device.policy_status,
        # Exchange's Status names (eas.machines.wipe.STATUS); the stored state stays easlab's own.
        "wipe": wipe.status(device.wipe_state, device.wipe_account_only), "wipe_account_only": device.wipe_account_only,
        "wipe_pending": device.wipe_state in wipe.PENDING, "wipe_cancellable": wipe.cancellable(device.wipe_state),
        "wipe_notification_emails": list(device.wipe_notify),
        "wipe_requested_at": iso(device.wipe_requested_at), "wipe_sent_at": iso(device.wipe_sent_at),
        "wipe_ack_at": iso(device.wipe_ack_at),
        "allowed_individually": listed(device.device_id, user.allowed_device_ids),
        "blocked_individually": listed(device.device_id, user.blocked_device_ids),
        # Allowed or Blocked by the user's lists from the device's next request on; None: nothing pending.
        "pending_state": pending_state(device.device_id, device.access_state, device.access_reason, MailboxAccess(
            user.activesync_enabled, list(user.allowed_device_ids), list(user.blocked_device_ids))),
    }
    if with_history is not None:
        row["history"] = [{"at": iso(h.at), "from": h.old_state, "to": h.new_state, "reason": h.reason, "rule": h.rule,
                           "step": h.step} for h in with_history]
    return row


def rule_view(rule: AccessRule) -> dict:
    return {"name": rule.name, "characteristic": rule.characteristic, "query": rule.query,
            "access_level": rule.access_level, "created_at": iso(rule.created_at)}


def policy_view(policy: Policy, users: int) -> dict:
    return {"name": policy.name, "default": policy.is_default, "users": users, "changed_at": iso(policy.changed_at)}


def policy_document(settings: PolicySettings, version: str) -> dict:
    """What a device of `version` receives for these settings: the PolicyKey and the document
    (the WAP provisioning XML for 2.5, the EASProvisionDoc as XML after)."""
    document = wap_doc(settings) if has(version, "wap_policy_doc") else to_xml(provision_doc(settings, version))
    return {"settings": dict(settings.__dict__), "version": version, "policy_key": policy_key(settings, version),
            "document": document}


def outbound_view(mail: OutboundMail) -> dict:
    return {"id": mail.id, "created_at": iso(mail.created_at), "sender": mail.sender,
            "recipients": mail.recipients, "subject": mail.subject, "size": len(mail.mime or b""),
            "status": mail.status, "attempts": mail.attempts, "last_error": mail.last_error,
            "next_attempt_at": iso(mail.next_attempt_at), "sent_at": iso(mail.sent_at)}
