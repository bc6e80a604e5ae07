"""easlab's schema revisions (Alembic): env.py, versions/, and the frozen baseline schema.

HEAD names the newest revision so that a start whose database is already there (every start but
the first after an upgrade) reads one row and imports nothing of Alembic; tests/storage/
test_schema_revisions.py fails when it is not the head of versions/.
"""
HEAD = "0002"
BASELINE = "0001"
