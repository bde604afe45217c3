"""Triage: cases with their current decision, the decision history, steps and edit locks.

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
        CREATE TABLE cases (
            signal_id         uuid        PRIMARY KEY,
            subject_id        uuid        NOT NULL,
            municipality      text        NOT NULL CHECK (municipality ~ '^GM[0-9]{4}$'),
            channel           text        NOT NULL,
            received_at       timestamptz NOT NULL,
            state             text        NOT NULL,
            route             text        NOT NULL,
            priority          text        NOT NULL,
            risk_groups       text[]      NOT NULL DEFAULT '{}',
            advice            text[]      NOT NULL DEFAULT '{}',
            needs_review      boolean     NOT NULL,
            explanation       jsonb       NOT NULL,   -- fired rules and matched cue names only
            decision          integer     NOT NULL,
            decided_by        text        NOT NULL,
            rules_version     text        NOT NULL,
            first_contact_due timestamptz NOT NULL,
            first_contact_at  timestamptz,
            missed_due        timestamptz,            -- the deadline already reported as missed
            contact_attempts  integer     NOT NULL DEFAULT 0,
            close_reason      text,
            updated_at        timestamptz NOT NULL DEFAULT now()
        );
        -- the review queue and the deadline watcher
        CREATE INDEX cases_queue ON cases (municipality, state, first_contact_due);
        CREATE INDEX cases_due ON cases (first_contact_due)
            WHERE first_contact_at IS NULL AND state <> 'closed';

        CREATE TABLE decisions (
            signal_id     uuid        NOT NULL REFERENCES cases,
            decision      integer     NOT NULL,
            route         text        NOT NULL,
            priority      text        NOT NULL,
            risk_groups   text[]      NOT NULL,
            needs_review  boolean     NOT NULL,
            decided_by    text        NOT NULL,
            staff         text,                   -- the coordinator's id (sub), never a name
            reason        text,                   -- sealed with the subject's data key
            rules_version text        NOT NULL,
            decided_at    timestamptz NOT NULL,
            PRIMARY KEY (signal_id, decision)
        );

        CREATE TABLE steps (
            signal_id      uuid        NOT NULL REFERENCES cases,
            seq            integer     NOT NULL,
            step           text        NOT NULL,
            previous_state text        NOT NULL,
            state          text        NOT NULL,
            close_reason   text,
            note           text,                  -- sealed
            recorded_by    text        NOT NULL,
            recorded_at    timestamptz NOT NULL,
            PRIMARY KEY (signal_id, seq)
        );

        CREATE TABLE edit_locks (
            signal_id  uuid        PRIMARY KEY REFERENCES cases,
            holder     text        NOT NULL,
            expires_at timestamptz NOT NULL
        );
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE edit_locks; DROP TABLE steps; DROP TABLE decisions; DROP TABLE cases;")
    run_sql(spine_schema.DOWNGRADE)
