"""Metrics: read models of every domain topic (facts without personal data).

Each table holds what one kind of event says, keyed so that a redelivered or replayed event
changes nothing; the Prometheus metrics are aggregates over these tables.

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
        -- signals.received.v1: where, through which channel and from which kind of partner
        CREATE TABLE signals_received (
            signal_id     uuid        PRIMARY KEY,
            municipality  text        NOT NULL,
            channel       text        NOT NULL,
            partner_type  text        NOT NULL,       -- 'none' when no partner reported
            received_at   timestamptz NOT NULL
        );
        CREATE INDEX signals_received_at ON signals_received (received_at);

        -- signals.triaged.v1: every decision (1 = the rules', then each coordinator change)
        CREATE TABLE triage_decisions (
            signal_id         uuid        NOT NULL,
            decision          integer     NOT NULL,
            municipality      text        NOT NULL,
            channel           text        NOT NULL,
            route             text        NOT NULL,
            priority          text        NOT NULL,
            risk_groups       text[]      NOT NULL,
            decided_by        text        NOT NULL,
            first_contact_due timestamptz NOT NULL,
            received_at       timestamptz NOT NULL,
            decided_at        timestamptz NOT NULL,
            PRIMARY KEY (signal_id, decision)
        );

        -- cases.steps.v1: the case's state and its first contact
        CREATE TABLE cases (
            signal_id           uuid        PRIMARY KEY,
            municipality        text        NOT NULL,
            state               text        NOT NULL,
            state_at            timestamptz NOT NULL,  -- recorded_at of the step that set it
            received_at         timestamptz NOT NULL,
            first_contact_at    timestamptz,           -- reporter_contacted or intake_done
            first_contact_route text                   -- the route that step names
        );

        -- signals.deadline-missed.v1: once per missed deadline
        CREATE TABLE deadlines_missed (
            signal_id         uuid        NOT NULL,
            first_contact_due timestamptz NOT NULL,
            municipality      text        NOT NULL,
            route             text        NOT NULL,
            priority          text        NOT NULL,
            detected_at       timestamptz NOT NULL,
            PRIMARY KEY (signal_id, first_contact_due)
        );

        -- signals.acute-alerts.v1
        CREATE TABLE acute_alerts (
            signal_id     uuid        PRIMARY KEY,
            municipality  text        NOT NULL,
            raised_at     timestamptz NOT NULL
        );

        -- notifications.v1: each status a message reached (queued, then sent, counts both)
        CREATE TABLE notification_outcomes (
            notification_id uuid        NOT NULL,
            status          text        NOT NULL,
            municipality    text        NOT NULL,
            template        text        NOT NULL,
            channel         text        NOT NULL,
            at              timestamptz NOT NULL,
            PRIMARY KEY (notification_id, status)
        );

        -- partner.signals.rejections.v1: keyed by the partner's own event (its idempotency key)
        CREATE TABLE partner_rejections (
            partner           text        NOT NULL,
            partner_event_id  text        NOT NULL,
            municipality      text        NOT NULL,
            reason            text        NOT NULL,
            rejected_at       timestamptz NOT NULL,
            PRIMARY KEY (partner, partner_event_id)
        );
        """
    )


def downgrade() -> None:
    run_sql(
        "DROP TABLE partner_rejections, notification_outcomes, acute_alerts, deadlines_missed,"
        " cases, triage_decisions, signals_received;"
    )
    run_sql(spine_schema.DOWNGRADE)
