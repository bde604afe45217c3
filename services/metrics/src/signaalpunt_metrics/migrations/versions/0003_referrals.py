"""Metrics: referrals (referrals.v1) and the gaps in the social map (referrals.gaps.v1), issue 18.

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
        -- referrals.v1: every status a referral reached (a redelivered event: the same row)
        CREATE TABLE referral_changes (
            referral_id  uuid        NOT NULL,
            version      integer     NOT NULL,
            signal_id    uuid        NOT NULL,
            municipality text        NOT NULL,
            status       text        NOT NULL,
            escalated    boolean     NOT NULL,
            at           timestamptz NOT NULL,
            PRIMARY KEY (referral_id, version)
        );
        -- referrals.gaps.v1: a need no eligible offer met (or all were full)
        CREATE TABLE referral_gaps (
            signal_id    uuid        NOT NULL,
            need         text        NOT NULL,
            municipality text        NOT NULL,
            reason       text        NOT NULL,
            detected_at  timestamptz NOT NULL,
            PRIMARY KEY (signal_id, need)
        );
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE referral_gaps; DROP TABLE referral_changes;")
