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
