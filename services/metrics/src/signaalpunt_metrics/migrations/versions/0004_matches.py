"""Metrics: volunteer matches (matches.v1), issue 19: every status a match reached and the
requests that found nobody, with the constraint that ruled out most volunteers.

Revision ID: 0004
Revises: 0003
"""

from signaalpunt_runtime.migrations import run_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        -- matches.v1: one row per change (a redelivered event: the same row); an unmatched
        -- request shares attempt and version with its last proposal, so the status is in the key
        CREATE TABLE match_changes (
            match_request_id  uuid        NOT NULL,
            attempt           integer     NOT NULL,
            version           integer     NOT NULL,
            status            text        NOT NULL,
            signal_id         uuid        NOT NULL,
            municipality      text        NOT NULL,
            failed_constraint text,
            at                timestamptz NOT NULL,
            PRIMARY KEY (match_request_id, attempt, version, status)
        );
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE match_changes;")
