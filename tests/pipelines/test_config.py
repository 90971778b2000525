"""Root config: YAML, dotted error paths, all errors at once, secrets, defaults, examples."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.settings.roles import TokenRole
from cameras.schema import EbikeEntryHazard, LineZone, PolygonZone, RtspTransport
from pipelines.config import (
    ClassRole,
    ConfigError,
    ConfigIssue,
    HazardwatchConfig,
    ProviderChoice,
    load_config,
    parse_config,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "cameras" / "examples").glob("*.yaml"))
PASSWORD = "Hunter2-S3cret"
SHA = hashlib.sha256(b"example-token").hexdigest()
SHA2 = hashlib.sha256(b"other-token").hexdigest()

VALID_YAML = f"""\
site: {{id: block_a, name: "Block A"}}
detector:
  model: ../shared/assets/models/yolox_nano_coco_416.onnx
  classes: {{car: vehicle, truck: vehicle, motorbike: ebike, bicycle: bicycle, person: person}}
cameras:
  lobby:
    source: rtsp://admin:{PASSWORD}@10.0.0.21:554/Streaming/Channels/102
    zones:
      lift: {{polygon: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.95], [0.1, 0.95]]}}
      door: {{line: [[0.2, 0.8], [0.6, 0.8]], inward: [0.0, -1.0]}}
    hazards:
      - {{kind: ebike_entry, zone: lift, min_duration_s: 1.0}}
      - {{kind: ebike_entry, zone: door}}
  lane:
    source: rtsp://admin:{PASSWORD}@10.0.0.22:554/ch1
    zones:
      lane: {{polygon: [[0.1, 0.3], [0.6, 0.3], [0.9, 0.9], [0.05, 0.9]], width_m: 4.5}}
    hazards:
      - {{kind: fire_lane_blocked, zone: lane, dwell_s: 60, min_occupancy: 0.05}}
  facade:
    source: rtsp://admin:{PASSWORD}@10.0.0.23:554/ch1
    motion: {{fps: 25, width: 480}}
    zones:
      facade: {{polygon: [[0.05, 0.0], [0.95, 0.0], [0.95, 1.0], [0.05, 1.0]]}}
    floors: {{count: 18, lowest_visible_floor: 3, lines: [0.05, 0.3, 0.55, 0.8]}}
    hazards:
      - {{kind: falling_object, zone: facade, min_drop_floors: 2}}
api:
  tokens:
    - {{name: office, role: admin, token_sha256: {SHA}}}
    - {{name: grid_1, role: grid_worker, cameras: [lobby], token_sha256: {SHA2}}}
"""


def _data() -> dict[str, Any]:
    data = yaml.safe_load(VALID_YAML)
    assert isinstance(data, dict)
    return data


def _cam(data: dict[str, Any], camera_id: str = "lobby") -> dict[str, Any]:
    camera = data["cameras"][camera_id]
    assert isinstance(camera, dict)
    return camera


def _issues(text: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "site.yaml")
    return info.value.errors


def test_valid_config_parses() -> None:
    config = parse_config(VALID_YAML, "site.yaml")
    assert isinstance(config, HazardwatchConfig)
    assert list(config.cameras) == ["lobby", "lane", "facade"]
    lobby = config.cameras["lobby"]
    assert isinstance(lobby.zones["lift"], PolygonZone)
    assert isinstance(lobby.zones["door"], LineZone)
    assert isinstance(lobby.hazards[0], EbikeEntryHazard)
    assert config.detector is not None
    assert config.detector.classes["motorbike"] is ClassRole.EBIKE
    assert config.detector.providers == (ProviderChoice.AUTO,)
    assert config.detector.input_size == 640
    assert config.api is not None and config.api.tokens[1].role is TokenRole.GRID_WORKER


# (mutation of the valid config, [(dotted path, message fragment), ...]): each case must report
# exactly these errors, in this order.
Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    """A mutation setting ``a.b.0.c`` (list indices as numbers) to ``value``."""

    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        *parents, last = path.split(".")
        for part in parents:
            node = node[part]
        del node[last]

    return mutate


def _both(*mutations: Mutation) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(data)

    return mutate


def _rename_camera(old: str, new: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["cameras"] = {new if k == old else k: v for k, v in data["cameras"].items()}

    return mutate


LIFT = "cameras.lobby.zones.lift"

CASES = [
    pytest.param(
        _set(f"{LIFT}.polygon", [[0.1, 0.1], [0.9, 0.1]]),
        [
            (
                f"{LIFT}.polygon",
                "zone 'lift' of camera 'lobby': a polygon needs at least 3 points, got 2",
            )
        ],
        id="polygon-two-points",
    ),
    pytest.param(
        _set(f"{LIFT}.polygon", [[0.1, 0.1], [0.9, 0.1], [1.5, 0.95], [0.1, 0.95]]),
        [
            (
                f"{LIFT}.polygon[2]",
                "point [1.5, 0.95] of zone 'lift' of camera 'lobby' is outside "
                "the frame: x = 1.5 must lie in 0..1",
            )
        ],
        id="coordinate-1.5",
    ),
    pytest.param(
        _set("cameras.lobby.hazards.1.zone", "stairs"),
        [
            (
                "cameras.lobby.hazards[1].zone",
                "ebike_entry hazard refers to zone 'stairs', which "
                "camera 'lobby' does not define (zones: lift, door)",
            )
        ],
        id="hazard-zone-missing",
    ),
    pytest.param(
        _set("retention", {"max_age_days": 0.5, "interval_s": 5, "max_bytes": -1}),
        [
            ("retention.max_age_days", "greater than or equal to 1, got 0.5"),
            ("retention.max_bytes", "greater than or equal to 0, got -1"),
            ("retention.interval_s", "greater than or equal to 10, got 5"),
        ],
        id="retention-bounds",
    ),
    pytest.param(
        _set("colour", "blue"),
        [
            (
                "colour",
                "unknown key 'colour' (allowed here: site, detector, detectors, defaults, "
                "cameras, api, retention, evidence)",
            )
        ],
        id="unknown-key-top-level",
    ),
    pytest.param(
        _set("cameras.lobby.sourse", "rtsp://x/y"),
        [("cameras.lobby.sourse", "unknown key 'sourse'; did you mean 'source'?")],
        id="unknown-key-camera",
    ),
    pytest.param(
        _set(f"{LIFT}.colour", "red"),
        [(f"{LIFT}.colour", "unknown key 'colour' (allowed here: polygon, width_m, anchor)")],
        id="unknown-key-zone",
    ),
    pytest.param(
        _set("cameras.lobby.zones.door.width_m", 2),
        [
            (
                "cameras.lobby.zones.door.width_m",
                "unknown key 'width_m' (allowed here: line, inward, anchor)",
            )
        ],
        id="unknown-key-line-zone",
    ),
    pytest.param(
        _set("cameras.lane.hazards.0.dwell", 30),
        [("cameras.lane.hazards[0].dwell", "unknown key 'dwell'; did you mean 'dwell_s'?")],
        id="unknown-key-hazard",
    ),
    pytest.param(
        _set("detector.classes.car", "automobile"),
        [
            (
                "detector.classes.car",
                "Input should be 'vehicle', 'ebike', 'bicycle', 'person' or "
                "'clutter', got 'automobile'",
            )
        ],
        id="unknown-class-role",
    ),
    pytest.param(
        _set(f"{LIFT}.polygon", [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]),
        [
            (
                f"{LIFT}.polygon",
                "zone 'lift' of camera 'lobby': the polygon is self-intersecting: "
                "edge [0]-[1] meets edge [2]-[3]",
            )
        ],
        id="bow-tie",
    ),
    pytest.param(
        _set("cameras.facade.floors.lines", [0.05, 0.55, 0.3, 0.8]),
        [
            (
                "cameras.facade.floors.lines[2]",
                "camera 'facade': floor line y = 0.3 must be "
                "greater than the line before it (0.55)",
            )
        ],
        id="floor-lines-unordered",
    ),
    pytest.param(
        _set("cameras.facade.floors.count", 4),
        [
            (
                "cameras.facade.floors",
                "4 lines bound 3 floors, from floor 3 up to floor 5, but count is 4",
            )
        ],
        id="floor-count-too-small",
    ),
    pytest.param(
        _delete("cameras.facade.floors"),
        [
            (
                "cameras.facade.floors",
                "camera 'facade' has a falling_object hazard (hazards[0]) but no 'floors' section",
            )
        ],
        id="falling-object-without-floors",
    ),
    pytest.param(
        _delete("cameras.lobby.zones.door.inward"),
        [("cameras.lobby.zones.door.inward", "required key 'inward' is missing (Vector [dx, dy]")],
        id="line-without-inward",
    ),
    pytest.param(
        _set("cameras.lobby.zones.door.inward", [1.0, 0.0]),
        [("cameras.lobby.zones.door.inward", "inward [1, 0] is parallel to the line")],
        id="inward-parallel",
    ),
    pytest.param(
        _set("cameras.lobby.zones.stairs", {"anchor": "center"}),
        [
            (
                "cameras.lobby.zones.stairs",
                "a zone needs 'polygon' (an area) or 'line' with 'inward'",
            )
        ],
        id="zone-neither",
    ),
    pytest.param(
        _set("cameras.lobby.zones.door.polygon", [[0, 0], [1, 0], [1, 1]]),
        [
            (
                "cameras.lobby.zones.door",
                "a zone has either 'polygon' or 'line' (with 'inward'), not both",
            )
        ],
        id="zone-both",
    ),
    pytest.param(
        _set("cameras.lane.hazards.0.zone", "lane_x"),
        [("cameras.lane.hazards[0].zone", "did you mean 'lane'?")],
        id="hazard-zone-typo",
    ),
    pytest.param(
        _both(
            _set("cameras.lane.zones.lane", {"line": [[0.1, 0.5], [0.9, 0.5]], "inward": [0, 1]})
        ),
        [
            (
                "cameras.lane.hazards[0].zone",
                "fire_lane_blocked needs a polygon zone, but zone "
                "'lane' of camera 'lane' is a line",
            )
        ],
        id="fire-lane-on-line-zone",
    ),
    pytest.param(
        _set("site.id", "Block A"),
        [("site.id", "site id 'Block A' is not a slug")],
        id="bad-slug-site",
    ),
    pytest.param(
        _rename_camera("lobby", "Lobby Cam"),
        [
            ('cameras."Lobby Cam"', "camera id 'Lobby Cam' is not a slug"),
            (
                "api.tokens[1].cameras[0]",
                "token 'grid_1' names camera 'lobby', which is not configured",
            ),
        ],
        id="bad-slug-camera",
    ),
    pytest.param(
        lambda d: _cam(d)["zones"].update({"Lift-2": {"polygon": [[0, 0], [1, 0], [1, 1]]}}),
        [("cameras.lobby.zones.Lift-2", "zone id of camera 'lobby' 'Lift-2' is not a slug")],
        id="bad-slug-zone",
    ),
    pytest.param(
        _set("api.tokens.0.name", "Office Staff"),
        [("api.tokens[0].name", "token name 'Office Staff' is not a slug")],
        id="bad-slug-token",
    ),
    pytest.param(
        _delete("detector"),
        [
            (
                "cameras.lobby.hazards[0]",
                "camera 'lobby': ebike_entry needs object detection, but "
                "the config has no 'detector' section",
            ),
            ("cameras.lobby.hazards[1]", "ebike_entry needs object detection"),
            ("cameras.lane.hazards[0]", "fire_lane_blocked needs object detection"),
        ],
        id="detector-needed",
    ),
    pytest.param(
        _set("detector.classes", {"car": "vehicle"}),
        [("detector.classes", "ebike_entry (camera lobby) needs a class mapped to role ebike")],
        id="no-ebike-role",
    ),
    pytest.param(
        _both(_set("detector.labels", ["car"]), _set("detector.labels_file", "coco.names")),
        [("detector", "give class names inline in 'labels' or in 'labels_file', not both")],
        id="labels-and-labels-file",
    ),
    pytest.param(
        _set("detector.labels", ["person", "bicycle", "car", "motorbike", "car"]),
        [
            ("detector.labels[4]", "label 'car' is listed twice"),
            ("detector.classes.truck", "label 'truck' is not one of detector.labels"),
        ],
        id="classes-not-in-labels",
    ),
    pytest.param(
        _set("detector.input_size", 16),
        [("detector.input_size", "Input should be greater than or equal to 32, got 16")],
        id="input-size",
    ),
    pytest.param(
        _set("api.tokens.1.cameras", ["lobby", "lobbby"]),
        [
            (
                "api.tokens[1].cameras[1]",
                "names camera 'lobbby', which is not configured; did you mean 'lobby'?",
            )
        ],
        id="token-unknown-camera",
    ),
    pytest.param(
        _set("api.tokens.1.cameras", []),
        [("api.tokens[1].cameras", "grid_worker token 'grid_1' needs the ids of the cameras")],
        id="grid-worker-without-cameras",
    ),
    pytest.param(
        _set("api.tokens.0.cameras", ["lobby"]),
        [("api.tokens[0].cameras", "only grid_worker tokens are limited to cameras")],
        id="admin-with-cameras",
    ),
    pytest.param(
        _set("api.tokens.1.token_sha256", SHA),
        [("api.tokens[1].token_sha256", "token 'grid_1' has the same hash as api.tokens[0]")],
        id="duplicate-token-hash",
    ),
    pytest.param(
        _set("api.tokens.1.name", "system"),
        [("api.tokens[1].name", "token name 'system' is reserved")],
        id="token-named-like-the-automatic-recheck",
    ),
    pytest.param(
        _set("api.tokens.0.name", "env-admin"),
        [("api.tokens[0].name", "token name 'env-admin' is reserved")],
        id="token-named-like-the-environment-admin",
    ),
    pytest.param(
        _set("api.tokens.1.token_sha256", "not-a-hash"),
        [("api.tokens[1].token_sha256", "must be the SHA-256 of the token as 64 lowercase hex")],
        id="token-hash-format",
    ),
    pytest.param(
        _set("cameras", {}),
        [("cameras", "Dictionary should have at least 1 item")],
        id="no-cameras",
    ),
    pytest.param(
        _delete("site"),
        [("site", "required key 'site' is missing")],
        id="site-missing",
    ),
    pytest.param(
        _set("cameras.lane.hazards.0", {"kind": "smoke", "zone": "lane"}),
        [
            (
                "cameras.lane.hazards[0]",
                "unknown hazard kind 'smoke' (expected one of: "
                "fire_lane_blocked, ebike_entry, falling_object)",
            )
        ],
        id="unknown-hazard-kind",
    ),
    pytest.param(
        _set("cameras.lane.hazards.0.dwell_s", 0),
        [("cameras.lane.hazards[0].dwell_s", "greater than or equal to 1, got 0")],
        id="dwell-bound",
    ),
    pytest.param(
        _set("cameras.lane.zones.lane.polygon", [[0.1, 0.3], [0.6, 0.3, 0.2], [0.9, 0.9]]),
        [("cameras.lane.zones.lane.polygon[1]", "Tuple should have at most 2 items")],
        id="point-with-three-values",
    ),
    pytest.param(
        _set("cameras.lane.hazards", {"kind": "fire_lane_blocked"}),
        [("cameras.lane.hazards", "expected a list, got a mapping")],
        id="hazards-not-a-list",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), CASES)
def test_errors_have_dotted_paths(mutate: Mutation, expected: list[tuple[str, str]]) -> None:
    data = _data()
    mutate(data)
    issues = _issues(yaml.safe_dump(data, sort_keys=False))
    assert [issue.path for issue in issues] == [path for path, _ in expected], issues
    for issue, (_, message) in zip(issues, expected, strict=True):
        assert message in issue.message


def test_duplicate_camera_id_names_the_line() -> None:
    text = VALID_YAML.replace("  facade:\n", "  lobby:\n", 1)
    lines = text.splitlines()
    first = lines.index("  lobby:")
    line = lines.index("  lobby:", first + 1) + 1
    issues = _issues(text)
    assert issues == [
        ConfigIssue(
            "cameras.lobby",
            f"duplicate key 'lobby' at line {line}, column 3 (first given at line 6); the second "
            "would silently replace the first",
        )
    ]


def test_duplicate_keys_anywhere_are_all_reported() -> None:
    text = VALID_YAML.replace(
        "      - {kind: ebike_entry, zone: door}",
        "      - {kind: ebike_entry, zone: door, zone: lift}",
    ).replace("  classes: {car: vehicle,", "  classes: {car: vehicle, car: ebike,")
    assert [issue.path for issue in _issues(text)] == [
        "detector.classes.car",
        "cameras.lobby.hazards[1].zone",
    ]


def test_several_errors_are_all_reported() -> None:
    data = _data()
    data["site"]["colour"] = "green"  # schema error in site
    _cam(data)["zones"]["lift"]["polygon"] = [[0.1, 0.1], [0.9, 0.1]]  # lobby camera is valid
    _cam(data)["hazards"][1]["zone"] = "stairs"
    _cam(data, "lane")["hazards"][0]["dwell_s"] = 5000  # schema error in lane
    _cam(data, "lane")["detect"] = {"fps": 0}
    _cam(data, "facade")["floors"]["lines"] = [0.5, 0.4, 0.3]
    data["detector"]["score_threshold"] = 2
    with pytest.raises(ConfigError) as info:
        parse_config(yaml.safe_dump(data, sort_keys=False), "estate.yaml")
    paths = [issue.path for issue in info.value.errors]
    assert paths == [
        "site.colour",
        "detector.score_threshold",
        "cameras.lane.detect.fps",
        "cameras.lane.hazards[0].dwell_s",
        # per-camera checks still run on the cameras that validated:
        "cameras.lobby.zones.lift.polygon",
        "cameras.lobby.hazards[1].zone",
        "cameras.facade.floors.lines[1]",
        "cameras.facade.floors.lines[2]",
    ]
    lines = str(info.value).splitlines()
    assert len(lines) == len(paths)
    for line, issue in zip(lines, info.value.errors, strict=True):
        assert line == f"estate.yaml: {issue.path}: {issue.message}"


# A camera with three cross-field problems; each case adds one unknown key somewhere (issue 8:
# an unknown key used to hide the polygon, the coordinate and the missing zone).
FOUR_PROBLEMS = """\
site: {id: block_a, name: "Block A"}
detector:
  model: models/yolox_nano.onnx
  classes: {car: vehicle}
cameras:
  lane:
    source: rtsp://10.0.0.22/ch1
    zones:
      lane: {polygon: [[0.1, 0.1], [0.9, 0.1]]}
      yard: {polygon: [[0.1, 0.1], [1.5, 0.1], [0.5, 0.9]]}
    hazards:
      - {kind: fire_lane_blocked, zone: gate}
"""
CROSS_PROBLEMS = [
    ("cameras.lane.zones.lane.polygon", "a polygon needs at least 3 points, got 2"),
    ("cameras.lane.zones.yard.polygon[1]", "point [1.5, 0.1] of zone 'yard'"),
    ("cameras.lane.hazards[0].zone", "refers to zone 'gate', which camera 'lane' does not define"),
]


@pytest.mark.parametrize(
    ("old", "new", "unknown_path"),
    [
        pytest.param(
            "    source:", "    colour: red\n    source:", "cameras.lane.colour", id="in-the-camera"
        ),
        pytest.param(
            "[0.9, 0.1]]}",
            "[0.9, 0.1]], colour: red}",
            "cameras.lane.zones.lane.colour",
            id="in-the-bad-zone",
        ),
        pytest.param(
            "zone: gate}",
            "zone: gate, colour: red}",
            "cameras.lane.hazards[0].colour",
            id="in-the-bad-hazard",
        ),
        pytest.param("site: {", "colour: red\nsite: {", "colour", id="at-the-root"),
        pytest.param('"Block A"}', '"Block A", colour: red}', "site.colour", id="in-site"),
        pytest.param(
            "  classes:", "  colour: red\n  classes:", "detector.colour", id="in-the-detector"
        ),
    ],
)
def test_an_unknown_key_hides_no_other_error(old: str, new: str, unknown_path: str) -> None:
    assert FOUR_PROBLEMS.count(old) == 1
    issues = _issues(FOUR_PROBLEMS.replace(old, new))
    assert [issue.path for issue in issues] == [
        unknown_path,
        *(path for path, _ in CROSS_PROBLEMS),
    ], issues
    assert "unknown key 'colour'" in issues[0].message
    for issue, (_, message) in zip(issues[1:], CROSS_PROBLEMS, strict=True):
        assert message in issue.message


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            _set("cameras.lobby.zones.door.anchor", "middle"),
            # hazards[1] is on door, invalid but given: not "undefined", its shape not judged
            [("cameras.lobby.zones.door.anchor", "Input should be 'bottom_center'")],
            id="hazard-on-an-invalid-zone",
        ),
        pytest.param(
            _both(
                _set("cameras.facade.floors.count", 0),
                _set("cameras.facade.hazards.0.min_drop_floors", 50),
            ),
            [("cameras.facade.floors.count", "greater than or equal to 1")],
            id="invalid-floors-not-called-missing",
        ),
        pytest.param(
            _both(
                _set("detector.input_size", 1),
                _set("cameras.lane.zones.lane.polygon", [[0.1, 0.1], [0.9, 0.1]]),
            ),
            [
                ("detector.input_size", "greater than or equal to 32"),
                ("cameras.lane.zones.lane.polygon", "needs at least 3 points"),
            ],
            id="invalid-detector-not-called-missing",
        ),
        pytest.param(
            _both(
                _set("cameras.lobby.colour", 1),
                _set("cameras.lobby.hazards.0", {"kind": "ebike_entry", "zone": "lift", "x": 1}),
                _set("cameras.lobby.hazards.1", {"kind": "ebike_entry", "zone": "lift"}),
            ),
            [
                ("cameras.lobby.hazards[0].x", "unknown key 'x'"),
                ("cameras.lobby.colour", "unknown key 'colour'"),
                ("cameras.lobby.hazards[1]", "already has a ebike_entry hazard on zone 'lift'"),
            ],
            id="hazard-indices-kept",
        ),
        pytest.param(
            _both(
                _set("site.colour", 1),
                _set("api.tokens.1.cameras", ["lobbby"]),
                _set("cameras.lane.area", "Lane A"),
            ),
            [
                ("site.colour", "unknown key 'colour'"),
                ("cameras.lane.area", "is not a slug"),
                ("api.tokens[1].cameras[0]", "names camera 'lobbby', which is not configured"),
            ],
            id="ids-and-tokens-checked-beside-a-bad-site",
        ),
    ],
)
def test_cross_checks_run_on_the_parts_that_validated(
    mutate: Mutation, expected: list[tuple[str, str]]
) -> None:
    data = _data()
    mutate(data)
    issues = _issues(yaml.safe_dump(data, sort_keys=False))
    assert [issue.path for issue in issues] == [path for path, _ in expected], issues
    for issue, (_, message) in zip(issues, expected, strict=True):
        assert message in issue.message


def _replace(old: str, new: str) -> str:
    assert old in VALID_YAML
    return VALID_YAML.replace(old, new, 1)


def _dumped(mutate: Mutation) -> str:
    data = _data()
    mutate(data)
    return yaml.safe_dump(data, sort_keys=False)


LOBBY_URL = f"rtsp://admin:{PASSWORD}@10.0.0.21:554/Streaming/Channels/102"
LANE_URL = f"rtsp://admin:{PASSWORD}@10.0.0.22:554/ch1"

# Broken files holding PASSWORD in a source URL (or near one), each failing in a different way.
SECRET_CASES = [
    pytest.param(_replace("rtsp://admin", "ftp://admin"), id="bad-scheme"),
    pytest.param(_replace("@10.0.0.21:554", "@"), id="no-host"),
    pytest.param(_replace("    source: rtsp", "    sourse: rtsp"), id="unknown-key"),
    pytest.param(_replace("    source: rtsp", "    source: [rtsp"), id="yaml-flow-error"),
    pytest.param(_replace("source: rtsp://admin:", 'source: "rtsp://admin:'), id="open-quote"),
    pytest.param(_replace("  lane:\n", "  lobby:\n"), id="duplicate-key"),
    pytest.param(
        _replace("/Streaming/Channels/102", f"?password={PASSWORD}").replace("rtsp:", "rtmp:", 1),
        id="password-in-query",
    ),
    pytest.param(_replace(LANE_URL, f"[{LANE_URL}]"), id="source-is-a-list"),
    pytest.param(_replace(LANE_URL, "{url: " + LANE_URL + "}"), id="source-is-a-mapping"),
    pytest.param(_replace(f"    source: {LANE_URL}", f"    {LANE_URL}: 1"), id="url-as-key"),
    pytest.param(
        _dumped(_set("cameras.lobby.evidence_source", f"rtsp://admin:{PASSWORD}@[::1/x")),
        id="malformed-ipv6",
    ),
    pytest.param(
        _dumped(
            _set(
                "cameras.lobby.hazards.0.action",
                {"url": f"https://hook:{PASSWORD}@/x", "timeout_s": 99},
            )
        ),
        id="action-url",
    ),
    pytest.param(
        _dumped(_both(_set("cameras.lobby.source", LOBBY_URL), _set("cameras.lobby.colour", 1))),
        id="valid-source-other-error",
    ),
]


@pytest.mark.parametrize("text", SECRET_CASES)
def test_password_never_appears_in_errors(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "site.yaml")
    rendered = str(info.value)
    assert rendered.strip()
    assert PASSWORD not in rendered
    assert PASSWORD not in repr(info.value)
    assert all(PASSWORD not in f"{i.path} {i.message}" for i in info.value.errors)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_defaults_merge_and_camera_values_win() -> None:
    data = _data()
    data["defaults"] = {
        "detect": {"fps": 2, "width": 320},
        "motion": {"width": 320},
        "rtsp_transport": "udp",
        "preroll_s": 4,
    }
    _cam(data)["detect"] = {"fps": 8}
    _cam(data)["preroll_s"] = 20
    _cam(data, "facade")["motion"] = {"fps": 12.5}
    config = parse_config(yaml.safe_dump(data), "site.yaml")
    lobby, lane, facade = (config.cameras[c] for c in ("lobby", "lane", "facade"))
    assert (lobby.detect.fps, lobby.detect.width) == (8, 320)  # key by key inside `detect`
    assert (lane.detect.fps, lane.detect.width) == (2, 320)
    assert (lobby.preroll_s, lane.preroll_s) == (20, 4)
    assert (facade.motion.fps, facade.motion.width) == (12.5, 320)
    assert all(c.rtsp_transport is RtspTransport.UDP for c in config.cameras.values())
    assert config.defaults is not None and config.defaults.detect.fps == 2


def test_invalid_defaults_are_reported_once() -> None:
    data = _data()
    data["defaults"] = {"detect": {"fps": 100}, "decode_threads": 99}
    issues = _issues(yaml.safe_dump(data, sort_keys=False))
    # in the schema's field order, and not repeated under each camera
    assert [i.path for i in issues] == ["defaults.decode_threads", "defaults.detect.fps"]


def test_defaults_reject_camera_only_keys() -> None:
    data = _data()
    data["defaults"] = {"zones": {}}
    issues = _issues(yaml.safe_dump(data))
    assert [i.path for i in issues] == ["defaults.zones"]
    assert "unknown key 'zones'" in issues[0].message


def test_parsing_does_not_change_its_input() -> None:
    data = _data()
    data["defaults"] = {"detect": {"fps": 2}}
    before = copy.deepcopy(data)
    HazardwatchConfig.model_validate(data)
    assert data == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", "site.yaml: the file is empty; expected 'site' and 'cameras'", id="empty"),
        pytest.param("# only a comment\n", "site.yaml: the file is empty", id="comment-only"),
        pytest.param(
            "- a\n- b\n",
            "site.yaml: the top level must be a mapping (site, detector, cameras, ...), got a list",
            id="list",
        ),
        pytest.param("just text\n", "got text", id="scalar"),
        pytest.param(
            "site: {id: a\ncameras: {}\n",
            "site.yaml: YAML syntax error at line 2, column 8: while parsing a flow mapping at "
            "line 1, expected ',' or '}', but got ':'",
            id="syntax-error",
        ),
        pytest.param(
            "a: 1\n---\nb: 2\n",
            "site.yaml: YAML syntax error at line 2, column 1: expected a single document in the "
            "stream at line 1, but found another document",
            id="two-documents",
        ),
        pytest.param(
            "a: !!python/object:os.system x\n", "could not determine a constructor", id="unsafe-tag"
        ),
        pytest.param(
            "cameras:\n  1: {}\nsite: {id: a, name: A}\n",
            "site.yaml: cameras.1: keys "
            "must be text, but YAML read this one as an integer: quote it",
            id="integer-key",
        ),
    ],
)
def test_file_level_errors(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "site.yaml")
    assert expected in str(info.value)


def test_load_config_file_problems(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found$"):
        load_config(missing)
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"site: \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(invalid byte at offset 6\)"):
        load_config(binary)
    good = tmp_path / "good.yaml"
    good.write_bytes(b"\xef\xbb\xbf" + VALID_YAML.encode())  # a BOM is fine
    assert list(load_config(good).cameras) == ["lobby", "lane", "facade"]
    assert list(load_config(str(good)).cameras) == ["lobby", "lane", "facade"]


def test_config_error_needs_an_issue() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ConfigError("x.yaml", [])


def test_examples_exist() -> None:
    names = {path.name for path in EXAMPLES}
    assert {"fire_lane.yaml", "ebike_entry.yaml", "falling_object.yaml", "mixed_site.yaml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate(path: Path) -> None:
    config = load_config(path)
    assert config.cameras


def test_mixed_site_example_covers_everything() -> None:
    config = load_config(REPO / "cameras" / "examples" / "mixed_site.yaml")
    kinds = {h.kind for camera in config.cameras.values() for h in camera.hazards}
    assert kinds == {"fire_lane_blocked", "ebike_entry", "falling_object"}
    assert len(config.cameras) >= 3 and config.defaults is not None
    assert config.api is not None
    expected = {
        hashlib.sha256(f"example-{role}-token".encode()).hexdigest()
        for role in ("admin", "reviewer", "grid", "public")
    }
    assert {t.token_sha256 for t in config.api.tokens} == expected
    # defaults.detect.fps reaches cameras that do not set it; lobby_lift's own value wins
    assert config.cameras["north_lane"].detect.fps == 4
    assert config.cameras["lobby_lift"].detect.fps == 5
    assert config.cameras["lobby_lift"].detect.width == 640
    assert (config.retention.max_age_days, config.retention.max_bytes) == (365, 50 * 1024**3)
