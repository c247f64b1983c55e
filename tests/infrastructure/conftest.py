"""Helpers for template assertions: the template expanded by the SAM translator (as CloudFormation sees
it, with roles and expanded policy templates), conditions evaluated for given parameter values, and every
IAM statement of a role (inline, customer managed, AWS managed names)."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from engram_dev.project import load_template, project_root


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


@functools.cache
def _transform(params: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(load_template())
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in props:
                props[key] = "s3://bucket/key"  # the translator wants packaged locations
        if "DefinitionUri" in props:
            props["Definition"] = json.loads((project_root() / props.pop("DefinitionUri")).read_text())
    return transform(template, dict(params), _NoManagedPolicies())


class Stack:
    """The transformed template for ``params`` (defaults for the rest), with conditions resolved."""

    def __init__(self, **params: str) -> None:
        self.template = _transform(tuple(sorted(params.items())))
        defaults = {name: str(p.get("Default", "")) for name, p in self.template["Parameters"].items()}
        self.params = {**defaults, **params}
        self.resources = {
            name: r for name, r in self.template["Resources"].items() if self.condition(r.get("Condition"))
        }

    def condition(self, name: str | None) -> bool:
        return True if name is None else self._eval(self.template["Conditions"][name])

    def _eval(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            [(key, value)] = node.items()
            if key == "Fn::Equals":
                a, b = (self._eval(v) for v in value)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self._eval(value[0])
            if key == "Fn::And":
                return all(self._eval(v) for v in value)
            if key == "Fn::Or":
                return any(self._eval(v) for v in value)
            if key in ("Condition", "Fn::Condition"):  # the project loader reads !Condition as Fn::Condition
                return self.condition(value)
            if key == "Fn::Join":  # a CommaDelimitedList parameter is held as its comma-separated text
                separator, items = value
                items = self._eval(items)
                return items if isinstance(items, str) else separator.join(str(self._eval(i)) for i in items)
            if key == "Ref" and value in self.params:
                return self.params[value]
        return node

    def resolve(self, node: Any) -> Any:
        """``Fn::If`` resolved (``AWS::NoValue`` dropped); other intrinsics kept as they are."""
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, yes, no = node["Fn::If"]
                return self.resolve(yes if self.condition(name) else no)
            out = {}
            for key, value in node.items():
                value = self.resolve(value)
                if value != {"Ref": "AWS::NoValue"}:
                    out[key] = value
            return out
        if isinstance(node, list):
            return [v for v in (self.resolve(v) for v in node) if v != {"Ref": "AWS::NoValue"}]
        return node

    def props(self, name: str) -> dict[str, Any]:
        return self.resolve(self.resources[name].get("Properties", {}))

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {n: self.props(n) for n, r in self.resources.items() if r["Type"] == kind}

    def role_of(self, function: str) -> str:
        role = self.props(function)["Role"]
        assert set(role) == {"Fn::GetAtt"} and role["Fn::GetAtt"][1] == "Arn", role
        return role["Fn::GetAtt"][0]

    def statements(self, role: str) -> Iterator[dict[str, Any]]:
        """Every Allow/Deny statement granted to ``role``: inline and customer managed policies."""
        props = self.props(role)
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        for arn in props.get("ManagedPolicyArns", []):
            if isinstance(arn, dict) and "Ref" in arn:
                documents.append(self.props(arn["Ref"])["PolicyDocument"])
        for document in documents:
            statements = document["Statement"]
            yield from statements if isinstance(statements, list) else [statements]

    def aws_managed(self, role: str) -> set[str]:
        return {a for a in self.props(role).get("ManagedPolicyArns", []) if isinstance(a, str)}

    def actions(self, role: str) -> set[str]:
        return {a for s in self.statements(role) if s["Effect"] == "Allow" for a in as_list(s["Action"])}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def stack() -> Stack:
    """The default deployment: an OpenSearch Serverless collection, the OpenAI provider, a new secret."""
    return Stack()


@pytest.fixture(scope="module")
def stack_for() -> type[Stack]:
    """``stack_for(OpenSearchMode="domain", ...)``: the deployment for other parameter values."""
    return Stack
