"""`ConversationMemory` (async): a conversation's messages kept in an Engram session."""

import asyncio

from engram_client.compat import ConversationMemory


async def main() -> None:
    conversation = ConversationMemory(session_id="support-42")
    await conversation.add({"role": "system", "content": "You are a support agent."})
    await conversation.add({"role": "user", "content": "My order has not arrived."})
    await conversation.add({"role": "assistant", "content": "Let me check that for you."})
    print("user said:", [m["content"] for m in await conversation.get_messages_by_role("user")])

    state = await conversation.state_dict()  # {"session_id", "messages"}
    await conversation.truncate_to_size(2)
    print("last two:", await conversation.get_messages())

    await conversation.load_state_dict(state)
    print("restored:", len(await conversation.get_messages()), "messages")
    await conversation.clear()
    await conversation.aclose()


asyncio.run(main())
