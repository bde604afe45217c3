"""Which referral a progress step on the case's timeline belongs to: a signal can have several
referrals (an offer and a volunteer match), a match asks volunteers in turn (each a new `sent`
version of one referral), and the team closes the case with the outcome of one of them
(issue 18).

Revision ID: 0006
Revises: 0005
"""

from signaalpunt_runtime.migrations import run_sql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE steps ADD COLUMN referral_id uuid;  -- only on referral_* steps
        CREATE INDEX steps_referral ON steps (signal_id, referral_id, seq)
            WHERE referral_id IS NOT NULL;
        """
    )


def downgrade() -> None:
    run_sql("DROP INDEX steps_referral; ALTER TABLE steps DROP COLUMN referral_id;")
