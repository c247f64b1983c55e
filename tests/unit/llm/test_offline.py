"""The offline stand-ins: the rule-based extractor and consolidator, and the hashing embedder."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import date

import pytest
from engram.adapters.offline import OfflineEmbedder, OfflineLLM
from engram.models.conversation import ConversationEvent
from engram.models.extraction import Decision
from engram.models.memory import ManagedTopic
from engram.models.prompts import ConsolidationPrompt, ExtractionPrompt, TopicSpec, managed_topics

PERSONAL = ManagedTopic.USER_PERSONAL_INFO.value
PREFERENCES = ManagedTopic.USER_PREFERENCES.value
DETAILS = ManagedTopic.KEY_CONVERSATION_DETAILS.value
INSTRUCTIONS = ManagedTopic.EXPLICIT_INSTRUCTIONS.value


def extract(*turns: tuple[str, str, str], topics: list[TopicSpec] | None = None) -> list[tuple[str, list, list]]:
    """Run the offline extractor over (event_id, role, text) turns; returns (fact, topics, event_ids)."""
    prompt = ExtractionPrompt(
        events=[ConversationEvent(event_id=i, role=r, text=t) for i, r, t in turns],  # type: ignore[arg-type]
        topics=managed_topics() if topics is None else topics,
        today=date(2025, 5, 1),
    )
    result = OfflineLLM().extract(prompt)
    assert (result.input_tokens, result.output_tokens) == (0, 0)
    return [(f.fact, f.topics, f.event_ids) for f in result.output.facts]


def consolidate(existing: list[str], candidates: list[str]) -> list[tuple[Decision, int | None, str | None]]:
    result = OfflineLLM().consolidate(ConsolidationPrompt(existing=existing, candidates=candidates))
    decisions = result.output.decisions
    assert [d.candidate for d in decisions] == list(range(len(candidates)))
    return [(d.decision, d.memory, d.fact) for d in decisions]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# --- extraction ------------------------------------------------------------------------------------


def test_personal_facts_become_third_person_facts_with_their_event_id() -> None:
    # Given a conversation where the user introduces themselves over two turns
    turns = [
        ("m1", "user", "Hi! My name is Ana, nice to meet you."),
        ("m2", "assistant", "Nice to meet you, Ana! I live in the cloud."),
        ("m3", "user", "I'm a nurse and I live in Lisbon. I'm from Brazil. I'm allergic to peanuts."),
    ]

    # When the offline extractor reads it
    facts = extract(*turns)

    # Then each first-person statement of the user is one fact, with the id of the event it came from
    assert facts == [
        ("The user's name is Ana.", [PERSONAL], ["m1"]),
        ("The user is a nurse.", [PERSONAL], ["m3"]),
        ("The user lives in Lisbon.", [PERSONAL], ["m3"]),
        ("The user is from Brazil.", [PERSONAL], ["m3"]),
        ("The user is allergic to peanuts.", [PERSONAL], ["m3"]),
    ]


def test_preferences_possessions_work_and_moves() -> None:
    # Given statements of preferences, possessions, work and a move
    text = (
        "My favorite color is blue. I really love jazz! I hate cilantro. I don't like horror movies. "
        "I have two cats. I work as a software engineer. I moved to Porto last month."
    )

    # When extracted
    facts = extract(("0", "user", text))

    # Then each is phrased about the user, with the topic it belongs to
    assert facts == [
        ("The user's favorite color is blue.", [PREFERENCES], ["0"]),
        ("The user loves jazz.", [PREFERENCES], ["0"]),
        ("The user hates cilantro.", [PREFERENCES], ["0"]),
        ("The user dislikes horror movies.", [PREFERENCES], ["0"]),
        ("The user has two cats.", [PERSONAL], ["0"]),
        ("The user works as a software engineer.", [PERSONAL], ["0"]),
        ("The user lives in Porto.", [PERSONAL], ["0"]),
    ]


def test_negations_plans_and_explicit_instructions() -> None:
    # Given statements that something ended, plans, and requests to remember
    text = (
        "I no longer have a cat. I don't eat meat anymore. I sold my car. "
        "I'm planning to visit Japan next spring. I will start a new job on Monday. "
        "Remember that my sister's birthday is May 3. Always answer in French. Never call me Bob."
    )

    # When extracted
    facts = [(fact, topics) for fact, topics, _ in extract(("e", "user", text))]

    # Then negations are stated as "no longer", first person is shifted to the third person
    assert facts == [
        ("The user no longer has a cat.", [PERSONAL]),
        ("The user no longer eats meat.", [DETAILS]),
        ("The user no longer has their car.", [PERSONAL]),
        ("The user is planning to visit Japan next spring.", [DETAILS]),
        ("The user will start a new job on Monday.", [DETAILS]),
        ("The user asked to remember that their sister's birthday is May 3.", [INSTRUCTIONS]),
        ("The user asked to always answer in French.", [INSTRUCTIONS]),
        ("The user asked to never call them Bob.", [INSTRUCTIONS]),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Hello!",
        "Hi there, how are you?",
        "Where do I live?",
        "Do you think I like jazz?",
        "Thanks, bye.",
        "I like it.",
        "I have a question.",
        "I'll think about it.",
        "What is the capital of France?",
        "I love jazz, do you?",
        "I live in Lisbon, is that far from Porto?",
    ],
)
def test_questions_greetings_and_small_talk_yield_nothing(text: str) -> None:
    # Given a user turn with nothing durable in it
    # When extracted
    facts = extract(("1", "user", text))

    # Then no fact is proposed
    assert facts == []


def test_only_user_turns_are_read() -> None:
    # Given first-person statements made by the assistant and the system
    turns = [
        ("s", "system", "I am a helpful assistant. I live in a data center."),
        ("a", "assistant", "I love jazz."),
    ]

    # When extracted
    # Then nothing is attributed to the user
    assert extract(*turns) == []


def test_facts_outside_the_allowed_topics_are_skipped() -> None:
    # Given only the preferences topic is allowed
    topics = [t for t in managed_topics() if t.label == PREFERENCES]

    # When a message mixing personal info and a preference is extracted
    facts = extract(("1", "user", "I live in Lisbon and I love jazz."), topics=topics)

    # Then only the preference is kept
    assert facts == [("The user loves jazz.", [PREFERENCES], ["1"])]


def test_a_fact_stated_twice_is_returned_once_with_both_events() -> None:
    # Given the same statement in two user turns
    turns = [("a", "user", "I live in Lisbon."), ("b", "user", "As I said, hmm. I live in Lisbon!")]

    # When extracted
    facts = extract(*turns)

    # Then one fact carries both event ids
    assert facts == [("The user lives in Lisbon.", [PERSONAL], ["a", "b"])]


# --- consolidation ---------------------------------------------------------------------------------


def test_a_candidate_already_known_is_noop_on_that_memory() -> None:
    # Given a stored fact and the same fact again, differently cased and punctuated
    existing = ["The user has a cat.", "The user lives in Lisbon."]

    # When consolidated
    decisions = consolidate(existing, ["the user lives in lisbon"])

    # Then it is a NOOP pointing at the memory that holds it
    assert decisions == [(Decision.NOOP, 1, None)]


def test_a_new_value_for_a_single_valued_slot_updates_that_memory() -> None:
    # Given where the user lives, their favourite colour and a liked genre
    existing = ["The user likes jazz.", "The user lives in Lisbon.", "The user's favorite color is blue."]

    # When the conversation gives new values
    candidates = ["The user lives in Porto.", "The user's favorite color is green.", "The user dislikes jazz."]
    decisions = consolidate(existing, candidates)

    # Then each updates the memory of the same slot with the new text
    assert decisions == [
        (Decision.UPDATE, 1, "The user lives in Porto."),
        (Decision.UPDATE, 2, "The user's favorite color is green."),
        (Decision.UPDATE, 0, "The user dislikes jazz."),
    ]


def test_a_negated_candidate_deletes_the_fact_it_negates() -> None:
    # Given a stored possession and a stored residence
    existing = ["The user lives in Lisbon.", "The user has a cat named Tom."]

    # When the user says they no longer have a cat, and no longer have a dog (never stored)
    decisions = consolidate(existing, ["The user no longer has a cat.", "The user no longer has a dog."])

    # Then the cat is deleted and the unknown negation is kept as a new fact
    assert decisions == [(Decision.DELETE, 1, None), (Decision.CREATE, None, None)]


def test_a_long_negation_is_not_mistaken_for_the_fact_it_negates() -> None:
    # Given a long stored fact, and its negation, which shares almost every word with it
    existing = ["The user has a red bicycle with a basket and a bell from their grandmother."]
    candidate = "The user no longer has a red bicycle with a basket and a bell from their grandmother."

    # When consolidated
    # Then the memory is deleted, not treated as already known
    assert consolidate(existing, [candidate]) == [(Decision.DELETE, 0, None)]


def test_unrelated_candidates_are_created() -> None:
    # Given stored facts
    existing = ["The user lives in Lisbon.", "The user likes jazz."]

    # When consolidating facts of other kinds
    decisions = consolidate(existing, ["The user has two dogs.", "The user likes pizza.", "The user is a nurse."])

    # Then each is created (liking pizza does not replace liking jazz)
    assert decisions == [(Decision.CREATE, None, None)] * 3


def test_repeated_and_superseded_candidates_are_noop() -> None:
    # Given nothing stored yet
    # When the conversation repeats a fact and changes its mind about where the user lives
    candidates = [
        "The user has two dogs.",
        "The user lives in Berlin.",
        "The user has two dogs.",
        "The user lives in Porto.",
    ]
    decisions = consolidate([], candidates)

    # Then the repeat is NOOP, the earlier residence is superseded by the later one
    assert decisions == [
        (Decision.CREATE, None, None),
        (Decision.NOOP, None, None),
        (Decision.NOOP, None, None),
        (Decision.CREATE, None, None),
    ]


def test_a_memory_is_changed_at_most_once_and_indexes_stay_in_range() -> None:
    # Given one stored fact and many candidates aiming at it
    existing = ["The user has a cat."]
    candidates = ["The user no longer has a cat.", "The user no longer has their cats.", "The user has a dog."]

    # When consolidated
    decisions = consolidate(existing, candidates)

    # Then only the first deletion touches memory 0, and every index names an existing memory
    assert decisions[0] == (Decision.DELETE, 0, None)
    assert [d for d, _, _ in decisions].count(Decision.DELETE) == 1
    assert all(m is None or 0 <= m < len(existing) for _, m, _ in decisions)


def test_no_existing_memories_means_every_new_candidate_is_created() -> None:
    # Given an empty memory bank
    # When consolidating two different facts
    decisions = consolidate([], ["The user is a nurse.", "The user lives in Lisbon."])

    # Then both are created and no memory index appears
    assert decisions == [(Decision.CREATE, None, None), (Decision.CREATE, None, None)]


# --- embedder ----------------------------------------------------------------------------------------


def test_embeddings_are_deterministic_unit_vectors_of_the_dimension() -> None:
    # Given two embedders of the same dimension (as two processes would have)
    texts = ["The user lives in Lisbon.", "", "!!!"]

    # When embedding the same texts
    first, second = OfflineEmbedder(64).embed(texts), OfflineEmbedder(64).embed(texts)

    # Then the vectors are equal, of the dimension, unit length, in input order
    assert first == second
    assert [len(v) for v in first] == [64, 64, 64]
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0) for v in first)
    assert first[0] != first[1]
    assert OfflineEmbedder().dimension == 256 and len(OfflineEmbedder().embed(["x"])[0]) == 256
    assert OfflineEmbedder().embed([]) == []


def test_vectors_are_the_same_in_another_process() -> None:
    # Given a vector computed here
    text = "The user lives in Lisbon."
    here = OfflineEmbedder(32).embed([text])[0]

    # When another interpreter, with another string-hash seed, embeds the same text
    code = (
        "import json; from engram.adapters.offline import OfflineEmbedder; "
        f"print(json.dumps(OfflineEmbedder(32).embed([{text!r}])[0]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)

    # Then it is the same vector (stored embeddings stay comparable across Lambda instances)
    assert json.loads(out.stdout) == pytest.approx(here)


def test_a_question_is_closest_to_the_fact_that_answers_it() -> None:
    # Given two facts and a question about one of them
    embedder = OfflineEmbedder()
    question, lives, likes = embedder.embed(
        ["Where does the user live?", "The user lives in Lisbon.", "The user likes jazz."]
    )

    # Then the question is closer to where the user lives than to their taste in music
    assert cosine(question, lives) > cosine(question, likes) + 0.2


def test_similar_wording_is_close_and_unrelated_text_is_far() -> None:
    # Given paraphrases and unrelated facts
    embedder = OfflineEmbedder()
    works, working, jazz, cats = embedder.embed(
        [
            "The user works as a nurse.",
            "The user is working as a nurse.",
            "The user likes jazz.",
            "The user has two cats.",
        ]
    )

    # Then inflections meet (works / working) and unrelated facts are far apart
    assert cosine(works, working) > 0.8
    assert cosine(jazz, cats) < 0.3
    # and a new value of the same kind of fact stays a neighbour (consolidation finds it)
    porto, lisbon = embedder.embed(["The user lives in Porto.", "The user lives in Lisbon."])
    assert cosine(porto, lisbon) >= 0.5
