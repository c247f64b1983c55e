"""The local front's authorizer cache (``engram_dev.front.AuthorizerCache``): a policy is kept per token for
the TTL, as API Gateway keeps it for ``ReauthorizeEvery``, and a ``clear()`` is never undone by an answer
the authorizer gave before it."""

from __future__ import annotations

from engram_dev.front import AuthorizerCache, authorizer_ttl

ALLOW = {"principalId": "t1", "policyDocument": {"Statement": [{"Effect": "Allow", "Resource": "*"}]}}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_policy_is_kept_for_the_ttl_then_asked_again() -> None:
    clock = Clock()
    cache = AuthorizerCache(300, clock)
    cache.put("Bearer a", ALLOW, cache.generation)
    clock.now += 299.9
    assert cache.get("Bearer a") == ALLOW
    assert cache.get("Bearer b") is None
    clock.now += 0.1
    assert cache.get("Bearer a") is None


def test_a_ttl_of_0_keeps_nothing() -> None:
    cache = AuthorizerCache(0)
    cache.put("Bearer a", ALLOW, cache.generation)
    assert cache.get("Bearer a") is None


def test_clear_drops_every_policy_and_an_answer_from_before_it_is_not_kept() -> None:
    # Given a kept policy, and a request that asked the authorizer before a key was revoked
    cache = AuthorizerCache(300)
    cache.put("Bearer a", ALLOW, cache.generation)
    in_flight = cache.generation
    # When the cache is cleared (a key item changed) and that answer arrives afterwards
    cache.clear()
    cache.put("Bearer b", ALLOW, in_flight)
    # Then neither is kept; an answer asked for after the clear is
    assert cache.get("Bearer a") is None and cache.get("Bearer b") is None
    cache.put("Bearer b", ALLOW, cache.generation)
    assert cache.get("Bearer b") == ALLOW


def test_the_ttl_is_the_templates_reauthorize_every() -> None:
    assert authorizer_ttl() == 300
