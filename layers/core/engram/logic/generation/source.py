"""Workflow step LoadSource: the request's source as conversation events with ids, stored for Extract."""

from __future__ import annotations

from engram.errors import NotFound
from engram.logic import sessions as session_logic
from engram.logic.generation.operations import StepContext, stored_request
from engram.logic.multimodal import describe_attachments
from engram.models.api import GenerateRequest
from engram.models.conversation import ConversationEvent, normalize
from engram.models.operation import OperationDocument
from engram.ports import LLM, Clock, OperationRepository, SessionRepository


def load_source(
    operations: OperationRepository, sessions: SessionRepository, llm: LLM, clock: Clock, ctx: StepContext
) -> int:
    """Turn the request's source into conversation events (with ids) and store them. Returns the count.

    ``messages``/``events``: normalized; ``session``: the session's events in ``[start_time, end_time)``
    (ids kept, so provenance names session events); ``facts``: nothing to load (returns the number of
    facts). Image parts are described into text (one LLM call each, its usage added to the operation),
    so provenance of a fact from an image names its event. A retried step reuses what it stored (no
    second description call). Raises ``NotFound`` when the operation has no stored request.
    """
    stored_source = operations.get_blob(ctx.tenant_id, ctx.operation_id, OperationDocument.SOURCE)
    if stored_source is not None:
        return len(stored_source)
    request = stored_request(operations, ctx)
    if request.facts is not None:
        return len(request.facts)
    events, usage = describe_attachments(llm, _conversation(sessions, clock, ctx, request))
    if usage.llm_calls:
        operations.add_usage(ctx.tenant_id, ctx.operation_id, usage, clock.now())
    operations.put_blob(ctx.tenant_id, ctx.operation_id, OperationDocument.SOURCE, [e.model_dump() for e in events])
    return len(events)


def _conversation(
    sessions: SessionRepository, clock: Clock, ctx: StepContext, request: GenerateRequest
) -> list[ConversationEvent]:
    """The request's ``messages``/``events`` normalized, or its session's events in the time range (none
    when the session has no events)."""
    if request.session is None:
        return normalize(request.messages, request.events)
    source = request.session
    try:
        stored = session_logic.list_events(
            sessions, clock, ctx.tenant_id, source.session_id, start_time=source.start_time, end_time=source.end_time
        )
    except NotFound:
        stored = []
    return session_logic.as_conversation(stored)
