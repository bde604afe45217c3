"""Row-level security per municipality on the tables that hold something about a person: a
query that forgets its municipality still returns no other municipality's rows (issue 17;
`signaalpunt_runtime.tenancy`). The social map, route settings and callbacks are not personal.

Revision ID: 0004
Revises: 0003
"""

from signaalpunt_runtime.migrations import run_sql
from signaalpunt_runtime.tenancy import drop_policy, municipality_policy, policy_through

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        municipality_policy("help_questions")
        + municipality_policy("referrals")
        + policy_through("referral_history", "referrals", "referral_id")
        + municipality_policy("gaps")
    )


def downgrade() -> None:
    run_sql(
        drop_policy("gaps")
        + drop_policy("referral_history")
        + drop_policy("referrals")
        + drop_policy("help_questions")
    )
