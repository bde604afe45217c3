"""The rate limit counts a recipient's sends per minute (issue 22): asking how often a team
mailbox was sent to in the last hour read one index entry per message sent, so its cost grew
with the traffic (52 ms a call for a mailbox told about every signal); it now reads at most one
row per minute of the window, whatever the traffic. The counts hold only the recipient key (no
personal data) and are pruned once they leave the window; the messages sent in the last day are
counted at the upgrade, so the limit holds across it; the index the old count read goes.

Revision ID: 0007
Revises: 0006
"""

from signaalpunt_runtime.migrations import run_sql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE sends_per_minute (
            recipient text NOT NULL,
            minute timestamptz NOT NULL,
            sent integer NOT NULL CHECK (sent > 0),
            PRIMARY KEY (recipient, minute)
        );
        INSERT INTO sends_per_minute (recipient, minute, sent)
        SELECT recipient, date_bin('1 minute', sent_at, TIMESTAMPTZ '2000-01-01 00:00+00'), count(*)
        FROM deliveries WHERE status = 'sent' AND sent_at > now() - interval '1 day'
        GROUP BY 1, 2;
        DROP INDEX deliveries_sent_to;
        """
    )


def downgrade() -> None:
    run_sql(
        "CREATE INDEX deliveries_sent_to ON deliveries (recipient, sent_at) WHERE status = 'sent';"
        " DROP TABLE sends_per_minute;"
    )
