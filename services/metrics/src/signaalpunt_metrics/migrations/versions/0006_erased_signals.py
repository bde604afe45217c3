"""Tombstones of erased signals: an event about a signal that arrives after its erasure (a
referral withdrawn or a match ended *because of* the erasure, a redelivery; the topics are not
ordered among each other) still counts, but under a random id, so nothing links it to the signal.

Revision ID: 0006
Revises: 0005
"""

from signaalpunt_runtime.migrations import run_sql

revision = "0006"
down_revision = "0005"
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
