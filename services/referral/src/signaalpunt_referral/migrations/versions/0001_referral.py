"""Referral: the social map (HSDS shaped), help questions, referrals with history, route
settings, gaps and the organisations' callbacks.

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
        CREATE TABLE organisations (
            organisation_id uuid        PRIMARY KEY,
            name            text        NOT NULL,
            email           text,
            document        jsonb       NOT NULL,   -- the HSDS organization, as imported
            webhook_url     text,                   -- where signed referrals go (channel webhook)
            webhook_secret  text,                   -- Standard Webhooks secret (whsec_…)
            updated_at      timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE services (
            service_id      uuid        PRIMARY KEY,
            organisation_id uuid        NOT NULL REFERENCES organisations ON DELETE CASCADE,
            name            text        NOT NULL,
            status          text        NOT NULL,
            areas           text[]      NOT NULL,   -- CBS gemeentecodes served
            needs           text[]      NOT NULL,
            languages       text[]      NOT NULL DEFAULT '{}',
            target_groups   text[]      NOT NULL DEFAULT '{}',
            delivery        text[]      NOT NULL,
            min_age         integer,
            max_age         integer,
            open_places     integer     CHECK (open_places >= 0),   -- NULL: no limit
            capacity_total  integer,
            lat             double precision,
            lon             double precision,
            channel         text        NOT NULL,
            email           text,
            document        jsonb       NOT NULL,   -- the HSDS service, as imported
            updated_at      timestamptz NOT NULL DEFAULT now()
        );
        -- the ranking's SQL pre-filter: municipality and needs by GIN, active ones only
        CREATE INDEX services_areas ON services USING gin (areas) WHERE status = 'active';
        CREATE INDEX services_needs ON services USING gin (needs) WHERE status = 'active';
        CREATE INDEX services_organisation ON services (organisation_id);

        CREATE TABLE help_questions (
            signal_id     uuid        PRIMARY KEY,
            subject_id    uuid        NOT NULL,
            municipality  text        NOT NULL CHECK (municipality ~ '^GM[0-9]{4}$'),
            route         text        NOT NULL,
            risk_groups   text[]      NOT NULL DEFAULT '{}',
            question      jsonb       NOT NULL,   -- the contract's HelpQuestion; text sealed
            ruled_out     jsonb       NOT NULL DEFAULT '{}',  -- constraint → offers ruled out
            recorded_at   timestamptz NOT NULL,
            recorded_by   text        NOT NULL
        );

        CREATE TABLE referrals (
            referral_id     uuid        PRIMARY KEY,
            signal_id       uuid        NOT NULL REFERENCES help_questions,
            subject_id      uuid        NOT NULL,
            municipality    text        NOT NULL,
            service_id      uuid        NOT NULL REFERENCES services,
            organisation_id uuid        NOT NULL REFERENCES organisations,
            service_name    text        NOT NULL,
            status          text        NOT NULL,
            version         integer     NOT NULL,
            rank            integer,
            reasons         text[]      NOT NULL DEFAULT '{}',
            needs           text[]      NOT NULL DEFAULT '{}',
            channel         text        NOT NULL,
            respond_by      timestamptz,
            escalated_at    timestamptz,
            decline_reason  text,
            note            text,                   -- sealed with the subject's data key
            created_at      timestamptz NOT NULL,
            updated_at      timestamptz NOT NULL,
            UNIQUE (signal_id, service_id)          -- an offer is proposed once per person
        );
        CREATE INDEX referrals_signal ON referrals (signal_id, rank);
        CREATE INDEX referrals_organisation ON referrals (organisation_id, status);
        CREATE INDEX referrals_due ON referrals (respond_by)
            WHERE status = 'sent' AND escalated_at IS NULL;
        CREATE INDEX referrals_service ON referrals (service_id, status);

        CREATE TABLE referral_history (
            referral_id     uuid        NOT NULL REFERENCES referrals,
            version         integer     NOT NULL,
            status          text        NOT NULL,
            decline_reason  text,
            changed_by      text        NOT NULL,
            changed_at      timestamptz NOT NULL,
            PRIMARY KEY (referral_id, version)
        );

        CREATE TABLE route_settings (
            municipality  text    NOT NULL,
            route         text    NOT NULL,
            auto_refer    boolean NOT NULL DEFAULT false,
            response_days integer NOT NULL DEFAULT 3 CHECK (response_days BETWEEN 1 AND 20),
            PRIMARY KEY (municipality, route)
        );

        CREATE TABLE gaps (
            signal_id     uuid        NOT NULL,
            need          text        NOT NULL,
            municipality  text        NOT NULL,
            risk_groups   text[]      NOT NULL DEFAULT '{}',
            reason        text        NOT NULL,
            detected_at   timestamptz NOT NULL,
            PRIMARY KEY (signal_id, need)
        );
        CREATE INDEX gaps_report ON gaps (municipality, need);

        -- signed callbacks already handled (Standard Webhooks' webhook-id): no second effect
        CREATE TABLE callbacks (
            organisation_id uuid        NOT NULL,
            webhook_id      text        NOT NULL,
            received_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (organisation_id, webhook_id)
        );
        """
    )


def downgrade() -> None:
    run_sql(
        "DROP TABLE callbacks; DROP TABLE gaps; DROP TABLE route_settings; "
        "DROP TABLE referral_history; DROP TABLE referrals; DROP TABLE help_questions; "
        "DROP TABLE services; DROP TABLE organisations;"
    )
    run_sql(spine_schema.DOWNGRADE)
