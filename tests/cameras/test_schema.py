"""Per-camera schema: defaults, bounds, zone shapes, hazard union, URL checks, immutability."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cameras.schema import (
    Anchor,
    CameraConfig,
    ConfigModel,
    DetectSettings,
    EbikeEntryHazard,
    FallingObjectHazard,
    FireLaneBlockedHazard,
    LineZone,
    MembershipSettings,
    MotionSettings,
    PolygonZone,
    RtspTransport,
)
from vision.types import HazardKind

SQUARE = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]


def _errors(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str, str]]:
    with pytest.raises(ValidationError) as info:
        CameraConfig.model_validate(data)
    return [(e["loc"], e["type"], e["msg"]) for e in info.value.errors(include_url=False)]


def test_defaults() -> None:
    camera = CameraConfig.model_validate({})
    assert camera.detect == DetectSettings(fps=5.0, width=640)
    assert camera.motion == MotionSettings(fps=25.0, width=480)
    assert camera.rtsp_transport is RtspTransport.TCP
    assert (camera.connect_timeout_s, camera.read_timeout_s) == (5.0, 5.0)
    assert (camera.decode_threads, camera.preroll_s, camera.postroll_s) == (1, 10.0, 10.0)
    assert camera.enabled is True
    assert camera.source is None and camera.zones == {} and camera.hazards == ()


def test_hazard_defaults_and_union() -> None:
    camera = CameraConfig.model_validate(
        {
            "zones": {"a": {"polygon": SQUARE}},
            "hazards": [
                {"kind": "fire_lane_blocked", "zone": "a"},
                {"kind": "ebike_entry", "zone": "a"},
                {"kind": "falling_object", "zone": "a"},
            ],
        }
    )
    fire, ebike, falling = camera.hazards
    assert isinstance(fire, FireLaneBlockedHazard)
    assert (fire.dwell_s, fire.min_occupancy, fire.clear_s) == (60.0, 0.05, 10.0)
    assert isinstance(ebike, EbikeEntryHazard)
    assert (ebike.min_duration_s, ebike.allow_bicycles, ebike.action) == (1.0, True, None)
    assert isinstance(falling, FallingObjectHazard)
    assert falling.min_drop_floors == 2
    assert [h.kind for h in camera.hazards] == list(HazardKind)


def test_zone_union_picks_shape() -> None:
    camera = CameraConfig.model_validate(
        {
            "zones": {
                "lift": {"polygon": SQUARE, "width_m": 1.5},
                "door": {"line": [[0.2, 0.8], [0.6, 0.8]], "inward": [0, -1], "anchor": "center"},
            }
        }
    )
    lift, door = camera.zones["lift"], camera.zones["door"]
    assert isinstance(lift, PolygonZone) and lift.anchor is Anchor.BOTTOM_CENTER
    assert lift.polygon[2] == (0.9, 0.9) and lift.width_m == 1.5
    assert isinstance(door, LineZone) and door.anchor is Anchor.CENTER
    assert door.inward == (0.0, -1.0)


@pytest.mark.parametrize(
    ("data", "loc", "error_type", "message"),
    [
        pytest.param(
            {"detect": {"fps": 0}},
            ("detect", "fps"),
            "greater_than_equal",
            "0.1",
            id="detect-fps-low",
        ),
        pytest.param(
            {"detect": {"fps": 61}},
            ("detect", "fps"),
            "less_than_equal",
            "60",
            id="detect-fps-high",
        ),
        pytest.param(
            {"detect": {"width": 32}},
            ("detect", "width"),
            "greater_than_equal",
            "64",
            id="detect-width-low",
        ),
        pytest.param(
            {"detect": {"width": 4000}},
            ("detect", "width"),
            "less_than_equal",
            "3840",
            id="detect-width-high",
        ),
        pytest.param(
            {"decode_threads": 17},
            ("decode_threads",),
            "less_than_equal",
            "16",
            id="decode-threads",
        ),
        pytest.param(
            {"preroll_s": -1}, ("preroll_s",), "greater_than_equal", "0", id="preroll-negative"
        ),
        pytest.param(
            {"postroll_s": 121}, ("postroll_s",), "less_than_equal", "120", id="postroll-high"
        ),
        pytest.param(
            {"rtsp_transport": "http"},
            ("rtsp_transport",),
            "enum",
            "'tcp' or 'udp'",
            id="transport",
        ),
        pytest.param(
            {"connect_timeout_s": float("nan")},
            ("connect_timeout_s",),
            "finite_number",
            "finite",
            id="nan",
        ),
        pytest.param(
            {"hazards": [{"kind": "fire_lane_blocked", "zone": "a", "dwell_s": 0.5}]},
            ("hazards", 0, "fire_lane_blocked", "dwell_s"),
            "greater_than_equal",
            "1",
            id="dwell-low",
        ),
        pytest.param(
            {"hazards": [{"kind": "fire_lane_blocked", "zone": "a", "min_occupancy": 1.5}]},
            ("hazards", 0, "fire_lane_blocked", "min_occupancy"),
            "less_than_equal",
            "1",
            id="occupancy-high",
        ),
        pytest.param(
            {"hazards": [{"kind": "ebike_entry", "zone": "a", "min_duration_s": 61}]},
            ("hazards", 0, "ebike_entry", "min_duration_s"),
            "less_than_equal",
            "60",
            id="ebike-duration-high",
        ),
        pytest.param(
            {"hazards": [{"kind": "falling_object", "zone": "a", "min_drop_floors": 0}]},
            ("hazards", 0, "falling_object", "min_drop_floors"),
            "greater_than_equal",
            "1",
            id="drop-floors-low",
        ),
        pytest.param(
            {"hazards": [{"kind": "smoke", "zone": "a"}]},
            ("hazards", 0),
            "union_tag_invalid",
            "smoke",
            id="unknown-kind",
        ),
        pytest.param(
            {"hazards": [{"zone": "a"}]},
            ("hazards", 0),
            "union_tag_not_found",
            "kind",
            id="no-kind",
        ),
        pytest.param(
            {"floors": {"count": 0, "lowest_visible_floor": 1, "lines": [0.1, 0.2]}},
            ("floors", "count"),
            "greater_than_equal",
            "1",
            id="floors-count",
        ),
        pytest.param(
            {"zones": {"z": {"polygon": SQUARE, "width_m": 0}}},
            ("zones", "z", "polygon_zone", "width_m"),
            "greater_than",
            "0",
            id="width-zero",
        ),
        pytest.param(
            {"zones": {"z": {"polygon": SQUARE, "anchor": "left"}}},
            ("zones", "z", "polygon_zone", "anchor"),
            "enum",
            "bottom_center",
            id="bad-anchor",
        ),
        pytest.param(
            {"colour": "red"}, ("colour",), "extra_forbidden", "Extra", id="unknown-camera-key"
        ),
    ],
)
def test_bounds_and_enums(
    data: dict[str, Any], loc: tuple[Any, ...], error_type: str, message: str
) -> None:
    errors = _errors(data)
    assert len(errors) == 1, errors
    got_loc, got_type, got_msg = errors[0]
    assert (got_loc, got_type) == (loc, error_type)
    assert message in got_msg


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        pytest.param({"anchor": "center"}, "needs 'polygon' (an area) or 'line'", id="neither"),
        pytest.param(
            {"polygon": SQUARE, "line": [[0, 0], [1, 1]], "inward": [1, 0]},
            "either 'polygon' or 'line' (with 'inward'), not both",
            id="both",
        ),
        pytest.param(
            "lift", "must be a mapping with either 'polygon' or 'line', got str", id="not-a-mapping"
        ),
    ],
)
def test_zone_shape_errors(zone: Any, expected: str) -> None:
    errors = _errors({"zones": {"z": zone}})
    assert len(errors) == 1
    assert errors[0][0] == ("zones", "z")
    assert expected in errors[0][2]


def test_line_zone_requires_inward() -> None:
    errors = _errors({"zones": {"door": {"line": [[0.2, 0.8], [0.6, 0.8]]}}})
    assert errors == [(("zones", "door", "line_zone", "inward"), "missing", "Field required")]


@pytest.mark.parametrize(
    ("source", "expected_error"),
    [
        pytest.param("rtsp://u:p@10.0.0.1:554/x", None, id="rtsp"),
        pytest.param("rtsps://cam.local/x", None, id="rtsps"),
        pytest.param("http://10.0.0.1/mjpg", None, id="http"),
        pytest.param("https://10.0.0.1/hls.m3u8", None, id="https"),
        pytest.param("/srv/video/lane.mp4", None, id="absolute-path"),
        pytest.param("clips/lane.mp4", None, id="relative-path"),
        pytest.param("ftp://u:hunter2@10.0.0.1/x", "unsupported URL scheme 'ftp'", id="ftp"),
        pytest.param("rtsp://u:hunter2@/x", "has no host", id="no-host"),
        pytest.param("rtsp://u:hunter2@[::1/x", "malformed URL", id="bad-ipv6"),
        pytest.param(
            "   ", "a URL (rtsp://, rtsps://, http://, https://) or a file path", id="blank"
        ),
    ],
)
def test_source_values(source: str, expected_error: str | None) -> None:
    for field in ("source", "evidence_source"):
        if expected_error is None:
            assert getattr(CameraConfig.model_validate({field: source}), field) == source
            continue
        errors = _errors({field: source})
        assert len(errors) == 1 and errors[0][0] == (field,)
        assert expected_error in errors[0][2]
        assert "hunter2" not in errors[0][2]


@pytest.mark.parametrize(
    ("action", "expected_error"),
    [
        pytest.param({"command": ["/bin/relay", "on"]}, None, id="command"),
        pytest.param({"url": "https://hooks.local/ebike", "timeout_s": 2}, None, id="url"),
        pytest.param({}, "needs 'command' or 'url'", id="nothing-to-do"),
        pytest.param({"url": "ftp://hooks.local/x"}, "unsupported URL scheme 'ftp'", id="ftp"),
        pytest.param(
            {"url": "hooks.local/x"}, "expected a URL (http://, https://)", id="not-a-url"
        ),
        pytest.param({"command": []}, "at least 1 item", id="empty-command"),
        pytest.param(
            {"command": ["relay"], "timeout_s": 0},
            "greater than or equal to 0.1",
            id="timeout-zero",
        ),
    ],
)
def test_ebike_action(action: dict[str, Any], expected_error: str | None) -> None:
    hazard = {"kind": "ebike_entry", "zone": "a", "action": action}
    if expected_error is None:
        camera = CameraConfig.model_validate({"hazards": [hazard]})
        assert isinstance(camera.hazards[0], EbikeEntryHazard)
        assert camera.hazards[0].action is not None
        return
    errors = _errors({"hazards": [hazard]})
    assert len(errors) == 1
    assert errors[0][0][:4] == ("hazards", 0, "ebike_entry", "action")
    assert expected_error in errors[0][2]


def test_models_are_frozen() -> None:
    camera = CameraConfig.model_validate({"zones": {"a": {"polygon": SQUARE}}})
    targets: list[tuple[ConfigModel, str, Any]] = [
        (camera, "enabled", False),
        (camera.detect, "fps", 1.0),
        (camera.zones["a"], "anchor", "center"),
    ]
    for model, field, value in targets:
        with pytest.raises(ValidationError, match="frozen"):
            setattr(model, field, value)
    zone = camera.zones["a"]
    assert isinstance(zone, PolygonZone) and isinstance(zone.polygon, tuple)


def test_every_field_has_a_description() -> None:
    # Every settings model is a subclass only once its module is imported: the whole config
    # (pipelines.config and the settings modules it imports) is, whatever ran before.
    import pipelines.config  # noqa: F401

    def models(cls: type[ConfigModel]) -> list[type[ConfigModel]]:
        found = [cls]
        for sub in cls.__subclasses__():
            found += models(sub)
        return found

    for model in models(ConfigModel):
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"


def test_membership_defaults_and_override() -> None:
    camera = CameraConfig.model_validate(
        {
            "zones": {"a": {"polygon": SQUARE}},
            "hazards": [
                {"kind": "fire_lane_blocked", "zone": "a"},
                {
                    "kind": "ebike_entry",
                    "zone": "a",
                    "membership": {"enter_overlap": 0.5, "exit_overlap": 0.25},
                },
            ],
        }
    )
    fire, ebike = camera.hazards
    assert isinstance(fire, FireLaneBlockedHazard) and isinstance(ebike, EbikeEntryHazard)
    assert fire.membership == MembershipSettings()
    assert (fire.membership.footprint_height, fire.membership.enter_overlap) == (0.25, 0.3)
    assert (fire.membership.exit_overlap, fire.membership.enter_zone_overlap) == (0.15, 0.5)
    assert (ebike.membership.enter_overlap, ebike.membership.exit_overlap) == (0.5, 0.25)


@pytest.mark.parametrize(
    ("membership", "field", "message"),
    [
        pytest.param({"footprint_height": 0}, "footprint_height", "greater than 0", id="no-band"),
        pytest.param({"enter_overlap": 1.2}, "enter_overlap", "less than or equal", id="enter>1"),
        pytest.param({"exit_overlap": -0.1}, "exit_overlap", "greater than or equal", id="exit<0"),
        pytest.param(
            {"enter_overlap": 0.2, "exit_overlap": 0.3},
            None,
            "exit_overlap (0.3) must not exceed enter_overlap (0.2)",
            id="exit-above-enter",
        ),
        pytest.param({"overlap": 0.3}, "overlap", "Extra", id="unknown-key"),
    ],
)
def test_membership_bounds(membership: dict[str, Any], field: str | None, message: str) -> None:
    errors = _errors(
        {
            "zones": {"a": {"polygon": SQUARE}},
            "hazards": [{"kind": "fire_lane_blocked", "zone": "a", "membership": membership}],
        }
    )
    assert len(errors) == 1, errors
    loc, _, msg = errors[0]
    assert loc[:4] == ("hazards", 0, "fire_lane_blocked", "membership")
    assert loc[4:] == ((field,) if field else ())
    assert message in msg
