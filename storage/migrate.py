"""Additive migration: a database made by an older easlab gains what the models added since.

Upgrading must never mean deleting the lab's mailboxes, so `Database.create_all` runs both steps
on every start; each does nothing once the database is current.

- Columns: `ALTER TABLE ... ADD COLUMN`, with the column's default, on SQLite and PostgreSQL; a
  VARCHAR the model made longer is widened on PostgreSQL (SQLite does not enforce lengths), as
  the access reasons were for the auto-block behaviours.
- Foreign keys: the `device_pk` columns gained `ON DELETE CASCADE` (before, removing a device
  tripped over its sent ClientIds and left its hierarchy echoes and Find searches to the next
  device given the same id).  PostgreSQL adds a constraint by ALTER TABLE.  SQLite cannot, so the
  table is rebuilt as SQLite's documented procedure does it (https://sqlite.org/lang_altertable.html,
  "Making Other Kinds Of Table Schema Changes"): create the new table, copy the rows, drop the
  old one, rename, recreate the indexes, all in one transaction with enforcement off, and the
  foreign key check run before the commit.  Rows a cascade would have removed (children of a
  device already gone) are deleted first: they belong to no one.
"""
from __future__ import annotations

from sqlalchemy import MetaData, Table, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable, ForeignKeyConstraint

from .types import JSONText


def add_missing_columns(engine: Engine, metadata: MetaData) -> None:
    inspector = inspect(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                ddl = column.type.compile(dialect=engine.dialect)
                literal = _sql_literal(_default_as_stored(column, engine.dialect))
                clause = f" DEFAULT {literal}" if literal is not None else ""
                if literal is not None and not column.nullable:
                    clause += " NOT NULL"  # every row has the default: the model's constraint holds
                conn.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {ddl}{clause}'))
    if engine.dialect.name == "postgresql":
        _widen(engine, metadata, inspect(engine))


def _widen(engine: Engine, metadata: MetaData, inspector) -> None:
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            present = {c["name"]: c["type"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                want, have = getattr(column.type, "length", None), getattr(present.get(column.name), "length", None)
                if want and have and want > have:
                    ddl = column.type.compile(dialect=engine.dialect)
                    conn.execute(text(f'ALTER TABLE "{table.name}" ALTER COLUMN "{column.name}" TYPE {ddl}'))


def tighten(engine: Engine, metadata: MetaData) -> list[str]:
    """Columns an older easlab added as NULL (before it said NOT NULL) get the model's NOT NULL,
    their NULLs the column's default first; a column without a default stays as it is.  On SQLite,
    which can alter neither, the tables concerned are rebuilt, which also gives a VARCHAR its
    model's length (SQLite does not enforce lengths; the declared type is still the model's).
    Returns the tables changed."""
    inspector, changed = inspect(engine), {}
    for table in metadata.sorted_tables:
        present = {c["name"]: c for c in inspector.get_columns(table.name)}
        for column in table.columns:
            have = present.get(column.name)
            if have is None:
                continue
            literal = _sql_literal(_default_as_stored(column, engine.dialect))
            if have["nullable"] and not column.nullable and not column.primary_key and literal is not None:
                changed.setdefault(table, []).append((column, literal))
            elif engine.dialect.name == "sqlite" and _shorter(column.type, have["type"]):
                changed.setdefault(table, [])
    if not changed:
        return []
    with engine.begin() as conn:
        for table, columns in changed.items():
            for column, literal in columns:
                conn.execute(text(f'UPDATE "{table.name}" SET "{column.name}" = {literal} WHERE "{column.name}" IS NULL'))
                if engine.dialect.name == "postgresql":
                    conn.execute(text(f'ALTER TABLE "{table.name}" ALTER COLUMN "{column.name}" SET NOT NULL'))
    if engine.dialect.name == "sqlite":
        _rebuild_sqlite(engine, list(changed))
    return [t.name for t in changed]


def _shorter(want, have) -> bool:
    wanted, had = getattr(want, "length", None), getattr(have, "length", None)
    return bool(wanted and had and wanted > had)


def add_missing_foreign_keys(engine: Engine, metadata: MetaData) -> list[str]:
    """Give every table the foreign keys its model declares; returns the tables changed."""
    inspector = inspect(engine)
    stale = {}
    for table in metadata.sorted_tables:
        present = {_key(fk) for fk in inspector.get_foreign_keys(table.name)}
        missing = [fk for fk in table.foreign_key_constraints if _model_key(fk) not in present]
        if missing:
            stale[table] = (missing, inspector.get_foreign_keys(table.name))
    if not stale:
        return []
    if engine.dialect.name == "sqlite":
        _rebuild_sqlite(engine, list(stale))
    else:
        with engine.begin() as conn:
            for table, (missing, present) in stale.items():
                _alter(conn, table, missing, present)
    return [t.name for t in stale]


def _key(fk: dict) -> tuple:
    ondelete = (fk.get("options") or {}).get("ondelete")
    return tuple(fk["constrained_columns"]), fk["referred_table"], (ondelete or "NO ACTION").upper()


def _model_key(fk: ForeignKeyConstraint) -> tuple:
    return tuple(fk.column_keys), fk.referred_table.name, (fk.ondelete or "NO ACTION").upper()


def _orphans(table: Table, quote) -> list[str]:
    """DELETEs of the rows a cascading key would refuse: their parent row is gone."""
    out = []
    for fk in table.foreign_key_constraints:
        if (fk.ondelete or "").upper() != "CASCADE":
            continue
        child, parent = quote(table), quote(fk.referred_table)
        joined = " AND ".join(f'{parent}."{e.column.name}" = {child}."{e.parent.name}"' for e in fk.elements)
        present = " AND ".join(f'{child}."{e.parent.name}" IS NOT NULL' for e in fk.elements)
        out.append(f"DELETE FROM {child} WHERE {present} AND NOT EXISTS (SELECT 1 FROM {parent} WHERE {joined})")
    return out


def _alter(conn: Connection, table: Table, missing: list[ForeignKeyConstraint], present: list[dict]) -> None:
    quote = conn.dialect.identifier_preparer.format_table
    for statement in _orphans(table, quote):
        conn.execute(text(statement))
    for fk in missing:
        for old in present:  # the same columns without the cascade: replaced
            if tuple(old["constrained_columns"]) == tuple(fk.column_keys) and old.get("name"):
                conn.execute(text(f'ALTER TABLE {quote(table)} DROP CONSTRAINT "{old["name"]}"'))
        # Not isolated: by default AddConstraint drops the key from every later CREATE TABLE.
        conn.execute(AddConstraint(fk, isolate_from_table=False))


def _rebuild_sqlite(engine: Engine, tables: list[Table]) -> None:
    dialect = engine.dialect
    quote = dialect.identifier_preparer.format_table
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        saved, conn.isolation_level = conn.isolation_level, None  # explicit BEGIN/COMMIT below
        try:
            conn.execute("PRAGMA foreign_keys=OFF")  # only takes effect outside a transaction
            conn.execute("BEGIN")
            try:
                for table in tables:
                    _rebuild_one(conn, table, dialect, quote)
                broken = conn.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"foreign keys still broken after the rebuild: {broken[:5]}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.execute("PRAGMA foreign_keys=ON")
            conn.isolation_level = saved
    finally:
        raw.close()


def _rebuild_one(conn, table: Table, dialect, quote) -> None:
    name, new = quote(table), f'"_easlab_new_{table.name}"'
    for statement in _orphans(table, quote):
        conn.execute(statement)
    live = {row[1] for row in conn.execute(f"PRAGMA table_info({name})")}
    columns = ", ".join(f'"{c.name}"' for c in table.columns if c.name in live)
    ddl = str(CreateTable(table).compile(dialect=dialect)).strip()
    head = f"CREATE TABLE {name} ("
    if not ddl.startswith(head):
        raise RuntimeError(f"unexpected DDL for {table.name}: {ddl[:60]!r}")
    conn.execute(f"CREATE TABLE {new} (" + ddl[len(head):])
    conn.execute(f"INSERT INTO {new} ({columns}) SELECT {columns} FROM {name}")
    conn.execute(f"DROP TABLE {name}")
    conn.execute(f"ALTER TABLE {new} RENAME TO {name}")
    for index in table.indexes:
        conn.execute(str(CreateIndex(index).compile(dialect=dialect)))


def _default_as_stored(column, dialect):
    """The column's Python default as the database stores it (a JSON list as its text, "" for an
    optional JSON column's None); None for a default computed per row (a moment), which old rows
    cannot be given."""
    default = column.default
    if isinstance(column.type, JSONText):
        value = None if default is None else default.arg(None) if default.is_callable else default.arg
        return column.type.process_bind_param(value, dialect)
    if default is None:
        return None
    return default.arg if default.is_scalar else None


def _sql_literal(value) -> str | None:
    """A column default as SQL both SQLite and PostgreSQL accept."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return None
