"""Tombstones of erased signals: a signal erased before its received event arrived (the two
topics are not ordered among each other) never becomes a case.

Revision ID: 0003
Revises: 0002
"""

from signaalpunt_runtime.migrations import run_sql

revision = "0003"
down_revision = "0002"
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
