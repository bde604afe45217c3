"""Row-level security per municipality on every read model (issue 17;
`signaalpunt_runtime.tenancy`). The read models hold signal ids (pseudonymous: they link to a
person in the other services) with times, routes and outcomes per municipality. The service
itself (consumers, the collector behind /metrics, the rebuild) reads and writes with scope `*`;
what the policies add is that any other connection of the role (an analyst's session, a
municipality's own report reader given a scope) sees only the municipalities it is scoped to,
and nothing when unscoped.

Revision ID: 0005
Revises: 0004
"""

from signaalpunt_runtime.migrations import run_sql
from signaalpunt_runtime.tenancy import drop_policy, municipality_policy

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

READ_MODELS = (
    "signals_received",
    "triage_decisions",
    "cases",
    "deadlines_missed",
    "acute_alerts",
    "notification_outcomes",
    "partner_rejections",
    "possible_acute_alerts",
    "possible_acute_reviews_missed",
    "referral_changes",
    "referral_gaps",
    "match_changes",
)


def upgrade() -> None:
    run_sql("".join(municipality_policy(t) for t in READ_MODELS))


def downgrade() -> None:
    run_sql("".join(drop_policy(t) for t in reversed(READ_MODELS)))
