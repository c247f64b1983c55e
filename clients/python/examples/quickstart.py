"""The sync client: create, generate from a conversation, search, list, clean up.

Run with ENGRAM_URL and ENGRAM_API_KEY set (e.g. from `engram local`).
"""

from engram_client import Engram

scope = {"user_id": "alice"}
with Engram() as client:
    memory = client.memories.create(scope, "The user plays the violin.", metadata={"source": "profile"})
    print("created:", memory.fact)

    operation = client.memories.generate(
        scope, messages=[{"role": "user", "content": "I live in Lisbon and I am allergic to peanuts."}]
    )
    operation = client.operations.wait(operation, timeout=60).raise_for_status()
    for change in operation.generated:
        print(f"{change.action}: {change.memory.fact}")

    client.memories.wait_until_searchable([memory])  # direct writes reach the search index a moment later
    for hit in client.memories.retrieve(scope, "Where does the user live?", top_k=3).memories:
        print(f"{hit.score:.3f}  {hit.memory.fact}")

    print("all:", [m.fact for m in client.memories.list(scope)])
    print("deleted:", client.memories.purge(scope=scope, force=True).purge_count)
