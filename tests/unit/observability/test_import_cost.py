"""Tracing costs nothing at import: in a fresh interpreter, ``engram.observability`` and the traced
adapters do not import the X-Ray SDK; with tracing off it is never imported, with tracing on only when
the first traced handler runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

PROBE = """
import json, socket, sys

sent = []
socket.socket.sendto = lambda self, *args, **kwargs: sent.append(args) or 0  # nothing leaves the process

def xray():
    return "aws_xray_sdk" in sys.modules

seen = {}
import engram.observability
import engram.adapters.opensearch, engram.adapters.openai, engram.adapters.secrets, engram.adapters.stepfunctions
seen["imported"] = xray()

from engram.observability import annotate, step_log, traced, tracer

@traced("probe.call")
def call():
    annotate(items=1)
    return "called"

@tracer.capture_lambda_handler(capture_response=False)
def handler(event, context):
    with step_log("probe", "t", "op"):
        return call()

seen["decorated"] = xray()
seen["answer"] = handler({}, None)
seen["invoked"] = xray()
seen["enabled"] = tracer.enabled
seen["sent"] = len(sent)
print(json.dumps(seen))
"""

#: A trace header of an unsampled request, so that the X-Ray SDK records nothing to send.
UNSAMPLED = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"


def probe(tmp_path: Path, **env: str) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_XRAY_", "_X_AMZN_"))}
    clean.pop("LAMBDA_TASK_ROOT", None)
    clean.update({"POWERTOOLS_SERVICE_NAME": "engram", "POWERTOOLS_LOG_LEVEL": "WARNING", **env})
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=clean,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_with_tracing_disabled_the_x_ray_sdk_is_never_imported(tmp_path: Path) -> None:
    # Given a Lambda environment with POWERTOOLS_TRACE_DISABLED=true (as in the template's local runs)
    seen = probe(tmp_path, LAMBDA_TASK_ROOT=str(tmp_path), POWERTOOLS_TRACE_DISABLED="true")

    # Then neither importing, decorating nor invoking imports aws_xray_sdk
    assert seen == {
        "imported": False,
        "decorated": False,
        "answer": "called",
        "invoked": False,
        "enabled": False,
        "sent": 0,
    }


def test_outside_lambda_tracing_is_off_as_with_powertools(tmp_path: Path) -> None:
    seen = probe(tmp_path)

    assert (seen["enabled"], seen["invoked"]) == (False, False)


def test_with_tracing_on_the_x_ray_sdk_is_imported_by_the_first_invocation(tmp_path: Path) -> None:
    # Given a Lambda environment with tracing on, handling an unsampled request
    seen = probe(
        tmp_path,
        LAMBDA_TASK_ROOT=str(tmp_path),
        POWERTOOLS_TRACE_DISABLED="false",
        _X_AMZN_TRACE_ID=UNSAMPLED,
        AWS_XRAY_CONTEXT_MISSING="IGNORE_ERROR",
    )

    # Then importing and decorating do not import aws_xray_sdk; the first invocation does
    assert seen == {
        "imported": False,
        "decorated": False,
        "answer": "called",
        "invoked": True,
        "enabled": True,
        "sent": 0,
    }
