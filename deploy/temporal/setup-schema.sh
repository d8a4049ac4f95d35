#!/bin/sh
# Brings Temporal's two databases to the schema of this admin-tools version, then exits.
# Safe to run on every `docker compose up`: on an existing cluster `create` and
# `setup-schema` find their work done, and `update-schema` applies only what an upgrade
# of the images added. Connection settings come from SQL_PLUGIN, SQL_HOST, SQL_PORT,
# SQL_USER and SQL_PASSWORD (temporal-sql-tool reads them itself).
set -eu

SCHEMA_ROOT=/etc/temporal/schema/postgresql/v12

echo "waiting for PostgreSQL at ${SQL_HOST}:${SQL_PORT}"
until nc -z "${SQL_HOST}" "${SQL_PORT}"; do sleep 1; done

setup() {
  database=$1
  schema=$2
  # The init script already created the database; a fresh PostgreSQL without it gets it here.
  temporal-sql-tool --db "${database}" create 2>/dev/null \
    || echo "database ${database} already exists"
  # Fails harmlessly once the version tables exist; update-schema below is the real gate.
  temporal-sql-tool --db "${database}" setup-schema -v 0.0 2>/dev/null \
    || echo "schema versioning already set up in ${database}"
  temporal-sql-tool --db "${database}" update-schema -d "${SCHEMA_ROOT}/${schema}/versioned"
}

setup temporal temporal
setup temporal_visibility visibility
echo "Temporal schema is current"
