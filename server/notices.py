"""Mails the server writes itself (Exchange sends these from "Microsoft Exchange")."""
from __future__ import annotations

import html
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid


def _base(domain: str, to: str, subject: str, importance: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f'"Microsoft Exchange" <MicrosoftExchange@{domain}>'
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg["Message-ID"] = make_msgid(domain=domain)
    if importance:
        msg["Importance"] = importance
    return msg


def device_table(rows: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><td>{html.escape(k)}:</td><td>{html.escape(v or '')}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def wipe_confirmation(domain: str, owner: str, display_name: str, device_rows: list[tuple[str, str]], when: datetime) -> bytes:
    """MS-ASPROV / Exchange: the owner learns the wipe went through (class
    IPM.Note.Exchange.ActiveSync.RemoteWipeConfirmation)."""
    msg = _base(domain, f'"{display_name}" <{owner}>', "Remote Device Wipe Confirmation", "High")
    text = (f"The remote device wipe was completed at {when.strftime('%Y-%m-%d %H:%M:%S')} UTC.\n\n"
            + "\n".join(f"{k}: {v}" for k, v in device_rows))
    msg.set_content(text)
    msg.add_alternative(
        f"<html><body><p>The remote device wipe was completed at {when.strftime('%Y-%m-%d %H:%M:%S')} UTC.</p>"
        f"{device_table(device_rows)}</body></html>", subtype="html")
    return msg.as_bytes()


STATE_TEXT = {
    "Quarantined": ("Your mobile device is temporarily blocked from synchronizing with the server until your "
                    "administrator grants access. You don't need to take any action. Content will automatically be "
                    "downloaded as soon as access is granted by your administrator."),
    "Blocked": ("Your mobile device is blocked from synchronizing with the server. Contact your administrator "
                "for more information."),
}


def device_rows(device, state: str, reason: str, rule: str = "", admin: bool = False, owner: str = "") -> list[tuple[str, str]]:
    rows = [("Device model", device.model or device.device_type), ("Device type", device.device_type),
            ("Device ID", device.device_id), ("Device OS", device.os), ("Device user agent", device.user_agent),
            ("Device IMEI", device.imei), ("Exchange ActiveSync version", device.protocol_version),
            ("Device access state", state), ("Device access state reason", reason)]
    if admin:
        phone = device.phone_number
        rows.insert(0, ("User", owner))
        rows.insert(6, ("Device phone number", ("*" * max(0, len(phone) - 4) + phone[-4:]) if phone else ""))
        rows += [("Device policy applied", device.policy_name), ("Device policy status", device.policy_status),
                 ("Device access control rule", rule)]
    return rows


def user_access(domain: str, owner: str, display_name: str, device, state: str, reason: str, insert: str, when: datetime) -> bytes:
    """The notice a quarantined or blocked user finds in the Inbox (and the one message a
    quarantined phone shows).  The organisation's insert is raw HTML, as Exchange uses it."""
    subject = {"Quarantined": "Your device is quarantined", "Blocked": "Your device is blocked"}.get(state, "Your device")
    msg = _base(domain, f'"{display_name}" <{owner}>', f"{subject} ({device.model or device.device_type})")
    rows = device_rows(device, state, reason)
    text = STATE_TEXT.get(state, "")
    msg.set_content(text + "\n\n" + (html_to_plain(insert) + "\n\n" if insert else "") +
                    "Information about your mobile device:\n" + "\n".join(f"{k}: {v}" for k, v in rows) +
                    f"\n\nSent at {when.strftime('%Y-%m-%d %H:%M:%S')} UTC to {owner}")
    msg.add_alternative(
        "<html><body style=\"font-family: Tahoma\">"
        f"<p>{html.escape(text)}</p>" + (f"<p>{insert}</p>" if insert else "") +
        f"<p>Information about your mobile device:</p>{device_table(rows)}"
        f"<p>Sent at {when.strftime('%Y-%m-%d %H:%M:%S')} UTC to {html.escape(owner)}</p></body></html>", subtype="html")
    return msg.as_bytes()


def admin_quarantine(domain: str, owner: str, display_name: str, alias: str, device, reason: str, rule: str,
                     link: str | None, admins: list[str], when: datetime) -> bytes:
    """The admins' mail on a quarantine, with a link to the device's page."""
    msg = _base(domain, ", ".join(admins), f"A new mobile device for {display_name} ({alias}) is quarantined")
    rows = device_rows(device, "Quarantined", reason, rule, admin=True, owner=owner)
    intro = f"A mobile device belonging to {display_name} was quarantined and can't synchronize until you allow it."
    link_text = f"To allow or block the device, open: {link}" if link else "Allow or block the device with `easlab device allow|block`."
    msg.set_content(intro + "\n\n" + link_text + "\n\n" + "\n".join(f"{k}: {v}" for k, v in rows) +
                    f"\n\nSent at {when.strftime('%Y-%m-%d %H:%M:%S')} UTC to {', '.join(admins)}")
    link_html = (f'<p>To allow or block the device, <a href="{html.escape(link)}">open its page</a>.</p>' if link
                 else "<p>Allow or block the device with <code>easlab device allow|block</code>.</p>")
    msg.add_alternative(
        f"<html><body style=\"font-family: Tahoma\"><p>{html.escape(intro)}</p>{link_html}{device_table(rows)}"
        f"<p>Sent at {when.strftime('%Y-%m-%d %H:%M:%S')} UTC to {html.escape(', '.join(admins))}</p></body></html>",
        subtype="html")
    return msg.as_bytes()


def max_devices(domain: str, user, limit: int) -> bytes:
    msg = _base(domain, f'"{user.display_name}" <{user.name}@{domain}>', "Error with your new mobile phone partnership", "High")
    msg.set_content(f"You have {limit} phone partnerships out of the maximum allowed {limit} partnerships. "
                    "Delete any unused partnerships before you add a new one.")
    return msg.as_bytes()


def html_to_plain(markup: str) -> str:
    from easlab.eas.mime import html_to_text

    return html_to_text(markup)
