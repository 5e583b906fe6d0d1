"""The index interface every backend offers and the query logic they share.

Why shared query logic: a backend only has to answer "which postings lie in these key ranges";
probing, alignment, scoring and the whole-track sampling are the same for the embedded file and
for PostgreSQL, so both return identical matches for identical contents.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from integrity.fingerprint import constants as fc
from integrity.fingerprint.extract import Fingerprint, FingerprintError
from integrity.fingerprint.keys import query_ranges
from integrity.fingerprint.matcher import (
    Alignment,
    Hits,
    Match,
    QueryFrame,
    align,
    align_views,
    reportable,
    to_match,
)

DEFAULT_QUERY_LIMIT = 10
"""Matches returned by `query` unless the caller asks for another number (count)."""


@dataclass(frozen=True, slots=True)
class IndexedTrack:
    """One live track of an index, as `integrity index list` shows it."""

    track_id: str
    meta: dict[str, Any]
    duration_s: float


@runtime_checkable
class FingerprintIndex(Protocol):
    """What the pipeline, the CLI and the API use; `catalog.fingerprints.open_index` returns one."""

    def add(self, track_id: str, fp: Fingerprint, *, meta: dict[str, Any] | None = None) -> None:
        """Index a track (replacing any earlier fingerprint under the same id)."""

    def remove(self, track_id: str) -> bool:
        """Take a track down; True when it was there."""

    def query(self, fp: Fingerprint, *, limit: int = DEFAULT_QUERY_LIMIT) -> list[Match]:
        """Tracks containing (a distorted copy of) this excerpt, best first."""

    def check_duplicates(self, fp: Fingerprint, *, exclude: Iterable[str] = ()) -> list[Match]:
        """Indexed tracks that are copies of this whole track, best first."""

    def __contains__(self, track_id: object) -> bool: ...

    def __len__(self) -> int: ...

    def tracks(self) -> list[IndexedTrack]:
        """The live tracks, oldest first (what an operator lists before taking one down)."""

    def close(self) -> None:
        """Persist pending additions and release files or connections."""


class FingerprintIndexError(RuntimeError):
    """The index cannot be opened or written (wrong version, corrupt file, unreachable server)."""


class BaseIndex(ABC):
    """Query logic on top of a backend's key-range lookup."""

    last_postings_read: int = 0
    """Postings the last lookup read from storage (count; what a query costs, for benchmarks)."""

    @abstractmethod
    def __len__(self) -> int:
        """Live tracks in the index."""

    @abstractmethod
    def _lookup(
        self, qidx: np.ndarray, lo: np.ndarray, hi: np.ndarray, substitutions: np.ndarray
    ) -> Hits:
        """Postings with key in [lo[i], hi[i]] for every i, tagged with qidx[i]; live only.
        A backend that bounds the postings it reads ranks ranges by `substitutions` too."""

    @abstractmethod
    def _describe(self, ordinals: list[int]) -> dict[int, tuple[str, dict[str, Any]]]:
        """Track id and meta of each ordinal."""

    @abstractmethod
    def _ordinals(self, track_ids: Iterable[str]) -> set[int]:
        """Ordinals of the given ids (unknown ids are skipped)."""

    def query(self, fp: Fingerprint, *, limit: int = DEFAULT_QUERY_LIMIT) -> list[Match]:
        return self._report(self.alignments(fp), limit=limit, whole_track=False)

    def check_duplicates(self, fp: Fingerprint, *, exclude: Iterable[str] = ()) -> list[Match]:
        found = self.alignments(fp, whole_track=True, exclude=exclude)
        return self._report(found, limit=None, whole_track=True)

    def alignments(
        self, fp: Fingerprint, *, whole_track: bool = False, exclude: Iterable[str] = ()
    ) -> list[Alignment]:
        """Every verified alignment, strongest first, before the calibrated cut.

        Why public: the calibration fits the false-match rate on the evidence that non-member
        queries reach, which the reported matches (already cut) cannot show.
        """
        hashes = fp.hashes
        _check_version_hashes(hashes)
        if whole_track:
            hashes = hashes[hashes["core"] == 1]
            if hashes.shape[0] > fc.WHOLE_TRACK_MAX_QUERY_HASHES:
                pick = np.linspace(0, hashes.shape[0] - 1, fc.WHOLE_TRACK_MAX_QUERY_HASHES)
                hashes = hashes[np.round(pick).astype(np.int64)]
        if hashes.shape[0] == 0:
            return []
        qidx, lo, hi, substitutions = query_ranges(hashes)
        hits = self._lookup(qidx, lo, hi, substitutions + _rank_penalty(hashes["core"])[qidx])
        if whole_track:
            return align(QueryFrame.of(hashes), hits, exclude=self._ordinals(exclude))
        return align_views(hashes, hits, duration_s=fp.duration_s, exclude=self._ordinals(exclude))

    def _report(
        self, found: list[Alignment], *, limit: int | None, whole_track: bool
    ) -> list[Match]:
        n_tracks = len(self)
        kept = [a for a in found if reportable(a, n_tracks=n_tracks, whole_track=whole_track)]
        if limit is not None:
            kept = kept[:limit]
        return self.as_matches(kept, whole_track=whole_track)

    def as_matches(self, found: list[Alignment], *, whole_track: bool = False) -> list[Match]:
        """Public records of alignments, without the calibrated cut (for diagnostics)."""
        if not found:
            return []
        info = self._describe([a.track for a in found])
        n_tracks = len(self)
        return [
            to_match(a, *info[a.track], n_tracks=n_tracks, whole_track=whole_track) for a in found
        ]


def _rank_penalty(core: np.ndarray) -> np.ndarray:
    """Substitutions a hash's ranges are ranked as if they had, by kind (see constants)."""
    kind = core.astype(np.int64)
    return np.where(
        kind == 1,
        0,
        np.where(kind == 0, fc.QUERY_EXTRA_RANK_SUBSTITUTIONS, fc.QUERY_VIEW_RANK_SUBSTITUTIONS),
    )


def _check_version_hashes(hashes: np.ndarray) -> None:
    if hashes.dtype.names is None or "core" not in hashes.dtype.names:
        raise FingerprintError("not fingerprint hashes")


def check_fingerprint(fp: Fingerprint) -> None:
    """Refuse fingerprints of another version (their keys mean something else)."""
    if fp.version != fc.FINGERPRINT_VERSION:
        raise FingerprintError(
            f"fingerprint version {fp.version}, the index holds version {fc.FINGERPRINT_VERSION}"
        )
