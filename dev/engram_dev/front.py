"""The local API front: what API Gateway does in AWS, on 127.0.0.1.

Each HTTP request becomes a REST API proxy event; the ``Authorization`` header goes first to the
real authorizer handler (TOKEN authorizer: missing header or an ``Unauthorized`` error → 401, any other
error of the authorizer → 503 as the template's AUTHORIZER_FAILURE response, a policy
that does not allow the request's method ARN → 403: a revoked key, or mem0's Token scheme outside /mem0),
then the event, with the authorizer's context, to the real API handler.

The API's resources and their methods are the template's ``Api`` events (``api_resources``), as in API
Gateway: a literal path segment wins over a ``{parameter}``, and a method a matched resource does not
have is a 405 with an ``Allow`` header (before authorization, as API Gateway answers it without calling
the authorizer). As API Gateway (``ReauthorizeEvery`` in the template), the authorizer's policy is cached
per ``Authorization`` header value (``AuthorizerCache``) and evaluated against each request's method ARN;
an error (401) is not cached. Unlike API Gateway, the local stack drops the whole cache whenever an API
key item of its table changes (``engram_dev.stack``), so a revoked key gets 403 at once. A 204 or 304 goes out with no body and no ``Content-Length``, whatever the function
returned, so a kept-alive connection stays in step.
"""

from __future__ import annotations

import fnmatch
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from engram.observability import logger

from engram_dev.lambda_runtime import ACCOUNT_ID, FunctionError, LambdaRuntime
from engram_dev.project import functions, load_template

MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit
# dev-only routes of the local stack, running a function that in AWS a schedule or an operator invokes
LOCAL_FUNCTIONS = {"/_local/retention": "RetentionFunction", "/_local/reindex": "ReindexFunction"}
STAGE = "prod"
#: The functions behind the API's resources (CORS preflight aside): Engram's own routes, and the
#: mem0-compatible surface under /mem0 (its own function, so neither's resource policy nears Lambda's
#: 20 KB: each ``Api`` event adds a statement).
API_FUNCTIONS = ("ApiFunction", "Mem0Function")
API_FUNCTION = API_FUNCTIONS[0]
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
NO_BODY_STATUSES = (204, 304)  # and 1xx: RFC 9110 forbids a body (and a Content-Length on a 204)


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return status, {"Content-Type": "application/json"}, body


#: API Gateway's UNAUTHORIZED answer (template.yaml): no ``Authorization`` header, or not a known key.
UNAUTHENTICATED = "missing or unknown API key (expected Authorization: Bearer <api key>)"
#: API Gateway's AUTHORIZER_FAILURE answer (template.yaml): the authorizer failed (e.g. DynamoDB throttled).
AUTHORIZER_FAILED = "the API key could not be checked; retry with backoff"


def _authorizer_failure(error: FunctionError) -> tuple[int, dict[str, str], bytes]:
    """API Gateway's answer when the TOKEN authorizer raises: 401 for its ``Unauthorized`` (the exact
    message API Gateway maps), else 503 (the template's AUTHORIZER_FAILURE response): a key that could
    not be checked is not called unknown."""
    if error.message == "Unauthorized":
        return _error(401, "UNAUTHENTICATED", UNAUTHENTICATED)
    return _error(503, "UNAVAILABLE", AUTHORIZER_FAILED)


#: API Gateway's ACCESS_DENIED answer (template.yaml): the authorizer's policy does not allow the request.
ACCESS_DENIED = "this API key has been revoked, or this route does not take it (Authorization: Token is for /mem0 only)"


def policy_allows(policy: dict[str, Any], method_arn: str) -> bool:
    """Whether an authorizer's IAM policy allows ``method_arn``, as API Gateway decides: no ``Deny``
    statement's resource matches it and an ``Allow`` one's does (``*`` matches any characters, ``/`` too)."""

    def matches(statement: dict[str, Any]) -> bool:
        resources = statement.get("Resource") or []
        resources = [resources] if isinstance(resources, str) else resources
        return any(fnmatch.fnmatchcase(method_arn, resource) for resource in resources)

    statements = (policy.get("policyDocument") or {}).get("Statement") or []
    if any(s.get("Effect") == "Deny" and matches(s) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and matches(s) for s in statements)


def api_resources() -> dict[str, set[str]]:
    """``{path template: methods}`` of the API functions' ``Api`` events in the template (``ANY`` → every
    method), and of the local stack's own ``LOCAL_FUNCTIONS`` routes (POST). The CORS preflight function,
    deployed only when the stack sets ``CorsAllowOrigin``, has no part in the local stack."""
    resources: dict[str, set[str]] = {path: {"POST"} for path in LOCAL_FUNCTIONS}
    for path, method, _ in _api_events():
        resources.setdefault(path, set()).update(set(HTTP_METHODS) if method == "ANY" else {method})
    return resources


def api_functions() -> dict[str, str]:
    """``{path template: logical id}``: which of ``API_FUNCTIONS`` serves each resource."""
    return {path: function for path, _, function in _api_events()}


def _api_events() -> list[tuple[str, str, str]]:
    """``(path template, METHOD, logical id)`` of every ``Api`` event of ``API_FUNCTIONS``."""
    found = []
    for function in API_FUNCTIONS:
        for event in (functions()[function].get("Events") or {}).values():
            if event.get("Type") == "Api":
                found.append((event["Properties"]["Path"], str(event["Properties"]["Method"]).upper(), function))
    return found


class Resources:
    """Matches a request path to a resource of the API, the most specific first: at each segment a
    literal beats a ``{parameter}`` (``/v1/memories/retrieve`` is not ``/v1/memories/{id}``)."""

    def __init__(self, resources: dict[str, set[str]]) -> None:
        self._patterns = [(self._pattern(path), path, methods) for path, methods in resources.items()]

    @staticmethod
    def _pattern(template: str) -> re.Pattern[str]:
        segments = ("[^/]+" if s.startswith("{") and s.endswith("}") else re.escape(s) for s in template.split("/"))
        return re.compile("^" + "/".join(segments) + "$")

    def match(self, path: str) -> tuple[str, set[str]] | None:
        """The resource template and its methods, or None when no resource has this path. A trailing slash is
        ignored, as API Gateway does (mem0's client asks for ``/mem0/v1/ping/``)."""
        path = path.rstrip("/") or "/"
        found = [(template, methods) for pattern, template, methods in self._patterns if pattern.match(path)]
        if not found:
            return None
        return max(found, key=lambda item: [not segment.startswith("{") for segment in item[0].split("/")])

    def not_allowed(
        self, method: str, path: str, matched: tuple[str, set[str]] | None = None
    ) -> tuple[int, dict[str, str], bytes] | None:
        """A 405 with ``Allow`` when ``path`` is a resource without ``method``, else None; ``matched``:
        ``match(path)`` when the caller has it already."""
        matched = matched or self.match(path)
        if matched is None or method in matched[1]:
            return None
        status, headers, body = _error(405, "METHOD_NOT_ALLOWED", f"{method} is not allowed on {matched[0]}")
        return status, {**headers, "Allow": ", ".join(sorted(matched[1]))}, body


def authorizer_ttl() -> float:
    """The template's ``ReauthorizeEvery`` of the API's authorizer (seconds; API Gateway's default, 300,
    when it has none)."""
    api = load_template()["Resources"]["Api"]["Properties"]
    authorizers = api["Auth"]["Authorizers"]
    authorizer = authorizers[api["Auth"]["DefaultAuthorizer"]]
    return float((authorizer.get("Identity") or {}).get("ReauthorizeEvery", 300))


class AuthorizerCache:
    """The authorizer's policies by ``Authorization`` header value, each kept ``ttl`` seconds (0: none
    kept), safe for the front's threads. ``clear()`` drops them all; a policy the authorizer gave before a
    ``clear()`` but that arrives after it is not kept (``generation``), so a revocation is never undone by a
    request that was in flight."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._policies: dict[str, tuple[float, dict[str, Any]]] = {}
        self._generation = 0

    @property
    def generation(self) -> int:
        with self._lock:
            return self._generation

    def get(self, token: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._policies.get(token)
            if found is None:
                return None
            if found[0] <= self._clock():
                del self._policies[token]
                return None
            return found[1]

    def put(self, token: str, policy: dict[str, Any], generation: int) -> None:
        """Keep ``policy``, unless the cache was cleared since ``generation`` was read (before the
        authorizer was asked)."""
        if self.ttl <= 0:
            return
        with self._lock:
            if generation == self._generation:
                self._policies[token] = (self._clock() + self.ttl, policy)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._policies.clear()


class ApiFront:
    def __init__(
        self,
        runtime: LambdaRuntime,
        host: str = "127.0.0.1",
        port: int = 0,
        resources: dict[str, set[str]] | None = None,
        authorizer_ttl: float = 0.0,
    ) -> None:
        """``resources``: ``{path template: methods}``, by default the template's (``api_resources``).
        ``authorizer_ttl``: seconds an authorizer's policy is cached per token (``authorizer_ttl()`` is the
        template's; 0, the default here, asks the authorizer on every request)."""
        self.runtime = runtime
        self.authorizations = AuthorizerCache(authorizer_ttl)
        #: Called once per request with (method, path without the query string, status, milliseconds), when
        #: set (``engram local --access-log``); never given the body or the headers, so never a key.
        self.access_log: Callable[[str, str, int, float], None] | None = None
        self.resources = Resources(api_resources() if resources is None else resources)
        self.functions = api_functions()
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    status, headers, body = _error(
                        413, "PAYLOAD_TOO_LARGE", f"request body over {MAX_BODY_BYTES} bytes"
                    )
                    self.rfile.read(length)
                else:
                    raw = self.rfile.read(length) if length else b""
                    try:
                        status, headers, body = front.handle(self.command, self.path, dict(self.headers.items()), raw)
                    except Exception:  # the front itself must always answer, like API Gateway would
                        logger.exception("local API front error")
                        status, headers, body = _error(500, "INTERNAL", "local API front error; see the log")
                self._send(status, headers, body)

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                """The response; none of a 1xx, 204 or 304 has a body or a ``Content-Length``."""
                bodyless = status < 200 or status in NO_BODY_STATUSES
                self.send_response(status)
                for name, value in headers.items():
                    if not (bodyless and name.lower() in ("content-length", "content-type")):
                        self.send_header(name, value)
                if not bodyless:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not bodyless and self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def __getattr__(self, name: str) -> Any:
                """Any other method (HEAD, OPTIONS, TRACE...) gets a JSON 405, never http.server's HTML 501."""
                if not name.startswith("do_"):
                    raise AttributeError(name)
                return self._not_allowed

            def _not_allowed(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(min(length, MAX_BODY_BYTES))
                path = urlsplit(self.path).path
                answer = front.resources.not_allowed(self.command, path) or _error(
                    405, "METHOD_NOT_ALLOWED", f"{self.command} is not supported"
                )
                self._send(*answer)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                return

            def handle_one_request(self) -> None:
                self._status: int | None = None
                self._started = time.monotonic()  # parse_request sets it again once the request line is in
                super().handle_one_request()
                if front.access_log is not None and self._status is not None:
                    ms = (time.monotonic() - self._started) * 1000
                    front.access_log(self.command, urlsplit(self.path).path, self._status, ms)

            def parse_request(self) -> bool:
                self._started = time.monotonic()  # the request line is in: a kept-alive wait is not counted
                return super().parse_request()

            def send_response(self, code: int, message: str | None = None) -> None:
                self._status = code
                super().send_response(code, message)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="engram-api-front", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _run_local(self, authorization: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Run a scheduled/operator function now (the local stack has no scheduler); needs a valid API key.
        The request body (JSON, optional) is the function's event."""
        try:
            self.runtime.invoke(
                "AuthorizerFunction",
                {
                    "type": "TOKEN",
                    "authorizationToken": authorization,
                    "methodArn": f"arn:aws:execute-api:us-east-1:{ACCOUNT_ID}:local/{STAGE}/POST{path}",
                },
            )
        except FunctionError as error:
            return _authorizer_failure(error)
        try:
            event = json.loads(body) if body else {}
        except ValueError:
            return _error(400, "INVALID_JSON", "the request body is not valid JSON")
        try:
            result = self.runtime.invoke(LOCAL_FUNCTIONS[path], event if isinstance(event, dict) else {})
        except FunctionError as error:
            return _error(500, "INTERNAL", f"{LOCAL_FUNCTIONS[path]} failed: {error.message}")
        return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        path = parts.path
        matched = self.resources.match(path)
        not_allowed = self.resources.not_allowed(method, path, matched)
        if not_allowed:
            return not_allowed
        authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        if not authorization:
            return _error(401, "UNAUTHENTICATED", UNAUTHENTICATED)
        if path in LOCAL_FUNCTIONS and method == "POST":
            return self._run_local(authorization, path, body)
        method_arn = f"arn:aws:execute-api:us-east-1:{ACCOUNT_ID}:local/{STAGE}/{method}{path}"
        policy = self.authorizations.get(authorization)
        if policy is None:
            generation = self.authorizations.generation
            try:
                policy = self.runtime.invoke(
                    "AuthorizerFunction",
                    {"type": "TOKEN", "authorizationToken": authorization, "methodArn": method_arn},
                )
            except FunctionError as error:
                return _authorizer_failure(error)
            self.authorizations.put(authorization, policy, generation)
        if not policy_allows(policy, method_arn):
            return _error(403, "PERMISSION_DENIED", ACCESS_DENIED)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()} or None
        text = body.decode("utf-8", errors="replace") if body else None
        event = {
            "resource": path,
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": query,
            "multiValueQueryStringParameters": {k: v for k, v in parse_qs(parts.query).items()} or None,
            "pathParameters": None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": path,
                "httpMethod": method,
                "path": f"/{STAGE}{path}",
                "stage": STAGE,
                "requestId": str(uuid.uuid4()),
                "accountId": ACCOUNT_ID,
                "apiId": "local",
                "identity": {"sourceIp": "127.0.0.1"},
                "authorizer": {"principalId": policy.get("principalId"), **(policy.get("context") or {})},
            },
            "body": text,
            "isBase64Encoded": False,
        }
        try:
            function = self.functions.get(matched[0], API_FUNCTION) if matched else API_FUNCTION
            response = self.runtime.invoke(function, event)
        except FunctionError:
            return _error(502, "INTERNAL", "the API function failed; see the local stack's log")
        out_headers = {k: str(v) for k, v in (response.get("headers") or {}).items()}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            out_headers[name] = str(values[-1])
        out_headers.setdefault("Content-Type", "application/json")
        return int(response.get("statusCode", 200)), out_headers, (response.get("body") or "").encode()
