"""Which database a command uses, and opening it with one-line errors.

Only `serve` and `init` create a database; every other command refuses one that does not exist
(a mistyped --db, or a command run with another EASLAB_HOME, would otherwise fill a store that no
server reads).  Whatever goes wrong opening it is one line naming the cause and the fix, exit 2.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from easlab.storage.urls import DatabaseUrlError, normalise_url

from .. import home
from ..config import Settings

if TYPE_CHECKING:  # SQLAlchemy is imported when a command opens the store, not with this module
    from easlab.storage import Database

CREATE_HINT = "create it with `easlab init` (or start `easlab serve`)"


class Refused(click.ClickException):
    """A refusal of what the command was given (not a failure of easlab): exit status 2."""

    exit_code = 2


def resolve_url(db_url: str | None) -> str:
    """The normalised URL of --db (or EASLAB_DB, else the data folder's easlab.db); Refused if it
    names no database easlab can use."""
    try:
        return normalise_url(db_url or Settings.from_env().db_url)
    except DatabaseUrlError as exc:
        raise Refused(str(exc)) from None


def shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def sqlite_path(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.database if parsed.get_backend_name() == "sqlite" else None


def verbose_requested() -> bool:
    """Whether the root's -v/--verbose was given."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and bool(ctx.meta.get("easlab.verbose"))


def verbose(message: str) -> None:
    """On stderr when the root's -v/--verbose was given."""
    if verbose_requested():
        click.echo(f"easlab: {message}", err=True)


def open_error(exc: BaseException, url: str) -> str:
    """One line for a database that could not be opened: what happened and what to do."""
    cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    path = sqlite_path(url)
    if path is not None:
        return (f"cannot open SQLite database {path}: {cause} (its folder must exist and be writable, "
                "and the file be easlab's; or choose another with --db)")
    return (f"cannot open PostgreSQL database {shown(url)}: {cause} "
            "(check that PostgreSQL runs and accepts this URL, or choose another with --db)")


def _holds_easlab(db: Database) -> bool:
    """Whether easlab's tables are there; a missing SQLite file is not opened (that would make it)."""
    from sqlalchemy import inspect

    from easlab.storage.models import User

    path = sqlite_path(db.url)
    if path is not None and not os.path.exists(path):
        return False
    return inspect(db.engine).has_table(User.__tablename__)


def _refusal(db: Database) -> Refused:
    path = sqlite_path(db.url)
    if path is not None and not os.path.exists(path):
        return Refused(f"no easlab database at {path}; {CREATE_HINT}, or name another with --db")
    return Refused(f"{path or shown(db.url)} holds no easlab database; {CREATE_HINT} with the same --db")


def open_database(db_url: str | None, create: bool = False) -> Database:
    """The database of --db, its tables brought up to date; created only when `create`.  Its
    `existed` says whether easlab's tables were there before, its `schema` what the upgrade did
    (storage/schema.py's Outcome)."""
    from sqlalchemy.exc import SQLAlchemyError

    from easlab.storage import Database
    from easlab.storage.schema import SchemaTooNew

    url = resolve_url(db_url)
    verbose(f"database {shown(url)}")
    path = sqlite_path(url)
    if create and path is not None and os.path.dirname(path) == str(home.data_folder()):
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)  # the data folder, made on first use
        except OSError as exc:
            raise Refused(open_error(exc, url)) from None
    db = Database(url)
    try:
        db.existed = _holds_easlab(db)
        if not (create or db.existed):
            raise _refusal(db)
        db.schema = db.create_all()  # on an existing store: its upgrade to this easlab's revision
    except SchemaTooNew as exc:
        db.dispose()
        raise Refused(f"cannot use the database {sqlite_path(url) or shown(url)}: {exc}") from None
    except SQLAlchemyError as exc:
        db.dispose()
        raise Refused(open_error(exc, url)) from None
    except Refused:
        db.dispose()
        raise
    return db
