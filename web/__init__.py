"""The participant portal and the operator dashboard: a web layer over client/ and ledger/."""
