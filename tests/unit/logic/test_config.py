"""Tenant configuration use cases (``engram.logic.config``): read with defaults, replace as a whole, the
validation a ``PUT /v1/config`` body goes through (``TenantConfig``), and the TTL arithmetic."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from engram.errors import PayloadTooLarge
from engram.logic.config import expire_at, get_config, put_config
from engram.models.config import DAY, MAX_TTL_SECONDS, TenantConfig
from engram.models.memory import ManagedTopic
from pydantic import ValidationError

TENANT = "tenant-a"
OTHER_TENANT = "tenant-b"
MANAGED = ["USER_PERSONAL_INFO", "USER_PREFERENCES", "KEY_CONVERSATION_DETAILS", "EXPLICIT_INSTRUCTIONS"]


def config(**fields: Any) -> TenantConfig:
    """A configuration as the API reads a ``PUT /v1/config`` body."""
    return TenantConfig.model_validate(fields)


def example(*facts: dict[str, Any]) -> dict[str, Any]:
    return {"conversation": [{"role": "user", "content": "I only eat vegetables."}], "facts": list(facts)}


# --- get: defaults ------------------------------------------------------------------------------------------


def test_a_tenant_that_never_set_a_config_gets_the_defaults(stores) -> None:
    # Given a tenant that never stored a configuration
    # When its configuration is read
    got = get_config(stores.configs, TENANT)

    # Then every managed topic is on, there are no custom topics or examples, revisions live 365 days,
    # session events 90 days, operations 30 days, and memories never expire unless told to
    assert got.managed_topics == [ManagedTopic(t) for t in MANAGED]
    assert got.topic_labels() == MANAGED
    assert (got.custom_topics, got.examples) == ([], [])
    assert got.ttl.revision_ttl_seconds == 365 * DAY
    assert got.ttl.session_event_ttl_seconds == 90 * DAY
    assert got.ttl.operation_ttl_seconds == 30 * DAY
    assert (got.ttl.create_ttl_seconds, got.ttl.generate_created_ttl_seconds, got.ttl.generate_updated_ttl_seconds) == (
        None,
        None,
        None,
    )
    # ... and reading stored nothing
    assert stores.configs.get(TENANT) is None


# --- put ----------------------------------------------------------------------------------------------------


def test_a_stored_config_is_read_back_as_put(stores, clock) -> None:
    # Given a configuration with a custom topic, an example using it and TTLs
    wanted = config(
        managed_topics=["USER_PREFERENCES"],
        custom_topics=[{"label": "FOOD", "description": "What the user eats."}],
        examples=[example({"fact": "The user is vegetarian.", "topics": ["FOOD", "USER_PREFERENCES"]})],
        ttl={"create_ttl_seconds": 3600, "session_event_ttl_seconds": 7 * DAY, "revision_ttl_seconds": None},
    )

    # When it is put
    returned = put_config(stores.configs, clock, TENANT, wanted)

    # Then it is returned and read back equal, as a JSON document in the store
    assert returned == wanted
    assert get_config(stores.configs, TENANT) == wanted
    stored = stores.configs.get(TENANT)
    assert stored["managed_topics"] == ["USER_PREFERENCES"]
    assert stored["ttl"]["session_event_ttl_seconds"] == 7 * DAY
    assert stored["ttl"]["revision_ttl_seconds"] is None


def test_put_replaces_the_whole_config(stores, clock) -> None:
    # Given a stored configuration with a custom topic, an example and a create TTL
    put_config(
        stores.configs,
        clock,
        TENANT,
        config(
            custom_topics=[{"label": "FOOD", "description": "What the user eats."}],
            examples=[example({"fact": "The user is vegetarian.", "topics": ["FOOD"]})],
            ttl={"create_ttl_seconds": 3600},
        ),
    )

    # When a configuration naming only a session TTL is put
    put_config(stores.configs, clock, TENANT, config(ttl={"session_event_ttl_seconds": 600}))

    # Then nothing of the first is kept: the rest are the defaults again
    got = get_config(stores.configs, TENANT)
    assert got == config(ttl={"session_event_ttl_seconds": 600})
    assert (got.custom_topics, got.examples, got.ttl.create_ttl_seconds) == ([], [], None)
    assert got.ttl.revision_ttl_seconds == 365 * DAY


def test_configs_are_per_tenant(stores, clock) -> None:
    # Given a tenant that turned the managed topics off
    put_config(stores.configs, clock, TENANT, config(managed_topics=[]))

    # When both tenants' configurations are read
    # Then only that tenant's changed
    assert get_config(stores.configs, TENANT).topic_labels() == []
    assert get_config(stores.configs, OTHER_TENANT).topic_labels() == MANAGED


# --- validation: topics -------------------------------------------------------------------------------------


def test_custom_topics_follow_the_managed_ones_in_the_labels(stores, clock) -> None:
    # Given managed topics narrowed to two and two custom topics
    got = config(
        managed_topics=["EXPLICIT_INSTRUCTIONS", "USER_PERSONAL_INFO"],
        custom_topics=[{"label": "FOOD", "description": "d"}, {"label": "Travel_2", "description": "d"}],
    )

    # Then the labels are the managed ones as given, then the custom ones
    assert got.topic_labels() == ["EXPLICIT_INSTRUCTIONS", "USER_PERSONAL_INFO", "FOOD", "Travel_2"]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"custom_topics": [{"label": "USER_PREFERENCES", "description": "d"}]}, "unique"),
        ({"custom_topics": [{"label": "FOOD", "description": "a"}, {"label": "FOOD", "description": "b"}]}, "unique"),
        ({"managed_topics": ["USER_PREFERENCES", "USER_PREFERENCES"]}, "unique"),
        ({"managed_topics": ["NOT_A_MANAGED_TOPIC"]}, "managed_topics"),
        ({"custom_topics": [{"label": "1FOOD", "description": "d"}]}, "label"),
        ({"custom_topics": [{"label": "FOOD-STUFF", "description": "d"}]}, "label"),
        ({"custom_topics": [{"label": "F" * 65, "description": "d"}]}, "label"),
        ({"custom_topics": [{"label": "FOOD", "description": ""}]}, "description"),
        ({"custom_topics": [{"label": "FOOD"}]}, "description"),
        ({"custom_topics": [{"label": f"T{i}", "description": "d"} for i in range(21)]}, "custom_topics"),
        ({"topics": []}, "topics"),
    ],
    ids=[
        "custom label reuses a managed one",
        "two custom topics share a label",
        "a managed topic twice",
        "unknown managed topic",
        "label starts with a digit",
        "label with a dash",
        "label of 65 characters",
        "empty description",
        "no description",
        "21 custom topics",
        "unknown field",
    ],
)
def test_invalid_topics_are_rejected(fields: dict[str, Any], problem: str) -> None:
    # Given a configuration body with a topic problem
    # When it is read, Then it is rejected, naming the problem
    with pytest.raises(ValidationError, match=problem):
        config(**fields)


def test_twenty_custom_topics_and_no_managed_ones_are_accepted() -> None:
    # Given the most custom topics allowed, managed topics turned off
    got = config(managed_topics=[], custom_topics=[{"label": f"T{i}", "description": "d"} for i in range(20)])

    # Then all twenty are the labels
    assert got.topic_labels() == [f"T{i}" for i in range(20)]


# --- validation: few-shot examples --------------------------------------------------------------------------


def test_an_example_may_teach_that_nothing_is_extracted() -> None:
    # Given an example whose conversation yields no fact
    got = config(examples=[example()])

    # Then it is accepted with an empty list of facts
    assert got.examples[0].facts == []


def test_example_facts_may_use_managed_and_custom_topics() -> None:
    # Given an example fact labelled with a managed and a custom topic
    got = config(
        custom_topics=[{"label": "FOOD", "description": "d"}],
        examples=[example({"fact": "The user is vegetarian.", "topics": ["FOOD", "USER_PREFERENCES"]})],
    )

    # Then it is accepted
    assert got.examples[0].facts[0].topics == ["FOOD", "USER_PREFERENCES"]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"examples": [example({"fact": "x", "topics": ["FOOD"]})]}, "unknown topics"),
        ({"managed_topics": [], "examples": [example({"fact": "x", "topics": ["USER_PREFERENCES"]})]}, "unknown"),
        ({"examples": [example({"fact": ""})]}, "fact"),
        ({"examples": [{"conversation": [], "facts": []}]}, "conversation"),
        ({"examples": [example(*({"fact": f"fact {i}"} for i in range(21)))]}, "facts"),
        ({"examples": [example()] * 11}, "examples"),
        ({"examples": [{**example(), "notes": "x"}]}, "notes"),
    ],
    ids=[
        "fact uses an unknown topic",
        "fact uses a managed topic that is turned off",
        "empty fact",
        "no conversation",
        "21 facts",
        "11 examples",
        "unknown field",
    ],
)
def test_invalid_examples_are_rejected(fields: dict[str, Any], problem: str) -> None:
    # Given a configuration body with an example problem
    # When it is read, Then it is rejected, naming the problem
    with pytest.raises(ValidationError, match=problem):
        config(**fields)


def test_a_config_larger_than_one_stored_item_is_payload_too_large() -> None:
    # Given examples whose conversations hold 12 messages of 30,000 characters (360,000 bytes stored)
    long_talk = [{"role": "user", "content": "a" * 30_000}] * 12

    # When the configuration is read, Then it is too large for one item (413, not 422)
    with pytest.raises(PayloadTooLarge, match="350,000"):
        config(examples=[{"conversation": long_talk, "facts": []}])

    # ... while one message fewer fits
    assert len(config(examples=[{"conversation": long_talk[:11], "facts": []}]).examples) == 1


# --- validation: TTL defaults -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "minimum"),
    [
        ("create_ttl_seconds", 60),
        ("generate_created_ttl_seconds", 60),
        ("generate_updated_ttl_seconds", 60),
        ("revision_ttl_seconds", 60),
        ("session_event_ttl_seconds", 60),
        ("operation_ttl_seconds", 3600),
    ],
)
def test_each_ttl_is_between_its_minimum_and_ten_years_or_none(name: str, minimum: int) -> None:
    # Given each TTL at its bounds (a minute; an hour for operations, so a running generation is never
    # removed under itself), and turned off
    # Then the minimum, ten years and None are accepted
    for seconds in (minimum, MAX_TTL_SECONDS, None):
        assert getattr(config(ttl={name: seconds}).ttl, name) == seconds

    # ... and a second less than the minimum, ten years and a second, zero and a negative number are rejected
    for seconds in (minimum - 1, MAX_TTL_SECONDS + 1, 0, -60):
        with pytest.raises(ValidationError, match=name):
            config(ttl={name: seconds})


@pytest.mark.parametrize("value", ["3600", 3600.0, True], ids=["string", "float", "boolean"])
def test_a_ttl_is_an_integer_on_the_wire(value: object) -> None:
    # Given a TTL that is not a JSON integer
    # When it is read, Then it is rejected, naming it
    with pytest.raises(ValidationError, match="create_ttl_seconds"):
        config(ttl={"create_ttl_seconds": value})


def test_an_unknown_ttl_is_rejected() -> None:
    # Given a TTL the configuration does not know
    # When it is read, Then it is rejected, naming it
    with pytest.raises(ValidationError, match="memory_ttl_seconds"):
        config(ttl={"memory_ttl_seconds": 3600})


# --- expire_at ----------------------------------------------------------------------------------------------


def test_expire_at_adds_the_ttl_to_now(clock) -> None:
    # Given a TTL of one hour and one of ten years
    # When the expiry is computed
    # Then it is that long after now
    assert expire_at(clock.now(), 3600) == clock.now() + timedelta(hours=1)
    assert expire_at(clock.now(), MAX_TTL_SECONDS) == clock.now() + timedelta(days=3650)


def test_expire_at_without_a_ttl_never_expires(clock) -> None:
    # Given no TTL, When the expiry is computed, Then there is none
    assert expire_at(clock.now(), None) is None
