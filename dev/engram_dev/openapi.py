"""The committed OpenAPI document (``docs/openapi.json``) and the README's API reference, both generated
from the routes by ``engram.api.openapi.openapi_document``.

``python -m engram_dev.openapi --write`` (``make openapi``) regenerates ``docs/openapi.json`` and the README
section between the ``api-reference`` markers; ``--check`` (run by ``make test``) fails when either is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engram.api.openapi import openapi_document

from engram_dev.project import project_root

START, END = "<!-- api-reference:start -->", "<!-- api-reference:end -->"


def render_reference(doc: dict[str, Any]) -> str:
    """A Markdown table of the routes (method, path, operationId, bodies, what it does) from the document."""
    lines = ["| method | path | operationId | body | success | does |", "|---|---|---|---|---|---|"]
    for path, methods in sorted(doc["paths"].items()):
        for method, operation in sorted(methods.items()):
            text = " ".join((operation.get("description") or operation.get("summary") or "").split())
            text = text.replace("|", "\\|").replace("``", "`")
            body = _schema_name(operation.get("requestBody", {}).get("content", {}).get("application/json", {}))
            success = ", ".join(
                f"{code} {_schema_name(response.get('content', {}).get('application/json', {}))}".strip()
                for code, response in sorted(operation["responses"].items())
                if code.startswith("2")
            )
            lines.append(
                f"| {method.upper()} | `{path}` | `{operation['operationId']}` | {body} | {success} | {text} |"
            )
    return "\n".join(lines)


def _schema_name(content: dict[str, Any]) -> str:
    ref = content.get("schema", {}).get("$ref", "")
    return f"`{ref.rsplit('/', 1)[-1]}`" if ref else ""


def _targets(root: Path) -> tuple[Path, Path]:
    return root / "docs" / "openapi.json", root / "README.md"


def _rendered(root: Path) -> tuple[str, str]:
    doc = openapi_document()
    spec_text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    readme = _targets(root)[1].read_text()
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the {START} / {END} markers")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return spec_text, f"{head}{START}\n{render_reference(doc)}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if docs/openapi.json or the README is stale")
    parser.add_argument("--write", action="store_true", help="regenerate them")
    args = parser.parse_args(argv)
    root = project_root()
    spec_path, readme_path = _targets(root)
    spec_text, readme_text = _rendered(root)
    if args.write:
        spec_path.parent.mkdir(parents=True, exist_ok=True)
        spec_path.write_text(spec_text)
        readme_path.write_text(readme_text)
        print(f"wrote {spec_path} and the API reference in {readme_path}")
        return 0
    stale = [
        p.name
        for p, text in ((spec_path, spec_text), (readme_path, readme_text))
        if not p.exists() or p.read_text() != text
    ]
    if stale:
        print(f"stale: {', '.join(stale)}; run `make openapi` and commit", file=sys.stderr)
        return 1
    print("OpenAPI document and README API reference are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
