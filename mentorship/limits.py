"""Size limits for user text, far below Temporal's payload limits (2 MiB per payload)."""

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]*$"
MAX_NAME = 120
MAX_SHORT = 200
MAX_TEXT = 4_000
MAX_ITEMS = 20
MAX_REASON = 1_000
