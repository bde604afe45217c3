"""Notifications: what is remembered per signal, and the delivery log with its dedupe key.

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
        -- per signal: how to reach a reporter who asked for feedback (values stay sealed with
        -- the subject's data key) and how far the case got
        CREATE TABLE signals (
            signal_id             uuid        PRIMARY KEY,
            municipality          text        NOT NULL CHECK (municipality ~ '^GM[0-9]{4}$'),
            facts                 jsonb       NOT NULL,
            updated_at            timestamptz NOT NULL DEFAULT now()
        );

        -- the events that caused messages, kept for the dead-letter topic of a failed delivery
        CREATE TABLE reasons (
            event_id     uuid        PRIMARY KEY,
            topic        text        NOT NULL,
            key          text        NOT NULL,
            value        bytea       NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now()
        );

        -- one row per message: written with the inbox row of its reason (one transaction);
        -- the UNIQUE dedupe key makes a second decision about the same message a no-op
        CREATE TABLE deliveries (
            delivery_id      uuid        PRIMARY KEY,   -- Message-ID, webhook-id, SMS reference
            dedupe_key       text        NOT NULL UNIQUE, -- reason|recipient|template|channel
            reason_event_id  uuid        NOT NULL,
            reason_type      text        NOT NULL,
            correlation_id   uuid        NOT NULL,
            municipality     text        NOT NULL CHECK (municipality ~ '^GM[0-9]{4}$'),
            signal_id        uuid,
            rule             text        NOT NULL,
            template         text        NOT NULL,
            language         text        NOT NULL CHECK (language IN ('nl', 'en')),
            channel          text        NOT NULL CHECK (channel IN ('email', 'sms', 'webhook')),
            recipient_kind   text        NOT NULL,
            recipient        text        NOT NULL,      -- a key without personal data
            address          jsonb       NOT NULL,      -- how to find it; cleared once sent
            context          jsonb       NOT NULL,      -- template values, no personal data
            urgency          text        NOT NULL CHECK (urgency IN ('normal', 'acute')),
            quiet_hours      boolean     NOT NULL,
            status           text        NOT NULL DEFAULT 'pending'
                                         CHECK (status IN ('pending', 'sent', 'failed')),
            queued_reason    text,                      -- quiet_hours, rate_limit (still pending)
            attempts         integer     NOT NULL DEFAULT 0,
            next_attempt_at  timestamptz NOT NULL,
            last_error       text,
            created_at       timestamptz NOT NULL DEFAULT now(),
            sent_at          timestamptz,
            failed_at        timestamptz
        );
        CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
        CREATE INDEX deliveries_sent_to ON deliveries (recipient, sent_at) WHERE status = 'sent';
        CREATE INDEX deliveries_by_municipality ON deliveries (municipality, created_at DESC);
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE deliveries; DROP TABLE reasons; DROP TABLE signals;")
    run_sql(spine_schema.DOWNGRADE)
