"""The API's in-process bounds: the key cache and the local rate-limit buckets stay bounded
whatever keys and addresses clients make up."""

from __future__ import annotations

from integrity.api.auth import KeyCache, Principal, RateLimiter


def _principal(key_id: int) -> Principal:
    return Principal(
        key_id=key_id,
        name=f"key-{key_id}",
        role="service",
        scopes=frozenset({"filter"}),
        sender=None,
        rate_per_minute=None,
    )


def test_the_key_cache_keeps_at_most_its_size_least_recently_used_out_first():
    cache = KeyCache(max_entries=3)
    for n in range(3):
        cache.put(f"hash-{n}", _principal(n))
    assert cache.get("hash-0") == (True, _principal(0))  # now the most recently used
    cache.put("unknown-1", None)  # a made-up key, cached as unknown
    cache.put("unknown-2", None)
    assert len(cache) == 3
    assert cache.get("hash-1") == (False, None) and cache.get("hash-2") == (False, None)
    assert cache.get("hash-0") == (True, _principal(0))
    assert cache.get("unknown-2") == (True, None)


def test_local_rate_limit_buckets_are_bounded_and_keep_the_busy_ones():
    limiter = RateLimiter(default_per_minute=60, burst=2, max_buckets=4)
    assert limiter.allow("addr:busy", None) == 0.0
    assert limiter.allow("addr:busy", None) == 0.0
    for n in range(10):
        limiter.allow(f"addr:10.0.0.{n}", None)
        limiter.allow("addr:busy", None)  # keeps its bucket the most recently used
    assert len(limiter._buckets) == 4
    assert limiter.allow("addr:busy", None) > 0.0  # still empty: its bucket was never dropped
