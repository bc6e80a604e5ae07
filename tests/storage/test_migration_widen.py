"""A PostgreSQL database from before the auto-block behaviours: its access reasons (VARCHAR(16))
are widened, so 'UserAgentsChanges' (17 characters) can be stored."""
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from easlab.storage import Database
from easlab.storage.migrate import add_missing_columns


def test_postgresql_widens_the_access_reasons(pg_schema_url):
    db = Database(pg_schema_url)
    db.create_all()
    with db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE device ALTER COLUMN access_reason TYPE VARCHAR(16)"))
        conn.execute(text("ALTER TABLE deviceaccesschange ALTER COLUMN reason TYPE VARCHAR(16)"))
    add_missing_columns(db.engine, SQLModel.metadata)
    lengths = {t: {c["name"]: getattr(c["type"], "length", None) for c in inspect(db.engine).get_columns(t)}
               for t in ("device", "deviceaccesschange")}
    assert (lengths["device"]["access_reason"], lengths["deviceaccesschange"]["reason"]) == (32, 32)
