"""Row-level security per municipality on the cases and what hangs off them: a query that
forgets its municipality still returns no other municipality's rows (issue 17;
`signaalpunt_runtime.tenancy`).

Revision ID: 0004
Revises: 0003
"""

from signaalpunt_runtime.migrations import run_sql
from signaalpunt_runtime.tenancy import drop_policy, municipality_policy, policy_through

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

THROUGH_THE_CASE = ("decisions", "steps", "edit_locks")


def upgrade() -> None:
    run_sql(
        municipality_policy("cases")
        + "".join(policy_through(t, "cases", "signal_id") for t in THROUGH_THE_CASE)
    )


def downgrade() -> None:
    run_sql("".join(drop_policy(t) for t in (*THROUGH_THE_CASE, "cases")))
