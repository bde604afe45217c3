"""Matching: the volunteer registry (personal data sealed per volunteer), match requests, matches
and their answer links.

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
        CREATE TABLE volunteers (
            volunteer_id     uuid        PRIMARY KEY,
            municipality     text        NOT NULL CHECK (municipality ~ '^GM[0-9]{4}$'),
            external_id      text,                    -- the coordinator's own id (CSV import)
            status           text        NOT NULL CHECK (status IN ('active', 'paused', 'left')),
            skills           text[]      NOT NULL,
            trained_on       date,                    -- trained for existential conversations
            languages        text[]      NOT NULL,
            interests        text[]      NOT NULL DEFAULT '{}',
            availability     text[]      NOT NULL DEFAULT '{}',   -- mon_morning … sun_evening
            postcode_area    text        NOT NULL,    -- PC4 only; the full postcode is sealed
            lat              double precision NOT NULL,   -- the PC4 centroid, not the address
            lon              double precision NOT NULL,
            max_travel_km    real        NOT NULL CHECK (max_travel_km >= 0),
            max_matches      integer     NOT NULL CHECK (max_matches >= 0),
            load             integer     NOT NULL DEFAULT 0 CHECK (load >= 0),
            matches_counted  integer     NOT NULL DEFAULT 0,
            vog_issued_on    date,
            vog_expires_on   date,
            vog_warned_for   date,                    -- the expiry date already warned about
            social_worker    text,                    -- the coupled social worker's staff id
            -- personal data, sealed with the volunteer's own data key (subject = volunteer_id)
            first_name       text        NOT NULL,
            last_name        text,
            email            text,
            phone            text,
            postcode         text,
            created_at       timestamptz NOT NULL DEFAULT now(),
            updated_at       timestamptz NOT NULL DEFAULT now(),
            -- a place is never over-given: the conditional UPDATE that takes one relies on it too
            CHECK (load <= max_matches OR status <> 'active'),
            UNIQUE (municipality, external_id)
        );
        -- the SQL pre-filter: a municipality's active volunteers, fewest matches given first, so
        -- a request reads the first eligible rows of this index instead of the whole registry
        CREATE INDEX volunteers_fair_order ON volunteers
            (municipality, matches_counted, load, volunteer_id) WHERE status = 'active';
        CREATE INDEX volunteers_vog ON volunteers (vog_expires_on) WHERE status = 'active';

        CREATE TABLE match_requests (
            match_request_id  uuid        PRIMARY KEY,
            signal_id         uuid        NOT NULL,
            subject_id        uuid        NOT NULL,
            municipality      text        NOT NULL CHECK (municipality ~ '^GM[0-9]{4}$'),
            needs             text[]      NOT NULL,
            languages         text[]      NOT NULL,
            interests         text[]      NOT NULL DEFAULT '{}',
            availability      text[]      NOT NULL DEFAULT '{}',
            lat               double precision,      -- the neighbourhood (0.01°), never an address
            lon               double precision,
            start_on          date        NOT NULL,
            first_name        text,                  -- sealed with the subject's key (triage's)
            status            text        NOT NULL DEFAULT 'open'
                              CHECK (status IN ('open', 'matched', 'unmatched')),
            attempts          integer     NOT NULL DEFAULT 0,
            failed_constraint text,
            ruled_out         jsonb       NOT NULL DEFAULT '{}',
            requested_at      timestamptz NOT NULL,
            unmatched_at      timestamptz
        );
        CREATE INDEX match_requests_unmatched ON match_requests (municipality, failed_constraint)
            WHERE status = 'unmatched';
        CREATE INDEX match_requests_subject ON match_requests (subject_id);

        CREATE TABLE matches (
            match_id          uuid        PRIMARY KEY,
            match_request_id  uuid        NOT NULL REFERENCES match_requests,
            volunteer_id      uuid        NOT NULL REFERENCES volunteers,
            municipality      text        NOT NULL,
            status            text        NOT NULL,
            version           integer     NOT NULL,
            attempt           integer     NOT NULL,
            score             double precision NOT NULL,
            reasons           text[]      NOT NULL,
            respond_by        timestamptz,
            link_nonce        text,                  -- set while the answer link may be used
            active_since      timestamptz,
            follow_up_at      timestamptz,           -- when the social worker was asked
            real_match        boolean,               -- their answer
            end_reason        text,
            created_at        timestamptz NOT NULL,
            updated_at        timestamptz NOT NULL,
            UNIQUE (match_request_id, volunteer_id)  -- nobody is asked twice for one request
        );
        CREATE INDEX matches_due ON matches (respond_by) WHERE status = 'proposed';
        CREATE INDEX matches_follow_up ON matches (active_since)
            WHERE status = 'active' AND follow_up_at IS NULL;
        CREATE INDEX matches_volunteer ON matches (volunteer_id);
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE matches; DROP TABLE match_requests; DROP TABLE volunteers;")
