"""deploy/asyncapi.json is the generated document: regenerate it when the event models change."""

from __future__ import annotations

from pathlib import Path

from shared.asyncapi import document_json

COMMITTED = Path(__file__).resolve().parents[1] / "deploy" / "asyncapi.json"


def test_the_committed_asyncapi_document_matches_the_models() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == document_json(), (
        "deploy/asyncapi.json drifted from shared.events/shared.topics: run "
        "`uv run python -m shared.asyncapi > deploy/asyncapi.json`"
    )
