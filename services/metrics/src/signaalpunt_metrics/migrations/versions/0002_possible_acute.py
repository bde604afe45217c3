"""Metrics: possible-acute alerts and the reviews not done in time (issue 13).

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
        -- signals.possible-acute-alerts.v1
        CREATE TABLE possible_acute_alerts (
            signal_id    uuid        PRIMARY KEY,
            municipality text        NOT NULL,
            raised_at    timestamptz NOT NULL
        );
        -- signals.possible-acute-review-missed.v1
        CREATE TABLE possible_acute_reviews_missed (
            signal_id    uuid        PRIMARY KEY,
            municipality text        NOT NULL,
            detected_at  timestamptz NOT NULL
        );
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE possible_acute_reviews_missed, possible_acute_alerts;")
