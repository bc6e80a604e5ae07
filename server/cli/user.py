"""`easlab user`: mailboxes, their passwords and admin roles (directory fields: directory.py)."""
from __future__ import annotations

import json

import click

from ..admin import ROLES
from .common import _db, db_option, domain_of, run_admin


@click.group()
def user() -> None:
    """Manage users (mailboxes)."""


ROLE_CHOICE = click.Choice([*ROLES, "none"])


@user.command("add")
@click.argument("names", metavar="NAME...", nargs=-1)
@click.option("--password", default=None, help="The password (of every NAME); asked for when not given.")
@click.option("--file", "users_file", type=click.File("r", encoding="utf-8"), default=None,
              help="Users to add, one `name,password[,display name]` line each (CSV; - reads stdin).")
@click.option("--display-name", default="")
@click.option("--role", type=ROLE_CHOICE, default=None, help="Admin role for the web UI and API.")
@db_option
def user_add(names, password, users_file, display_name, role, db_url) -> None:
    """Create user NAME (or several, or those of --file); an address is NAME@DOMAIN.  Several are
    added in one transaction: if any is refused (each refusal a line), none is added (exit 2)."""
    if bool(names) == bool(users_file):
        raise click.UsageError("give NAME... or --file")
    if users_file is not None and password is not None:
        raise click.UsageError("--file gives each user's password; --password goes with NAME...")
    if display_name and len(names) != 1:
        raise click.UsageError("--display-name goes with one NAME (--file gives each user's)")
    if password is None and names:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(names) == 1:
        created = run_admin(db_url, lambda admin, actor: admin.user_add(actor, names[0], password, display_name, role))
        return _added(created)
    users = _read_users(users_file) if users_file is not None else [(name, password, "") for name in names]
    from ..admin.users import UsersRefused

    def add(admin, actor) -> list[dict]:
        try:
            return admin.users_add(actor, users, role)
        except UsersRefused as exc:
            _refuse(exc.refusals)  # before run_admin's one line for any other refusal
            raise

    for created in run_admin(db_url, add):
        _added(created)


def _added(created: dict) -> None:
    click.echo(f"added {created['name']} ({created['display_name']})"
               + (f", role {created['role']}" if created["role"] else ""))


def _refuse(lines: list[str]) -> None:
    """One line per refusal, then exit 2 (Refused's status): nothing was written."""
    for line in lines:
        click.echo(f"Error: {line}", err=True)
    raise SystemExit(2)


def _read_users(stream) -> list[tuple[str, str, str]]:
    """(name, password, display name) of each `name,password[,display name]` line; blank lines are
    skipped, and a line that is none of these is refused with its number."""
    import csv

    users, refusals = [], []
    for number, fields in enumerate(csv.reader(stream), start=1):
        if not any(field.strip() for field in fields):
            continue
        if len(fields) not in (2, 3):
            refusals.append(f"{stream.name} line {number}: expected name,password[,display name]")
            continue
        users.append((fields[0].strip(), fields[1], fields[2].strip() if len(fields) == 3 else ""))
    if refusals:
        _refuse(refusals)
    if not users:
        _refuse([f"{stream.name}: no users"])
    return users


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
    url, users = _listed(db_url)
    domain = domain_of(url)
    rows = [
        {"name": u.name, "address": f"{u.name}@{domain}", "display_name": u.display_name,
         "activesync": u.activesync_enabled, "role": u.role,
         "created_at": u.created_at.isoformat(timespec="seconds")}
        for u in users
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['name']:<20} {row['address']:<36} {row['display_name']}")


def _listed(db_url: str | None) -> tuple[str, list]:
    """The store's URL and its users: read by the driver alone when the store is there and current
    (storage/quickread.py; no SQLAlchemy, so the command starts in a fraction of the time), else
    by the ORM, which opens, migrates or refuses as every command does.  -v takes the ORM path,
    whose opening says which database it is."""
    from easlab.storage import quickread

    from .database import resolve_url, verbose_requested

    url = resolve_url(db_url)
    if not verbose_requested():
        try:
            return url, quickread.list_users(url)
        except quickread.Unavailable:
            pass
    from easlab.storage.users import list_users

    db = _db(db_url)
    try:
        with db.session(write=False) as session:
            return db.url, list_users(session)
    finally:
        db.dispose()


@user.command("passwd")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@db_option
def user_passwd(name, password, db_url) -> None:
    """Set the password of user NAME."""
    run_admin(db_url, lambda admin, actor: admin.user_passwd(actor, name, password))
    click.echo(f"password of {name.lower()} changed")
