"""The subject key store: one wrapped data key per subject, and the record of erasures.

Revision ID: 0001
Revises:
"""

from signaalpunt_runtime.migrations import run_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE data_keys (
            subject_id    uuid        PRIMARY KEY,
            municipality  text        NOT NULL CHECK (municipality ~ '^GM[0-9]{4}$'),
            kek_id        text        NOT NULL,   -- which key-encryption key wrapped it
            wrapped_key   bytea       NOT NULL,   -- AES-GCM(nonce || ciphertext), never the key
            created_at    timestamptz NOT NULL DEFAULT now()
        );
        -- an erasure leaves no key behind, only the fact that it happened (AVG accountability)
        CREATE TABLE erasures (
            subject_id    uuid        PRIMARY KEY,
            municipality  text        NOT NULL,
            reason        text        NOT NULL,
            erased_at     timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE erasures; DROP TABLE data_keys;")
