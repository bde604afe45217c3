"""Erasure in matching (issue 17): tombstones of erased signals, so a match request that arrives
after its person was erased (the topics are not ordered among each other) is not kept; and a
volunteer's row that can lose its personal data (the first name was required) and says when.

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
            signal_id  uuid        PRIMARY KEY,
            erased_at  timestamptz NOT NULL DEFAULT now()
        );
        ALTER TABLE volunteers ALTER COLUMN first_name DROP NOT NULL;
        ALTER TABLE volunteers ADD COLUMN erased_at timestamptz;
        """
    )


def downgrade() -> None:
    run_sql(
        """
        ALTER TABLE volunteers DROP COLUMN erased_at;
        UPDATE volunteers SET first_name = '' WHERE first_name IS NULL;
        ALTER TABLE volunteers ALTER COLUMN first_name SET NOT NULL;
        DROP TABLE erased_signals;
        """
    )
