"""Every number the fingerprint depends on, named once with its unit.

Why one module: the index stores hashes whose meaning depends on all of these; changing any of
the extraction numbers changes the hashes, so it must bump FINGERPRINT_VERSION, and an index
refuses fingerprints of another version.
"""

from __future__ import annotations

from typing import Final

FINGERPRINT_VERSION: Final[int] = 3
"""Bumped whenever a change below alters the hashes (stored in every fingerprint and index)."""

# --- Analysis grid ------------------------------------------------------------------------------
FINGERPRINT_SAMPLE_RATE: Final[int] = 8_000
"""Analysis rate (Hz): callers may decode straight to it; 4 kHz of bandwidth carries melody."""
FFT_SIZE: Final[int] = 1_024
"""STFT window length (samples at the analysis rate; 128 ms)."""
HOP_SIZE: Final[int] = 128
"""STFT hop (samples; 16 ms): the time unit ("frame") of every stored time."""
FRAME_S: Final[float] = HOP_SIZE / FINGERPRINT_SAMPLE_RATE
"""One frame in seconds."""
LOG_FMIN_HZ: Final[float] = 200.0
"""Lowest log-frequency bin centre (Hz); below it an FFT bin is wider than a semitone."""
LOG_BINS_PER_OCTAVE: Final[int] = 24
"""Log-frequency resolution (bins per octave; one bin is half a semitone)."""
LOG_OCTAVES: Final[float] = 4.15
"""Span of the log-frequency axis (octaves): 200 Hz to ~3.55 kHz."""
SEMITONES_PER_BIN: Final[float] = 12.0 / LOG_BINS_PER_OCTAVE
"""Pitch step of one log-frequency bin (semitones)."""
LOG_FLOOR: Final[float] = 1e-7
"""Added to the magnitude before the logarithm (linear amplitude), so silence stays finite."""

# --- Peak picking -------------------------------------------------------------------------------
PEAK_NEIGHBOURHOOD_FRAMES: Final[int] = 13
"""Full width in time of the local-maximum filter (frames; ~0.2 s)."""
PEAK_NEIGHBOURHOOD_BINS: Final[int] = 9
"""Full width in log-frequency of the local-maximum filter (bins; 2 semitones either side)."""
PEAK_BLOCK_FRAMES: Final[int] = 31
"""Peaks are rationed per block of this many frames (~0.5 s), so loud passages cannot hog them."""
PEAKS_PER_BLOCK: Final[int] = 5
"""Strongest peaks kept per block (count): ~10 peaks per second."""
QUERY_PEAK_NEIGHBOURHOOD_FRAMES: Final[int] = 9
"""Local-maximum width in time for a query's extra peaks (frames; ~0.14 s): a tempo or pitch
change moves a reference peak's rivals, so a query keeps the near-maxima too."""
QUERY_PEAK_NEIGHBOURHOOD_BINS: Final[int] = 7
"""Local-maximum width in log-frequency for a query's extra peaks (bins)."""
QUERY_PEAKS_PER_BLOCK: Final[int] = 9
"""Strongest extra peaks a query keeps per PEAK_BLOCK_FRAMES block (count): a distortion that
reorders loudness within a block then still keeps the reference's peaks."""
PEAK_MIN_LEVEL_BELOW_MAX: Final[float] = 9.0
"""Peaks weaker than the track's 99th-percentile level minus this are dropped (natural log)."""
PEAK_ABSOLUTE_FLOOR: Final[float] = 1e-4
"""Peaks below this normalised magnitude (1.0 = full-scale sine; -80 dBFS) are dropped."""

# --- Triplets and hashes ------------------------------------------------------------------------
TRIPLET_MIN_DT_FRAMES: Final[float] = 2.0
"""Smallest gap between consecutive peaks of a triplet (frames)."""
TRIPLET_MAX_SPAN_FRAMES: Final[float] = 100.0
"""Largest time span first-to-last peak of a triplet (frames; 1.6 s)."""
TRIPLET_MAX_DF_BINS: Final[float] = 24.0
"""Largest |log-frequency difference| between the first peak and another (bins; an octave)."""
TRIPLET_LOOKAHEAD: Final[int] = 12
"""Peaks after the anchor (in time order) examined as partners (count)."""
INDEX_PARTNERS: Final[int] = 3
"""Partners per anchor when fingerprinting a reference (count); all pairs of them make triplets."""
QUERY_PARTNERS: Final[int] = 8
"""Partners per anchor for a query, among its denser peaks (count): more triplets, so the
reference's ones are likelier found although extra peaks sit between its partners."""
QUERY_TRIPLET_MIN_DT_FRAMES: Final[float] = 1.5
"""Smallest gap in a query triplet (frames): TRIPLET_MIN_DT_FRAMES of the reference shrinks to
1.6 frames in a copy 25% faster."""
QUERY_TRIPLET_MAX_SPAN_FRAMES: Final[float] = 127.0
"""Largest span of a query triplet (frames; the largest storable, 254 half frames): a
reference span of TRIPLET_MAX_SPAN_FRAMES grows to 125 frames in a copy 20% slower."""

QUERY_VIEWS: Final[tuple[tuple[float, int], ...]] = ((0.8, 0), (1.25, 0), (1.0, 6), (1.0, -4))
"""Extra views of a query, each (time factor: view frames per query frame; band shift: log bins
the analysis band is lowered by). A view re-picks peaks as if the query played at another tempo
or pitch, so a copy slowed by 20 % or shifted down 3 semitones gets the reference's own peaks
and partners back (peak rationing and neighbourhoods are in frames and bins, so they do not
scale with the distortion, and a downward shift pushes peaks under LOG_FMIN_HZ). The views'
band views' hits are aligned together with the reference view's (see matcher.align_views).
Views only query: an index stores the reference view alone."""
QUERY_VIEW_MAX_S: Final[float] = 900.0
"""Views cover a query's first this many seconds (s): a song whole, while a four-hour mix keeps
its plain view everywhere without four more spectrograms in memory."""
QUERY_VIEW_CORE_BASE: Final[int] = 2
"""A view's hashes carry core = QUERY_VIEW_CORE_BASE + its index in QUERY_VIEWS (1 is the
reference view's core hashes, 0 its query extras)."""

RATIO_LEVELS: Final[int] = 32
"""Quantisation of the time ratio (t2-t1)/(t3-t1) in (0, 1) (levels; the key's low bits)."""
RATIO_QUERY_RADIUS: Final[int] = 1
"""A query looks up the ratio level +-this (levels), as a range scan of adjacent keys."""
DF_STEP_BINS: Final[float] = 1.0
"""Quantisation step of the log-frequency differences (bins)."""
DF_LEVELS: Final[int] = 64
"""Levels per log-frequency difference (count; covers +-TRIPLET_MAX_DF_BINS)."""
SPAN_CLASS_LOG2_BASE: Final[float] = 2.0
"""log2 of the shortest span that gets its own class (log2 frames)."""
SPAN_CLASS_LOG2_STEP: Final[float] = 0.6
"""Coarse class of the triplet's span: log2(span frames) in steps of this (octaves of time)."""
SPAN_CLASSES: Final[int] = 8
"""Span classes (count)."""
BAND_BINS: Final[int] = 24
"""Coarse absolute band of the anchor peak (bins; one octave)."""
BANDS: Final[int] = 4
"""Bands (count; the highest absorbs the remainder)."""
BOUNDARY_MARGIN: Final[float] = 0.3
"""A query also probes the neighbouring level of a coarse component when it lies within this
fraction of a step from the boundary (fraction of a step)."""
BAND_MARGIN_BINS: Final[float] = 8.0
"""...and the neighbouring band when the anchor lies within this many bins of a band edge
(bins; covers pitch shifts of +-4 semitones)."""

ORDER_CLOSE_NATS: Final[float] = 0.3
"""Two peaks whose levels differ by less than this (natural log; ~2.6 dB) may swap loudness
order under distortion, so a query probes both orders (natural log units)."""

TIME_UNITS_PER_FRAME: Final[int] = 2
"""Stored spans are in half frames (units per frame)."""
FREQ_UNITS_PER_BIN: Final[int] = 2
"""Stored anchor frequencies are in half bins (units per bin)."""
DF_UNITS_PER_BIN: Final[int] = 4
"""Stored log-frequency differences are in quarter bins (units per bin)."""
RATIO_UNITS: Final[int] = 256
"""Stored time ratios are in 1/256 (units per 1.0)."""

# --- Matching -----------------------------------------------------------------------------------
MAX_POSTINGS_PER_KEY: Final[int] = 20_000
"""Key ranges with more postings than this are skipped at query time (count): stop words."""
QUERY_HIT_BUDGET: Final[int] = 2_000_000
"""Most postings read per query (count; embedded index): the likeliest, rarest key ranges are
read first (see SUBSTITUTION_COST). Bounds latency and memory (~80 MB) whatever the index size;
a 132-track index never reaches it. Measured at 100k synthetic tracks (100 clean and 100
distorted real 10-s queries of indexed tracks, right track first; 2 loaded cores): plain rarest
first, 2M -> 82 / 41 found, 1M -> 38 / 16; ranked with SUBSTITUTION_COST 4, 2M -> 98 / 84,
1M -> 97 / 72. Recall first: duplicates are the product."""
SUBSTITUTION_COST: Final[float] = 4.0
"""Within the budget, a key range that substitutes k neighbouring quantisation levels is ranked
as if it held SUBSTITUTION_COST**k times its postings (dimensionless; see rarest_within_budget):
a query hash probes ~30 ranges, nearly all of them substitutions, and spreading the budget over
them evenly starved the hashes' own keys at catalog scale."""
QUERY_EXTRA_RANK_SUBSTITUTIONS: Final[int] = 1
"""Within the budget, a query extra's key ranges rank as if they substituted this many more
levels (count), and a query view's as QUERY_VIEW_RANK_SUBSTITUTIONS: the reference view's own
triplets are likeliest to be stored, and a catalog-sized index whose budget cannot read all
ranges of a query (~16,500 hashes per 10 s with the views) reads them first."""
QUERY_VIEW_RANK_SUBSTITUTIONS: Final[int] = 4
"""See QUERY_EXTRA_RANK_SUBSTITUTIONS (count)."""
CANDIDATE_CELLS: Final[int] = 30
"""(track, scale, pitch) cells examined for alignment per query, most votes first (count)."""
MIN_CANDIDATE_VOTES: Final[int] = 4
"""A track needs at least this many hash hits in one cell to be aligned (count)."""
LOG_SCALE_BIN: Final[float] = 0.04
"""Width of a time-scale cell (natural log of the ratio; ~4%)."""
PITCH_BIN_UNITS: Final[int] = 2
"""Width of a pitch cell (half-bin units; half a semitone)."""
MAX_LOG_SCALE: Final[float] = 0.25
"""Time-scale factors beyond exp(+-this) are not considered (natural log; ~0.78 to 1.28)."""
MAX_PITCH_SEMITONES: Final[float] = 5.0
"""Pitch offsets beyond +-this are not considered (semitones; +-2 st pitch plus a speed change)."""
OFFSET_BIN_S: Final[float] = 0.4
"""Width of an offset cell in the coarse alignment (s)."""
ALIGN_TOLERANCE_S: Final[float] = 0.15
"""Largest residual of an inlier from the fitted time map t_ref = a*t_query + b (s)."""
PITCH_TOLERANCE_UNITS: Final[float] = 2.5
"""Largest deviation of an inlier's pitch offset from the fitted one (half-bin units)."""
MIN_SLOPE_SPAN_S: Final[float] = 4.0
"""The slope of the time map is fitted only when the inliers span this much query time (s)."""
OFFSET_CANDIDATES: Final[int] = 3
"""Densest offset windows fitted per candidate cell (count): a repeated passage gives a second
window nearly as dense as the true one, so the best supported fit is chosen, not the first."""
REPEAT_MIN_EVIDENCE_FRACTION: Final[float] = 0.5
"""Another offset whose evidence reaches this fraction of the best one's is reported as a
repeat of the passage (fraction)."""
QUERY_WINDOW_S: Final[float] = 10.0
"""Query length the excerpt calibration was fitted on (s): chance evidence grows with the hashes
a query carries, so a longer query is matched window by window and its false-match rate counts
one chance per QUERY_WINDOW_S of query."""
QUERY_WINDOW_MAX_S: Final[float] = 15.0
"""Longest window a long query is cut into (s): a 10-s excerpt slowed by 20 % (12.5 s) stays one
window, a whole upload becomes windows of 10 to 15 s."""
ALIGN_ITERATIONS: Final[int] = 3
"""Refits of the time map on its inliers (count)."""
MIN_INLIERS: Final[int] = 6
"""Fewest aligned hashes reported as a match (count); the calibrated score decides the rest."""

# --- Score calibration -------------------------------------------------------------------------
# Fitted with `nice .venv/bin/python benchmarks/fingerprint_robustness.py --calibrate` (the
# excerpt fit of 2026-12-06 on 1,096 non-member 10-s queries, every third of the benchmark's
# 6,576 and of those the even-numbered, with 0 of the 1,096 held-out odd ones over the cut; the
# full --calibrate refit on 3,288 is the next step. Fingerprint v3, band views pooled with the
# reference view, re-timed views aligned on their own; 132 indexed tracks; one non-member track
# that Chromaprint shows to be a member's recording is left out). The whole-track fit (466 whole
# non-member tracks, reference view only) is from the full --calibrate run of the same day. The
# excerpt cut at a 0.1 % false-match rate: 8.5 (v2), 10.4 (v3), 11.1 (v3, views one at a time),
# 10.6 (band views pooled: chance alignments of the views now share one vote per query hash);
# whole-track checks moved from 9.1 to 10.4 when their votes began to count each hash once.
# The false-match rate of a match with evidence e (aligned hashes, each weighted 1/k when its hash
# hits the track k times) is modelled per query kind as
#   log10 FMR(e, N) = INTERCEPT - SLOPE * e + log10(N / CALIBRATION_TRACKS),
# fitted on the best evidence that non-member queries reach against an index of
# CALIBRATION_TRACKS tracks; the last term scales it to an index of N tracks (chance alignments
# are per track, so their rate adds up over tracks). Capped to [CALIBRATION_FLOOR, 1].
CALIBRATION_TRACKS: Final[int] = 132
"""Tracks in the index the calibration was fitted on (count)."""
EXCERPT_CALIBRATION_INTERCEPT: Final[float] = 1.796
"""log10 false-match rate at zero evidence, excerpt queries (fitted; dimensionless)."""
EXCERPT_CALIBRATION_SLOPE: Final[float] = 0.4539
"""Decrease of log10 false-match rate per unit of evidence, excerpt queries (fitted)."""
WHOLE_CALIBRATION_INTERCEPT: Final[float] = 0.213
"""log10 false-match rate at zero evidence, whole-track checks (fitted; dimensionless)."""
WHOLE_CALIBRATION_SLOPE: Final[float] = 0.3084
"""Decrease of log10 false-match rate per unit of evidence, whole-track checks (fitted)."""
CALIBRATION_FLOOR: Final[float] = 1e-9
"""Smallest false-match rate ever reported (probability): beyond the data of the fit."""
MIN_WHOLE_TRACK_EVIDENCE: Final[float] = 25.0
"""Least evidence for a whole-track duplicate, whatever the calibrated rate (evidence units):
chance is not the only way to look alike; different songs over one loop reach ~14 in the tests,
while a whole-track copy, even distorted, scores in the hundreds."""
MAX_FALSE_MATCH_RATE: Final[float] = 1e-3
"""Matches whose false-match rate exceeds this are not reported (probability per query)."""

# --- Embedded index -----------------------------------------------------------------------------
INDEX_DIRECTORY_BITS: Final[int] = 9
"""Top key bits addressed by each segment's directory (bits); the low 16 are stored per posting."""
INDEX_MAX_SEGMENTS: Final[int] = 8
"""Segments in a file before they are merged into one (count): bounds the lookups per query."""
INDEX_MAX_TRACKS: Final[int] = (1 << 24) - 1
"""Tracks per index file (count): a track ordinal is stored in 24 bits of a posting."""
INDEX_MAX_ANCHOR_UNITS: Final[int] = (1 << 24) - 1
"""Latest storable anchor time (half frames; ~37 h): hashes beyond it are not indexed."""
WHOLE_TRACK_MAX_QUERY_HASHES: Final[int] = 3_000
"""A whole-track duplicate check probes at most this many of the track's hashes (count), evenly
spread: a copy shares its alignment everywhere, so a sample proves it as well as all."""

# --- PostgreSQL shards --------------------------------------------------------------------------
SHARD_FETCH_ROWS: Final[int] = 50_000
"""Rows per remote FETCH of a shard scan (postgres_fdw fetch_size; count): a query reads up to
millions of postings, and the default of 100 would cost a round trip per 100."""
SHARD_INSERT_BATCH_ROWS: Final[int] = 1_000
"""Rows per remote INSERT when postings are written through the coordinator (postgres_fdw
batch_size; count; 5 parameters a row stays far under libpq's 65,535)."""
SHARD_CONNECT_TIMEOUT_S: Final[int] = 3
"""How long the coordinator (and the reachability probe) waits for a shard to accept a
connection (s; libpq connect_timeout, whole seconds)."""
SHARD_STATEMENT_TIMEOUT_S: Final[int] = 30
"""A sharded lookup or write still running after this long is cancelled (s): a shard that
accepts connections but stops answering must fail the query, never hang it."""
WRITE_CHUNK_ROWS: Final[int] = 200_000
"""Postings built and sent per COPY chunk or sharded INSERT statement in a bulk load (count;
bounds the memory of the arrays and, sharded, each statement's time under the timeout)."""
