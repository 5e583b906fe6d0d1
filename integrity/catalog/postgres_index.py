"""The PostgreSQL backend: the service's shared index, behind the same interface.

Why rows per hash with a covering index: a lookup is one scan of the probed keys on a B-tree on
`key` that INCLUDEs the payload, so PostgreSQL answers from the index alone; rows go in and out
by binary COPY (built and parsed with numpy, no per-row Python). Removal deletes the track row
and its hashes, so a takedown is immediate.

Sharding uses PostgreSQL's own machinery, nothing home-made: with `shards=[url, ...]` the
coordinator (the URL the index is opened with) keeps the track catalog, and `fp_hash` becomes a
table hash-partitioned on the track ordinal whose partitions are postgres_fdw foreign tables,
one per shard server, each holding a plain `fp_posting` table with the covering index. A track's
postings live on one shard (an add or a removal touches one server); a query is one statement
on the coordinator whose Append runs the shards' index scans concurrently (async_capable) with
the probed keys pushed down as `key = ANY(...)`. A shard that does not answer fails the query
with an error naming the shard: a partial answer would be a silent miss. Resharding an existing
index is not supported (rebuild it into a new schema).

The unsharded DDL lives in `FP_METADATA`: `create_postgres_schema(engine)` runs it, and an
Alembic migration can reuse the tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    create_engine,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from integrity.fingerprint import constants as fc
from integrity.fingerprint.extract import Fingerprint
from integrity.fingerprint.index import (
    BaseIndex,
    FingerprintIndexError,
    IndexedTrack,
    check_fingerprint,
)
from integrity.fingerprint.keys import index_keys
from integrity.fingerprint.matcher import Hits

FP_METADATA = MetaData()
"""The fingerprint tables (a separate MetaData so migrations can include or skip them)."""

fp_track = Table(
    "fp_track",
    FP_METADATA,
    Column("ordinal", BigInteger, primary_key=True, autoincrement=True),
    Column("track_id", String(200), nullable=False, unique=True),
    Column("meta", JSONB, nullable=False, server_default="{}"),
    Column("duration_s", Float, nullable=False),
    Column("fingerprint_version", SmallInteger, nullable=False),
)
fp_hash = Table(
    "fp_hash",
    FP_METADATA,
    Column("key", Integer, nullable=False),
    Column(
        "track",
        BigInteger,
        ForeignKey("fp_track.ordinal", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("t", Integer, nullable=False),  # anchor time (half frames)
    Column("f", SmallInteger, nullable=False),  # anchor frequency (half bins)
    Column("span", SmallInteger, nullable=False),  # span (half frames)
    Index("ix_fp_hash_key", "key", postgresql_include=["track", "t", "f", "span"]),
    Index("ix_fp_hash_track", "track"),
)

SHARD_TABLE = "fp_posting"
"""The postings table on every shard server (same columns as fp_hash, no foreign key)."""
_POSTING_COLUMNS = (
    "key integer NOT NULL, track bigint NOT NULL, t integer NOT NULL, "
    "f smallint NOT NULL, span smallint NOT NULL"
)
_COPY_SQL = "COPY fp_hash (key, track, t, f, span) FROM STDIN WITH (FORMAT binary)"
_LOOKUP_COPY_SQL = (
    "COPY (SELECT key, track, t, f, span FROM fp_hash WHERE key = ANY('{{{keys}}}'::int[])) "
    "TO STDOUT WITH (FORMAT binary)"
)
_INSERT_SQL = (
    "INSERT INTO fp_hash (key, track, t, f, span) "
    "SELECT * FROM unnest(%s::int[], %s::bigint[], %s::int[], %s::smallint[], %s::smallint[])"
)
_COPY_ROW = np.dtype(
    [
        ("n", ">i2"),
        ("l_key", ">i4"),
        ("key", ">i4"),
        ("l_track", ">i4"),
        ("track", ">i8"),
        ("l_t", ">i4"),
        ("t", ">i4"),
        ("l_f", ">i4"),
        ("f", ">i2"),
        ("l_span", ">i4"),
        ("span", ">i2"),
    ]
)
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\0"
_COPY_HEADER = _COPY_SIGNATURE + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
_IDENTIFIER_MAX = 63  # PostgreSQL's NAMEDATALEN - 1 (bytes)
_PROBE_SETTINGS = "-c enable_seqscan=off -c jit=off"
"""How a lookup is run, on the coordinator and (as the shard connections' options) on every
shard. Why: a query probes ~50k keys; the planner's estimate for such an ANY list picks a
sequential or bitmap scan and JIT compilation on small and mid-sized tables, each about twice as
slow as the index-only scan of the covering index (measured at 200 tracks), which is also the
only plan that stays cheap at catalog scale."""


@dataclass(frozen=True)
class Shard:
    """One shard server as the coordinator's catalog records it (for messages and probes)."""

    number: int  # the partition's hash remainder
    server: str  # the foreign server's name on the coordinator
    host: str
    port: int
    dbname: str
    user: str | None
    password: str | None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}/{self.dbname}"


def create_postgres_schema(engine: Engine) -> None:
    """Create the fingerprint tables and indexes if missing (in the connection's search_path)."""
    FP_METADATA.create_all(engine)


def _engine_url(url: str) -> str:
    """Plain postgresql:// URLs get the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _driver(conn: Connection) -> Any:
    """The psycopg connection under SQLAlchemy's (COPY and session settings need it)."""
    raw = conn.connection.driver_connection
    if raw is None:
        raise FingerprintIndexError("the PostgreSQL connection was closed")
    return raw


def _copy_rows(keys: np.ndarray, track: np.ndarray, hashes: Any) -> bytes:
    """Binary COPY records of postings (without the stream's header and trailer)."""
    rows = np.zeros(keys.shape[0], dtype=_COPY_ROW)
    rows["n"] = 5
    rows["l_key"], rows["l_track"], rows["l_t"] = 4, 8, 4
    rows["l_f"], rows["l_span"] = 2, 2
    rows["key"] = keys
    rows["track"] = track
    rows["t"] = hashes["t"]
    rows["f"] = hashes["f"]
    rows["span"] = hashes["span"]
    return rows.tobytes()


def _parse_copy(payload: bytes) -> np.ndarray:
    """Rows of a binary COPY of (key, track, t, f, span), all NOT NULL: one fixed-width record."""
    if not payload.startswith(_COPY_SIGNATURE):
        raise FingerprintIndexError("PostgreSQL returned an unexpected COPY stream")
    start = len(_COPY_SIGNATURE) + 4
    start += 4 + int.from_bytes(payload[start : start + 4], "big")
    body = payload[start : len(payload) - len(_COPY_TRAILER)]
    if len(body) % _COPY_ROW.itemsize:
        raise FingerprintIndexError("PostgreSQL returned a COPY stream of unexpected width")
    return np.frombuffer(body, dtype=_COPY_ROW)


def probe_keys(qidx: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every key of every range [lo, hi] with its query hash, sorted by key.

    Why keys and not ranges: `key = ANY(array)` is what postgres_fdw pushes down to a shard
    (a join with the query's ranges would pull the shard's postings to the coordinator), and
    the ranges are narrow (2 * RATIO_QUERY_RADIUS + 1 keys).
    """
    width = hi.astype(np.int64) - lo.astype(np.int64) + 1
    total = int(width.sum())
    owner = np.repeat(np.arange(width.size), width)
    step = np.arange(total) - np.repeat(np.cumsum(width) - width, width)
    key = lo.astype(np.int64)[owner] + step
    order = np.argsort(key, kind="stable")
    return key[order], qidx.astype(np.int64)[owner][order]


def hits_for(rows: np.ndarray, keys: np.ndarray, owners: np.ndarray) -> Hits:
    """Tag each posting with every query hash that probed its key (one hit per pair)."""
    if rows.shape[0] == 0:
        return Hits.empty()
    posted = rows["key"].astype(np.int64)
    start = np.searchsorted(keys, posted, side="left")
    n = np.searchsorted(keys, posted, side="right") - start
    owner = np.repeat(np.arange(posted.size), n)
    pos = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n) + start[owner]
    picked = rows[owner]
    return Hits(
        query_index=owners[pos],
        track=picked["track"].astype(np.int64),
        t=picked["t"].astype(np.int64),
        f=picked["f"].astype(np.int64),
        span=picked["span"].astype(np.int64),
    )


def _name(*parts: str) -> str:
    """An identifier from parts (lower case, [a-z0-9_] only, within PostgreSQL's limit)."""
    raw = "_".join(re.sub(r"[^a-z0-9_]", "_", p.lower()) for p in parts)
    return raw[:_IDENTIFIER_MAX]


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _options(conn_options: Iterable[str] | None) -> dict[str, str]:
    out = {}
    for item in conn_options or ():
        key, _, value = item.partition("=")
        out[key] = value
    return out


class PostgresIndex(BaseIndex):
    """Fingerprint index in PostgreSQL; `schema` puts its tables in that schema.

    `shards` (PostgreSQL URLs) spreads the postings over those servers when the index is
    created (see the module docstring); an existing sharded index is opened without it, and a
    different list than the one it was built with is refused.
    """

    def __init__(
        self,
        url_or_engine: str | Engine,
        *,
        schema: str | None = None,
        create: bool = True,
        shards: Sequence[str] | None = None,
    ) -> None:
        if isinstance(url_or_engine, Engine):
            self.engine = url_or_engine
            self._owns_engine = False
        else:
            connect_args = {"options": f"-csearch_path={schema}"} if schema else {}
            self.engine = create_engine(
                _engine_url(url_or_engine), connect_args=connect_args, pool_pre_ping=True
            )
            self._owns_engine = True
        self.shards: list[Shard] = []
        try:
            with self.engine.connect() as conn:
                current = conn.execute(text("SELECT current_schema()")).scalar()
            self.schema: str = schema or current or "public"
            """The coordinator's schema; each shard keeps its postings in a schema of that name."""
            layout = self._layout()
            if layout is None and create:
                if shards:
                    self._create_sharded(list(shards))
                else:
                    create_postgres_schema(self.engine)
                layout = self._layout()
            elif layout is None:
                raise FingerprintIndexError("no fingerprint index in this database/schema")
            self.shards = layout or []
            if shards:
                self._check_shard_list(list(shards))
        except FingerprintIndexError:
            self.close()
            raise
        except (SQLAlchemyError, psycopg.Error) as exc:
            self.close()
            raise FingerprintIndexError(f"PostgreSQL fingerprint index unavailable: {exc}") from exc

    # --- layout -------------------------------------------------------------------------------
    def _layout(self) -> list[Shard] | None:
        """None when there is no index yet; [] for an unsharded one; else its shards."""
        with self.engine.connect() as conn:
            kind = conn.execute(
                text("SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass('fp_hash')")
            ).scalar()
            if kind is None:
                return None
            if kind != "p":
                return []
            rows = conn.execute(
                text(
                    "SELECT pg_get_expr(c.relpartbound, c.oid) AS bound, s.srvname, "
                    "s.srvoptions, um.umoptions FROM pg_inherits i "
                    "JOIN pg_class c ON c.oid = i.inhrelid "
                    "JOIN pg_foreign_table ft ON ft.ftrelid = c.oid "
                    "JOIN pg_foreign_server s ON s.oid = ft.ftserver "
                    "LEFT JOIN pg_user_mappings um ON um.srvid = s.oid "
                    "AND um.usename = current_user "
                    "WHERE i.inhparent = to_regclass('fp_hash')"
                )
            ).all()
        shards = []
        for row in rows:
            remainder = re.search(r"remainder (\d+)", row.bound)
            srv, um = _options(row.srvoptions), _options(row.umoptions)
            shards.append(
                Shard(
                    number=int(remainder.group(1)) if remainder else -1,
                    server=row.srvname,
                    host=srv.get("host", "localhost"),
                    port=int(srv.get("port", "5432")),
                    dbname=srv.get("dbname", ""),
                    user=um.get("user"),
                    password=um.get("password"),
                )
            )
        return sorted(shards, key=lambda s: s.number)

    def _check_shard_list(self, urls: list[str]) -> None:
        asked = [_shard_address(u) for u in urls]
        have = [(s.host, s.port, s.dbname) for s in self.shards]
        if asked != have:
            held = ", ".join(s.where for s in self.shards) or "one server (unsharded)"
            raise FingerprintIndexError(
                f"this fingerprint index holds its postings on {held}; it cannot be reopened "
                f"on {len(urls)} other shard(s) (resharding is not supported: rebuild the "
                "index into a new schema)"
            )

    def _create_sharded(self, urls: list[str]) -> None:
        schema = self.schema
        if len(set(map(_shard_address, urls))) != len(urls):
            raise FingerprintIndexError("the shard list names the same database twice")
        for url in urls:
            _create_shard_table(url, schema)
        quote = self.engine.dialect.identifier_preparer.quote
        with self.engine.begin() as conn:
            _ensure_postgres_fdw(conn)
            fp_track.create(conn, checkfirst=True)
            conn.execute(
                text(f"CREATE TABLE fp_hash ({_POSTING_COLUMNS}) PARTITION BY HASH (track)")
            )
            database = conn.execute(text("SELECT current_database()")).scalar_one()
            for i, url in enumerate(urls):
                parsed = make_url(_engine_url(url))
                host, port, dbname = _shard_address(url)
                server = _name("fp", database, schema, f"shard{i}")
                options = {
                    "host": host,
                    "port": str(port),
                    "dbname": dbname,
                    "async_capable": "true",
                    "fetch_size": str(fc.SHARD_FETCH_ROWS),
                    "batch_size": str(fc.SHARD_INSERT_BATCH_ROWS),
                    "connect_timeout": str(fc.SHARD_CONNECT_TIMEOUT_S),
                    "options": _PROBE_SETTINGS,
                }
                opts = ", ".join(f"{k} {_literal(v)}" for k, v in options.items())
                conn.execute(text(f"DROP SERVER IF EXISTS {quote(server)} CASCADE"))
                conn.execute(
                    text(
                        f"CREATE SERVER {quote(server)} FOREIGN DATA WRAPPER postgres_fdw "
                        f"OPTIONS ({opts})"
                    )
                )
                user = {"user": parsed.username or "postgres"}
                if parsed.password:
                    user["password"] = str(parsed.password)
                uopts = ", ".join(f"{k} {_literal(v)}" for k, v in user.items())
                conn.execute(
                    text(
                        f"CREATE USER MAPPING FOR CURRENT_USER SERVER {quote(server)} "
                        f"OPTIONS ({uopts})"
                    )
                )
                conn.execute(
                    text(
                        f"CREATE FOREIGN TABLE {quote(f'fp_hash_p{i}')} PARTITION OF fp_hash "
                        f"FOR VALUES WITH (MODULUS {len(urls)}, REMAINDER {i}) "
                        f"SERVER {quote(server)} OPTIONS (schema_name {_literal(schema)}, "
                        f"table_name {_literal(SHARD_TABLE)})"
                    )
                )

    @property
    def sharded(self) -> bool:
        return bool(self.shards)

    def drop(self) -> None:
        """Drop the index: its tables here and, when sharded, the shards' tables and servers."""
        quote = self.engine.dialect.identifier_preparer.quote
        with self.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS fp_hash CASCADE"))
            conn.execute(text("DROP TABLE IF EXISTS fp_track CASCADE"))
            for shard in self.shards:
                conn.execute(text(f"DROP SERVER IF EXISTS {quote(shard.server)} CASCADE"))
        for shard in self.shards:
            with _connect(shard) as raw:
                raw.execute(f'DROP TABLE IF EXISTS "{self.schema}".{SHARD_TABLE}')
        self.shards = []

    # --- the interface ------------------------------------------------------------------------
    def add(self, track_id: str, fp: Fingerprint, *, meta: dict[str, Any] | None = None) -> None:
        check_fingerprint(fp)
        core = fp.core()
        keys = index_keys(core)
        with self._errors("add"), self.engine.begin() as conn:
            self._delete(conn, track_id)
            ordinal = conn.execute(
                insert(fp_track)
                .values(
                    track_id=track_id,
                    meta=dict(meta or {}),
                    duration_s=fp.duration_s,
                    fingerprint_version=fc.FINGERPRINT_VERSION,
                )
                .returning(fp_track.c.ordinal)
            ).scalar_one()
            track = np.full(keys.shape[0], int(ordinal), dtype=np.int64)
            self._write(conn, keys, track, core)

    def add_postings(
        self,
        track_ids: list[str],
        durations_s: list[float],
        postings: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> None:
        """Low-level add of ready-made postings for new tracks, in the embedded index's packed
        form (keys, track|span, time|frequency; track field 0..len(track_ids)-1 in the batch).

        For the scale benchmark, which synthesises postings without audio.
        """
        from integrity.fingerprint.embedded import unpack_postings

        with self._errors("add"), self.engine.begin() as conn:
            ordinals = conn.execute(
                insert(fp_track).returning(fp_track.c.ordinal, sort_by_parameter_order=True),
                [
                    {
                        "track_id": tid,
                        "meta": {},
                        "duration_s": dur,
                        "fingerprint_version": fc.FINGERPRINT_VERSION,
                    }
                    for tid, dur in zip(track_ids, durations_s, strict=True)
                ],
            ).scalars()
            by_batch = np.fromiter(ordinals, dtype=np.int64, count=len(track_ids))
            keys, local, hashes = unpack_postings(*postings)
            self._write(conn, keys, by_batch[local], hashes)

    def _write(self, conn: Connection, keys: np.ndarray, track: np.ndarray, hashes: Any) -> None:
        """Postings in: binary COPY into the local table; through the coordinator's partition
        routing (postgres_fdw batched INSERTs) when sharded."""
        raw = _driver(conn)
        chunks = range(0, keys.shape[0], fc.WRITE_CHUNK_ROWS)
        if not self.sharded:
            with raw.cursor() as cur, cur.copy(_COPY_SQL) as copy:
                copy.write(_COPY_HEADER)
                for a in chunks:
                    b = a + fc.WRITE_CHUNK_ROWS
                    part = {name: hashes[name][a:b] for name in ("t", "f", "span")}
                    copy.write(_copy_rows(keys[a:b], track[a:b], part))
                copy.write(_COPY_TRAILER)
            return
        with raw.cursor() as cur:
            cur.execute(f"SET LOCAL statement_timeout = '{fc.SHARD_STATEMENT_TIMEOUT_S}s'")
            for a in chunks:
                b = a + fc.WRITE_CHUNK_ROWS
                cur.execute(
                    _INSERT_SQL,
                    (
                        keys[a:b].astype(np.int64).tolist(),
                        track[a:b].tolist(),
                        hashes["t"][a:b].astype(np.int64).tolist(),
                        hashes["f"][a:b].astype(np.int64).tolist(),
                        hashes["span"][a:b].astype(np.int64).tolist(),
                    ),
                )

    def _delete(self, conn: Connection, track_id: str) -> bool:
        """Delete a track's catalog row and postings (on its one shard when sharded)."""
        ordinal = conn.execute(
            select(fp_track.c.ordinal).where(fp_track.c.track_id == track_id).with_for_update()
        ).scalar()
        if ordinal is None:
            return False
        if self.sharded:
            # A literal ordinal lets the planner prune to the one partition that holds it (a
            # bound parameter could get a generic plan that touches every shard).
            conn.exec_driver_sql(
                f"SET LOCAL statement_timeout = '{fc.SHARD_STATEMENT_TIMEOUT_S}s'"
            )
            prune = f"DELETE FROM fp_hash WHERE track = {int(ordinal)}"  # noqa: S608 (an int)
            conn.exec_driver_sql(prune)
        conn.execute(delete(fp_track).where(fp_track.c.ordinal == ordinal))
        return True

    def remove(self, track_id: str) -> bool:
        with self._errors("remove"), self.engine.begin() as conn:
            return self._delete(conn, track_id)

    def __contains__(self, track_id: object) -> bool:
        if not isinstance(track_id, str):
            return False
        with self.engine.connect() as conn:
            found = conn.execute(
                select(fp_track.c.ordinal).where(fp_track.c.track_id == track_id)
            ).first()
            return found is not None

    def __len__(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(fp_track)).scalar_one())

    def tracks(self) -> list[IndexedTrack]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(fp_track.c.track_id, fp_track.c.meta, fp_track.c.duration_s).order_by(
                    fp_track.c.ordinal
                )
            ).all()
        return [IndexedTrack(r.track_id, dict(r.meta or {}), float(r.duration_s)) for r in rows]

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def analyze(self) -> None:
        """VACUUM ANALYZE after a bulk load, on the shards too: fresh statistics, and a set
        visibility map so that lookups are index-only scans (autovacuum would, later)."""
        tables = ["fp_track"] if self.sharded else ["fp_track", "fp_hash"]
        with self._errors("analyze"), self.engine.connect() as conn:
            auto = conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in tables:
                auto.exec_driver_sql(f"VACUUM ANALYZE {table}")
        for shard in self.shards:
            with _connect(shard) as raw:
                raw.execute(f'VACUUM ANALYZE "{self.schema}".{SHARD_TABLE}')

    def shard_stats(self) -> list[dict[str, Any]]:
        """Tracks and postings each shard holds (one row for an unsharded index)."""
        with self._errors("count"), self.engine.connect() as conn:
            if not self.sharded:
                postings = conn.execute(select(func.count()).select_from(fp_hash)).scalar_one()
                return [{"shard": "local", "tracks": len(self), "postings": int(postings)}]
            out = []
            for shard in self.shards:
                tracks = conn.execute(
                    text(
                        "SELECT count(*) FROM fp_track WHERE satisfies_hash_partition("
                        "to_regclass('fp_hash')::oid, CAST(:n AS int), CAST(:r AS int), ordinal)"
                    ),
                    {"n": len(self.shards), "r": shard.number},
                ).scalar_one()
                postings = conn.execute(
                    text(f'SELECT count(*) FROM "fp_hash_p{shard.number}"')  # noqa: S608
                ).scalar_one()
                out.append(
                    {"shard": shard.where, "tracks": int(tracks), "postings": int(postings)}
                )
            return out

    # --- backend hooks ------------------------------------------------------------------------
    def _lookup(
        self, qidx: np.ndarray, lo: np.ndarray, hi: np.ndarray, substitutions: np.ndarray
    ) -> Hits:
        keys, owners = probe_keys(qidx, lo, hi)
        unique = np.unique(keys)
        if unique.size == 0:
            self.last_postings_read = 0
            return Hits.empty()
        sql = _LOOKUP_COPY_SQL.format(keys=",".join(map(str, unique.tolist())))
        with self._errors("query"), self.engine.connect() as conn:
            raw = _driver(conn)
            with raw.cursor() as cur:
                for setting in _PROBE_SETTINGS.replace("-c ", "").split():
                    name, _, value = setting.partition("=")
                    cur.execute(f"SET LOCAL {name} = {value}")
                if self.sharded:
                    cur.execute(f"SET LOCAL statement_timeout = '{fc.SHARD_STATEMENT_TIMEOUT_S}s'")
                with cur.copy(sql) as copy:
                    payload = b"".join(bytes(block) for block in copy)
            conn.rollback()
        rows = _parse_copy(payload)
        self.last_postings_read = int(rows.shape[0])
        return hits_for(rows, keys, owners)

    def _describe(self, ordinals: list[int]) -> dict[int, tuple[str, dict[str, Any]]]:
        if not ordinals:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(fp_track.c.ordinal, fp_track.c.track_id, fp_track.c.meta).where(
                    fp_track.c.ordinal.in_(ordinals)
                )
            ).all()
        return {int(r.ordinal): (r.track_id, dict(r.meta or {})) for r in rows}

    def _ordinals(self, track_ids: Iterable[str]) -> set[int]:
        ids = list(track_ids)
        if not ids:
            return set()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(fp_track.c.ordinal).where(fp_track.c.track_id.in_(ids))
            ).all()
        return {int(r.ordinal) for r in rows}

    # --- errors -------------------------------------------------------------------------------
    def _errors(self, action: str) -> _ShardErrors:
        return _ShardErrors(self, action)

    def unreachable_shards(self) -> list[tuple[Shard, str]]:
        """Shards that refuse a direct connection right now, with libpq's reason."""
        down = []
        for shard in self.shards:
            try:
                with _connect(shard) as raw:
                    raw.execute("SELECT 1")
            except psycopg.Error as exc:
                down.append((shard, str(exc).strip().splitlines()[0]))
        return down


class _ShardErrors:
    """Turns a database error of a sharded operation into one that names the missing shards."""

    def __init__(self, index: PostgresIndex, action: str) -> None:
        self.index = index
        self.action = action

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or not isinstance(exc, (DBAPIError, psycopg.Error)):
            return
        message = str(getattr(exc, "orig", exc) or exc).strip()
        if self.index.sharded:
            down = self.index.unreachable_shards()
            if down:
                n = len(self.index.shards)
                names = "; ".join(
                    f"shard {s.number} of {n} ({s.where}, server {s.server}): {why}"
                    for s, why in down
                )
                raise FingerprintIndexError(
                    f"fingerprint {self.action} failed, no partial answer given: {names}"
                ) from exc
        raise FingerprintIndexError(f"fingerprint {self.action} failed: {message}") from exc


def _shard_address(url: str) -> tuple[str, int, str]:
    parsed = make_url(_engine_url(url))
    return (parsed.host or "localhost", int(parsed.port or 5432), parsed.database or "postgres")


def _connect(shard: Shard) -> psycopg.Connection:
    return psycopg.connect(
        host=shard.host,
        port=shard.port,
        dbname=shard.dbname,
        user=shard.user,
        password=shard.password,
        connect_timeout=fc.SHARD_CONNECT_TIMEOUT_S,
        autocommit=True,
    )


def _create_shard_table(url: str, schema: str) -> None:
    """The postings table and its covering index on one shard server."""
    parsed = make_url(_engine_url(url))
    host, port, dbname = _shard_address(url)
    shard = Shard(-1, "", host, port, dbname, parsed.username, parsed.password)
    try:
        raw = _connect(shard)
    except psycopg.Error as exc:
        raise FingerprintIndexError(f"fingerprint shard {shard.where} unreachable: {exc}") from exc
    table = f'"{schema}".{SHARD_TABLE}'
    with raw:
        raw.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        raw.execute(f"CREATE TABLE IF NOT EXISTS {table} ({_POSTING_COLUMNS})")
        raw.execute(
            f"CREATE INDEX IF NOT EXISTS ix_{SHARD_TABLE}_key ON {table} (key) "
            "INCLUDE (track, t, f, span)"
        )
        raw.execute(f"CREATE INDEX IF NOT EXISTS ix_{SHARD_TABLE}_track ON {table} (track)")


def _ensure_postgres_fdw(conn: Connection) -> None:
    """CREATE EXTENSION postgres_fdw (in public, so dropping our schema never drops it)."""
    present = conn.execute(
        text("SELECT 1 FROM pg_extension WHERE extname = 'postgres_fdw'")
    ).scalar()
    if present:
        return
    try:
        with conn.begin_nested():
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgres_fdw SCHEMA public"))
    except DBAPIError as exc:  # another session created it at the same moment
        if "already exists" not in str(exc) and "duplicate key" not in str(exc):
            raise
