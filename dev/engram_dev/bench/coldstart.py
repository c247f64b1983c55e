"""``engram bench coldstart``: how long each function's module takes to import, what the first invocation
adds, and how big each deployment package is. The target (issue 14): every function imports in under
``TARGET_MS`` median with tracing on, judged as a ratio to a bare ``import boto3`` measured in the same
run (absolute times drift with the machine and its load); the API function never imports ``openai``.

Import time: for every ``AWS::Serverless::Function`` of ``template.yaml`` whose code exists, ``runs``
fresh Python processes each import the handler module (``CodeUri/<module>.py``, as the Lambda
runtime does) and report the time from just before the import to just after it, excluding the
interpreter's own start-up; the median is reported, with Powertools tracing on (as deployed:
``POWERTOOLS_TRACE_DISABLED=false``) and off. The baseline is the same probe importing only ``boto3``,
in the same environment, run just before each function's pair in every round; ``ratio`` is the median
over rounds of a function's import with tracing on over the baseline run just before it (so a change in
the machine's load reaches both sides of each ratio alike); ``at reference`` is that ratio times
``REFERENCE_BOTO3_MS`` (a bare ``import boto3`` on the build machine; see its comment), the figure compared with
``TARGET_MS``. The environment is a Lambda-like one (function name, region, table, OpenSearch backend,
``LAMBDA_TASK_ROOT``); nothing is called and no network is used.

First invocation: for the two functions every API request goes through (the authorizer and the API
function), ``runs`` fresh processes import the module and call its handler once with the event of
``events/`` (the authorizer with ``authorizer_token.json``: an unknown key, one ``GetItem``, answered
401; the API function with ``api/get_memory.json``: one ``GetItem``, answered 404), tracing on with an
X-Ray trace header as Lambda sets it, against the embedded emulator over loopback (``AWS_ENDPOINT_URL``).
The call's time includes what the lazy parts of a cold start defer to it: the X-Ray SDK import and its
patching, settings, the botocore client and its service model, PynamoDB, the resolver's first route
and validation, and one DynamoDB round trip on loopback (no network latency, unlike AWS).

This machine's Python and CPU are not Lambda's (python3.12 on arm64 there): compare functions and
changes with it, do not read it as Lambda's absolute cold start.

Package sizes: each function's ``CodeUri`` folder, and the core layer as it would hold this
platform's installed distributions: the ``engram`` package plus every distribution that
``layers/core/requirements.txt`` needs (resolved through installed metadata, recursively), without
``__pycache__``; unzipped bytes and the size of a deflate zip of the same files (Lambda limits:
250 MB unzipped for a function and its layers, 50 MB zipped for a direct upload).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from engram_dev.bench.common import median, table, write_json

#: The target (issue 14): median import with tracing on, in milliseconds at the build machine's speed.
TARGET_MS = 250.0
#: A bare ``import boto3`` (this probe, the same environment) on the build machine (2 cores, Python 3.11.7,
#: boto3 1.44.8): the scale that turns a ratio into ``at reference`` milliseconds (``--reference-boto3-ms``).
#: The machine is shared and was never at rest while this was measured: 120 ms is the fastest of about 60
#: bare imports on 27 Nov 2026 (medians 190-200 ms under that load); a median at rest is about that or
#: less, so the verdict errs on the strict side. Measure it again on an idle machine (the baseline row).
REFERENCE_BOTO3_MS = 120.0
#: The first-invocation probes: function, event file under ``events/``.
FIRST_INVOCATIONS = (("AuthorizerFunction", "authorizer_token.json"), ("ApiFunction", "api/get_memory.json"))
#: The X-Ray trace header Lambda sets for a sampled invocation (its daemon is absent here: the SDK's UDP
#: datagrams go nowhere).
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

_PROBE = """
import json, sys, time, importlib.util
path = sys.argv[1]
started = time.perf_counter()
if path == "boto3":
    import boto3
else:
    spec = importlib.util.spec_from_file_location("lambda_function_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
elapsed = time.perf_counter() - started
answer = {"ms": elapsed * 1000, "openai": "openai" in sys.modules, "modules": len(sys.modules)}
if len(sys.argv) > 2:
    class Context:
        function_name = "probe"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:probe"
        aws_request_id = "probe-request"
        log_group_name = "/aws/lambda/probe"
        log_stream_name = "probe"
        def get_remaining_time_in_millis(self):
            return 30000
    with open(sys.argv[2]) as file:
        event = json.load(file)
    called = time.perf_counter()
    try:
        outcome = module.handler(event, Context())
        answer["outcome"] = str(outcome.get("statusCode", "ok")) if isinstance(outcome, dict) else "ok"
    except Exception as error:
        answer["outcome"] = type(error).__name__ + ": " + str(error)[:200]
    answer["call_ms"] = (time.perf_counter() - called) * 1000
print(json.dumps(answer))
"""


def _lambda_env(logical_id: str, code_dir: Path, tracing: bool, endpoint: str | None = None) -> dict[str, str]:
    """A Lambda-like environment for ``logical_id``; ``endpoint``: the emulator its AWS clients call."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ENGRAM_", "POWERTOOLS_", "OPENAI_", "AWS_", "_X_AMZN_"))
    }
    env.update(
        {
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "LAMBDA_TASK_ROOT": str(code_dir),
            "POWERTOOLS_SERVICE_NAME": "engram",
            "POWERTOOLS_METRICS_NAMESPACE": "Engram",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "POWERTOOLS_TRACE_DISABLED": "false" if tracing else "true",
            "ENGRAM_TABLE_NAME": "engram",
            "ENGRAM_INDEX_BACKEND": "opensearch",
            "ENGRAM_OPENSEARCH_ENDPOINT": "https://opensearch.invalid",
            "ENGRAM_PROVIDER": "openai",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    # the function's own literal variables in template.yaml (e.g. ENGRAM_API_ROUTES: which routes it loads)
    from engram_dev.project import functions

    variables = (functions().get(logical_id, {}).get("Environment") or {}).get("Variables") or {}
    env.update({name: value for name, value in variables.items() if isinstance(value, str)})
    if endpoint is not None:
        env.update(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "ENGRAM_TABLE_NAME": "engram-table",  # the emulator's (engram_dev.emulator)
                "_X_AMZN_TRACE_ID": TRACE_HEADER,
                "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
            }
        )
    return env


def _probe(target: str, env: dict[str, str], cwd: Path, event: Path | None = None) -> dict[str, Any]:
    """One fresh process importing ``target`` (a module path, or ``"boto3"``), then calling its handler
    with ``event`` when given; the probe's JSON answer."""
    arguments = [sys.executable, "-c", _PROBE, target] + ([str(event)] if event is not None else [])
    completed = subprocess.run(  # noqa: S603 - our own interpreter and probe
        arguments, capture_output=True, text=True, env=env, cwd=str(cwd), timeout=120, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"importing {target} failed:\n{completed.stderr[-2000:]}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def _summary(times: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(median(times), 1),
        "min_ms": round(min(times), 1),
        "max_ms": round(max(times), 1),
    }


def measure_import(logical_id: str, module_path: Path, runs: int, tracing: bool) -> dict[str, Any]:
    """Import ``module_path`` in ``runs`` fresh processes; median/min/max milliseconds and whether
    ``openai`` was imported (in any run)."""
    env = _lambda_env(logical_id, module_path.parent, tracing)
    return _import_figures([_probe(str(module_path), env, module_path.parent) for _ in range(runs)])


def _import_figures(answers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        **_summary([float(a["ms"]) for a in answers]),
        "imports_openai": any(bool(a["openai"]) for a in answers),
        "modules": int(answers[-1]["modules"]),
    }


def measure_imports(modules: dict[str, Path], runs: int) -> dict[str, Any]:
    """``runs`` rounds; in each, every module is imported with tracing on and off right after a bare
    ``import boto3`` (fresh processes, one after the other). Returns ``{"boto3": figures of every baseline
    import, "functions": {id: {"tracing", "tracing_disabled", "ratio_to_boto3"}}}``: the ratio is the
    median over rounds of the import with tracing on over the baseline imported just before it, so a
    change in the machine's load between rounds or functions reaches both sides of each ratio alike."""
    baseline: list[dict[str, Any]] = []
    answers: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    ratios: dict[str, list[float]] = {}
    for _ in range(runs):
        for logical_id, path in modules.items():
            before = _probe("boto3", _lambda_env(logical_id, path.parent, True), path.parent)
            baseline.append(before)
            for tracing in (True, False):
                env = _lambda_env(logical_id, path.parent, tracing)
                answers.setdefault((logical_id, tracing), []).append(_probe(str(path), env, path.parent))
            ratios.setdefault(logical_id, []).append(float(answers[(logical_id, True)][-1]["ms"]) / float(before["ms"]))
    return {
        "boto3": _import_figures(baseline),
        "functions": {
            logical_id: {
                "tracing": _import_figures(answers[(logical_id, True)]),
                "tracing_disabled": _import_figures(answers[(logical_id, False)]),
                "ratio_to_boto3": round(median(ratios[logical_id]), 3),
            }
            for logical_id in modules
        },
    }


def measure_first_invocations(modules: dict[str, Path], runs: int) -> dict[str, Any]:
    """Import plus the first handler call (``FIRST_INVOCATIONS``, see the module docstring), ``runs`` fresh
    processes each, tracing on, against a fresh emulator; ``{id: {import, call, total, outcome}}``."""
    from engram_dev.emulator import Emulator
    from engram_dev.project import project_root

    figures: dict[str, Any] = {}
    emulator = Emulator()
    emulator.start()
    try:
        for logical_id, event_name in FIRST_INVOCATIONS:
            path = modules.get(logical_id)
            if path is None:
                continue
            event = project_root() / "events" / event_name
            env = _lambda_env(logical_id, path.parent, True, endpoint=emulator.endpoint_url)
            answers = [_probe(str(path), env, path.parent, event) for _ in range(runs)]
            figures[logical_id] = {
                "event": f"events/{event_name}",
                "import": _summary([float(a["ms"]) for a in answers]),
                "call": _summary([float(a["call_ms"]) for a in answers]),
                "total": _summary([float(a["ms"]) + float(a["call_ms"]) for a in answers]),
                "outcome": answers[-1]["outcome"],
            }
    finally:
        emulator.stop()
    return figures


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def _zipped_size(files: Iterable[tuple[Path, str]]) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path, name in files:
            archive.write(path, name)
    return buffer.tell()


def _layer_distributions(requirements: Path) -> list[Any]:
    """The installed distributions the layer's lock pins (``make lock`` writes every package the layer
    ships, so nothing is resolved further; a pinned package not installed here is skipped)."""
    import re
    from importlib import metadata

    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", requirements.read_text(), flags=re.MULTILINE)
    found = []
    for name in pins:
        try:
            found.append(metadata.distribution(name))
        except metadata.PackageNotFoundError:
            continue
    return found


def _distribution_bytes(dist: Any) -> int:
    total = 0
    for entry in dist.files or []:
        path = Path(str(dist.locate_file(entry)))
        if "__pycache__" not in entry.parts and ".." not in entry.parts and path.is_file():
            total += path.stat().st_size
    return total


def package_sizes(root: Path) -> dict[str, Any]:
    """Sizes of each function's code folder and of the core layer (see the module docstring)."""
    from engram_dev.project import functions

    sizes: dict[str, Any] = {"functions": {}}
    for logical_id, props in sorted(functions().items()):
        folder = root / props["CodeUri"]
        if not folder.is_dir():
            continue
        files = _files(folder)
        sizes["functions"][logical_id] = {
            "unzipped_bytes": sum(p.stat().st_size for p in files),
            "zipped_bytes": _zipped_size((p, str(p.relative_to(folder))) for p in files),
        }
    layer_root = root / "layers" / "core"
    layer_files: list[tuple[Path, str]] = [
        (p, f"python/{p.relative_to(layer_root)}") for p in _files(layer_root / "engram")
    ]
    distributions = _layer_distributions(layer_root / "requirements.txt")
    for dist in distributions:
        for entry in dist.files or []:
            path = Path(str(dist.locate_file(entry)))
            if "__pycache__" in entry.parts or entry.suffix == ".pyc" or not path.is_file():
                continue
            if ".." in entry.parts:  # scripts installed outside site-packages (bin/)
                continue
            layer_files.append((path, f"python/{entry}"))
    engram_bytes = sum(p.stat().st_size for p, name in layer_files if name.startswith("python/engram/"))
    biggest = sorted(((d.metadata["Name"], _distribution_bytes(d)) for d in distributions), key=lambda x: -x[1])
    sizes["layer"] = {
        "unzipped_bytes": sum(p.stat().st_size for p, _ in layer_files),
        "zipped_bytes": _zipped_size(layer_files),
        "engram_bytes": engram_bytes,
        "distributions": len(distributions),
        "largest": [{"name": name, "bytes": size} for name, size in biggest[:6]],
    }
    return sizes


def verdict(ratio: float, reference_ms: float = REFERENCE_BOTO3_MS) -> str:
    """``pass`` when ``ratio`` (a median over the same run's bare ``import boto3``) times ``reference_ms`` is
    under ``TARGET_MS``."""
    return "pass" if ratio * reference_ms < TARGET_MS else "FAIL"


def run(
    runs: int = 5,
    out: TextIO = sys.stdout,
    first_invocation: bool = True,
    reference_ms: float = REFERENCE_BOTO3_MS,
) -> dict[str, Any]:
    """Measure, print the tables, and return the figures (the ``--json`` document). ``reference_ms``: a bare
    ``import boto3`` on the machine the target is set for (``REFERENCE_BOTO3_MS``)."""
    from engram_dev.project import functions, project_root

    root = project_root()
    document: dict[str, Any] = {
        "python": sys.version.split()[0],
        "runs": runs,
        "target_ms": TARGET_MS,
        "reference_boto3_ms": reference_ms,
        "imports": {},
        "missing": [],
    }
    modules: dict[str, Path] = {}
    for logical_id, props in sorted(functions().items()):
        module, _, _ = props["Handler"].rpartition(".")
        path = root / props["CodeUri"] / f"{module.replace('.', '/')}.py"
        if path.is_file():
            modules[logical_id] = path
        else:
            document["missing"].append(logical_id)
    measured = measure_imports(modules, runs)
    baseline = measured["boto3"]
    document["boto3"] = baseline
    rows = []
    for logical_id, figures in measured["functions"].items():
        traced, untraced = figures["tracing"], figures["tracing_disabled"]
        ratio = figures["ratio_to_boto3"]
        document["imports"][logical_id] = {
            **figures,
            "at_reference_ms": round(ratio * reference_ms, 1),
            "verdict": verdict(ratio, reference_ms),
        }
        rows.append(
            [
                logical_id,
                traced["median_ms"],
                f"{traced['min_ms']:.0f}-{traced['max_ms']:.0f}",
                untraced["median_ms"],
                f"{ratio:.2f}",
                round(ratio * reference_ms, 1),
                verdict(ratio, reference_ms),
                "yes" if traced["imports_openai"] else "no",
                traced["modules"],
            ]
        )
    rows.append(
        [
            "bare `import boto3` (baseline)",
            baseline["median_ms"],
            f"{baseline['min_ms']:.0f}-{baseline['max_ms']:.0f}",
            "-",
            "1.00",
            reference_ms,
            "-",
            "no",
            baseline["modules"],
        ]
    )
    print(
        f"Cold start: import of each function's module, median of {runs} fresh processes per setting, each "
        f"pair after a bare `import boto3`; ratio: median of the per-round ratios (Python {document['python']} "
        f"on this machine; Lambda runs python3.12 on arm64). Target: < {TARGET_MS:.0f} ms with tracing on at "
        f"the reference speed (ratio x {reference_ms:.0f} ms, a bare boto3 import on the build machine)\n",
        file=out,
    )
    headers = ["function", "import ms", "range ms", "ms, tracing off", "ratio to boto3", "at reference ms"]
    print(table([*headers, f"< {TARGET_MS:.0f} ms", "imports openai", "modules"], rows), file=out)
    if document["missing"]:
        print(f"\n(no code yet for: {', '.join(document['missing'])})", file=out)
    if first_invocation:
        document["first_invocation"] = measure_first_invocations(modules, runs)
        _print_first_invocations(document["first_invocation"], runs, out)
    sizes = package_sizes(root)
    document["packages"] = sizes
    print("\nDeployment packages (the layer is shared by every function):\n", file=out)
    size_rows = [
        [f"{name} (code)", _kb(item["unzipped_bytes"]), _kb(item["zipped_bytes"])]
        for name, item in sizes["functions"].items()
    ]
    layer = sizes["layer"]
    size_rows.append(["core layer (engram + dependencies)", _kb(layer["unzipped_bytes"]), _kb(layer["zipped_bytes"])])
    print(table(["package", "unzipped KB", "zipped KB"], size_rows), file=out)
    largest = ", ".join(f"{item['name']} {_mb(item['bytes'])} MB" for item in layer["largest"])
    print(
        f"\nLayer: {layer['distributions']} distributions; engram itself {_mb(layer['engram_bytes'])} MB; "
        f"largest: {largest}",
        file=out,
    )
    return document


def _print_first_invocations(figures: dict[str, Any], runs: int, out: TextIO) -> None:
    print(
        f"\nFirst invocation: import + the first handler call, median of {runs} fresh processes, tracing on "
        "(X-Ray SDK imported and patching on that call), one DynamoDB request to the embedded emulator on "
        "loopback:\n",
        file=out,
    )
    rows = [
        [
            logical_id,
            item["event"],
            item["import"]["median_ms"],
            item["call"]["median_ms"],
            item["total"]["median_ms"],
            f"{item['total']['min_ms']:.0f}-{item['total']['max_ms']:.0f}",
            item["outcome"][:40],
        ]
        for logical_id, item in figures.items()
    ]
    print(table(["function", "event", "import ms", "first call ms", "total ms", "range ms", "answer"], rows), file=out)


def _kb(size: int) -> str:
    return f"{size / 1000:,.1f}"


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.2f}"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "coldstart", help="import time of each function's module, first invocation, package sizes"
    )
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per function and setting (default 5)")
    parser.add_argument(
        "--reference-boto3-ms",
        type=float,
        default=REFERENCE_BOTO3_MS,
        help=f"a bare `import boto3` on the machine the target is for (default {REFERENCE_BOTO3_MS:.0f})",
    )
    parser.add_argument(
        "--no-first-invocation", action="store_true", help="skip the first-invocation row (no emulator started)"
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    document = run(args.runs, first_invocation=not args.no_first_invocation, reference_ms=args.reference_boto3_ms)
    if args.json:
        write_json(args.json, document)
        print(f"\nwrote {args.json}")
    return 0
