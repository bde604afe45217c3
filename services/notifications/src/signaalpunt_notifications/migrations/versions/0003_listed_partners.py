"""The partners as intake's partner registry lists them (partners.listed.v1): their webhook URL.

Revision ID: 0003
Revises: 0002
"""

from signaalpunt_runtime.migrations import run_sql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE listed_partners (
            urn          text        PRIMARY KEY,
            name         text        NOT NULL,
            webhook_url  text,
            active       boolean     NOT NULL,
            changed_at   timestamptz NOT NULL
        );
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE listed_partners;")
