"""Idempotency-Keys are kept only as keyed hashes, answers without the receipt token.

Rows from before hold the client's key and the token in clear; the key cannot be hashed here
(the hash key is configuration, not data), so they go. A client retrying across the upgrade
makes a second signal, which the blind index marks as a possible duplicate.

Revision ID: 0007
Revises: 0006
"""

from signaalpunt_runtime.migrations import run_sql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("DELETE FROM idempotency_keys;")


def downgrade() -> None:
    pass  # nothing to restore: the keys were never kept in clear again
