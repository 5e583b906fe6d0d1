"""`integrity scan`: run the pipeline in-process over delivery folders (the embedded mode).

Each step commits on its own, exactly as the workers do, so an interrupted scan keeps what it
finished and a rerun picks up the rest; a delivery already completed by this pipeline version
is not touched again (its report is read back from the database).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from integrity.catalog import pipeline
from integrity.catalog.findings import record_findings
from integrity.config import Settings
from integrity.db.models import Track
from integrity.db.session import session_scope
from integrity.findings import FindingSpec

logger = logging.getLogger(__name__)

MESSAGE_SUFFIX = ".xml"


class ScanInputError(ValueError):
    """A path given to `scan` is not a delivery (the message names the path)."""


@dataclass(frozen=True)
class DeliveryFolder:
    """An ERN message and the folder its audio references are resolved against."""

    directory: Path
    message_filename: str

    @property
    def message_path(self) -> Path:
        return self.directory / self.message_filename


def discover_deliveries(paths: Iterable[Path]) -> list[DeliveryFolder]:
    """Each path is an ERN file, a delivery folder (XML at its top), or a folder of those."""
    found: list[DeliveryFolder] = []
    for raw in paths:
        path = raw.resolve()
        if path.is_file():
            found.append(DeliveryFolder(path.parent, path.name))
            continue
        if not path.is_dir():
            raise ScanInputError(f"{raw}: no such file or folder")
        messages = _messages_in(path)
        if messages:
            found.extend(DeliveryFolder(path, m.name) for m in messages)
            continue
        nested = [
            DeliveryFolder(sub, m.name)
            for sub in sorted(p for p in path.iterdir() if p.is_dir())
            for m in _messages_in(sub)
        ]
        if not nested:
            raise ScanInputError(f"{raw}: no ERN message (*.xml) in this folder or its sub-folders")
        found.extend(nested)
    unique = {(d.directory, d.message_filename): d for d in found}
    return list(unique.values())


def _messages_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == MESSAGE_SUFFIX)


ProgressCallback = Callable[[str], None]


def scan_deliveries(
    folders: list[DeliveryFolder],
    *,
    settings: Settings,
    factory: sessionmaker[Session],
    resources: pipeline.AnalysisResources | None = None,
    on_step: ProgressCallback | None = None,
) -> list[int]:
    """Run every delivery through the pipeline; returns their delivery ids in input order."""
    own_resources = resources is None
    resources = resources or pipeline.AnalysisResources.from_settings(settings)
    try:
        return _scan_all(folders, settings, factory, resources, on_step or (lambda _label: None))
    finally:
        if own_resources:
            resources.close()


def _scan_all(
    folders: list[DeliveryFolder],
    settings: Settings,
    factory: sessionmaker[Session],
    resources: pipeline.AnalysisResources,
    step: ProgressCallback,
) -> list[int]:
    delivery_ids = []
    for folder in folders:
        with session_scope(factory) as session:
            delivery, _created = pipeline.register_delivery(
                session,
                storage_path=folder.directory,
                message_filename=folder.message_filename,
                source=f"folder:{folder.message_path}",
            )
            delivery_id = delivery.id
            todo = pipeline.needs_processing(delivery)
        delivery_ids.append(delivery_id)
        if not todo:
            step(f"{folder.message_filename}: already scanned")
            continue
        with session_scope(factory) as session:
            track_ids = pipeline.ingest_delivery(
                session, delivery_id=delivery_id, settings=settings
            )
        step(f"{folder.message_filename}: {len(track_ids)} tracks")
        for track_id in track_ids:
            _run_track_step(factory, delivery_id, track_id, settings, resources)
            step(f"track {track_id}")
        with session_scope(factory) as session:
            pipeline.finish_delivery(session, delivery_id=delivery_id)
    return delivery_ids


def _run_track_step(
    factory: sessionmaker[Session],
    delivery_id: int,
    track_id: int,
    settings: Settings,
    resources: pipeline.AnalysisResources,
) -> None:
    """Analyse then score one track; an unexpected failure is recorded, not fatal to the scan."""
    try:
        with session_scope(factory) as session:
            pipeline.analyze_track(
                session, track_id=track_id, settings=settings, resources=resources
            )
        with session_scope(factory) as session:
            pipeline.score_track(session, track_id=track_id, settings=settings, resources=resources)
    except Exception as exc:
        # Expected failures (unreadable file, pipeline refusal) and unexpected ones alike are
        # recorded on the track: one bad track must not cost the scan of every other.
        expected = isinstance(exc, OSError | pipeline.PipelineError)
        logger.warning(
            "track failed",
            extra={"track_id": track_id, "error": str(exc)},
            exc_info=not expected,
        )
        if not expected:
            exc = RuntimeError(f"unexpected {type(exc).__name__}: {exc}")
        with session_scope(factory) as session:
            track = session.get(Track, track_id)
            if track is not None:
                track.state = pipeline.TRACK_FAILED
            record_findings(
                session,
                delivery_id=delivery_id,
                specs=[
                    FindingSpec(
                        source="pipeline",
                        severity="error",
                        code="track_processing_failed",
                        message=str(exc),
                        track_id=track_id,
                    )
                ],
            )
