"""The acute lane: acute messages due are found without reading past the ordinary backlog
(issue 22: an acute alert never queues behind ordinary work).

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
        "CREATE INDEX deliveries_acute_due ON deliveries (next_attempt_at)"
        " WHERE status = 'pending' AND urgency = 'acute';"
    )


def downgrade() -> None:
    run_sql("DROP INDEX deliveries_acute_due;")
