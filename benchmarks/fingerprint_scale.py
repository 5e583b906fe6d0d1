"""A 100,000-track synthetic index: query latency, whole-track check latency, size, RAM.

    nice .venv/bin/python benchmarks/fingerprint_scale.py [--tracks 100000] [--compare-backends]

No audio is generated: each synthetic track draws its hash records (time ratio, frequency
differences, span, anchor band: the key statistics, hot keys included) from a pool of real core
hashes extracted from the corpus, at the measured rate of core hashes per second, with random
anchor times over a duration drawn around 3.6 min (100k tracks ≈ 6,000 h). The real pool tracks
are indexed as well, and the queries are real: 10-s excerpts of them (clean and distorted, from
the robustness cache when present) and their whole fingerprints for the duplicate check.

--compare-backends builds the same smaller index (default 2,000 tracks) as the segment file,
as LMDB (one value per key holding that key's postings) and as SQLite (a row per posting,
indexed by key), and times the raw key-range lookups of the same queries on each.

--shards builds the same synthetic index (default 1,000 tracks and 50 queries: minutes on 2
cores, most of it loading postings through postgres_fdw) in PostgreSQL three ways: one plain
table on the main server, one postgres_fdw shard, and three shards (the main server and two
more), and prints the 10-s query latency of each against the one-shard layout, with the tracks
and postings each shard holds. The two extra servers are throwaway clusters it starts itself
(initdb on free ports, as the tests do) unless --shard-urls names two; the main server is
--postgres-url (a database is created there for the run and dropped afterwards).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # tests.pg_cluster

import itertools

from _fp_common import BENCH_CACHE, corpus_tracks, decode, machine, print_table

from integrity.fingerprint import FINGERPRINT_SAMPLE_RATE, Fingerprint, extract
from integrity.fingerprint import constants as fc
from integrity.fingerprint.embedded import EmbeddedIndex, postings_for
from integrity.fingerprint.keys import query_ranges

POOL_TRACKS = 20
MEAN_TRACK_S = 216.0  # 6,000 h / 100,000 tracks
TRACK_S_SIGMA = 0.35  # lognormal spread of durations
BATCH_TRACKS = 5_000
JITTER_DF_UNITS = 6  # quarter bins
JITTER_RATIO_UNITS = 12  # 1/256
JITTER_F_UNITS = 8  # half bins
JITTER_LOG_SPAN = 0.25  # natural log
QUERY_S = 10.0
DISTORTED_QUERIES = 100  # cached distorted queries of the indexed real tracks (count)
GOALS = {"query_p50": 50.0, "query_p99": 250.0, "whole_p50": 300.0}  # ms


def rss_mb() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def real_pool() -> tuple[list[tuple[str, np.ndarray, Fingerprint]], np.ndarray, float]:
    """Real tracks (id, samples, fingerprint), their pooled core hashes, core hashes per s."""
    members, _ = corpus_tracks()
    chosen = members[:: max(1, len(members) // POOL_TRACKS)][:POOL_TRACKS]
    real = []
    for t in chosen:
        x = decode(t.path, FINGERPRINT_SAMPLE_RATE)
        real.append((t.track_id, x, extract(x, FINGERPRINT_SAMPLE_RATE)))
    pool = np.concatenate([fp.core() for _, _, fp in real])
    seconds = sum(x.size for _, x, _ in real) / FINGERPRINT_SAMPLE_RATE
    return real, pool, pool.shape[0] / seconds


def synthetic_batch(
    rng: np.random.Generator, pool: np.ndarray, rate: float, n_tracks: int
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """Postings of n_tracks synthetic tracks (track field 0..n_tracks-1) and their durations."""
    durations = MEAN_TRACK_S * rng.lognormal(-(TRACK_S_SIGMA**2) / 2, TRACK_S_SIGMA, n_tracks)
    counts = (rate * durations).astype(np.int64)
    owner = np.repeat(np.arange(n_tracks), counts)
    n = owner.size
    hashes = pool[rng.integers(0, pool.shape[0], n)].copy()
    # Jitter every component a little: a catalog is far more varied than the pool's 20 tracks,
    # and copying pool records exactly would pile all postings onto the pool's few keys.
    for name, lo, hi, width in (
        ("d12", -127, 127, JITTER_DF_UNITS),
        ("d13", -127, 127, JITTER_DF_UNITS),
        ("ratio", 0, 255, JITTER_RATIO_UNITS),
        ("f", 0, 199, JITTER_F_UNITS),
    ):
        moved = hashes[name].astype(np.int64) + rng.integers(-width, width + 1, n)
        hashes[name] = np.clip(moved, lo, hi)
    span = hashes["span"] * np.exp(rng.uniform(-JITTER_LOG_SPAN, JITTER_LOG_SPAN, n))
    hashes["span"] = np.clip(np.round(span), 1, 255)
    units = fc.TIME_UNITS_PER_FRAME / fc.FRAME_S
    hashes["t"] = (rng.random(n) * durations[owner] * units).astype(np.uint32)
    keys, track_span, time_freq = postings_for(0, hashes)
    return (keys, track_span | owner.astype(np.uint32), time_freq), durations


def build_scale_index(
    path: Path, n_tracks: int, real: list, pool: np.ndarray, rate: float
) -> tuple[float, float]:
    """Build once (cached); returns (hours, build seconds)."""
    stamp = path.with_suffix(".hours")
    if path.exists() and stamp.exists():
        return float(stamp.read_text()), 0.0
    path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    rng = np.random.default_rng(20261124)
    index = EmbeddedIndex(path)
    seconds = 0.0
    for tid, x, fp in real:
        index.add(tid, fp)
        seconds += x.size / FINGERPRINT_SAMPLE_RATE
    done = 0
    while done < n_tracks - len(real):
        k = min(BATCH_TRACKS, n_tracks - len(real) - done)
        postings, durations = synthetic_batch(rng, pool, rate, k)
        index.add_postings(
            [f"synthetic-{done + i:06d}" for i in range(k)], durations.tolist(), postings
        )
        seconds += float(durations.sum())
        done += k
        index.flush()
        print(f"  {done + len(real)}/{n_tracks} tracks", file=sys.stderr)
    index.compact()
    index.close()
    path.with_name(path.name + ".lock").unlink(missing_ok=True)
    stamp.write_text(str(seconds / 3600))
    return seconds / 3600, time.perf_counter() - t0


def make_queries(real: list) -> list[tuple[str, str, Fingerprint]]:
    """(kind, true track id, fingerprint): 10-s excerpts of the real tracks at several offsets,
    plus the cached distorted queries of those same tracks (the robustness benchmark builds
    them; only queries of indexed tracks can be found, so only those are used)."""
    rng = np.random.default_rng(7)
    out = []
    for tid, x, _ in real:
        dur = x.size / FINGERPRINT_SAMPLE_RATE
        for start in rng.uniform(0, max(0.0, dur - QUERY_S), 5):
            a = int(start * FINGERPRINT_SAMPLE_RATE)
            fp = extract(x[a : a + int(QUERY_S * FINGERPRINT_SAMPLE_RATE)], 8000)
            out.append(("clean", tid, fp))
    indexed = {tid.replace("/", "__"): tid for tid, _, _ in real}
    distorted = sorted(
        p
        for p in (BENCH_CACHE / "queries").glob("*/*.*")
        if p.parent.name not in ("non_member", "trimmed_track") and p.stem in indexed
    )
    for p in distorted[:: max(1, len(distorted) // DISTORTED_QUERIES)][:DISTORTED_QUERIES]:
        fp = extract(decode(p, FINGERPRINT_SAMPLE_RATE), FINGERPRINT_SAMPLE_RATE)
        out.append((p.parent.name, indexed[p.stem], fp))
    return out


def timed(fn: Callable[[], object], runs: list[float]) -> object:
    t0 = time.perf_counter()
    result = fn()
    runs.append(1000 * (time.perf_counter() - t0))
    return result


def scale_run(n_tracks: int) -> dict[str, float]:
    """Build (or reuse) the n-track index, print its table; returns the figures for --growth."""
    real, pool, rate = real_pool()
    # Cached per fingerprint version: it is bumped whenever extraction or keys change.
    path = BENCH_CACHE / f"scale-{n_tracks}-v{fc.FINGERPRINT_VERSION}.fpi"
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"building {n_tracks} tracks at {rate:.1f} core hashes/s ...", file=sys.stderr)
    hours, build_s = build_scale_index(path, n_tracks, real, pool, rate)
    queries = make_queries(real)
    before = rss_mb()
    t0 = time.perf_counter()
    index = EmbeddedIndex(path, readonly=True)
    open_ms = 1000 * (time.perf_counter() - t0)
    first, warm, whole = [], [], []
    read, probed = [], []
    found = {"clean": [0, 0], "distorted": [0, 0]}
    for _, _, q in queries:
        timed(lambda q=q: index.query(q), first)
    for kind, truth, q in queries:
        matches = timed(lambda q=q: index.query(q, limit=1), warm)
        read.append(index.last_postings_read)
        probed.append(index.last_postings_probed)
        tally = found["clean" if kind == "clean" else "distorted"]
        tally[0] += bool(matches) and matches[0].track_id == truth  # type: ignore[index]
        tally[1] += 1
    whole_ok = 0
    for tid, _, fp in real:
        m = timed(lambda fp=fp, tid=tid: index.check_duplicates(fp, exclude=[]), whole)
        whole_ok += bool(m) and m[0].track_id == tid  # type: ignore[index]
    after = rss_mb()
    size = index.size_bytes
    rows = [
        ["tracks", f"{len(index):,}"],
        ["hours indexed", f"{hours:,.0f}"],
        ["index file", f"{size / 1e9:.2f} GB ({size / hours / 1e6:.3f} MB per hour)"],
        ["build time", f"{build_s / 60:.1f} min" if build_s else "cached"],
        ["open", f"{open_ms:.0f} ms"],
        [
            "10-s query p50 / p99 (first pass)",
            f"{np.median(first):.0f} / {np.percentile(first, 99):.0f} ms",
        ],
        [
            "10-s query p50 / p99 (warm)",
            f"{np.median(warm):.0f} / {np.percentile(warm, 99):.0f} ms",
        ],
        [
            "postings read per 10-s query p50 / p99 / max",
            f"{np.median(read):,.0f} / {np.percentile(read, 99):,.0f} / {max(read):,}",
        ],
        [
            f"postings in the probed key ranges p50 / max (read up to {fc.QUERY_HIT_BUDGET:,})",
            f"{np.median(probed):,.0f} / {max(probed):,}",
        ],
        [
            "10-s queries: right track first (clean; distorted)",
            f"{found['clean'][0]}/{found['clean'][1]}; "
            f"{found['distorted'][0]}/{found['distorted'][1]}",
        ],
        [
            "whole-track check p50 / p99",
            f"{np.median(whole):.0f} / "
            f"{np.percentile(whole, 99):.0f} ms ({whole_ok}/{len(real)} found)",
        ],
        [
            "RSS after queries (anon + file-backed)",
            f"{after['VmRSS']:.0f} MB "
            f"({after['RssAnon']:.0f} + {after['RssFile']:.0f}); before open {before['VmRSS']:.0f}",
        ],
    ]
    print(f"machine: {machine()}")
    print_table(["measure", "value"], rows)
    print()
    verdict = {
        "query_p50": np.median(warm),
        "query_p99": np.percentile(warm, 99),
        "whole_p50": np.median(whole),
    }
    for k, goal in GOALS.items():
        print(
            f"goal {k} ≤ {goal:.0f} ms: {'met' if verdict[k] <= goal else 'NOT met'} "
            f"({verdict[k]:.0f} ms)"
        )
    index.close()
    return {
        "tracks": float(n_tracks),
        "read_p50": float(np.median(read)),
        "read_p99": float(np.percentile(read, 99)),
        "read_max": float(max(read)),
        "probed_p50": float(np.median(probed)),
        "query_p50": float(np.median(warm)),
        "query_p99": float(np.percentile(warm, 99)),
        "clean": found["clean"][0] / max(1, found["clean"][1]),
    }


def postings_growth(sizes: list[int]) -> None:
    """Postings each 10-s query reads at each size, counted without building the index.

    Why this is exact: the index holds the synthetic postings generated from the same seed and
    batches as `build_scale_index`, so a histogram of their keys gives every probed range's
    posting count, and the embedded index's budget chooses the ranges from those counts alone
    (`rarest_within_budget`). PostgreSQL reads every posting in the probed ranges.
    """
    from integrity.fingerprint.embedded import rarest_within_budget
    from integrity.fingerprint.keys import KEY_BITS

    real, pool, rate = real_pool()
    queries = make_queries(real)
    probes = [query_ranges(q.hashes) for _, _, q in queries]
    rows = []
    ref: tuple[float, float] | None = None
    for n_tracks in sizes:
        rng = np.random.default_rng(20261124)  # the seed and batches of build_scale_index
        hist = np.zeros(1 << KEY_BITS, dtype=np.int64)
        for _, _, fp in real:
            hist += np.bincount(postings_for(0, fp.core())[0], minlength=hist.size)
        done = 0
        while done < n_tracks - len(real):
            k = min(BATCH_TRACKS, n_tracks - len(real) - done)
            (keys, _, _), _ = synthetic_batch(rng, pool, rate, k)
            hist += np.bincount(keys, minlength=hist.size)
            done += k
            print(f"  {n_tracks}: {done + len(real)} tracks counted", file=sys.stderr)
        cum = np.concatenate([[0], np.cumsum(hist)])
        probed, read = [], []
        for _, lo, hi, subs in probes:
            counts = cum[hi.astype(np.int64) + 1] - cum[lo.astype(np.int64)]
            probed.append(int(counts.sum()))
            read.append(int(counts[rarest_within_budget(counts, subs)].sum()))
        if ref is None:
            ref = (float(np.median(probed)), float(np.median(read)))
        print(
            f"  {n_tracks:,} tracks: probed p50 {np.median(probed):,.0f}, "
            f"read p50 / p99 / max {np.median(read):,.0f} / {np.percentile(read, 99):,.0f} / "
            f"{max(read):,}",
            file=sys.stderr,
            flush=True,
        )
        rows.append(
            [
                f"{n_tracks:,}",
                f"{int(hist.sum()):,}",
                f"{np.median(probed):,.0f} / {np.percentile(probed, 99):,.0f} / {max(probed):,}",
                f"{np.median(probed) / ref[0]:.2f}×",
                f"{np.median(read):,.0f} / {np.percentile(read, 99):,.0f} / {max(read):,}",
                f"{np.median(read) / ref[1]:.2f}×",
            ]
        )
    print(f"machine: {machine()}")
    print(
        f"{len(queries)} real 10-s queries; postings counted from the key histogram of the "
        f"same synthetic index (seed of the scale build); budget {fc.QUERY_HIT_BUDGET:,}"
    )
    print_table(
        [
            "tracks",
            "postings indexed",
            "in probed ranges p50 / p99 / max (PostgreSQL reads all)",
            "growth",
            "read by the embedded index p50 / p99 / max",
            "growth",
        ],
        rows,
    )
    print(
        f"goal postings read per 10-s query ≤ 50,000 at {sizes[-1]:,} tracks: "
        f"{'met' if np.percentile(read, 99) <= 50_000 else 'NOT met'} "
        f"(p99 {np.percentile(read, 99):,.0f})"
    )


def growth_run(sizes: list[int]) -> None:
    """Postings read and latency per 10-s query as the index grows (one table per size first)."""
    runs = []
    for n in sizes:
        runs.append(scale_run(n))
        print()
    ref = runs[0]
    rows = [
        [
            f"{int(r['tracks']):,}",
            f"{r['probed_p50']:,.0f}",
            f"{r['read_p50']:,.0f} / {r['read_p99']:,.0f} / {r['read_max']:,.0f}",
            f"{r['read_p50'] / ref['read_p50']:.2f}×",
            f"{r['query_p50']:.0f} / {r['query_p99']:.0f} ms",
            f"{r['query_p50'] / ref['query_p50']:.2f}×",
            f"{100 * r['clean']:.0f} %",
        ]
        for r in runs
    ]
    print(f"growth (ratios against {int(ref['tracks']):,} tracks, same run):")
    print_table(
        [
            "tracks",
            "postings probed p50",
            "postings read p50 / p99 / max",
            "read p50 growth",
            "query p50 / p99",
            "p50 growth",
            "clean right first",
        ],
        rows,
    )
    last = runs[-1]
    print(
        f"goal postings read per 10-s query ≤ 50,000 at {int(last['tracks']):,} tracks: "
        f"{'met' if last['read_p99'] <= 50_000 else 'NOT met'} (p99 {last['read_p99']:,.0f})"
    )


# --- backend comparison --------------------------------------------------------------------


def compare_backends(n_tracks: int) -> None:
    import lmdb

    real, pool, rate = real_pool()
    rng = np.random.default_rng(5)
    batches = [postings_for(i, fp.core()) for i, (_, _, fp) in enumerate(real)]
    seconds = sum(x.size for _, x, _ in real) / FINGERPRINT_SAMPLE_RATE
    synth, durations = synthetic_batch(rng, pool, rate, n_tracks - len(real))
    batches.append((synth[0], synth[1] + np.uint32(len(real)), synth[2]))
    seconds += float(durations.sum())
    keys = np.concatenate([b[0] for b in batches])
    ts = np.concatenate([b[1] for b in batches])
    tf = np.concatenate([b[2] for b in batches])
    hours = seconds / 3600
    queries = [q for _, _, q in make_queries(real)[:100]]
    probes = [query_ranges(q.hashes) for q in queries]
    root = BENCH_CACHE / "backends"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    rows = []

    # Segment file (ours).
    t0 = time.perf_counter()
    seg_path = root / "segment.fpi"
    index = EmbeddedIndex(seg_path)
    for i, b in enumerate(batches):
        n_in = int((b[1] & np.uint32(0xFFFFFF)).max()) + 1 - (i if i < len(real) else len(real))
        ids = [f"t{i}-{j}" for j in range(n_in)]
        local = (b[1] & np.uint32(0xFFFFFF)) - np.uint32(i if i < len(real) else len(real))
        index.add_postings(ids, [0.0] * n_in, (b[0], (b[1] & np.uint32(0xFF000000)) | local, b[2]))
    index.close()
    build = time.perf_counter() - t0
    index = EmbeddedIndex(seg_path, readonly=True)
    lat: list[float] = []
    for qidx, lo, hi, subs in probes:
        timed(lambda q=qidx, a=lo, b=hi, k=subs: index._lookup(q, a, b, k), lat)
    rows.append(_row("segment file (mmap, sorted)", seg_path.stat().st_size, hours, build, lat))
    index.close()

    # LMDB: one value per key = that key's packed postings.
    t0 = time.perf_counter()
    env = lmdb.open(str(root / "lmdb"), map_size=1 << 36, subdir=True, writemap=True)
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    payload = np.empty(sk.size, dtype=[("ts", "<u4"), ("tf", "<u4")])
    payload["ts"], payload["tf"] = ts[order], tf[order]
    bounds = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1], True])
    with env.begin(write=True) as txn:
        for a, b in itertools.pairwise(bounds):
            txn.put(int(sk[a]).to_bytes(4, "big"), payload[a:b].tobytes())
    env.sync()
    build = time.perf_counter() - t0
    lat = []
    for _, lo, hi, _ in probes:

        def lookup(lo: np.ndarray = lo, hi: np.ndarray = hi) -> int:
            ks = np.unique(
                np.concatenate([np.arange(a, b + 1) for a, b in zip(lo, hi, strict=True)])
            )
            with env.begin() as txn:
                cur = txn.cursor()
                got = cur.getmulti([int(k).to_bytes(4, "big") for k in ks])
            return sum(len(v) for _, v in got)

        timed(lookup, lat)
    lmdb_size = sum(p.stat().st_size for p in (root / "lmdb").iterdir())
    env_stat = env.info()
    rows.append(
        _row(
            "LMDB (value per key)", min(lmdb_size, env_stat["last_pgno"] * 4096), hours, build, lat
        )
    )
    env.close()

    # SQLite: a row per posting, B-tree index on key.
    t0 = time.perf_counter()
    db = sqlite3.connect(root / "postings.sqlite")
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("CREATE TABLE p (key INTEGER NOT NULL, ts INTEGER NOT NULL, tf INTEGER NOT NULL)")
    db.executemany(
        "INSERT INTO p VALUES (?, ?, ?)", zip(keys.tolist(), ts.tolist(), tf.tolist(), strict=True)
    )
    db.execute("CREATE INDEX p_key ON p (key, ts, tf)")
    db.commit()
    build = time.perf_counter() - t0
    lat = []
    for _, lo, hi, _ in probes:

        def lookup_sql(lo: np.ndarray = lo, hi: np.ndarray = hi) -> int:
            ks = np.unique(
                np.concatenate([np.arange(a, b + 1) for a, b in zip(lo, hi, strict=True)])
            )
            total = 0
            for chunk in np.array_split(ks, max(1, ks.size // 30000 + 1)):
                sql = f"SELECT key, ts, tf FROM p WHERE key IN ({','.join('?' * chunk.size)})"
                total += len(db.execute(sql, chunk.tolist()).fetchall())
            return total

        timed(lookup_sql, lat)
    db.close()
    rows.append(
        _row(
            "SQLite (row per posting)", (root / "postings.sqlite").stat().st_size, hours, build, lat
        )
    )
    print(f"machine: {machine()}")
    print(
        f"{n_tracks} tracks, {hours:.0f} h, {keys.size:,} postings; 100 real 10-s queries, "
        "raw key-range lookup only (alignment is the same for all)"
    )
    print_table(["backend", "size", "MB per hour", "build", "lookup p50 / p99"], rows)
    shutil.rmtree(root, ignore_errors=True)


def _row(name: str, size: int, hours: float, build: float, lat: list[float]) -> list[str]:
    return [
        name,
        f"{size / 1e6:.0f} MB",
        f"{size / hours / 1e6:.3f}",
        f"{build:.0f} s",
        f"{np.median(lat):.1f} / {np.percentile(lat, 99):.1f} ms",
    ]


# --- PostgreSQL: one shard vs three ---------------------------------------------------------

SHARD_LAYOUTS = ("one plain table (main server)", "one shard (postgres_fdw)", "three shards")
SHARD_REFERENCE = 1  # the layout the others are compared with (index into SHARD_LAYOUTS)


@contextlib.contextmanager
def bench_database(admin_url: str) -> Iterator[str]:
    """A database of our own on the main server for the run, dropped afterwards."""
    import psycopg

    name = f"fp_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def extra_servers(urls: list[str] | None) -> Iterator[list[str]]:
    """The two servers beside the main one: given, or throwaway clusters started here."""
    if urls:
        yield urls
        return
    from tests.pg_cluster import local_clusters

    with local_clusters(2) as clusters:
        yield [c.url() for c in clusters]


def shard_run(
    n_tracks: int, admin_url: str, shard_urls: list[str] | None, n_queries: int
) -> None:
    from sqlalchemy import create_engine, text

    from integrity.catalog.postgres_index import PostgresIndex

    real, pool, rate = real_pool()
    rng = np.random.default_rng(20261124)
    synthetic = []
    done = 0
    while done < n_tracks - len(real):
        k = min(BATCH_TRACKS, n_tracks - len(real) - done)
        postings, durations = synthetic_batch(rng, pool, rate, k)
        synthetic.append(([f"synthetic-{done + i:06d}" for i in range(k)], durations, postings))
        done += k
    hours = (
        sum(x.size for _, x, _ in real) / FINGERPRINT_SAMPLE_RATE
        + sum(float(d.sum()) for _, d, _ in synthetic)
    ) / 3600
    queries = make_queries(real)
    queries = queries[:: max(1, len(queries) // n_queries)][:n_queries]
    rows = []
    with bench_database(admin_url) as db_url, extra_servers(shard_urls) as others:
        engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
        layouts: list[list[str] | None] = [None, others[:1], [db_url, *others]]
        results = []
        for name, shards in zip(SHARD_LAYOUTS, layouts, strict=True):
            schema = f"layout{len(results)}"
            with engine.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            t0 = time.perf_counter()
            index = PostgresIndex(db_url, schema=schema, shards=shards)
            for tid, _, fp in real:
                index.add(tid, fp)
            for ids, durations, postings in synthetic:
                index.add_postings(ids, durations.tolist(), postings)
                print(f"  {name}: +{len(ids)} tracks", file=sys.stderr)
            index.analyze()
            build_s = time.perf_counter() - t0
            stats = index.shard_stats()
            for q in queries:  # warm-up: caches, connections to the shards
                index.query(q[2], limit=1)
            lat, read, right = [], [], 0
            for _, truth, q in queries:
                matches = timed(lambda q=q, ix=index: ix.query(q, limit=1), lat)
                read.append(index.last_postings_read)
                right += bool(matches) and matches[0].track_id == truth  # type: ignore[index]
            results.append((name, stats, build_s, lat, read, right))
            index.drop()
            index.close()
        engine.dispose()
    ref = np.median(results[SHARD_REFERENCE][3])
    for name, stats, build_s, lat, read, right in results:
        rows.append(
            [
                name,
                " / ".join(f"{s['tracks']:,}" for s in stats),
                " / ".join(f"{s['postings'] / 1e6:.2f} M" for s in stats),
                f"{build_s:.0f} s",
                f"{np.median(lat):.0f} / {np.percentile(lat, 99):.0f} ms",
                f"{np.median(lat) / ref:.2f}",
                f"{np.median(read):,.0f}",
                f"{right}/{len(queries)}",
            ]
        )
    total = sum(s["postings"] for s in results[0][1])
    print(f"machine: {machine()}")
    print(
        f"{n_tracks:,} tracks, {hours:,.0f} h, {total:,} postings, the same in each layout; "
        f"{len(queries)} real 10-s queries (warm pass, after one untimed pass)"
    )
    print_table(
        [
            "layout",
            "tracks per shard",
            "postings per shard",
            "load",
            "10-s query p50 / p99",
            "p50 vs one shard",
            "postings read p50",
            "right track first",
        ],
        rows,
    )
    three = np.median(results[2][3]) / ref
    print(
        f"\ngoal three shards vs one, query p50 ≤ 1.3×: {'met' if three <= 1.3 else 'NOT met'} "
        f"({three:.2f}×)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--compare-backends", action="store_true")
    parser.add_argument(
        "--growth", help="comma-separated index sizes, e.g. 10000,30000,100000: postings read"
    )
    parser.add_argument(
        "--postings-only",
        action="store_true",
        help="with --growth: count the postings each query reads without building the indexes",
    )
    parser.add_argument("--compare-tracks", type=int, default=2_000)
    parser.add_argument("--shards", action="store_true", help="PostgreSQL: one shard vs three")
    parser.add_argument("--shard-tracks", type=int, default=1_000)
    parser.add_argument("--shard-queries", type=int, default=50)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "INTEGRITY_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="main server (a database is created there for the run)",
    )
    parser.add_argument(
        "--shard-urls", help="two more PostgreSQL servers, comma-separated (default: start two)"
    )
    args = parser.parse_args()
    if args.shards:
        urls = args.shard_urls.split(",") if args.shard_urls else None
        if urls is not None and len(urls) != 2:
            parser.error("--shard-urls takes two URLs")
        shard_run(args.shard_tracks, args.postgres_url, urls, args.shard_queries)
    elif args.growth and args.postings_only:
        postings_growth([int(n) for n in args.growth.split(",")])
    elif args.growth:
        growth_run([int(n) for n in args.growth.split(",")])
    elif args.compare_backends:
        compare_backends(args.compare_tracks)
    else:
        scale_run(args.tracks)


if __name__ == "__main__":
    main()
