"""Each message keeps the trace context of the event that planned it, so its outcomes (queued,
sent, failed) continue the signal's trace: "acute alert → SMS sent" is one trace.

The context is W3C trace context (random trace and span ids), no personal data.

Revision ID: 0004
Revises: 0003
"""

from signaalpunt_runtime.migrations import run_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("ALTER TABLE deliveries ADD COLUMN trace_context jsonb NOT NULL DEFAULT '{}';")


def downgrade() -> None:
    run_sql("ALTER TABLE deliveries DROP COLUMN trace_context;")
