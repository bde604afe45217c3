"""Match requests (issue 19's loop): each volunteer-type need sent to the matching service, and
the outcome it reached on matches.v1, so the team sees it with the signal's referrals.

Revision ID: 0006
Revises: 0005
"""

from signaalpunt_runtime.migrations import run_sql
from signaalpunt_runtime.tenancy import drop_policy, municipality_policy

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE match_requests (
            match_request_id  uuid PRIMARY KEY,
            signal_id         uuid        NOT NULL,
            subject_id        uuid        NOT NULL,
            municipality      text        NOT NULL,
            needs             text[]      NOT NULL,
            status            text        NOT NULL,
            -- how far matches.v1 got: (attempt, the match's version) only grows
            attempt           integer     NOT NULL DEFAULT 0,
            match_version     integer     NOT NULL DEFAULT 0,
            -- this referral's own version on referrals.v1 (+1 per change published)
            version           integer     NOT NULL DEFAULT 0,
            match_id          uuid,
            volunteer_id      uuid,
            social_worker     text,
            respond_by        timestamptz,
            end_reason        text,
            failed_constraint text,
            requested_at      timestamptz NOT NULL,
            updated_at        timestamptz NOT NULL
        );
        CREATE INDEX match_requests_signal ON match_requests (signal_id);
        """
        + municipality_policy("match_requests")
    )


def downgrade() -> None:
    run_sql(drop_policy("match_requests") + "DROP TABLE match_requests;")
