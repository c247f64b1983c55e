"""`PersistentMemory` (async): record conversations, retrieve as text, and the two agent tools."""

import asyncio

from engram_client.compat import PersistentMemory


async def main() -> None:
    memory = PersistentMemory(agent_name="helper", user_name="dora")
    print("recorded:", await memory.record("I live in Coimbra and I work as a pilot."))
    print("context:\n" + await memory.retrieve("Where does the user live?"))

    saved = await memory.save_to_memory("the user asked me to remember", ["The user's cat is called Miso."])
    print("saved:", saved)
    recalled = await memory.recall_from_memory(["cat", "name"], limit=1)
    print("recalled:", [m["content"] for m in recalled["memories"]])

    await memory.client.memories.purge(scope=memory.scope, force=True)
    await memory.aclose()


asyncio.run(main())
