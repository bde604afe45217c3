"""Triage: the possible-acute review deadline (issue 13).

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
        ALTER TABLE cases
            ADD COLUMN review_due             timestamptz,  -- possible acute: review by then
            ADD COLUMN reviewed_at            timestamptz,  -- a coordinator's first decision
            ADD COLUMN review_missed_reported boolean NOT NULL DEFAULT false;
        -- the watcher's second question: possible-acute signals nobody reviewed in time
        CREATE INDEX cases_review_due ON cases (review_due)
            WHERE review_due IS NOT NULL AND reviewed_at IS NULL AND NOT review_missed_reported;
        """
    )


def downgrade() -> None:
    run_sql(
        "DROP INDEX cases_review_due; ALTER TABLE cases DROP COLUMN review_due, "
        "DROP COLUMN reviewed_at, DROP COLUMN review_missed_reported;"
    )
