"""Engram's Python client.

>>> from engram_client import Engram
>>> with Engram() as client:  # ENGRAM_URL, ENGRAM_API_KEY
...     client.memories.create({"user_id": "alice"}, "The user lives in Porto.")
...     hits = client.memories.retrieve({"user_id": "alice"}, "Where does the user live?", top_k=3)

``AsyncEngram`` is the same, awaited. ``engram_client.compat`` has facades with the interfaces of other
memory libraries; ``engram_client.tools`` has memory tools for function calling.
"""

from engram_client._routes import NOT_GIVEN, NotGiven
from engram_client._version import __version__
from engram_client.client import AsyncEngram, Engram
from engram_client.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectionError,
    EngramError,
    NotFoundError,
    OperationFailedError,
    OperationTimeoutError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from engram_client.models import (
    BatchCreateResponse,
    Content,
    CustomTopic,
    ExampleFact,
    FewShotExample,
    GeneratedMemory,
    InlineData,
    Memory,
    Message,
    Operation,
    OperationError,
    OperationResult,
    Part,
    PurgeResponse,
    RetrieveResponse,
    Revision,
    RevisionsResponse,
    ScoredMemory,
    SessionEvent,
    SessionEventsResponse,
    Source,
    TenantConfig,
    TextPart,
    TtlConfig,
    Usage,
)
from engram_client.pagination import AsyncMemoryPager, MemoryPager
from engram_client.resources import text_event
from engram_client.retry import RetryPolicy

__all__ = [
    "NOT_GIVEN",
    "AsyncEngram",
    "AsyncMemoryPager",
    "AuthenticationError",
    "BadRequestError",
    "BatchCreateResponse",
    "ConflictError",
    "ConnectionError",
    "Content",
    "CustomTopic",
    "Engram",
    "EngramError",
    "ExampleFact",
    "FewShotExample",
    "GeneratedMemory",
    "InlineData",
    "Memory",
    "MemoryPager",
    "Message",
    "NotFoundError",
    "NotGiven",
    "Operation",
    "OperationError",
    "OperationFailedError",
    "OperationResult",
    "OperationTimeoutError",
    "Part",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PurgeResponse",
    "RateLimitError",
    "RetrieveResponse",
    "RetryPolicy",
    "Revision",
    "RevisionsResponse",
    "ScoredMemory",
    "ServerError",
    "SessionEvent",
    "SessionEventsResponse",
    "Source",
    "TenantConfig",
    "TextPart",
    "TtlConfig",
    "UnsupportedMediaTypeError",
    "Usage",
    "ValidationError",
    "__version__",
    "text_event",
]
