"""No statistics for wrapped keys: ANALYZE must never copy a key into pg_statistic.

pg_statistic (and its TOAST) keeps sampled values after the row is gone, so a shredded key
could be read back from it. Statistics target 0 makes ANALYZE and autovacuum skip the column;
changing the column's type (to the same type) drops what was sampled before.

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
        ALTER TABLE data_keys ALTER COLUMN wrapped_key SET STATISTICS 0;
        ALTER TABLE data_keys ALTER COLUMN wrapped_key TYPE bytea USING wrapped_key;
        ANALYZE data_keys;
        """
    )


def downgrade() -> None:
    run_sql("ALTER TABLE data_keys ALTER COLUMN wrapped_key SET STATISTICS -1;")
