"""EbikeEntryRule: trajectory tables of synthetic observations at 5 fps.

Lift car: polygon x 0.2..0.8, y 0.1..0.95 (x from 128 px to 512 px); ``min_duration_s`` 1 s,
``clear_s`` 2 s. Stair door: the line y = 0.6 (216 px) from x = 0.3 to 0.7 (192..448 px), the
inner side above it (``inward`` = up).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.vision.trajectories import (
    Actor,
    Box,
    box_path,
    keyframes,
    observations,
    run_rule,
    summary,
)
from vision.rules.ebike_entry import EbikeEntryRule
from vision.types import HazardEvent, HazardPhase
from vision.zones import LineZone, PolygonZone

LIFT = [[0.2, 0.1], [0.8, 0.1], [0.8, 0.95], [0.2, 0.95]]
DOOR_LINE = [[0.3, 0.6], [0.7, 0.6]]
EB_W, EB_H = 120, 80
BELOW = (260, 200, 380, 280)  # anchor y 280: outer side of the door line
ABOVE = (260, 80, 380, 160)  # anchor y 160: inner side


def lift_rule(**kwargs: Any) -> EbikeEntryRule:
    return EbikeEntryRule("cam", "lift", PolygonZone("lift", LIFT), **kwargs)


def door_rule(**kwargs: Any) -> EbikeEntryRule:
    return EbikeEntryRule("cam", "door", LineZone("door", DOOR_LINE, [0.0, -1.0]), **kwargs)


def ebike(
    track_id: int | Callable[[float], int],
    path: Callable[[float], Box | None],
    role: str = "ebike",
    **kwargs: Any,
) -> Actor:
    label = {"ebike": "motorbike"}.get(role, role)
    return Actor(track_id, role, path, label=label, **kwargs)


def still(box: Box, t_from: float, t_to: float) -> Callable[[float], Box | None]:
    return box_path([(t_from, box), (t_to, box)])


def flickering(box: Box, t_to: float) -> Callable[[float], Box | None]:
    """At ``box`` until ``t_to`` but missed by the detector in 2 of every 7 frames."""
    return lambda t: None if t >= t_to or round(t * 5) % 7 in (3, 4) else box


@dataclass(frozen=True)
class Case:
    make_rule: Callable[..., EbikeEntryRule]
    actors: Sequence[Actor]
    duration_s: float
    expected: Sequence[tuple[str, float, float]]  # (phase, earliest, latest) per event
    rule_kwargs: dict[str, Any] = field(default_factory=dict)
    hazards: int | None = None  # distinct hazards expected (default: number of starts)


# Drives in from the left at ~127 px/s: 30 % of its footprint (the box's bottom band) is past
# the car's edge x = 128 px at t = 1.3 (its bottom-centre would be at t = 1.5).
ENTERS = keyframes([(0, -120), (3, 260), (20, 260), (23, -130)], 200, EB_W, EB_H)

CASES = [
    pytest.param(
        Case(lift_rule, [ebike(1, ENTERS)], 30, [("start", 2.3, 2.6), ("end", 23.4, 24.0)]),
        id="lift-enters-and-stays",
    ),
    pytest.param(
        Case(
            lift_rule,
            [ebike(1, ENTERS)],
            30,
            [("start", 4.3, 4.6), ("end", 23.4, 24.0)],
            rule_kwargs={"min_duration_s": 3.0},
        ),
        id="lift-longer-min-duration",
    ),
    pytest.param(
        Case(
            lift_rule,
            [ebike(1, still((260, 200, 380, 280), 0, 20))],
            20,
            [("start", 1.0, 1.0), ("end", 19.8, 19.8)],
        ),
        id="lift-already-inside-at-start",
    ),
    # Parked across the car's left edge (x 128), its centre 10 px outside: 50 of its 120 px in.
    pytest.param(
        Case(
            lift_rule,
            [ebike(1, still((58, 200, 178, 280), 0, 20))],
            20,
            [("start", 1.0, 1.0), ("end", 19.8, 19.8)],
        ),
        id="lift-straddles-the-car-edge",
    ),
    # Across the car's bottom edge (y 342), its bottom 8 px below: 12 of its 20 px rows in.
    pytest.param(
        Case(
            lift_rule,
            [ebike(1, still((260, 270, 380, 350), 0, 20))],
            20,
            [("start", 1.0, 1.0), ("end", 19.8, 19.8)],
        ),
        id="lift-straddles-the-car-near-edge",
    ),
    pytest.param(
        Case(lift_rule, [ebike(1, still((18, 200, 138, 280), 0, 20))], 20, []),
        id="lift-touches-the-car-edge-by-a-sliver",
    ),
    pytest.param(
        Case(
            lift_rule,
            [ebike(1, keyframes([(0, -120), (1.6, 80), (2.2, -120)], 200, EB_W, EB_H))],
            10,
            [],
        ),
        id="lift-peeks-in-shorter-than-min-duration",
    ),
    pytest.param(
        Case(lift_rule, [ebike(1, keyframes([(0, -120), (6, 700)], 380, EB_W, EB_H))], 10, []),
        id="lift-passes-below-the-car",
    ),
    pytest.param(
        Case(
            lift_rule,
            [ebike(1, keyframes([(0, -50), (3, 300), (20, 300)], 150, 50, 140), role="person")],
            20,
            [],
        ),
        id="lift-person-only",
    ),
    pytest.param(
        Case(lift_rule, [ebike(1, ENTERS, role="bicycle")], 30, []),
        id="lift-bicycle-allowed",
    ),
    pytest.param(
        Case(
            lift_rule,
            [ebike(1, ENTERS, role="bicycle")],
            30,
            [("start", 2.3, 2.6), ("end", 23.4, 24.0)],
            rule_kwargs={"allow_bicycles": False},
        ),
        id="lift-bicycle-not-allowed",
    ),
    pytest.param(
        Case(
            lift_rule,
            [
                ebike(1, ENTERS),
                ebike(2, keyframes([(0, -50), (3, 240), (20, 240)], 120, 50, 160), role="person"),
            ],
            30,
            [("start", 2.3, 2.6), ("end", 23.4, 24.0)],
        ),
        id="lift-rider-with-ebike",
    ),
    pytest.param(
        Case(
            lift_rule,
            [ebike(lambda t: 1 if t < 8 else 2, flickering((260, 200, 380, 280), 20))],
            30,
            [("start", 1.0, 1.0), ("update", 0, 0), ("end", 21.6, 22.0)],
        ),
        id="lift-detector-flicker-and-new-id-inside",
    ),
    # The e-bike stops at t=3 while the detector misses it; the tracker's prediction of track 1
    # flies on (coasting) and a new track 4 starts where the e-bike really is: the same e-bike.
    pytest.param(
        Case(
            lift_rule,
            [
                ebike(
                    1,
                    keyframes([(0, -120), (3, 260), (4.4, 437)], 200, EB_W, EB_H),
                    coasting=lambda t: t > 3,
                ),
                ebike(4, still((260, 200, 380, 280), 3.6, 20)),
            ],
            30,
            [("start", 2.3, 2.6), ("update", 0, 0), ("end", 21.8, 22.2)],
        ),
        id="lift-coasting-track-flies-off-new-id-in-place",
    ),
    pytest.param(
        Case(
            lift_rule,
            [
                ebike(1, still((140, 200, 260, 280), 0, 20)),
                ebike(2, still((360, 200, 480, 280), 0, 20)),
            ],
            20,
            [("start", 1.0, 1.0), ("start", 1.0, 1.0), ("end", 19.8, 19.8), ("end", 19.8, 19.8)],
        ),
        id="lift-two-ebikes",
    ),
    pytest.param(
        Case(
            lift_rule,
            [
                ebike(
                    1,
                    still((260, 200, 380, 280), 0, 20),
                    role="ebike",
                ),
                ebike(2, still((140, 200, 260, 280), 0, 20), role="bicycle"),
            ],
            20,
            [("start", 1.0, 1.0), ("end", 19.8, 19.8)],
        ),
        id="lift-ebike-beside-an-allowed-bicycle",
    ),
    # Door line: the anchor crosses y = 216 (+- 3.6 px hysteresis) at t = 1.6..1.8.
    pytest.param(
        Case(
            door_rule,
            [ebike(1, box_path([(0, BELOW), (3, ABOVE)]))],
            10,
            [("start", 1.6, 1.8), ("end", 4.8, 5.2)],
        ),
        id="door-inward-crossing",
    ),
    pytest.param(
        Case(
            door_rule,
            [ebike(1, box_path([(0, BELOW), (3, ABOVE), (10, ABOVE)]))],
            12,
            [("start", 2.6, 2.8), ("end", 11.8, 11.8)],
            rule_kwargs={"min_duration_s": 1.0},
        ),
        id="door-inward-crossing-confirmed-after-1s",
    ),
    pytest.param(
        Case(
            door_rule,
            [ebike(1, box_path([(0, BELOW), (1.5, ABOVE), (1.8, BELOW), (8, BELOW)]))],
            10,
            [],
            rule_kwargs={"min_duration_s": 1.0},
        ),
        id="door-in-and-back-out-before-confirmation",
    ),
    pytest.param(
        Case(door_rule, [ebike(1, box_path([(0, ABOVE), (3, BELOW)]))], 10, []),
        id="door-outward-crossing",
    ),
    pytest.param(
        Case(door_rule, [ebike(1, keyframes([(0, -120), (6, 700)], 200, EB_W, EB_H))], 10, []),
        id="door-pass-by-outside",
    ),
    pytest.param(
        Case(
            door_rule,
            [ebike(1, keyframes([(0, -120), (6, 700)], 216 - EB_H, EB_W, EB_H), jitter_px=2)],
            10,
            [],
        ),
        id="door-moving-along-the-line",
    ),
    pytest.param(
        Case(
            door_rule,
            [ebike(1, box_path([(0, (500, 200, 620, 280)), (3, (500, 80, 620, 160))]))],
            10,
            [],
        ),
        id="door-crossing-beside-the-segment",
    ),
    pytest.param(
        Case(
            door_rule,
            [
                ebike(
                    1,
                    box_path([(0, (260, 200, 310, 340)), (3, (260, 60, 310, 200))]),
                    role="person",
                )
            ],
            10,
            [],
        ),
        id="door-person-crossing-inward",
    ),
    pytest.param(
        Case(
            door_rule,
            [
                ebike(
                    1,
                    box_path([(0, BELOW), (2, ABOVE), (2.6, BELOW), (3.2, ABOVE), (10, ABOVE)]),
                )
            ],
            12,
            [("start", 1.0, 1.4), ("end", 11.8, 11.8)],
        ),
        id="door-in-out-in-within-clear-s-is-one-hazard",
    ),
    pytest.param(
        Case(
            door_rule,
            [ebike(1, box_path([(0, BELOW), (2, ABOVE), (3, BELOW), (10, BELOW)]))],
            12,
            [("start", 1.0, 1.4), ("end", 4.4, 5.0)],
        ),
        id="door-in-then-out-ends-after-clear-s",
    ),
    pytest.param(
        Case(
            door_rule,
            [
                ebike(1, box_path([(0, (200, 200, 320, 280)), (3, (200, 80, 320, 160))])),
                ebike(2, box_path([(1, (330, 200, 450, 280)), (4, (330, 80, 450, 160))])),
            ],
            10,
            [("start", 1.4, 1.8), ("start", 2.4, 2.8), ("end", 4.8, 5.2), ("end", 5.8, 6.2)],
        ),
        id="door-two-ebikes",
    ),
    pytest.param(
        Case(
            door_rule,
            [
                ebike(
                    lambda t: 1 if t < 4 else 2,
                    lambda t: (
                        None if 4 <= t < 4.6 else box_path([(0, BELOW), (3, ABOVE), (10, ABOVE)])(t)
                    ),
                )
            ],
            12,
            [("start", 1.6, 1.8), ("update", 0, 0), ("end", 11.8, 11.8)],
        ),
        id="door-lost-inside-and-found-with-new-id",
    ),
]


def check(events: Sequence[HazardEvent], case: Case) -> None:
    got = summary(events)
    assert [p for p, _ in got] == [p for p, _, _ in case.expected], got
    for (phase, pts), (_, lo, hi) in zip(got, case.expected, strict=True):
        if phase != "update":
            assert lo - 1e-6 <= pts <= hi + 1e-6, (phase, pts, lo, hi, got)
    starts = [e for e in events if e.phase is HazardPhase.START]
    hazards = case.hazards if case.hazards is not None else len(starts)
    assert len({e.hazard_id for e in events}) == hazards
    for e in starts:
        assert sum(x.hazard_id == e.hazard_id and x.phase is HazardPhase.END for x in events) == 1


@pytest.mark.parametrize("case", CASES)
def test_ebike_entry_trajectories(case: Case) -> None:
    events = run_rule(
        case.make_rule(**case.rule_kwargs), observations(case.actors, case.duration_s)
    )
    check(events, case)


def test_start_event_fields() -> None:
    events = run_rule(lift_rule(), observations([ebike(7, ENTERS)], 30))
    start = events[0]
    assert start.kind.value == "ebike_entry" and start.zone == "lift"
    assert start.track_ids == (7,) and start.labels == ("motorbike",)
    assert start.score == pytest.approx(0.8)
    assert start.box_norm is not None
    assert start.details["zone_type"] == "polygon"
    assert start.details["duration_s"] == pytest.approx(1.0, abs=0.21)
    assert events[-1].end_pts_s is not None and events[-1].ended_at is not None


def test_two_ebikes_at_once_are_two_hazards_with_distinct_ids() -> None:
    frames = observations(
        [
            ebike(1, still((140, 200, 260, 280), 0, 5)),
            ebike(2, still((360, 200, 480, 280), 0, 5)),
        ],
        5,
    )
    rule = lift_rule()
    starts = [e for obs in frames for e in rule.update(obs)]
    assert [e.track_ids for e in starts] == [(1,), (2,)]
    assert starts[0].hazard_id != starts[1].hazard_id
    assert rule.open_count == 2 and rule.active


def test_role_majority_decides_a_flickering_class() -> None:
    # Labelled bicycle in 1 of 3 frames: still an e-bike; and the other way round: a bicycle.
    mostly_ebike = ebike(1, still((260, 200, 380, 280), 0, 10))
    mostly_bicycle = ebike(2, still((140, 200, 260, 280), 0, 10))
    frames = observations([mostly_ebike, mostly_bicycle], 10)
    relabelled = []
    for i, obs in enumerate(frames):
        flip = i % 3 == 0
        roles = ("bicycle" if flip else "ebike", "ebike" if flip else "bicycle")
        relabelled.append(type(obs)(**{**_fields(obs), "roles": roles}))
    events = run_rule(lift_rule(), relabelled)
    assert {e.track_ids for e in events} == {(1,)}


def _fields(obs: Any) -> dict[str, Any]:
    return {name: getattr(obs, name) for name in obs.__dataclass_fields__}


def test_per_track_state_is_pruned() -> None:
    zone = LineZone("door", DOOR_LINE, [0.0, -1.0])
    rule = EbikeEntryRule("cam", "door", zone)
    actors = [
        ebike(1, box_path([(0, BELOW), (3, ABOVE)])),
        ebike(2, keyframes([(0, -120), (6, 700)], 200, EB_W, EB_H), role="person"),
    ]
    frames = observations(actors, 7) + observations([], 12, start_s=7)
    run_rule(rule, frames, close=False)
    assert rule.tracked_count == 0
    assert zone.tracked_count == 0
    assert not rule.active


def test_replay_gives_identical_events() -> None:
    frames = observations([ebike(1, ENTERS), ebike(2, still((360, 200, 480, 280), 0, 20))], 30)
    assert [e.to_dict() for e in run_rule(lift_rule(), frames)] == [
        e.to_dict() for e in run_rule(lift_rule(), frames)
    ]


def test_default_min_duration_depends_on_the_zone() -> None:
    assert lift_rule().min_duration_s == 1.0
    assert door_rule().min_duration_s == 0.0


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(
            lambda: EbikeEntryRule("cam", "lift", "lift"),  # type: ignore[arg-type]
            "PolygonZone or a LineZone",
            id="zone-not-a-zone",
        ),
        pytest.param(
            lambda: EbikeEntryRule("cam", "other", PolygonZone("lift", LIFT)),
            "not 'other'",
            id="zone-id-mismatch",
        ),
        pytest.param(lambda: lift_rule(min_duration_s=-1.0), "min_duration_s", id="negative-min"),
        pytest.param(lambda: lift_rule(clear_s=-1.0), "clear_s", id="negative-clear"),
        pytest.param(lambda: lift_rule(ebike_roles=()), "ebike_roles", id="no-roles"),
        pytest.param(lambda: lift_rule(reid_iou=0.0), "reid_iou", id="zero-reid-iou"),
    ],
)
def test_bad_settings_are_refused(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_observation_of_another_camera_is_refused() -> None:
    with pytest.raises(ValueError, match="camera 'other'"):
        lift_rule().update(observations([], 1, camera_id="other")[0])


def test_time_going_backwards_is_refused() -> None:
    rule = lift_rule()
    frames = observations([], 2)
    rule.update(frames[5])
    with pytest.raises(ValueError, match="backwards"):
        rule.update(frames[1])


def test_two_false_detections_and_a_coasting_track_do_not_raise() -> None:
    """Regression (real indoor clip, the lift model): a tall table beside a person scored 0.95
    "e-bike" in two detector frames; the tracker coasted the track on for a second, and the
    rule raised an entry once min_duration_s had passed. A lift-car e-bike is confirmed by
    detections in ``min_detections`` (3) frames, not by a track's age."""
    box = (260, 200, 380, 280)
    ghost = ebike(1, still(box, 0, 2.0), coasting=lambda t: t >= 0.35)  # detected at 0.0, 0.2
    assert starts_of(run_rule(lift_rule(min_duration_s=0.5), observations([ghost], 3.0))) == []
    real = ebike(1, still(box, 0, 2.0), coasting=lambda t: t >= 0.55)  # 0.0, 0.2, 0.4
    (start,) = starts_of(run_rule(lift_rule(min_duration_s=0.5), observations([real], 3.0)))
    assert start.start_pts_s == pytest.approx(0.6)
    # a door line keeps raising on the crossing itself
    assert lift_rule().min_detections == 3 and door_rule().min_detections == 1
    with pytest.raises(ValueError, match="min_detections must be >= 1"):
        lift_rule(min_detections=0)


def starts_of(events: Sequence[HazardEvent]) -> list[HazardEvent]:
    return [e for e in events if e.phase is HazardPhase.START]
