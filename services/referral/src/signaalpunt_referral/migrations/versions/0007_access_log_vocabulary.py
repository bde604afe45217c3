"""The access log's vocabularies widened (issue 17): actor kinds `public` (an anonymous citizen)
and `volunteer` (through their answer link), the data category `processing` and the purpose
`accountability` (reading the log itself is logged). `signaalpunt_privacy.access_log`.

Revision ID: 0007
Revises: 0006
"""

from signaalpunt_privacy.access_log import access_log_vocabulary_sql
from signaalpunt_runtime.migrations import run_sql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(access_log_vocabulary_sql())


def downgrade() -> None:
    pass  # the narrower checks would refuse entries already written with the new values
