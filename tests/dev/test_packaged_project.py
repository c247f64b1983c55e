"""``pip install .`` (not editable) ships the project files the local stack reads inside the wheel
(``setup.py`` copies them to ``engram_dev/_project/``), and ``project_root`` finds them there outside a
checkout. Building the wheel itself needs the build backend from PyPI, so this test reproduces its copy
step offline (the full path: ``pip wheel --no-deps . -w DIR``, then ``pip install 'DIR/engram-*.whl[local]'``
into a fresh virtualenv, then ``engram demo`` there)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import json, engram_dev, engram_dev.project as p
root = p.project_root()
functions = p.functions()
missing = [
    f"{props['CodeUri']}{props['Handler'].rsplit('.', 1)[0]}.py"
    for props in functions.values()
    if not (root / props["CodeUri"] / (props["Handler"].rsplit(".", 1)[0] + ".py")).is_file()
]
machines = [
    r["Properties"]["DefinitionUri"]
    for r in p.load_template()["Resources"].values()
    if r["Type"] == "AWS::Serverless::StateMachine"
]
print(json.dumps({
    "package": engram_dev.__file__,
    "root": str(root),
    "functions": len(functions),
    "missing": missing,
    "machines_missing": [m for m in machines if not (root / m).is_file()],
    "conversation": (root / "events" / "conversation.json").is_file(),
}))
"""


def test_the_wheels_project_files_are_found_outside_a_checkout(tmp_path):
    # Given engram_dev laid out as the wheel installs it: the package, with the copied project files
    spec = importlib.util.spec_from_file_location("engram_setup", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    setup_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup_module)
    site = tmp_path / "site"
    shutil.copytree(ROOT / "dev" / "engram_dev", site / "engram_dev", ignore=shutil.ignore_patterns("__pycache__"))
    setup_module.copy_project_files(site / "engram_dev" / "_project")

    # When that package looks for its project files, run from a folder that is no checkout
    env = {k: v for k, v in os.environ.items() if k != "ENGRAM_PROJECT_DIR"}
    env["PYTHONPATH"] = str(site)
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )

    # Then it finds them in engram_dev/_project: every function's handler, the state machine, the demo
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["package"].startswith(str(site)), found
    assert found["root"] == str(site / "engram_dev" / "_project")
    assert found["functions"] > 0 and found["missing"] == [] and found["machines_missing"] == []
    assert found["conversation"]
