"""The PostgreSQL index on three servers: postings hash-partitioned onto postgres_fdw shards.

The main server (loopback) and two throwaway clusters started by the fixtures hold one
partition each; the catalog of tracks stays on the coordinator. The shared behaviour (add,
query, whole-track check, non-members) runs on this backend through `any_index` in
test_fp_index.py; here: the layout, removal across shards, reopening and a shard going down.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from integrity.catalog.fingerprints import open_index
from integrity.catalog.postgres_index import SHARD_TABLE, PostgresIndex
from integrity.fingerprint import FingerprintIndexError, extract
from tests.pg_cluster import LocalCluster

from .conftest import POSTGRES_URL, shard_urls, sharded_index_in
from .fp_helpers import SR, song_with_loop

pytestmark = pytest.mark.postgres

SONG_S = 30.0
"""Length of each generated song (s)."""
MAX_SONGS = 24
"""Songs added at most until every shard holds at least two (count)."""


@pytest.fixture()
def fresh_sharded(shard_clusters: list[LocalCluster]) -> Iterator[PostgresIndex]:
    with sharded_index_in(f"fp_shard_{uuid.uuid4().hex[:12]}", shard_clusters) as index:
        assert isinstance(index, PostgresIndex)
        yield index


def _excerpt(seed: int) -> object:
    x = song_with_loop(seed=seed, seconds=SONG_S)
    return extract(x[8 * SR : 18 * SR], SR)


def _fill_every_shard(index: PostgresIndex) -> dict[str, int]:
    """Generated songs added until each shard holds two; song id -> its shard."""
    placed: dict[str, int] = {}
    for seed in range(100, 100 + MAX_SONGS):
        tid = f"song-{seed}"
        index.add(tid, extract(song_with_loop(seed=seed, seconds=SONG_S), SR), meta={"s": seed})
        placed[tid] = _shard_of(index, tid)
        if all(list(placed.values()).count(s.number) >= 2 for s in index.shards):
            return placed
    pytest.fail(f"{MAX_SONGS} tracks did not reach every shard: {index.shard_stats()}")


def _shard_of(index: PostgresIndex, track_id: str) -> int:
    """The partition PostgreSQL routes the track to (computed by PostgreSQL itself)."""
    with psycopg.connect(POSTGRES_URL.replace("+psycopg", "")) as conn:
        conn.execute(f'SET search_path = "{index.schema}"')
        row = conn.execute(
            "SELECT r FROM fp_track, generate_series(0, %s - 1) AS r WHERE track_id = %s "
            "AND satisfies_hash_partition(to_regclass('fp_hash')::oid, %s, r, ordinal)",
            (len(index.shards), track_id, len(index.shards)),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _postings_on(cluster_url: str, schema: str) -> int:
    """Count the postings on a shard server directly, not through the coordinator."""
    with psycopg.connect(cluster_url.replace("+psycopg", "")) as conn:
        return int(conn.execute(f'SELECT count(*) FROM "{schema}".{SHARD_TABLE}').fetchone()[0])


def test_postings_are_partitions_on_three_servers_scanned_asynchronously(
    sharded_index: PostgresIndex, library: dict
) -> None:
    assert len({(s.host, s.port) for s in sharded_index.shards}) == 3
    stats = sharded_index.shard_stats()
    assert sum(s["tracks"] for s in stats) == len(library)
    assert sum(s["postings"] for s in stats) > 0
    # One statement on the coordinator; each shard's scan runs concurrently with the others.
    with psycopg.connect(POSTGRES_URL.replace("+psycopg", "")) as conn:
        conn.execute(f'SET search_path = "{sharded_index.schema}"')
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN (VERBOSE) SELECT key, track, t, f, span FROM fp_hash "
                "WHERE key = ANY('{1,2,3}'::int[])"
            )
        )
    assert plan.count("Async Foreign Scan") == 3, plan
    assert plan.count("key = ANY") >= 3, plan  # the probed keys run on the shards


def test_add_query_remove_across_shards(
    fresh_sharded: PostgresIndex, shard_clusters: list[LocalCluster]
) -> None:
    index = fresh_sharded
    placed = _fill_every_shard(index)
    stats = index.shard_stats()
    assert all(s["tracks"] >= 2 and s["postings"] > 0 for s in stats), stats
    for tid in placed:
        matches = index.query(_excerpt(int(tid.split("-")[1])))
        assert [m.track_id for m in matches][:1] == [tid]
        assert matches[0].meta == {"s": int(tid.split("-")[1])}
    # Take every track down, one shard after another: each removal is immediate.
    for shard in index.shards:
        for tid in [t for t, s in placed.items() if s == shard.number]:
            assert index.remove(tid) is True
            assert tid not in index
            assert all(m.track_id != tid for m in index.query(_excerpt(int(tid.split("-")[1]))))
        assert index.shard_stats()[shard.number] == {
            "shard": shard.where,
            "tracks": 0,
            "postings": 0,
        }
    assert len(index) == 0
    for url in shard_urls(shard_clusters):
        assert _postings_on(url, index.schema) == 0


def test_replacing_a_track_keeps_one_copy(fresh_sharded: PostgresIndex) -> None:
    fp = extract(song_with_loop(seed=11, seconds=SONG_S), SR)
    fresh_sharded.add("victim", fp)
    first = sum(s["postings"] for s in fresh_sharded.shard_stats())
    fresh_sharded.add("victim", fp)  # a new ordinal, perhaps another shard
    assert sum(s["postings"] for s in fresh_sharded.shard_stats()) == first
    assert [m.track_id for m in fresh_sharded.query(_excerpt(11))] == ["victim"]


def test_reopen_reads_the_shards_from_the_coordinator(
    sharded_index: PostgresIndex, shard_clusters: list[LocalCluster], library: dict
) -> None:
    again = open_index(POSTGRES_URL, schema=sharded_index.schema)
    try:
        assert isinstance(again, PostgresIndex)
        assert again.shards == sharded_index.shards
        assert len(again) == len(library)
    finally:
        again.close()
    with pytest.raises(FingerprintIndexError, match="resharding is not supported"):
        open_index(POSTGRES_URL, schema=sharded_index.schema, shards=shard_urls(shard_clusters)[:2])


def test_an_unreachable_shard_at_creation_is_named(shard_clusters: list[LocalCluster]) -> None:
    dead = LocalCluster(shard_clusters[0].root)  # a free port nobody listens on
    with pytest.raises(FingerprintIndexError, match=f"127.0.0.1:{dead.port}"):
        open_index(POSTGRES_URL, schema=f"fp_dead_{uuid.uuid4().hex[:8]}", shards=[dead.url()])


def test_a_shard_that_stops_answering_fails_queries_by_name(
    fresh_sharded: PostgresIndex, shard_clusters: list[LocalCluster]
) -> None:
    index = fresh_sharded
    placed = _fill_every_shard(index)
    victim = shard_clusters[1]
    down = next(s for s in index.shards if s.port == victim.port)
    on_down = [t for t, s in placed.items() if s == down.number]
    elsewhere = [t for t, s in placed.items() if s != down.number]
    victim.stop()
    try:
        # A query needs every shard: no partial (silently incomplete) answer.
        for tid in (on_down[0], elsewhere[0]):
            with pytest.raises(FingerprintIndexError) as failed:
                index.query(_excerpt(int(tid.split("-")[1])))
            message = str(failed.value)
            assert f"shard {down.number} of 3" in message and f":{victim.port}/" in message
            assert "no partial answer" in message
        # Taking down a track on the missing shard fails loudly and leaves it listed...
        with pytest.raises(FingerprintIndexError, match=f":{victim.port}/"):
            index.remove(on_down[0])
        assert on_down[0] in index
        # ...while the catalog and the other shards keep working.
        assert len(index) == len(placed)
        assert index.remove(elsewhere[0]) is True
    finally:
        victim.start()
    # Back up: the coordinator reconnects on its own.
    tid = on_down[0]
    assert [m.track_id for m in index.query(_excerpt(int(tid.split("-")[1])))][:1] == [tid]
    assert index.remove(tid) is True


def test_the_shard_setting_reaches_the_service_index(
    shard_clusters: list[LocalCluster], tmp_path: object
) -> None:
    """Settings are read at the edge: INTEGRITY_FINGERPRINT_SHARDS becomes `shards=`."""
    from sqlalchemy import create_engine, text

    from integrity.catalog.pipeline import AnalysisResources
    from integrity.config import Settings

    schema = f"fp_cfg_{uuid.uuid4().hex[:10]}"
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"{POSTGRES_URL}?options=-csearch_path%3D{schema}",
        fingerprint_shards=shard_urls(shard_clusters),
    )
    resources = AnalysisResources.from_settings(settings)
    try:
        index = resources.index
        assert isinstance(index, PostgresIndex)
        assert [s.port for s in index.shards] == [5432] + [c.port for c in shard_clusters]
        assert index.schema == schema  # the shards keep their postings in that schema too
        index.drop()
    finally:
        resources.close()
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
