"""Alembic migrations of the policy registry (run them with ``retailrl registry upgrade``)."""
