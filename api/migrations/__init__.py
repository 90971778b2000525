"""Alembic migrations of the ticket database (:mod:`api.schema` runs them; ARCHITECTURE.md §6).

``versions/`` holds one revision file per schema change, chained by ``down_revision``:
``0001_baseline`` is the schema the release before migrations made with ``create_all``.
A database is only ever changed by these files, so tickets kept for years survive every
upgrade. A new revision is written by hand (``op.add_column`` with a server default, so rows
already there get a value) and tested by ``tests/api/test_migrations.py``.
"""
