"""Real audio from Debian packages, fetched into a cache folder outside the repository.

Why: benchmarks and training need hours of real, redistributable music and speech, and this
project may not download datasets at run time. Debian's game-music and sound packages are
freely licensed and reachable through apt, so `apt-get download` + `dpkg -x` gives a corpus
that any machine with apt can rebuild exactly.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

AUDIO_SUFFIXES = frozenset({".ogg", ".oga", ".mp3", ".flac", ".wav", ".opus", ".m4a"})
# Archives inside packages that hold audio (nexuiz ships its music in a zip named .pk3, 0 A.D.
# in public.zip).
ARCHIVE_SUFFIXES = frozenset({".pk3", ".zip"})
# Caps for extracting those archives (they come from Debian, but stay careful anyway).
ARCHIVE_MAX_ENTRY_BYTES = 200 * 1024 * 1024
ARCHIVE_MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024
DONE_STAMP = ".fetched"


@dataclass(frozen=True)
class CorpusPackage:
    """One Debian package and what kind of audio it carries."""

    name: str
    kind: str  # "music" or "speech"
    licence: str
    role: str = "train"
    """Which side of the package-level split it is on: "train" (learned from), "calib" (its
    windows set the operating points and nothing else) or "test" (evaluation only). A package
    sits on one side only, so no track and no composer's style is on two sides."""


MUSIC_PACKAGES: tuple[CorpusPackage, ...] = (
    CorpusPackage("wesnoth-1.16-music", "music", "GPL-2+ (Battle for Wesnoth)"),
    CorpusPackage("nexuiz-music", "music", "GPL-2+ (Nexuiz)"),
    CorpusPackage("singularity-music", "music", "CC-BY-SA / GPL (Endgame: Singularity)"),
    CorpusPackage("freedroidrpg-data", "music", "GPL-2+ (FreedroidRPG)"),
    CorpusPackage("fretsonfire-songs-muldjord", "music", "GPL-2+ (Frets on Fire)"),
    CorpusPackage("fretsonfire-songs-sectoid", "music", "GPL-2+ (Frets on Fire)"),
    CorpusPackage("hyperrogue-music", "music", "CC-BY-SA (HyperRogue)"),
    CorpusPackage("ufoai-music", "music", "GPL-2+ / CC (UFO: Alien Invasion)"),
    CorpusPackage("supertux-data", "music", "GPL-3+ / CC-BY-SA (SuperTux)"),
    CorpusPackage("0ad-data", "music", "CC-BY-SA-3.0 (0 A.D.)"),
    CorpusPackage("supertuxkart-data", "music", "GPL-3+ / CC-BY-SA (SuperTuxKart)"),
    CorpusPackage("hedgewars-data", "music", "GPL-2 / CC (Hedgewars)"),
    CorpusPackage("redeclipse-data", "music", "CC-BY-SA / various free (Red Eclipse)"),
    CorpusPackage("openclonk-data", "music", "ISC and upstream content licence (OpenClonk)"),
    # Calibration side: operating points are read from these packages' windows only.
    CorpusPackage("widelands-data", "music", "GPL-2+ (Widelands)", "calib"),
    CorpusPackage("megaglest-data", "music", "CC-BY-SA-3.0 (MegaGlest)", "calib"),
    CorpusPackage("colobot-common-sounds", "music", "GPL-3+ (Colobot)", "calib"),
    CorpusPackage("btanks-data", "music", "GPL-2+ (Battle Tanks)", "calib"),
    CorpusPackage("xmoto-data", "music", "GPL-2+ (X-Moto)", "calib"),
    CorpusPackage("asc-music", "music", "GPL-2+ (Advanced Strategic Command)", "calib"),
    CorpusPackage("asterisk-moh-opsound-wav", "music", "CC-BY-SA-3.0 (Asterisk MOH)", "calib"),
    # Test side: never trained on, never calibrated on (the evaluation's real-music FPR).
    CorpusPackage("boswars-data", "music", "GPL-2 (Bos Wars)", "test"),
    CorpusPackage("lincity-ng-data", "music", "GPL-2+ (LinCity-NG)", "test"),
    CorpusPackage("extremetuxracer-data", "music", "GPL-2+ (Extreme Tux Racer)", "test"),
    CorpusPackage("freedink-data", "music", "GPL-3+ / free (FreeDink)", "test"),
    CorpusPackage("lugaru-data", "music", "CC-BY-SA (Lugaru HD)", "test"),
    CorpusPackage("frozen-bubble-data", "music", "GPL-2 (Frozen-Bubble)", "test"),
    CorpusPackage("naev-data", "music", "GPL-3 / CC (Naev)", "test"),
    CorpusPackage("freeorion-data", "music", "GPL-2+ / CC-BY-SA-3.0 (FreeOrion)", "test"),
    CorpusPackage("warmux-data", "music", "GPL-2+ (Warmux)", "test"),
)
SPEECH_PACKAGES: tuple[CorpusPackage, ...] = (
    CorpusPackage("asterisk-core-sounds-en-wav", "speech", "CC-BY-SA-3.0 (Asterisk sounds)"),
    CorpusPackage("klettres-data", "speech", "GPL-2+ (KLettres)"),
)


def default_cache_dir() -> Path:
    """Outside the repository: $INTEGRITY_CORPUS_DIR or ~/.cache/integrity/corpus."""
    env = os.environ.get("INTEGRITY_CORPUS_DIR")
    return Path(env) if env else Path.home() / ".cache" / "integrity" / "corpus"


class CorpusFetchError(RuntimeError):
    """A package could not be downloaded or unpacked (apt reachable? `apt-get update` run?)."""


def fetch_package(package: str, *, cache_dir: Path | None = None) -> Path:
    """Download and unpack one Debian package once; concurrent callers wait on a file lock."""
    root = (cache_dir or default_cache_dir()) / package
    root.parent.mkdir(parents=True, exist_ok=True)
    lock_path = root.parent / f".{package}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / DONE_STAMP).exists():
            return root
        shutil.rmtree(root, ignore_errors=True)
        with tempfile.TemporaryDirectory() as tmp:
            result = subprocess.run(
                ["apt-get", "download", package],
                cwd=tmp,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise CorpusFetchError(
                    f"apt-get download {package} failed: {result.stderr.strip()}"
                )
            debs = list(Path(tmp).glob("*.deb"))
            if not debs:
                raise CorpusFetchError(f"apt-get download {package} produced no .deb")
            root.mkdir(parents=True)
            subprocess.run(["dpkg", "-x", str(debs[0]), str(root)], check=True)
        _extract_audio_archives(root)
        (root / DONE_STAMP).write_text(package)
        logger.info("corpus package fetched", extra={"package": package, "path": str(root)})
        return root


def _extract_audio_archives(root: Path) -> None:
    """Unpack audio entries of zip archives, refusing traversal, links and oversized entries."""
    for archive in [p for p in root.rglob("*") if p.suffix.lower() in ARCHIVE_SUFFIXES]:
        target = archive.with_suffix(archive.suffix + ".d")
        total = 0
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                name = Path(info.filename)
                if info.is_dir() or name.suffix.lower() not in AUDIO_SUFFIXES:
                    continue
                if name.is_absolute() or ".." in name.parts:
                    continue
                if info.file_size > ARCHIVE_MAX_ENTRY_BYTES:
                    continue
                total += info.file_size
                if total > ARCHIVE_MAX_TOTAL_BYTES:
                    break
                out = target / name
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, out.open("wb") as dst:
                    shutil.copyfileobj(src, dst)


def audio_files(roots: Iterable[Path]) -> list[Path]:
    """Every audio file below the given folders, sorted so corpora are reproducible."""
    found: list[Path] = []
    for root in roots:
        found.extend(
            p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
        )
    return sorted(found)


def fetch_corpus(
    packages: Iterable[CorpusPackage], *, cache_dir: Path | None = None
) -> dict[str, list[Path]]:
    """Fetch several packages; returns the audio files of each, keyed by package name."""
    return {
        pkg.name: audio_files([fetch_package(pkg.name, cache_dir=cache_dir)]) for pkg in packages
    }
