"""The golden files: a fixed short clip's feature vector and fingerprint, pinned per version.

    .venv/bin/python -m tests.golden.regenerate

writes tests/golden/features-<FEATURE_SCHEMA_VERSION>.npz and
tests/golden/fingerprint-v<FINGERPRINT_VERSION>.npz and removes the files of other versions.
Run it only after bumping the version the change of maths calls for (features: the schema
version; fingerprints: FINGERPRINT_VERSION); tests/unit/core/test_golden.py fails on a changed
output under an unchanged version.

The clip is the first GOLDEN_CLIP_S seconds of a committed example recording, read with
libsndfile (FLAC is lossless, so the samples are the same on every machine).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from integrity.features import FEATURE_SCHEMA_VERSION, extract_features
from integrity.fingerprint import FINGERPRINT_VERSION, extract

GOLDEN_DIR = Path(__file__).resolve().parent
REPO_ROOT = GOLDEN_DIR.parent.parent
CLIP = REPO_ROOT / "examples" / "deliveries" / "night-ferry-album" / "resources"
CLIP_FILE = CLIP / "01_harbour_lights.flac"
GOLDEN_CLIP_S = 8.0
"""Length of the pinned clip (s): enough for a full feature segment and a few hundred hashes."""


def clip() -> tuple[np.ndarray, int]:
    """Mono float32 samples of the pinned clip and their rate (Hz)."""
    samples, rate = sf.read(CLIP_FILE, dtype="float32", always_2d=True)
    mono = samples.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(mono[: int(GOLDEN_CLIP_S * rate)]), int(rate)


def features_file(version: str = FEATURE_SCHEMA_VERSION) -> Path:
    return GOLDEN_DIR / f"features-{version}.npz"


def fingerprint_file(version: int = FINGERPRINT_VERSION) -> Path:
    return GOLDEN_DIR / f"fingerprint-v{version}.npz"


def current_features() -> tuple[np.ndarray, np.ndarray]:
    """Feature names and float32 values of the clip, as the code computes them now."""
    vector = extract_features(*clip())
    return np.array(vector.names), np.asarray(vector.values, dtype=np.float32)


def current_fingerprint() -> np.ndarray:
    """The clip's hashes (a structured array), as the code computes them now."""
    return extract(*clip()).hashes


def main() -> None:
    for stale in [*GOLDEN_DIR.glob("features-*.npz"), *GOLDEN_DIR.glob("fingerprint-v*.npz")]:
        stale.unlink()
    names, values = current_features()
    np.savez_compressed(features_file(), names=names, values=values)
    np.savez_compressed(fingerprint_file(), hashes=current_fingerprint())
    for path in (features_file(), fingerprint_file()):
        print(f"wrote {path.relative_to(REPO_ROOT)} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
