"""The committed OpenAPI document and README reference are generated from the routes and up to date; the
document is valid OpenAPI 3.1 and gives generated clients what they need: an operationId and a tag on
every operation, named schemas, and every status a route answers."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from engram.api.app import app
from engram.api.errors import ERROR_STATUSES
from engram.api.openapi import TAGS, openapi_document
from engram_dev import openapi
from engram_dev.project import project_root
from openapi_spec_validator import OpenAPIV31SpecValidator, validate


def test_committed_document_and_readme_reference_are_current(capsys):
    assert openapi.main(["--check"]) == 0, capsys.readouterr().err


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, methods in doc["paths"].items() for method, op in methods.items()]


@pytest.mark.parametrize("source", ["generated", "committed"])
def test_the_document_is_valid_openapi_3_1(source):
    # Given the document generated from the routes, and the one committed in docs/
    doc = (
        openapi_document() if source == "generated" else json.loads((project_root() / "docs/openapi.json").read_text())
    )
    # When openapi-spec-validator checks it, Then it finds nothing (e.g. no $ref to a missing schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in OpenAPIV31SpecValidator(doc).iter_errors()]
    assert not errors, errors[:5]
    validate(doc)  # and the version it declares is the one it is validated as


def test_every_route_declares_a_camel_case_operation_id_a_summary_and_known_tags():
    # Given every route registered on the API (so a new route cannot forget them)
    routes = app._static_routes + app._dynamic_routes  # Powertools' registered routes
    known_tags = {tag.name for tag in TAGS}
    for route in routes:
        where = f"{route.method} {route.path}"
        # Then its operationId is its own camelCase name, not Powertools' generated one (func_path_method)
        assert re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)+", route.operation_id), f"{where}: set operation_id="
        # And it has a summary and at least one of the document's tags
        assert route.summary, where
        assert route.tags and set(route.tags) <= known_tags, f"{where}: tags {route.tags}; declare a new one in TAGS"
    assert len({route.operation_id for route in routes}) == len(routes)
    # And every tag the document declares names some route
    assert known_tags <= {tag for route in routes for tag in route.tags}


def test_the_operation_ids_of_the_routes_are_stable():
    # Generated clients name their functions after these: renaming one breaks every client
    ids = {(method.upper(), path): op["operationId"] for method, path, op in _operations(openapi_document())}
    assert {
        ("POST", "/v1/memories/generate"): "generateMemories",
        ("POST", "/v1/memories/retrieve"): "retrieveMemories",
        ("POST", "/v1/memories"): "createMemory",
        ("POST", "/v1/memories/batch"): "batchCreateMemories",
        ("GET", "/v1/memories/{memory_id}"): "getMemory",
        ("PATCH", "/v1/memories/{memory_id}"): "updateMemory",
        ("DELETE", "/v1/memories/{memory_id}"): "deleteMemory",
        ("GET", "/v1/memories/{memory_id}/revisions"): "listMemoryRevisions",
        ("POST", "/v1/memories/{memory_id}/rollback"): "rollbackMemory",
        ("POST", "/v1/memories/purge"): "purgeMemories",
        ("GET", "/v1/operations/{operation_id}"): "getOperation",
        ("POST", "/v1/sessions/{session_id}/events"): "appendSessionEvents",
        ("GET", "/v1/sessions/{session_id}/events"): "listSessionEvents",
        ("DELETE", "/v1/sessions/{session_id}"): "deleteSession",
        ("GET", "/v1/config"): "getConfig",
        ("PUT", "/v1/config"): "putConfig",
    }.items() <= ids.items()


def test_every_operation_documents_its_successes_and_every_error_with_the_error_envelope():
    doc = openapi_document()
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for method, path, operation in _operations(doc):
        assert operation["description"], (method, path)
        responses = operation["responses"]
        # Every error status, with the Error body
        for code in ERROR_STATUSES:
            ref = responses[str(code)]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/Error", (method, path, code)
        # At least one success; a 204 has no body, any other success has a named schema
        successes = {code: r for code, r in responses.items() if code.startswith("2")}
        assert successes, (method, path)
        for code, response in successes.items():
            if code == "204":
                assert "content" not in response, (method, path)
            else:
                assert response["content"]["application/json"]["schema"]["$ref"], (method, path, code)


def test_statuses_a_route_answers_besides_its_first_are_documented():
    paths = openapi_document()["paths"]
    assert {"200", "202"} <= set(paths["/v1/memories/generate"]["post"]["responses"])  # 200: done within wait_seconds
    assert {"200", "204"} <= set(paths["/v1/memories/{memory_id}/rollback"]["post"]["responses"])
    assert "204" in paths["/v1/memories/{memory_id}"]["delete"]["responses"]
    assert "204" in paths["/v1/sessions/{session_id}"]["delete"]["responses"]


def _inline_schemas(node: Any, where: str) -> list[str]:
    """Where ``node`` (below a named schema or an operation) has an object or enum schema of its own."""
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node or "enum" in node:
            found.append(where)
        for key, value in node.items():
            if key not in ("examples", "default"):
                found += _inline_schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += _inline_schemas(item, f"{where}/{index}")
    return found


def test_objects_and_enums_are_named_schemas_not_inline_ones():
    # Given the document: a generated client makes a class of every object or enum schema
    doc = openapi_document()
    schemas = doc["components"]["schemas"]
    # Then each is a named schema, referred to: none is nested in a schema or an operation
    inline = [
        w for name, schema in schemas.items() for k, v in schema.items() for w in _inline_schemas(v, f"{name}/{k}")
    ]
    inline += _inline_schemas(doc["paths"], "paths")
    assert not inline, inline
    assert {"Scope", "Memory", "Operation", "Error", "Revision", "Metadata", "Filter", "ChatRole"} <= set(schemas)
    # And Powertools' own validation-error schemas are gone (Engram answers 422 with Error)
    assert not {"HTTPValidationError", "ValidationError", "ResponseValidationError"} & set(schemas)


def test_the_role_enum_names_model_which_is_accepted_as_assistant():
    assert "model" in openapi_document()["components"]["schemas"]["ChatRole"]["enum"]


def test_check_fails_when_the_readme_reference_is_edited(tmp_path, monkeypatch):
    root = project_root()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "openapi.json").write_text((root / "docs" / "openapi.json").read_text())
    readme = (root / "README.md").read_text().replace("| GET | `/v1/config`", "| GET | `/v1/configuration`")
    (tmp_path / "README.md").write_text(readme)
    monkeypatch.setenv("ENGRAM_PROJECT_DIR", str(tmp_path))
    assert openapi.main(["--check"]) == 1
    json.loads((tmp_path / "docs" / "openapi.json").read_text())  # the committed document is valid JSON
