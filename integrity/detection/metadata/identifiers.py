"""Identifier signals: placeholder and reused ISRCs and ICPNs."""

from __future__ import annotations

import itertools

import ddex
from ddex.identifiers import check_isrc
from integrity.detection.metadata import constants as c
from integrity.detection.metadata._common import (
    ISRC_BODY_DIGITS,
    ISRC_DESIGNATION_START,
    ISRC_YEAR_START,
    _loc,
    _spec,
)
from integrity.detection.metadata.context import CatalogContext
from integrity.findings import FindingSpec


def _periodic_digits(digits: str, max_period: int) -> bool:
    n = len(digits)
    return any(
        (digits[:period] * (n // period + 1))[:n] == digits
        for period in range(1, min(max_period, n - 1) + 1)
    )


def _sequential(digits: str) -> bool:
    if len(digits) < c.PLACEHOLDER_MIN_SEQUENCE:
        return False
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(digits)}
    return steps in ({1}, {9})


def placeholder_reason(
    digits: str, *, check_digit: bool = False, max_period: int = c.PLACEHOLDER_MAX_PERIOD
) -> str | None:
    """Why a run of digits looks made up (repeated pattern, counting sequence), or None.

    With ``check_digit`` the last digit may break the pattern (UPC/EAN 123123123125);
    ``max_period`` 1 accepts only one digit repeated (short codes repeat by chance).
    """
    if not digits.isdigit():
        return None
    for candidate in (digits, digits[:-1]) if check_digit else (digits,):
        if len(set(candidate)) == 1:
            return f"one digit repeated ({candidate[0]})"
        if max_period > 1 and _periodic_digits(candidate, max_period):
            return "a short pattern repeated"
        if _sequential(candidate):
            return "a counting sequence"
    return None


def identifier_findings(
    recording: ddex.SoundRecording,
    release: ddex.Release | None,
    message: ddex.Message,
    context: CatalogContext,
) -> list[FindingSpec]:
    """Malformed or placeholder ISRCs, placeholder UPCs, ISRC/ICPN reuse across the catalog."""
    specs: list[FindingSpec] = []
    location = _loc(recording)
    if recording.isrc:
        check = check_isrc(recording.isrc)
        if not check.ok:
            specs.append(
                _spec(
                    "info",
                    "spam_isrc_malformed",
                    f"ISRC {recording.isrc!r} is not a valid ISRC ({check.detail})",
                    location,
                    isrc=recording.isrc,
                    status=check.status,
                )
            )
        value = check.value or ""
        digits = value[ISRC_YEAR_START:]  # year + designation code
        reason = (
            placeholder_reason(digits, max_period=1) if len(digits) == ISRC_BODY_DIGITS else None
        )
        if reason is None and value[ISRC_DESIGNATION_START:] == c.ISRC_PLACEHOLDER_DESIGNATION:
            reason = "designation code 00000"
        if reason:
            specs.append(
                _spec(
                    "warning",
                    "spam_isrc_placeholder",
                    f"ISRC {recording.isrc} looks like a placeholder: {reason}",
                    location,
                    isrc=recording.isrc,
                    reason=reason,
                )
            )
    specs.extend(_isrc_reuse(recording, context, location))
    if release is not None and release.ids.icpn:
        specs.extend(_icpn_findings(release, message, context))
    return specs


def _isrc_reuse(
    recording: ddex.SoundRecording, context: CatalogContext, location: str | None
) -> list[FindingSpec]:
    specs: list[FindingSpec] = []
    other_audio = [
        u
        for u in context.isrc_uses
        if (context.asset_sha256 and u.asset_sha256 and u.asset_sha256 != context.asset_sha256)
        or (
            not (context.asset_sha256 and u.asset_sha256)
            and context.declared_hash
            and u.declared_hash
            and u.declared_hash.lower() != context.declared_hash.lower()
        )
    ]
    if other_audio:
        specs.append(
            _spec(
                "warning",
                "spam_isrc_reused_different_audio",
                f"ISRC {recording.isrc} is already in the catalog with different audio",
                location,
                isrc=recording.isrc,
                other_track_ids=[u.track_id for u in other_audio],
                other_assets=sorted({u.asset_sha256 or u.declared_hash or "" for u in other_audio}),
                this_asset=context.asset_sha256 or context.declared_hash,
            )
        )
    other_senders = sorted(
        {u.sender for u in context.isrc_uses if u.sender and u.sender != context.sender}
    )
    if other_senders and context.sender:
        specs.append(
            _spec(
                "warning",
                "spam_isrc_reused_other_sender",
                f"ISRC {recording.isrc} is already in the catalog from another sender",
                location,
                isrc=recording.isrc,
                sender=context.sender,
                other_senders=other_senders,
            )
        )
    return specs


def _icpn_findings(
    release: ddex.Release, message: ddex.Message, context: CatalogContext
) -> list[FindingSpec]:
    icpn = release.ids.icpn or ""
    location = _loc(release)
    specs: list[FindingSpec] = []
    reason = placeholder_reason(icpn.strip(), check_digit=True)
    if reason:
        specs.append(
            _spec(
                "warning",
                "spam_upc_placeholder",
                f"release UPC/EAN {icpn} looks like a placeholder: {reason}",
                location,
                icpn=icpn,
                reason=reason,
            )
        )
    in_message = [
        r.reference for r in message.releases if r.ids.icpn and r.ids.icpn.strip() == icpn.strip()
    ]
    others = [u for u in context.icpn_uses if u.icpn.strip() == icpn.strip()]
    if len(in_message) > 1 or others:
        senders = sorted({u.sender for u in others if u.sender})
        where = []
        if len(in_message) > 1:
            where.append(f"{len(in_message)} releases of this message")
        if others:
            where.append("other releases in the catalog")
        specs.append(
            _spec(
                "warning",
                "spam_icpn_reused",
                f"UPC/EAN {icpn} is used by {' and '.join(where)}",
                location,
                icpn=icpn,
                releases_in_message=in_message,
                other_release_ids=[u.release_id for u in others],
                other_senders=senders,
                other_titles=[u.title for u in others if u.title],
            )
        )
    return specs
