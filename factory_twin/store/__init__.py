"""What outlives a process: trained weights on disk and the SQL run log.

- ``adapters.py``: ``AdapterStore``, versioned directories of adapters, base and baseline
  policies; ``atomic.py`` crash-safe file writes.
- ``runlog.py``: ``open_db`` and ``Database``, the run log API (scenarios, runs, episodes,
  events, adapter versions); ``records.py`` the dataclasses it returns; ``schema.py`` the ORM
  tables and KPI columns; ``connection.py`` URL choice, engine, SQLite settings, Alembic
  migrations (``factory_twin/migrations``) and lock retries.
"""
