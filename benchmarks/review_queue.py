"""Review-queue latency with many tracks waiting: the paged SQL query vs loading everything.

Builds a catalog of --queued tracks in review (default 5,000), each with a handful of current
findings and one superseded one, in a fresh database (a temporary SQLite file, or an empty
migrated PostgreSQL database given with --database-url), then times per call (median of
--repeats): `SELECT 1` (the floor any request pays, like /healthz), `review_queue(limit=1)` and
`review_queue(limit=50)`, and the reference measured in the same run: the previous algorithm,
which loaded every queued track and all its findings and ranked them in Python.

    .venv/bin/python benchmarks/review_queue.py [--queued 5000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _machine import machine
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from integrity.db.models import Delivery, Finding, Track
from integrity.db.service_models import TrackModeration
from integrity.db.session import create_db_engine, session_factory, session_scope, upgrade_schema
from integrity.service.review import ESCALATION_PRIORITY, QUEUED_DECISIONS, review_queue, risk_of

FINDINGS_PER_TRACK = 5
"""Current findings of each queued track (count), plus one of an earlier delivery."""
BATCH = 1_000
"""Tracks inserted per transaction while building (count)."""


def build(factory: Callable[[], Session], queued: int) -> None:
    """The catalog: `queued` tracks in review with findings of mixed severity and score."""
    codes = [
        "duplicate_audio",
        "audio_mostly_silent",
        "title_keyword_stuffing",
        "audio_hash_not_declared",
    ]
    severities = ["warning", "warning", "error", "info"]
    with session_scope(factory) as session:
        old, new = (
            Delivery(
                message_sha256=digit * 64,
                source="bench",
                storage_path="/",
                message_filename="m",
                status="completed",
                pipeline_version="bench",
            )
            for digit in "01"
        )
        session.add_all([old, new])
        session.flush()
        old_id, new_id = old.id, new.id
    for first in range(0, queued, BATCH):
        with session_scope(factory) as session:
            tracks = [
                Track(
                    track_key=f"bench|{i}",
                    delivery_id=new_id,
                    state="scored",
                    decision="review",
                    isrc=f"QZBEN{i:07d}",
                    title=f"Track {i}",
                )
                for i in range(first, min(queued, first + BATCH))
            ]
            session.add_all(tracks)
            session.flush()
            rows = []
            for track in tracks:
                for n in range(FINDINGS_PER_TRACK):
                    k = (track.id + n) % len(codes)
                    rows.append(
                        Finding(
                            finding_key=f"{track.id:032x}{n:032x}",
                            delivery_id=new_id,
                            track_id=track.id,
                            source="bench",
                            severity=severities[k],
                            code=codes[k],
                            message=f"finding {n}",
                            evidence={"score": (track.id % 97) / 100} if k == 0 else {},
                        )
                    )
                rows.append(
                    Finding(
                        finding_key=f"{track.id:032x}{99:032x}",
                        delivery_id=old_id,
                        track_id=track.id,
                        source="bench",
                        severity="error",
                        code="audio_hash_mismatch",
                        message="superseded",
                        evidence={},
                    )
                )
            session.add_all(rows)


def previous_queue(session: Session, limit: int) -> list[int]:
    """The reference: every queued track and all its findings loaded, ranked in Python."""
    decision = func.coalesce(TrackModeration.decision, Track.decision)
    tracks = session.execute(
        select(Track.id, decision)
        .outerjoin(TrackModeration, TrackModeration.track_id == Track.id)
        .where(decision.in_(QUEUED_DECISIONS))
    ).all()
    findings: dict[int, list] = {track_id: [] for track_id, _ in tracks}
    for track_id, code, severity, evidence in session.execute(
        select(Finding.track_id, Finding.code, Finding.severity, Finding.evidence)
        .where(Finding.track_id.in_(list(findings)))
        .order_by(Finding.id)
    ):
        findings[track_id].append((code, severity, evidence))
    ranked = []
    for track_id, current in tracks:
        risk, _ = risk_of(findings[track_id])
        ranked.append(
            (-(risk + (ESCALATION_PRIORITY if current == "escalated" else 0.0)), track_id)
        )
    ranked.sort()
    return [track_id for _, track_id in ranked[:limit]]


def timed(factory: Callable[[], Session], call: Callable[[Session], object], repeats: int) -> float:
    """Median seconds per call, each in its own session."""
    samples = []
    for _ in range(repeats):
        with session_scope(factory) as session:
            started = time.perf_counter()
            call(session)
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queued", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--database-url", help="an empty, migrated database (default: SQLite)")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'queue.db'}"
        if args.database_url is None:
            upgrade_schema(url)
        engine = create_db_engine(url)
        factory = session_factory(engine)
        build(factory, args.queued)
        print(
            f"{args.queued} tracks in review, {FINDINGS_PER_TRACK + 1} findings each,",
            engine.dialect.name,
        )
        rows = [
            ("SELECT 1 (request floor)", lambda s: s.execute(text("SELECT 1")).all()),
            ("review_queue(limit=1)", lambda s: review_queue(s, limit=1)),
            ("review_queue(limit=50)", lambda s: review_queue(s, limit=50)),
            ("reference: load all, rank in Python (limit=1)", lambda s: previous_queue(s, 1)),
        ]
        results = [(label, timed(factory, call, args.repeats)) for label, call in rows]
        reference = results[-1][1]
        for label, seconds in results:
            print(
                f"{label:48} {seconds * 1000:9.1f} ms  ratio to reference {seconds / reference:.3f}"
            )
        engine.dispose()


if __name__ == "__main__":
    main()
