"""Erasure requests (AVG art. 17) and the route each signal's case has (for open acute cases).

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
        """
        -- the route triage gave the case (cases.steps.v1): an open acute case is not erased
        -- without a coordinator's explicit confirmation
        ALTER TABLE signals ADD COLUMN route text;

        -- one row per erasure request; what it erased stays as ids only (the tombstone)
        CREATE TABLE erasures (
            erasure_id      uuid        PRIMARY KEY,
            municipality    text        NOT NULL CHECK (municipality ~ '^GM[0-9]{4}$'),
            scope           text        NOT NULL CHECK (scope IN ('person', 'reporter')),
            reason          text        NOT NULL,   -- a category (ErasureReason), never free text
            signal_ids      uuid[]      NOT NULL,
            open_acute_confirmed boolean NOT NULL DEFAULT false,
            requested_by    text        NOT NULL,   -- staff ids (sub), never names
            approved_by     text,
            state           text        NOT NULL CHECK (state IN ('awaiting_approval', 'done')),
            requested_at    timestamptz NOT NULL,
            done_at         timestamptz,
            CHECK (approved_by IS NULL OR approved_by <> requested_by)
        );
        CREATE INDEX erasures_waiting ON erasures (municipality) WHERE state = 'awaiting_approval';
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE erasures; ALTER TABLE signals DROP COLUMN route;")
