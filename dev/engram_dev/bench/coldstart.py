"""``engram bench coldstart``: how long each function's module takes to import, and how big each
deployment package is (the target: < 300 ms per function; the API function never imports ``openai``).

Import time: for every ``AWS::Serverless::Function`` of ``template.yaml`` whose code exists, ``runs``
fresh Python processes each import the handler module (``CodeUri/<module>.py``, as the Lambda
runtime does) and report the time from just before the import to just after it, excluding the
interpreter's own start-up; the median is reported, with and without Powertools tracing
(``POWERTOOLS_TRACE_DISABLED``), because the X-Ray SDK is a large part of it. The environment is a
Lambda-like one (function name, region, table, OpenSearch backend); nothing is called and no network
is used. This machine's Python and CPU are not Lambda's (python3.12 on arm64 there): compare
functions and changes with it, do not read it as Lambda's absolute cold start.

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

_PROBE = """
import json, sys, time, importlib.util
path = sys.argv[1]
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("lambda_function_module", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed = time.perf_counter() - started
print(json.dumps({"ms": elapsed * 1000, "openai": "openai" in sys.modules, "modules": len(sys.modules)}))
"""


def _lambda_env(logical_id: str, code_dir: Path, tracing: bool) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ENGRAM_", "POWERTOOLS_", "OPENAI_", "AWS_"))
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
            "ENGRAM_TABLE_NAME": "engram",
            "ENGRAM_INDEX_BACKEND": "opensearch",
            "ENGRAM_OPENSEARCH_ENDPOINT": "https://opensearch.invalid",
            "ENGRAM_PROVIDER": "openai",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    if not tracing:
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    return env


def measure_import(logical_id: str, module_path: Path, runs: int, tracing: bool) -> dict[str, Any]:
    """Import ``module_path`` in ``runs`` fresh processes; median/min/max milliseconds and whether
    ``openai`` was imported (in any run)."""
    times, imports_openai, modules = [], False, 0
    for _ in range(runs):
        completed = subprocess.run(  # noqa: S603 - our own interpreter and probe
            [sys.executable, "-c", _PROBE, str(module_path)],
            capture_output=True,
            text=True,
            env=_lambda_env(logical_id, module_path.parent, tracing),
            cwd=str(module_path.parent),
            timeout=120,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"importing {module_path} failed:\n{completed.stderr[-2000:]}")
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        times.append(float(result["ms"]))
        imports_openai = imports_openai or bool(result["openai"])
        modules = int(result["modules"])
    return {
        "median_ms": round(median(times), 1),
        "min_ms": round(min(times), 1),
        "max_ms": round(max(times), 1),
        "imports_openai": imports_openai,
        "modules": modules,
    }


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


def run(runs: int = 5, out: TextIO = sys.stdout) -> dict[str, Any]:
    """Measure, print the tables, and return the figures (the ``--json`` document)."""
    from engram_dev.project import functions, project_root

    root = project_root()
    document: dict[str, Any] = {"python": sys.version.split()[0], "runs": runs, "imports": {}, "missing": []}
    rows = []
    for logical_id, props in sorted(functions().items()):
        module, _, _ = props["Handler"].rpartition(".")
        path = root / props["CodeUri"] / f"{module.replace('.', '/')}.py"
        if not path.is_file():
            document["missing"].append(logical_id)
            continue
        traced = measure_import(logical_id, path, runs, tracing=True)
        untraced = measure_import(logical_id, path, runs, tracing=False)
        document["imports"][logical_id] = {"tracing": traced, "tracing_disabled": untraced}
        rows.append(
            [
                logical_id,
                traced["median_ms"],
                f"{traced['min_ms']:.0f}-{traced['max_ms']:.0f}",
                untraced["median_ms"],
                "yes" if traced["imports_openai"] else "no",
                traced["modules"],
            ]
        )
    sizes = package_sizes(root)
    document["packages"] = sizes
    print(
        f"Cold start: import of each function's module, median of {runs} fresh processes "
        f"(Python {document['python']} on this machine; Lambda runs python3.12 on arm64)\n",
        file=out,
    )
    print(
        table(["function", "import ms", "range ms", "ms, tracing off", "imports openai", "modules"], rows),
        file=out,
    )
    if document["missing"]:
        print(f"\n(no code yet for: {', '.join(document['missing'])})", file=out)
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


def _kb(size: int) -> str:
    return f"{size / 1000:,.1f}"


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.2f}"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("coldstart", help="import time of each function's module; package sizes")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per function and setting (default 5)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    document = run(args.runs)
    if args.json:
        write_json(args.json, document)
        print(f"\nwrote {args.json}")
    return 0
