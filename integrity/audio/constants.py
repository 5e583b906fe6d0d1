"""Every number the audio package depends on, named once with its unit.

Why one module: the thresholds behind a finding ("3.2 s of leading silence", "clipping") must be
traceable to a single definition, and the sandbox caps must be auditable in one place.
"""

from __future__ import annotations

from typing import Final

# --- Sample rates -------------------------------------------------------------------------------
MAX_NATIVE_OUTPUT_RATE_HZ: Final[int] = 48_000
"""`sample_rate=None` decodes at the source rate, but never above this (Hz)."""
MIN_OUTPUT_RATE_HZ: Final[int] = 1_000
"""Lowest rate a caller may ask for (Hz); below it nothing useful survives."""
MAX_OUTPUT_RATE_HZ: Final[int] = 192_000
"""Highest rate a caller may ask for explicitly (Hz)."""
MIN_SOURCE_RATE_HZ: Final[int] = 4_000
"""Sources below this rate (Hz) are refused at probe time as not music/speech delivery audio."""
MAX_SOURCE_RATE_HZ: Final[int] = 384_000
"""Sources above this rate (Hz) are refused at probe time (no real delivery needs more)."""
MAX_SOURCE_CHANNELS: Final[int] = 16
"""Sources with more channels are refused at probe time (count)."""
SOXR_QUALITY: Final[str] = "HQ"
"""libsoxr quality preset for every resampling step (flat to 0.91 of Nyquist, 144 dB stop)."""

# --- Untrusted-input checks -------------------------------------------------------------------
SNIFF_BYTES: Final[int] = 64 * 1024
"""Bytes read to recognise a container (bytes), from the start and again after ID3v2 tags."""
TRUNCATION_MIN_FRACTION: Final[float] = 0.9
"""A file decoding to less than this fraction of its declared duration is truncated (ratio)."""
TRUNCATION_MIN_GAP_S: Final[float] = 1.0
"""...and only when it is at least this much shorter than declared (s), for short files."""
DURATION_CAP_SLACK_S: Final[float] = 1.0
"""Decoded audio may run this far past max_duration_s before decoding stops (s): codec padding."""
SOUNDFILE_BLOCK_FRAMES: Final[int] = 1 << 16
"""Frames read per libsndfile call (frames), so a stereo file never needs 2x its mono size."""
STREAM_BLOCK_FRAMES: Final[int] = 1 << 18
"""Output samples per block of a streamed decode (samples; ~5.5 s at 48 kHz, 1 MB)."""
HASH_CHUNK_BYTES: Final[int] = 1 << 20
"""Read size when hashing a file (bytes)."""

# --- Container format facts (from the format specifications) ----------------------------------
ID3_HEADER_BYTES: Final[int] = 10
"""ID3v2 tag header (bytes), ending in a 28-bit syncsafe tag size."""
ID3_FLAGS_OFFSET: Final[int] = 5
"""Offset of the flags byte in an ID3v2 header (bytes)."""
ID3_SIZE_OFFSET: Final[int] = 6
"""Offset of the 4-byte syncsafe tag size in an ID3v2 header (bytes)."""
ID3_SYNCSAFE_BITS: Final[int] = 7
"""Payload bits per syncsafe byte (the top bit is always 0)."""
ID3_FOOTER_BYTES: Final[int] = 10
"""Optional ID3v2.4 footer (bytes), present when ID3_FOOTER_FLAG is set."""
ID3_FOOTER_FLAG: Final[int] = 0x10
"""ID3v2 header flag announcing a footer (bit mask)."""
ID3_MAX_TAGS: Final[int] = 4
"""Stacked leading ID3v2 tags skipped before the audio must begin (count; taggers that
prepend instead of rewriting leave two or three)."""
MPEG_SYNC_MASK: Final[int] = 0xFFE0
"""The 11 sync bits that open an MPEG audio or ADTS frame header (bit mask)."""
MPEG_LAYER_SHIFT: Final[int] = 1
"""Shift of the 2 layer bits in the second header byte: 00 = ADTS (AAC), else MPEG layer."""
RIFF_CHUNK_HEADER_BYTES: Final[int] = 8
"""RIFF chunk header: 4-byte id, 4-byte little-endian size (bytes)."""
RIFF_FORM_TYPE_BYTES: Final[int] = 4
"""The form type after the RIFF header ("WAVE") (bytes)."""
RIFF_MAX_CHUNKS: Final[int] = 64
"""Chunks walked looking for a WAV file's data chunk before giving up (count)."""
RIFF_SIZE_UNKNOWN: Final[int] = 0xFFFF_FFFF
"""Data-chunk size written by streaming encoders and RF64 (the real size is elsewhere)."""
OGG_HEADER_TYPE_OFFSET: Final[int] = 5
"""Offset of the header-type byte in an Ogg page (bytes from "OggS")."""
OGG_EOS_FLAG: Final[int] = 0x04
"""Header-type bit marking the last page of a logical stream (bit mask)."""

# --- Sandbox process ----------------------------------------------------------------------------
SANDBOX_START_TIMEOUT_S: Final[float] = 60.0
"""Wall-clock time a fresh decoder child may take to import and report ready (s)."""
SANDBOX_STOP_TIMEOUT_S: Final[float] = 2.0
"""Time a child gets to exit after its stdin closes, before it is killed (s)."""
SANDBOX_MAX_OPEN_FILES: Final[int] = 32
"""RLIMIT_NOFILE in the child (descriptors): the file being decoded, pipes, little else."""
SANDBOX_CPU_BUDGET_FACTOR: Final[float] = 10.0
"""The child's lifetime RLIMIT_CPU is this many decode timeouts (ratio); it is recycled before."""
SANDBOX_MAX_REQUESTS: Final[int] = 1_000
"""Requests served before a child is replaced anyway (count), bounding any slow leak."""
SANDBOX_PIPE_BYTES: Final[int] = 1 << 20
"""Requested kernel pipe buffer for the sample hand-off (bytes; Linux F_SETPIPE_SZ)."""
SANDBOX_MAX_HEADER_BYTES: Final[int] = 64 * 1024
"""Longest reply header the parent accepts from a child (bytes)."""
SANDBOX_STDERR_LINES: Final[int] = 40
"""Lines of the child's stderr kept for diagnostics (count)."""
SANDBOX_READ_CHUNK_BYTES: Final[int] = 1 << 20
"""Largest single read from the child's pipe (bytes)."""
LINUX_PR_SET_PDEATHSIG: Final[int] = 1
"""prctl option: signal this process when its parent dies (linux/prctl.h)."""
LINUX_CLONE_NEWUSER: Final[int] = 0x1000_0000
"""unshare flag: a new user namespace (linux/sched.h), needed to unshare unprivileged."""
LINUX_CLONE_NEWNET: Final[int] = 0x4000_0000
"""unshare flag: a new network namespace with no usable interface (linux/sched.h)."""
LINUX_F_SETPIPE_SZ: Final[int] = 1031
"""fcntl command to resize a pipe (linux/fcntl.h), when the fcntl module lacks the name."""

# --- Measurements -------------------------------------------------------------------------------
LOUDNESS_BLOCK_S: Final[float] = 0.400
"""BS.1770-4 gating block length (s)."""
LOUDNESS_BLOCK_OVERLAP: Final[float] = 0.75
"""BS.1770-4 overlap between consecutive gating blocks (fraction of a block)."""
LOUDNESS_OFFSET_DB: Final[float] = -0.691
"""BS.1770-4 constant in L = -0.691 + 10 log10(sum G_i z_i) (dB)."""
LOUDNESS_ABSOLUTE_GATE_LUFS: Final[float] = -70.0
"""BS.1770-4 absolute gate (LUFS)."""
LOUDNESS_RELATIVE_GATE_LU: Final[float] = -10.0
"""BS.1770-4 relative gate below the absolute-gated loudness (LU)."""
K_SHELF_FREQ_HZ: Final[float] = 1681.974450955533
"""K-weighting stage 1 (head-related high shelf) centre frequency (Hz), analog prototype."""
K_SHELF_GAIN_DB: Final[float] = 3.999843853973347
"""K-weighting stage 1 shelf gain (dB)."""
K_SHELF_Q: Final[float] = 0.7071752369554196
"""K-weighting stage 1 quality factor (dimensionless)."""
K_SHELF_VB_EXPONENT: Final[float] = 0.4996667741545416
"""K-weighting stage 1: band gain Vb = Vh ** this (dimensionless); with the values above it
reproduces the BS.1770-4 48 kHz coefficients to ~1e-8."""
K_HIGHPASS_FREQ_HZ: Final[float] = 38.13547087602444
"""K-weighting stage 2 (RLB high-pass) corner frequency (Hz), analog prototype."""
K_HIGHPASS_Q: Final[float] = 0.5003270373238773
"""K-weighting stage 2 quality factor (dimensionless)."""

MEASURE_CHUNK_SAMPLES: Final[int] = 1 << 18
"""Samples measured at a time (samples; ~5 s at 48 kHz): bounds the float64 work arrays."""
SILENCE_FRAME_S: Final[float] = 0.010
"""Frame length for silence detection (s): resolution of leading/trailing silence."""
SILENCE_THRESHOLD_DBFS: Final[float] = -60.0
"""A frame whose RMS level is below this is silent (dB re full scale: 20 log10(RMS), so a
full-scale square wave is 0 dB and a full-scale sine -3.01 dB)."""
CLIP_LEVEL: Final[float] = 0.999
"""A sample at or above this magnitude is at full scale (linear, 1.0 = 0 dBFS; ~-0.009 dBFS)."""
CLIP_MIN_RUN_SAMPLES: Final[int] = 3
"""Full-scale samples count as clipped only in runs at least this long (samples): a lone peak
of a normalised master is not clipping, a flat top is."""

# Default caps on one untrusted file (the deployment overrides them through Settings).
DEFAULT_MAX_BYTES: Final[int] = 512 * 1024 * 1024
"""bytes: the largest audio file opened at all."""
DEFAULT_MAX_DURATION_S: Final[float] = 4 * 3600.0
"""seconds: the longest audio decoded (checked in the headers and while decoding)."""
DEFAULT_DECODE_TIMEOUT_S: Final[float] = 600.0
"""seconds of wall clock the sandbox gets for one file's whole analysis (decode, measure,
fingerprint, features; `integrity.analysis`). A 4-hour file took 425 s (8 kHz FLAC) and 915 s
(48 kHz Opus) on 2 shared cores at load ~11 (benchmarks/analysis_memory.py), a fifth of that
unloaded; ordinary tracks take seconds. Kept below the task soft time limit (900 s)."""
DEFAULT_DECODE_MEMORY_LIMIT_BYTES: Final[int] = 4 * 1024 * 1024 * 1024
"""bytes: the sandbox child's address-space cap (RLIMIT_AS), now over the whole analysis; a
4-hour file peaked at 1.2-1.5 GiB resident (benchmarks/analysis_memory.py)."""
