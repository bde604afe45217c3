"""Metrics: the moment a volunteer match was requested and its first need, kept with every
match change (issue 19), so "match requested → match active" is a duration like the others.
Changes recorded before have neither: their duration is taken from the request's first change.

Revision ID: 0007
Revises: 0006
"""

from signaalpunt_runtime.migrations import run_sql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE match_changes
            ADD COLUMN requested_at timestamptz,
            ADD COLUMN need         text;
        """
    )


def downgrade() -> None:
    run_sql("ALTER TABLE match_changes DROP COLUMN requested_at, DROP COLUMN need;")
