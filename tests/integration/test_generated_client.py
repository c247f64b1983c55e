"""A client generated from ``docs/openapi.json`` by ``openapi-python-client`` (pinned in the ``dev`` extra;
it runs offline) builds without a warning and works against the local stack: create → retrieve →
generate → poll → delete, each call through the generated functions and models.

The client is generated once per module into a temporary directory, with the generator's default post
hooks (``ruff``, from this virtualenv), and imported from there.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from engram_dev.project import project_root

PACKAGE = "engram_openapi_client"
CONFIG = f"package_name_override: {PACKAGE}\nproject_name_override: engram-openapi-client\n"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``(directory holding the package, what the generator printed)``."""
    out = tmp_path_factory.mktemp("generated-client")
    (out / "config.yaml").write_text(CONFIG)
    bin_dir = str(Path(sys.executable).parent)  # the generator's post hooks run ruff from here
    done = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--meta", "none", "--config", "config.yaml"]
        + ["--path", str(project_root() / "docs" / "openapi.json"), "--output-path", PACKAGE],
        cwd=out,
        env={**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out, done.stdout + done.stderr


@pytest.fixture(scope="module")
def client_package(generated: tuple[Path, str]) -> Iterator[ModuleType]:
    """The generated package, imported with every warning an error (and forgotten afterwards)."""
    directory, _ = generated
    sys.path.insert(0, str(directory))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            package = importlib.import_module(PACKAGE)
            for info in _walk(package):  # every module of it builds
                importlib.import_module(info.name)
        yield package
    finally:
        sys.path.remove(str(directory))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _walk(package: ModuleType) -> list[pkgutil.ModuleInfo]:
    return list(pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."))


def test_the_client_generates_without_a_warning_with_one_function_per_operation(generated, client_package):
    # Given the generator's output
    _, printed = generated
    # Then it reports no warning (no schema it could not read, no skipped post hook)
    assert "warning" not in printed.lower() and "error" not in printed.lower(), printed
    # And each operation is a module named after its operationId, under its tag
    names = {info.name.removeprefix(f"{PACKAGE}.api.") for info in _walk(client_package) if ".api." in info.name}
    assert {
        "memories.create_memory",
        "memories.retrieve_memories",
        "memories.generate_memories",
        "memories.delete_memory",
        "operations.get_operation",
        "sessions.append_session_events",
        "config.put_config",
    } <= names


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_create_retrieve_generate_poll_delete_through_the_generated_client(client_package, local_stack, scope):
    models = _module("models")
    memories, operations = "api.memories", "api.operations"
    create, retrieve = _module(f"{memories}.create_memory"), _module(f"{memories}.retrieve_memories")
    generate, get_memory = _module(f"{memories}.generate_memories"), _module(f"{memories}.get_memory")
    delete, get_operation = _module(f"{memories}.delete_memory"), _module(f"{operations}.get_operation")
    client = client_package.AuthenticatedClient(base_url=local_stack.api_url, token=local_stack.api_key, timeout=None)
    with client:
        # Given a memory created through the generated client
        created = create.sync_detailed(
            client=client,
            body=models.CreateMemoryRequest(scope=models.Scope.from_dict(scope), fact="The user keeps bees."),
        )
        assert created.status_code == 201 and isinstance(created.parsed, models.Memory), created.content
        memory = created.parsed
        assert memory.scope.to_dict() == scope

        # When retrieving (a search; the index catches up within moments)
        query = models.RetrieveRequest(scope=models.Scope.from_dict(scope), query="bees", top_k=1)
        found = _eventually(lambda: retrieve.sync(client=client, body=query), lambda r: bool(r.memories))
        assert isinstance(found, models.RetrieveResponse)
        assert found.memories[0].memory.id == memory.id

        # And generating from a conversation (202, then polling the operation until it is done)
        message = models.Message(role=models.ChatRole.USER, content="I live in Lisbon and I work as a nurse.")
        started = generate.sync_detailed(
            client=client, body=models.GenerateRequest(scope=models.Scope.from_dict(scope), messages=[message])
        )
        assert started.status_code == 202 and started.parsed.status == models.OperationStatus.RUNNING
        done = _eventually(
            lambda: get_operation.sync(client=client, operation_id=started.parsed.id),
            lambda op: op.status != models.OperationStatus.RUNNING,
        )
        assert done.status == models.OperationStatus.SUCCEEDED, done.to_dict()
        facts = {change.memory.fact for change in done.result.generated_memories}
        assert "The user lives in Lisbon." in facts

        # Then deleting the first memory is a 204 with no body, and it is gone: a 404 with the Error body
        deleted = delete.sync_detailed(client=client, memory_id=memory.id)
        assert deleted.status_code == 204 and deleted.content == b""
        gone = get_memory.sync_detailed(client=client, memory_id=memory.id)
        assert gone.status_code == 404 and isinstance(gone.parsed, models.Error)
        assert gone.parsed.error.code == "NOT_FOUND"


def _eventually(call: Any, ready: Any, timeout: float = 60.0) -> Any:
    """``call()`` until ``ready(result)``; the last result after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = call()
        if ready(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.2)
