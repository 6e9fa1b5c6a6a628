"""Every list route of approval pages with signed cursors: a forged one is a 422, never a 500."""

from __future__ import annotations

import base64
import json

import pytest

from shared.pagination import CursorCodec

from conftest import ENTERPRISE_A, OPS, SECRET, Service, dept, project_body

pytestmark = pytest.mark.integration


def _unsigned(position: list[object]) -> str:
    """A cursor of the old, unsigned format (what a client could forge)."""
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


FORGED = {
    "naive time": _unsigned(["2025-01-01T00:00:00", "x"]),
    "integer beyond 64 bits": _unsigned([2**70]),
    "signed with another key": CursorCodec.from_secret("not-the-platform-secret").encode((1,)),
    # Signed with the platform's key: only the content check stands in the way.
    "naive time, signed": CursorCodec.from_secret(SECRET).encode(("2025-01-01T00:00:00", "x")),
    "huge integer, signed": CursorCodec.from_secret(SECRET).encode((2**70,)),
    "garbage": "%%%not-a-cursor",
}


@pytest.mark.parametrize("forged", sorted(FORGED))
async def test_a_forged_cursor_is_a_422_naming_cursor_on_every_list_route(
    service: Service, region_code: str, forged: str
) -> None:
    created = await service.client.post(
        "/api/v1/projects", json=project_body(region_code), headers=ENTERPRISE_A
    )
    assert created.status_code == 201
    code = created.json()["project_code"]
    routes = [
        ("/api/v1/projects", ENTERPRISE_A),
        (f"/api/v1/projects/{code}/timeline", ENTERPRISE_A),
        ("/api/v1/departments", OPS),
        ("/api/v1/departments/MEE/tasks", dept("MEE")),
        ("/api/v1/public/results", {}),
    ]

    for path, headers in routes:
        response = await service.client.get(
            path, params={"cursor": FORGED[forged]}, headers=headers
        )

        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["loc"] == ["query", "cursor"], path


async def test_the_cursor_of_one_page_leads_to_the_next(service: Service, region_code: str) -> None:
    for _ in range(3):
        created = await service.client.post(
            "/api/v1/projects", json=project_body(region_code), headers=ENTERPRISE_A
        )
        assert created.status_code == 201
    first = (
        await service.client.get("/api/v1/projects", params={"limit": 2}, headers=ENTERPRISE_A)
    ).json()
    timeline_code = first["items"][0]["project_code"]

    second = await service.client.get(
        "/api/v1/projects",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=ENTERPRISE_A,
    )
    steps = (
        await service.client.get(
            f"/api/v1/projects/{timeline_code}/timeline",
            params={"limit": 1},
            headers=ENTERPRISE_A,
        )
    ).json()
    assert steps["next_cursor"] is not None  # submission and assignments: several steps
    more_steps = await service.client.get(
        f"/api/v1/projects/{timeline_code}/timeline",
        params={"limit": 1, "cursor": steps["next_cursor"]},
        headers=ENTERPRISE_A,
    )

    assert second.status_code == 200
    assert {p["project_code"] for p in second.json()["items"]}.isdisjoint(
        p["project_code"] for p in first["items"]
    )
    assert more_steps.status_code == 200
    assert more_steps.json()["items"] != steps["items"]
