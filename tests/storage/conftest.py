"""`database`: a fresh, empty store per test, once on SQLite and once on PostgreSQL.

PostgreSQL comes from EASLAB_TEST_PG_URL (.ci/run starts one); a missing URL fails the test, as
in test_db.py, because a storage test that ran on SQLite alone proves half of what it claims.
Each PostgreSQL test gets its own schema (first on the connection's search_path), dropped after.
"""
from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from easlab.storage import Database
from easlab.storage.db import normalise_url


def pg_url() -> str:
    url = os.environ.get("EASLAB_TEST_PG_URL")
    assert url, "EASLAB_TEST_PG_URL is not set: run the suite through .ci/run, which starts PostgreSQL"
    return normalise_url(url)


@pytest.fixture
def pg_schema_url():
    """A URL whose connections work in a new, empty schema; the schema is dropped afterwards."""
    base = pg_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    joiner = "&" if "?" in base else "?"
    yield f"{base}{joiner}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'easlab.db'}")
    else:
        db = Database(request.getfixturevalue("pg_schema_url"))
    db.create_all()
    yield db
    db.dispose()
