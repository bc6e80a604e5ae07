"""`easlab device`: partnerships and their access (Get-MobileDevice, Set-CASMailbox lists,
Clear-MobileDevice, Remove-MobileDevice)."""
from __future__ import annotations

import json

import click

from .common import admin_for, db_option, json_option, print_rows, run_admin


@click.group()
def device() -> None:
    """Device partnerships: list, allow, block, revoke, wipe, remove, explain."""


@device.command("list")
@click.option("--user", "user_name", default=None, help="Only this user's devices.")
@click.option("--state", type=click.Choice(["quarantined", "allowed", "blocked", "discovery"]), default=None)
@json_option
@db_option
def device_list(user_name, state, as_json, db_url) -> None:
    """Every device with its access state, type, model, OS, user agent, protocol, policy and wipe state."""
    rows = run_admin(db_url, lambda admin, actor: admin.device_list(actor, user_name, state))
    print_rows(rows, as_json, ["user", "device_id", "device_type", "model", "os", "user_agent", "protocol_version",
                               "access_state", "access_reason", "access_rule", "autoblock_until", "policy", "policy_key", "last_sync", "wipe"])


def _simple(name: str, doc: str, method: str, done: str):
    @device.command(name, help=doc)
    @click.argument("user_name")
    @click.argument("device_id")
    @db_option
    def command(user_name, device_id, db_url) -> None:
        run_admin(db_url, lambda admin, actor: getattr(admin, method)(actor, user_name, device_id))
        click.echo(done.format(user=user_name, device=device_id))

    return command


_simple("allow", "Add DEVICE_ID to USER's allowed list (also for a device that has not connected yet).",
        "device_allow", "{device} is on {user}'s allowed list: allowed at its next request")
_simple("block", "Add DEVICE_ID to USER's blocked list.", "device_block", "{device} is on {user}'s blocked list")
_simple("unblock", "Take DEVICE_ID off USER's blocked list.", "device_unblock", "{device} is off {user}'s blocked list")
_simple("remove", "Delete the partnership: the next request is a new device.", "device_remove",
        "partnership {user}/{device} removed")


@device.command("revoke")
@click.argument("user_name")
@click.argument("device_id", required=False)
@db_option
def device_revoke(user_name, device_id, db_url) -> None:
    """Take DEVICE_ID (or every device) off USER's allowed list; it falls back to rules and the
    default, e.g. back into quarantine at its next request."""
    result = run_admin(db_url, lambda admin, actor: admin.device_revoke(actor, user_name, device_id))
    click.echo(f"revoked for {user_name}: {', '.join(result['revoked']) or 'nothing was allowed'}")


@device.command("explain")
@click.argument("user_name")
@click.argument("device_id")
@json_option
@db_option
def device_explain(user_name, device_id, as_json, db_url) -> None:
    """The access decision DEVICE_ID's next request would get, and why."""
    result = run_admin(db_url, lambda admin, actor: admin.device_explain(actor, user_name, device_id))
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for n, step in enumerate(result["path"], 1):
        click.echo(f"{n}. {step}")
    verdict = f"{result['state']} ({result['reason']})" if result["state"] else "refused (ActiveSync disabled)"
    click.echo(f"=> {verdict}" + (f", rule {result['rule']}" if result["rule"] else "") + f", decided at step {result['step']}")


@device.command("wipe")
@click.argument("user_name")
@click.argument("device_id")
@click.option("--account-only", is_flag=True, help="Wipe only the account's data (EAS 16.1 devices).")
@click.option("--cancel", is_flag=True, help="Withdraw a wipe that has not been sent yet.")
@click.option("--notification-email", "notify", multiple=True, metavar="ADDR",
              help="Mail ADDR when the device confirms the wipe (repeatable; NotificationEmailAddresses).")
@db_option
def device_wipe(user_name, device_id, account_only, cancel, notify, db_url) -> None:
    """Remote-wipe DEVICE_ID of USER at its next request (Clear-MobileDevice)."""
    run_admin(db_url, lambda admin, actor: admin.device_wipe(actor, user_name, device_id, account_only, cancel, list(notify)))
    if cancel:
        click.echo(f"wipe of {device_id} cancelled")
    else:
        told = f"; {', '.join(notify)} will be told when it is done" if notify else ""
        click.echo(f"{'account-only ' if account_only else ''}wipe of {device_id} pending: it runs at the device's next request{told}")


__all__ = ["device", "admin_for"]
