"""The three ``engram bench`` commands run end to end on tiny inputs (so CI checks they work), each in a
fresh process (a benchmark starts its own local stack, and a process holds one).

The LOCOMO-shaped conversation is made up here; the real evaluation data is never copied."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MINI_CONVERSATION = {
    "speaker_a": "Zora",
    "speaker_b": "Milo",
    "session_1_date_time": "1:00 pm on 8 May, 2023",
    "session_1": [
        {"speaker": "Zora", "dia_id": "D1:1", "text": "Hi Milo! I live in Lisbon now."},
        {"speaker": "Milo", "dia_id": "D1:2", "text": "Great! I keep my violin in the attic these days."},
        {"speaker": "Zora", "dia_id": "D1:3", "text": "I'm allergic to peanuts, sadly."},
    ],
    "session_2_date_time": "2:00 pm on 9 June, 2023",
    "session_2": [
        {"speaker": "Zora", "dia_id": "D2:1", "text": "My favorite food is ramen."},
        {
            "speaker": "Milo",
            "dia_id": "D2:2",
            "text": "I adopted a parrot named Kiwi.",
            "blip_caption": "a photo of a green parrot",
        },
    ],
    "qa": [
        {"question": "Where does Milo keep the violin?", "answer": "attic", "evidence": ["D1:2"], "category": 4},
        {"question": "What is Zora allergic to?", "answer": "peanuts", "evidence": ["D1:3"], "category": 1},
        {"question": "What is the parrot called?", "answer": "Kiwi", "evidence": ["D2:2; D1:1"], "category": 2},
        {"question": "Adversarial, not scored", "answer": "", "evidence": ["D1:1"], "category": 5},
        {"question": "No evidence, skipped", "answer": "", "evidence": [], "category": 3},
    ],
}


def engram(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_ENDPOINT_URL", "ENGRAM_TABLE", "MOTO_")) and k != "ENGRAM_EMBEDDER"
    }
    return subprocess.run(
        [sys.executable, "-m", "engram_dev.cli", "bench", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "locomo"
    folder.mkdir()
    (folder / "mini.json").write_text(json.dumps(MINI_CONVERSATION))
    return folder


def test_retrieval_bench_prints_and_writes_recall_per_mode(dataset: Path, tmp_path: Path) -> None:
    # Given a one-conversation LOCOMO-shaped dataset
    out = tmp_path / "retrieval.json"
    # When the retrieval benchmark runs on it
    done = engram("retrieval", "--data", str(dataset), "--k", "1,3", "--json", str(out), cwd=tmp_path)
    # Then it prints the table and writes the figures per mode, with the schema the issue names
    assert done.returncode == 0, done.stderr
    assert "5 turns stored as 5 memories; 3 questions" in done.stdout
    assert "| hybrid" in done.stdout and "Per category" in done.stdout
    # and names the embedder it ran and where that choice came from (no flag, no ENGRAM_EMBEDDER here)
    assert "Embedder: engram-offline-hash-v1 (256 dimensions; offline from the default)" in done.stdout
    # and the held-out split apart from the dev one (a conversation named "mini" is held out)
    assert "| hybrid  | held-out |" in done.stdout
    figures = json.loads(out.read_text())
    assert figures["hybrid"]["per_split"]["held-out"]["questions"] == 3
    assert set(figures) == {"dense", "lexical", "hybrid"}
    for mode, row in figures.items():
        assert row["questions"] == 3, mode
        for key in ("recall@1", "hit@1", "recall@3", "hit@3", "query_ms_p50", "query_ms_p95"):
            assert isinstance(row[key], float), (mode, key)
        assert 0.0 <= row["recall@1"] <= row["recall@3"] <= 1.0
        assert row["query_ms_p95"] >= row["query_ms_p50"] > 0
    # The words of the violin and peanut questions appear only in their evidence turns: lexical finds
    # both first; the parrot question's evidence is two turns, so its recall@1 is at most 0.5
    assert figures["lexical"]["per_category"]["4"]["hit@1"] == 1.0
    assert figures["lexical"]["per_category"]["1"]["hit@1"] == 1.0
    assert figures["lexical"]["per_category"]["2"]["recall@1"] <= 0.5


def test_retrieval_bench_measures_generated_memories_through_provenance(dataset: Path, tmp_path: Path) -> None:
    # Given the same dataset, when memories are generated from each session (offline extractor)
    out = tmp_path / "generated.json"
    done = engram(
        "retrieval",
        "--data",
        str(dataset),
        "--source",
        "generated",
        "--mode",
        "lexical",
        "--k",
        "3",
        "--json",
        str(out),
        cwd=tmp_path,
    )
    # Then the recall is measured through the generated memories' source event ids
    assert done.returncode == 0, done.stderr
    assert "turns generated into" in done.stdout
    figures = json.loads(out.read_text())
    assert set(figures) == {"lexical"}
    assert figures["lexical"]["memories"] >= 2  # "I live in Lisbon", "allergic to peanuts", "favorite food"
    assert figures["lexical"]["per_category"]["1"]["hit@3"] == 1.0  # peanuts, from D1:3


def test_generation_bench_counts_calls_and_prices_them(tmp_path: Path) -> None:
    # When the generation benchmark runs on two small sizes
    out = tmp_path / "generation.json"
    done = engram("generation", "--turns", "2,4", "--runs", "2", "--json", str(out), cwd=tmp_path)
    # Then it prints the counts, the cost table and the prices it assumed
    assert done.returncode == 0, done.stderr
    assert "Cost per 1,000 generations" in done.stdout and "Assumed list prices" in done.stdout
    figures = json.loads(out.read_text())
    for size in ("2", "4"):
        mean = figures["sizes"][size]["mean"]
        assert 1 <= mean["llm_calls"] <= 2  # extraction, and consolidation only with neighbours
        assert mean["embedding_calls"] >= 1 and mean["input_tokens"] > 0
        assert mean["dynamodb_reads"] > 0 and mean["dynamodb_writes"] > 0
        assert mean["dynamodb_write_units"] > 0 and mean["state_transitions"] >= 4
        assert figures["sizes"][size]["cost_per_1000_usd"]["total"] > 0
        assert all(run["status"] == "SUCCEEDED" for run in figures["sizes"][size]["runs"])
    assert figures["prices"]["llm_per_million_input_tokens"] > 0


def test_coldstart_bench_times_imports_and_sizes_packages(tmp_path: Path) -> None:
    # When the cold-start benchmark runs once per function
    out = tmp_path / "coldstart.json"
    done = engram("coldstart", "--runs", "1", "--json", str(out), cwd=tmp_path)
    # Then every function with code has an import time, the API never imports openai, and the layer
    # has a size
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    assert "ApiFunction" in figures["imports"]
    for name, measured in figures["imports"].items():
        assert measured["tracing"]["median_ms"] > 0, name
    assert figures["imports"]["ApiFunction"]["tracing"]["imports_openai"] is False
    assert figures["packages"]["layer"]["unzipped_bytes"] > figures["packages"]["layer"]["zipped_bytes"] > 0


def test_ingest_bench_prints_rates_bytes_and_rss(dataset: Path, tmp_path: Path) -> None:
    # When the ingest benchmark stores a few memories from the LOCOMO-shaped dataset
    out = tmp_path / "ingest.json"
    done = engram(
        "ingest",
        "--data",
        str(dataset),
        "--memories",
        "30",
        "--batch",
        "10",
        "--single",
        "5",
        "--baseline",
        "5",
        "--json",
        str(out),
        cwd=tmp_path,
    )
    # Then each phase stored everything (the 5 turns, repeated), with its rate, bytes and RSS
    assert done.returncode == 0, done.stderr
    assert "items/s" in done.stdout and "peak" in done.stdout
    figures = json.loads(out.read_text())
    phases = figures["phases"]
    assert phases["emulator puts (baseline)"]["items"] == 5
    assert phases["single create (1 per request)"]["items"] == 5
    batch = phases["batch create (10 per request)"]
    assert batch["items"] == 30
    assert batch["statuses"] == {"201": 3} and batch["indexed_seconds"] >= batch["seconds"] > 0
    assert figures["peak_rss_bytes"] > 0 and figures["data_dir_bytes"] > 0


def test_generation_bench_latency_mode_splits_the_time(dataset: Path, tmp_path: Path) -> None:
    # When the generation benchmark times one generation per session of the dataset
    out = tmp_path / "latency.json"
    done = engram("generation", "--sessions", "2", "--data", str(dataset), "--json", str(out), cwd=tmp_path)
    # Then it prints POST-to-done percentiles and where the time went, per segment
    assert done.returncode == 0, done.stderr
    assert "POST -> done: p50" in done.stdout and "Finalize retry waits" in done.stdout
    figures = json.loads(out.read_text())
    assert [run["status"] for run in figures["runs"]] == ["SUCCEEDED", "SUCCEEDED"]
    steps = figures["steps_ms"]
    assert steps["total"]["p50"] >= steps["Extract"]["p50"] > 0


@pytest.mark.parametrize(
    ("flag", "environ", "expected"),
    [
        (None, {}, ("offline", "the default")),
        (None, {"ENGRAM_EMBEDDER": "auto"}, ("offline", "the default")),
        (None, {"ENGRAM_EMBEDDER": "minilm"}, ("minilm", "ENGRAM_EMBEDDER")),
        ("offline", {"ENGRAM_EMBEDDER": "minilm"}, ("offline", "--embedder")),
        ("openai", {}, ("openai", "--embedder")),
    ],
)
def test_retrieval_bench_takes_the_embedder_from_the_flag_then_engram_embedder(
    flag: str | None, environ: dict[str, str], expected: tuple[str, str]
) -> None:
    """Given ENGRAM_EMBEDDER and/or --embedder, when the benchmark picks its embedder, then the flag
    wins, else the variable, else offline; and it says which (the report prints the origin)."""
    from engram_dev.bench.retrieval import choose_embedder

    assert choose_embedder(flag, environ) == expected


def test_retrieval_bench_refuses_an_unknown_engram_embedder() -> None:
    """Given ENGRAM_EMBEDDER=bert (no such embedder), when the benchmark picks its embedder, then it
    stops saying so instead of silently running another."""
    from engram_dev.bench.retrieval import choose_embedder

    with pytest.raises(SystemExit, match="ENGRAM_EMBEDDER=bert"):
        choose_embedder(None, {"ENGRAM_EMBEDDER": "bert"})
