"""What the reporter's status page says: received, being handled or handled.

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
        ALTER TABLE signals ADD COLUMN handling text NOT NULL DEFAULT 'received'
            CHECK (handling IN ('received', 'being_handled', 'handled'));
        """
    )


def downgrade() -> None:
    run_sql("ALTER TABLE signals DROP COLUMN handling;")
