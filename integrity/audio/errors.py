"""The one exception the audio package raises for a bad file.

Why one type with a reason code: the pipeline records a finding per refused file and must not
need to know which decoder or which sandbox failure produced it.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path


class DecodeFailure(StrEnum):
    """Why a file could not be decoded; stable values, safe to store and to match on."""

    UNSUPPORTED = "unsupported"
    CORRUPT = "corrupt"
    TOO_LONG = "too_long"
    TOO_BIG = "too_big"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    CRASHED = "crashed"
    UNREADABLE = "unreadable"


_DESCRIPTIONS: dict[DecodeFailure, str] = {
    DecodeFailure.UNSUPPORTED: "unsupported audio format",
    DecodeFailure.CORRUPT: "corrupt audio",
    DecodeFailure.TOO_LONG: "audio too long",
    DecodeFailure.TOO_BIG: "file too big",
    DecodeFailure.TIMEOUT: "decode timed out",
    DecodeFailure.MEMORY: "decode exceeded its memory limit",
    DecodeFailure.CRASHED: "decoder process crashed",
    DecodeFailure.UNREADABLE: "file cannot be read",
}


class AudioDecodeError(Exception):
    """A file that cannot be decoded safely; `str()` names the file and what is wrong."""

    def __init__(self, path: Path | str, reason: DecodeFailure, detail: str = "") -> None:
        self.path = Path(path)
        self.reason = reason
        self.detail = detail
        message = f"{self.path}: {_DESCRIPTIONS[reason]}"
        super().__init__(f"{message} ({detail})" if detail else message)

    def __reduce__(self) -> tuple[type[AudioDecodeError], tuple[Path, DecodeFailure, str]]:
        """Survive pickling (Celery results, multiprocessing) with all attributes."""
        return (type(self), (self.path, self.reason, self.detail))
