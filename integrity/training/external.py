"""Scoring material the project did not make: the AI development set and real CC recordings.

Why: a detector that is only measured on its own corpus learns that corpus (issue 12). The
development set (`../shared/audio/ai-devset`: real generator output from papers' demo pages,
with matching real recordings) and the 14 real recordings of `../shared/audio/librosa-data` are
evaluation only: nothing here fits a model, a threshold or a calibration, and nothing is copied
into the project; feature vectors are cached outside the repository, beside the corpus.

Every development-set file is decoded to the same format (mono, DEVSET_RATE_HZ) before scoring,
so that a page's real and generated files cannot be told apart by their sample rate or codec.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from integrity.detection.registry import LoadedModel
from integrity.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION, extract_features
from integrity.training.metrics import auc

DEVSET_RATE_HZ = 16_000  # the lowest rate in the development set: every file is decoded to it
# Components our own training generators share with development-set systems: rows naming one
# of them are left out of the strict measure (transfer to mechanisms never trained on).
TRAINED_COMPONENTS = ("hifi-gan", "griffin-lim", "vits", "world")
MIN_CLASS_FILES = 3  # a family needs this many real and generated files for an AUC


@dataclass(frozen=True)
class DevFile:
    """One development-set row (MANIFEST.tsv)."""

    path: Path
    label: int
    family: str
    generator: str
    components: str


def read_devset(root: Path) -> list[DevFile]:
    """The manifest's rows whose files exist; a malformed manifest names its line."""
    manifest = root / "MANIFEST.tsv"
    rows: list[DevFile] = []
    with manifest.open(newline="") as fh:
        for line_no, row in enumerate(csv.DictReader(fh, delimiter="\t"), start=2):
            try:
                label = {"real": 0, "fake": 1}[row["label"]]
                path = root / row["file"]
            except KeyError as exc:
                raise ValueError(f"{manifest}:{line_no}: bad or missing field {exc}") from exc
            if path.is_file():
                rows.append(
                    DevFile(path, label, row["family"], row["generator"], row["contains_component"])
                )
    return rows


def _features_of(path: str, rate: int | None) -> np.ndarray:
    """Features of one untrusted file, decoded in the sandbox (NaN row if undecodable)."""
    from integrity.audio import AudioDecodeError, decode_file

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        audio = decode_file(Path(path), sample_rate=rate)
    except AudioDecodeError:
        return np.full(len(FEATURE_NAMES), np.nan, dtype=np.float32)
    return extract_features(audio.samples, audio.sample_rate).values


def cached_features(
    paths: list[Path],
    rate: int | None,
    cache_file: Path,
    workers: int,
    on_done: Callable[[], None] | None = None,
) -> np.ndarray:
    """Feature rows for `paths` (decoded at `rate`, None = native), cached in `cache_file`."""

    def key(p: Path) -> str:
        st = p.stat()
        ident = f"{p.resolve()}|{st.st_size}|{int(st.st_mtime)}|{rate}|{FEATURE_SCHEMA_VERSION}"
        return hashlib.sha256(ident.encode()).hexdigest()[:20]

    keys = [key(p) for p in paths]
    known: dict[str, np.ndarray] = {}
    if cache_file.is_file():
        stored = np.load(cache_file, allow_pickle=False)
        known = dict(zip([str(k) for k in stored["keys"]], stored["X"], strict=True))
    todo = [i for i, k in enumerate(keys) if k not in known]
    if todo:
        with ProcessPoolExecutor(max(1, workers), mp_context=get_context("fork")) as pool:
            futures = {pool.submit(_features_of, str(paths[i]), rate): i for i in todo}
            for future in as_completed(futures):
                known[keys[futures[future]]] = future.result()
                if on_done:
                    on_done()
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(list(known)), X=np.stack(list(known.values())))
        tmp.replace(cache_file)
    return np.stack([known[k] for k in keys])


def _columns(model: LoadedModel) -> list[int]:
    index = {n: i for i, n in enumerate(FEATURE_NAMES)}
    return [index[f] for f in model.features]


def _family_row(
    rows: list[DevFile], scores: np.ndarray, threshold: float, keep: np.ndarray
) -> dict[str, Any]:
    y = np.array([r.label for r in rows])[keep]
    s = scores[keep]
    enough = min(int(np.sum(y == 0)), int(np.sum(y == 1))) >= MIN_CLASS_FILES
    return {
        "real": int(np.sum(y == 0)),
        "fake": int(np.sum(y == 1)),
        "auc": auc(y, s) if enough else float("nan"),
        "tpr_at_op": float(np.mean(s[y == 1] >= threshold)) if np.any(y == 1) else float("nan"),
        "fpr_at_op": float(np.mean(s[y == 0] >= threshold)) if np.any(y == 0) else float("nan"),
    }


def evaluate_devset(
    root: Path,
    model: LoadedModel,
    cache_dir: Path,
    workers: int,
    on_done: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """AUC per family and TPR at the review threshold, all rows and strict (rows whose
    components our training generators share left out); also per generator."""
    rows = read_devset(root)
    x_all = cached_features(
        [r.path for r in rows], DEVSET_RATE_HZ, cache_dir / "devset_features.npz", workers, on_done
    )
    scores = model.score_matrix(x_all[:, _columns(model)].astype(np.float64))
    threshold = model.operating_points.review
    families = sorted({r.family for r in rows})
    fam = np.array([r.family for r in rows])
    shared = np.array(
        [any(c in r.components.lower() for c in TRAINED_COMPONENTS) for r in rows], dtype=bool
    )
    out: dict[str, Any] = {"threshold": threshold, "per_family": {}, "strict": {}, "per_gen": {}}
    for f in families:
        out["per_family"][f] = _family_row(rows, scores, threshold, fam == f)
        out["strict"][f] = _family_row(rows, scores, threshold, (fam == f) & ~shared)
    gens = np.array([r.generator for r in rows])
    labels = np.array([r.label for r in rows])
    for g in sorted({r.generator for r in rows if r.label == 1}):
        f = rows[int(np.nonzero(gens == g)[0][0])].family
        keep = (fam == f) & ((gens == g) | (labels == 0))
        out["per_gen"][f"{f} / {g}"] = _family_row(rows, scores, threshold, keep)
    aucs = [v["auc"] for v in out["per_family"].values() if np.isfinite(v["auc"])]
    out["mean_auc"] = float(np.mean(aucs)) if aucs else float("nan")
    out["min_auc"] = float(np.min(aucs)) if aucs else float("nan")
    return out


def evaluate_recordings(
    root: Path, models: dict[str, LoadedModel], cache_dir: Path, workers: int
) -> dict[str, Any]:
    """Each model's score on every real recording under `root` (decoded at its native rate,
    as `integrity analyze` does) and how many reach the model's review threshold."""
    paths = sorted(p for p in root.iterdir() if p.suffix.lower() in (".ogg", ".wav", ".flac"))
    x_all = cached_features(paths, None, cache_dir / "recordings_features.npz", workers)
    files: dict[str, dict[str, float]] = {p.name: {} for p in paths}
    flagged: dict[str, int] = {}
    for name, model in models.items():
        scores = model.score_matrix(x_all[:, _columns(model)].astype(np.float64))
        flagged[name] = int(np.sum(scores >= model.operating_points.review))
        for p, s in zip(paths, scores, strict=True):
            files[p.name][name] = float(s)
    either = sum(
        1
        for p in paths
        if any(files[p.name][n] >= m.operating_points.review for n, m in models.items())
    )
    return {"n": len(paths), "flagged": flagged, "flagged_by_either": either, "files": files}
