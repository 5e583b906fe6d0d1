"""Hash hits in, verified matches out: the alignment check every backend shares.

Why alignment and not hash counts: unrelated songs share hashes by chance and songs built on the
same loop share many. A copy, however distorted, maps onto its reference by one straight line
t_ref = a * t_query + b and one log-frequency shift; each hit proposes a scale (ratio of the
triplet spans) and a pitch shift (difference of the anchor frequencies), the hits of a track vote
for a (scale, pitch) cell, an offset histogram picks b, least squares refines (a, b), and only
hits within ALIGN_TOLERANCE_S of the line count. Each counts 1/k when its hash hits the track at k
places, which is what makes a loop repeated at every bar worthless as evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from integrity.fingerprint import constants as fc
from integrity.fingerprint.extract import view_time_factors

_T_UNIT_S = fc.FRAME_S / fc.TIME_UNITS_PER_FRAME
_SEMITONES_PER_F_UNIT = fc.SEMITONES_PER_BIN / fc.FREQ_UNITS_PER_BIN
_MAX_PITCH_UNITS = fc.MAX_PITCH_SEMITONES / _SEMITONES_PER_F_UNIT
_GATHER_LOG_SCALE = fc.MAX_LOG_SCALE + 1.5 * fc.LOG_SCALE_BIN
"""Hits are gathered up to here (natural log), the reach of `_align_track` around a cell."""
_GATHER_PITCH_UNITS = _MAX_PITCH_UNITS + fc.PITCH_TOLERANCE_UNITS
"""...and up to here in pitch (half bins)."""


@dataclass(frozen=True)
class Match:
    """One verified match of a query against an indexed track.

    time_scale is reference seconds per query second (1.1 = the query plays 10% faster);
    pitch_semitones is the query's pitch relative to the reference. score = 1 - false_match_rate,
    the calibrated chance that a query of a track NOT in the index produces a match this strong.
    """

    track_id: str
    score: float
    false_match_rate: float
    query_offset_s: float
    ref_offset_s: float
    time_scale: float
    pitch_semitones: float
    matched_s: float
    matched_hashes: int
    meta: dict[str, Any] = field(default_factory=dict)
    repeat_ref_offsets_s: tuple[float, ...] = ()
    """Other reference times the query's start also aligns with (s): the passage repeats."""


@dataclass(frozen=True)
class Hits:
    """Postings found for a query: per hit, the query hash index and the stored reference."""

    query_index: np.ndarray  # int64 into the query's hashes
    track: np.ndarray  # int64 track ordinal of the backend
    t: np.ndarray  # reference anchor time (half frames)
    f: np.ndarray  # reference anchor frequency (half bins)
    span: np.ndarray  # reference span (half frames)

    @classmethod
    def empty(cls) -> Hits:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, z, z)

    def subset(self, mask: np.ndarray) -> Hits:
        """The hits where mask is true."""
        return Hits(*(getattr(self, n)[mask] for n in _HIT_FIELDS))

    @classmethod
    def concat(cls, parts: list[Hits]) -> Hits:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, n) for p in parts]) for n in _HIT_FIELDS))


_HIT_FIELDS = ("query_index", "track", "t", "f", "span")
_LOG_SPAN = np.log(np.maximum(np.arange(256), 1)).astype(np.float64)
"""Natural log of every storable span (half frames; spans are uint8)."""
PRUNE_SEED_GROUPS = 4 * fc.CANDIDATE_CELLS
"""(track, scale) groups whose exact cell counts bound the vote before pruning (count)."""


@dataclass(frozen=True)
class Alignment:
    """A verified alignment with one track, before the track ordinal is resolved to an id."""

    track: int
    inliers: int
    evidence: float
    a: float
    b_s: float
    pitch_semitones: float
    query_start_s: float
    query_end_s: float
    repeat_ref_offsets_s: tuple[float, ...] = ()
    """Reference times of the query's start at other, nearly as well supported offsets: the
    passage repeats in the reference (s)."""
    chances: float = 1.0
    """Independent chances a query of this length had to reach this evidence (count; query
    length in QUERY_WINDOW_S, at least 1): it multiplies the false-match rate."""


def false_match_rate(
    evidence: float, *, n_tracks: int, whole_track: bool = False, chances: float = 1.0
) -> float:
    """Calibrated false-match rate per query for a given evidence against an index of n_tracks
    (see constants for the model), times the chances a long query had (see `query_windows`).
    Smaller indexes keep the fitted rate: chance is not the only way to look alike (shared
    loops), so the cut never gets looser than where it was fitted."""
    scale = np.log10(max(n_tracks, fc.CALIBRATION_TRACKS) / fc.CALIBRATION_TRACKS)
    scale += np.log10(max(chances, 1.0))
    if whole_track:
        log10 = fc.WHOLE_CALIBRATION_INTERCEPT - fc.WHOLE_CALIBRATION_SLOPE * evidence
    else:
        log10 = fc.EXCERPT_CALIBRATION_INTERCEPT - fc.EXCERPT_CALIBRATION_SLOPE * evidence
    return float(min(1.0, max(fc.CALIBRATION_FLOOR, 10.0 ** (log10 + scale))))


@dataclass(frozen=True)
class QueryFrame:
    """A query's hashes in the reference view's time and pitch, whatever view made them.

    Why: a view re-picks peaks as if the query played at another tempo or pitch, and maps them
    back, so the hits of every view propose alignments in one coordinate system; a copy is then
    aligned once with the evidence of all its views together.
    """

    t: np.ndarray  # float64 anchor time (half frames of the query)
    span: np.ndarray  # float64 span (half frames of the query)
    log_span: np.ndarray  # float64 natural log of the span in the hash's own view (half frames)
    f: np.ndarray  # float64 anchor frequency in the reference band (half bins)
    view: np.ndarray  # int64: 0 the reference view, 1 + i QUERY_VIEWS[i]
    time_factor: np.ndarray  # float64: the hash's view frames per query frame

    @classmethod
    def of(cls, hashes: np.ndarray) -> QueryFrame:
        """The frame of a fingerprint's hashes (views mapped back, see QUERY_VIEWS)."""
        view = np.maximum(hashes["core"].astype(np.int64) - fc.QUERY_VIEW_CORE_BASE, -1) + 1
        factor = view_time_factors(hashes["core"])
        shift = np.array([0, *(shift for _, shift in fc.QUERY_VIEWS)], dtype=np.float64)[view]
        span = hashes["span"]
        return cls(
            t=hashes["t"].astype(np.float64) / factor,
            span=span.astype(np.float64) / factor,
            log_span=_LOG_SPAN[span] - np.log(factor),
            f=hashes["f"].astype(np.float64) - shift * fc.FREQ_UNITS_PER_BIN,
            view=view,
            time_factor=factor,
        )


def align(
    query: QueryFrame, hits: Hits, *, exclude: set[int] | None = None
) -> list[Alignment]:
    """Verified alignments for a query's hits, strongest first (unfiltered by the score).

    Candidate (track, scale, pitch) cells are chosen per view, the strongest CANDIDATE_CELLS of
    each, and aligned with the hits of all views: pooled counts would let the look-alike hits
    that sustained, stationary tracks collect at every scale outvote a copy that each view
    finds on its own.
    """
    if hits.track.size == 0:
        return []
    # Per hit: log time-scale from a table of span logarithms (spans are small integers), and
    # pitch offset in half bins; query times are looked up later, for candidate hits only.
    log_s = _LOG_SPAN[hits.span] - query.log_span[hits.query_index]
    dp = hits.f - query.f[hits.query_index]
    # Hits scatter around their alignment, so they are gathered a little beyond the searched
    # range and the fitted alignment is held to it.
    ok = (np.abs(log_s) <= _GATHER_LOG_SCALE) & (np.abs(dp) <= _GATHER_PITCH_UNITS)
    if exclude:
        ok &= ~np.isin(hits.track, np.fromiter(exclude, dtype=np.int64))
    if not ok.any():
        return []
    n_s = int(2 * np.ceil(_GATHER_LOG_SCALE / fc.LOG_SCALE_BIN) + 1)
    n_p = int(2 * np.ceil(_GATHER_PITCH_UNITS / fc.PITCH_BIN_UNITS) + 1)
    idx_ok = np.flatnonzero(ok)
    track = hits.track[idx_ok]
    s_cell = np.round(log_s[idx_ok] / fc.LOG_SCALE_BIN).astype(np.int64) + n_s // 2
    p_cell = np.round(dp[idx_ok] / fc.PITCH_BIN_UNITS).astype(np.int64) + n_p // 2
    group = track * n_s + s_cell
    qi = hits.query_index[idx_ok]
    view = query.view[qi]
    views = np.unique(view)
    n_query = query.t.size
    contending = np.zeros(int(group.max()) + 1, dtype=bool)
    for part in [view == v for v in views] if views.size > 1 else [slice(None)]:
        contending |= _contending_groups(
            group[part], p_cell[part], qi[part], n_p=n_p, n_query=n_query, n_groups=contending.size
        )
    keep = contending[group]
    idx_ok, track, s_cell, p_cell, view, qi = (
        idx_ok[keep], track[keep], s_cell[keep], p_cell[keep], view[keep], qi[keep]
    )
    if idx_ok.size == 0:
        return []
    cell = (track * n_s + s_cell) * n_p + p_cell
    tops = []
    for v in views:
        part = view == v
        cells, counts = _cell_votes(cell[part], qi[part], n_query)
        strong = counts >= fc.MIN_CANDIDATE_VOTES
        cells, counts = cells[strong], counts[strong]
        tops.append(cells[np.argsort(-counts, kind="stable")[: fc.CANDIDATE_CELLS]])
    top = np.unique(np.concatenate(tops))
    # Only the hits of the candidate tracks are examined further: one pass over all hits
    # here instead of one per candidate cell.
    candidate = np.isin(track, top // (n_s * n_p), kind="table")
    idx_ok, track = idx_ok[candidate], track[candidate]
    s_cell, p_cell = s_cell[candidate], p_cell[candidate]
    q_t_all = query.t
    q_span_all = query.span
    best: dict[int, Alignment] = {}
    for c in top:
        tr, rest = divmod(int(c), n_s * n_p)
        cs, cp = divmod(rest, n_p)
        # The cell and its neighbours: estimates scatter across cell borders.
        sel = (track == tr) & (np.abs(s_cell - cs) <= 1) & (np.abs(p_cell - cp) <= 1)
        centre = sel & (s_cell == cs) & (p_cell == cp)
        s0 = float(np.median(log_s[idx_ok[centre]]))
        p0 = float(np.median(dp[idx_ok[centre]]))
        h = idx_ok[sel]
        qi = hits.query_index[h]
        found = _align_track(
            tr, s0, p0, q_t_all[qi], q_span_all[qi], qi, log_s[h], dp[h], hits.t[h]
        )
        if (
            found is not None
            and abs(np.log(found.a)) <= fc.MAX_LOG_SCALE
            and abs(found.pitch_semitones) <= fc.MAX_PITCH_SEMITONES
            and (tr not in best or found.evidence > best[tr].evidence)
        ):
            best[tr] = found
    return sorted(best.values(), key=lambda a: -a.evidence)


def query_windows(duration_s: float) -> tuple[int, float]:
    """How many windows a query of this length is matched in, and the chances it had.

    Why: the excerpt calibration was fitted on QUERY_WINDOW_S queries, and a whole upload used
    as a query carries many times their hashes, so unrelated songs in one key and tempo reached
    the cut by sheer volume. Each window is aligned on its own (a copy of any part of the upload
    still aligns within one), and the rate counts one chance per QUERY_WINDOW_S of query.
    """
    windows = max(1, int(np.ceil(duration_s / fc.QUERY_WINDOW_MAX_S - 1e-9)))
    return windows, max(1.0, duration_s / fc.QUERY_WINDOW_S)


def _align_in_windows(
    query: QueryFrame, hits: Hits, *, duration_s: float, exclude: set[int] | None
) -> list[Alignment]:
    """`align` in each of the query's windows (see `query_windows`), every window's alignments."""
    windows, _ = query_windows(duration_s)
    if windows == 1:
        return align(query, hits, exclude=exclude)
    width_units = duration_s / windows / _T_UNIT_S
    window = np.minimum((query.t / width_units).astype(np.int64), windows - 1)
    hit_window = window[hits.query_index]
    found: list[Alignment] = []
    for w in range(windows):
        part = hit_window == w
        if part.any():
            found.extend(align(query, hits.subset(part), exclude=exclude))
    return found


def align_views(
    query: np.ndarray, hits: Hits, *, duration_s: float, exclude: set[int] | None = None
) -> list[Alignment]:
    """Alignments in each window (see `query_windows`) of the query and its views (see
    QUERY_VIEWS), all mapped back to query time and pitch; per track the strongest, with the
    query's chances, strongest first.

    The views that only move the analysis band re-pick the query's peaks on its own time base:
    their hits are pooled with the reference view's into one alignment (each recovers some of a
    transposed copy's reference peaks, they agree on one time map and pitch, and the evidence
    counts each reference anchor once). The re-timed views are aligned on their own: pooled,
    they lifted shared material (different songs of one album over one synth patch and chord
    bed) more than copies. Why the views add no chances: the calibration is fitted on the best
    evidence non-member queries reach over all of them, so the fitted rate already counts them.
    A view does not widen the searched range: hits obey MAX_LOG_SCALE and MAX_PITCH_SEMITONES in
    query terms (beyond them, songs in one chord bed at another key and tempo align).
    """
    frame = QueryFrame.of(query)
    pool = np.where(frame.time_factor == 1.0, 0, frame.view)[hits.query_index]
    found: list[Alignment] = []
    for group in np.unique(pool):
        part = pool == group
        found.extend(
            _align_in_windows(frame, hits.subset(part), duration_s=duration_s, exclude=exclude)
        )
    _, chances = query_windows(duration_s)
    best: dict[int, Alignment] = {}
    for al in found:
        if al.track not in best or al.evidence > best[al.track].evidence:
            best[al.track] = al
    return sorted((replace(al, chances=chances) for al in best.values()), key=lambda a: -a.evidence)


def _cell_votes(cell: np.ndarray, qi: np.ndarray, n_query: int) -> tuple[np.ndarray, np.ndarray]:
    """Each cell and its votes: the query hashes with a hit in it, each once.

    Why once: a sustained, stationary track answers one query hash at many places of the same
    (scale, pitch) cell, and counted per hit its chance cells outvoted a noisy copy's true one
    (the evidence already weighs such hits 1/k; the vote now agrees with it)."""
    pairs = np.unique(cell * n_query + qi)
    cells, counts = np.unique(pairs // n_query, return_counts=True)
    return cells, counts


def _contending_groups(
    group: np.ndarray, p_cell: np.ndarray, qi: np.ndarray, *, n_p: int, n_query: int, n_groups: int
) -> np.ndarray:
    """Per (track, scale) group, whether its hits can be in a top candidate cell or beside one.

    Why: at catalog scale a query gathers millions of hits, and sorting them all to count
    (track, scale, pitch) cells dominated the query. A cell's votes are at most its (track,
    scale) group's hit count, which one linear `bincount` gives. Exact cell counts in the strongest
    groups give a lower bound on the CANDIDATE_CELLS-th best cell count; every group below that
    bound (and not beside a group that reaches it) is dropped, so the cells chosen, ties
    included, and the hits each alignment reads are exactly those of a full count.
    """
    group_count = np.bincount(group, minlength=n_groups)
    floor = fc.MIN_CANDIDATE_VOTES
    contenders = np.flatnonzero(group_count >= floor)
    if contenders.size > PRUNE_SEED_GROUPS:
        top = np.argpartition(group_count[contenders], -PRUNE_SEED_GROUPS)[-PRUNE_SEED_GROUPS:]
        in_seed = np.isin(group, contenders[top], kind="table")
        _, seed_counts = _cell_votes(group[in_seed] * n_p + p_cell[in_seed], qi[in_seed], n_query)
        if seed_counts.size >= fc.CANDIDATE_CELLS:
            nth = seed_counts.size - fc.CANDIDATE_CELLS
            floor = max(floor, int(np.partition(seed_counts, nth)[nth]))
    # A candidate cell's alignment also reads its neighbours at scale +-1, so a group is kept
    # when it or a neighbouring group reaches the bound.
    reaches = np.concatenate([[False], group_count >= floor, [False]])
    contending: np.ndarray = reaches[:-2] | reaches[1:-1] | reaches[2:]
    return contending


def _mode_windows(values: np.ndarray, width: float, count: int) -> list[float]:
    """Centres of the densest windows of the given width, densest first, at most `count`, each
    at least two widths from the others (histogram with half-bin smoothing).

    Why several: music repeats itself, so a loop played again later gives a second offset
    almost as dense as the true one; each is fitted and the best supported wins.
    """
    cells = np.floor(values / width).astype(np.int64)
    lo = cells.min()
    counts = np.bincount(cells - lo)
    smooth = counts.copy()
    smooth[1:] += counts[:-1]
    centres: list[float] = []
    taken = np.zeros(smooth.size, dtype=bool)
    for _ in range(count):
        free = np.where(taken, -1, smooth)
        best = int(np.argmax(free))  # window covering cells best-1 and best
        if free[best] < (fc.MIN_INLIERS if centres else 1):
            break
        in_window = (cells - lo == best) | (cells - lo == best - 1)
        centres.append(float(np.median(values[in_window])))
        taken[max(0, best - 3) : best + 4] = True
    return centres


def _align_track(
    track: int,
    s0: float,
    p0: float,
    q_t: np.ndarray,
    q_span: np.ndarray,
    q_index: np.ndarray,
    log_s: np.ndarray,
    dp: np.ndarray,
    r_t: np.ndarray,
) -> Alignment | None:
    """The best supported alignment with one track in one (scale, pitch) cell, with the other
    well supported offsets (repeats of the same passage) noted on it."""
    near = (np.abs(log_s - s0) <= 1.5 * fc.LOG_SCALE_BIN) & (
        np.abs(dp - p0) <= fc.PITCH_TOLERANCE_UNITS
    )
    if near.sum() < fc.MIN_INLIERS:
        return None
    qs = q_t * _T_UNIT_S
    rs = r_t * _T_UNIT_S
    a0 = float(np.exp(s0))
    centre = float(np.median(qs[near]))
    b_centred = rs - a0 * (qs - centre)
    fits = []
    for b_mode in _mode_windows(b_centred[near], fc.OFFSET_BIN_S, fc.OFFSET_CANDIDATES):
        inl = near & (np.abs(b_centred - b_mode) <= fc.OFFSET_BIN_S)
        b0 = b_mode - a0 * centre
        found = _fit_offset(track, inl, near, a0, b0, qs, rs, q_span, q_index, dp)
        if found is not None:
            fits.append(found)
    if not fits:
        return None
    fits.sort(key=lambda al: -al.evidence)
    best = fits[0]
    repeats = tuple(
        sorted(
            round(al.a * best.query_start_s + al.b_s, 3)
            for al in fits[1:]
            if al.evidence >= fc.REPEAT_MIN_EVIDENCE_FRACTION * best.evidence
            and abs(al.b_s - best.b_s) > 2 * fc.OFFSET_BIN_S
        )
    )
    return replace(best, repeat_ref_offsets_s=repeats) if repeats else best


def _fit_offset(
    track: int,
    inl: np.ndarray,
    near: np.ndarray,
    a: float,
    b: float,
    qs: np.ndarray,
    rs: np.ndarray,
    q_span: np.ndarray,
    q_index: np.ndarray,
    dp: np.ndarray,
) -> Alignment | None:
    """Refine the time map from the hits `inl` of one offset window and weigh its evidence."""
    for _ in range(fc.ALIGN_ITERATIONS):
        if inl.sum() < fc.MIN_INLIERS:
            return None
        a, b = _fit_line(qs[inl], rs[inl], a, b)
        resid = rs - (a * qs + b)
        pitch = float(np.median(dp[inl]))
        inl = (np.abs(resid) <= fc.ALIGN_TOLERANCE_S) & (
            np.abs(dp - pitch) <= fc.PITCH_TOLERANCE_UNITS
        )
    inl_idx = np.flatnonzero(inl)
    inlier_q, first = np.unique(q_index[inl_idx], return_index=True)
    if inlier_q.size < fc.MIN_INLIERS:
        return None
    # Weight each aligned query hash by 1 / (its hits in this track at this scale and pitch):
    # a hash of a loop that repeats k times in the reference proves only 1/k of an alignment.
    hit_q, hit_count = np.unique(q_index[near | inl], return_counts=True)
    weights = 1.0 / hit_count[np.searchsorted(hit_q, inlier_q)]
    # Hashes sharing an anchor share peaks, so they are not independent evidence: each anchor
    # counts once (its best weight). A burst of look-alike peaks is one piece of evidence. The
    # reference's anchor, not the query's: views re-pick the query's peaks, so one reference
    # peak is found through several query anchors.
    anchor = rs[inl_idx][first]
    order = np.argsort(anchor, kind="stable")
    anchor, weights = anchor[order], weights[order]
    starts = np.flatnonzero(np.r_[True, anchor[1:] != anchor[:-1]])
    evidence = float(np.maximum.reduceat(weights, starts).sum())
    start = float(qs[inl].min())
    end = float((qs[inl] + q_span[inl] * _T_UNIT_S).max())
    return Alignment(
        track=track,
        inliers=int(inlier_q.size),
        evidence=evidence,
        a=a,
        b_s=b,
        pitch_semitones=-pitch * _SEMITONES_PER_F_UNIT,
        query_start_s=start,
        query_end_s=end,
    )


def _fit_line(x: np.ndarray, y: np.ndarray, a0: float, b0: float) -> tuple[float, float]:
    """Least-squares y = a x + b; keeps the slope a0 when x spans too little to estimate it."""
    lo, hi = np.exp(-fc.MAX_LOG_SCALE), np.exp(fc.MAX_LOG_SCALE)
    if x.size >= 2 and np.ptp(x) >= fc.MIN_SLOPE_SPAN_S:
        a, b = np.polyfit(x, y, 1)
        if lo <= a <= hi:
            return float(a), float(b)
    return a0, float(np.median(y - a0 * x))


def to_match(
    al: Alignment,
    track_id: str,
    meta: dict[str, Any],
    *,
    n_tracks: int,
    whole_track: bool = False,
) -> Match:
    """Resolve an alignment into the public record."""
    fmr = false_match_rate(
        al.evidence, n_tracks=n_tracks, whole_track=whole_track, chances=al.chances
    )
    return Match(
        track_id=track_id,
        score=1.0 - fmr,
        false_match_rate=fmr,
        query_offset_s=round(al.query_start_s, 3),
        ref_offset_s=round(al.a * al.query_start_s + al.b_s, 3),
        time_scale=round(al.a, 4),
        pitch_semitones=round(al.pitch_semitones, 2),
        matched_s=round(al.query_end_s - al.query_start_s, 3),
        matched_hashes=al.inliers,
        meta=meta,
        repeat_ref_offsets_s=al.repeat_ref_offsets_s,
    )


def reportable(al: Alignment, *, n_tracks: int, whole_track: bool = False) -> bool:
    """Strong enough to report: enough inliers and a false-match rate under the cap."""
    fmr = false_match_rate(
        al.evidence, n_tracks=n_tracks, whole_track=whole_track, chances=al.chances
    )
    if whole_track and al.evidence < fc.MIN_WHOLE_TRACK_EVIDENCE:
        return False
    return al.inliers >= fc.MIN_INLIERS and fmr <= fc.MAX_FALSE_MATCH_RATE
