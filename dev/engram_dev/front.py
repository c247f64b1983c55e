"""The local API front: what API Gateway does in AWS, on 127.0.0.1.

Each HTTP request becomes a REST API proxy event; the ``Authorization`` header goes first to the
real authorizer handler (TOKEN authorizer: missing header or an ``Unauthorized`` error → 401, a Deny
policy → 403), then the event, with the authorizer's context, to the real API handler.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from engram.observability import logger

from engram_dev.lambda_runtime import ACCOUNT_ID, FunctionError, LambdaRuntime

MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit
# dev-only routes of the local stack, running a function that in AWS a schedule or an operator invokes
LOCAL_FUNCTIONS = {"/_local/retention": "RetentionFunction", "/_local/reindex": "ReindexFunction"}
STAGE = "prod"


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return status, {"Content-Type": "application/json"}, body


class ApiFront:
    def __init__(self, runtime: LambdaRuntime, host: str = "127.0.0.1", port: int = 0) -> None:
        self.runtime = runtime
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
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
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
                status, headers, body = _error(405, "METHOD_NOT_ALLOWED", f"{self.command} is not supported")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="engram-api-front", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
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
        except FunctionError:
            return _error(401, "UNAUTHENTICATED", "missing or unknown API key")
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
        authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        if not authorization:
            return _error(401, "UNAUTHENTICATED", "missing Authorization header")
        if path in LOCAL_FUNCTIONS and method == "POST":
            return self._run_local(authorization, path, body)
        try:
            policy = self.runtime.invoke(
                "AuthorizerFunction",
                {
                    "type": "TOKEN",
                    "authorizationToken": authorization,
                    "methodArn": f"arn:aws:execute-api:us-east-1:{ACCOUNT_ID}:local/{STAGE}/{method}{path}",
                },
            )
        except FunctionError:
            return _error(401, "UNAUTHENTICATED", "missing or unknown API key")
        statement = policy["policyDocument"]["Statement"][0]
        if statement["Effect"] != "Allow":
            return _error(403, "PERMISSION_DENIED", "this API key has been revoked")
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
            response = self.runtime.invoke("ApiFunction", event)
        except FunctionError:
            return _error(502, "INTERNAL", "the API function failed; see the local stack's log")
        out_headers = {k: str(v) for k, v in (response.get("headers") or {}).items()}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            out_headers[name] = str(values[-1])
        out_headers.setdefault("Content-Type", "application/json")
        return int(response.get("statusCode", 200)), out_headers, (response.get("body") or "").encode()
