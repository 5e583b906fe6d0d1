"""The PostgreSQL backend: the service's shared index, behind the same interface.

Why rows per hash with a covering index: a lookup is one join of the probed key ranges against
a B-tree on `key` that INCLUDEs the payload, so PostgreSQL answers from the index alone; rows go
in by binary COPY (built with numpy, no per-row Python). Removal deletes the track row and its
hashes (ON DELETE CASCADE), so a takedown is immediate. The DDL lives only in `FP_METADATA`
below: `create_postgres_schema(engine)` runs it, and an Alembic migration can reuse the tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
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
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine

from integrity.fingerprint import constants as fc
from integrity.fingerprint.extract import Fingerprint
from integrity.fingerprint.index import BaseIndex, FingerprintIndexError, check_fingerprint
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

_LOOKUP_SQL = (
    "SELECT q.i, h.track, h.t, h.f, h.span "
    "FROM unnest(%s::int[], %s::int[], %s::int[]) AS q(i, lo, hi) "
    "JOIN fp_hash h ON h.key BETWEEN q.lo AND q.hi"
)
_COPY_SQL = "COPY fp_hash (key, track, t, f, span) FROM STDIN WITH (FORMAT binary)"
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
_COPY_HEADER = b"PGCOPY\n\xff\r\n\0" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)


def create_postgres_schema(engine: Engine) -> None:
    """Create the fingerprint tables and indexes if missing (in the connection's search_path)."""
    FP_METADATA.create_all(engine)


def _engine_url(url: str) -> str:
    """Plain postgresql:// URLs get the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _copy_payload(keys: np.ndarray, ordinal: int, hashes: np.ndarray) -> bytes:
    rows = np.zeros(keys.shape[0], dtype=_COPY_ROW)
    rows["n"] = 5
    rows["l_key"], rows["l_track"], rows["l_t"] = 4, 8, 4
    rows["l_f"], rows["l_span"] = 2, 2
    rows["key"] = keys
    rows["track"] = ordinal
    rows["t"] = hashes["t"]
    rows["f"] = hashes["f"]
    rows["span"] = hashes["span"]
    return _COPY_HEADER + rows.tobytes() + _COPY_TRAILER


class PostgresIndex(BaseIndex):
    """Fingerprint index in PostgreSQL; `schema` puts its tables in that schema."""

    def __init__(
        self, url_or_engine: str | Engine, *, schema: str | None = None, create: bool = True
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
        try:
            if create:
                create_postgres_schema(self.engine)
        except Exception as exc:
            raise FingerprintIndexError(f"PostgreSQL fingerprint index unavailable: {exc}") from exc

    def add(self, track_id: str, fp: Fingerprint, *, meta: dict[str, Any] | None = None) -> None:
        check_fingerprint(fp)
        core = fp.core()
        keys = index_keys(core)
        with self.engine.begin() as conn:
            conn.execute(delete(fp_track).where(fp_track.c.track_id == track_id))
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
            raw = conn.connection.driver_connection
            with raw.cursor() as cur, cur.copy(_COPY_SQL) as copy:
                copy.write(_copy_payload(keys, int(ordinal), core))

    def remove(self, track_id: str) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(delete(fp_track).where(fp_track.c.track_id == track_id))
            return bool(result.rowcount)

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

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def _lookup(
        self, qidx: np.ndarray, lo: np.ndarray, hi: np.ndarray, substitutions: np.ndarray
    ) -> Hits:
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection
            with raw.cursor() as cur:
                cur.execute(
                    _LOOKUP_SQL,
                    (qidx.astype(int).tolist(), lo.astype(int).tolist(), hi.astype(int).tolist()),
                )
                rows = cur.fetchall()
        if not rows:
            return Hits.empty()
        arr = np.asarray(rows, dtype=np.int64)
        return Hits(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4])

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
