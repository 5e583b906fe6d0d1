"""Every number the feature extractor uses, named once with its unit.

Two analysis rates: decoder artifacts (narrow peaks from upsampling stride chains) sit anywhere
up to ~16 kHz, so they are measured on a full-band 44.1 kHz signal; everything else (timbre,
phase, voice, loudness) is measured at 22.05 kHz, which halves the cost and loses nothing those
descriptors need.
"""

from __future__ import annotations

# Bump whenever a feature is added, removed, reordered or computed differently: models record
# the version they were trained on and refuse vectors of another one.
FEATURE_SCHEMA_VERSION = "1.1.0"

# --- analysis rates (Hz) ---
ANALYSIS_RATE_HZ = 22_050  # timbre / phase / voice / loudness path
FULL_BAND_RATE_HZ = 44_100  # decoder-artifact and bandwidth path

# --- silence trimming (done before any feature, so silence length never carries a model) ---
TRIM_FRAME_SAMPLES = 2048  # at the input rate; ~46 ms at 44.1 kHz
TRIM_ABSOLUTE_FLOOR_DBFS = -60.0  # frames quieter than this are silence
TRIM_RELATIVE_FLOOR_DB = 50.0  # ... or this far below the loudest frame
MIN_AUDIBLE_S = 0.5  # a track with less audible audio than this yields an all-NaN vector

# --- segments (song-level variance: features per segment, then mean/std/percentiles) ---
SEGMENT_S = 5.0  # seconds per analysed segment
MAX_SEGMENTS = 12  # at most this many segments, spread evenly over the trimmed track
AGGREGATE_PERCENTILES = (10.0, 90.0)  # percent, across segments

# --- short-time analysis at ANALYSIS_RATE_HZ ---
FRAME_SAMPLES = 1024  # ~46 ms
HOP_SAMPLES = 512  # ~23 ms
N_MELS = 40  # mel bands feeding the MFCCs
N_LINEAR_BANDS = 40  # linear bands feeding the LFCCs
N_CEPSTRA = 20  # cepstral coefficients kept (MFCC and LFCC)
SUB_BAND_EDGES_HZ = (0.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 6000.0, 8000.0, 11_025.0)
ROLLOFF_LOW = 0.85  # fraction of spectral energy below the "rolloff 85" frequency
ROLLOFF_HIGH = 0.99  # ... and below the "rolloff 99" frequency
PHASE_SPLIT_HZ = 4000.0  # instantaneous-frequency statistics below / above this frequency
SILENT_FRAME_DBFS = -60.0  # frame RMS below this counts as (internal) silence
LOG_EPS = 1e-10  # floor added before logarithms of powers (power units, full scale = 1)

# --- voice / periodicity (autocorrelation pitch track at ANALYSIS_RATE_HZ) ---
F0_MIN_HZ = 70.0
F0_MAX_HZ = 500.0
VOICED_MIN_CORRELATION = 0.5  # normalised autocorrelation peak needed to call a frame voiced
VOICED_MIN_DBFS = -50.0  # ... and at least this loud
MAX_CORRELATION = 0.999  # clip before HNR = 10 log10(r / (1 - r)) to keep it finite
JITTER_MAX_RATIO = 0.2  # period changes above 20 % are octave errors, not jitter
MIN_VOICED_FRAMES = 5  # fewer voiced frames in a segment: voice features are NaN

# --- long-FFT decoder-artifact analysis at FULL_BAND_RATE_HZ ---
LONG_FFT_SAMPLES = 16_384  # 2.69 Hz bins at 44.1 kHz: narrow peaks stay narrow
LONG_HOP_SAMPLES = 8192
ENVELOPE_WIDTH_HZ = 120.0  # running-minimum + smoothing width of the lower envelope
ARTIFACT_MIN_HZ = 300.0  # residual band analysed (below: musical fundamentals dominate)
ARTIFACT_MAX_HZ = 16_000.0  # ... and its top (decoder artifacts live below this)
CUTOFF_GUARD_HZ = 200.0  # stay this far below a detected cut-off
ARTIFACT_MIN_BAND_BINS = 64  # long-FFT bins: a narrower analysed band reads no artifacts
ARTIFACT_BIN_HZ = 500.0  # fixed-bin residual prominence ("fakeprint" bins)
GENERATOR_RATES_HZ = (22_050.0, 24_000.0, 44_100.0, 48_000.0)  # typical generator output rates
STRIDE_PRODUCTS = (8, 16, 32, 64)  # upsampling factors whose combs are scored
PEAK_TOLERANCE_BINS = 2  # a predicted peak may sit this many long-FFT bins off
SCALE_SEARCH_CENTS = 60.0  # predicted positions are also tried this far up and down ...
SCALE_STEP_CENTS = 10.0  # ... in steps of this, so a +-50 cent pitch shift is still found
# Resample-invariant stride-grid search (schema 1.1.0): the comb base fs / stride is searched
# continuously over +-RESAMPLE_SEARCH of every generator rate, so a track resampled, sped up or
# pitch-shifted by up to 10 % after generation still lines up with its decoder's grid.
RESAMPLE_SEARCH = 0.10  # relative resampling factor searched up and down (10 %)
RESAMPLE_STEP_CENTS = 2.0  # factor step: the top harmonic scored moves about one tolerance
RESAMPLE_MAX_HARMONICS = 24  # multiples of a base scored (the lowest ones: least smeared)
COMB_MIN_PERIOD_HZ = 100.0  # shift-invariant comb search range (autocorrelation lag)
COMB_MAX_PERIOD_HZ = 3000.0
COMB_MULTIPLE_RATIO = 0.7  # shortest lag whose peak is this close to the best is the period
COMB_DETREND_HZ = 40.0  # median-filter width removing broad bumps before the comb search
NARROW_PEAK_MIN_DB = 3.0  # residual prominence of a "narrow peak"
NARROW_PEAK_MAX_WIDTH_BINS = 4.0  # width at half prominence
STABLE_PEAK_LEVEL_DB = 2.0  # a peak is present in a segment if its residual exceeds this
STABLE_PEAK_FRACTION = 0.6  # ... and "stable" if present in this fraction of segments
HIGH_PEAK_MIN_HZ = 4000.0  # stable peaks above this are rarely musical harmonics
TOP_PEAKS = 5  # mean prominence of this many strongest narrow peaks

# --- bandwidth / cut-off (from the long-FFT average spectrum) ---
CUTOFF_DROP_DB = 45.0  # cut-off: highest frequency within this of the 1-4 kHz reference level
CUTOFF_REFERENCE_BAND_HZ = (1000.0, 4000.0)
CUTOFF_SMOOTH_HZ = 130.0  # smoothing before the cut-off search
CUTOFF_SLOPE_SPAN_HZ = 500.0  # sharpness: level drop across +- this around the cut-off
HIGH_BAND_HZ = 16_000.0  # energy share above this frequency

# --- repetition / self-similarity over the whole trimmed track ---
REPETITION_FRAME_SAMPLES = 2048  # ~93 ms frames at ANALYSIS_RATE_HZ
REPETITION_MELS = 24
REPETITION_MAX_FRAMES = 4096  # longer tracks are strided down to this many frames
REPETITION_MIN_FRAMES = 4  # fewer coarse frames than this: the repetition features are NaN
REPETITION_MIN_LAG_S = 2.0  # a repetition must be at least this far apart
