"""Referral: one GIN index on (areas, needs) over every status, for the ranking's SQL
pre-filter and its counts (the partial indexes of 0001 only served active services, so counting
the inactive ones of a municipality read the whole table); the number of services per
municipality and status, kept by a trigger, so the ranking's counts of what area and status
ruled out read one row instead of every service; the queue of signed webhooks to organisations
(channel webhook), filled in the referral's own transaction.

Revision ID: 0003
Revises: 0002
"""

from signaalpunt_runtime.migrations import run_sql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE INDEX services_area_needs ON services USING gin (areas, needs);
        DROP INDEX services_areas;

        CREATE TABLE area_counts (
            municipality text    NOT NULL,
            status       text    NOT NULL,
            services     integer NOT NULL,
            PRIMARY KEY (municipality, status)
        );
        CREATE FUNCTION services_counted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                UPDATE area_counts SET services = services - 1
                WHERE status = OLD.status AND municipality = ANY(OLD.areas);
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                INSERT INTO area_counts (municipality, status, services)
                SELECT DISTINCT a, NEW.status, 1 FROM unnest(NEW.areas) AS a
                ON CONFLICT (municipality, status)
                    DO UPDATE SET services = area_counts.services + 1;
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER services_counted AFTER INSERT OR DELETE ON services
            FOR EACH ROW EXECUTE FUNCTION services_counted();
        -- taking or giving back a place changes neither: no work on the busiest update
        CREATE TRIGGER services_recounted AFTER UPDATE OF status, areas ON services
            FOR EACH ROW
            WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.areas IS DISTINCT FROM NEW.areas)
            EXECUTE FUNCTION services_counted();
        INSERT INTO area_counts (municipality, status, services)
            SELECT a, status, count(*) FROM services, unnest(areas) AS a GROUP BY 1, 2;

        -- one row per referral change an organisation is told of by webhook; the body is built
        -- when it is sent (the person's words opened then, never stored here in the clear)
        CREATE TABLE webhook_deliveries (
            -- no reference to referrals: a withdrawal because the person was erased still
            -- goes out after the referral row is gone (ids and the offer's name only)
            referral_id     uuid        NOT NULL,
            version         integer     NOT NULL,
            organisation_id uuid        NOT NULL REFERENCES organisations ON DELETE CASCADE,
            service_id      uuid        NOT NULL,
            service_name    text        NOT NULL,
            event           text        NOT NULL,   -- referral.sent, referral.withdrawn
            attempts        integer     NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL,   -- also the lease of whoever is sending it
            delivered_at    timestamptz,
            failed_at       timestamptz,            -- gave up after the last attempt
            last_error      text,                   -- a status code or an error class, no body
            created_at      timestamptz NOT NULL,
            PRIMARY KEY (referral_id, version)
        );
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
            WHERE delivered_at IS NULL AND failed_at IS NULL;
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DROP TABLE webhook_deliveries;
        DROP TRIGGER services_recounted ON services;
        DROP TRIGGER services_counted ON services;
        DROP FUNCTION services_counted();
        DROP TABLE area_counts;
        CREATE INDEX services_areas ON services USING gin (areas) WHERE status = 'active';
        DROP INDEX services_area_needs;
        """
    )
