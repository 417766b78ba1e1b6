"""The hub's rules on a database connection, one module per noun. No FastAPI or Starlette here."""
