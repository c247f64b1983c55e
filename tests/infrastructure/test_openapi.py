"""The committed OpenAPI document and README reference are generated from the routes and up to date."""

from __future__ import annotations

import json

from engram.api.openapi import openapi_document
from engram_dev import openapi
from engram_dev.project import project_root


def test_committed_document_and_readme_reference_are_current(capsys):
    assert openapi.main(["--check"]) == 0, capsys.readouterr().err


def test_every_operation_documents_the_error_envelope_and_its_purpose():
    doc = openapi_document()
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            assert operation["description"], (method, path)
            for code in ("401", "404", "422", "500"):
                ref = operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error"


def test_check_fails_when_the_readme_reference_is_edited(tmp_path, monkeypatch):
    root = project_root()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "openapi.json").write_text((root / "docs" / "openapi.json").read_text())
    readme = (root / "README.md").read_text().replace("| GET | `/v1/config`", "| GET | `/v1/configuration`")
    (tmp_path / "README.md").write_text(readme)
    monkeypatch.setenv("ENGRAM_PROJECT_DIR", str(tmp_path))
    assert openapi.main(["--check"]) == 1
    json.loads((tmp_path / "docs" / "openapi.json").read_text())  # the committed document is valid JSON
