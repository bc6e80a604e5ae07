"""The revisions, one module each (Alembic loads them by path; a package so that the wheel carries them)."""
