"""`Memories.create(messages=...)`: the facts a conversation yields (it waits for the generation)."""

from engram_client.compat import Memories

facts = Memories.create(
    messages=[
        {"role": "user", "content": "I live in Porto and my favorite food is bacalhau."},
        {"role": "assistant", "content": "Great choice!"},
    ]
)
# With a server that supports them: Memories.create(messages=..., temperature=0.7, max_tokens=4000)
for fact in facts:
    print("fact:", fact)
shared = Memories.default()  # the instance behind Memories.create: its client and scope {"user_id": "default"}
shared.client.memories.purge(scope=shared.scope, force=True)
