"""``EngramModel``, the base of every Engram pydantic model.

A pydantic model normally builds its validator and serializer (its core schema) when its class is
created, so importing a module of models costs that for every model in it, used or not (20-45 ms of the
API functions' ~250 ms import, at the reference speed of ``engram bench coldstart``). ``EngramModel``
sets ``defer_build``: a model builds them on first use (validation, serialization, ``model_json_schema``,
or a model or ``TypeAdapter`` that contains it being built), so a function pays only for the models its
invocations use, on the first of those invocations. Validation, serialization and JSON schemas are
unchanged. A subclass's own ``model_config`` is merged with this one (``ConfigDict(extra="forbid")``
keeps ``defer_build``).

A deferred build runs on first use, possibly in several threads at once (the local stack serves requests
in threads). pydantic before 2.14 does not serialize those builds (pydantic/pydantic#13419: one thread can
see another's half-built model and fail with ``AttributeError``), so ``EngramModel.model_rebuild`` holds
one process-wide lock, as pydantic 2.14 does itself.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

#: Serializes model builds (reentrant: building a model builds the models it contains).
_BUILD_LOCK = threading.RLock()


class EngramModel(BaseModel):
    """A pydantic ``BaseModel`` whose validator and serializer are built on first use (``defer_build``),
    one build at a time in the process."""

    model_config = ConfigDict(defer_build=True)

    @classmethod
    def model_rebuild(
        cls,
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Mapping[str, Any] | None = None,
    ) -> bool | None:
        """pydantic's ``model_rebuild`` (same arguments and result), under the build lock; ``None`` at once
        for a built model. The first use of a deferred model calls it."""
        if cls.__pydantic_complete__ and not force:
            return None
        with _BUILD_LOCK:
            return super().model_rebuild(
                force=force,
                raise_errors=raise_errors,
                # one frame more (this one) between pydantic and the namespace it looks for
                _parent_namespace_depth=_parent_namespace_depth + 1 if _parent_namespace_depth > 0 else 0,
                _types_namespace=_types_namespace,
            )
