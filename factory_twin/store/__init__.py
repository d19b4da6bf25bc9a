"""What outlives a process: trained weights on disk and the SQL run log.

- ``policies.py``: ``PolicyStore``, versioned directories of adapters, base and baseline
  policies; ``policy_sets.py`` the published LoRASA set (which base and adapter versions
  belong together); ``weights.py`` the safetensors + JSON file contents and the checks on
  loading; ``atomic.py`` crash-safe file writes; ``tmpdirs.py`` locked temp folders and the
  sweep of those left by dead writers.
- ``runlog.py``: ``open_db`` and ``Database``, the run log API (scenarios, runs, episodes,
  events, adapter versions); ``records.py`` the dataclasses it returns; ``schema.py`` the ORM
  tables and KPI columns; ``connection.py`` URL choice, engine, SQLite settings, Alembic
  migrations (``factory_twin/migrations``) and lock retries.
"""
