"""`easlab device`: device partnerships (Exchange's Get-MobileDevice, Clear-MobileDevice ...)."""
from __future__ import annotations

import click

from .cli_common import _db, db_option, json_option, print_rows, tell_server


def device_row(device, user_name: str) -> dict:
    return {
        "user": user_name, "device_id": device.device_id, "type": device.device_type, "model": device.model,
        "os": device.os, "user_agent": device.user_agent, "protocol": device.protocol_version,
        "policy": device.policy_name, "policy_key": device.policy_key, "policy_status": device.policy_status,
        "first_sync": device.first_sync, "last_sync": device.last_sync, "wipe": device.wipe_state,
        "wipe_account_only": device.wipe_account_only, "wipe_requested_at": device.wipe_requested_at,
        "wipe_sent_at": device.wipe_sent_at, "wipe_ack_at": device.wipe_ack_at,
        "friendly_name": device.friendly_name, "imei": device.imei, "phone_number": device.phone_number,
    }


@click.group()
def device() -> None:
    """Device partnerships: list, wipe."""


@device.command("list")
@click.option("--user", "user_name", default=None, help="Only this user's devices.")
@json_option
@db_option
def device_list(user_name, as_json, db_url) -> None:
    """Every device with its type, model, OS, user agent, protocol, policy, key, last sync, wipe state."""
    from sqlmodel import select

    from storage.models import Device, User

    with _db(db_url).session() as session:
        query = select(Device, User).where(Device.user_id == User.id)
        if user_name:
            query = query.where(User.name == user_name.lower())
        rows = [device_row(d, u.name) for d, u in session.exec(query.order_by(User.name, Device.device_id))]
    print_rows(rows, as_json, ["user", "device_id", "type", "model", "os", "user_agent", "protocol", "policy",
                               "policy_key", "last_sync", "wipe"])


def _find(session, user_name: str, device_id: str):
    from storage.devices import get_device
    from storage.users import get_user

    user = get_user(session, user_name)
    if user is None:
        raise click.ClickException(f"no user {user_name}")
    found = get_device(session, user, device_id)
    if found is None:
        raise click.ClickException(f"{user_name} has no device {device_id}")
    return user, found


@device.command("wipe")
@click.argument("user_name")
@click.argument("device_id")
@click.option("--account-only", is_flag=True, help="Wipe only the account's data (EAS 16.1 devices).")
@click.option("--cancel", is_flag=True, help="Withdraw a wipe that has not been sent yet.")
@db_option
def device_wipe(user_name, device_id, account_only, cancel, db_url) -> None:
    """Remote-wipe DEVICE_ID of USER at its next request (Exchange's Clear-MobileDevice)."""
    from storage.models import utcnow

    db = _db(db_url)
    with db.session() as session:
        user, found = _find(session, user_name, device_id)
        if cancel:
            if found.wipe_state != "pending":
                raise click.ClickException(f"cannot cancel: the wipe is {found.wipe_state}"
                                           + (" (already sent to the device)" if found.wipe_state != "none" else ""))
            found.wipe_state, found.wipe_requested_at, found.wipe_account_only = "none", None, False
            message = f"wipe of {device_id} cancelled"
        else:
            if account_only and found.protocol_version != "16.1":
                raise click.ClickException(f"--account-only needs an EAS 16.1 device; {device_id} speaks {found.protocol_version or 'nothing yet'}")
            found.wipe_state, found.wipe_requested_at, found.wipe_account_only = "pending", utcnow(), account_only
            found.wipe_sent_at = found.wipe_ack_at = None
            message = f"{'account-only ' if account_only else ''}wipe of {device_id} pending: it runs at the device's next request"
        session.add(found)
        user_id = user.id
    tell_server(db, {"event": "policy", "users": [user_id]})
    click.echo(message)
