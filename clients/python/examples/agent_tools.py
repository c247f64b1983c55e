"""Memory tools for function calling with the `openai` SDK (not a dependency of the client).

The model gets `TOOLS` (save_to_memory, recall_from_memory); each tool call runs on a PersistentMemory
and its result goes back as a tool message. Needs OPENAI_API_KEY (and OPENAI_BASE_URL for any
OpenAI-compatible server); OPENAI_MODEL picks the model (default gpt-4o-mini).
"""

import asyncio
import os

from openai import AsyncOpenAI

from engram_client.compat import PersistentMemory
from engram_client.tools import TOOLS, handle_tool_call


async def main() -> None:
    llm, memory = AsyncOpenAI(), PersistentMemory(agent_name="tool-agent")
    messages = [
        {"role": "system", "content": "Save what the user tells you about themselves, then recall it."},
        {"role": "user", "content": "My sister lives in Valencia."},
    ]
    for _ in range(5):
        response = await llm.chat.completions.create(
            model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"), messages=messages, tools=TOOLS
        )
        reply = response.choices[0].message
        messages.append(reply.model_dump(exclude_none=True))
        if not reply.tool_calls:
            print("assistant:", reply.content)
            break
        for call in reply.tool_calls:
            print("tool call:", call.function.name, call.function.arguments)
            messages.append(await handle_tool_call(memory, call))
    await memory.client.memories.purge(scope=memory.scope, force=True)
    await memory.aclose()


asyncio.run(main())
