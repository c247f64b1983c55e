"""Every change the development tools make to third-party libraries, in one module.

Each patch names the version of the library it was written for and refuses to run on another one:
``PatchVersionError`` names the package, the version the patch expects and the installed one, so an
upgrade fails loudly here instead of quietly changing what the local stack or a benchmark does.

| patch | library, written for | how |
|---|---|---|
| ``run_emulator_lambdas_in_process``: Lambda ``Invoke`` requests to the emulator (the Step Functions runner's) run our handlers in this process | moto 5.2.5 (its Step Functions runner calls Lambda through ``boto3`` at ``localhost:$MOTO_PORT``), botocore 1.x | botocore ``before-send`` hook answering the request |
| ``observe_dynamodb_requests``: every DynamoDB request and response, for the benchmarks' meters | botocore 1.x (written for 1.44.8) | botocore ``before-parameter-build``, ``before-call`` and ``after-call`` hooks |
| ``fast_emulator_transactions``: the emulator copies each table once per transaction, not once per item | moto 5.2.5 | replaces ``DynamoDBBackend.transact_write_items`` and ``moto.dynamodb.models.copy`` for the duration |
| ``mark_cold_start_done``: no ColdStart metric line from handlers sharing one process | aws-lambda-powertools 3.37.0 | sets ``metrics.provider.cold_start.is_cold_start`` |

The botocore hooks use only botocore's public event system, so any botocore 1.x is accepted; they are
registered by ``install_botocore_hooks`` on every botocore session created afterwards (through
``botocore.handlers.BUILTIN_HANDLERS``, the list each new session registers, as moto's own mock does) and
on boto3's default session, and do nothing until a patch gives them work. The moto patches rely on moto's
internals and the Powertools one on a module flag, so they need exactly the pinned version.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import threading
from collections.abc import Callable, Iterator
from importlib import metadata
from io import BytesIO
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

MOTO = ("moto", "5.2.5")
BOTOCORE = ("botocore", "1.44.8")
POWERTOOLS = ("aws-lambda-powertools", "3.37.0")


class PatchVersionError(RuntimeError):
    """A patch was asked to run on a version of its library it was not written for."""


@functools.cache
def require(package: str, written_for: str, patch: str, same: str = "version") -> None:
    """Raise ``PatchVersionError`` unless ``package`` is installed at ``written_for`` (``same="version"``) or
    at the same major version (``same="major"``, for patches that use only the library's public API)."""
    try:
        installed = metadata.version(package)
    except metadata.PackageNotFoundError:
        installed = "not installed"
    expected = written_for if same == "version" else f"{written_for.split('.')[0]}.x (written for {written_for})"
    ok = installed == written_for if same == "version" else installed.split(".")[0] == written_for.split(".")[0]
    if not ok:
        raise PatchVersionError(
            f"engram_dev.patches: {patch} was written for {package} {expected}, but {package} {installed} is "
            f"installed. Check the patch against {package} {installed}, then update it and its version in "
            "engram_dev/patches.py (or install the expected version)."
        )


# --- botocore hooks ---------------------------------------------------------------------------------

_lock = threading.Lock()
_installed = False
_lambda_target: tuple[int, Callable[[str, bytes], tuple[bytes, bool]]] | None = None
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
            ("before-parameter-build.dynamodb", _keep_api_params),
            ("before-call.dynamodb", _before_dynamodb_call),
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
    if _observing():
        context[_PARAMS] = params


def _before_dynamodb_call(model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    api_params = context.pop(_PARAMS, None)
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


# --- moto ---------------------------------------------------------------------------------------------


class _CopyOncePerTransaction:
    """Stands in for the ``copy`` module inside ``moto.dynamodb.models`` during a transaction: the
    first ``deepcopy`` of an object is made, later ones of the same object return that same copy."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self._local = threading.local()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._local.copies = {}
        try:
            yield
        finally:
            self._local.copies = None

    def deepcopy(self, value: Any, *args: Any) -> Any:
        copies = getattr(self._local, "copies", None)
        if copies is None:
            return self._real.deepcopy(value, *args)
        if id(value) not in copies:
            copies[id(value)] = (value, self._real.deepcopy(value, *args))
        return copies[id(value)][1]


@contextlib.contextmanager
def fast_emulator_transactions() -> Iterator[None]:
    """Make the emulator's ``TransactWriteItems`` copy each table once per transaction.

    moto 5.2.5 backs up the whole table once per *item* of a transaction (for its rollback), so a
    49-memory transaction on a table of a few thousand items takes seconds, growing with the table.
    A backup taken once per table is the same snapshot (all are taken before any write), so this
    changes the emulator's speed, not its behaviour. The benchmarks measure Engram, not moto.
    """
    require(*MOTO, patch="fast_emulator_transactions")
    import moto.dynamodb.models as models

    backend = models.DynamoDBBackend
    original = backend.transact_write_items
    shim = _CopyOncePerTransaction(models.copy)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with shim.transaction():
            return original(self, transact_items)

    models.copy = shim  # type: ignore[assignment]
    backend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    try:
        yield
    finally:
        backend.transact_write_items = original  # type: ignore[method-assign]
        models.copy = shim._real


# --- Powertools ---------------------------------------------------------------------------------------


def mark_cold_start_done() -> None:
    """Many functions share the local stack's process, and Powertools prints its ColdStart metric even
    when metrics are disabled; the local stack publishes no metrics, so it marks the cold start as done."""
    require(*POWERTOOLS, patch="mark_cold_start_done")
    from aws_lambda_powertools.metrics.provider import cold_start

    cold_start.is_cold_start = False
