"""`MemoryAPI(collection_name=...)`: texts with metadata in a collection."""

from engram_client.compat import MemoryAPI

api = MemoryAPI(collection_name="handbook")
ids = api.store_batch(
    ["Deploys happen on Tuesdays.", "The VPN needs a hardware key.", "Lunch is at noon."],
    [
        {"type": "process", "timestamp": 1, "tags": ["ops", "release"]},
        {"type": "security", "timestamp": 2, "tags": ["ops", "it"]},
        {"type": "office", "timestamp": 3, "tags": []},
    ],
)
api.update(ids[0], metadata={"reviewed": True})  # merged into the stored metadata, on the server
print("count:", api.count(), "recent:", api.count({"timestamp": {"$gte": 2}}))
print("ops:", api.count({"tags": {"$in": ["ops", "hr"]}}), "release:", api.count({"tags": {"$contains": "release"}}))
print("newest:", [item["text"] for item in api.retrieve("", top_k=2)])

api.client.memories.wait_until_searchable([api.client.memories.get(i) for i in ids])
for item in api.retrieve("When do we deploy?", top_k=1, filter={"type": "process"}):
    print(f"search: {item['text']} {item['metadata']}")

print("deleted:", api.delete_by_filter({}))
api.close()
