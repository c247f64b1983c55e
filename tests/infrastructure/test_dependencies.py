"""The composition root: ``wiring.dependencies()`` builds each collaborator once, lazily, so a function
imports only what it uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from engram import wiring
from engram.settings import Settings
from engram_dev.project import project_root

_PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("handler_module", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(sorted(sys.modules)))
"""


def _modules_imported_by(function: str, **variables: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENGRAM_", "OPENAI_", "AWS_ENDPOINT"))}
    env.update(
        **variables,
        ENGRAM_PROVIDER="openai",
        ENGRAM_INDEX_BACKEND="opensearch",
        ENGRAM_OPENSEARCH_ENDPOINT="https://opensearch.invalid",
        AWS_LAMBDA_FUNCTION_NAME=function,
    )
    path = project_root() / "functions" / function / "app.py"
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True, env=env, check=True, timeout=120
    )
    return set(json.loads(done.stdout))


@pytest.mark.parametrize(
    ("function", "absent"),
    [
        (
            "api",
            {
                "openai",
                "engram.adapters.dynamodb.idempotency",
                "aws_lambda_powertools.utilities.idempotency",
                # the API starts, reads and waits for operations; it never generates or compresses
                "engram.logic.generation.consolidation",
                "engram.logic.generation.extraction",
                "engram.logic.generation.planning",
                "engram.logic.generation.source",
                "engram.logic.compression",
            },
        ),
        (
            "index_sync",
            {
                "openai",
                "engram.logic.generation",
                "engram.adapters.opensearch",
                # stream images are decoded without PynamoDB (engram.adapters.dynamodb.stream)
                "pynamodb",
                "engram.adapters.dynamodb.items",
                "botocore.client",
            },
        ),
        ("extract", {"engram.logic.generation.consolidation", "engram.logic.generation.planning"}),
        ("authorizer", {"openai", "engram.logic.generation", "engram.adapters.dynamodb.memories"}),
    ],
)
def test_a_function_imports_no_collaborator_it_has_not_used_yet(function: str, absent: set[str]) -> None:
    """Given a deployed function's environment (OpenAI, OpenSearch), when its module is imported (a cold
    start), then none of the heavy or unrelated modules is: members are imported when first used."""
    assert absent.isdisjoint(_modules_imported_by(function))


def test_every_name_of_the_generation_package_is_read_from_its_module() -> None:
    """``engram.logic.generation`` imports a name's module when the name is first read: each name it
    exports is found, and is the object its module defines."""
    import importlib

    from engram.logic import generation

    assert set(generation._MODULES) == set(generation.__all__)
    for name, module in generation._MODULES.items():
        defined = getattr(importlib.import_module(f"engram.logic.generation.{module}"), name)
        assert getattr(generation, name) is defined
    with pytest.raises(AttributeError):
        generation.not_a_name  # noqa: B018 - reading it is the test


def test_members_are_built_once_and_reset_starts_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given one Dependencies object
    deps = wiring.Dependencies(Settings(table_name="t", aws_endpoint_url="http://127.0.0.1:9"))

    # When members are read twice, Then each is built once (building one does no I/O)
    assert deps.memories is deps.memories and deps.clock is deps.clock
    assert deps.table.name == "t" and deps.table.host == "http://127.0.0.1:9"
    assert deps.memories is not deps.operations

    # And the process's object is kept until reset, then built from the environment again
    monkeypatch.setenv("ENGRAM_TABLE_NAME", "first")
    wiring.reset()
    first = wiring.dependencies()
    assert wiring.dependencies() is first and first.table.name == "first"
    monkeypatch.setenv("ENGRAM_TABLE_NAME", "second")
    wiring.reset()
    assert wiring.dependencies().table.name == "second"
    monkeypatch.undo()
    wiring.reset()


@pytest.mark.parametrize(
    ("routes", "present", "absent"),
    [
        ("v1", {"engram.api.routes", "engram.api.lifecycle"}, {"engram.api.mem0", "engram.models.mem0"}),
        ("mem0", {"engram.api.mem0"}, {"engram.api.routes", "engram.api.lifecycle", "engram.models.lifecycle"}),
        ("all", {"engram.api.routes", "engram.api.lifecycle", "engram.api.mem0"}, set()),
    ],
)
def test_each_api_function_imports_only_the_routes_it_serves(routes, present, absent):
    # Given the API code as ApiFunction (v1), Mem0Function (mem0) or the local stack (all) run it
    imported = _modules_imported_by("api", ENGRAM_API_ROUTES=routes)
    # Then it imports its route modules and not the other function's
    assert present <= imported
    assert not absent & imported, sorted(absent & imported)


_BUILT_MODELS_PROBE = """
import importlib.util, json, sys
import pydantic
spec = importlib.util.spec_from_file_location("handler_module", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)
models = [m for m in subclasses(pydantic.BaseModel) if m.__module__.startswith("engram.")]
built = sorted(m.__qualname__ for m in models if m.__pydantic_complete__ and m.__module__ != "engram.settings")
print(json.dumps({"models": len(models), "built": built}))
"""


@pytest.mark.parametrize("routes", ["v1", "mem0"])
def test_importing_an_api_function_builds_no_model(routes: str) -> None:
    """Given ApiFunction or Mem0Function, when its module is imported (a cold start), then no Engram model
    has built its validator yet: each is built by the first request that uses it
    (``engram.models.base.EngramModel``). (``Settings``, read at import for ``ENGRAM_API_ROUTES``, is
    pydantic-settings' model, not one of these.)"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENGRAM_", "OPENAI_", "AWS_ENDPOINT"))}
    env.update(ENGRAM_API_ROUTES=routes, ENGRAM_INDEX_BACKEND="opensearch", ENGRAM_TABLE_NAME="engram")
    path = project_root() / "functions" / "api" / "app.py"
    done = subprocess.run(
        [sys.executable, "-c", _BUILT_MODELS_PROBE, str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    found = json.loads(done.stdout)
    assert found["models"] > 20 and found["built"] == []
