"""The wheel's one build step beyond pyproject.toml: the project files the local stack reads —
``template.yaml``, ``statemachine/``, ``events/`` and ``functions/`` — go into the wheel as
``engram_dev/_project/``, so ``pip install .`` (not editable) gives a working ``engram local`` and
``engram demo`` outside a checkout (``engram_dev.project.project_root`` finds them there). An editable
install reads them from the checkout instead."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PROJECT_FILES = ("template.yaml", "statemachine", "events", "functions")


def copy_project_files(target: Path) -> None:
    """``PROJECT_FILES`` of the checkout into ``target`` (without bytecode)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(source, target / name, dirs_exist_ok=True, ignore=ignore)
        else:
            shutil.copy2(source, target / name)


class BuildPyWithProjectFiles(build_py):
    def run(self) -> None:
        super().run()
        if not getattr(self, "editable_mode", False):
            copy_project_files(Path(self.build_lib) / "engram_dev" / "_project")


if __name__ == "__main__":  # as the build backend runs it; a test imports copy_project_files
    setup(cmdclass={"build_py": BuildPyWithProjectFiles})
