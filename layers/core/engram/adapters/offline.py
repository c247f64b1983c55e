"""Offline stand-ins for the ``LLM`` and ``Embedder`` ports: deterministic, rule based, no network.

Used when neither ``OPENAI_API_KEY`` nor ``OPENAI_BASE_URL`` is set (``ENGRAM_PROVIDER=auto``) or when
``ENGRAM_PROVIDER=offline``, so the local demo and the test suites work without a model. They are
labelled by their ``model_id`` (``engram-offline-*``) and ``offline = True`` wherever usage is shown.
They are not a substitute for a real model: the extractor only understands a fixed set of simple
first-person English statements, and the embedder is a bag of hashed words and character trigrams.

- ``OfflineEmbedder``: feature hashing of stemmed words, character trigrams and word bigrams into a
  unit-length vector. Same text → same vector, in every process (hashlib, never ``hash()``).
- ``OfflineLLM``: ``extract`` turns first-person statements of the user into third-person facts;
  ``consolidate`` decides NOOP / UPDATE / DELETE / CREATE by text overlap, single-valued "slots" and
  negation; ``compress`` merges a group's facts by rule (see ``compress_facts``); ``describe_image`` cannot see images: it returns the image's caption, or a placeholder,
  labelled as not analysed. Usage tokens are always 0.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engram.models.compression import CompressionOutput
from engram.models.conversation import DESCRIBED_IMAGE
from engram.models.extraction import (
    CandidateFact,
    ConsolidationDecision,
    ConsolidationOutput,
    Decision,
    ExtractionOutput,
    ImageDescription,
)
from engram.models.memory import MAX_FACT_CHARS, ManagedTopic
from engram.ports import LLMResult

if TYPE_CHECKING:
    from engram.models.conversation import InlineData
    from engram.models.prompts import CompressionPrompt, ConsolidationPrompt, ExtractionPrompt

NOT_ANALYSED = "image not analysed offline"
"""The label on every offline image description: the offline model never looks at the pixels."""

# --- text helpers shared by the embedder and the consolidator --------------------------------------

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")

STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "into",
        "onto",
        "about",
        "as",
        "than",
        "so",
        "too",
        "very",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "doing",
        "done",
        "have",
        "has",
        "had",
        "having",
        "can",
        "could",
        "will",
        "would",
        "shall",
        "should",
        "may",
        "might",
        "must",
        "i",
        "me",
        "my",
        "mine",
        "myself",
        "you",
        "your",
        "yours",
        "we",
        "our",
        "us",
        "he",
        "him",
        "his",
        "she",
        "her",
        "it",
        "its",
        "they",
        "them",
        "their",
        "theirs",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "where",
        "when",
        "why",
        "how",
        "not",
        "no",
        "longer",
        "anymore",
        "just",
        "also",
        "really",
        "user",
        "users",
        "s",
    ]
)


def _words(text: str) -> list[str]:
    """Lower-cased word tokens; a possessive ``'s`` is dropped (``user's`` → ``user``)."""
    out = []
    for token in _WORD.findall(text.translate(_APOSTROPHES).lower()):
        if token.endswith("'s"):
            token = token[:-2]
        out.append(token.replace("'", ""))
    return out


def stem(word: str) -> str:
    """A crude suffix stemmer: ``works``/``working``/``worked`` → ``work``, ``lives``/``lived`` → ``liv``.

    Not linguistics, only consistency: the same rules run on every text, so inflections of one word
    usually meet on one stem.
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    else:
        for suffix in ("ing", "ed", "es", "s"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                if suffix == "s" and word.endswith(("ss", "us", "is")):
                    break
                word = word[: -len(suffix)]
                break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeioulsz":
        word = word[:-1]  # running → runn → run
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]  # live → liv, so it meets lives / lived / living
    return word


# --- embedder ----------------------------------------------------------------------------------------

_WORD_WEIGHT = 1.0
_TRIGRAM_WEIGHT = 0.25
_BIGRAM_WEIGHT = 0.5
#: Words whose stem and terms are kept (about 800 bytes each: at most about 7 MB), and pairs of consecutive
#: stems whose term is kept (about 200 bytes each: at most about 3 MB).
WORD_CACHE_SIZE = 8_192
PAIR_CACHE_SIZE = 16_384


class OfflineEmbedder:
    """Deterministic feature-hashing embedder (no network, no model).

    Features of a text, each hashed (blake2b) to one of ``dimension`` buckets with a sign:
    stems of the words that are not stop words (weight 1), character trigrams of those words
    (weight 0.25, so spelling variants stay close) and bigrams of consecutive stems including stop words
    (weight 0.5, so "the user lives ..." facts share structure). The vector is L2-normalized; a text
    without any word still gets a (fixed) unit vector.

    Shapes: ``embed(["a", "b"])`` → two lists of ``dimension`` floats, in input order; ``[]`` → ``[]``.
    Raises nothing.
    """

    model_id = "engram-offline-hash-v1"
    offline = True

    def __init__(self, dimension: int = 256) -> None:
        if dimension < 8:
            raise ValueError("dimension must be at least 8")
        self.dimension = dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed_one(text) for text in texts]

    def embed_one(self, text: str) -> list[float]:
        vector = [0.0] * self.dimension
        for bucket, value in _terms(text, self.dimension):
            vector[bucket] += value
        norm = math.sqrt(sum([v * v for v in vector]))
        if norm == 0.0:  # only possible through cancelling collisions; stay unit length
            vector = [0.0] * self.dimension
            vector[0], norm = 1.0, 1.0
        return [v / norm for v in vector]


def _terms(text: str, dimension: int) -> list[tuple[int, float]]:
    """The text's features as ``(bucket, signed weight)``, in this order (the vector's sums are made in
    it): for each word that is not a stop word (every word when all are), ``w:<stem>`` then the trigrams
    ``c:<abc>`` of ``#word#``; then ``b:<stem>_<stem>`` of each pair of consecutive words; ``empty`` for a
    text without words. A word's terms, a pair's term and a word's stem are kept (``_word_terms``,
    ``_pair_term``, ``_stem``): words repeat from text to text, and hashing and formatting each feature
    was most of an embedding's time."""
    words = _words(text)
    stems = [_stem(w) for w in words]
    content = [w for w in words if w not in STOP_WORDS] or words  # only stop words ("who are you"): use them
    if not content:
        return [_signed(*_bucket("empty", dimension), 1.0)]
    terms: list[tuple[int, float]] = []
    for word in content:
        terms.extend(_word_terms(word, dimension))
    terms.extend(_pair_term(a, b, dimension) for a, b in zip(stems, stems[1:], strict=False))
    return terms


#: ``stem``, kept for the most recent words.
_stem = functools.lru_cache(maxsize=WORD_CACHE_SIZE)(stem)


@functools.lru_cache(maxsize=WORD_CACHE_SIZE)
def _word_terms(word: str, dimension: int) -> tuple[tuple[int, float], ...]:
    """A content word's terms: its stem (``_WORD_WEIGHT``), then each trigram of ``#word#``
    (``_TRIGRAM_WEIGHT``)."""
    padded = f"#{word}#"
    terms = [_signed(*_bucket(f"w:{_stem(word)}", dimension), _WORD_WEIGHT)]
    terms.extend(
        _signed(*_bucket(f"c:{padded[i : i + 3]}", dimension), _TRIGRAM_WEIGHT) for i in range(len(padded) - 2)
    )
    return tuple(terms)


@functools.lru_cache(maxsize=PAIR_CACHE_SIZE)
def _pair_term(first: str, second: str, dimension: int) -> tuple[int, float]:
    """The term of the bigram of two consecutive stems (``_BIGRAM_WEIGHT``)."""
    return _signed(*_bucket(f"b:{first}_{second}", dimension), _BIGRAM_WEIGHT)


def _signed(bucket: int, positive: bool, weight: float) -> tuple[int, float]:
    return bucket, weight if positive else -weight


def _bucket(feature: str, dimension: int) -> tuple[int, bool]:
    """The feature's bucket in a ``dimension``-long vector and its sign (True: added): the first 4 bytes
    of its 8-byte BLAKE2b digest, big-endian, modulo ``dimension``; the low bit of the fifth byte."""
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest[:4], "big") % dimension, bool(digest[4] & 1)


# --- extractor ---------------------------------------------------------------------------------------

PERSONAL = ManagedTopic.USER_PERSONAL_INFO.value
PREFERENCES = ManagedTopic.USER_PREFERENCES.value
DETAILS = ManagedTopic.KEY_CONVERSATION_DETAILS.value
INSTRUCTIONS = ManagedTopic.EXPLICIT_INSTRUCTIONS.value

_LEAD = re.compile(
    r"^(?:(?:hi there|hello there|hey there|hi|hello|hey|oh|ah|well|actually|also|so|yes|yeah|yep|no|nope|"
    r"ok|okay|by the way|btw|anyway|and|but|honestly|fyi|just so you know|to be honest|now|um|uh)"
    r"\b[\s,!.:;-]*)+",
    re.IGNORECASE,
)
_TRAILING = re.compile(
    r"(?:,?\s+(?:too|as well|a lot|so much|very much|though|actually|now|these days|nowadays|"
    r"anymore|any more))+$",
    re.IGNORECASE,
)
_TIME_TAIL = re.compile(
    r"\s+(?:(?:last|this|next) (?:week|month|year|summer|winter|spring|fall|autumn)|recently|yesterday|"
    r"(?:a|one|two|three|a few|a couple of) (?:days|weeks|months|years?) ago|in \d{4})$",
    re.IGNORECASE,
)
_SHIFT = re.compile(r"\b(?:i am|i'm|i was|i've|i'll|i'd|i|myself|mine|my|me)\b", re.IGNORECASE)
_SHIFTED = {
    "i am": "they are",
    "i'm": "they're",
    "i was": "they were",
    "i've": "they've",
    "i'll": "they'll",
    "i'd": "they'd",
    "i": "they",
    "myself": "themselves",
    "mine": "theirs",
    "my": "their",
    "me": "them",
}
_VAGUE_OBJECTS = frozenset({"it", "that", "this", "them", "those", "these", "you", "one", "so", "too"})
_NOT_POSSESSIONS = re.compile(
    r"^(?:a|an|one|some)\s+(?:quick\s+|small\s+|short\s+|simple\s+)?"
    r"(?:question|problem|issue|idea|suggestion|request|doubt|favou?r|moment|minute|second|sec)\b",
    re.IGNORECASE,
)
_TRIVIAL_FUTURE = re.compile(
    r"^(?:think|try|check|see|let you know|be right back|get back|look|have to|do that|do it)\b", re.IGNORECASE
)


def _third_person(verb: str) -> str:
    """``like`` → ``likes``, ``have`` → ``has``, ``watch`` → ``watches``, ``study`` → ``studies``."""
    lower = verb.lower()
    irregular = {"have": "has", "be": "is", "am": "is", "do": "does", "go": "goes"}
    if lower in irregular:
        return irregular[lower]
    if lower in {"can", "will", "should", "must", "may", "might", "could", "would"}:
        return lower
    if lower.endswith(("s", "sh", "ch", "x", "z", "o")):
        return lower + "es"
    if len(lower) > 1 and lower.endswith("y") and lower[-2] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


def _shift(text: str) -> str:
    """First person → third person: ``my`` → ``their``, ``I am`` → ``they are``, ``me`` → ``them``."""
    return _SHIFT.sub(lambda m: _SHIFTED[" ".join(m.group(0).lower().split())], text)


def _clean(x: str | None, *, shift: bool = True, drop_time: bool = False) -> str | None:
    """Trim fillers (``too``, ``a lot``, ``now``...) and punctuation; optionally a trailing time phrase."""
    if x is None:
        return None
    x = " ".join(x.split()).strip(" ,.!;:-")
    previous = None
    while previous != x:
        previous = x
        x = _TRAILING.sub("", x).strip(" ,.!;:-")
        if drop_time:
            x = _TIME_TAIL.sub("", x).strip(" ,.!;:-")
    if not x or x.lower() in _VAGUE_OBJECTS:
        return None
    return _shift(x) if shift else x


@dataclass(frozen=True)
class _Rule:
    """A sentence pattern and how to phrase its fact. ``build`` gets the match and returns the text that
    follows "The user" (``" lives in Lisbon"``, ``"'s name is Ana"``) and its topic, or None to skip."""

    pattern: re.Pattern[str]
    build: Callable[[re.Match[str]], tuple[str, str] | None]


def _rule(pattern: str) -> Callable[[Callable[[re.Match[str]], tuple[str, str] | None]], _Rule]:
    def wrap(build: Callable[[re.Match[str]], tuple[str, str] | None]) -> _Rule:
        return _Rule(re.compile(pattern, re.IGNORECASE), build)

    return wrap


def _fact(prefix: str, x: str | None, topic: str) -> tuple[str, str] | None:
    return (f"{prefix}{x}", topic) if x else None


# The positive rules, most specific first. Each sees one clause with its lead fillers removed and no
# final punctuation. "I'm" and "I am" are both accepted wherever one is.
_I_AM = r"i(?:'m| am)"


@_rule(r"^(?:my name is|my name's|" + _I_AM + r" called|call me|people call me|everyone calls me) (?P<x>.+)$")
def _name(m: re.Match[str]) -> tuple[str, str] | None:
    name = _clean(m["x"].split(",")[0], shift=False)
    return _fact("'s name is ", name, PERSONAL)


@_rule(r"^my (?P<n>[\w'-]+(?: [\w'-]+){0,3}?) (?P<v>is|are) (?P<x>.+)$")
def _my_noun(m: re.Match[str]) -> tuple[str, str] | None:
    noun = m["n"].lower()
    if {"i", "and", "but", "or"} & set(noun.split()):
        return None
    topic = PREFERENCES if re.search(r"favou?rite|preferred", noun) else PERSONAL
    return _fact(f"'s {noun} {m['v'].lower()} ", _clean(m["x"]), topic)


@_rule(
    r"^i(?: currently| now| still)?(?: live|'m living| am living| reside|'m based| am based|'m staying| am staying)"
    r" in (?P<x>.+)$"
)
def _lives(m: re.Match[str]) -> tuple[str, str] | None:
    return _fact(" lives in ", _clean(m["x"], drop_time=True), PERSONAL)


@_rule(r"^i(?: just| recently|'ve| have)*(?: moved| relocated)(?: back)? to (?P<x>.+)$")
def _moved(m: re.Match[str]) -> tuple[str, str] | None:
    return _fact(" lives in ", _clean(m["x"], drop_time=True), PERSONAL)


@_rule(r"^i(?:'m| am| come| originally come) (?:originally )?from (?P<x>.+)$")
def _origin(m: re.Match[str]) -> tuple[str, str] | None:
    return _fact(" is from ", _clean(m["x"]), PERSONAL)


@_rule(r"^i was born (?P<p>in|on) (?P<x>.+)$")
def _born(m: re.Match[str]) -> tuple[str, str] | None:
    return _fact(f" was born {m['p'].lower()} ", _clean(m["x"]), PERSONAL)


@_rule(r"^i(?: currently| now)?(?: work|'m working| am working) (?P<p>as|at|for|in) (?P<x>.+)$")
def _works(m: re.Match[str]) -> tuple[str, str] | None:
    return _fact(f" works {m['p'].lower()} ", _clean(m["x"]), PERSONAL)


@_rule(r"^" + _I_AM + r" (?:very |severely |highly |really )?allergic to (?P<x>.+)$")
def _allergic(m: re.Match[str]) -> tuple[str, str] | None:
    return _fact(" is allergic to ", _clean(m["x"]), PERSONAL)


@_rule(r"^i(?:'ve got| have got| have) (?:an? )?(?:\w+ )?allergy to (?P<x>.+)$")
def _allergy(m: re.Match[str]) -> tuple[str, str] | None:
    return _fact(" is allergic to ", _clean(m["x"]), PERSONAL)


@_rule(r"^" + _I_AM + r" (?P<n>\d{1,3})(?: years old| years| yo)?$")
def _age(m: re.Match[str]) -> tuple[str, str] | None:
    return (f" is {m['n']} years old", PERSONAL)


@_rule(r"^" + _I_AM + r" (?P<s>married|engaged) to (?P<x>.+)$")
def _partner(m: re.Match[str]) -> tuple[str, str] | None:
    return _fact(f" is {m['s'].lower()} to ", _clean(m["x"]), PERSONAL)


@_rule(
    r"^" + _I_AM + r" (?P<x>(?:a )?(?:vegetarian|vegan|pescatarian|married|single|divorced|engaged|retired|"
    r"pregnant|left-handed|right-handed|diabetic|colou?r-?blind|lactose intolerant|gluten intolerant|celiac))$"
)
def _state(m: re.Match[str]) -> tuple[str, str] | None:
    return _fact(" is ", _clean(m["x"]), PERSONAL)


@_rule(r"^" + _I_AM + r" (?:planning|hoping|intending) (?P<x>(?:to|on|a|an|my|the) .+)$")
def _planning(m: re.Match[str]) -> tuple[str, str] | None:
    return _fact(" is planning ", _clean(m["x"]), DETAILS)


@_rule(r"^" + _I_AM + r" going to (?P<x>.+)$")
def _going(m: re.Match[str]) -> tuple[str, str] | None:
    return _fact(" is going to ", _clean(m["x"]), DETAILS)


@_rule(r"^" + _I_AM + r" (?P<v>travell?ing|flying|heading|moving|driving) to (?P<x>.+)$")
def _travelling(m: re.Match[str]) -> tuple[str, str] | None:
    return _fact(f" is {m['v'].lower()} to ", _clean(m["x"]), DETAILS)


@_rule(r"^i plan (?P<x>(?:to|on) .+)$")
def _plan(m: re.Match[str]) -> tuple[str, str] | None:
    return _fact(" plans ", _clean(m["x"]), DETAILS)


@_rule(r"^i(?: will|'ll) (?P<x>.+)$")
def _will(m: re.Match[str]) -> tuple[str, str] | None:
    if _TRIVIAL_FUTURE.match(m["x"]):
        return None
    return _fact(" will ", _clean(m["x"]), DETAILS)


@_rule(r"^" + _I_AM + r" (?:really |also )?(?:into|fond of|passionate about) (?P<x>.+)$")
def _into(m: re.Match[str]) -> tuple[str, str] | None:
    return _fact(" likes ", _clean(m["x"]), PREFERENCES)


@_rule(
    r"^i(?: really| also| absolutely| truly| just| do| still)*"
    r" (?P<v>hate|dislike|detest|can't stand|cannot stand|don't like|do not like|don't enjoy|do not enjoy)"
    r" (?P<x>.+)$"
)
def _dislikes(m: re.Match[str]) -> tuple[str, str] | None:
    verb = "hates" if m["v"].lower() == "hate" else "dislikes"
    return _fact(f" {verb} ", _clean(m["x"]), PREFERENCES)


@_rule(r"^i(?: really| also| absolutely| truly| just| do| still)* (?P<v>like|love|enjoy|prefer|adore) (?P<x>.+)$")
def _likes(m: re.Match[str]) -> tuple[str, str] | None:
    return _fact(f" {_third_person(m['v'])} ", _clean(m["x"]), PREFERENCES)


@_rule(
    r"^i(?:'ve got| have got| have| own| also have)"
    r" (?P<x>(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|\d+|some|several|a few) .+)$"
)
def _has(m: re.Match[str]) -> tuple[str, str] | None:
    if _NOT_POSSESSIONS.match(m["x"]):
        return None
    return _fact(" has ", _clean(m["x"]), PERSONAL)


@_rule(r"^" + _I_AM + r" (?P<x>(?:a|an) .+)$")
def _is_a(m: re.Match[str]) -> tuple[str, str] | None:
    topic = PREFERENCES if re.search(r"\b(?:fan|lover)\b", m["x"], re.IGNORECASE) else PERSONAL
    return _fact(" is ", _clean(m["x"]), topic)


@_rule(r"^i(?: study|'m studying| am studying) (?P<x>.+)$")
def _studies(m: re.Match[str]) -> tuple[str, str] | None:
    return _fact(" studies ", _clean(m["x"]), PERSONAL)


@_rule(r"^i(?: speak| can speak) (?P<x>.+)$")
def _speaks(m: re.Match[str]) -> tuple[str, str] | None:
    return _fact(" speaks ", _clean(m["x"]), PERSONAL)


_POSITIVE_RULES: tuple[_Rule, ...] = (
    _name,
    _my_noun,
    _lives,
    _moved,
    _origin,
    _born,
    _works,
    _allergic,
    _allergy,
    _age,
    _partner,
    _state,
    _planning,
    _going,
    _travelling,
    _plan,
    _will,
    _into,
    _dislikes,
    _likes,
    _has,
    _is_a,
    _studies,
    _speaks,
)


def _positive_topic(clause: str) -> str:
    """The topic the positive form of a negated statement would get (default KEY_CONVERSATION_DETAILS)."""
    found = _match_positive(clause)
    return found[1] if found else DETAILS


def _match_positive(clause: str) -> tuple[str, str] | None:
    for rule in _POSITIVE_RULES:
        match = rule.pattern.match(clause)
        if match:
            return rule.build(match)
    return None


def _match_negative(clause: str) -> tuple[str, str] | None:
    """Statements that something is no longer true, phrased so the consolidator can find what they negate."""
    anymore = r"(?:,? (?:anymore|any more))"
    m = re.match(r"^" + _I_AM + r" (?:no longer|not (?P<x2>.+?)" + anymore + r")(?: (?P<x>.+))?$", clause, re.I)
    if m and (m["x"] or m["x2"]):
        x = _clean(m["x"] or m["x2"])
        return _fact(" is no longer ", x, _positive_topic(f"I am {x}")) if x else None
    m = re.match(
        r"^i (?:no longer (?:have|own)|(?:don't|do not) (?:have|own) (?P<x2>.+?)" + anymore + r")(?: (?P<x>.+))?$",
        clause,
        re.I,
    )
    if m and (m["x"] or m["x2"]):
        x = _clean(m["x"] or m["x2"])
        return _fact(" no longer has ", x, _positive_topic(f"I have {x}")) if x else None
    m = re.match(r"^i (?:sold|gave away|got rid of|lost) (?P<x>(?:my|our) .+)$", clause, re.I)
    if m:
        return _fact(" no longer has ", _clean(m["x"]), PERSONAL)
    m = re.match(r"^i no longer (?P<v>[a-z]+)(?P<x>.*)$", clause, re.I) or re.match(
        r"^i (?:don't|do not) (?P<v>[a-z]+)(?P<x>.*?)" + anymore + r"$", clause, re.I
    )
    if m:
        rest = _clean(m["x"]) or ""
        positive = f"I {m['v']} {rest}".strip()
        return (f" no longer {_third_person(m['v'])} {rest}".rstrip(), _positive_topic(positive))
    return None


@_rule(r"^(?:please )?(?:remember|don't forget|do not forget)(?: that)?[:,]? (?P<x>.+)$")
def _remember(m: re.Match[str]) -> tuple[str, str] | None:
    x = _clean(m["x"])
    if x and x.lower().startswith("to "):
        return _fact(" asked to be reminded ", x, INSTRUCTIONS)
    return _fact(" asked to remember that ", x, INSTRUCTIONS)


@_rule(r"^(?:please )?(?P<w>always|never) (?P<x>.+)$")
def _always(m: re.Match[str]) -> tuple[str, str] | None:
    if m["x"].lower().startswith("mind"):
        return None  # "never mind"
    return _fact(f" asked to {m['w'].lower()} ", _clean(m["x"]), INSTRUCTIONS)


def _extract_clause(clause: str) -> tuple[str, str] | None:
    """The fact (full sentence) and topic for one clause, or None."""
    clause = _LEAD.sub("", clause).strip().rstrip(".!").strip()
    if not clause:
        return None
    found = None
    for rule in (_remember, _always):
        match = rule.pattern.match(clause)
        if match:
            found = rule.build(match)
            break
    else:
        found = _match_negative(clause) or _match_positive(clause)
    if found is None:
        return None
    tail, topic = found
    text = f"The user{tail}".strip()
    return f"{text[0].upper()}{text[1:]}.", topic


_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+|;\s*|:\s+")
# Split before a new first-person clause ("..., and I ..."), and cut off a trailing subordinate clause
# (", so fresh fish is everywhere"), which the rules would otherwise copy into the fact.
_CLAUSE_SPLIT = re.compile(
    r",?\s+(?:and|but|so)\s+(?=(?:i|i'm|i've|i'll|my)\b)|,\s+(?:so|but|because|although|while|since|which)\s+",
    re.IGNORECASE,
)


def _clauses(text: str) -> list[str]:
    """Sentences that are not questions, split further at ``and I`` / ``but my`` ..."""
    out: list[str] = []
    for sentence in _SENTENCE_SPLIT.split(text.translate(_APOSTROPHES)):
        sentence = sentence.strip()
        if not sentence or sentence.endswith("?"):
            continue
        out.extend(c.strip() for c in _CLAUSE_SPLIT.split(sentence) if c.strip())
    return out


def extract_facts(text: str) -> list[tuple[str, str]]:
    """The (fact, topic) pairs the offline rules find in one user message, in order, without repeats."""
    found: dict[str, tuple[str, str]] = {}
    for clause in _clauses(text):
        result = _extract_clause(clause)
        if result is not None:
            found.setdefault(result[0].lower(), result)
    return list(found.values())


# --- consolidator ------------------------------------------------------------------------------------

_DETERMINERS = frozenset(
    [
        "a",
        "an",
        "the",
        "their",
        "his",
        "her",
        "my",
        "your",
        "our",
        "its",
        "some",
        "any",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "several",
        "many",
        "few",
    ]
)
_NEGATION = re.compile(r"^the user (?:(?P<is>is) no longer|no longer|does not|doesn't) (?P<core>.+)$")
_OPINION_VERBS = r"(?:likes|loves|enjoys|prefers|adores|dislikes|hates)"
_SLOTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), name)
    for p, name in (
        (r"^the user lives in\b", "lives in"),
        (r"^the user is from\b", "is from"),
        (r"^the user was born in\b", "born in"),
        (r"^the user was born on\b", "born on"),
        (r"^the user works as\b", "works as"),
        (r"^the user works (?:at|for)\b", "works at"),
        (r"^the user is \d+ years old$", "age"),
        (r"^the user is (?:married|engaged) to\b", "partner"),
        (r"^the user's name is\b", "name"),
        (r"^the user's (?P<n>[\w' -]+?) (?:is|are)\b", "user's {n}"),
        (r"^the user " + _OPINION_VERBS + r" (?P<o>.+)$", "opinion of {o}"),
    )
)


def _normalized(fact: str) -> str:
    return " ".join(fact.translate(_APOSTROPHES).lower().replace("\u00a0", " ").split()).rstrip(" .!")


def _tokens(fact: str) -> frozenset[str]:
    return frozenset(stem(w) for w in _words(fact) if w not in {"the", "a", "an", "user"})


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def slot(fact: str) -> str | None:
    """The single-valued predicate a fact fills, e.g. ``"lives in"`` for "The user lives in Lisbon.",
    ``"user's favorite color"`` for "The user's favorite color is blue.", ``"opinion of jazz"`` for
    "The user likes jazz." (a later "The user dislikes jazz." replaces it). None for many-valued facts
    ("The user has a cat.", "The user is a nurse.")."""
    text = _normalized(fact)
    if _NEGATION.match(text):
        return None
    for pattern, name in _SLOTS:
        m = pattern.match(text)
        if m:
            groups = {k: " ".join(stem(w) for w in _words(v)) for k, v in m.groupdict().items()}
            return name.format(**groups)
    return None


def _core(fact: str) -> tuple[bool, list[str]]:
    """(negated?, stemmed words of the predicate without determiners): "The user no longer has a cat."
    → (True, ["has", "cat"]); "The user has two cats." → (False, ["has", "cat"])."""
    text = _normalized(fact)
    negated = _NEGATION.match(text)
    if negated:
        core = ("is " if negated["is"] else "") + negated["core"]
    elif text.startswith("the user "):
        core = text[len("the user ") :]
    else:
        core = text
    return bool(negated), [stem(w) for w in _words(core) if w not in _DETERMINERS]


def _negates(candidate: str, existing: str) -> bool:
    negated, core = _core(candidate)
    positive, other = _core(existing)
    if not negated or positive or len(core) < 2 or not other:
        return False
    return core[0] == other[0] and set(core[1:]) <= set(other[1:])


@dataclass(frozen=True)
class _Known:
    """A fact prepared for comparison."""

    text: str
    norm: str
    tokens: frozenset[str]
    negated: bool
    slot: str | None

    @classmethod
    def of(cls, text: str) -> _Known:
        return cls(text, _normalized(text), _tokens(text), _core(text)[0], slot(text))

    def same_as(self, other: _Known) -> bool:
        """Same statement: same polarity and equal text or token Jaccard >= 0.8."""
        return self.negated == other.negated and (self.norm == other.norm or _jaccard(self.tokens, other.tokens) >= 0.8)


def consolidate_facts(existing: Sequence[str], candidates: Sequence[str]) -> list[ConsolidationDecision]:
    """One decision per candidate, in candidate order (the rules are listed on ``OfflineLLM``)."""
    old = [_Known.of(f) for f in existing]
    new = [_Known.of(c) for c in candidates]
    last_of_slot = {c.slot: i for i, c in enumerate(new) if c.slot is not None}
    claimed: set[int] = set()
    decisions: list[ConsolidationDecision] = []

    def decide(i: int, decision: Decision, memory: int | None = None, fact: str | None = None) -> None:
        decisions.append(ConsolidationDecision(candidate=i, decision=decision, memory=memory, fact=fact))

    for i, candidate in enumerate(new):
        if any(candidate.same_as(earlier) for earlier in new[:i]):
            decide(i, Decision.NOOP)  # repeats an earlier candidate
            continue
        known = next((j for j, memory in enumerate(old) if candidate.same_as(memory)), None)
        if known is not None:
            decide(i, Decision.NOOP, known)
            continue
        if candidate.slot is not None and last_of_slot[candidate.slot] != i:
            decide(i, Decision.NOOP)  # a later statement in the same conversation fills the same slot
            continue
        if candidate.negated:
            targets = [j for j, memory in enumerate(old) if _negates(candidate.text, memory.text)]
        elif candidate.slot is not None:
            targets = [j for j, memory in enumerate(old) if memory.slot == candidate.slot]
        else:
            targets = []
        free = [j for j in targets if j not in claimed]
        if free:
            claimed.add(free[0])
            if candidate.negated:
                decide(i, Decision.DELETE, free[0])
            else:
                decide(i, Decision.UPDATE, free[0], candidate.text)
        elif targets:
            decide(i, Decision.NOOP, targets[0])  # another candidate already changes that memory
        else:
            decide(i, Decision.CREATE)
    return decisions


# --- compressor --------------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def compress_facts(facts: Sequence[str], target: int) -> list[str]:
    """At most ``target`` (≥ 1) facts saying what ``facts`` (oldest first) say, by a fixed rule.

    1. Each fact is split into sentences (after ``.``, ``!`` or ``?``), whitespace normalized, a final
       period added when it has no end mark; a sentence equal to an earlier one (ignoring case and the
       end mark) is dropped.
    2. The sentences are dealt, in order, into ``min(target, number of sentences)`` consecutive runs of
       near-equal length (the first runs one longer), and each run is joined with spaces into one fact,
       cut to 2,000 characters (the last one an ellipsis).
    Same input, same output; no sentence is reworded.
    """
    sentences: list[str] = []
    seen: set[str] = set()
    for fact in facts:
        for sentence in _SENTENCE_END.split(" ".join(fact.split())):
            if not sentence:
                continue
            if sentence[-1] not in ".!?":
                sentence += "."
            key = sentence.lower().rstrip(".!?")
            if key not in seen:
                seen.add(key)
                sentences.append(sentence)
    if not sentences:
        return []
    runs = min(max(1, target), len(sentences))
    size, extra = divmod(len(sentences), runs)
    out, start = [], 0
    for run in range(runs):
        end = start + size + (1 if run < extra else 0)
        text = " ".join(sentences[start:end])
        out.append(text if len(text) <= MAX_FACT_CHARS else text[: MAX_FACT_CHARS - 1] + "…")
        start = end
    return out


# --- the LLM port -------------------------------------------------------------------------------------


class OfflineLLM:
    """A rule-based stand-in for the chat model (no network, deterministic, 0 tokens).

    ``extract``: reads only ``user`` events of the prompt; each sentence (questions skipped, ``and I``
    clauses split) is matched against first-person patterns and becomes a third-person fact about the
    user with one topic and ``event_ids=[that event's id]``. A fact whose topic is not among
    ``prompt.topics`` is dropped; a fact stated in several events is returned once with all their ids.

    ``consolidate``: per candidate, in order:
    1. repeats an earlier candidate (same text or token Jaccard ≥ 0.8) → NOOP (memory null);
    2. matches an existing memory the same way (same polarity) → NOOP (memory = it);
    3. fills a single-valued slot that a later candidate fills too → NOOP (the later one wins);
    4. negated ("The user no longer has a cat.") and an existing memory states it → DELETE it;
    5. fills the slot of an existing memory ("The user lives in ...") → UPDATE it with the candidate text;
    6. else CREATE.
    An existing memory is updated or deleted at most once; indexes are always within the prompt's lists.

    ``compress``: ``compress_facts(prompt.memories, prompt.target)`` (sentences deduplicated, dealt into
    at most ``target`` facts).

    ``describe_image``: ``"Caption (image not analysed offline): <caption>"``, or without a caption
    ``"An image/png image (image not analysed offline; no caption given)."``. ``extract`` reads the
    ``[Image: ...]`` lines these become like any other line of the event, so a first-person caption
    ("I adopted a dog named Rex.") yields facts.
    """

    model_id = "engram-offline-rules-v1"
    offline = True

    def extract(self, prompt: ExtractionPrompt) -> LLMResult[ExtractionOutput]:
        allowed = {t.label for t in prompt.topics}
        facts: dict[str, CandidateFact] = {}
        for event in prompt.events:
            if event.role != "user":
                continue
            for text, topic in extract_facts(DESCRIBED_IMAGE.sub(r"\1", event.text)):
                if topic not in allowed:
                    continue
                key = text.lower()
                if key in facts:
                    if event.event_id not in facts[key].event_ids:
                        facts[key].event_ids.append(event.event_id)
                    continue
                facts[key] = CandidateFact(fact=text, topics=[topic], event_ids=[event.event_id])
        return LLMResult(output=ExtractionOutput(facts=list(facts.values())))

    def consolidate(self, prompt: ConsolidationPrompt) -> LLMResult[ConsolidationOutput]:
        decisions = consolidate_facts(prompt.existing, prompt.candidates)
        return LLMResult(output=ConsolidationOutput(decisions=decisions))

    def compress(self, prompt: CompressionPrompt) -> LLMResult[CompressionOutput]:
        return LLMResult(output=CompressionOutput(facts=compress_facts(prompt.memories, prompt.target)))

    def describe_image(self, image: InlineData) -> LLMResult[ImageDescription]:
        if image.caption and image.caption.strip():
            text = f"Caption ({NOT_ANALYSED}): {' '.join(image.caption.split())}"
        else:
            text = f"An {image.mime_type} image ({NOT_ANALYSED}; no caption given)."
        return LLMResult(output=ImageDescription(text=text))
