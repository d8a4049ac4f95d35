"""The outcome ledger: store, stored shapes and upcasters, and the audit read side."""
