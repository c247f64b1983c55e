"""Root test configuration: environment defaults set before any engram import, so no test reaches the
network or a real AWS account."""

import os

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Engram")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
for _var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AWS_PROFILE"):
    os.environ.pop(_var, None)
os.environ["ENGRAM_PROVIDER"] = "offline"
os.environ.setdefault("ENGRAM_DEVELOPMENT", "true")  # the development defaults (table, local index)
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The embedded local stack (moto + in-process handlers + API front), started once per test session."""
    from engram_dev.stack import LocalStack

    stack = LocalStack(data_dir=tmp_path_factory.mktemp("engram-local"))
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture
def api(local_stack: object) -> object:
    """A client of the local API with the dev tenant's key."""
    from engram_dev.client import EngramClient

    return EngramClient(local_stack.api_url, local_stack.api_key)  # type: ignore[attr-defined]


@pytest.fixture
def scope() -> dict[str, str]:
    """A fresh scope per test, so tests sharing the stack never see each other's memories."""
    return {"user_id": f"u-{uuid.uuid4().hex[:10]}"}


@pytest.fixture
def scripted_llm(local_stack: object) -> Iterator[object]:
    """Point the local stack's handlers at a scripted OpenAI-compatible server (the real OpenAI adapters),
    then restore offline mode."""
    from engram_dev.bench.common import environment
    from engram_dev.scripted_llm import ScriptedLLMServer

    with (
        ScriptedLLMServer() as server,
        environment(ENGRAM_PROVIDER="openai", OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="test"),
    ):
        yield server
