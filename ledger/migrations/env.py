"""Alembic's entry point for the ledger: migrations run on the connection the ledger hands in
(`config.attributes["connection"]`), inside the transaction that holds the migration lock."""

from __future__ import annotations

from alembic import context

VERSION_TABLE = "ledger_alembic_version"

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "the ledger migrates itself when it opens (mentorflow worker, up, or any ledger "
        "command); run Alembic through ledger.store.Ledger.migrate, not the alembic CLI"
    )
context.configure(
    connection=connection,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # SQLite alters tables by copying them
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
