"""Retention: when a signal reached its final state and how (handled or cancelled), and when its
reporter's details were anonymised, for the retention job (issue 17).

Revision ID: 0008
Revises: 0007
"""

from signaalpunt_runtime.migrations import run_sql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE signals
            ADD COLUMN closed_at              timestamptz,
            ADD COLUMN closed_as              text CHECK (closed_as IN ('handled', 'cancelled')),
            ADD COLUMN reporter_anonymised_at timestamptz;
        CREATE INDEX signals_closed ON signals (closed_at) WHERE closed_at IS NOT NULL;
        """
    )


def downgrade() -> None:
    run_sql(
        "DROP INDEX signals_closed; ALTER TABLE signals DROP COLUMN closed_at,"
        " DROP COLUMN closed_as, DROP COLUMN reporter_anonymised_at;"
    )
