"""The access log (Logboek Dataverwerkingen): who processed whose personal data, when, why and
with what outcome; append-only for the service's role, row-level security per municipality
(issue 17; `signaalpunt_privacy.access_log`).

Revision ID: 0002
Revises: 0001
"""

from signaalpunt_privacy.access_log import access_log_sql, drop_access_log_sql
from signaalpunt_runtime.migrations import run_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(access_log_sql())


def downgrade() -> None:
    run_sql(drop_access_log_sql())
