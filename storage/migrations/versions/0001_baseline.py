"""Baseline: the schema as easlab had it when migrations began (storage/migrations/baseline.py).

An empty database given to Alembic directly gets these tables; easlab itself creates a new
database from its models and stamps it at head, and brings a database made before migrations to
this schema with storage/migrate.py's additive steps before stamping it here (storage/schema.py).

Revision ID: 0001
Revises:
"""
from alembic import op

from easlab.storage.migrations.baseline import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
