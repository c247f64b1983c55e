"""A scripted OpenAI-compatible HTTP server on loopback, for tests and benchmarks (no network, no model).

It speaks enough of the OpenAI API for the ``openai`` SDK (and so for ``engram.adapters.openai``):

- ``POST /v1/chat/completions`` → a ``chat.completion`` whose message content is the scripted JSON,
  with ``usage`` (``len(text) // 4`` tokens for the prompt and the completion, plus ``IMAGE_TOKENS``
  per ``image_url`` part: message content may be a list of text and image parts, as in vision requests);
- ``POST /v1/embeddings`` → a ``list`` of ``embedding`` objects (``encoding_format`` ``float`` or
  ``base64``), with ``usage``;
- ``GET /v1/models`` → one model, ``scripted``.

Every endpoint has a FIFO queue of *steps*; each request pops one, and when the queue is empty a
default responder answers. A step is one of:

| step | chat completions | embeddings |
|---|---|---|
| a ``dict`` | the message content (serialized as JSON) | — |
| a ``list`` of vectors | — | the vectors, one per input |
| ``Reply(content, finish_reason, refusal)`` | a message with full control (``content`` ``str`` is sent raw) | — |
| ``Malformed("not json")`` | raw message content that is not JSON | — |
| ``Status(code, body, headers, retry_after_ms)`` | an HTTP response as is (e.g. 429, 500; 200 with a raw body) | same |
| ``Delay(seconds, then=step)`` | wait, then answer with ``then`` (default responder when None) | same |
| a callable ``f(request_json)`` | returns any step above | same |

Defaults: chat → ``chat_responder(request_json)``, by default ``{"facts": []}``, ``{"decisions": []}``,
``{"text": DEFAULT_IMAGE_DESCRIPTION}`` or, for a compression prompt, the offline compressor's facts
(``engram.adapters.offline.compress_facts``, deterministic) chosen by the ``response_format`` schema name
(``offline_chat_responder`` answers with Engram's offline rules instead); embeddings → ``OfflineEmbedder`` vectors of the requested ``dimensions`` (default
``embedding_dimension`` = 1536), deterministic and unit length.

Every request is recorded in ``requests`` as ``(path, json_body)``. Usage::

    with ScriptedLLMServer() as server:
        server.script_chat(Status(429, retry_after_ms=1), {"facts": []})
        client = build_client(api_key="test", base_url=server.base_url, timeout=2, max_retries=2)

Tip: the SDK waits 0.5 s, 1 s, ... between retries unless the response carries ``retry-after-ms``;
scripted errors with ``retry_after_ms=1`` keep retry tests fast.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from engram.adapters.offline import OfflineEmbedder, OfflineLLM

CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
MODELS_PATH = "/v1/models"
IMAGE_TOKENS = 85
"""Prompt tokens counted per image part (what OpenAI charges for a low-detail image)."""
DEFAULT_IMAGE_DESCRIPTION = "An image (scripted description)."


@dataclass(frozen=True)
class Status:
    """An HTTP response sent as is: ``code``, a JSON ``body`` (default: an OpenAI-style error object;
    a ``str`` is sent raw), extra ``headers``, and ``retry_after_ms`` as a ``retry-after-ms`` header."""

    code: int
    body: Mapping[str, Any] | str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_after_ms: float | None = None


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` (cut short when the server stops), then answer with ``then``."""

    seconds: float
    then: Step | None = None


@dataclass(frozen=True)
class Reply:
    """A chat message under full control: ``content`` (``dict`` → JSON, ``str`` → raw, None → null),
    ``finish_reason`` (``"length"``, ``"content_filter"``...) and ``refusal``."""

    content: Mapping[str, Any] | str | None = None
    finish_reason: str = "stop"
    refusal: str | None = None


@dataclass(frozen=True)
class Malformed:
    """Raw chat message content that is not valid JSON."""

    content: str = "not json"


Step = Mapping[str, Any] | list[list[float]] | Status | Delay | Reply | Malformed | Callable[[dict[str, Any]], Any]
ChatResponder = Callable[[dict[str, Any]], Mapping[str, Any]]


def schema_name(request: Mapping[str, Any]) -> str | None:
    """The ``response_format.json_schema.name`` of a chat request (e.g. ``ExtractionOutput``), if any."""
    response_format = request.get("response_format") or {}
    if not isinstance(response_format, Mapping):
        return None
    schema = response_format.get("json_schema") or {}
    return schema.get("name") if isinstance(schema, Mapping) else None


def default_chat_responder(request: dict[str, Any]) -> dict[str, Any]:
    """An empty but valid answer: ``{"facts": []}`` for extraction, ``{"decisions": []}`` for
    consolidation, ``{"text": DEFAULT_IMAGE_DESCRIPTION}`` for an image description (by the schema
    name), ``{}`` otherwise; a compression prompt gets the offline compressor's answer (``compression_answer``)."""
    name = schema_name(request)
    if name == "CompressionOutput":
        return compression_answer(request)
    if name == "ExtractionOutput":
        return {"facts": []}
    if name == "ConsolidationOutput":
        return {"decisions": []}
    if name == "ImageDescription":
        return {"text": DEFAULT_IMAGE_DESCRIPTION}
    return {}


_TODAY = re.compile(r"today's date: (\d{4}-\d{2}-\d{2})")
_NUMBERED = re.compile(r"^(\d+): (.*)$")
_CAPTION = re.compile(r"^The sender's caption \(context only\): (.*)$", re.MULTILINE)
_DATA_URL = re.compile(r"^data:([^;,]+);base64,")


def offline_chat_responder(request: dict[str, Any]) -> dict[str, Any]:
    """Answer Engram's extraction and consolidation prompts with the offline rules (``OfflineLLM``).

    Reads the prompt back from the rendered messages (``engram.models.prompts``,
    ``engram.logic.multimodal``), so a benchmark can run the real OpenAI code path with meaningful,
    instant answers; an image description is the offline one (the caption, labelled). Other requests
    get the default answer.
    """
    # Imported here: the prompt module pulls in the models, which this server does not otherwise need.
    from engram.models.conversation import ConversationEvent, InlineData
    from engram.models.prompts import ConsolidationPrompt, ExtractionPrompt, TopicSpec, parse_event_line

    name = schema_name(request)
    messages = request.get("messages") or []
    system = next((_text(m.get("content")) for m in messages if m.get("role") == "system"), "")
    user = next((_text(m.get("content")) for m in messages if m.get("role") == "user"), "")
    if name == "ExtractionOutput":
        topics_text = system.split("Allowed topics:", 1)[-1]
        topics = [
            TopicSpec(label=label.strip(), description=description.strip())
            for label, _, description in (
                line[2:].partition(":") for line in topics_text.splitlines() if line.startswith("- ")
            )
        ]
        events = [
            ConversationEvent(event_id=parsed[0], role=parsed[1], text=parsed[2])
            for parsed in map(parse_event_line, user.splitlines()[1:])
            if parsed
        ]
        today = _TODAY.search(system)
        prompt = ExtractionPrompt(
            events=events, topics=topics, today=date.fromisoformat(today[1]) if today else date.today()
        )
        return OfflineLLM().extract(prompt).output.model_dump(mode="json")
    if name == "ConsolidationOutput":
        existing_text, _, candidates_text = user.partition("\n\nCANDIDATES:\n")
        existing = [m[2] for line in existing_text.splitlines() if (m := _NUMBERED.match(line))]
        candidates = [m[2] for line in candidates_text.splitlines() if (m := _NUMBERED.match(line))]
        prompt_c = ConsolidationPrompt(existing=existing, candidates=candidates)
        return OfflineLLM().consolidate(prompt_c).output.model_dump(mode="json")
    if name == "CompressionOutput":
        return compression_answer(request)
    if name == "ImageDescription":
        caption = _CAPTION.search(user)
        url = next((_image_url(m.get("content")) for m in messages if m.get("role") == "user"), "")
        mime_type = _DATA_URL.match(url)
        image = InlineData.model_construct(  # not validated: only the type and caption are read
            mime_type=mime_type[1] if mime_type else "image",
            data="",
            caption=json.loads(caption[1]) if caption else None,
        )
        return OfflineLLM().describe_image(image).output.model_dump(mode="json")
    return default_chat_responder(request)


def compression_answer(request: dict[str, Any]) -> dict[str, Any]:
    """``{"facts": [...]}`` for a compression prompt (``engram.models.prompts.CompressionPrompt``) read back
    from the request's user message: the offline compressor's merge of its memories into at most its
    target (deterministic); ``{"facts": []}`` when the message is not one."""
    from engram.models.prompts import parse_compression_user

    messages = request.get("messages") or []
    user = next((_text(m.get("content")) for m in messages if m.get("role") == "user"), "")
    prompt = parse_compression_user(user)
    if prompt is None:
        return {"facts": []}
    return OfflineLLM().compress(prompt).output.model_dump(mode="json")


def _text(content: Any) -> str:
    """The text of a message ``content``: a string, or the ``{"type": "text", "text"}`` parts of a list
    (image parts are skipped)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", "")) for p in content if isinstance(p, Mapping) and p.get("type", "text") == "text"
        )
    return ""


def _image_url(content: Any) -> str:
    """The URL of the first ``image_url`` part of a message ``content`` ("" when there is none)."""
    for part in _image_parts(content):
        image_url = part.get("image_url")
        url = image_url.get("url") if isinstance(image_url, Mapping) else image_url
        return url if isinstance(url, str) else ""
    return ""


def _image_parts(content: Any) -> list[Mapping[str, Any]]:
    if not isinstance(content, list):
        return []
    return [p for p in content if isinstance(p, Mapping) and p.get("type") == "image_url"]


def count_tokens(text: str) -> int:
    """A rough token count: ``len(text) // 4`` (at least 1 for non-empty text)."""
    return max(1, len(text) // 4) if text else 0


class ScriptedLLMServer:
    """An OpenAI-compatible server on ``127.0.0.1`` answering from scripts (see the module docstring).

    ``start()`` binds a free port (or ``port``) and serves from a daemon thread; ``base_url`` is then
    ``http://127.0.0.1:PORT/v1``. ``stop()`` shuts it down and wakes any ``Delay``. Also a context
    manager. Thread safe: requests may arrive concurrently; steps are popped atomically.
    """

    def __init__(
        self,
        chat_responder: ChatResponder = default_chat_responder,
        embedding_dimension: int = 1536,
        port: int = 0,
        model: str = "scripted",
    ) -> None:
        self.chat_responder = chat_responder
        self.embedding_dimension = embedding_dimension
        self.model = model
        self._port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._queues: dict[str, deque[Any]] = {CHAT_PATH: deque(), EMBEDDINGS_PATH: deque()}
        self._requests: list[tuple[str, Any]] = []
        self._embedders: dict[int, OfflineEmbedder] = {}
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._ids = 0

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> ScriptedLLMServer:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.scripted = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="scripted-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:  # ends keep-alive handler threads waiting for a next request
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ScriptedLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the scripted LLM server is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (raises ``RuntimeError`` before ``start()``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    # --- scripting ------------------------------------------------------------------------------

    def script_chat(self, *steps: Step) -> None:
        """Append steps to the chat-completions queue (answered in order, one per request)."""
        with self._lock:
            self._queues[CHAT_PATH].extend(steps)

    def script_embeddings(self, *steps: Step) -> None:
        """Append steps to the embeddings queue."""
        with self._lock:
            self._queues[EMBEDDINGS_PATH].extend(steps)

    def pending(self, path: str = CHAT_PATH) -> int:
        """How many scripted steps of an endpoint are still unused."""
        with self._lock:
            return len(self._queues[path])

    def reset(self) -> None:
        """Drop unused steps and recorded requests."""
        with self._lock:
            for queue in self._queues.values():
                queue.clear()
            self._requests.clear()

    @property
    def requests(self) -> list[tuple[str, Any]]:
        """Every request received, in arrival order, as ``(path, json_body)`` (a copy)."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[Any]:
        """The JSON bodies of the requests to one path, e.g. ``CHAT_PATH``."""
        return [body for p, body in self.requests if p == path]

    # --- serving (called from the handler threads) -------------------------------------------------

    def _next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    def _handle(self, path: str, request: Any) -> tuple[int, Mapping[str, str], bytes] | None:
        """The response to one POST as ``(status, headers, body)``, or None when the server stopped."""
        with self._lock:
            self._requests.append((path, request))
            queue = self._queues.get(path)
            if queue is None:
                return _json_response(404, _error_body(f"unknown path {path}", "not_found_error"))
            if not isinstance(request, dict):
                body = _error_body("the request body must be a JSON object", "invalid_request_error")
                return _json_response(400, body)
            step = queue.popleft() if queue else None
        while True:
            if isinstance(step, Delay):
                if self._stopping.wait(step.seconds):
                    return None
                step = step.then
                continue
            if callable(step) and not isinstance(step, Status | Reply | Malformed):
                step = step(request)
                continue
            break
        if isinstance(step, Status):
            headers = dict(step.headers)
            if step.retry_after_ms is not None:
                headers["retry-after-ms"] = str(step.retry_after_ms)
            if isinstance(step.body, str):
                return step.code, {"content-type": "application/json", **headers}, step.body.encode()
            payload = step.body if step.body is not None else _error_body(f"scripted HTTP {step.code}", None)
            return _json_response(step.code, payload, headers)
        if path == CHAT_PATH:
            return _json_response(200, self._chat_completion(request, step))
        return _json_response(200, self._embeddings(request, step))

    def _chat_completion(self, request: dict[str, Any], step: Any) -> dict[str, Any]:
        if step is None:
            step = self.chat_responder(request)
        if isinstance(step, Malformed):
            step = Reply(content=step.content)
        if not isinstance(step, Reply):
            step = Reply(content=step)
        content = step.content
        text = content if isinstance(content, str) or content is None else json.dumps(content)
        messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
        prompt_text = "\n".join(_text(m.get("content")) for m in messages)
        images = sum(len(_image_parts(m.get("content"))) for m in messages)
        prompt_tokens, completion_tokens = count_tokens(prompt_text) + IMAGE_TOKENS * images, count_tokens(text or "")
        return {
            "id": f"chatcmpl-scripted-{self._next_id()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model") or self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": step.refusal},
                    "finish_reason": step.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _embeddings(self, request: dict[str, Any], step: Any) -> dict[str, Any]:
        raw = request.get("input")
        inputs = [raw] if isinstance(raw, str) else list(raw or [])
        texts = [item if isinstance(item, str) else json.dumps(item) for item in inputs]
        if step is None:
            dimension = int(request.get("dimensions") or self.embedding_dimension)
            with self._lock:
                embedder = self._embedders.setdefault(dimension, OfflineEmbedder(dimension))
            step = embedder.embed(texts)
        as_base64 = request.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": _base64(vector) if as_base64 else [float(v) for v in vector],
            }
            for i, vector in enumerate(step)
        ]
        tokens = sum(count_tokens(t) for t in texts)
        return {
            "object": "list",
            "data": data,
            "model": request.get("model") or self.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def _models(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "engram"}],
        }


def _base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def _error_body(message: str, kind: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind or "server_error", "param": None, "code": None}}


def _json_response(
    code: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> tuple[int, Mapping[str, str], bytes]:
    return code, {"content-type": "application/json", **(headers or {})}, json.dumps(body).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler still inside a Delay never blocks stop()
    request_queue_size = 128  # benchmarks open many connections at once
    scripted: ScriptedLLMServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK reuses connections
    server_version = "EngramScriptedLLM/1"

    @property
    def scripted(self) -> ScriptedLLMServer:
        return self.server.scripted  # type: ignore[attr-defined]  # self.server is always a _Server

    def setup(self) -> None:
        super().setup()
        with self.scripted._lock:
            self.scripted._connections.add(self.connection)

    def finish(self) -> None:
        with self.scripted._lock:
            self.scripted._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        """Silent: tests and benchmarks read ``requests`` instead."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0].rstrip("/")
        if not path.startswith("/v1/"):
            path = "/v1" + path  # also accept a base URL without /v1
        try:
            request: Any = json.loads(raw) if raw else {}
        except ValueError:
            request = raw.decode("utf-8", "replace")
        response = self.scripted._handle(path, request)
        if response is None:
            self.close_connection = True
            return
        self._send(*response)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.split("?", 1)[0].rstrip("/") in (MODELS_PATH, "/models"):
            self._send(*_json_response(200, self.scripted._models()))
        else:
            self._send(*_json_response(404, _error_body(f"unknown path {self.path}", "not_found_error")))

    def _send(self, code: int, headers: Mapping[str, str], body: bytes) -> None:
        try:
            self.send_response(code)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. its timeout)
            self.close_connection = True
