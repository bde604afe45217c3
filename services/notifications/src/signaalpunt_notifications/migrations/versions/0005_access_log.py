"""The access log (Logboek Dataverwerkingen) in notifications (issue 17): every message sent
about a person is an entry (ids and vocabulary only); append-only, chained, row-level security
per municipality (`signaalpunt_privacy.access_log`).

Revision ID: 0005
Revises: 0004
"""

from signaalpunt_privacy.access_log import access_log_sql, drop_access_log_sql
from signaalpunt_runtime.migrations import run_sql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(access_log_sql())


def downgrade() -> None:
    run_sql(drop_access_log_sql())
