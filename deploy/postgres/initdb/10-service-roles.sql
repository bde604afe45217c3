-- Development only (compose's PostgreSQL, first start): one login role per service and one for
-- the shared key store. `signaalpunt-migrate all --grant` (the compose `migrate` job) then gives
-- each role the rows of its own schema and nothing else; the migrating role keeps the DDL.
-- Production: CloudNativePG's managed roles with passwords from Secrets (k8s/base/postgres).
CREATE ROLE intake LOGIN PASSWORD 'intake';
CREATE ROLE triage LOGIN PASSWORD 'triage';
CREATE ROLE notifications LOGIN PASSWORD 'notifications';
CREATE ROLE metrics LOGIN PASSWORD 'metrics';
CREATE ROLE referral LOGIN PASSWORD 'referral';
CREATE ROLE matching LOGIN PASSWORD 'matching';
CREATE ROLE subject_keys LOGIN PASSWORD 'subject_keys';
