"""The resources of a client: ``memories``, ``operations``, ``sessions``, ``config``."""

from engram_client.resources.config import AsyncConfig, Config
from engram_client.resources.memories import AsyncMemories, Memories
from engram_client.resources.operations import AsyncOperations, Operations
from engram_client.resources.sessions import AsyncSessions, Sessions, text_event

__all__ = [
    "AsyncConfig",
    "AsyncMemories",
    "AsyncOperations",
    "AsyncSessions",
    "Config",
    "Memories",
    "Operations",
    "Sessions",
    "text_event",
]
