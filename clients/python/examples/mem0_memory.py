"""`Memory`: mem0-style add / search / get_all / update / history / delete_all."""

from engram_client.compat import Memory

memory = Memory()
added = memory.add("I live in Faro and I am allergic to cats.", user_id="carla")
for result in added["results"]:
    print(result["event"], result["memory"])

best = memory.search("Where does the user live?", user_id="carla", limit=1)["results"][0]
print(f"search: {best['memory']} ({best['score']:.2f})")
print("all:", [result["memory"] for result in memory.get_all(user_id="carla")["results"]])

memory.update(best["id"], "The user lives in Braga.")
for entry in memory.history(best["id"]):
    print("history:", entry["event"], entry["old_memory"], "->", entry["new_memory"])

print(memory.delete_all(user_id="carla"))
memory.close()
