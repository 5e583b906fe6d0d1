"""Pure pieces of the service: filter verdicts per surface, risk of a track, rate limiting."""

from __future__ import annotations

import pytest

from integrity.api.auth import RateLimiter
from integrity.service import filtering, review
from integrity.service.errors import ServiceError


def _known(decision, source="policy", reason=None, track_id=1):
    return filtering._Known(track_id, "QZABC2600001", decision, source, reason)


@pytest.mark.parametrize(
    ("decision", "kept_on"),
    [
        ("clear", {"recommendation", "search", "editorial"}),
        ("review", {"search"}),
        ("escalated", {"search"}),
        ("filter", {"search"}),
        ("block", set()),
        (None, {"search"}),
    ],
)
def test_each_decision_is_kept_only_on_its_surfaces(decision, kept_on):
    for surface in filtering.SURFACES:
        verdict = filtering._verdict(1, [_known(decision)], surface)
        assert verdict["keep"] == (surface in kept_on), (decision, surface)


def test_the_most_restrictive_track_behind_an_isrc_decides():
    matches = [_known("clear", track_id=1), _known("block", "moderator", "fraud", track_id=2)]
    verdict = filtering._verdict("QZ-ABC-26-00001", matches, "search")
    assert verdict["keep"] is False
    assert verdict["reasons"][:2] == ["moderator:block", "fraud"]
    assert verdict["track_ids"] == [1, 2]


def test_an_isrc_answers_for_the_sender_that_delivered_it_first():
    first = filtering._Known(3, "QZABC2600001", "clear", "policy", None, "sender:1")
    again = filtering._Known(9, "QZABC2600001", "review", "policy", None, "sender:1")
    later = filtering._Known(5, "QZABC2600001", "block", "policy", None, "sender:2")
    assert filtering._first_claimant([later, again, first]) == [first, again]
    # Once a moderator removed the first claimant's track, the next sender's answers.
    removed = filtering._Known(3, "QZABC2600001", "block", "moderator", "fraud", "sender:1")
    assert filtering._first_claimant([later, removed]) == [later]


def test_unknown_and_invalid_identifiers_are_named():
    assert filtering._verdict(7, [], "search")["reasons"] == ["unknown_track"]
    assert filtering._verdict("not-an-isrc", [], "search")["reasons"] == ["invalid_isrc"]


@pytest.mark.parametrize(
    ("tracks", "surface", "field"),
    [
        ([1], "radio", "surface"),
        ([], "search", "tracks"),
        ([1.5], "search", "tracks[0]"),
        ([True], "search", "tracks[0]"),
        (list(range(filtering.MAX_TRACKS_PER_REQUEST + 1)), "search", "tracks"),
    ],
)
def test_bad_filter_requests_name_the_field(tracks, surface, field):
    with pytest.raises(ServiceError) as caught:
        filtering.parse_request(tracks, surface)
    assert caught.value.field == field and caught.value.status == 422


def test_risk_grows_with_severity_scores_and_count_but_stays_capped():
    assert review.risk_of([]) == (0.0, [])
    info_only = review.risk_of([("legacy_version", "info", {})])
    assert info_only == (0.0, [])
    warning, reasons = review.risk_of([("spam_x", "warning", {})])
    error, _ = review.risk_of([("audio_decode_failed", "error", {})])
    scored, _ = review.risk_of([("ai_generated", "warning", {"score": 0.93})])
    many, _ = review.risk_of([(f"spam_{n}", "error", {}) for n in range(30)])
    assert reasons == ["spam_x"]
    assert 0 < warning < scored < error <= many <= review.MAX_RISK


def test_rate_limiter_allows_a_burst_then_the_rate(monkeypatch):
    clock = {"now": 1000.0}
    monkeypatch.setattr("integrity.api.auth.time.monotonic", lambda: clock["now"])
    limiter = RateLimiter(default_per_minute=60, burst=2)
    assert [limiter.allow(1, None) for _ in range(2)] == [0.0, 0.0]
    wait = limiter.allow(1, None)
    assert wait == pytest.approx(1.0)
    assert limiter.allow(2, None) == 0.0  # another key has its own bucket
    clock["now"] += 1.0
    assert limiter.allow(1, None) == 0.0
    assert limiter.allow(1, 600) > 0.0  # the refill rate is the key's own
