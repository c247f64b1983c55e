"""Where the project's own files are (``template.yaml``, ``functions/``, ``statemachine/``), and the
template read with its CloudFormation tags, so the local stack builds from the same definitions."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml

#: Where a wheel (``pip install .``) ships the project files (``setup.py`` copies them at build time).
PACKAGED_PROJECT = Path(__file__).resolve().parent / "_project"


def project_root() -> Path:
    """``ENGRAM_PROJECT_DIR``, else the nearest ancestor of this package holding ``template.yaml`` (a
    checkout), else the copy a wheel ships in ``engram_dev/_project``."""
    env = os.environ.get("ENGRAM_PROJECT_DIR")
    if env:
        return Path(env).resolve()
    for parent in Path(__file__).resolve().parents:
        if (parent / "template.yaml").is_file():
            return parent
    if (PACKAGED_PROJECT / "template.yaml").is_file():
        return PACKAGED_PROJECT
    raise FileNotFoundError(
        "Engram's template.yaml was not found: run `engram` from a checkout of the repository (pip install -e .), "
        "install it from a wheel built there (pip install .), or set ENGRAM_PROJECT_DIR to the checkout"
    )


class _CfnLoader(yaml.SafeLoader):
    """Reads ``!Ref``, ``!GetAtt`` ... as ``{"Ref": ...}`` / ``{"Fn::GetAtt": [...]}``."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


@functools.cache
def load_template(path: str | None = None) -> dict[str, Any]:
    """The parsed ``template.yaml`` (cached)."""
    file = Path(path) if path else project_root() / "template.yaml"
    with file.open() as handle:
        return yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def functions() -> dict[str, dict[str, Any]]:
    """``{logical id: properties}`` of every ``AWS::Serverless::Function``."""
    resources = load_template()["Resources"]
    return {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
