"""Facades with the interfaces that existing memory code is written against, each over one real client:

- ``Memories.create(messages=..., temperature=..., max_tokens=...)`` → the generated facts;
- ``Memory``: mem0 OSS-style ``add`` / ``search`` / ``get_all`` / ``get`` / ``update`` / ``delete`` /
  ``delete_all`` / ``history``;
- ``MemoryAPI(collection_name=...)``: ``store`` / ``store_batch`` / ``retrieve`` / ``update`` /
  ``delete`` / ``delete_by_filter`` / ``count``;
- ``ConversationMemory`` (async): a conversation's messages in a session;
- ``PersistentMemory`` (async): ``record`` / ``retrieve`` and the agent tools ``save_to_memory`` /
  ``recall_from_memory``.

``docs/clients.md`` lists the HTTP calls each method makes.
"""

from engram_client.compat.collection import MemoryAPI
from engram_client.compat.conversation import ConversationMemory
from engram_client.compat.memories import Memories
from engram_client.compat.memory import Memory
from engram_client.compat.persistent import PersistentMemory

__all__ = ["ConversationMemory", "Memories", "Memory", "MemoryAPI", "PersistentMemory"]
