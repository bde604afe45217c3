"""Partner events by the partner's own id: a resend with other content is a conflict.

Revision ID: 0004
Revises: 0003
"""

from signaalpunt_runtime.migrations import run_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE partner_events (
            partner text NOT NULL,
            event_id text NOT NULL,
            -- a keyed digest (the blind-index key) of the report: equal content, equal digest;
            -- NULL for events taken before this table, whose content is not known any more
            content_digest text,
            signal_id uuid NOT NULL,
            received_at timestamptz NOT NULL,
            PRIMARY KEY (partner, event_id)
        );
        INSERT INTO partner_events (partner, event_id, content_digest, signal_id, received_at)
        SELECT split_part(signal->>'partner_reference', '#', 1),
               substr(signal->>'partner_reference',
                      length(split_part(signal->>'partner_reference', '#', 1)) + 2),
               NULL, signal_id, received_at
          FROM signals WHERE signal->>'partner_reference' IS NOT NULL
        ON CONFLICT DO NOTHING;
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE partner_events;")
