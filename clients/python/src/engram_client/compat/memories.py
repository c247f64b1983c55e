"""``Memories.create(messages=[...], temperature=0.7, max_tokens=4000)``: the facts a conversation yields."""

from __future__ import annotations

import inspect
import threading
import types
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Concatenate, Generic, ParamSpec, TypeVar

from engram_client.client import Engram
from engram_client.compat._common import MessagesInput, generate_messages, generated_facts

P = ParamSpec("P")
R = TypeVar("R")
DEFAULT_SCOPE = {"user_id": "default"}


class _ClassOrInstanceMethod(Generic[P, R]):
    """A method callable on an instance, or on the class (then on the class's shared default instance)."""

    def __init__(self, func: Callable[Concatenate[Any, P], R]) -> None:
        self._func = func
        self.__doc__ = func.__doc__

    def __get__(self, instance: Any, owner: Any) -> Callable[P, R]:
        if instance is not None:
            return types.MethodType(self._func, instance)
        return self._on_default(owner)

    def _on_default(self, owner: Any) -> Callable[P, R]:
        """The method bound, at call time only, to ``owner.default()`` (looking it up makes no client)."""
        func = self._func

        def on_default(*args: P.args, **kwargs: P.kwargs) -> R:
            return func(owner.default(), *args, **kwargs)

        on_default.__doc__, on_default.__name__ = func.__doc__, func.__name__.lstrip("_")
        signature = inspect.signature(func)
        without_self = signature.replace(parameters=list(signature.parameters.values())[1:])
        # inspect.signature reads __signature__, which function objects do not declare to type checkers
        on_default.__signature__ = without_self  # type: ignore[attr-defined]
        return on_default


class Memories:
    """Memory generation with a chat-completion-like call.

    ``Memories.create(messages=...)`` on the class uses a shared default instance: a client from
    ``ENGRAM_URL`` / ``ENGRAM_API_KEY`` and the scope ``{"user_id": "default"}``. ``Memories(client,
    scope=...)`` makes one over your own client and scope. ``timeout``: seconds to wait for a generation.
    """

    _default: ClassVar[Memories | None] = None
    _default_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self, client: Engram | None = None, *, scope: Mapping[str, str] | None = None, timeout: float = 120.0
    ) -> None:
        self._owns_client = client is None
        self.client = client or Engram()
        self.scope = dict(scope or DEFAULT_SCOPE)
        self.timeout = timeout

    @classmethod
    def default(cls) -> Memories:
        """The shared instance ``Memories.create`` uses on the class, made on first use."""
        with cls._default_lock:
            if cls._default is None:
                cls._default = cls()
            return cls._default

    def _create(
        self,
        messages: MessagesInput,
        temperature: float | None = None,
        max_tokens: int | None = None,
        *,
        scope: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Generate memories from ``messages`` and wait: the facts created or updated, as strings.

        ``messages``: OpenAI-style ``[{"role", "content"}]``, one message dict, or a string (one user
        message). ``temperature`` (0-2) and ``max_tokens`` (1-32,768) go to the extraction call; when
        not given, the server's defaults apply (temperature 0). ``scope``: default the instance's.
        Calls ``POST /v1/memories/generate`` then ``GET /v1/operations/{id}`` until it finishes.
        Raises ``OperationFailedError``, ``OperationTimeoutError``, ``ValidationError``.
        """
        operation = self.client.memories.generate(
            scope or self.scope, messages=generate_messages(messages), temperature=temperature, max_tokens=max_tokens
        )
        return generated_facts(self.client.operations.wait(operation, self.timeout))

    create = _ClassOrInstanceMethod(_create)

    def close(self) -> None:
        """Close the client if this instance made it."""
        if self._owns_client:
            self.client.close()
