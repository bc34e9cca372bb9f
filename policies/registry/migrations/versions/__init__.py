"""Alembic revisions of the policy registry, oldest first."""
