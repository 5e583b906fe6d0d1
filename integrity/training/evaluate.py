"""`integrity train evaluate`: the honest report (Markdown + PNG plots) beside each model.

Everything is measured on the test fold (sources never seen in training or calibration):
AUC, EER, TPR at 1 % FPR with bootstrap confidence intervals over sources, per-family results,
evaluation-only families (festival singing, Kokoro), leave-one-generator-family-out retraining, and
robustness of the shipped model when the test clips are re-encoded (MP3 128k, AAC 96k,
Opus 64k), pitch-shifted (+-50 cents) or time-stretched (+-5 % tempo). The goal table of
issue 4 is computed here and printed, never asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from integrity.corpus import default_cache_dir
from integrity.detection.registry import LoadedModel, load_model
from integrity.features import FEATURE_NAMES, extract_features
from integrity.training import constants as t
from integrity.training.chain import apply_chain, draw_chain, encode_decode
from integrity.training.dataset import (
    EVALUATION_ONLY_FAMILIES,
    load_sources,
    manifest_hash,
    to_work_rate,
)
from integrity.training.external import evaluate_devset, evaluate_recordings
from integrity.training.fit import (
    MUSIC_KINDS,
    Split,
    operating_points,
    task_split,
    train_booster,
)
from integrity.training.generators import CONTENT_FAMILIES
from integrity.training.metrics import auc, bootstrap_ci, clopper_pearson, eer, tpr_at_fpr

# name -> (kind, argument): codec re-encodes, rubberband pitch (semitones) / tempo (factor)
TRANSFORMS: dict[str, tuple[str, Any]] = {
    "mp3_128k": ("codec", ("libmp3lame", 128)),
    "aac_96k": ("codec", ("aac", 96)),
    "opus_64k": ("codec", ("libopus", 64)),
    "pitch_+50c": ("pitch", 0.5),
    "pitch_-50c": ("pitch", -0.5),
    "tempo_+5%": ("tempo", 1.05),
    "tempo_-5%": ("tempo", 0.95),
}
CODEC_TRANSFORMS = ("mp3_128k", "aac_96k", "opus_64k")
# Whole-song check: families fast enough on complete tracks, and how many tracks at most.
WHOLE_SONG_FAMILIES = ("real", "tconv", "vocoder")
WHOLE_SONG_MAX = 10
WHOLE_SONG_SEED = 7
SHIFT_TRANSFORMS = ("pitch_+50c", "pitch_-50c", "tempo_+5%", "tempo_-5%")
PLOT_DPI = 80
PLOT_SIZE_IN = (4.5, 3.5)


def _transform(x: np.ndarray, rate: int, name: str) -> np.ndarray:
    kind, arg = TRANSFORMS[name]
    if kind == "codec":
        encoder, bitrate = arg
        return encode_decode(x, rate, encoder, bitrate, rate)
    flag = "-p" if kind == "pitch" else "-T"
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        sf.write(str(src), x, rate, subtype="FLOAT")
        subprocess.run(
            ["rubberband", "-q", flag, str(arg), str(src), str(dst)],
            check=True,
            capture_output=True,
            timeout=t.FFMPEG_TIMEOUT_S,
        )
        y, _ = sf.read(str(dst), dtype="float32", always_2d=False)
    return np.asarray(y, dtype=np.float32)


def transformed_features(path: str) -> tuple[dict[str, np.ndarray], float, float]:
    """Features of one clip under every transform; also (audio seconds, CPU seconds) of the
    feature extraction alone, for the speed row of the goal table."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    x, rate = sf.read(path, dtype="float32", always_2d=False)
    out: dict[str, np.ndarray] = {}
    audio_s = cpu_s = 0.0
    for name in TRANSFORMS:
        try:
            y = _transform(x, rate, name)
        except (subprocess.SubprocessError, OSError):
            continue
        start = time.process_time()
        out[name] = extract_features(y, rate).values
        cpu_s += time.process_time() - start
        audio_s += y.size / rate
    return out, audio_s, cpu_s


def _summary(labels: np.ndarray, scores: np.ndarray, groups: list[str]) -> dict[str, Any]:
    return {
        "n": int(labels.size),
        "positives": int(labels.sum()),
        "auc": auc(labels, scores),
        "auc_ci": bootstrap_ci(auc, labels, scores, groups),
        "eer": eer(labels, scores),
        "eer_ci": bootstrap_ci(eer, labels, scores, groups),
        "tpr_at_1pct_fpr": tpr_at_fpr(labels, scores, 0.01),
        "tpr_at_1pct_fpr_ci": bootstrap_ci(
            lambda y, s: tpr_at_fpr(y, s, 0.01), labels, scores, groups
        ),
    }


def _subset(split: Split, keep: Callable[[dict[str, Any]], bool]) -> np.ndarray:
    return np.array([keep(r) for r in split.records], dtype=bool)


def _family_in(*families: str) -> Callable[[dict[str, Any]], bool]:
    """Keeps the records of these families (a closure per family, bound now, not at call)."""
    return lambda record: record["family"] in families


def _family_not(family: str) -> Callable[[dict[str, Any]], bool]:
    return lambda record: record["family"] != family


def _family_outside(*families: str) -> Callable[[dict[str, Any]], bool]:
    return lambda record: record["family"] not in families


def _plots(out: Path, curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> list[str]:
    """ROC, PR and score histograms as small PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    written = []
    fig, ax = plt.subplots(figsize=PLOT_SIZE_IN)
    for label, (y, s) in curves.items():
        if len(np.unique(y)) == 2:
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, label=f"{label} (AUC {auc(y, s):.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title=f"{title}: ROC")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "roc.png", dpi=PLOT_DPI)
    written.append("roc.png")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=PLOT_SIZE_IN)
    for label, (y, s) in curves.items():
        if len(np.unique(y)) == 2:
            precision, recall, _ = precision_recall_curve(y, s)
            ax.plot(recall, precision, label=label)
    ax.set(xlabel="recall", ylabel="precision", title=f"{title}: precision-recall")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "pr.png", dpi=PLOT_DPI)
    written.append("pr.png")
    plt.close(fig)
    y, s = next(iter(curves.values()))
    fig, ax = plt.subplots(figsize=PLOT_SIZE_IN)
    bins = np.linspace(0, 1, 41).tolist()
    ax.hist(s[y == 0], bins=bins, alpha=0.6, label="negative (real / not spam)")
    ax.hist(s[y == 1], bins=bins, alpha=0.6, label="positive")
    ax.set(xlabel="calibrated probability", ylabel="clips", title=f"{title}: scores", yscale="log")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "hist.png", dpi=PLOT_DPI)
    written.append("hist.png")
    plt.close(fig)
    return written


def _fmt(v: float) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.4f}"


def _fmt_ci(ci: tuple[float, float]) -> str:
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]"


def evaluate_synthetic(
    data_dir: Path,
    model: LoadedModel,
    *,
    robustness: bool,
    workers: int,
    on_plan: Callable[[int], None] | None,
    on_done: Callable[[], None] | None,
) -> dict[str, Any]:
    split, features = task_split("synthetic", data_dir, model.features)
    test = split.fold("test")
    probs = model.score_matrix(test.x)
    groups = np.array(test.groups())
    seen = _subset(test, lambda r: r["family"] not in EVALUATION_ONLY_FAMILIES)
    result: dict[str, Any] = {"seen": _summary(test.y[seen], probs[seen], list(groups[seen]))}
    families = sorted({r["family"] for r in test.records} - {"real"})
    result["per_family"] = {}
    for fam in families:
        mask = _subset(test, _family_in("real", fam))
        result["per_family"][fam] = _summary(test.y[mask], probs[mask], list(groups[mask]))
    real_music = _subset(test, lambda r: r["family"] == "real" and r["kind"] in MUSIC_KINDS)
    if "test" in model.meta.get("operating_point_folds", ()):
        result["real_music_fpr"] = cross_fitted_fpr(split, model)
    else:
        k = int(np.sum(probs[real_music] >= model.operating_points.review))
        n = int(real_music.sum())
        result["real_music_fpr"] = {
            "k": k,
            "n": n,
            "rate": k / n if n else float("nan"),
            "ci": clopper_pearson(k, n),
            "how": "test packages at the shipped review threshold",
        }
    real_all = test.y == 0
    result["real_fpr_all"] = {
        "k": int(np.sum(probs[real_all] >= model.operating_points.review)),
        "n": int(real_all.sum()),
    }
    # Leave one generator family out: retrain without it, test on real vs that family.
    train = split.fold("train", exclude_families=EVALUATION_ONLY_FAMILIES)
    result["lofo"] = {}
    trained = sorted({r["family"] for r in train.records} - {"real"})
    held_sets: list[tuple[str, ...]] = [(fam,) for fam in trained]
    if {"piper", "hifigan"} <= set(trained):  # strict: piper's decoder is HiFi-GAN-like
        held_sets.append(("piper", "hifigan"))
    for held in held_sets:
        reduced = train.where(_family_outside(*held))
        booster = train_booster(reduced, features)
        mask = _subset(test, _family_in("real", *held))
        if len(np.unique(test.y[mask])) < 2:
            continue
        margins = np.asarray(booster.predict(test.x[mask], raw_score=True), dtype=np.float64)
        result["lofo"]["+".join(held)] = _summary(test.y[mask], margins, list(groups[mask]))
    curves = {
        "seen families": (test.y[seen], probs[seen]),
        **{
            f"held out: {fam}": (test.y[m], probs[m])
            for fam in EVALUATION_ONLY_FAMILIES
            if np.any(m := _subset(test, _family_in("real", fam)))
            and fam in families
        },
    }
    result["robustness"] = {}
    if robustness:
        result["robustness"], result["speed"], extra = _robustness(
            data_dir, test, probs, model, workers, on_plan, on_done
        )
        curves.update(extra)
        result["whole_songs"] = _whole_songs(test, model, workers)
    result["curves"] = curves
    return result


def cross_fitted_fpr(split: Split, model: LoadedModel) -> dict[str, Any]:
    """Real-music FPR of the calibration procedure when the shipped threshold was read from the
    threshold and test packages together: the threshold is re-read from one side's windows
    (same rule, same budget) and counted on the other side's, both ways, so no window is
    counted against a threshold fitted on it."""
    sides = {}
    for fold in ("threshold", "test"):
        part = split.fold(fold).where(
            lambda r: r["label"] == 0 and r["family"] in ("real", "clip:real")
            and r["kind"] in MUSIC_KINDS
        )
        sides[fold] = (model.score_matrix(part.x), part.records)
    budget = float(model.meta.get("operating_point_budget", t.FPR_UPPER_GOAL))
    k = n = 0
    for fold, other in (("threshold", "test"), ("test", "threshold")):
        if sides[other][0].size == 0 or sides[fold][0].size == 0:
            continue
        threshold = operating_points(sides[other][0], sides[other][1], budget)["review"]
        k += int(np.sum(sides[fold][0] >= threshold))
        n += int(sides[fold][0].size)
    return {
        "k": k,
        "n": n,
        "rate": k / n if n else float("nan"),
        "ci": clopper_pearson(k, n),
        "how": "2-fold cross-fit by package side (threshold packages <-> test packages)",
    }


def whole_song_features(rel_path: str, seed: int) -> list[tuple[str, np.ndarray]]:
    """A complete test-fold track and its synthetic twins (tconv, vocoder), each through its
    own draw of the shared chain, as feature vectors."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rng = np.random.default_rng([seed, WHOLE_SONG_SEED])
    cache = default_cache_dir()
    x = load_sources((rel_path,), cache)[: int(t.SPAM_NEGATIVE_MAX_S * t.WORK_RATE_HZ)]
    out = []
    for family in WHOLE_SONG_FAMILIES:
        if family == "real":
            audio = x
        else:
            g = CONTENT_FAMILIES[family](x, t.WORK_RATE_HZ, rng)
            audio = to_work_rate(g.samples, g.sample_rate)
        degraded, rate = apply_chain(audio, t.WORK_RATE_HZ, draw_chain(rng))
        out.append((family, extract_features(degraded, rate).values))
    return out


def _whole_songs(test: Split, model: LoadedModel, workers: int) -> dict[str, Any]:
    """TPR at 1 % FPR on complete tracks (the issue's 'whole AI-generated songs' row), for the
    families cheap enough to run on whole songs; real songs are the same tracks, untouched."""
    sources = sorted(
        {
            (r["sources"][0], r["seed"])
            for r in test.records
            if r["family"] == "real" and r["kind"].startswith("music") and r.get("audio")
        }
    )[:WHOLE_SONG_MAX]
    rows: list[tuple[str, np.ndarray]] = []
    with ProcessPoolExecutor(max(1, workers), mp_context=get_context("fork")) as pool:
        futures = [pool.submit(whole_song_features, path, seed) for path, seed in sources]
        for future in as_completed(futures):
            try:
                rows += future.result()
            except Exception:  # noqa: S112 - an undecodable source is skipped
                continue
    if not rows:
        return {}
    idx = {n: i for i, n in enumerate(FEATURE_NAMES)}
    cols = [idx[f] for f in model.features]
    x = np.stack([v[cols] for _, v in rows]).astype(np.float64)
    y = np.array([0 if fam == "real" else 1 for fam, _ in rows])
    p = model.score_matrix(x)
    groups = [str(i // len(WHOLE_SONG_FAMILIES)) for i in range(len(rows))]
    return _summary(y, p, groups)


def _robustness(
    data_dir: Path,
    test: Split,
    probs: np.ndarray,
    model: LoadedModel,
    workers: int,
    on_plan: Callable[[int], None] | None,
    on_done: Callable[[], None] | None,
) -> tuple[dict[str, Any], dict[str, float], dict[str, tuple[np.ndarray, np.ndarray]]]:
    rows = [
        i
        for i, r in enumerate(test.records)
        if r.get("audio") and r["family"] not in EVALUATION_ONLY_FAMILIES
    ]
    if on_plan:
        on_plan(len(rows))
    feats: dict[int, dict[str, np.ndarray]] = {}
    audio_s = cpu_s = 0.0
    paths = {i: str(data_dir / test.records[i]["audio"]) for i in rows}
    with ProcessPoolExecutor(max(1, workers), mp_context=get_context("fork")) as pool:
        futures = {pool.submit(transformed_features, paths[i]): i for i in rows}
        for future in as_completed(futures):
            feats[futures[future]], a, c = future.result()
            audio_s += a
            cpu_s += c
            if on_done:
                on_done()
    idx = {n: i for i, n in enumerate(FEATURE_NAMES)}
    cols = [idx[f] for f in model.features]
    y = test.y[rows]
    groups = [test.groups()[i] for i in rows]
    clean = probs[rows]
    out: dict[str, Any] = {"clean": _summary(y, clean, groups)}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in TRANSFORMS:
        have = [j for j, i in enumerate(rows) if name in feats[i]]
        if not have:
            continue
        x = np.stack([feats[rows[j]][name][cols] for j in have]).astype(np.float64)
        p = model.score_matrix(x)
        summary = _summary(y[have], p, [groups[j] for j in have])
        summary["clean_auc_same_clips"] = auc(y[have], clean[have])
        out[name] = summary
        curves[name] = (y[have], p)
    speed = {
        "audio_s": audio_s,
        "cpu_s": cpu_s,
        "realtime_factor": audio_s / cpu_s if cpu_s else float("nan"),
    }
    return out, speed, {k: v for k, v in curves.items() if k in ("mp3_128k", "pitch_+50c")}


def evaluate_spam(data_dir: Path, model: LoadedModel) -> dict[str, Any]:
    split, _features = task_split("spam", data_dir, model.features)
    test = split.fold("test")
    probs = model.score_matrix(test.x)
    result: dict[str, Any] = {"all": _summary(test.y, probs, test.groups())}
    result["per_kind"] = {}
    for fam in sorted({r["family"] for r in test.records}):
        mask = _subset(test, _family_in(fam))
        flagged = int(np.sum(probs[mask] >= model.operating_points.review))
        result["per_kind"][fam] = {"n": int(mask.sum()), "flagged": flagged}
    songs = _subset(test, lambda r: r["family"] == "clip:real" and r["kind"] in MUSIC_KINDS)
    k, n = int(np.sum(probs[songs] >= model.operating_points.review)), int(songs.sum())
    result["ordinary_songs"] = {"k": k, "n": n, "ci": clopper_pearson(k, n)}
    result["curves"] = {"spam vs not spam": (test.y, probs)}
    return result


def _fpr_met(fpr: dict[str, Any]) -> bool | None:
    """Issue 12's goal: rate <= 0.3 % with the upper 95 % bound <= 1 %, on >= 1,000 windows
    (None when too few windows were tested to show it)."""
    if fpr["n"] < t.FPR_MIN_WINDOWS:
        return None
    return bool(fpr["rate"] <= t.TARGET_FPR and fpr["ci"][1] <= t.FPR_UPPER_GOAL)


def goal_rows(
    syn: dict[str, Any],
    devset: dict[str, Any] | None = None,
    recordings: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Issue 12's goal and floor table, measured (printed, never asserted)."""
    rows: list[dict[str, Any]] = []
    held = {f"lofo:{k}": v["auc"] for k, v in syn["lofo"].items()}
    held.update(
        {
            f"eval-only:{f}": syn["per_family"][f]["auc"]
            for f in EVALUATION_ONLY_FAMILIES
            if f in syn["per_family"]
        }
    )
    finite = {k: v for k, v in held.items() if np.isfinite(v)}
    if finite:
        worst = min(finite, key=lambda k: finite[k])
        rows.append(
            {
                "measure": "unseen generator families (leave-one-out, strict)",
                "goal": "AUC >= 0.95 each",
                "measured": f"mean AUC {np.mean(list(finite.values())):.4f}; worst "
                f"{worst} {finite[worst]:.4f}",
                "met": bool(min(finite.values()) >= t.LOFO_AUC_GOAL),
            }
        )
    if devset:
        per = {k: v for k, v in devset["per_family"].items() if np.isfinite(v["auc"])}
        listed = "; ".join(f"{k} {v['auc']:.3f}" for k, v in per.items())
        rows.append(
            {
                "measure": "development set, AUC per family",
                "goal": "AUC >= 0.90 each",
                "measured": listed,
                "met": bool(per) and min(v["auc"] for v in per.values()) >= t.DEVSET_AUC_GOAL,
            }
        )
        rows.append(
            {
                "measure": "development set floor (mean AUC / worst family)",
                "goal": "mean >= 0.75, none < 0.65",
                "measured": f"mean {devset['mean_auc']:.3f}, worst {devset['min_auc']:.3f}",
                "met": bool(
                    devset["mean_auc"] >= t.DEVSET_MEAN_FLOOR
                    and devset["min_auc"] >= t.DEVSET_MIN_FLOOR
                ),
            }
        )
        tpr = "; ".join(
            f"{k} {v['tpr_at_op']:.1%}" for k, v in devset["per_family"].items() if v["fake"]
        )
        rows.append(
            {
                "measure": "development set, TPR at the operating point",
                "goal": ">= 80% on whole AI songs",
                "measured": tpr,
                "met": bool(
                    devset["per_family"].get("music-ttm", {}).get("tpr_at_op", 0.0)
                    >= t.DEVSET_TPR_GOAL
                ),
            }
        )
    fpr = syn["real_music_fpr"]
    rows.append(
        {
            "measure": "real-music FPR at the operating point (packages never trained on)",
            "goal": "<= 0.3%, upper 95% bound <= 1%, >= 1,000 windows",
            "measured": f"{fpr['k']}/{fpr['n']} = {fpr['rate']:.2%} (95% CI "
            f"{fpr['ci'][0]:.2%}-{fpr['ci'][1]:.2%}; {fpr.get('how', 'test packages')})",
            "met": _fpr_met(fpr),
        }
    )
    if recordings:
        by = ", ".join(f"{k} {v}" for k, v in recordings["flagged"].items())
        rows.append(
            {
                "measure": "librosa-data real recordings flagged by either model",
                "goal": "0 of 14",
                "measured": f"{recordings['flagged_by_either']} of {recordings['n']} ({by})",
                "met": recordings["flagged_by_either"] == 0,
            }
        )
    rob = syn.get("robustness") or {}
    if rob:
        drops = {
            n: rob[n]["clean_auc_same_clips"] - rob[n]["auc"] for n in CODEC_TRANSFORMS if n in rob
        }
        if drops:
            worst = max(drops, key=lambda k: drops[k])
            rows.append(
                {
                    "measure": "after MP3 128k / AAC 96k / Opus 64k",
                    "goal": "AUC drop <= 0.01",
                    "measured": "; ".join(f"{k} {v:+.4f}" for k, v in drops.items())
                    + f" (worst {worst})",
                    "met": bool(max(drops.values()) <= 0.01),
                }
            )
        shifts = {n: rob[n]["auc"] for n in SHIFT_TRANSFORMS if n in rob}
        if shifts:
            rows.append(
                {
                    "measure": "after +-50 cents pitch, +-5% tempo",
                    "goal": "AUC >= 0.95",
                    "measured": "; ".join(f"{k} {v:.4f}" for k, v in shifts.items()),
                    "met": bool(min(shifts.values()) >= 0.95),
                }
            )
    speed = syn.get("speed")
    if speed:
        rows.append(
            {
                "measure": "feature extraction",
                "goal": ">= 100x realtime per core",
                "measured": f"{speed['realtime_factor']:.0f}x (CPU time, one core, 10-s "
                "clips incl. resampling; see benchmarks/feature_speed.py for full tracks)",
                "met": bool(speed["realtime_factor"] >= 100),
            }
        )
    return rows


def _devset_table(devset: dict[str, Any]) -> list[str]:
    lines = [
        f"Review threshold {devset['threshold']:.4f}. Strict: rows whose components our "
        "training generators share (HiFi-GAN, Griffin-Lim, VITS, WORLD) left out.",
        "",
        "| family | real | fake | AUC | TPR at op | FPR at op | strict fake | strict AUC |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for fam, v in devset["per_family"].items():
        st = devset["strict"][fam]
        lines.append(
            f"| {fam} | {v['real']} | {v['fake']} | {_fmt(v['auc'])} | {v['tpr_at_op']:.1%} | "
            f"{v['fpr_at_op']:.1%} | {st['fake']} | {_fmt(st['auc'])} |"
        )
    lines += ["", "| family / generator | fake | AUC vs the family's real | TPR at op |"]
    lines += ["|---|---|---|---|"]
    for gen_name, v in devset["per_gen"].items():
        lines.append(f"| {gen_name} | {v['fake']} | {_fmt(v['auc'])} | {v['tpr_at_op']:.1%} |")
    return lines


def _recordings_table(recordings: dict[str, Any], models: dict[str, LoadedModel]) -> list[str]:
    names = list(models)
    lines = [
        "| file | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for file, scores in recordings["files"].items():
        cells = []
        for n in names:
            flag = " **(review)**" if scores[n] >= models[n].operating_points.review else ""
            cells.append(f"{scores[n]:.3f}{flag}")
        lines.append(f"| {file} | " + " | ".join(cells) + " |")
    thresholds = ", ".join(f"{n} {m.operating_points.review:.4f}" for n, m in models.items())
    lines += ["", f"Review thresholds: {thresholds}."]
    return lines


def _summary_table(rows: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| set | n (pos) | AUC [95% CI] | EER [95% CI] | TPR@1%FPR [95% CI] |",
        "|---|---|---|---|---|",
    ]
    for name, s in rows.items():
        lines.append(
            f"| {name} | {s['n']} ({s['positives']}) | {_fmt(s['auc'])} {_fmt_ci(s['auc_ci'])} | "
            f"{_fmt(s['eer'])} {_fmt_ci(s['eer_ci'])} | {_fmt(s['tpr_at_1pct_fpr'])} "
            f"{_fmt_ci(s['tpr_at_1pct_fpr_ci'])} |"
        )
    return lines


def _goal_table(goals: list[dict[str, Any]]) -> list[str]:
    lines = ["| measure | goal | measured | met |", "|---|---|---|---|"]
    for g in goals:
        met = {True: "yes", False: "**no**", None: "n/a"}[g["met"]]
        lines.append(f"| {g['measure']} | {g['goal']} | {g['measured']} | {met} |")
    return lines


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items() if k != "curves"}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _write_metrics(path: Path, section: dict[str, Any]) -> None:
    metrics_path = path / "metrics.json"
    old = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    old["test"] = _jsonable(section)
    metrics_path.write_text(json.dumps(old, indent=2) + "\n")


def evaluate_all(
    data_dir: Path,
    models_dir: Path,
    version: str,
    *,
    robustness: bool = True,
    workers: int = 2,
    on_plan: Callable[[int], None] | None = None,
    on_done: Callable[[], None] | None = None,
    devset_dir: Path | None = None,
    recordings_dir: Path | None = None,
) -> dict[str, Any]:
    """Evaluate both models; write evaluation.md, PNGs and metrics.json; return the goals.

    devset_dir (the AI development set) and recordings_dir (real CC recordings) are scored
    when given: evaluation only, their features cached beside the corpus in data_dir.
    """
    syn_model = load_model("synthetic", version, root=models_dir)
    spam_model = load_model("spam", version, root=models_dir)
    syn = evaluate_synthetic(
        data_dir,
        syn_model,
        robustness=robustness,
        workers=workers,
        on_plan=on_plan,
        on_done=on_done,
    )
    devset = (
        evaluate_devset(devset_dir, syn_model, data_dir / "external", workers)
        if devset_dir
        else None
    )
    models = {"synthetic": syn_model, "spam": spam_model}
    recordings = (
        evaluate_recordings(recordings_dir, models, data_dir / "external", workers)
        if recordings_dir
        else None
    )
    goals = goal_rows(syn, devset, recordings)
    syn_plots = _plots(syn_model.path, syn["curves"], "synthetic")
    lines = [
        f"# Evaluation: `synthetic` {syn_model.version}",
        "",
        "Written by `integrity train evaluate` on the test fold of the corpus with manifest "
        f"sha256 `{manifest_hash(data_dir)}`. Intervals: 95 % bootstrap over "
        f"sources ({t.BOOTSTRAP_ROUNDS} rounds).",
        "",
        "## Goals of issue 12 (measured, not asserted)",
        *_goal_table(goals),
        "",
        "## Test fold",
        *_summary_table(
            {
                "seen families": syn["seen"],
                **{f"real vs {k}": v for k, v in syn["per_family"].items()},
            }
        ),
        "",
        "Evaluation-only families (never in train or calib): "
        f"{', '.join(EVALUATION_ONLY_FAMILIES)}.",
        "",
        "## Leave one generator family out (retrained without it; raw margins)",
        "Strict: `piper+hifigan` holds out both (piper's decoder is HiFi-GAN-like).",
        "",
        *_summary_table({f"without {k}": v for k, v in syn["lofo"].items()}),
        "",
    ]
    if devset:
        lines += [
            "## Development set (real generator output; evaluation only)",
            *_devset_table(devset),
            "",
        ]
    if recordings:
        lines += [
            "## Real recordings (librosa-data; evaluation only)",
            *_recordings_table(recordings, models),
            "",
        ]
    if syn.get("whole_songs"):
        lines += [
            "## Whole songs (complete test tracks and their tconv / vocoder twins)",
            *_summary_table({"whole songs": syn["whole_songs"]}),
            "",
        ]
    if syn.get("robustness"):
        lines += [
            "## Robustness (shipped model on transformed test clips)",
            *_summary_table(syn["robustness"]),
            "",
        ]
    fpr = syn["real_music_fpr"]
    lines += [
        "## Operating point",
        f"review threshold {syn_model.operating_points.review:.4f} (read from "
        f"{syn_model.operating_points.negatives} real windows of the calib packages at "
        f"{syn_model.operating_points.review_fpr:.1%} target): {fpr['k']}/{fpr['n']} real music "
        f"windows of the test packages reach it; all real test clips "
        f"{syn['real_fpr_all']['k']}/{syn['real_fpr_all']['n']}.",
        "",
        *[f"![{p}]({p})" for p in syn_plots],
        "",
    ]
    (syn_model.path / "evaluation.md").write_text("\n".join(lines))
    _write_metrics(syn_model.path, {**syn, "goals": goals})

    spam = evaluate_spam(data_dir, spam_model)
    spam_plots = _plots(spam_model.path, spam["curves"], "spam")
    kinds = ["| kind | clips | flagged at operating point |", "|---|---|---|"]
    kinds += [f"| {k} | {v['n']} | {v['flagged']} |" for k, v in spam["per_kind"].items()]
    spam_lines = [
        f"# Evaluation: `spam` {spam_model.version}",
        "",
        "Test fold of the same corpus; audio features only.",
        "",
        *_summary_table({"spam vs not spam": spam["all"]}),
        "",
        f"Ordinary songs of the test packages (windows and whole tracks) at or above the review "
        f"threshold {spam_model.operating_points.review:.4f}: {spam['ordinary_songs']['k']} of "
        f"{spam['ordinary_songs']['n']} (95% CI {spam['ordinary_songs']['ci'][0]:.2%}-"
        f"{spam['ordinary_songs']['ci'][1]:.2%}).",
        "",
        *kinds,
        "",
        *[f"![{p}]({p})" for p in spam_plots],
        "",
    ]
    (spam_model.path / "evaluation.md").write_text("\n".join(spam_lines))
    _write_metrics(spam_model.path, spam)
    return {
        "goals": goals,
        "reports": [str(syn_model.path / "evaluation.md"), str(spam_model.path / "evaluation.md")],
    }
