"""The Lambda layer ships none of the development tooling: no ``engram_dev`` (the local stack, the emulator
and its patches, the benchmarks, the local index), and no module that imports moto, PyYAML, numpy, bm25s
or PyStemmer, neither in the layer's source folder (its ``ContentUri``) nor, after ``make build``, in what
``sam build`` made of it. And importing a function's module imports none of them."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from engram_dev.project import functions, load_template, project_root

from tests.infrastructure.lockfile import locked

ROOT = project_root()
DEV_MODULES = {"engram_dev", "moto", "yaml", "numpy", "bm25s", "Stemmer"}
DEV_REQUIREMENTS = {"moto", "pyyaml", "numpy", "bm25s", "pystemmer"}
# The one import of development tooling the layer may hold: the composition root's local index
# (ENGRAM_INDEX_BACKEND=local), inside a function and a try whose except turns its absence into a
# ConfigurationError (test_local_backend_without_engram_dev_is_a_configuration_error).
OPTIONAL_DEV_IMPORTS = {("engram/wiring.py", "engram_dev.local_index")}
REMOVED_PATHS = ("engram_dev", "engram/local", "engram/adapters/local_index.py")

LAYER_ID, LAYER = next(
    (name, resource["Properties"])
    for name, resource in load_template()["Resources"].items()
    if resource["Type"] == "AWS::Serverless::LayerVersion"
)
LAYER_SOURCE = ROOT / LAYER["ContentUri"]
BUILT_LAYER = ROOT / ".aws-sam" / "build" / LAYER_ID / "python"


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names)


def _imported_by_name(call: ast.Call) -> str | None:
    """``"x"`` for ``importlib.import_module("x")`` or ``__import__("x")``, else None."""
    func = call.func
    named = (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id in ("import_module", "__import__")
    )
    if named and call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def _imports(node: ast.AST, in_function: bool = False, guarded: bool = False) -> Iterator[tuple[str, int, bool]]:
    """``(module, line, optional)`` for every import below ``node`` (``import_module("x")`` included);
    ``optional`` = inside a function and inside a try that catches ImportError."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, node.lineno, in_function and guarded
    elif isinstance(node, ast.ImportFrom):
        if node.level == 0 and node.module:
            yield node.module, node.lineno, in_function and guarded
    elif isinstance(node, ast.Call) and (module := _imported_by_name(node)):
        yield module, node.lineno, False
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        for child in ast.iter_child_nodes(node):
            yield from _imports(child, True, False)
    elif isinstance(node, ast.Try | ast.TryStar):
        catches = any(_catches_import_error(h) for h in node.handlers)
        for child in node.body:
            yield from _imports(child, in_function, guarded or catches)
        for child in [*node.handlers, *node.orelse, *node.finalbody]:
            yield from _imports(child, in_function, guarded)
    else:
        for child in ast.iter_child_nodes(node):
            yield from _imports(child, in_function, guarded)


def dev_imports(root: Path, under: str = ".") -> list[str]:
    """Every import of development tooling in the ``.py`` files in ``root / under``, except the allowed
    ones (paths relative to ``root``, as in ``OPTIONAL_DEV_IMPORTS``)."""
    found = []
    for path in sorted((root / under).rglob("*.py")):
        relative = path.relative_to(root)
        if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
            continue
        for module, line, optional in _imports(ast.parse(path.read_text(), filename=str(path))):
            if module.split(".")[0] not in DEV_MODULES:
                continue
            if optional and (relative.as_posix(), module) in OPTIONAL_DEV_IMPORTS:
                continue
            found.append(f"{relative}:{line} imports {module}")
    return found


def test_the_layer_source_holds_no_dev_tooling():
    # Given the folder SAM builds the layer from, then it holds no development package or module
    assert LAYER_SOURCE.resolve() == (ROOT / "layers" / "core").resolve()
    present = [p for p in REMOVED_PATHS if (LAYER_SOURCE / p).exists()]
    assert not present, f"development tooling inside the layer's ContentUri: {present}"
    # and none of its modules imports one
    assert dev_imports(LAYER_SOURCE) == []
    # and the layer's requirements pull in none of the development dependencies
    requirements = set(locked(LAYER_SOURCE / "requirements.txt"))
    assert requirements and not requirements & DEV_REQUIREMENTS


def test_the_scan_sees_module_level_lazy_and_dynamic_imports(tmp_path):
    # Given modules importing development tooling in every way the scan must catch
    (tmp_path / "engram").mkdir()
    (tmp_path / "engram" / "a.py").write_text("import numpy as np\n")
    (tmp_path / "engram" / "b.py").write_text("def f():\n    from moto import mock_aws\n")
    (tmp_path / "engram" / "c.py").write_text("import importlib\nyaml = importlib.import_module('yaml')\n")
    (tmp_path / "engram" / "d.py").write_text("try:\n    import engram_dev.stack\nexcept ImportError:\n    pass\n")
    # and the allowed optional import, in the right file, guarded inside a function
    (tmp_path / "engram" / "wiring.py").write_text(
        "def index():\n    try:\n        from engram_dev.local_index import LocalIndex\n"
        "    except ImportError as error:\n        raise RuntimeError('missing') from error\n"
    )
    # When the scan runs, then it reports each forbidden one and not the allowed one
    assert dev_imports(tmp_path) == [
        "engram/a.py:1 imports numpy",
        "engram/b.py:2 imports moto",
        "engram/c.py:2 imports yaml",
        "engram/d.py:2 imports engram_dev.stack",
    ]


def test_the_built_layer_holds_no_dev_tooling():
    if not BUILT_LAYER.is_dir():
        pytest.skip(f"no {BUILT_LAYER.relative_to(ROOT)}: run `make build` (make test does)")
    # Given what `sam build` made of the layer, then it holds no development package or module
    stale = "; the build may predate the source: run `make build`"
    present = [p for p in REMOVED_PATHS if (BUILT_LAYER / p).exists()]
    assert not present, f"development tooling in the built layer: {present}{stale}"
    # and no development dependency was installed into it
    top_level = {entry.name.split(".")[0] for entry in BUILT_LAYER.iterdir()}
    assert not top_level & DEV_MODULES, stale
    # and none of the engram package's modules imports one
    assert dev_imports(BUILT_LAYER, under="engram") == [], stale


def test_local_backend_without_engram_dev_is_a_configuration_error():
    # Given a process where the development package cannot be imported (as in the Lambda layer)
    script = (
        "import sys\n"
        "sys.modules['engram_dev'] = None\n"
        "from engram import wiring\n"
        "from engram.errors import ConfigurationError\n"
        "try:\n"
        "    wiring.dependencies().index if hasattr(wiring, 'dependencies') else wiring.index()\n"
        "except ConfigurationError as error:\n"
        "    print(error)\n"
    )
    env = {**os.environ, "ENGRAM_INDEX_BACKEND": "local"}
    # When the wiring builds the local index
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False)
    # Then it fails with a configuration error that says what is missing
    assert done.returncode == 0, done.stderr
    assert "ENGRAM_INDEX_BACKEND=local needs the development package engram_dev" in done.stdout
    assert "missing: engram_dev" in done.stdout


IMPORT_CHECK = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("lambda_function", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


@pytest.mark.parametrize(
    "logical_id, handler_path",
    sorted(
        (name, ROOT / props["CodeUri"] / (props["Handler"].rpartition(".")[0].replace(".", "/") + ".py"))
        for name, props in functions().items()
    ),
)
def test_importing_a_function_imports_no_dev_tooling(logical_id, handler_path):
    # Given a function's module, imported in a fresh process as the Lambda runtime would (tracing on, as
    # deployed), where the development package is installed
    env = {k: v for k, v in os.environ.items() if k != "POWERTOOLS_TRACE_DISABLED"}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK, str(handler_path)], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    # Then it imported none of the development tooling
    imported = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "engram" in imported, logical_id
    assert not imported & DEV_MODULES, logical_id
