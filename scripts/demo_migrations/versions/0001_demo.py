"""The demo's sender and receiver: spine tables and the probes the receiver handled.

Revision ID: 0001
Revises:
"""

from signaalpunt_runtime import spine_schema
from signaalpunt_runtime.migrations import run_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(spine_schema.UPGRADE)
    run_sql(
        """
        CREATE TABLE probes_received (
            id        bigserial PRIMARY KEY,
            event_id  uuid    NOT NULL,
            run_id    text    NOT NULL,
            sequence  integer NOT NULL
        );
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE probes_received;")
    run_sql(spine_schema.DOWNGRADE)
