"""Intake: signals as received (personal values sealed), idempotency keys.

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
        CREATE TABLE signals (
            signal_id         uuid        PRIMARY KEY,
            subject_id        uuid        NOT NULL,
            municipality      text        NOT NULL CHECK (municipality ~ '^GM[0-9]{4}$'),
            channel           text        NOT NULL,
            submitted_by      text,                   -- partner URN or staff id; null: anonymous
            person_index      text,                   -- blind index for possible duplicates
            possible_duplicate_of uuid,
            receipt_hash      bytea       NOT NULL,   -- sha256 of the receipt token handed out
            signal            jsonb       NOT NULL,   -- canonical signal, personal values sealed
            received_at       timestamptz NOT NULL
        );
        CREATE INDEX signals_person ON signals (municipality, person_index, received_at)
            WHERE person_index IS NOT NULL;

        CREATE TABLE idempotency_keys (
            scope        text        NOT NULL,        -- who used the key (principal or 'anonymous')
            key          text        NOT NULL,
            body_hash    bytea       NOT NULL,
            state        text        NOT NULL CHECK (state IN ('in_flight', 'done')),
            response     jsonb,
            created_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (scope, key)
        );
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE idempotency_keys; DROP TABLE signals;")
    run_sql(spine_schema.DOWNGRADE)
