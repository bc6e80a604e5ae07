"""What every `easlab` sub-command shares: settings, the database, telling a running server."""
from __future__ import annotations

import json

import click

from ..config import Settings

DB_HELP = "Database URL: sqlite:///PATH, postgresql://USER@HOST/DB or a PATH.db (default: easlab.db in the data folder)."
db_option = click.option("--db", "db_url", envvar="EASLAB_DB", help=DB_HELP)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _settings(**overrides) -> Settings:
    settings = Settings.from_env()
    for key, value in overrides.items():
        if value is not None:
            setattr(settings, key, value)
    return settings


def _db(db_url: str | None):
    """The existing database of --db (database.py: refused with one line when there is none)."""
    from .database import open_database

    return open_database(db_url)


def server_domain(db) -> str:
    """The mail domain of the server that serves `db`, as `serve` recorded it in the data folder;
    else EASLAB_DOMAIN or the default."""
    return domain_of(db.url)


def domain_of(db_url: str) -> str:
    """server_domain of the database at the (normalised) `db_url`."""
    from .. import home

    return home.server_settings(db_url).get("domain") or _settings().domain


def tell_server(db, event: dict) -> None:
    """Wake what a running server holds (server/control.py); silent when none runs."""
    from ..control import tell

    tell(db, event)


def print_rows(rows: list[dict], as_json: bool, columns: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("(none)")
        return
    def cell(value) -> str:
        if value is None:
            return ""
        return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else str(value)

    widths = {c: max(len(c), *(len(cell(r.get(c))) for r in rows)) for c in columns}
    click.echo("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for r in rows:
        click.echo("  ".join(cell(r.get(c)).ljust(widths[c]) for c in columns).rstrip())


def admin_for(db):
    """The administration layer as the local shell uses it: full rights, events to the server."""
    from ..admin import Admin

    return Admin(db, lambda event: tell_server(db, event), server_domain(db))


def run_admin(db_url: str | None, operation):
    """Run `operation(admin, actor)` as the shell; errors become one-line CLI errors."""
    from easlab.storage.access import AccessError
    from easlab.storage.policies import PolicyError

    from ..admin import SHELL, Forbidden, NotFound
    from ..admin.roles import error_text

    try:
        return operation(admin_for(_db(db_url)), SHELL)
    except (AccessError, PolicyError, Forbidden, NotFound, ValueError) as exc:
        raise click.ClickException(error_text(exc)) from None
