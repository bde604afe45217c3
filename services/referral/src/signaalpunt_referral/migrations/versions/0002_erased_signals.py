"""Tombstones of erased signals: a help question that arrives after its person was erased (the
steps and erasure topics are not ordered among each other) is never stored.

Revision ID: 0002
Revises: 0001
"""

from signaalpunt_runtime.migrations import run_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE erased_signals (
            signal_id  uuid        PRIMARY KEY,   -- an id only: nothing about the person
            erased_at  timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE erased_signals;")
