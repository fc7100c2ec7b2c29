"""openapi/openapi.json is generated from the app; this fails when they drift."""

from __future__ import annotations

from pathlib import Path

import orjson

from app.cli import DEFAULT_OPENAPI, render_openapi


def test_committed_openapi_matches_the_app():
    committed = Path(DEFAULT_OPENAPI).read_text()
    assert committed == render_openapi(), "run `.venv/bin/landed openapi` and commit the result"


def test_every_operation_is_documented():
    spec = orjson.loads(render_openapi())
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), where
            assert operation.get("description"), where
            tag = operation["tags"][0]
            assert operation["operationId"].startswith(f"{tag}-"), where
            if method != "head":
                assert "503" in operation["responses"] or path == "/healthz", where
