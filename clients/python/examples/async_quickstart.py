"""The async client: the same calls, awaited; sessions as short-term memory."""

import asyncio

from engram_client import AsyncEngram, text_event


async def main() -> None:
    scope = {"user_id": "bruno"}
    async with AsyncEngram() as client:
        await client.sessions.append(
            "chat-1", [text_event("user", "I work as a nurse."), text_event("assistant", "Nice!")]
        )
        operation = await client.memories.generate(scope, session="chat-1")
        operation = (await client.operations.wait(operation, timeout=60)).raise_for_status()
        print("generated:", [change.memory.fact for change in operation.generated])
        hits = await client.memories.retrieve(scope, "What is the user's job?", top_k=1)
        print("best:", hits.memories[0].memory.fact)
        async for memory in client.memories.list(scope):
            print("listed:", memory.fact)
        await client.sessions.delete("chat-1")
        await client.memories.purge(scope=scope, force=True)


asyncio.run(main())
