"""Both index backends: add, query, whole-track check, removal, non-members, shared loops."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from integrity.catalog.fingerprints import open_index
from integrity.fingerprint import (
    Fingerprint,
    FingerprintError,
    FingerprintIndexError,
    duplicate_evidence,
    extract,
)
from integrity.fingerprint import constants as fc
from integrity.fingerprint.index import FingerprintIndex
from integrity.fingerprint.matcher import false_match_rate, query_windows

from .conftest import POSTGRES_URL
from .fp_helpers import SR, song_with_loop, speed


def test_contains_and_len(any_index: FingerprintIndex, library: dict[str, np.ndarray]) -> None:
    assert len(any_index) == len(library)
    for tid in library:
        assert tid in any_index
    assert "no-such-track" not in any_index


def test_excerpts_match_with_meta(
    any_index: FingerprintIndex, library: dict[str, np.ndarray]
) -> None:
    for i, (tid, x) in enumerate(library.items()):
        start = min(12.0, x.size / SR - 11.0)
        matches = any_index.query(extract(x[int(start * SR) : int((start + 10) * SR)], SR))
        assert [m.track_id for m in matches][:1] == [tid]
        best = matches[0]
        assert best.meta == {"isrc": f"TEST0000000{i}", "title": tid}
        assert abs(best.ref_offset_s - best.query_offset_s - start) < 0.5
        assert best.false_match_rate < 1e-3
        assert best.score == pytest.approx(1.0 - best.false_match_rate)


def test_whole_track_duplicate_check(
    any_index: FingerprintIndex, library: dict[str, np.ndarray]
) -> None:
    tid, x = next(iter(library.items()))
    copy = extract(speed(x, 1.05), SR)  # a sped-up re-upload of the whole track
    found = any_index.check_duplicates(copy)
    assert [m.track_id for m in found] == [tid]
    assert found[0].time_scale == pytest.approx(1.05, rel=0.01)
    assert found[0].matched_s > 0.8 * x.size / SR / 1.05
    # Checking a track against the catalog it is already in: exclude itself.
    assert any_index.check_duplicates(extract(x, SR), exclude=[tid]) == []
    evidence = duplicate_evidence(found)
    assert evidence[0]["id"] == tid and evidence[0]["isrc"] == "TEST00000000"
    assert evidence[0]["matched_hashes"] == found[0].matched_hashes


def test_non_members_match_nothing(
    any_index: FingerprintIndex, outsiders: dict[str, np.ndarray]
) -> None:
    for tid, x in outsiders.items():
        assert any_index.query(extract(x, SR)) == [], tid
        for start in np.arange(0.0, x.size / SR - 10.0, 10.0):
            excerpt = x[int(start * SR) : int((start + 10) * SR)]
            assert any_index.query(extract(excerpt, SR)) == [], (tid, start)


def _removal_roundtrip(index: FingerprintIndex, x: np.ndarray) -> None:
    fp = extract(x, SR)
    index.add("victim", fp, meta={"title": "to be taken down"})
    assert "victim" in index
    query = extract(x[10 * SR : 20 * SR], SR)
    assert [m.track_id for m in index.query(query)] == ["victim"]
    assert index.remove("victim") is True
    assert "victim" not in index
    assert index.query(query) == []
    assert index.remove("victim") is False
    # Re-adding the same id replaces, never duplicates.
    index.add("victim", fp)
    index.add("victim", fp)
    assert [m.track_id for m in index.query(query)] == ["victim"]
    assert index.remove("victim") is True


def test_removal_embedded(tmp_path: Path) -> None:
    x = song_with_loop(seed=11, seconds=30.0)
    with open_index(tmp_path / "takedown.fpi") as index:
        _removal_roundtrip(index, x)
        index.add("keeper", extract(x, SR))
        index.add("gone", extract(song_with_loop(seed=12, seconds=30.0), SR))
        index.remove("gone")
    # Tombstones persist, and compaction drops the dead postings for good.
    with open_index(tmp_path / "takedown.fpi") as index:
        assert "gone" not in index and "keeper" in index and len(index) == 1
        before = index.size_bytes
        index.compact()
        assert index.size_bytes < before
        assert index.segment_count == 1
        assert [m.track_id for m in index.query(extract(x[5 * SR : 15 * SR], SR))] == ["keeper"]


@pytest.mark.postgres
def test_removal_postgres(postgres_schema: str) -> None:
    schema_index = open_index(POSTGRES_URL, schema=postgres_schema)
    try:
        _removal_roundtrip(schema_index, song_with_loop(seed=11, seconds=30.0))
    finally:
        schema_index.close()


def test_shared_drum_loop_does_not_match(tmp_path: Path) -> None:
    """Two different tunes over the very same drum loop are different songs."""
    a = song_with_loop(seed=1, seconds=60.0)
    with open_index(tmp_path / "loops.fpi") as index:
        index.add("song-a", extract(a, SR))
        # The true copy still matches (the loop does not hide the tune)...
        assert [m.track_id for m in index.query(extract(a[20 * SR : 30 * SR], SR))] == ["song-a"]
        for seed in (2, 3, 4):
            b = song_with_loop(seed=seed, seconds=60.0)
            assert index.check_duplicates(extract(b, SR)) == [], seed
            for start in (0, 20, 40):
                excerpt = extract(b[start * SR : (start + 10) * SR], SR)
                assert index.query(excerpt) == [], (seed, start)


def test_fingerprint_bytes_roundtrip(library: dict[str, np.ndarray]) -> None:
    fp = extract(next(iter(library.values())), SR)
    again = Fingerprint.from_bytes(fp.to_bytes())
    assert again.duration_s == pytest.approx(fp.duration_s)
    assert np.array_equal(again.hashes, fp.hashes)
    with pytest.raises(FingerprintError):
        Fingerprint.from_bytes(b"nonsense" * 4)
    with pytest.raises(FingerprintError):
        Fingerprint.from_bytes(fp.to_bytes()[:-3])


def test_size_per_hour(embedded_index: FingerprintIndex, library: dict[str, np.ndarray]) -> None:
    hours = sum(x.size for x in library.values()) / SR / 3600
    assert embedded_index.size_bytes / hours <= 1_000_000


def test_any_input_rate(library: dict[str, np.ndarray], embedded_index: FingerprintIndex) -> None:
    """44.1 kHz input is resampled internally and matches as well."""
    import soxr

    tid, x = next(iter(library.items()))
    hi = soxr.resample(x[15 * SR : 25 * SR], SR, 44_100).astype(np.float32)
    assert [m.track_id for m in embedded_index.query(extract(hi, 44_100))][:1] == [tid]
    with pytest.raises(FingerprintError):
        extract(np.zeros((2, 100), dtype=np.float32), SR)


def test_silence_and_tiny_inputs(embedded_index: FingerprintIndex) -> None:
    for x in (np.zeros(10 * SR, dtype=np.float32), np.zeros(10, dtype=np.float32)):
        fp = extract(x, SR)
        assert len(fp) == 0
        assert embedded_index.query(fp) == []


def test_missing_index_and_wrong_file(tmp_path: Path) -> None:
    with pytest.raises(FingerprintIndexError):
        open_index(tmp_path / "absent.fpi", create=False)
    bogus = tmp_path / f"{uuid.uuid4().hex}.fpi"
    bogus.write_bytes(b"not an index at all" * 10)
    with pytest.raises(FingerprintIndexError):
        open_index(bogus)


def test_the_budget_reads_own_keys_before_substituted_ones(monkeypatch) -> None:
    from integrity.fingerprint import constants as fc
    from integrity.fingerprint.embedded import rarest_within_budget

    counts = np.array([40, 10, 30, 10, 50_000], dtype=np.int64)
    substitutions = np.array([0, 2, 0, 1, 0])
    # Under the budget every range is read, except stop-word ranges.
    assert rarest_within_budget(counts, substitutions).tolist() == [True] * 4 + [False]
    monkeypatch.setattr(fc, "QUERY_HIT_BUDGET", 80)
    monkeypatch.setattr(fc, "SUBSTITUTION_COST", 4.0)
    # Ranked by postings x 4**substitutions: 30, 40 (own keys), 40 (10 x 4), 160 (10 x 16);
    # the budget of 80 postings takes the first three.
    assert rarest_within_budget(counts, substitutions).tolist() == [True, False, True, True, False]
    monkeypatch.setattr(fc, "SUBSTITUTION_COST", 1.0)  # plain rarest first
    assert rarest_within_budget(counts, substitutions).tolist() == [False, True, True, True, False]


def test_a_hash_is_probed_at_its_own_key_without_substitutions(
    library: dict[str, np.ndarray],
) -> None:
    from integrity.fingerprint.keys import index_keys, query_ranges

    hashes = extract(next(iter(library.values())), SR).hashes
    hidx, lo, hi, substitutions = query_ranges(hashes)
    own = substitutions == 0
    assert np.array_equal(np.sort(hidx[own]), np.arange(hashes.shape[0]))  # one each
    keys = index_keys(hashes)[hidx[own]]
    assert np.all((lo[own] <= keys) & (keys <= hi[own]))
    assert substitutions.max() > 0 and np.all(substitutions >= 0)


def test_repeated_passage_reports_the_other_offset(
    tmp_path: Path, library: dict[str, np.ndarray]
) -> None:
    """A chorus played twice: the match gives one offset and reports the other as a repeat."""
    x = next(iter(library.values()))
    chorus, verse = x[10 * SR : 25 * SR], x[30 * SR : 45 * SR]
    assert verse.size == 15 * SR, "the first indexed track is too short for this test"
    song = np.concatenate([chorus, verse, chorus])  # the chorus at 0 s and again at 30 s
    with open_index(tmp_path / "repeats.fpi") as index:
        index.add("song", extract(song, SR))
        index.add("other", extract(song_with_loop(seed=5, seconds=30.0), SR))
        for query, starts in (
            (speed(chorus[2 * SR : 14 * SR], 1.03), [2.0, 32.0]),
            (verse[2 * SR : 12 * SR], [17.0]),
        ):
            matches = index.query(extract(query, SR))
            assert [m.track_id for m in matches][:1] == ["song"]
            best = matches[0]
            found = [
                r - best.time_scale * best.query_offset_s
                for r in (best.ref_offset_s, *best.repeat_ref_offsets_s)
            ]
            assert sorted(round(f) for f in found) == [round(s) for s in starts], found


def test_a_long_query_is_matched_in_windows_and_pays_for_its_length(
    embedded_index: FingerprintIndex, library: dict[str, np.ndarray]
) -> None:
    """A whole upload as the query: a copy hidden in its last window is still found, and its
    false-match rate counts one chance per calibrated query length."""
    assert query_windows(10.0) == (1, 1.0)
    assert query_windows(12.5) == (1, 1.25)  # a 10-s excerpt slowed by 20 % stays one window
    assert query_windows(36.0) == (3, 3.6)
    tid, x = next(iter(library.items()))
    copied = speed(x[5 * SR : 17 * SR], 1.04)
    fresh = song_with_loop(seed=99, seconds=30.0)
    upload = np.concatenate([fresh, copied])
    matches = embedded_index.query(extract(upload, SR))
    assert [m.track_id for m in matches][:1] == [tid]
    best = matches[0]
    assert best.query_offset_s >= 29.0  # found in the copied part, not the fresh one
    assert best.time_scale == pytest.approx(1.04, rel=0.02)
    # Evidence a 10-s query reaches by chance at some rate is 4 times likelier in a 40-s one.
    one = false_match_rate(15.0, n_tracks=1_000)
    assert 1e-6 < one < 1e-3
    assert false_match_rate(15.0, n_tracks=1_000, chances=4.0) == pytest.approx(4.0 * one)


def test_query_views_are_queried_never_indexed(
    tmp_path: Path, library: dict[str, np.ndarray]
) -> None:
    """A fingerprint carries its query views, but the index stores the reference view alone,
    and an excerpt re-times each view in its own time units."""
    tid, x = next(iter(library.items()))
    fp = extract(x, SR)
    cores = set(np.unique(fp.hashes["core"]).tolist())
    views = {fc.QUERY_VIEW_CORE_BASE + i for i in range(len(fc.QUERY_VIEWS))}
    assert cores == {0, 1} | views
    with open_index(tmp_path / "views.fpi") as index:
        index.add(tid, fp)
    with open_index(tmp_path / "plain.fpi") as index:
        index.add(tid, Fingerprint(hashes=fp.core(), duration_s=fp.duration_s))
    stored = (tmp_path / "views.fpi").stat().st_size
    assert stored > 1_000 and stored == (tmp_path / "plain.fpi").stat().st_size
    part = fp.excerpt(10.0, 20.0)
    units_per_s = fc.TIME_UNITS_PER_FRAME / fc.FRAME_S
    for i, (factor, _) in enumerate(fc.QUERY_VIEWS):
        view = part.hashes[part.hashes["core"] == fc.QUERY_VIEW_CORE_BASE + i]
        assert view.size > 0
        assert (view["t"].astype(np.float64) + view["span"]).max() < 10.0 * factor * units_per_s


def test_wider_local_maxima_derived_from_narrower_ones_are_exact() -> None:
    """The peak picker filters once and derives the wider neighbourhood: same as scipy's."""
    from scipy.ndimage import maximum_filter

    from integrity.fingerprint.extract import _local_maxima

    x = np.random.default_rng(3).standard_normal((300, 99)).astype(np.float32)
    sizes = [(9, 7), (13, 9), (17, 9), (19, 9), (12, 7)]  # derivable x3, too far apart, odd
    for size, got in zip(sizes, _local_maxima(x, sizes), strict=True):
        assert np.array_equal(got, maximum_filter(x, size=size, mode="nearest")), size
