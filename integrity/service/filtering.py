"""The /v1/filter decision: which tracks a surface may show, and why. On playlist hot paths.

One indexed query (tracks by id or ISRC, outer-joined with the human decision) answers a whole
request; nothing is loaded per track. The effective decision is the moderator's when there is
one, else the automatic one; each surface allows a set of decisions.

An ISRC answers for the sender that delivered it first (unless a moderator removed that
sender's tracks): tracks are per sender, and another sender's later delivery of the same ISRC
is its own track, in review with `isrc_claimed_by_other_sender`, that never changes the first
sender's answer. It is asked for by its track id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, String, any_, bindparam, or_, select, union_all
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from integrity.catalog.context import sender_of
from integrity.db.models import MAX_ID, SHORT_TEXT, Track
from integrity.db.service_models import TrackModeration
from integrity.service.errors import ServiceError

SURFACES = ("recommendation", "search", "editorial")
MAX_TRACKS_PER_REQUEST = 1000
ISRC_RE = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$")

# decision → surfaces that may show the track. None: analysed but not yet scored.
SURFACES_ALLOWED: dict[str | None, frozenset[str]] = {
    "clear": frozenset(SURFACES),
    "review": frozenset({"search"}),
    "escalated": frozenset({"search"}),
    "filter": frozenset({"search"}),
    "block": frozenset(),
    None: frozenset({"search"}),
}
DECISION_RESTRICTIVENESS = {
    "clear": 0,
    None: 1,
    "review": 2,
    "escalated": 2,
    "filter": 3,
    "block": 4,
}


@dataclass(frozen=True, slots=True)
class _Known:
    track_id: int
    isrc: str | None
    decision: str | None
    source: str  # "moderator" or "policy"
    reason: str | None
    owner: str | None = None  # the sender whose catalog the track is in

    @property
    def removed(self) -> bool:
        return self.source == "moderator" and self.decision == "block"


def normalise_isrc(raw: str) -> str:
    """Upper case without hyphens or spaces (ISRCs are often printed as CC-XXX-YY-NNNNN)."""
    return raw.replace("-", "").replace(" ", "").upper()


def parse_request(tracks: Any, surface: Any) -> tuple[list[int | str], str]:
    """Validate the request body's fields; ints are track ids, strings are ISRCs."""
    if surface not in SURFACES:
        raise ServiceError(422, "surface", f"must be one of {list(SURFACES)}")
    if not isinstance(tracks, list) or not tracks:
        raise ServiceError(422, "tracks", "a non-empty list of track ids or ISRCs")
    if len(tracks) > MAX_TRACKS_PER_REQUEST:
        raise ServiceError(422, "tracks", f"at most {MAX_TRACKS_PER_REQUEST} per request")
    for index, item in enumerate(tracks):
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise ServiceError(422, f"tracks[{index}]", "a track id (integer) or an ISRC (string)")
    return tracks, surface


def item_error(item: int | str) -> str | None:
    """Why an item cannot name any track (an id outside the id column's range, text the
    database cannot compare), or None: such an item gets its own answer, not the query."""
    if isinstance(item, int):
        return None if 1 <= item <= MAX_ID else f"a track id is 1..{MAX_ID}"
    if "\x00" in item or len(item) > SHORT_TEXT:
        return f"an ISRC has no NUL characters and at most {SHORT_TEXT} characters"
    return None


def filter_tracks(
    session: Session | Connection, *, tracks: list[int | str], surface: str
) -> list[dict[str, Any]]:
    """For each requested id or ISRC: keep or not on `surface`, with reasons; an item that
    cannot name a track is answered alone (`item_error`) and the rest are looked up."""
    errors = {index: why for index, item in enumerate(tracks) if (why := item_error(item))}
    queried = [item for index, item in enumerate(tracks) if index not in errors]
    ids = sorted({item for item in queried if isinstance(item, int)})
    isrcs = sorted({normalise_isrc(item) for item in queried if isinstance(item, str)})
    rows = session.execute(*_lookup(session, ids=ids, isrcs=isrcs)).all() if queried else []
    by_id: dict[int, _Known] = {}
    by_isrc: dict[str, list[_Known]] = {}
    for track_id, isrc, key, automatic, human, human_reason in rows:
        owner = sender_of(key)
        known = (
            _Known(track_id, isrc, human, "moderator", human_reason, owner)
            if human is not None
            else _Known(track_id, isrc, automatic, "policy", None, owner)
        )
        by_id[track_id] = known
        if isrc:
            by_isrc.setdefault(isrc, []).append(known)
    results = []
    for index, item in enumerate(tracks):
        if index in errors:
            results.append(_refused(item, f"tracks[{index}]: {errors[index]}"))
            continue
        if isinstance(item, int):
            matches = [by_id[item]] if item in by_id else []
        else:
            matches = _first_claimant(by_isrc.get(normalise_isrc(item), []))
        results.append(_verdict(item, matches, surface))
    return results


def _first_claimant(matches: list[_Known]) -> list[_Known]:
    """The tracks of the sender that delivered the ISRC first (moderator-removed ones aside)."""
    if not matches:
        return matches
    ordered = sorted(matches, key=lambda known: known.track_id)
    first = next((known for known in ordered if not known.removed), ordered[0])
    return [known for known in ordered if known.owner == first.owner]


_COLUMNS = (
    Track.id,
    Track.isrc,
    Track.track_key,
    Track.decision,
    TrackModeration.decision,
    TrackModeration.reason,
)
_BY_ID_PG = (
    select(*_COLUMNS)
    .outerjoin(TrackModeration, TrackModeration.track_id == Track.id)
    .where(Track.id == any_(bindparam("ids", type_=ARRAY(Integer))))
)
_BY_ISRC_PG = (
    select(*_COLUMNS)
    .outerjoin(TrackModeration, TrackModeration.track_id == Track.id)
    .where(Track.isrc == any_(bindparam("isrcs", type_=ARRAY(String))))
)
_BOTH_PG = union_all(_BY_ID_PG, _BY_ISRC_PG)


def _lookup(
    session: Session | Connection, *, ids: list[int], isrcs: list[str]
) -> tuple[Any, dict[str, Any]]:
    """One statement for the whole request: on PostgreSQL a fixed, cached statement with two
    array parameters, each branch on its own index; elsewhere (SQLite) plain IN lists."""
    bind = session if isinstance(session, Connection) else session.get_bind()
    if bind.dialect.name == "postgresql":
        if ids and isrcs:
            return _BOTH_PG, {"ids": ids, "isrcs": isrcs}
        return (_BY_ID_PG, {"ids": ids}) if ids else (_BY_ISRC_PG, {"isrcs": isrcs})
    conditions = []
    if ids:
        conditions.append(Track.id.in_(ids))
    if isrcs:
        conditions.append(Track.isrc.in_(isrcs))
    statement = (
        select(*_COLUMNS)
        .outerjoin(TrackModeration, TrackModeration.track_id == Track.id)
        .where(or_(*conditions))
    )
    return statement, {}


def _refused(item: int | str, error: str) -> dict[str, Any]:
    reason = "invalid_track_id" if isinstance(item, int) else "invalid_isrc"
    return {**_unmatched(item, reason), "error": error}


def _unmatched(item: int | str, reason: str) -> dict[str, Any]:
    return {"track": item, "keep": False, "decision": None, "reasons": [reason], "track_ids": []}


def _verdict(item: int | str, matches: list[_Known], surface: str) -> dict[str, Any]:
    if not matches:
        reason = (
            "unknown_track"
            if isinstance(item, int) or ISRC_RE.match(normalise_isrc(item))
            else "invalid_isrc"
        )
        return _unmatched(item, reason)
    # One sender may hold an ISRC on several tracks (twice in one message): the most
    # restrictive of them decides.
    worst = max(matches, key=lambda known: DECISION_RESTRICTIVENESS.get(known.decision, 4))
    allowed = SURFACES_ALLOWED.get(worst.decision, frozenset())
    keep = surface in allowed
    reasons = [f"{worst.source}:{worst.decision or 'not_scored'}"]
    if worst.reason:
        reasons.append(worst.reason)
    if not keep:
        reasons.append(f"not_allowed_on:{surface}")
    return {
        "track": item,
        "keep": keep,
        "decision": worst.decision,
        "reasons": reasons,
        "track_ids": sorted(known.track_id for known in matches),
    }
