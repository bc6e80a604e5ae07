"""Logon failures and request budgets counted in the store, for processes sharing one PostgreSQL
store (storage/logonfailures.py, storage/budgets.py; server/lockout.py SharedLockout and
server/throttling.py SharedBudgets).  Both tables are new and start empty: a count that was in a
process's memory before the upgrade starts again from zero, as after any restart.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "logonfailure",
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("key", sa.String(320), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("since", sa.Float(), nullable=False),
        sa.Column("locked_until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key"),
    )
    op.create_table(
        "throttlebudget",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("balance", sa.Float(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("throttlebudget")
    op.drop_table("logonfailure")
