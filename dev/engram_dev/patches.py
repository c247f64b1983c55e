"""Every change the development tools make to third-party libraries, in one module.

Each patch names the version of the library it was written for and refuses to run on another one:
``PatchVersionError`` names the package, the version the patch expects and the installed one, so an
upgrade fails loudly here instead of quietly changing what the local stack or a benchmark does.

| patch | library, written for | how |
|---|---|---|
| ``run_emulator_lambdas_in_process``: Lambda ``Invoke`` requests to the emulator (the Step Functions runner's) run our handlers in this process | moto 5.2.5 (its Step Functions runner calls Lambda through ``boto3`` at ``localhost:$MOTO_PORT``), botocore 1.x | botocore ``before-send`` hook answering the request |
| ``answer_emulator_requests_in_process``: this process's AWS requests to the emulator are answered in the calling thread (by moto's handler or its WSGI application), not over TCP | botocore 1.x, moto 5.2.5 (``ThreadedMotoServer``'s WSGI application) | botocore ``before-send`` hook, werkzeug's ``run_wsgi_app`` |
| ``_answer_dynamodb_call`` (with ``answer_emulator_requests_in_process``): this process's DynamoDB item operations to the emulator are answered by moto's handler method, without either library's HTTP round (signing, endpoint, request set-up, JSON answer) | botocore 1.x (written for 1.44.8), moto 5.2.5 | botocore ``before-call`` hook returning the parsed answer; moto's request parser and ``DynamoHandler`` methods |
| ``observe_dynamodb_requests``: every DynamoDB request and response, for the benchmarks' meters | botocore 1.x (written for 1.44.8) | botocore ``before-parameter-build``, ``before-call`` and ``after-call`` hooks |
| ``serialize_emulator_dynamodb``: the emulator answers DynamoDB and DynamoDB Streams requests one at a time | moto 5.2.5 | wraps ``DynamoHandler.call_action`` and ``DynamoDBStreamsHandler.call_action`` in ``EMULATOR_LOCK`` |
| ``in_place_emulator_transactions``: ``TransactWriteItems`` checks, then writes, and undoes only its own writes | moto 5.2.5 | replaces ``DynamoDBBackend.transact_write_items`` |
| ``untrack_emulator_models``: moto forgets the DynamoDB objects it made (items, copies, stream records) | moto 5.2.5 | replaces each model class's ``instances_tracked`` list |
| ``bound_emulator_stream_iterators``: the emulator keeps its newest 1,000 shard iterators, not all | moto 5.2.5 | wraps ``DynamoDBStreamsBackend.get_records`` |
| ``fast_emulator_stream_records``: ``GetRecords`` answers encoded with moto's DynamoDB JSON encoder | moto 5.2.5 | replaces ``DynamoDBStreamsHandler.get_records`` |
| ``lean_emulator_stream_records``: stream records built without a JSON encoding of each to estimate its size | moto 5.2.5 | replaces ``StreamRecord.__init__`` |
| ``fast_emulator_answers``: the answers of DynamoDB item reads and writes serialized by a serializer built once per shape, to the same document | moto 5.2.5 | wraps ``ActionResult.execute_result`` |
| ``fast_emulator_expressions``: condition expressions parsed once per text (in the request handler and the backend alike), update-expression trees copied by a copier that knows them and validated by passes that build their maps once | moto 5.2.5 | wraps ``ConditionExpressionParser.parse``; replaces ``deepcopy`` in ``moto.dynamodb.parsing.validators`` and ``DepthFirstTraverser.traverse`` |
| ``fast_emulator_routing``: the server finds the service of a JSON-protocol request without listing moto's folder, and a handler's methods without ``inspect`` | moto 5.2.5 | wraps ``DomainDispatcherApplication.get_application`` and ``method_names_from_class`` as ``moto.core.responses`` uses it |
| ``fast_emulator_items``: item attributes size-checked once, attribute values converted without intermediate lists, update expressions parsed once | moto 5.2.5 | replaces ``Item.__init__`` and ``DynamoType.__init__``; wraps ``UpdateExpressionParser.make`` |
| ``fast_emulator_request_parsing``: DynamoDB and DynamoDB Streams request bodies parsed by a parser built once per shape, to the same document | moto 5.2.5 | wraps ``JSONParser._parse_json_body`` |
| ``fast_dynamodb_request_bodies``: this process's DynamoDB and DynamoDB Streams request bodies serialized by a serializer built once per shape, to the same request | botocore 1.44.8 | replaces ``JSONSerializer.serialize_to_request`` |
| ``direct_emulator_request``: this process's DynamoDB and DynamoDB Streams requests go to moto's handler as moto's in-process mode sends them, not through its Flask application | moto 5.2.5 | calls ``Handler.dispatch`` with ``moto.core.request.Request.from_primitives`` |
| ``on_emulator_write``: a listener told of every item change (persistence, the stream poller's wake-up) | moto 5.2.5 | wraps ``Table.put_item``, ``Table.delete_item``, ``DynamoDBBackend.update_item`` |
| ``wait_emulator_retries_with``: the waits of the emulator's Step Functions retries go through a function the local stack gives | moto 5.2.5 | wraps ``RetrierDecl._eval_body``; replaces the ``time`` module its ``sleep`` comes from in ``retrier_decl`` |
| ``discard_stream_records``, ``item_images``, ``put_items_quietly``: read and load tables, drop delivered stream records | moto 5.2.5 | moto's ``Table`` and ``StreamShard`` objects |
| ``mark_cold_start_done``: no ColdStart metric line from handlers sharing one process | aws-lambda-powertools 3.37.0 | sets ``metrics.provider.cold_start.is_cold_start`` |

The botocore hooks use only botocore's public event system, so any botocore 1.x is accepted; they are
registered by ``install_botocore_hooks`` on every botocore session created afterwards (through
``botocore.handlers.BUILTIN_HANDLERS``, the list each new session registers, as moto's own mock does) and
on boto3's default session, and do nothing until a patch gives them work. The moto patches rely on moto's
internals and the Powertools one on a module flag, so they need exactly the pinned version. The moto
patches stay for the life of the process once applied (``install_emulator_patches``, which
``LocalStack.start`` calls); each is applied once.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import decimal
import enum
import functools
import importlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from io import BytesIO
from typing import Any, Protocol, cast
from urllib.parse import unquote, urlsplit

MOTO = ("moto", "5.2.5")
#: Third-party functions a patch replaced and still calls, by name.
_originals: dict[str, Callable[..., Any]] = {}
BOTOCORE = ("botocore", "1.44.8")
POWERTOOLS = ("aws-lambda-powertools", "3.37.0")


class PatchVersionError(RuntimeError):
    """A patch was asked to run on a version of its library it was not written for."""


@functools.cache
def require(package: str, written_for: str, patch: str, same: str = "version") -> None:
    """Raise ``PatchVersionError`` unless ``package`` is installed at ``written_for`` (``same="version"``) or
    at the same major version (``same="major"``, for patches that use only the library's public API)."""
    installed = _installed_version(package)
    expected = written_for if same == "version" else f"{written_for.split('.')[0]}.x (written for {written_for})"
    ok = installed == written_for if same == "version" else installed.split(".")[0] == written_for.split(".")[0]
    if not ok:
        raise PatchVersionError(
            f"engram_dev.patches: {patch} was written for {package} {expected}, but {package} {installed} is "
            f"installed. Check the patch against {package} {installed}, then update it and its version in "
            "engram_dev/patches.py (or install the expected version)."
        )


@functools.cache
def _installed_version(package: str) -> str:
    """``package``'s installed version, read once per process (a metadata read is ~0.3 ms, and some
    patches check on every in-process invocation)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


# --- botocore hooks ---------------------------------------------------------------------------------

_lock = threading.Lock()
_installed = False
_lambda_target: tuple[int, Callable[[str, bytes], tuple[bytes, bool]]] | None = None
_emulator_app: tuple[int, Any] | None = None  # (port, the emulator's WSGI application)
_observers: list[DynamoDBObserver] = []
_quiet = threading.local()  # set while an observer reads items: those requests are not observed
_readers: dict[tuple[str, str | None], Any] = {}
_PARAMS, _STATES = "engram_dev.api_params", "engram_dev.observer_states"


def install_botocore_hooks() -> None:
    """Register this module's botocore hooks on every session created from now on and on boto3's default
    session (idempotent). Call it before the clients to be observed are created: a client keeps the hooks
    of its session as they were when it was made (``LocalStack.start`` calls it first thing)."""
    global _installed
    require(*BOTOCORE, patch="the botocore hooks", same="major")
    import boto3
    from botocore import handlers

    with _lock:
        if _installed:
            return
        hooks = [
            ("before-send.lambda.Invoke", _answer_lambda_invoke),
            ("before-send", _answer_in_process),
            ("before-parameter-build.dynamodb", _keep_api_params),
            ("before-call.dynamodb", _before_dynamodb_call),
            ("before-call.dynamodb", _answer_dynamodb_call),
            ("after-call.dynamodb", _after_dynamodb_call),
        ]
        handlers.BUILTIN_HANDLERS.extend(hooks)
        if boto3.DEFAULT_SESSION is not None:
            for event, handler in hooks:
                boto3.DEFAULT_SESSION.events.register(event, handler, unique_id=f"engram-dev-{event}")
        _installed = True


# Lambda: the emulator's Step Functions executions run our handlers.


class _Body(BytesIO):
    """A response body botocore can read and stream (``StreamingBody`` and ``AWSResponse.content``)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()


def run_emulator_lambdas_in_process(port: int, invoke: Callable[[str, bytes], tuple[bytes, bool]]) -> None:
    """Answer every Lambda ``Invoke`` request sent to the emulator on ``port`` with
    ``invoke(function name or ARN, request payload) -> (response payload, failed)``, in the calling thread.

    moto 5.2.5's Step Functions runner invokes a Task's function through a new ``boto3`` client at
    ``localhost:$MOTO_PORT``, and moto's Docker-less Lambda backend would only echo the payload; so the
    request is answered before it is sent, as Lambda would: ``200`` with the handler's result, or with
    ``X-Amz-Function-Error: Unhandled`` and the error payload (whose ``errorType`` the ASL's Retry/Catch
    match). As from moto's Lambda API: ``202`` for an ``Event`` invocation, ``204`` for ``DryRun``, and a
    ``Function.ResponseSizeTooLarge`` error for a result over 6 MB."""
    global _lambda_target
    require(*MOTO, patch="run_emulator_lambdas_in_process")
    install_botocore_hooks()
    _lambda_target = (port, invoke)


def _answer_lambda_invoke(request: Any, **_: Any) -> Any:
    from botocore.awsrequest import AWSResponse

    target = _lambda_target
    url = urlsplit(request.url)
    if target is None or url.hostname not in ("localhost", "127.0.0.1") or url.port != target[0]:
        return None  # not the emulator: sent as usual
    function_name = unquote(url.path.rstrip("/").rsplit("/", 2)[-2])  # /2015-03-31/functions/<name>/invocations
    body = request.body
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    payload, failed = target[1](function_name, body or b"")
    invocation_type = request.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
    if isinstance(invocation_type, bytes):
        invocation_type = invocation_type.decode()
    if invocation_type != "Event" and sys.getsizeof(payload) > 6_000_000:  # as moto's Lambda responses
        error = "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
        payload, failed = (
            json.dumps({"errorMessage": error, "errorType": "Function.ResponseSizeTooLarge"}).encode(),
            True,
        )
    headers = {"Content-Type": "application/json", "Content-Length": str(len(payload))}
    if failed:
        headers["X-Amz-Function-Error"] = "Unhandled"
    status = {"Event": 202, "DryRun": 204}.get(invocation_type, 200)
    return AWSResponse(request.url, status, headers, _Body(payload))


# Every other request to the emulator: answered by its WSGI application in the calling thread.


def answer_emulator_requests_in_process(port: int, app: Any | None) -> None:
    """Answer every request sent to the emulator on ``port`` (except Lambda ``Invoke``, see
    ``run_emulator_lambdas_in_process``) in the calling thread instead of sending it over TCP
    (``emulator_request``: DynamoDB and DynamoDB Streams requests straight to moto's handler, others
    through its WSGI application ``app``).

    The answer is the same; what goes is a connection, a server thread per request (moto's server is
    HTTP/1.0, threaded) and the hand-over of the interpreter lock between the two threads, which cost a
    few milliseconds per request on a busy machine: a memory created through the API makes four
    DynamoDB requests. DynamoDB item operations go further (``_answer_dynamodb_call``): answered by
    moto's handler method before botocore sends anything. Clients outside this process still reach the
    emulator over TCP. ``app`` None turns it off (the emulator stopped)."""
    global _emulator_app
    require(*MOTO, patch="answer_emulator_requests_in_process")
    install_botocore_hooks()
    _emulator_app = None if app is None else (port, app)


def emulator_request(
    app: Any, url: str, method: str, headers: dict[str, Any], body: bytes
) -> tuple[int, dict[str, str], bytes]:
    """Answer one HTTP request to the emulator in the calling thread; returns ``(status, headers, body)``.

    A DynamoDB or DynamoDB Streams JSON request (path ``/``, ``X-Amz-Target`` of either API) goes straight
    to moto's handler, as moto's own in-process mode (``mock_aws``) dispatches it (``direct_emulator_
    request``); any other request goes through the emulator's WSGI ``app`` (werkzeug's public
    ``EnvironBuilder`` and ``run_wsgi_app``)."""
    direct = direct_emulator_request(url, method, headers, body)
    if direct is not None:
        return direct
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    parts = urlsplit(url)
    environ = EnvironBuilder(
        path=parts.path or "/",
        base_url=f"{parts.scheme}://{parts.netloc}",
        query_string=parts.query,
        method=method,
        headers=[(str(k), v.decode() if isinstance(v, bytes) else str(v)) for k, v in headers.items()],
        data=body,
    ).get_environ()
    app_iter, status, answer_headers = run_wsgi_app(app, environ, buffered=True)
    try:
        content = b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    return int(status.split(" ", 1)[0]), dict(answer_headers.items()), content


#: ``X-Amz-Target`` prefixes answered by ``direct_emulator_request``: moto 5.2.5's handler class of each,
#: by module and name.
_DIRECT_TARGETS = {
    "DynamoDB_20120810": ("moto.dynamodb.responses", "DynamoHandler"),
    "DynamoDBStreams_20120810": ("moto.dynamodbstreams.responses", "DynamoDBStreamsHandler"),
}


def direct_emulator_request(
    url: str, method: str, headers: dict[str, Any], body: bytes
) -> tuple[int, dict[str, str], bytes] | None:
    """Answer a DynamoDB or DynamoDB Streams JSON request (``POST /`` with an ``X-Amz-Target`` of either
    API) with moto 5.2.5's handler in the calling thread, or None for any other request.

    moto's server would route it through its werkzeug dispatcher and a Flask application (request
    context, URL map, CORS, response object) to the same call, ``Handler.dispatch(request, url,
    headers)``, which is what moto's in-process mode (``mock_aws``, ``moto.core.botocore_stubber``) calls
    with a request made by ``moto.core.request.Request.from_primitives``; so does this. The answer is the
    handler's status, headers and body (an ``HTTPException`` becomes its status, headers and body, as
    there). That layer was about a tenth of the local stack's CPU per memory created one at a time."""
    target = _header(headers, "X-Amz-Target")
    if method != "POST" or not target or urlsplit(url).path not in ("", "/"):
        return None
    handler_name = _DIRECT_TARGETS.get(target.split(".", 1)[0])
    if handler_name is None:
        return None
    require(*MOTO, patch="direct_emulator_request")
    from moto.core.exceptions import HTTPException
    from moto.core.request import Request

    handler = getattr(importlib.import_module(handler_name[0]), handler_name[1])
    text_headers = {str(k): v.decode() if isinstance(v, bytes) else str(v) for k, v in headers.items()}
    request = Request.from_primitives(method, url, text_headers, body)
    try:
        status, answer_headers, content = handler.dispatch(request, request.raw_url, request.headers)
    except HTTPException as error:
        status, answer_headers, content = error.code, dict(error.get_headers()), error.get_body()
    out = {str(k): str(v) for k, v in dict(answer_headers).items() if str(k).lower() != "status"}
    return int(status), out, content.encode() if isinstance(content, str) else bytes(content or b"")


def _header(headers: dict[str, Any], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if str(key).lower() == lowered:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def _answer_in_process(request: Any, **_: Any) -> Any:
    from botocore.awsrequest import AWSResponse

    target = _emulator_app
    url = urlsplit(request.url)
    if target is None or url.hostname not in ("localhost", "127.0.0.1") or url.port != target[0]:
        return None  # not the emulator: sent as usual
    if url.path.endswith("/invocations") and _lambda_target is not None:
        return None  # a Lambda invocation: _answer_lambda_invoke's
    body = request.body
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    status, headers, content = emulator_request(
        target[1], request.url, request.method, dict(request.headers), body or b""
    )
    return AWSResponse(request.url, status, headers, _Body(content))


# DynamoDB item operations: answered by moto's handler method, without the HTTP round of either library.

#: The operations ``_answer_dynamodb_call`` answers (their answers hold no timestamp), with the name of
#: moto 5.2.5's ``DynamoHandler`` method of each.
DIRECT_CALLS = {
    "GetItem": "get_item",
    "BatchGetItem": "batch_get_item",
    "Query": "query",
    "Scan": "scan",
    "TransactGetItems": "transact_get_items",
    "PutItem": "put_item",
    "UpdateItem": "update_item",
    "DeleteItem": "delete_item",
    "BatchWriteItem": "batch_write_item",
    "TransactWriteItems": "transact_write_items",
}
#: Off: every DynamoDB request takes the HTTP-shaped way (``_answer_in_process``); for comparisons.
direct_dynamodb_calls = True
_parsed_answers: dict[Any, Callable[[Any], Any]] = {}  # the answers' converters, under EMULATOR_LOCK


def _answer_dynamodb_call(
    model: Any, params: dict[str, Any], request_signer: Any, context: dict[str, Any], **_: Any
) -> tuple[Any, dict[str, Any]] | None:
    """A botocore ``before-call.dynamodb`` hook: a DynamoDB item operation (``DIRECT_CALLS``) to the
    emulator answered by moto 5.2.5's ``DynamoHandler`` method in the calling thread, under
    ``EMULATOR_LOCK``; returns botocore's ``(http response, parsed response)`` (botocore then emits
    ``after-call`` and raises the error of an error answer, as for a sent request), or None for any other
    request (sent as usual: ``_answer_in_process``).

    What the handler reads is what moto's own dispatch gives it: the body parsed by moto's request parser
    (``_request_params``: as moto's ``BaseResponse.parse_parameters`` makes them), the region of the client and the
    account of its access key (``get_current_account``'s rules). What goes is the request's other way,
    which was about a third of the CPU of a memory created alone: signing, botocore's endpoint and hooks,
    moto's request object and set-up (which parses the JSON body as a query string too), its CRC32 and
    request-id rewriting of the answer, and the answer's JSON both ways. A successful answer
    (``ActionResult``/``DynamoResult`` of a dict) is converted to what botocore's parser makes of moto's
    JSON (``_ANSWER_LEAVES``: blobs as bytes, numbers converted, strings as text; with the
    ``ResponseMetadata`` of a 200); any other answer and every error (moto's ``ServiceException`` and
    ``HTTPException``, as its ``call_action`` serializes them) go through botocore's own parser, modeled
    error fields included (``CancellationReasons``, a failed condition's ``Item``)."""
    target = _emulator_app
    handler_method = DIRECT_CALLS.get(model.name)
    if target is None or handler_method is None or not direct_dynamodb_calls:
        return None
    url = urlsplit(params["url"])
    if url.hostname not in ("localhost", "127.0.0.1") or url.port != target[0]:
        return None
    require(*MOTO, patch="_answer_dynamodb_call")
    from moto import settings
    from moto.core.exceptions import HTTPException, ServiceException
    from moto.core.parse import JSONParser
    from moto.core.responses import ActionResult
    from moto.core.utils import get_service_model
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    handler = DynamoHandler()
    headers = {str(k): v.decode() if isinstance(v, bytes) else str(v) for k, v in params["headers"].items()}
    try:
        handler.params = _request_params(model, context.pop(_PARAMS))
    except (KeyError, TypeError, ValueError):  # no parameters kept, or a value not made here: moto's parser
        parser = JSONParser(
            get_service_model("dynamodb").operation_model(model.name), map_type=handler.PROTOCOL_PARSER_MAP_TYPE
        )
        body = params["body"]
        request = {"method": "POST", "values": {}, "headers": headers, "body": body, "url_path": "/", "url_params": {}}
        handler.params = parser.parse(cast(Any, request))  # the JSON protocol's parser reads only the body
    handler.body, handler.uri_match, handler.headers = handler.params, {}, headers
    handler.region = context.get("client_region") or "us-east-1"
    handler.current_account = _emulator_account(request_signer)
    with EMULATOR_LOCK:  # (which also guards _parsed_answers)
        try:
            response = getattr(handler, handler_method)()
        except ServiceException as error:
            status, answer_headers, content = handler.serialized(ActionResult(error))
            return _botocore_answer(model, params["url"], status, answer_headers, content)
        except HTTPException as error:
            status = error.code or 500
            return _botocore_answer(model, params["url"], status, dict(error.get_headers()), error.description)
        direct = (
            type(response) in (ActionResult, DynamoResult)
            and isinstance(response.result, dict)
            and not settings.PRETTIFY_RESPONSES
            and model.output_shape is not None
        )
        convert = _shape_converter(model.output_shape, _parsed_answers, _ANSWER_LEAF) if direct else None
        parsed = convert(response.result) if convert is not None else None
    if parsed is not None:
        from botocore.awsrequest import AWSResponse

        parsed["ResponseMetadata"] = {
            "RequestId": uuid.uuid4().hex,
            "HTTPStatusCode": 200,
            "HTTPHeaders": {},
            "RetryAttempts": 0,
        }
        return AWSResponse(params["url"], 200, {}, _Body(b"")), parsed
    if isinstance(response, ActionResult):
        status, answer_headers, content = handler.serialized(response)
    elif isinstance(response, str):
        status, answer_headers, content = 200, {}, response
    else:
        status, answer_headers, content = handler._transform_response({}, response)
    return _botocore_answer(model, params["url"], status, answer_headers, content)


_request_converters: dict[Any, Callable[[Any], Any]] = {}  # by input shape, once built (under _lock)
_request_built: dict[Any, Callable[[Any], Any]] = {}


def _request_params(model: Any, api_params: dict[str, Any]) -> dict[str, Any]:
    """The parameters moto's request parser makes of the body botocore serializes from ``api_params``
    (a client's validated parameters), made from them directly: a structure's members that are present
    and not None, in the shape's order; maps and lists item by item; a blob as bytes (text as UTF-8);
    integers and floats converted; strings and booleans as they are. Raises ``TypeError`` for a value it
    does not convert (a file-like blob, a timestamp): the caller then parses the body as moto does."""
    shape = model.input_shape
    convert = _request_converters.get(shape.name)
    if convert is None:  # built whole under the lock: a half-built converter is never used
        with _lock:
            convert = _request_converters[shape.name] = _shape_converter(shape, _request_built, _REQUEST_LEAF)
    return dict(convert(api_params))


def _request_blob(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    raise TypeError(f"a blob of type {type(value).__name__}")


def _not_converted(value: Any) -> Any:
    raise TypeError(f"not converted: {value!r}")


def _emulator_account(request_signer: Any) -> str:
    """The account moto 5.2.5 gives a request signed with ``request_signer``'s credentials
    (``BaseResponse.get_current_account``: ``MOTO_ACCOUNT_ID``, else the account of the access key)."""
    from moto.iam.models import get_account_id_from

    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    credentials = getattr(request_signer, "_credentials", None)
    access_key = credentials.get_frozen_credentials().access_key if credentials is not None else None
    return str(get_account_id_from(access_key or "AKIAEXAMPLE"))


def _botocore_answer(
    model: Any, url: str, status: int, headers: dict[str, Any], content: Any
) -> tuple[Any, dict[str, Any]]:
    """``(http response, parsed response)`` of an answer as moto would have sent it, parsed by botocore's
    parser for the operation, with the modeled fields of an error (what botocore 1.44.8's
    ``Endpoint._add_modeled_error_fields`` adds)."""
    from botocore.awsrequest import AWSResponse
    from botocore.parsers import create_parser

    data = content.encode() if isinstance(content, str) else bytes(content or b"")
    clean = {str(k): str(v) for k, v in headers.items() if str(k).lower() != "status"}
    parser = create_parser(model.metadata["protocol"])
    response = {"headers": clean, "status_code": int(status), "body": data, "context": {"operation_name": model.name}}
    parsed = parser.parse(response, model.output_shape)
    if int(status) >= 300:
        code = parsed.get("Error", {}).get("Code")
        error_shape = model.service_model.shape_for_error_code(code) if code else None
        if error_shape is not None:
            parsed.update(parser.parse(response, error_shape))
    return AWSResponse(url, int(status), clean, _Body(data)), parsed


def _shape_converter(
    shape: Any,
    built: dict[Any, Callable[[Any], Any]],
    leaf: Callable[[Any], Callable[[Any], Any]],
    renamed: bool = False,
) -> Callable[[Any], Any]:
    """The converter of ``shape``'s values (built once, kept in ``built``; a recursive shape resolves
    through it): a structure keeps its members that are present and not None, read by member name, in the
    shape's order, written under the same name (``renamed``: under its serialized name); maps and lists
    are converted item by item; a leaf by ``leaf(its shape)``, which may refuse it (``ValueError``)."""
    # botocore makes a new Shape object at each lookup: a shape is known by its name (unique in a service)
    key = (shape.name, shape.type_name, shape.serialization.get("timestampFormat"))
    found = built.get(key)
    if found is not None:
        return found
    kind = shape.type_name
    if kind == "structure" and not getattr(shape, "is_document_type", False):
        members: list[tuple[str, str, Callable[[Any], Any]]] = []

        def structure(value: Any) -> Any:
            out = {}
            for name, written, convert in members:
                item = value.get(name)
                if item is not None:
                    out[written] = item if convert is _same else convert(item)
            return out

        built[key] = structure  # before its members: a member may be this shape again
        for name, member in shape.members.items():
            written = member.serialization.get("name", name) if renamed else name
            members.append((name, written, _shape_converter(member, built, leaf, renamed)))
        return structure
    if kind == "map":
        built[key] = lambda value: {k: convert_value(v) for k, v in value.items()}
        convert_value = _shape_converter(shape.value, built, leaf, renamed)
        return built[key]
    if kind == "list":
        built[key] = lambda value: [convert_member(v) for v in value]
        convert_member = _shape_converter(shape.member, built, leaf, renamed)
        return built[key]
    built[key] = leaf(shape)
    return built[key]


def _table_leaf(table: dict[str, Callable[[Any], Any]], shape: Any) -> Callable[[Any], Any]:
    """A ``_shape_converter`` leaf from a table by shape type (as it is when absent; ``_NO_CONVERTER``
    refuses, ``ValueError``)."""
    convert = table.get(shape.type_name, _same)
    if convert is _NO_CONVERTER:
        raise ValueError(f"{shape.name}: no {shape.type_name} is converted here")
    return convert


def _no_converter(value: Any) -> Any:
    raise AssertionError("never called: marks a type _shape_converter refuses")


_NO_CONVERTER: Callable[[Any], Any] = _no_converter


def _blob_bytes(value: Any) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _string_value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        value = value.value
    return str(value) if value not in (None, {}, []) else value


#: How ``_answer_dynamodb_call`` converts an answer's leaf values, by shape type (no answer of
#: ``DIRECT_CALLS`` holds a timestamp: one would be refused when its converter is built).
_ANSWER_LEAVES: dict[str, Callable[[Any], Any]] = {
    "blob": _blob_bytes,
    "integer": int,
    "long": int,
    "float": float,
    "double": float,
    "string": _string_value,
    "timestamp": _NO_CONVERTER,
}
_ANSWER_LEAF = functools.partial(_table_leaf, _ANSWER_LEAVES)
#: How ``_request_params`` converts a client's leaf values, by shape type (any other: as it is; a
#: timestamp is not converted: the body is parsed as moto does instead).
_REQUEST_LEAVES: dict[str, Callable[[Any], Any]] = {
    "blob": _request_blob,
    "integer": int,
    "long": int,
    "float": float,
    "double": float,
    "timestamp": _not_converted,
}
_REQUEST_LEAF = functools.partial(_table_leaf, _REQUEST_LEAVES)


# DynamoDB: requests and responses, for the benchmarks' meters.


class DynamoDBObserver(Protocol):
    """Told of every successful DynamoDB request of this process's observed clients.

    ``before`` runs before the request is sent with the operation name (``"PutItem"``) and its parameters
    (wire form, as the client was called); it returns a state, or None to ignore the request. ``after``
    gets that state and the parsed response. ``read(table, key)`` is a consistent ``GetItem`` against the
    same endpoint, itself not observed."""

    def before(self, operation: str, params: dict[str, Any], read: Callable[..., Any]) -> Any: ...

    def after(self, state: Any, response: dict[str, Any], read: Callable[..., Any]) -> None: ...


@contextlib.contextmanager
def observe_dynamodb_requests(observer: DynamoDBObserver) -> Iterator[None]:
    """Tell ``observer`` of every DynamoDB request while in the block (see ``DynamoDBObserver``): from the
    clients of sessions created after ``install_botocore_hooks`` and of boto3's default session. A request
    that fails (an error response or no response) reaches ``before`` but not ``after``."""
    install_botocore_hooks()
    with _lock:
        _observers.append(observer)
    try:
        yield
    finally:
        with _lock:
            _observers.remove(observer)


def _observing() -> bool:
    return bool(_observers) and not getattr(_quiet, "on", False)


def _keep_api_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_PARAMS] = params  # for the observers and _answer_dynamodb_call


def _before_dynamodb_call(model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    api_params = context.get(_PARAMS)
    if api_params is None or not _observing():
        return  # None: the request is sent as usual
    url = urlsplit(params["url"])
    read = _reader(f"{url.scheme}://{url.netloc}", context.get("client_region"))
    states = []
    for observer in list(_observers):
        state = observer.before(model.name, api_params, read)
        if state is not None:
            states.append((observer, state, read))
    if states:
        context[_STATES] = states


def _after_dynamodb_call(http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    states = context.pop(_STATES, None)
    if not states or http_response is None or http_response.status_code >= 300:
        return
    for observer, state, read in states:
        observer.after(state, parsed, read)


def _reader(endpoint_url: str, region: str | None) -> Callable[[str, dict[str, Any]], dict[str, Any] | None]:
    with _lock:
        client = _readers.get((endpoint_url, region))
        if client is None:
            import botocore.session

            client = botocore.session.get_session().create_client(
                "dynamodb", region_name=region, endpoint_url=endpoint_url
            )
            _readers[(endpoint_url, region)] = client

    def read(table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        _quiet.on = True
        try:
            return client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        finally:
            _quiet.on = False

    return read


# --- moto: the emulator's DynamoDB ------------------------------------------------------------------

#: Held by every DynamoDB and DynamoDB Streams request the emulator answers (``serialize_emulator_dynamodb``)
#: and by anything in this process that reads or changes the emulator's tables directly.
EMULATOR_LOCK = threading.RLock()

#: Called after every change to an item of an emulated table: ``listener(table, hash_key, range_key)``
#: (moto objects), with ``EMULATOR_LOCK`` held. See ``on_emulator_write``.
WriteListener = Callable[[Any, Any, Any], None]
_write_listeners: list[WriteListener] = []
_quiet_writes = threading.local()  # set while put_items_quietly loads items: listeners are not told
_moto_patched: set[str] = set()
#: Shard iterators the emulator remembers (moto keeps every one it ever handed out).
MAX_SHARD_ITERATORS = 1000


def install_emulator_patches() -> None:
    """Apply every emulator patch the local stack needs (idempotent; they stay for the process):
    ``serialize_emulator_dynamodb``, ``in_place_emulator_transactions``, ``untrack_emulator_models``,
    ``bound_emulator_stream_iterators``, ``fast_emulator_stream_records``, ``lean_emulator_stream_records``,
    ``fast_emulator_answers``, ``fast_emulator_routing``, ``fast_emulator_items``, ``fast_emulator_expressions``,
    ``fast_emulator_request_parsing``, ``fast_dynamodb_request_bodies`` and the write notifications behind ``on_emulator_write``."""
    serialize_emulator_dynamodb()
    in_place_emulator_transactions()
    untrack_emulator_models()
    bound_emulator_stream_iterators()
    fast_emulator_stream_records()
    lean_emulator_stream_records()
    fast_emulator_answers()
    fast_emulator_routing()
    fast_emulator_items()
    fast_emulator_expressions()
    fast_emulator_request_parsing()
    fast_dynamodb_request_bodies()
    _notify_emulator_writes()


def _replace(owner: Any, name: str, value: Any) -> None:
    """Replace attribute ``name`` of a third-party class or module (what each patch here does)."""
    setattr(owner, name, value)


def _patch_once(name: str) -> bool:
    """True the first time ``name`` is asked for (the caller patches then), after checking moto's version."""
    require(*MOTO, patch=name)
    with _lock:
        if name in _moto_patched:
            return False
        _moto_patched.add(name)
        return True


def serialize_emulator_dynamodb() -> None:
    """Answer the emulator's DynamoDB and DynamoDB Streams requests one at a time (under ``EMULATOR_LOCK``).

    moto 5.2.5 answers each HTTP request on a thread of its own and its DynamoDB backend has no lock, so a
    write could land between a transaction's condition checks and its writes, a read could see half a
    transaction, and a table being copied could change under the copy. DynamoDB itself is serializable
    per item and transactions are isolated; one lock gives the emulator that (every request is short)."""
    if not _patch_once("serialize_emulator_dynamodb"):
        return
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        _replace(handler, "call_action", _locked(handler.call_action))


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with EMULATOR_LOCK:
            return method(*args, **kwargs)

    return call


def in_place_emulator_transactions() -> None:
    """Replace moto 5.2.5's ``DynamoDBBackend.transact_write_items`` with one that checks every condition
    first, then writes, and on a failed write puts back only the items it changed.

    moto deep-copies every table the transaction names (once per item) before writing, and on any failure
    puts the copies in place of the tables: without a lock that undoes the committed writes other requests
    made meanwhile, it replaces the table's stream shard (a stream reader holding an iterator then reads an
    orphan forever), and its cost grows with the table, not the transaction. Here, under
    ``EMULATOR_LOCK``: the checks of moto (at most 100 items, one operation per item, one item once), then
    every ``ConditionExpression`` against the current items (any failure → ``TransactionCanceledException``
    with a reason per item, nothing written), then the writes, remembering each item's previous state
    (a copy only for ``Update``, which moto changes in place). If a write fails, the items written so far get
    their previous state back, the stream records of the transaction are removed (no reader can have seen
    them: readers take the lock too), and the error is raised as moto raises it: a validation error as
    itself, anything else as a ``TransactionCanceledException`` naming it."""
    if not _patch_once("in_place_emulator_transactions"):
        return
    import moto.dynamodb.models as models

    _replace(models.DynamoDBBackend, "transact_write_items", _transact_write_items)


_TRANSACT_OPERATIONS = ("ConditionCheck", "Put", "Delete", "Update")


def _transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    with EMULATOR_LOCK:
        plan: list[tuple[str, dict[str, Any], Any, Any, Any]] = []  # (operation, request, table, hash, range)
        seen: set[tuple[str, Any, Any]] = set()
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException()
            operation, request = next(iter(entry.items()))
            if operation not in _TRANSACT_OPERATIONS:
                from moto.dynamodb.exceptions import MockValidationException

                raise MockValidationException(f"Unsupported transaction operation {operation}")
            table = backend.get_table(request["TableName"])
            key_source = request["Item"] if operation == "Put" else request["Key"]
            names = (table.hash_key_attr, table.range_key_attr)
            key = {name: key_source[name] for name in names if name and name in key_source}
            hash_key, range_key = backend.get_keys_value(table, key)  # a key attribute missing: ValidationException
            if (table.name, hash_key, range_key) in seen:
                raise MultipleTransactionsException()
            seen.add((table.name, hash_key, range_key))
            plan.append((operation, request, table, hash_key, range_key))
        _check_transaction(plan)
        _write_transaction(backend, plan)


def _check_transaction(plan: list[tuple[str, dict[str, Any], Any, Any, Any]]) -> None:
    """Evaluate every condition on the current items; raise ``TransactionCanceledException`` if any fails."""
    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.models.table import get_filter_expression

    reasons: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    for _, request, table, hash_key, range_key in plan:
        condition = request.get("ConditionExpression")
        current = table.get_item(hash_key, range_key)
        if condition is not None and not get_filter_expression(
            condition, request.get("ExpressionAttributeNames"), request.get("ExpressionAttributeValues")
        ).expr(current):
            old = None
            if request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current is not None:
                old = current.to_json()["Attributes"]
            reasons.append(("ConditionalCheckFailed", "The conditional request failed", old))
        else:
            reasons.append((None, None, None))
    if any(code is not None for code, _, _ in reasons):
        raise TransactionCanceledException(reasons)


def _write_transaction(backend: Any, plan: list[tuple[str, dict[str, Any], Any, Any, Any]]) -> None:
    """Apply the writes of ``plan``; on a failure undo them in place and raise as moto does."""
    from moto.dynamodb.exceptions import MockValidationException, TransactionCanceledException

    undo: list[tuple[Any, Any, Any, Any]] = []  # (table, hash, range, previous item or None), in write order
    stream_marks = {id(t): (t, len(t.stream_shard.items)) for _, _, t, _, _ in plan if t.stream_shard is not None}
    failed_at = -1
    try:
        for position, (operation, request, table, hash_key, range_key) in enumerate(plan):
            failed_at = position
            if operation == "ConditionCheck":
                continue
            previous = table.get_item(hash_key, range_key)
            undo.append((table, hash_key, range_key, copy.deepcopy(previous) if operation == "Update" else previous))
            names, values = request.get("ExpressionAttributeNames"), request.get("ExpressionAttributeValues")
            # The conditions held when checked, and nothing else ran since (the lock): not evaluated again.
            if operation == "Put":
                backend.put_item(table.name, request["Item"])
            elif operation == "Delete":
                backend.delete_item(table.name, request["Key"])
            else:
                backend.update_item(table.name, request["Key"], request["UpdateExpression"], names, values)
    except Exception as error:
        for table, hash_key, range_key, previous in reversed(undo):
            _put_back(table, hash_key, range_key, previous)
        for table, mark in stream_marks.values():
            del table.stream_shard.items[mark:]
        if isinstance(error, MockValidationException):
            raise
        reasons: list[tuple[str | None, str | None, dict[str, Any] | None]] = [(None, None, None)] * len(plan)
        reasons[failed_at] = (type(error).__name__, str(error), None)
        raise TransactionCanceledException(reasons) from error


def _put_back(table: Any, hash_key: Any, range_key: Any, previous: Any) -> None:
    """Make ``previous`` (an item, or None for absent) the table's item at the key again, in place."""
    if range_key is None:
        if previous is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = previous
    else:
        partition = table.items.get(hash_key)
        if previous is not None:
            table.items[hash_key][range_key] = previous
        elif partition is not None:
            partition.pop(range_key, None)
            if not partition:
                del table.items[hash_key]
    _tell_write_listeners(table, hash_key, range_key)


class _Untracked(list[Any]):
    """A model class's ``instances_tracked`` that keeps nothing."""

    def append(self, _: Any) -> None:
        return None


def untrack_emulator_models() -> None:
    """Stop moto 5.2.5 from keeping every DynamoDB and DynamoDB Streams model object it ever made.

    ``BaseModel.__new__`` appends each instance (every item, every copy of one, every stream record and
    shard iterator) to its class's ``instances_tracked`` list, used only by moto's ``/moto-api/data.json``
    dashboard; so nothing the emulator made could ever be freed. Those lists are emptied and replaced by
    one that keeps nothing."""
    if not _patch_once("untrack_emulator_models"):
        return
    import moto.dynamodb.models  # noqa: F401 - registers the DynamoDB model classes in model_data
    import moto.dynamodbstreams.models  # noqa: F401 - and the DynamoDB Streams ones
    from moto.core.base_backend import model_data

    for service in ("dynamodb", "dynamodbstreams"):
        for cls in model_data.get(service, {}).values():
            _replace(cls, "instances_tracked", _Untracked())


def bound_emulator_stream_iterators() -> None:
    """Keep the newest ``MAX_SHARD_ITERATORS`` shard iterators of the emulator's DynamoDB Streams.

    moto 5.2.5 stores every iterator it hands out (each ``GetRecords`` answer makes one) and never forgets
    any; a poller asking several times a second grows that dict forever. The oldest are dropped, as
    DynamoDB lets iterators expire (after 15 minutes); a reader holding a dropped one gets an error and asks
    for a new iterator, as it would for an expired one."""
    if not _patch_once("bound_emulator_stream_iterators"):
        return
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    get_records = DynamoDBStreamsBackend.get_records

    def bounded_get_records(self: Any, iterator_arn: str, limit: int) -> dict[str, Any]:
        answer = get_records(self, iterator_arn, limit)
        with EMULATOR_LOCK:
            iterators = self.shard_iterators
            while len(iterators) > MAX_SHARD_ITERATORS:
                del iterators[next(iter(iterators))]
        return dict(answer)

    _replace(DynamoDBStreamsBackend, "get_records", bounded_get_records)


def fast_emulator_stream_records() -> None:
    """Answer the emulator's ``GetRecords`` with moto 5.2.5's DynamoDB JSON encoder instead of its generic
    response serializer, which walks the botocore shape of every attribute of every image and took a
    quarter of the local stack's CPU while it stored memories. The answer is the same document
    (``ApproximateCreationDateTime`` in epoch seconds, binary values in base64, as DynamoDB sends them)."""
    if not _patch_once("fast_emulator_stream_records"):
        return
    from moto.dynamodb.models.utilities import dynamo_json_dump
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    def get_records(self: Any) -> str:
        limit = self._get_param("Limit")
        answer = self.backend.get_records(self._get_param("ShardIterator"), 1000 if limit is None else limit)
        return dynamo_json_dump(answer)

    _replace(DynamoDBStreamsHandler, "get_records", get_records)


def lean_emulator_stream_records() -> None:
    """Build the emulator's DynamoDB stream records without moto 5.2.5's size estimate, which encodes the
    whole record (both item images) to JSON once more, converting its creation time through a slow path,
    for every item written: about a tenth of the local stack's CPU while it stored memories in batches.

    The record is the one moto makes (``eventID``, ``eventName``, ``Keys``, the images the stream's view
    type asks for, ``SequenceNumber``), except that ``ApproximateCreationDateTime`` is kept as epoch seconds
    (what ``GetRecords`` answers anyway) and ``SizeBytes`` is the DynamoDB size of the images and keys (the
    attribute-name and value bytes, as for an item's 400 KB limit) instead of the length of moto's JSON;
    nothing reads it locally. Each image and its size come from one walk over the item (``stream_image``),
    not from moto's ``Item.to_json`` (which deep-copies every nested value) and ``Item.size``."""
    if not _patch_once("lean_emulator_stream_records"):
        return
    from moto.dynamodb.models.table import StreamRecord
    from moto.dynamodb.models.utilities import bytesize
    from moto.moto_api._internal import mock_random

    def stream_record_init(
        self: Any, table: Any, stream_type: str, event_name: str, old: Any, new: Any, seq: int
    ) -> None:
        changed = old if old is not None else new
        keys = {table.hash_key_attr: changed.hash_key.to_json()}
        size = bytesize(table.hash_key_attr) + changed.hash_key.size()
        if table.range_key_attr is not None:
            keys[table.range_key_attr] = changed.range_key.to_json()
            size += bytesize(table.range_key_attr) + changed.range_key.size()
        dynamodb: dict[str, Any] = {
            "StreamViewType": stream_type,
            "ApproximateCreationDateTime": time.time(),
            "SequenceNumber": str(seq),
            "SizeBytes": size,
            "Keys": keys,
        }
        if stream_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") and new is not None:
            dynamodb["NewImage"], image_size = stream_image(new)
            size += image_size
        if stream_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") and old is not None:
            dynamodb["OldImage"], image_size = stream_image(old)
            size += image_size
        dynamodb["SizeBytes"] = size
        self.record = {
            "eventID": mock_random.uuid4().hex,
            "eventName": event_name,
            "eventSource": "aws:dynamodb",
            "eventVersion": "1.0",
            "awsRegion": "us-east-1",
            "dynamodb": dynamodb,
        }

    _replace(StreamRecord, "__init__", stream_record_init)


def stream_image(item: Any) -> tuple[dict[str, Any], int]:
    """``(item.to_json()["Attributes"], item.size())`` of a moto 5.2.5 ``Item``, from one walk: the
    same image (a top-level value as stored, binary in base64; nested values as ``to_regular_json`` makes
    them: a nested binary decoded to bytes, a set's members in a new list) and the same size (attribute
    names and string and binary values in UTF-8 bytes, a number its text, a boolean or null 1, a list or
    map the sum of its elements, a map's keys included)."""
    image: dict[str, Any] = {}
    size = 0
    for name, value in item.attrs.items():
        kind, data = value.type, value.value
        if kind == "M" or kind == "L":
            image[name], value_size = _regular_value(value)
        elif kind in _SETS:
            image[name], value_size = {kind: list(data)}, _set_size(kind, data)
        else:
            image[name], value_size = {kind: data}, _leaf_size(kind, data)
        size += len(name.encode("utf-8")) + value_size
    return image, size


_SETS = ("SS", "NS", "BS")


def _regular_value(value: Any) -> tuple[dict[str, Any], int]:
    """``(value.to_regular_json(), value.size())`` of a moto 5.2.5 ``DynamoType``."""
    kind, data = value.type, value.value
    if kind == "M":
        members: dict[str, Any] = {}
        size = 0
        for key, member in data.items():
            members[key], member_size = _regular_value(member)
            size += len(key.encode("utf-8")) + member_size
        return {kind: members}, size
    if kind == "L":
        elements: list[Any] = []
        size = 0
        for element in data:
            converted, element_size = _regular_value(element)
            elements.append(converted)
            size += element_size
        return {kind: elements}, size
    if kind in _SETS:
        return {kind: list(data)}, _set_size(kind, data)
    if kind == "B" and isinstance(data, str):
        return {kind: base64.b64decode(data)}, _leaf_size(kind, data)
    return {kind: data}, _leaf_size(kind, data)


def value_size(value: Any) -> int:
    """``value.size()`` of a moto 5.2.5 ``DynamoType``, without the copy of each map member that moto's
    makes."""
    kind, data = value.type, value.value
    if kind == "M":
        return sum(len(key.encode("utf-8")) + value_size(member) for key, member in data.items())
    if kind == "L":
        return sum(value_size(element) for element in data)
    if kind in _SETS:
        return _set_size(kind, data)
    return _leaf_size(kind, data)


def _leaf_size(kind: str, data: Any) -> int:
    if kind == "N":
        return len(str(data))
    if isinstance(data, bool):
        return 1
    return len(data if isinstance(data, bytes) else data.encode("utf-8"))


def _set_size(kind: str, members: Any) -> int:
    return sum(_leaf_size(kind[0], member) for member in members)


def fast_emulator_expressions() -> None:
    """Two more costs of moto 5.2.5's conditional and update writes, per item:

    - every conditional write parses its ``ConditionExpression`` again, a transaction's twice
      (``DynamoHandler.transact_write_items`` to list the names it uses, then the backend through
      ``get_filter_expression``); here ``ConditionExpressionParser.parse``, which both go through, keeps
      its result and the names and values it found per (expression, names, values), for the most recent
      ``MAX_PARSED_CONDITIONS`` (the same text with the same values is the same condition; moto only
      evaluates the tree, so sharing it is safe);
    - ``Validator.__init__`` deep-copies the update expression's tree with ``copy.deepcopy`` (generic: a
      memo lookup and a reduce per object) before resolving it against the item; here the tree's nodes are
      copied by ``copy_expression_tree``, which copies ``Node`` objects attribute by attribute, lists and
      dicts item by item, keeps immutable leaves and deep-copies anything else, sharing one memo so that
      ``parent`` links point into the copy: the same copy, several times faster;
    - each of the validator's ten passes over the tree (``DepthFirstTraverser.traverse``) built its
      processor's map of node classes anew twice for every node it visited (``nodes_to_be_processed`` and
      ``process`` each call ``_processing_map``); here ``traverse_once`` builds it once per pass and
      visits the nodes as moto does (children first, each after ``pre_processing_of_child``; a node of a
      mapped class replaced by what its function returns, in its parent's place). A usage counter's
      ``UpdateItem`` was about a fifth of a single create's CPU, most of it in these passes."""
    if not _patch_once("fast_emulator_expressions"):
        return
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing import validators

    ast_nodes = importlib.import_module("moto.dynamodb.parsing.ast_nodes")  # untyped in moto: by name

    parse = ConditionExpressionParser.parse
    parsed: dict[str, tuple[Any, list[str], list[str]]] = {}

    def cached_parse(self: Any) -> Any:
        if not self.condition_expression:  # moto's answer at once (an unconditional write): nothing to keep
            return parse(self)
        key = json.dumps(
            [self.condition_expression, self.expression_attribute_names, self.expression_attribute_values],
            sort_keys=True,
            default=repr,
        )
        found = parsed.get(key)
        if found is None:
            tree = parse(self)
            found = _remember(parsed, key, (tree, list(self.expr_attr_names_found), list(self.expr_attr_values_found)))
        else:
            self.expr_attr_names_found.extend(found[1])
            self.expr_attr_values_found.extend(found[2])
        return found[0]

    _replace(ConditionExpressionParser, "parse", cached_parse)
    # validators imported ``deepcopy`` by name: the module's name is what is replaced
    _replace(validators, "deepcopy", copy_expression_tree)
    _originals["DepthFirstTraverser.traverse"] = ast_nodes.DepthFirstTraverser.traverse
    _replace(ast_nodes.DepthFirstTraverser, "traverse", traverse_once)


def traverse_once(self: Any, node: Any) -> Any:
    """moto 5.2.5's ``DepthFirstTraverser.traverse(node)`` with the processor's map built once (see
    ``fast_emulator_expressions``): the same nodes processed in the same order, the same tree returned."""
    node_class = sys.modules["moto.dynamodb.parsing.ast_nodes"].Node
    processing = self._processing_map()
    kinds = tuple(processing)
    before_child = self.pre_processing_of_child

    def visit(node: Any, child_id: int = -1) -> Any:
        if isinstance(node, node_class):
            parent = node.parent
            if node.children is not None:
                for i, child in enumerate(node.children):
                    before_child(node, i)
                    visit(child, i)
            if isinstance(node, kinds):
                node = next(function for kind, function in processing.items() if isinstance(node, kind))(node)
                node.parent = parent
                if parent:
                    parent.children[child_id] = node
        return node

    return visit(node)


_IMMUTABLE = (str, int, float, bool, bytes, type(None))


def copy_expression_tree(
    value: Any, memo: dict[int, Any] | None = None, fallback: Callable[..., Any] | None = None
) -> Any:
    """A deep copy of ``value``, a moto 5.2.5 update-expression tree (``moto.dynamodb.parsing.ast_nodes``
    nodes, with ``children`` lists and ``parent`` links) or anything inside one: objects of classes defined
    in ``moto.dynamodb.parsing`` are copied attribute by attribute, lists, tuples and dicts item by item,
    immutable leaves are kept, anything else goes to ``fallback`` (``copy.deepcopy``) with the same memo."""
    memo = {} if memo is None else memo
    deep = fallback or copy.deepcopy
    return _copy_node(value, memo, deep)


def _copy_node(value: Any, memo: dict[int, Any], deep: Callable[..., Any]) -> Any:
    if isinstance(value, _IMMUTABLE):
        return value
    found = memo.get(id(value))
    if found is not None:
        return found
    if isinstance(value, list):
        clone: Any = []
        memo[id(value)] = clone
        clone.extend(_copy_node(item, memo, deep) for item in value)
        return clone
    if isinstance(value, dict):
        clone = {}
        memo[id(value)] = clone
        for key, item in value.items():
            clone[key] = _copy_node(item, memo, deep)
        return clone
    if isinstance(value, tuple):
        clone = tuple(_copy_node(item, memo, deep) for item in value)
        memo[id(value)] = clone
        return clone
    cls = type(value)
    if cls.__module__.startswith("moto.dynamodb.parsing.") and not hasattr(value, "__slots__"):
        clone = object.__new__(cls)
        memo[id(value)] = clone
        clone.__dict__.update({name: _copy_node(item, memo, deep) for name, item in value.__dict__.items()})
        return clone
    return deep(value, memo)


#: The DynamoDB item operations whose answers ``fast_emulator_answers`` serializes.
FAST_ANSWERS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "TransactGetItems",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
    }
)


def fast_emulator_answers() -> None:
    """Serialize the emulator's answers to DynamoDB item operations (``FAST_ANSWERS``: reads and writes)
    with a serializer built once per shape, instead of moto 5.2.5's generic response serializer, which for
    every answer builds its serializer and, for every attribute of every item, looks the value up under
    several candidate names (``XFormedAttributePicker``) and dispatches on the shape by name: 40% of a
    local retrieve's CPU went to serializing its ``BatchGetItem`` answer, and 8% of a batch create's to
    the small answers of its writes.

    The body is the same document, for each shape what ``BaseJSONSerializer`` writes for a result whose
    keys are the API's member names (as moto's DynamoDB handler builds them): a structure's members that
    are present and not None, in the shape's order; maps and lists item by item; blobs in base64;
    timestamps through moto's ``TimestampSerializer``; integers and floats converted; strings as ``str``
    (an enum as its value); a document as it is. Anything else (other services and operations, errors, a
    result that is not a dict of member names, pretty-printed responses) keeps moto's serializer.

    Also ``BaseResponse._enrich_response``, which searched every answer's body with a regular expression
    for an XML ``<RequestId>`` to rewrite (a stream's ``GetRecords`` answer of 100 records is about 300 KB
    of JSON): a text body without that tag is returned as it is, the headers enriched as moto does."""
    if not _patch_once("fast_emulator_answers"):
        return
    from moto import settings
    from moto.core import serialize
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoResult

    serializers: dict[Any, Callable[[Any], Any]] = {}
    _originals["ActionResult.execute_result"] = ActionResult.execute_result

    def fast_execute_result(self: Any, context: Any) -> Any:
        operation = context.operation_model
        shape = operation.output_shape
        if (
            type(self) not in (ActionResult, DynamoResult)
            or operation.name not in FAST_ANSWERS
            or operation.service_model.service_name != "dynamodb"
            or shape is None
            or not isinstance(self.result, dict)
            or settings.PRETTIFY_RESPONSES
            or getattr(context.response, "RESPONSE_KEY_PATH_TO_TRANSFORMER", None)
        ):
            return _moto_execute_result(self, context)
        try:
            body = json.dumps(_answer_serializer(shape, serializers, serialize)(self.result))
        except (AttributeError, TypeError, ValueError):  # not plain member-named data: moto's way
            return _moto_execute_result(self, context)
        version = operation.service_model.metadata.get("jsonVersion", "1.0")
        status = operation.http.get("responseCode", 200)
        return status, {"Content-Type": f"application/x-amz-json-{version}"}, body

    _replace(ActionResult, "execute_result", fast_execute_result)
    from moto.core.responses import BaseResponse
    from moto.utilities.aws_headers import gen_amzn_requestid_long

    enrich = BaseResponse._enrich_response
    _originals["BaseResponse._enrich_response"] = enrich

    def enrich_response(headers: dict[str, Any], body: Any) -> tuple[dict[str, Any], Any]:
        if not isinstance(body, str) or "<RequestId>" in body:
            return enrich(headers, body)
        # what moto does, without a regular expression searched through a body that has no RequestId
        if "status" in headers:
            headers["status"] = str(headers["status"])
        gen_amzn_requestid_long(headers)
        return headers, body

    _replace(BaseResponse, "_enrich_response", staticmethod(enrich_response))


def _moto_execute_result(result: Any, context: Any) -> Any:
    """moto 5.2.5's own ``ActionResult.execute_result`` (its generic serializer), the one
    ``fast_emulator_answers`` replaces (kept for other answers and to compare with)."""
    from moto.core.responses import ActionResult

    original = _originals.get("ActionResult.execute_result", ActionResult.execute_result)
    return original(result, context)


def _answer_serializer(shape: Any, built: dict[Any, Callable[[Any], Any]], serialize: Any) -> Callable[[Any], Any]:
    """The serializer of ``shape``'s values into an answer's JSON document (built once, kept in
    ``built``): ``_shape_converter`` with members under their serialized names and ``_serialized_leaf``."""
    return _shape_converter(shape, built, functools.partial(_serialized_leaf, serialize), renamed=True)


def _serialized_leaf(serialize: Any, shape: Any) -> Callable[[Any], Any]:
    """A leaf of an answer as moto's ``BaseJSONSerializer`` writes it: a blob in base64, a timestamp
    through its ``TimestampSerializer`` (the shape's format), integers and floats converted, a string as
    text (an enum as its value), anything else as it is."""
    kind = shape.type_name
    if kind == "blob":
        return _blob_text
    if kind == "timestamp":
        stamp = serialize.TimestampSerializer(serialize.BaseJSONSerializer.DEFAULT_TIMESTAMP_FORMAT)
        return functools.partial(_timestamp, stamp, shape.serialization.get("timestampFormat", stamp.default_format))
    if kind in ("integer", "long"):
        return int
    if kind in ("float", "double"):
        return float
    if kind == "string":
        return _string_value
    return _same  # boolean, a document: as it is


def _blob_text(value: Any) -> str:
    return base64.b64encode(value.encode("utf-8") if isinstance(value, str) else value).strip().decode("utf-8")


def _timestamp(stamp: Any, fmt: str, value: Any) -> Any:
    return stamp._convert_timestamp_to_str(value, fmt)


def fast_dynamodb_request_bodies() -> None:
    """Serialize this process's DynamoDB and DynamoDB Streams request bodies with a serializer built once
    per shape, instead of botocore 1.44.8's ``JSONSerializer``, which dispatches on every value of every
    request by a method name built from its shape's type (each attribute of each item of a batch): about a
    twentieth of the local stack's CPU while it stored memories in batches.

    The request is the same: ``serialize_to_request`` as botocore writes it (method, target and content
    type headers, host prefix), with a body holding, for each shape, what ``JSONSerializer`` writes: a
    structure's members in the order given, under their serialized names (an unknown member raises
    ``KeyError`` as there); maps and lists item by item; blobs in base64, timestamps, floats (a
    ``Decimal`` as a float; infinities and NaN as text) through botocore's own conversions; a document,
    strings, integers and booleans as they are. Other services keep botocore's serializer."""
    if not _patch_once("fast_dynamodb_request_bodies"):
        return
    require(*BOTOCORE, patch="fast_dynamodb_request_bodies")
    from botocore import serialize

    built: dict[tuple[str, str, str, str | None], Callable[[Any], Any]] = {}
    ready: dict[tuple[str, str], Callable[[Any], Any]] = {}  # by service and input shape, once built

    def serialize_to_request(self: Any, parameters: Any, operation_model: Any) -> Any:
        service = operation_model.service_model.service_name
        shape = operation_model.input_shape
        if service not in ("dynamodb", "dynamodbstreams") or shape is None:
            return _botocore_serialize_to_request(self, parameters, operation_model)
        serialized = self._create_default_request()
        serialized["method"] = operation_model.http.get("method", self.DEFAULT_METHOD)
        serialized["headers"] = {
            "X-Amz-Target": f"{operation_model.metadata['targetPrefix']}.{operation_model.name}",
            "Content-Type": f"application/x-amz-json-{operation_model.metadata['jsonVersion']}",
        }
        self._handle_query_compatible_trait(operation_model, serialized)
        serialize = ready.get((service, shape.name))
        if serialize is None:  # built whole under the lock: a half-built serializer is never used
            with _lock:
                serialize = ready[(service, shape.name)] = _body_serializer(service, shape, built, self)
        body = serialize(parameters)
        serialized["body"] = json.dumps(body).encode(self.DEFAULT_ENCODING)
        host_prefix = self._expand_host_prefix(parameters, operation_model)
        if host_prefix is not None:
            serialized["host_prefix"] = host_prefix
        return serialized

    _originals["JSONSerializer.serialize_to_request"] = serialize.JSONSerializer.serialize_to_request
    _replace(serialize.JSONSerializer, "serialize_to_request", serialize_to_request)


def _botocore_serialize_to_request(serializer: Any, parameters: Any, operation_model: Any) -> Any:
    """botocore 1.44.8's own ``JSONSerializer.serialize_to_request``, the one ``fast_dynamodb_request_bodies``
    replaces (kept for other services and to compare with)."""
    from botocore import serialize

    original = _originals.get("JSONSerializer.serialize_to_request", serialize.JSONSerializer.serialize_to_request)
    return original(serializer, parameters, operation_model)


def _body_serializer(
    service: str, shape: Any, built: dict[tuple[str, str, str, str | None], Callable[[Any], Any]], serializer: Any
) -> Callable[[Any], Any]:
    """The request-body serializer of ``shape``'s values (built once, kept in ``built``; a recursive shape
    resolves through it). ``serializer`` (a botocore ``JSONSerializer``) converts blobs, timestamps and
    floats."""
    key = (service, shape.name, shape.type_name, shape.serialization.get("timestampFormat"))
    found = built.get(key)
    if found is not None:
        return found
    kind = shape.type_name
    if kind == "structure" and not shape.is_document_type:
        members: dict[str, tuple[str, Callable[[Any], Any]]] = {}

        def structure(value: Any) -> Any:
            out = {}
            for name, item in value.items():
                serialized_name, convert = members[name]
                out[serialized_name] = item if convert is _same else convert(item)
            return out

        built[key] = structure  # before its members: a member may be this shape again
        for name, member in shape.members.items():
            members[name] = (
                member.serialization.get("name", name),
                _body_serializer(service, member, built, serializer),
            )
        return structure
    if kind == "map":
        built[key] = lambda value: {k: convert_value(v) for k, v in value.items()}
        convert_value = _body_serializer(service, shape.value, built, serializer)
        return built[key]
    if kind == "list":
        built[key] = lambda value: [convert_member(v) for v in value]
        convert_member = _body_serializer(service, shape.member, built, serializer)
        return built[key]
    if kind == "blob":
        built[key] = serializer._get_base64
    elif kind == "timestamp":
        built[key] = functools.partial(
            serializer._convert_timestamp_to_str, timestamp_format=shape.serialization.get("timestampFormat")
        )
    elif kind in ("float", "double"):
        built[key] = functools.partial(_float_value, serializer)
    else:  # strings, integers, booleans, a document: as they are
        built[key] = _same
    return built[key]


def _float_value(serializer: Any, value: Any) -> Any:
    return serializer._handle_float(float(value) if isinstance(value, decimal.Decimal) else value)


def fast_emulator_routing() -> None:
    """Remember which of its applications moto 5.2.5's server gives a JSON-protocol request (path ``/``,
    an ``X-Amz-Target``, a signed ``Authorization``), by target prefix and credential scope.

    ``DomainDispatcherApplication.get_application`` otherwise lists moto's package folder (a directory
    listing and a ``stat`` per service) on every request, under a lock, to find the service: milliseconds
    per DynamoDB request. The same inputs always pick the same application (DynamoDB and DynamoDB Streams
    share a signing name and differ by target prefix, so both are in the key). Likewise the names of a
    response class's methods (``BaseResponse.call_action`` lists them with ``inspect`` on every request)
    are listed once per class."""
    if not _patch_once("fast_emulator_routing"):
        return
    import moto.core.responses as responses
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    _replace(responses, "method_names_from_class", functools.cache(responses.method_names_from_class))

    get_application = DomainDispatcherApplication.get_application
    chosen: dict[tuple[str, ...], Any] = {}

    def cached_get_application(self: Any, environ: dict[str, Any]) -> Any:
        target, authorization = environ.get("HTTP_X_AMZ_TARGET"), environ.get("HTTP_AUTHORIZATION", "")
        if environ.get("PATH_INFO") != "/" or not target or "Credential=" not in authorization:
            return get_application(self, environ)
        scope = authorization.split("Credential=", 1)[1].split(",", 1)[0].split("/")[2:4]  # region, service
        key = (id(self), target.split(".", 1)[0], *scope)
        app = chosen.get(key)
        if app is None:
            app = chosen[key] = get_application(self, environ)
        return app

    _replace(DomainDispatcherApplication, "get_application", cached_get_application)


#: Parsed condition expressions kept by ``fast_emulator_items`` (the most recent ones).
MAX_PARSED_CONDITIONS = 512


def fast_emulator_items() -> None:
    """Costs of moto 5.2.5's item writes, some growing faster than the work:

    - ``Item.__init__`` stores attributes in a ``LimitedSizeDict`` that sums the size of every attribute
      already there at each insert (quadratic in the number of attributes); here the attributes are
      converted, their total size checked once against the same limit (``ItemSizeTooLarge`` as before:
      sizes only grow, so the final check fails exactly when one of moto's would have; each value's size
      by ``value_size``), then stored.
    - ``DynamoType.__init__`` builds two lists to read a ``{type: value}`` dict (``_dynamo_type_init``);
    - every update parses its ``UpdateExpression`` twice (the request handler to list its placeholders,
      ``update_item`` to apply it), and a usage counter's update is the same text every time; here the
      parsed tree is kept per expression text (``UpdateExpressionParser.make``), for the most recent
      ``MAX_PARSED_CONDITIONS``. Sharing the tree is safe: moto only reads it (``find_clauses``) or
      deep-copies it before changing anything (``Validator.__init__``); an expression that fails to
      parse raises every time, as before."""
    if not _patch_once("fast_emulator_items"):
        return
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    def item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key, self.range_key = hash_key, range_key
        converted = {key: DynamoType(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value_size(value) for key, value in converted.items()) > 405000:  # moto's limit
            raise ItemSizeTooLarge
        self.attrs = LimitedSizeDict.__new__(LimitedSizeDict)
        dict.update(self.attrs, converted)

    _replace(Item, "__init__", item_init)
    _originals["DynamoType.__init__"] = DynamoType.__init__
    _replace(DynamoType, "__init__", _dynamo_type_init)
    # moto's own import of the class is untyped (moto.dynamodb.models imports it under type: ignore)
    parser_class = importlib.import_module("moto.dynamodb.parsing.expressions").UpdateExpressionParser
    make = parser_class.make  # a classmethod: bound to the class
    parsed: dict[str, Any] = {}

    def cached_make(cls: Any, expression: str) -> Any:
        found = parsed.get(expression)
        if found is None:
            found = _remember(parsed, expression, make(expression))
        return found

    _replace(parser_class, "make", classmethod(cached_make))


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> Any:
    """Keep ``value`` under ``key`` in ``cache``, dropping its oldest entries beyond
    ``MAX_PARSED_CONDITIONS``; returns ``value``."""
    with _lock:
        while len(cache) >= MAX_PARSED_CONDITIONS:
            del cache[next(iter(cache))]
        cache[key] = value
    return value


def _dynamo_type_init(self: Any, type_as_dict: Any) -> None:
    """moto 5.2.5's ``DynamoType.__init__`` without building two lists per value: the type and value of
    a ``{type: value}`` dict (its first pair, as there; an empty one raises ``IndexError`` as there) or of
    another ``DynamoType``; the items of a list and the values of a map converted in turn. (``self``'s class
    is ``DynamoType``: moto 5.2.5 has no subclass of it.)"""
    dynamo_type = type(self)
    if type(type_as_dict) is dynamo_type:
        kind, value = type_as_dict.type, type_as_dict.value
    else:
        try:
            kind, value = next(iter(type_as_dict.items()))
        except StopIteration:
            raise IndexError("list index out of range") from None
    if kind == "L":
        value = [dynamo_type(item) for item in value]
    elif kind == "M":
        value = {key: dynamo_type(item) for key, item in value.items()}
    self.type, self.value = kind, value


def fast_emulator_request_parsing() -> None:
    """Parse the emulator's DynamoDB and DynamoDB Streams request bodies with a parser built once per
    shape, instead of moto 5.2.5's ``JSONParser``, which walks the botocore shape of every value of every
    request (a method looked up by name per node, every member of ``AttributeValue`` tried per attribute):
    about a twentieth of the local stack's CPU while it stored memories in batches.

    The result is the same document: for each shape, what ``BaseJSONParser`` and ``RequestParser`` do —
    a structure keeps its members that are present and not null, in the shape's order (a document type
    as it is); a list and a map are parsed item by item; a blob is base64-decoded, a timestamp parsed by
    moto's timestamp parser, a float or an integer converted; anything else is kept as it is. Other
    services, other map types, and parsers given their own blob or timestamp parser keep moto's."""
    if not _patch_once("fast_emulator_request_parsing"):
        return
    from moto.core import parse

    original = parse.JSONParser._parse_json_body
    parsers: dict[tuple[str, Any, str, str], Callable[[Any], Any]] = {}

    def parse_json_body(self: Any, raw_body: Any, shape: Any) -> Any:
        service = self.operation_model.service_model.service_name
        if (
            service not in ("dynamodb", "dynamodbstreams")
            or self._blob_parser is not parse.default_blob_parser
            or self._timestamp_parser is not parse.default_timestamp_parser
        ):
            return original(self, raw_body, shape)
        compiled = _shape_parser(shape, (service, self.MAP_TYPE), parsers, parse)
        return compiled(self._parse_body_as_json(raw_body))

    _replace(parse.JSONParser, "_parse_json_body", parse_json_body)


def _shape_parser(
    shape: Any, scope: tuple[str, Any], parsers: dict[tuple[str, Any, str, str], Callable[[Any], Any]], parse: Any
) -> Callable[[Any], Any]:
    """The parser of ``shape`` (a botocore shape of the service ``scope[0]``; maps made as ``scope[1]``),
    built once and kept in ``parsers`` by shape name (unique in a service model); see
    ``fast_emulator_request_parsing`` for what each type becomes."""
    key = (scope[0], scope[1], shape.name, shape.type_name)
    with _lock:
        found = parsers.get(key)
    if found is not None:
        return found
    type_name = shape.type_name
    if type_name == "structure" and not shape.is_document_type:
        map_type = scope[1]
        members: list[tuple[str, str, Callable[[Any], Any]]] = []

        def parse_structure(value: Any) -> Any:
            if value is None:
                return None
            parsed = map_type()
            for name, json_name, parse_member in members:
                raw = value.get(json_name)
                if raw is not None:
                    parsed[name] = parse_member(raw)
            return parsed

        with _lock:  # before its members: a recursive shape (AttributeValue's M and L) finds itself
            parsers[key] = parse_structure
        for name, member in shape.members.items():
            members.append((name, member.serialization.get("name", name), _shape_parser(member, scope, parsers, parse)))
        return parse_structure
    if type_name == "list":
        parse_item = _shape_parser(shape.member, scope, parsers, parse)

        def parse_list(value: Any) -> Any:
            return [parse_item(item) for item in value]

        parser: Callable[[Any], Any] = parse_list
    elif type_name == "map":
        parse_key = _shape_parser(shape.key, scope, parsers, parse)
        parse_value = _shape_parser(shape.value, scope, parsers, parse)
        map_type = scope[1]

        def parse_map(value: Any) -> Any:
            parsed = map_type()
            for k, v in value.items():
                parsed[parse_key(k)] = parse_value(v)
            return parsed

        parser = parse_map
    elif type_name == "blob":
        parser = parse.default_blob_parser
    elif type_name == "timestamp":
        parser = parse.default_timestamp_parser
    elif type_name in ("float", "double"):
        parser = _undefined_or(float, parse.UNDEFINED)
    elif type_name in ("integer", "byte", "short", "long"):
        parser = _undefined_or(int, parse.UNDEFINED)
    else:  # string, boolean, a document: moto's _default_handle
        parser = _same
    with _lock:
        parsers[key] = parser
    return parser


def _undefined_or(convert: Callable[[Any], Any], undefined: Any) -> Callable[[Any], Any]:
    def parser(value: Any) -> Any:
        return value if value is undefined else convert(value)

    return parser


def _same(value: Any) -> Any:
    return value


def on_emulator_write(listener: WriteListener) -> Callable[[], None]:
    """Call ``listener(table, hash_key, range_key)`` after every change to an item of an emulated table
    (put, update, delete, in a transaction or not, and when a failed transaction puts an item back), with
    ``EMULATOR_LOCK`` held: it must be quick and must not call the emulator. Returns a function removing it."""
    install_emulator_patches()
    with _lock:
        _write_listeners.append(listener)

    def remove() -> None:
        with _lock:
            if listener in _write_listeners:
                _write_listeners.remove(listener)

    return remove


def _tell_write_listeners(table: Any, hash_key: Any, range_key: Any) -> None:
    if getattr(_quiet_writes, "on", False):
        return
    for listener in list(_write_listeners):
        listener(table, hash_key, range_key)


def _notify_emulator_writes() -> None:
    """Wrap moto 5.2.5's item writes (``Table.put_item``, ``Table.delete_item``,
    ``DynamoDBBackend.update_item``) so that each successful one tells the write listeners."""
    if not _patch_once("notify_emulator_writes"):
        return
    import moto.dynamodb.models as models
    from moto.dynamodb.models.table import Table

    put_item, delete_item, update_item = Table.put_item, Table.delete_item, models.DynamoDBBackend.update_item

    def told_put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = put_item(self, *args, **kwargs)
        _tell_write_listeners(self, item.hash_key, item.range_key)
        return item

    def told_delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        item = delete_item(self, hash_key, range_key)
        if item is not None:
            _tell_write_listeners(self, hash_key, range_key)
        return item

    def told_update_item(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        item = update_item(self, table_name, *args, **kwargs)
        _tell_write_listeners(self.get_table(table_name), item.hash_key, item.range_key)
        return item

    _replace(Table, "put_item", told_put_item)
    _replace(Table, "delete_item", told_delete_item)
    _replace(models.DynamoDBBackend, "update_item", told_update_item)


_retry_wait: Callable[[float, tuple[str, ...]], None] | None = None
_retrying = threading.local()  # the error names of the Step Functions retrier waiting in this thread


class _RetryClock:
    """Stands in for the ``time`` module inside moto's retrier: its ``sleep`` goes to ``_retry_wait``."""

    def sleep(self, seconds: float) -> None:
        wait = _retry_wait
        if wait is None:
            time.sleep(seconds)
        else:
            wait(seconds, getattr(_retrying, "names", ()))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def wait_emulator_retries_with(wait: Callable[[float, tuple[str, ...]], None] | None) -> None:
    """Let ``wait(seconds, error_names)`` do the waits of the emulator's Step Functions retries, instead of
    ``time.sleep(seconds)``: ``error_names`` are the ``ErrorEquals`` of the retrier that waits, ``seconds``
    the interval moto computed (backoff and jitter applied). None restores ``time.sleep``.

    moto 5.2.5's ``RetrierDecl._eval_body`` sleeps the interval in the execution's thread; the local stack
    uses this to end a wait for the index early once its stream is delivered (``LocalStack``)."""
    global _retry_wait
    _retry_wait = wait
    if not _patch_once("wait_emulator_retries_with"):
        return
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    evaluate = retrier_decl.RetrierDecl._eval_body

    def eval_body(self: Any, env: Any) -> None:
        _retrying.names = tuple(str(name.error_name) for name in self.error_equals.error_names)
        try:
            evaluate(self, env)
        finally:
            _retrying.names = ()

    _replace(retrier_decl.RetrierDecl, "_eval_body", eval_body)
    _replace(retrier_decl, "time", _RetryClock())


def emulator_wsgi_app(server: Any) -> Any:
    """The WSGI application of a started moto 5.2.5 ``ThreadedMotoServer``."""
    require(*MOTO, patch="emulator_wsgi_app")
    return server._server.app


def emulator_table(table_name: str, account_id: str, region: str) -> Any:
    """The emulator's moto ``Table`` object (moto 5.2.5); use it with ``EMULATOR_LOCK`` held."""
    require(*MOTO, patch="emulator_table")
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[account_id][region].get_table(table_name)


def discard_stream_records(table: Any, through_sequence_number: int) -> int:
    """Forget the stream records of ``table`` (a moto ``Table``) up to and including
    ``through_sequence_number`` — records a reader has processed — and return how many were dropped.

    moto 5.2.5 keeps every stream record (with both item images) for the life of the process; DynamoDB
    keeps them 24 hours. Record numbering is unchanged: the shard's starting sequence number moves past the
    dropped ones, so ``TRIM_HORIZON`` starts at the oldest record kept."""
    require(*MOTO, patch="discard_stream_records")
    with EMULATOR_LOCK:
        shard = table.stream_shard
        if shard is None:
            return 0
        count = min(len(shard.items), max(0, through_sequence_number - shard.starting_sequence_number + 1))
        if count:
            del shard.items[:count]
            shard.starting_sequence_number += count
        return count


def item_images(table: Any) -> Iterator[dict[str, Any]]:
    """Every item of ``table`` (a moto ``Table``) as DynamoDB JSON (binary values in base64; as
    ``Item.to_json`` makes it, see ``stream_image``), under ``EMULATOR_LOCK`` for the whole iteration."""
    require(*MOTO, patch="item_images")
    with EMULATOR_LOCK:
        for item in table.all_items():
            yield stream_image(item)[0]


def item_image(table: Any, hash_key: Any, range_key: Any) -> dict[str, Any] | None:
    """The item of ``table`` at the key as DynamoDB JSON, or None when absent (hold ``EMULATOR_LOCK``)."""
    item = table.get_item(hash_key, range_key) if range_key is not None or not table.has_range_key else None
    return None if item is None else stream_image(item)[0]


def put_items_quietly(table: Any, images: Iterable[dict[str, Any]]) -> int:
    """Store ``images`` (DynamoDB JSON) in ``table`` (a moto ``Table``) without stream records and without
    telling the write listeners: for loading a table saved earlier. Returns how many were stored."""
    require(*MOTO, patch="put_items_quietly")
    count = 0
    with EMULATOR_LOCK:
        shard, table.stream_shard = table.stream_shard, None
        _quiet_writes.on = True
        try:
            for image in images:
                table.put_item(image)
                count += 1
        finally:
            table.stream_shard = shard
            _quiet_writes.on = False
    return count


# --- Powertools ---------------------------------------------------------------------------------------


def mark_cold_start_done() -> None:
    """Many functions share the local stack's process, and Powertools prints its ColdStart metric even
    when metrics are disabled; the local stack publishes no metrics, so it marks the cold start as done."""
    require(*POWERTOOLS, patch="mark_cold_start_done")
    from aws_lambda_powertools.metrics.provider import cold_start

    cold_start.is_cold_start = False


_resolver_state = threading.local()


class _PerThread:
    """A data descriptor whose value is held per thread (``factory()`` the first time a thread reads it)."""

    def __init__(self, name: str, factory: Callable[[], Any]) -> None:
        self.name, self.factory = name, factory

    def __get__(self, owner: Any, owner_type: Any = None) -> Any:
        if owner is None:
            return self
        if not hasattr(_resolver_state, self.name):
            setattr(_resolver_state, self.name, self.factory())
        return getattr(_resolver_state, self.name)

    def __set__(self, owner: Any, value: Any) -> None:
        setattr(_resolver_state, self.name, value)


def per_thread_api_resolver_state() -> None:
    """Keep each in-process invocation's API resolver state to its own thread.

    On Lambda an execution environment handles one request at a time; the local stack calls the API
    function's handler from many front threads in one process. Powertools' ``ApiGatewayResolver.resolve``
    stores the event and context on ``BaseRouter`` (class attributes, process-wide), and the resolver's
    ``context`` dict holds the matched route and its arguments: concurrent requests read each other's
    headers, body, tenant and route (seen in ``engram bench soak``: two requests answered with one
    operation, another request's ``Idempotency-Key``, ``KeyError: '_route'``). This makes
    ``current_event``, ``lambda_context`` and ``context`` of every ``ApiGatewayResolver`` per thread (each
    invocation runs on one thread), so concurrent requests stay concurrent and apart. Installed once."""
    require(*POWERTOOLS, patch="per_thread_api_resolver_state")
    from aws_lambda_powertools.event_handler import api_gateway

    resolver = api_gateway.ApiGatewayResolver
    if isinstance(resolver.__dict__.get("context"), _PerThread):  # installed: no lock on every invocation
        return
    with _lock:
        if isinstance(resolver.__dict__.get("context"), _PerThread):
            return
        to_proxy_event, resolve = resolver._to_proxy_event, resolver.resolve

        def _to_proxy_event(self: Any, event: dict[str, Any]) -> Any:
            proxy = to_proxy_event(self, event)
            _resolver_state.current_event = proxy  # resolve() then stores it on BaseRouter, which is ignored
            return proxy

        def _resolve(self: Any, event: Any, context: Any) -> Any:
            _resolver_state.lambda_context = context
            return resolve(self, event, context)

        _replace(resolver, "_to_proxy_event", _to_proxy_event)
        _replace(resolver, "resolve", _resolve)
        _replace(resolver, "current_event", _PerThread("current_event", lambda: None))
        _replace(resolver, "lambda_context", _PerThread("lambda_context", lambda: None))
        _replace(resolver, "context", _PerThread("context", dict))
