"""Rate limits for the anonymous web form: counters per client (keyed hash) and time window.

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
        CREATE TABLE rate_limits (
            client        text        NOT NULL,   -- keyed hash of the client address
            window_start  timestamptz NOT NULL,
            requests      integer     NOT NULL,
            PRIMARY KEY (client, window_start)
        );
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE rate_limits;")
