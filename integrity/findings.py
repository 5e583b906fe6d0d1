"""What a finding is, before it is stored: a pure value every engine can produce.

Engines (ddex validation, audio checks, metadata signals, models) return `FindingSpec`s; only the
catalog layer (`integrity.catalog.findings`) stores them, so no engine needs the database.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FindingSpec:
    """A finding about to be stored; `track_id`/`release_id` say what it is about."""

    source: str
    severity: str
    code: str
    message: str
    location: str | None = None
    track_id: int | None = None
    release_id: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    def key(self, delivery_id: int) -> str:
        """Stable identity: the same observation in the same delivery has the same key."""
        identity = [
            delivery_id,
            self.track_id,
            self.release_id,
            self.source,
            self.code,
            self.location,
            self.message,
        ]
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()
