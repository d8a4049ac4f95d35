-- Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d).
-- One database per concern, each owned by its own role, so the worker cannot touch
-- Temporal's tables and Temporal cannot touch the ledger. Passwords come from the
-- container's environment (psql \getenv), never from this file.

\getenv temporal_password TEMPORAL_DB_PASSWORD
\getenv ledger_password MENTORFLOW_DB_PASSWORD

CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;

CREATE ROLE mentorflow LOGIN PASSWORD :'ledger_password';
CREATE DATABASE mentorflow_ledger OWNER mentorflow;

REVOKE ALL ON DATABASE temporal, temporal_visibility, mentorflow_ledger FROM PUBLIC;
GRANT CONNECT ON DATABASE temporal, temporal_visibility TO temporal;
GRANT CONNECT ON DATABASE mentorflow_ledger TO mentorflow;
