"""Row-level security per municipality on matching's tables of personal data (issue 17;
`signaalpunt_runtime.tenancy`): a staff query that forgets its municipality still returns no
other municipality's volunteers, requests or matches. The answer links (no token; the signed
match id is the credential), the consumers and the watchers run with the service's own scope.
The tombstones of erased signals hold an id only.

Revision ID: 0004
Revises: 0003
"""

from signaalpunt_runtime.migrations import run_sql
from signaalpunt_runtime.tenancy import drop_policy, municipality_policy

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        municipality_policy("volunteers")
        + municipality_policy("match_requests")
        + municipality_policy("matches")
    )


def downgrade() -> None:
    run_sql(drop_policy("matches") + drop_policy("match_requests") + drop_policy("volunteers"))
