"""Row-level security per municipality on the signals' facts (sealed contact details) and the
messages: a query that forgets its municipality still returns no other municipality's rows
(issue 17; `signaalpunt_runtime.tenancy`). The kept reason events carry no municipality; only
the sender (the service itself) reads them.

Revision ID: 0002
Revises: 0001
"""

from signaalpunt_runtime.migrations import run_sql
from signaalpunt_runtime.tenancy import drop_policy, municipality_policy

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(municipality_policy("signals") + municipality_policy("deliveries"))


def downgrade() -> None:
    run_sql(drop_policy("deliveries") + drop_policy("signals"))
