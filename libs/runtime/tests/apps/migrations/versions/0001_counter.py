"""The counter app: spine tables plus the effects it counts.

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
        CREATE TABLE effects (
            id        bigserial PRIMARY KEY,
            event_id  uuid    NOT NULL,   -- not unique: a double effect must be visible
            run_id    text    NOT NULL,
            sequence  integer NOT NULL
        );
        CREATE TABLE totals (handled bigint NOT NULL);
        INSERT INTO totals VALUES (0);
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE totals; DROP TABLE effects;")
    run_sql(spine_schema.DOWNGRADE)
