"""The catalog pipeline. Importing it installs the review queue's upkeep on every session
(`integrity.catalog.queue`): whoever writes tracks, findings, decisions or appeals through the
catalog or the service keeps the stored queue rows current in the same transaction."""

from integrity.catalog import queue as _queue  # noqa: F401 (installs the session listener)
