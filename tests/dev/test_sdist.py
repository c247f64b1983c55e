"""The sdist (``python -m build --sdist``, or ``pip install`` from the tarball) holds what ``setup.py`` needs
to build the same wheel as a checkout: the project files it copies into ``engram_dev/_project/``
(``MANIFEST.in``), the packages, README, LICENSE and CHANGELOG, and nothing of a working tree's
virtualenvs, caches, SAM builds, build outputs or tests. Like tests/dev/test_packaged_project.py this runs
offline: it calls setuptools' PEP 517 hooks (``build_sdist``, then ``build_wheel`` in the unpacked sdist)
with the venv's setuptools, as ``python -m build --no-isolation`` would, on a copy of the checkout."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Not copied from the checkout: large, or written by tools. The test plants a file in each instead.
TOOL_DIRS = {".git", ".venv", ".venv-infra", ".aws-sam", ".engram", "build", "dist"}
CACHES = ("__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", "*.egg-info")

#: Files of a working tree that must stay out of the sdist.
STRAYS = (
    ".venv/lib/python3.12/site-packages/stray.py",
    ".venv-infra/bin/sam",
    ".aws-sam/build/template.yaml",
    ".engram/data/stray.json",
    ".mypy_cache/3.12/stray.json",
    ".hypothesis/examples/stray",
    "build/lib/engram_dev/_project/stray.json",
    "dist/engram-0.0.1.tar.gz",
    "functions/api/__pycache__/handler.cpython-312.pyc",
    "functions/api/stray.pyc",
)
EXCLUDED_PARTS = TOOL_DIRS | {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", "tests"}


def _copy_checkout(target: Path) -> None:
    def ignore(folder: str, names: list[str]) -> set[str]:
        ignored = shutil.ignore_patterns(*CACHES)(folder, names)
        return ignored | (TOOL_DIRS & set(names) if Path(folder) == ROOT else set())

    shutil.copytree(ROOT, target, ignore=ignore, symlinks=True)
    for stray in STRAYS:
        (target / stray).parent.mkdir(parents=True, exist_ok=True)
        (target / stray).write_text("not for the sdist\n")


def _hook(name: str, cwd: Path, out: Path) -> Path:
    """Run setuptools' PEP 517 hook ``name`` in ``cwd`` (a fresh interpreter, as a build frontend does)."""
    out.mkdir()
    code = f"from setuptools import build_meta; print(build_meta.{name}({str(out)!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out / done.stdout.strip().splitlines()[-1]


def test_the_sdist_builds_the_wheel_with_the_project_files(tmp_path):
    # Given a checkout with a working tree's clutter: virtualenvs, caches, a SAM build, bytecode, old builds
    checkout = tmp_path / "checkout"
    _copy_checkout(checkout)

    # When its sdist is built
    sdist = _hook("build_sdist", checkout, tmp_path / "sdist")

    # Then it holds the build's inputs and the project files setup.py copies, as the checkout has them
    with tarfile.open(sdist) as archive:
        base = sdist.name.removesuffix(".tar.gz")
        members = [m.name for m in archive.getmembers() if m.isfile()]
        assert all(name.startswith(f"{base}/") for name in members), members
        files = {name.removeprefix(f"{base}/") for name in members}
        archive.extractall(tmp_path / "unpacked", filter="data")
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "CHANGELOG.md"):
        assert name in files, name
    assert "layers/core/engram/__init__.py" in files and "dev/engram_dev/cli.py" in files

    spec = importlib.util.spec_from_file_location("engram_setup", checkout / "setup.py")
    assert spec is not None and spec.loader is not None
    setup_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup_module)
    expected = tmp_path / "expected"
    setup_module.copy_project_files(expected)
    project = {p.relative_to(expected).as_posix() for p in expected.rglob("*") if p.is_file()}
    assert "template.yaml" in project and "events/conversation.json" in project
    in_sdist = {name for name in files if name.split("/")[0] in setup_module.PROJECT_FILES}
    assert in_sdist == project

    # and nothing of the clutter, the tests, or bytecode
    leaked = sorted(
        name for name in files if EXCLUDED_PARTS & set(name.split("/")[:-1]) or name.endswith((".pyc", ".pyo"))
    )
    assert leaked == []
    assert not {s for s in STRAYS if s in files}

    # When a wheel is built from the unpacked sdist, as pip does installing it
    wheel = _hook("build_wheel", tmp_path / "unpacked" / base, tmp_path / "wheel")

    # Then it ships the same project files in engram_dev/_project as a wheel built in the checkout
    prefix = "engram_dev/_project/"
    with zipfile.ZipFile(wheel) as archive:
        shipped = {n.removeprefix(prefix) for n in archive.namelist() if n.startswith(prefix) and not n.endswith("/")}
    assert shipped == project
