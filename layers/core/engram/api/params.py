"""The path and header parameters the API's route modules share (``engram.api.routes``,
``engram.api.lifecycle``, ``engram.api.mem0``): each function of the API imports only its own routes."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Header, Path

from engram.models.identifiers import (
    CLIENT_ID_PATTERN,
    RESOURCE_ID_DESCRIPTION,
    RESOURCE_ID_PATTERN,
    SESSION_ID_DESCRIPTION,
)

MemoryId = Annotated[str, Path(pattern=RESOURCE_ID_PATTERN, max_length=64, description=RESOURCE_ID_DESCRIPTION)]
OperationId = Annotated[str, Path(pattern=RESOURCE_ID_PATTERN, max_length=64, description=RESOURCE_ID_DESCRIPTION)]
ReceiptId = Annotated[str, Path(pattern=RESOURCE_ID_PATTERN, max_length=64, description=RESOURCE_ID_DESCRIPTION)]
SessionId = Annotated[str, Path(pattern=CLIENT_ID_PATTERN, max_length=128, description=SESSION_ID_DESCRIPTION)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Makes a retry safe: the same key and body within 24 h return the first response; "
        "another body with the key → 422; while the first is running → 409.",
    ),
]
