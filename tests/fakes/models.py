"""Fakes of the model and time ports.

- ``CountingEmbedder``: ``OfflineEmbedder`` recording every call (``calls``, ``texts``, ``reset()``).
- ``ScriptedLLM``: extraction, consolidation and image-description answers queued by the test; a call with
  nothing queued fails the test; prompts and calls are recorded.
- ``FixedClock``: a settable clock with ``advance()``, starting at ``START``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from engram.adapters.offline import OfflineEmbedder
from engram.models.compression import CompressionOutput
from engram.models.extraction import (
    CandidateFact,
    ConsolidationDecision,
    ConsolidationOutput,
    ExtractionOutput,
    ImageDescription,
)
from engram.models.prompts import CompressionPrompt, ConsolidationPrompt, ExtractionPrompt
from engram.ports import LLMResult

START = datetime(2026, 3, 4, 12, 0, 0, tzinfo=UTC)


class FixedClock:
    """A clock that only moves when told."""

    def __init__(self, now: datetime = START) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move forward by ``delta`` or by ``timedelta(**kwargs)`` (``advance(seconds=5)``)."""
        self.current += delta if delta is not None else timedelta(**kwargs)
        return self.current


class CountingEmbedder:
    """``OfflineEmbedder`` that records every ``embed`` call (one list of texts per call)."""

    def __init__(self, dimension: int = 256) -> None:
        self._inner = OfflineEmbedder(dimension)
        self.model_id = self._inner.model_id
        self.dimension = dimension
        self.offline = True
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return self._inner.embed(texts)

    @property
    def call_count(self) -> int:
        return len(self.calls)

    @property
    def texts(self) -> list[str]:
        return [text for call in self.calls for text in call]

    def reset(self) -> None:
        self.calls.clear()


@dataclass
class ScriptedLLM:
    """``LLM`` whose answers are queued by the test. A queued ``Exception`` is raised instead; a call with
    nothing queued fails the test. Prompts are recorded in ``extract_prompts``/``consolidate_prompts``."""

    model_id: str = "scripted-llm"
    offline: bool = False
    extractions: deque[Any] = field(default_factory=deque)
    consolidations: deque[Any] = field(default_factory=deque)
    descriptions: deque[Any] = field(default_factory=deque)
    compressions: deque[Any] = field(default_factory=deque)
    extract_prompts: list[ExtractionPrompt] = field(default_factory=list)
    consolidate_prompts: list[ConsolidationPrompt] = field(default_factory=list)
    described_images: list[Any] = field(default_factory=list)
    compress_prompts: list[CompressionPrompt] = field(default_factory=list)

    def queue_extract(
        self, facts: Sequence[CandidateFact | dict[str, Any]], input_tokens: int = 0, output_tokens: int = 0
    ) -> None:
        output = ExtractionOutput(facts=[CandidateFact.model_validate(f) for f in facts])
        self.extractions.append(LLMResult(output=output, input_tokens=input_tokens, output_tokens=output_tokens))

    def queue_consolidate(
        self,
        decisions: Sequence[ConsolidationDecision | dict[str, Any]],
        input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> None:
        output = ConsolidationOutput(decisions=[ConsolidationDecision.model_validate(d) for d in decisions])
        self.consolidations.append(LLMResult(output=output, input_tokens=input_tokens, output_tokens=output_tokens))

    def queue_description(self, text: str, input_tokens: int = 0, output_tokens: int = 0) -> None:
        output = ImageDescription(text=text)
        self.descriptions.append(LLMResult(output=output, input_tokens=input_tokens, output_tokens=output_tokens))

    def queue_compress(self, facts: Sequence[str], input_tokens: int = 0, output_tokens: int = 0) -> None:
        output = CompressionOutput(facts=list(facts))
        self.compressions.append(LLMResult(output=output, input_tokens=input_tokens, output_tokens=output_tokens))

    def queue_error(self, kind: str, error: Exception) -> None:
        """Raise ``error`` on the next ``kind`` call: ``extract``, ``consolidate``, ``describe`` or ``compress``."""
        queues = {
            "extract": self.extractions,
            "consolidate": self.consolidations,
            "describe": self.descriptions,
            "compress": self.compressions,
        }
        queues[kind].append(error)

    def extract(self, prompt: ExtractionPrompt) -> LLMResult[ExtractionOutput]:
        self.extract_prompts.append(prompt)
        return self._next(self.extractions, "extraction")

    def consolidate(self, prompt: ConsolidationPrompt) -> LLMResult[ConsolidationOutput]:
        self.consolidate_prompts.append(prompt)
        return self._next(self.consolidations, "consolidation")

    def describe_image(self, image: Any) -> LLMResult[ImageDescription]:
        self.described_images.append(image)
        return self._next(self.descriptions, "image description")

    def compress(self, prompt: CompressionPrompt) -> LLMResult[CompressionOutput]:
        self.compress_prompts.append(prompt)
        return self._next(self.compressions, "compression")

    @staticmethod
    def _next(queue: deque[Any], what: str) -> Any:
        if not queue:
            raise AssertionError(f"unexpected {what} call: no answer queued")
        answer = queue.popleft()
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def calls(self) -> int:
        return (
            len(self.extract_prompts)
            + len(self.consolidate_prompts)
            + len(self.described_images)
            + len(self.compress_prompts)
        )
