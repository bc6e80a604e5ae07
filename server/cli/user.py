"""`easlab user`: mailboxes, their passwords and admin roles (directory fields: directory.py)."""
from __future__ import annotations

import json

import click

from ..admin import ROLES
from .common import _db, db_option, run_admin, server_domain


@click.group()
def user() -> None:
    """Manage users (mailboxes)."""


ROLE_CHOICE = click.Choice([*ROLES, "none"])


@user.command("add")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--display-name", default="")
@click.option("--role", type=ROLE_CHOICE, default=None, help="Admin role for the web UI and API.")
@db_option
def user_add(name, password, display_name, role, db_url) -> None:
    """Create user NAME; its address is NAME@DOMAIN."""
    created = run_admin(db_url, lambda admin, actor: admin.user_add(actor, name, password, display_name, role))
    click.echo(f"added {created['name']} ({created['display_name']})"
               + (f", role {created['role']}" if created["role"] else ""))


@user.command("set")
@click.argument("name")
@click.option("--activesync/--no-activesync", default=None, help="Exchange's ActiveSyncEnabled.")
@click.option("--role", type=ROLE_CHOICE, default=None, help="Admin role for the web UI and API ('none' removes it).")
@click.option("--display-name", default=None)
@db_option
def user_set(name, activesync, role, display_name, db_url) -> None:
    """Change a user's ActiveSync access, role or display name."""
    result = run_admin(db_url, lambda admin, actor: admin.user_set(actor, name, activesync=activesync, role=role,
                                                                   display_name=display_name))
    click.echo(f"{result['name']}: activesync {'on' if result['activesync'] else 'off'}, role {result['role'] or 'none'}")


@user.command("remove")
@click.argument("name")
@db_option
def user_remove(name, db_url) -> None:
    """Remove user NAME with its mail, folders and device partnerships (Remove-Mailbox)."""
    gone = run_admin(db_url, lambda admin, actor: admin.user_remove(actor, name))
    devices = len(gone["devices"])
    click.echo(f"removed {gone['name']}: {gone['items']} item{'s' * (gone['items'] != 1)}, "
               f"{devices} device partnership{'s' * (devices != 1)}")


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
def user_list(as_json, db_url) -> None:
    """List users."""
    from easlab.storage.users import list_users

    db = _db(db_url)
    domain = server_domain(db)
    with db.session() as session:
        rows = [
            {"name": u.name, "address": f"{u.name}@{domain}", "display_name": u.display_name,
             "activesync": u.activesync_enabled, "role": u.role,
             "created_at": u.created_at.isoformat(timespec="seconds")}
            for u in list_users(session)
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['name']:<20} {row['address']:<36} {row['display_name']}")


@user.command("passwd")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@db_option
def user_passwd(name, password, db_url) -> None:
    """Set the password of user NAME."""
    run_admin(db_url, lambda admin, actor: admin.user_passwd(actor, name, password))
    click.echo(f"password of {name.lower()} changed")
