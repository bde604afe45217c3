"""The partner registry as data: partners and their signing keys, every change audited.

Revision ID: 0005
Revises: 0004
"""

from signaalpunt_runtime.migrations import run_sql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE partners (
            urn            text PRIMARY KEY,
            name           text NOT NULL,
            partner_type   text NOT NULL,
            municipalities text[] NOT NULL CHECK (cardinality(municipalities) > 0),
            signing_keys   jsonb NOT NULL DEFAULT '{"keys": []}',  -- the partner's public JWKS
            webhook_url    text,
            contact        text,           -- a functional mailbox or desk, not a person
            active         boolean NOT NULL DEFAULT true,
            updated_at     timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE partner_audit (
            id      bigserial PRIMARY KEY,
            at      timestamptz NOT NULL DEFAULT now(),
            actor   text NOT NULL,
            action  text NOT NULL,
            urn     text NOT NULL,
            before  jsonb,
            after   jsonb
        );
        CREATE INDEX partner_audit_urn ON partner_audit (urn, at);
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE partner_audit; DROP TABLE partners;")
