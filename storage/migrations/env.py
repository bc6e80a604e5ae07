"""Alembic's environment for easlab's schema revisions.

How a schema change is made (a developer, in a checkout with the venv installed):

  1. Change the models (storage/models*.py).
  2. Bring a scratch database to the current head *through the revisions* (not `easlab init`,
     which would create the changed models and leave nothing to compare):
         .venv/bin/alembic -x db=/tmp/rev.db upgrade head
  3. Let Alembic write the revision from the difference, then read and correct it:
         .venv/bin/alembic -x db=/tmp/rev.db revision --autogenerate -m "what changed"
     (pyproject.toml's [tool.alembic] points the command at this folder; render_as_batch makes the
     ALTERs work on SQLite too.)  A NOT NULL column added to a table with rows needs a
     server_default (the rows' value); `alembic -x db=... check` says whether anything is left.
  4. Set HEAD in storage/migrations/__init__.py to the new revision id, and run
     tests/storage/test_schema_revisions.py: it upgrades older databases with data in them on
     SQLite and PostgreSQL and compares the result with the models.

easlab runs the revisions itself when it opens a database (storage/schema.py: `easlab serve`,
every command, `easlab db upgrade`); it hands this module the connection in
config.attributes["connection"], inside its own transaction.
"""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from easlab.storage.db import normalise_url
from easlab.storage.schema import models_metadata

config = context.config
JSON_ARGUMENTS = (("optional", False), ("ensure_ascii", True), ("sort_keys", False))  # JSONText's, and their defaults


def render_type(kind: str, obj, autogen_context):
    """easlab's column types in a written revision: its own from easlab.storage.types (imported),
    SQLModel's AutoString as the String it is; anything else as Alembic renders it."""
    if kind != "type":
        return False
    if type(obj).__name__ == "AutoString":
        length = getattr(obj.impl, "length", None)
        return f"sa.String({length})" if length else "sa.String()"
    if type(obj).__module__ == "easlab.storage.types":
        autogen_context.imports.add("from easlab.storage import types")
        args = ", ".join(f"{name}={getattr(obj, name)!r}" for name, usual in JSON_ARGUMENTS
                         if getattr(obj, name, usual) != usual)
        return f"types.{type(obj).__name__}({args})"
    return False


OPTIONS = {"render_as_batch": True, "compare_type": True, "render_item": render_type}


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=models_metadata(), **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("db")
    if not url:
        raise SystemExit("name the database: alembic -x db=PATH.db (or -x db=postgresql://...) ...")
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("easlab's revisions run against a database (-x db=...), not as SQL scripts")
main()
