"""Numbers of the training-data build, fit and evaluation, each named once with its unit."""

from __future__ import annotations

# --- clips ---
WORK_RATE_HZ = 44_100  # sources are decoded at this rate; generators start from it
CLIP_S = 10.0  # seconds of each content-paired music clip
MIN_SOURCE_S = 12.0  # music files shorter than this are not used as synthetic-task sources
SPEECH_CLIP_MIN_S = 5.0  # consecutive speech prompts are joined to reach this length ...
SPEECH_CLIP_MAX_S = 9.0  # ... and stop before this one
SOURCE_SKIP_S = 5.0  # music clips start after this many seconds (skip intros)

# --- corpus sizes (sources per kind) ---
QUICK_MUSIC_SOURCES = 30
QUICK_SPEECH_SOURCES = 12
QUICK_SPAM_ITEMS = 24
FULL_MUSIC_SOURCES = 90
FULL_SPEECH_SOURCES = 36
FULL_SPAM_ITEMS = 72
MAX_FILES_PER_PACKAGE_SHARE = 0.35  # no package supplies more than this share of music sources

# --- folds: by source, so a real clip and its synthetic twins always share a fold ---
FOLD_SHARES = (("train", 0.6), ("calib", 0.2), ("test", 0.2))

# --- the shared degradation chain (applied identically, at random, to both classes) ---
CHAIN_BANDLIMIT_PROBABILITY = 0.35
CHAIN_BANDLIMIT_RATES_HZ = (16_000, 22_050, 24_000, 32_000)
CHAIN_OUTPUT_RATES_HZ = (44_100, 48_000)
CHAIN_LEVEL_DBFS = (-26.0, -12.0)  # RMS level drawn uniformly from this range
CHAIN_PEAK_DBFS = -0.5  # peaks above this are limited
# (codec, ffmpeg encoder, bitrate in kbit/s or None for lossless, weight)
CHAIN_CODECS = (
    ("none", None, None, 0.2),
    ("mp3", "libmp3lame", 128, 0.12),
    ("mp3", "libmp3lame", 192, 0.08),
    ("mp3", "libmp3lame", 320, 0.08),
    ("aac", "aac", 128, 0.12),
    ("aac", "aac", 256, 0.08),
    ("opus", "libopus", 96, 0.12),
    ("opus", "libopus", 160, 0.08),
    ("vorbis", "libvorbis", 160, 0.12),
)
FFMPEG_TIMEOUT_S = 300.0  # generous: long tracks on a loaded machine

# --- generator families ---
TCONV_GENERATOR_RATES_HZ = (22_050, 24_000, 44_100, 48_000)
TCONV_STRIDES = (2, 3, 4, 5, 8)
TCONV_DEPTH = (2, 4)  # inclusive range of decoder layers
TCONV_MAX_PRODUCT = 512  # total upsampling factor cap (channels of the latent)
TCONV_WEIGHT_NOISE = (0.02, 0.15)  # decoder weights = exact inverse + this relative noise
TCONV_BIAS = (0.002, 0.03)  # bias per channel, relative to the latent's RMS
TCONV_QUANT_STEP = (0.02, 0.2)  # latent quantisation step, relative to the latent's RMS
GRIFFINLIM_FFT = (1024, 2048)
GRIFFINLIM_ITERS = (16, 32)  # inclusive range
GRIFFINLIM_DB_STEP = (0.0, 1.5)  # magnitude quantisation (dB) before resynthesis
VOCODER_FFT = 2048
VOCODER_HOP = 256
VOCODER_LIFTER = 40  # cepstral coefficients kept for the spectral envelope
VOCODER_F0_RANGE_HZ = (60.0, 800.0)
PIPER_LENGTH_SCALE = (0.85, 1.2)
PIPER_NOISE_SCALE = (0.4, 0.8)

# --- spam material ---
SPAM_BED_S = (45.0, 120.0)  # noise / nature beds
SPAM_LOOP_S = (2.0, 8.0)  # loop length ...
SPAM_LOOPED_S = (60.0, 180.0)  # ... repeated up to this total length
SPAM_CUT_S = (30.2, 33.0)  # the "31-second cut"
SPAM_PADDED_CONTENT_S = (15.0, 40.0)  # real audio inside a silence-padded track ...
SPAM_PADDED_TOTAL_S = (90.0, 200.0)  # ... padded with silence to this length
SPAM_SOURCE_MIN_S = 40.0  # music files shorter than this (jingles, effects) are not used
SPAM_NEGATIVE_MAX_S = 240.0  # real tracks used as non-spam are cut to at most this
SPAM_FADE_S = 1.0

# --- models ---
LGBM_PARAMS = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 10,
    "feature_fraction": 0.5,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "num_threads": 1,
    "deterministic": True,
    "force_col_wise": True,
}
LGBM_ROUNDS = 400
LGBM_EARLY_STOP = 40
TARGET_FPR = 0.003  # operating point: false-positive rate on real music (issue 4: <= 0.3 %)
REVIEW_FPR = 0.02  # a lower "review" threshold at this false-positive rate
BLOCK_PROBABILITY = 0.99  # calibrated probability above which the decision may be "block"
BOOTSTRAP_ROUNDS = 500
TOP_REASONS = 3
