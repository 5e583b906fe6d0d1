"""Matches as evidence records for findings (plain dicts, ready for JSON and the database)."""

from __future__ import annotations

from typing import Any

from integrity.fingerprint.matcher import Match


def match_record(match: Match) -> dict[str, Any]:
    """The JSON contract of one match (as `integrity match --json` prints it)."""
    return {
        "id": match.track_id,
        "isrc": match.meta.get("isrc"),
        "title": match.meta.get("title"),
        "score": round(match.score, 6),
        "query_offset_s": match.query_offset_s,
        "ref_offset_s": match.ref_offset_s,
        "time_scale": match.time_scale,
        "pitch_semitones": match.pitch_semitones,
        "matched_s": match.matched_s,
        "repeat_ref_offsets_s": list(match.repeat_ref_offsets_s),
    }


def duplicate_evidence(matches: list[Match]) -> list[dict[str, Any]]:
    """One evidence record per match: the contract fields plus the false-match rate, the number
    of aligned hashes and the stored meta, so a moderator sees why two tracks were tied."""
    out = []
    for m in matches:
        record = match_record(m)
        record["false_match_rate"] = m.false_match_rate
        record["matched_hashes"] = m.matched_hashes
        record["meta"] = dict(m.meta)
        out.append(record)
    return out
