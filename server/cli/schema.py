"""`easlab db`: the database's schema revision, and its upgrade to this easlab's.

Every command and `serve` upgrade the database they open anyway (storage/schema.py); `db upgrade`
does only that and says what it did, `db current` says where the database is without changing it.
"""
from __future__ import annotations

import click

from .common import db_option


@click.group()
def db() -> None:
    """The database's schema revision: show it, upgrade it to this easlab's."""


@db.command()
@db_option
def upgrade(db_url) -> None:
    """Bring the database to this easlab's schema revision (every command and `serve` do it too)."""
    from easlab.storage.migrations import HEAD

    from .database import open_database, shown, sqlite_path

    opened = open_database(db_url)
    opened.dispose()
    where, outcome = sqlite_path(opened.url) or shown(opened.url), opened.schema
    before = ", ".join(sorted(outcome.before)) or "none"
    said = {
        "current": f"already at revision {HEAD}",
        "created": f"created at revision {HEAD}",
        "adopted": f"made before migrations: brought to the baseline and upgraded to revision {HEAD}",
        "upgraded": f"upgraded from revision {before} to {HEAD}",
    }[outcome.action]
    click.echo(f"easlab: database {where} {said}")


@db.command()
@db_option
def current(db_url) -> None:
    """The database's schema revision, and whether it is this easlab's (changes nothing)."""
    from sqlalchemy.exc import SQLAlchemyError

    from easlab.storage import Database
    from easlab.storage.migrations import HEAD
    from easlab.storage.schema import current as read_current
    from easlab.storage.schema import known_revisions

    from .database import Refused, _holds_easlab, _refusal, open_error, resolve_url

    database = Database(resolve_url(db_url))
    try:
        if not _holds_easlab(database):
            raise _refusal(database)
        state = read_current(database.engine)
    except SQLAlchemyError as exc:
        raise Refused(open_error(exc, database.url)) from None
    finally:
        database.dispose()
    revisions = ", ".join(sorted(state.revisions or ())) or None
    if state.revisions == {HEAD}:
        click.echo(f"{HEAD} (head)")
    elif revisions is None:
        click.echo(f"none: made before migrations; `easlab db upgrade` (or any command) brings it to {HEAD}")
    elif set(state.revisions) - known_revisions():
        raise Refused(f"{revisions}: a revision this easlab does not know (its newest is {HEAD}); "
                      "a newer easlab upgraded the database: run that one, or upgrade easlab")
    else:
        click.echo(f"{revisions}; this easlab's is {HEAD}: `easlab db upgrade` (or any command) upgrades it")
