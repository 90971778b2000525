"""Dispatch through the API: ``GET``/``PUT /dispatch`` (admin; validated like the config file,
kept in the data dir and used for the next ticket) and ``POST /tickets/{id}/assign`` (the office),
recorded in the ticket's history; the public never see a person's name or a contact."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.app_harness import ApiHarness, bearer
from vision.types import HazardKind

pytestmark = pytest.mark.timeout(60)

MAPPING: dict[str, Any] = {
    "cameras": {
        "lane_a": {
            "unit": {"name": "物业服务中心", "contact": "0571-8888-0000"},
            "person": {"name": "王伟", "contact": "13800000000"},
        },
        "lane_b/door": {"unit": {"name": "Security office"}},
    },
    "default": {"unit": {"name": "物业服务中心"}},
}


@pytest.fixture
def harness(tmp_path: Path, media_cache: Path) -> Iterator[ApiHarness]:
    made = ApiHarness(tmp_path, media_cache)
    yield made
    made.close()


def _put(harness: ApiHarness, body: Any, role: str = "admin") -> Any:
    return harness.client.put("/dispatch", json=body, headers=bearer(role))


def test_the_mapping_comes_from_the_config_until_an_admin_replaces_it(
    harness: ApiHarness,
) -> None:
    first = harness.client.get("/dispatch", headers=bearer("admin"))
    assert first.status_code == 200
    assert first.json() == {
        "dispatch": {"cameras": {}, "default": None},
        "source": "config",
        "updated_at": None,
        "by": None,
    }
    unassigned = harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED)
    assert unassigned.view.responsible_unit is None

    saved = _put(harness, MAPPING)
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["source"] == "override" and body["by"] == "admin"
    assert body["dispatch"]["cameras"]["lane_a"]["person"] == MAPPING["cameras"]["lane_a"]["person"]
    assert body["dispatch"]["cameras"]["lane_b/door"]["person"] is None  # defaults filled in
    stored = json.loads((harness.data_dir / "dispatch.json").read_text(encoding="utf-8"))
    assert stored == {k: body[k] for k in ("dispatch", "updated_at", "by")}
    assert harness.client.get("/dispatch", headers=bearer("admin")).json() == body

    # The store reads the new mapping for the next ticket: the camera's rule, then the zone's.
    lane = harness.add_ticket("lane_b", "passage", HazardKind.FIRE_LANE_BLOCKED)  # default
    door = harness.add_ticket("lane_b", "door", HazardKind.EBIKE_ENTRY)
    facade = harness.add_ticket("facade", "facade", HazardKind.FALLING_OBJECT)
    got = {
        name: harness.client.get(f"/tickets/{made.id}", headers=bearer("reviewer")).json()
        for name, made in (("lane", lane), ("door", door), ("facade", facade))
    }
    assert got["door"]["responsible_unit"] == {"name": "Security office", "contact": None}
    assert got["lane"]["responsible_unit"] == {"name": "物业服务中心", "contact": None}
    assert got["facade"]["responsible_person"] is None
    assigned = [h for h in got["door"]["history"] if h["action"] == "assigned"]
    assert [h["rule"] for h in assigned] == ["lane_b/door"]


def test_a_second_edit_keeps_the_first_as_backup(harness: ApiHarness) -> None:
    assert _put(harness, MAPPING).status_code == 200
    assert _put(harness, {"cameras": {}}).status_code == 200
    backup = json.loads((harness.data_dir / "dispatch.json.bak").read_text(encoding="utf-8"))
    assert backup["dispatch"]["cameras"]["lane_a"]["unit"]["name"] == "物业服务中心"
    made = harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED)
    assert made.view.responsible_unit is None


@pytest.mark.parametrize(
    ("body", "status", "loc", "words"),
    [
        (
            {"cameras": {"lane_x": {"unit": {"name": "X"}}}},
            409,
            "api.dispatch.cameras.lane_x",
            "camera 'lane_x' is not configured; did you mean",
        ),
        (
            {"cameras": {"lane_a/gate": {"unit": {"name": "X"}}}},
            409,
            "api.dispatch.cameras.lane_a/gate",
            "camera 'lane_a' has no zone 'gate' (its zones: lane)",
        ),
        (
            {"cameras": {"Lane_A": {"unit": {"name": "X"}}}},
            409,
            "api.dispatch.cameras.Lane_A",
            "is not a slug",
        ),
        ({"cameras": {"lane_a": {"person": {"name": "X"}}}}, 422, "body.cameras.lane_a.unit", ""),
        (
            {"cameras": {"lane_a": {"unit": {"name": "X", "phone": "1"}}}},
            422,
            "body.cameras.lane_a.unit.phone",
            "",
        ),
        ({"camera": {}}, 422, "body.camera", ""),
        ({"default": {"unit": {"name": ""}}}, 422, "body.default.unit.name", ""),
    ],
    ids=[
        "unknown-camera",
        "unknown-zone",
        "not-a-slug",
        "no-unit",
        "unknown-key",
        "typo",
        "empty-name",
    ],
)
def test_an_invalid_mapping_is_refused_naming_where(
    harness: ApiHarness, body: Any, status: int, loc: str, words: str
) -> None:
    """A malformed body is a 422 naming the field; a well-formed mapping that names cameras or
    zones the configuration lacks is a 409 with check-config's paths."""
    response = _put(harness, body)
    assert response.status_code == status, response.text
    errors = response.json()["errors"]
    assert loc in [error["loc"] for error in errors], errors
    assert words in response.json()["detail"]
    assert not (harness.data_dir / "dispatch.json").exists()


def test_a_zone_added_in_the_zone_editor_may_have_its_own_rule(harness: ApiHarness) -> None:
    zones = harness.client.get("/cameras/lane_a/zones", headers=bearer("admin")).json()["zones"]
    zones["gate"] = {"polygon": [[0.6, 0.1], [0.9, 0.1], [0.9, 0.4], [0.6, 0.4]]}
    edit = harness.client.put(
        "/cameras/lane_a/zones", json={"zones": zones}, headers=bearer("admin")
    )
    assert edit.status_code == 200, edit.text
    response = _put(harness, {"cameras": {"lane_a/gate": {"unit": {"name": "Gate staff"}}}})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("role", ["reviewer", "grid_lane", "public"])
def test_only_an_admin_reads_or_edits_the_mapping(harness: ApiHarness, role: str) -> None:
    assert harness.client.get("/dispatch", headers=bearer(role)).status_code == 403
    assert _put(harness, MAPPING, role).status_code == 403
    assert not (harness.data_dir / "dispatch.json").exists()


def _assign(harness: ApiHarness, ticket_id: str, body: Any, role: str = "reviewer") -> Any:
    return harness.client.post(f"/tickets/{ticket_id}/assign", json=body, headers=bearer(role))


REASSIGN = {
    "unit": {"name": "Security office", "contact": "security@example.org"},
    "person": {"name": "Li Na", "contact": "13900000000"},
    "reason": "the property office is closed on Sunday",
}


def test_the_office_reassigns_a_ticket_and_the_history_says_who_and_why(
    harness: ApiHarness,
) -> None:
    assert _put(harness, MAPPING).status_code == 200
    made = harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED)
    response = _assign(harness, made.id, REASSIGN)
    assert response.status_code == 200, response.text
    ticket = response.json()
    assert ticket["responsible_unit"] == REASSIGN["unit"]
    assert ticket["responsible_person"] == REASSIGN["person"]
    entry = ticket["history"][-1]
    assert entry["action"] == "reassigned"
    assert entry["actor"] == "reviewer"
    assert entry["note"] == REASSIGN["reason"]
    assert entry["previous_person"] == {"name": "王伟", "contact": "13800000000"}
    again = harness.client.get(f"/tickets/{made.id}", headers=bearer("grid_lane")).json()
    assert again["history"] == ticket["history"]
    assert again["responsible_person"] == REASSIGN["person"]


@pytest.mark.parametrize("role", ["grid_lane", "grid_facade", "public"])
def test_only_the_office_reassigns(harness: ApiHarness, role: str) -> None:
    made = harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED)
    assert _assign(harness, made.id, REASSIGN, role).status_code == 403
    view = harness.store.get_ticket(made.id)
    assert view is not None and view.responsible_unit is None


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({**REASSIGN, "reason": ""}, "body.reason"),
        ({"unit": REASSIGN["unit"]}, "body.reason"),
        ({**REASSIGN, "unit": {"name": "X", "fax": "1"}}, "body.unit.fax"),
        ({**REASSIGN, "person": {"contact": "1"}}, "body.person.name"),
    ],
    ids=["empty-reason", "no-reason", "unknown-key", "person-without-name"],
)
def test_a_bad_reassignment_is_a_422_naming_the_field(
    harness: ApiHarness, body: Any, loc: str
) -> None:
    made = harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED)
    response = _assign(harness, made.id, body)
    assert response.status_code == 422, response.text
    assert loc in [error["loc"] for error in response.json()["errors"]]


def test_a_closed_ticket_is_not_reassigned(harness: ApiHarness) -> None:
    made = harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED)
    harness.store.transition(made.id, "rejected", actor="office")
    response = _assign(harness, made.id, REASSIGN)
    assert response.status_code == 422
    assert "only an open ticket is reassigned" in response.json()["detail"]


def test_the_public_see_the_unit_of_a_closed_ticket_but_no_person_or_contact(
    harness: ApiHarness,
) -> None:
    assert _put(harness, MAPPING).status_code == 200
    made = harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED)
    assert _assign(harness, made.id, REASSIGN).status_code == 200
    for status, actor in (
        ("reported", "o"),
        ("verified", "o"),
        ("rectifying", "o"),
        ("rechecked", "p"),
        ("closed", "p"),
    ):
        harness.store.transition(made.id, status, actor=actor)
    response = harness.client.get(f"/tickets/{made.id}", headers=bearer("public"))
    assert response.status_code == 200
    text = response.text
    for secret in ("王伟", "Li Na", "13800000000", "13900000000", "0571-8888-0000", "security@"):
        assert secret not in text, secret
    body = response.json()
    assert body["responsible_unit"] == {"name": "Security office", "contact": None}
    assert body["responsible_person"] == {"name": "L***", "contact": None}
