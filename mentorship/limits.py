"""Size limits for user text, far below Temporal's payload limits (2 MiB per payload)."""

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]*$"
MAX_NAME = 120
MAX_SHORT = 200
MAX_TEXT = 4_000
MAX_ITEMS = 20
MAX_REASON = 1_000
MAX_ID = 32  # objective and action-item ids ("o3", "f2-1")
MAX_RATINGS = 100  # objectives rated in one review, evolutions included
