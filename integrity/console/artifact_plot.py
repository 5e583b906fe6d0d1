"""The decoder-artifact evidence as a picture: the residual spectrum the detector's artifact
features read, its strongest narrow peaks marked in kHz and the detector's comb spacing drawn.

What is computed is the detector's own reading, by its own functions: `prepare` cuts the track
as the analysis does, `segment_descriptors` gives the long-FFT power of every segment half,
`artifact_band` gives the residual of their average over the band the detector analyses and
the narrow peaks it counts there, and `artifact_features` reads the comb period. Only the
picture is drawn here, from NumPy alone like the spectrogram (`png_bytes`), with a small bitmap
font for the kHz labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from integrity.console.spectrogram import COLOUR_STOPS
from integrity.features import constants as c
from integrity.features.artifacts import ARTIFACT_FEATURES, artifact_band, artifact_features
from integrity.features.frames import segment_descriptors
from integrity.features.ops import get_ops
from integrity.features.prepare import prepare

PLOT_WIDTH_PX = 800
PLOT_HEIGHT_PX = 240
MARGIN_LEFT_PX = 34  # dB labels
MARGIN_RIGHT_PX = 8
MARGIN_TOP_PX = 40  # the row of peak labels above the plot
LABEL_TOP_PX = 4
LABEL_GAP_PX = 3
MARGIN_BOTTOM_PX = 32  # kHz ticks and labels
FONT_SCALE = 2  # each glyph pixel drawn as 2 × 2 image pixels (10 × 14 px characters)
DB_GRID_STEP = 6.0  # dB between horizontal grid lines
DB_FLOOR = -3.0  # bottom of the plot (the residual sits at or just above 0 dB)
DB_MIN_TOP = 12.0  # top of the plot at least this (a smooth residual stays small)
KHZ_TICKS_WITHIN = 10.0  # band up to this many kHz: a tick every kHz, else every 2 kHz
COMB_DASH_PX = (4, 4)  # comb lines: drawn / gap pixels
COMB_DRAWN_MAX = 120  # a finer comb than this many lines inside the band is not drawn
PEAKS_MARKED = c.TOP_PEAKS  # the strongest narrow peaks marked (the detector's top-peak count)

BACKGROUND = np.array([255, 255, 255], dtype=np.uint8)
GRID = np.array([228, 231, 235], dtype=np.uint8)
AXIS = np.array([87, 96, 106], dtype=np.uint8)
TRACE = COLOUR_STOPS[1].astype(np.uint8)  # the spectrogram's dark blue
PEAK = np.array([217, 72, 15], dtype=np.uint8)  # the console's --span orange
COMB = np.array([132, 94, 247], dtype=np.uint8)  # violet: not confusable with the peaks

# 5 × 7 glyphs, one string per row ('#' = ink).
GLYPHS: dict[str, tuple[str, ...]] = {
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("####.", "....#", "....#", ".###.", "....#", "....#", "####."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": (".###.", "#....", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "....#", ".###."),
    ".": (".....", ".....", ".....", ".....", ".....", ".##..", ".##.."),
    "-": (".....", ".....", ".....", ".###.", ".....", ".....", "....."),
    " ": (".....",) * 7,
    "k": ("#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."),
    "H": ("#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "z": (".....", ".....", "#####", "...#.", "..#..", ".#...", "#####"),
    "d": ("....#", "....#", ".####", "#...#", "#...#", "#...#", ".####"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
}
GLYPH_W, GLYPH_H = 5, 7
CHAR_W_PX = (GLYPH_W + 1) * FONT_SCALE
CHAR_H_PX = GLYPH_H * FONT_SCALE


@dataclass(frozen=True)
class ArtifactResidual:
    """The detector's residual over the band it analyses, and what it found there."""

    freqs_hz: np.ndarray  # bin centres of the analysed band
    residual_db: np.ndarray  # spectrum minus its lower envelope, same length
    peaks_hz: tuple[float, ...]  # the strongest narrow peaks, strongest first
    peaks_db: tuple[float, ...]  # their prominence
    comb_period_hz: float  # the detector's comb spacing (NaN: none measured)


def artifact_residual(samples: np.ndarray, sample_rate: int) -> ArtifactResidual | None:
    """The residual the artifact features read; None when nothing is audible or the file is
    band-limited below what the detector analyses (it reads no artifacts there either)."""
    prep = prepare(samples, sample_rate)
    if prep is None:
        return None
    _, _, long_power = segment_descriptors(get_ops("numpy"), prep.segments, prep.full_band)
    spectra = long_power.reshape(-1, long_power.shape[-1])
    found = artifact_band(spectra)
    if not found.analysed:
        return None
    values = dict(zip(ARTIFACT_FEATURES, artifact_features(spectra, found), strict=True))
    period_hz = values["art.comb_period_hz"]
    if not math.isfinite(period_hz):
        return None
    order, freqs_hz = found.strongest(PEAKS_MARKED), found.freqs_hz
    return ArtifactResidual(
        freqs_hz=freqs_hz,
        residual_db=found.band_db,
        peaks_hz=tuple(float(freqs_hz[found.peaks[i]]) for i in order),
        peaks_db=tuple(float(found.prominences[i]) for i in order),
        comb_period_hz=float(period_hz),
    )


def khz_label(hz: float) -> str:
    return f"{hz / 1000.0:.2f}"


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.pixels = np.empty((height, width, 3), dtype=np.uint8)
        self.pixels[:] = BACKGROUND
        self.width, self.height = width, height

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: np.ndarray) -> None:
        """Fill [x0, x1) × [y0, y1), clipped to the image."""
        x0, x1 = max(0, x0), min(self.width, x1)
        y0, y1 = max(0, y0), min(self.height, y1)
        if x0 < x1 and y0 < y1:
            self.pixels[y0:y1, x0:x1] = colour

    def text(self, x: int, y: int, words: str, colour: np.ndarray) -> None:
        """`words` with its top-left corner at (x, y)."""
        for n, char in enumerate(words):
            for row, line in enumerate(GLYPHS[char]):
                for col, ink in enumerate(line):
                    if ink == "#":
                        px = x + n * CHAR_W_PX + col * FONT_SCALE
                        py = y + row * FONT_SCALE
                        self.rect(px, py, px + FONT_SCALE, py + FONT_SCALE, colour)


def artifact_image(found: ArtifactResidual, *, draw_comb: bool) -> np.ndarray:
    """Height × width × 3 uint8: frequency left to right over the analysed band, residual dB
    bottom to top, the strongest narrow peaks marked orange with their kHz; with `draw_comb`,
    the multiples of the detector's comb spacing as dashed violet lines."""
    canvas = _Canvas(PLOT_WIDTH_PX, PLOT_HEIGHT_PX)
    left, right = MARGIN_LEFT_PX, PLOT_WIDTH_PX - MARGIN_RIGHT_PX
    top, bottom = MARGIN_TOP_PX, PLOT_HEIGHT_PX - MARGIN_BOTTOM_PX
    f_lo, f_hi = float(found.freqs_hz[0]), float(found.freqs_hz[-1])
    db_top = max(
        DB_MIN_TOP, DB_GRID_STEP * math.ceil(float(found.residual_db.max()) / DB_GRID_STEP)
    )

    def x_of(hz: float) -> int:
        return left + round((hz - f_lo) / (f_hi - f_lo) * (right - left - 1))

    def y_of(db: float) -> int:
        share = (min(max(db, DB_FLOOR), db_top) - DB_FLOOR) / (db_top - DB_FLOOR)
        return bottom - 1 - round(share * (bottom - top - 1))

    for db in np.arange(0.0, db_top + 1e-9, DB_GRID_STEP):
        canvas.rect(left, y_of(db), right, y_of(db) + 1, GRID)
        label = f"{db:.0f}"
        canvas.text(left - 4 - len(label) * CHAR_W_PX, y_of(db) - CHAR_H_PX // 2, label, AXIS)
    canvas.text(2, LABEL_TOP_PX, "dB", AXIS)
    step_khz = 1.0 if (f_hi - f_lo) / 1000.0 <= KHZ_TICKS_WITHIN else 2.0
    for khz in np.arange(math.ceil(f_lo / 1000.0 / step_khz) * step_khz, f_hi / 1000.0, step_khz):
        x = x_of(khz * 1000.0)
        canvas.rect(x, top, x + 1, bottom, GRID)
        canvas.rect(x, bottom, x + 1, bottom + 5, AXIS)
        label = f"{khz:.0f}"
        canvas.text(x - len(label) * CHAR_W_PX // 2, bottom + 8, label, AXIS)
    canvas.text(right - 3 * CHAR_W_PX, bottom + 8 + CHAR_H_PX // 2, "kHz", AXIS)

    period = found.comb_period_hz
    multiples = np.arange(math.ceil(f_lo / period), math.floor(f_hi / period) + 1) * period
    if draw_comb and 0 < multiples.size <= COMB_DRAWN_MAX:
        drawn, gap = COMB_DASH_PX
        for hz in multiples:
            x = x_of(float(hz))
            for y in range(top, bottom, drawn + gap):
                canvas.rect(x, y, x + 1, min(y + drawn, bottom), COMB)

    # The residual: per pixel column, the span from its lowest to its highest bin (so a line one
    # bin wide still shows at full height), joined to the column before.
    columns = np.clip(
        ((found.freqs_hz - f_lo) / (f_hi - f_lo) * (right - left - 1)).astype(np.int64),
        0,
        right - left - 1,
    )
    previous: int | None = None
    for col in range(right - left):
        values = found.residual_db[columns == col]
        if values.size == 0:
            continue
        y_high, y_low = y_of(float(values.max())), y_of(float(values.min()))
        if previous is not None:
            y_high, y_low = min(y_high, previous), max(y_low, previous)
        canvas.rect(left + col, y_high, left + col + 1, y_low + 1, TRACE)
        previous = y_of(float(values[-1]))

    canvas.rect(left, bottom, right, bottom + 1, AXIS)
    canvas.rect(left, top, left + 1, bottom, AXIS)

    # Labels in one row above the plot, in frequency order, pushed apart where peaks crowd
    # (low notes sit a few pixels apart), each joined to its peak by a dotted leader.
    marks = sorted(
        (x_of(hz), y_of(float(found.residual_db[np.argmin(np.abs(found.freqs_hz - hz))])), hz)
        for hz in found.peaks_hz
    )
    widths = [len(khz_label(hz)) * CHAR_W_PX for _, _, hz in marks]
    spacing = 2 * LABEL_GAP_PX
    starts: list[int] = []
    for (x, _, _), width in zip(marks, widths, strict=True):
        wanted = min(max(x - width // 2, left + 2), right - width)
        starts.append(
            max(wanted, starts[-1] + widths[len(starts) - 1] + spacing) if starts else wanted
        )
    limit = right
    for i in reversed(range(len(starts))):  # pushed past the right edge: slide back left
        starts[i] = min(starts[i], limit - widths[i])
        limit = starts[i] - spacing
    for (x, peak_y, hz), x0, width in zip(marks, starts, widths, strict=True):
        for dx in range(-3, 4):  # a small triangle just above the peak
            canvas.rect(x + dx, peak_y - 7 + abs(dx), x + dx + 1, peak_y - 3, PEAK)
        canvas.text(x0, LABEL_TOP_PX, khz_label(hz), PEAK)
        x_from, y_from = x0 + width // 2, LABEL_TOP_PX + CHAR_H_PX + 2
        steps = max(1, (peak_y - 8 - y_from) // 3)
        for k in range(steps + 1):  # dotted leader from the label to the peak
            canvas.rect(
                round(x_from + (x - x_from) * k / steps),
                round(y_from + (peak_y - 8 - y_from) * k / steps),
                round(x_from + (x - x_from) * k / steps) + 1,
                round(y_from + (peak_y - 8 - y_from) * k / steps) + 1,
                PEAK,
            )
    return canvas.pixels
