"""A track's spectrogram as a small PNG, from NumPy alone (no plotting library at run time).

Why not matplotlib: it would become a run-time dependency of the API for one picture; a
log-magnitude STFT mapped through a five-stop colour ramp and written with zlib is all a
moderator needs to see silence, loops, band-limited decoder output or a noise bed.
"""

from __future__ import annotations

import itertools
import struct
import zlib

import numpy as np

SPECTROGRAM_RATE_HZ = 11025  # decode rate: shows up to 5.5 kHz, where music's structure is
FRAME_SAMPLES = 1024  # STFT window (93 ms at 11025 Hz)
IMAGE_WIDTH_PX = 800  # one column per slice of the track, whatever its length
IMAGE_HEIGHT_PX = 160
DYNAMIC_RANGE_DB = 80.0  # darkest colour this far below the loudest bin
PNG_COMPRESSION_LEVEL = 9
# A perceptually ordered dark-blue → yellow ramp (viridis' end points and three stops between).
COLOUR_STOPS = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64
)


def spectrogram_image(samples: np.ndarray) -> np.ndarray:
    """Height × width × 3 uint8 pixels: time left to right, frequency bottom to top."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size < FRAME_SAMPLES:
        x = np.pad(x, (0, FRAME_SAMPLES - x.size))
    starts = np.linspace(0, x.size - FRAME_SAMPLES, IMAGE_WIDTH_PX).astype(np.int64)
    frames = x[starts[:, None] + np.arange(FRAME_SAMPLES)[None, :]] * np.hanning(FRAME_SAMPLES)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # width × (FRAME_SAMPLES/2 + 1)
    bins = power.shape[1]
    edges = np.linspace(0, bins, IMAGE_HEIGHT_PX + 1).astype(np.int64)
    rows = np.stack(
        [power[:, lo : max(lo + 1, hi)].mean(axis=1) for lo, hi in itertools.pairwise(edges)],
        axis=0,
    )  # height × width, low frequencies first
    level = 10.0 * np.log10(rows + 1e-12)
    top = float(level.max())
    norm = np.clip((level - (top - DYNAMIC_RANGE_DB)) / DYNAMIC_RANGE_DB, 0.0, 1.0)[::-1]
    position = norm * (len(COLOUR_STOPS) - 1)
    low = np.floor(position).astype(np.int64).clip(0, len(COLOUR_STOPS) - 2)
    frac = (position - low)[..., None]
    pixels = COLOUR_STOPS[low] * (1.0 - frac) + COLOUR_STOPS[low + 1] * frac
    return np.ascontiguousarray(pixels.round().astype(np.uint8))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(pixels: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of `pixels` (height × width × 3 uint8)."""
    height, width, channels = pixels.shape
    if channels != 3 or pixels.dtype != np.uint8:
        raise ValueError("png_bytes: expected height × width × 3 uint8 pixels")
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))  # filter 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit truecolour
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, PNG_COMPRESSION_LEVEL))
        + _chunk(b"IEND", b"")
    )
