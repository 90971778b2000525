"""Tracker: trajectory tables of the cases that break trackers in estates' cameras.

Each scenario describes objects as piecewise-linear box paths in stream time, with the intervals
when the detector misses them, their class per detection and their confidence. The scenario is
run through the tracker; every detection remembers which object made it, so the test can tell
which ids each object got.
"""

from __future__ import annotations

import math
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from vision.tracker import Tracker, TrackerSettings, box_iou_xyxy
from vision.types import Detections, Tracks

WIDTH_PX, HEIGHT_PX = 1280, 720
CAR, TRUCK, PERSON, HANDBAG = 2, 7, 0, 26

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Obj:
    """One object of a scenario.

    Attributes:
        name: what the assertions call it.
        path: waypoints (t_s, (x1, y1, x2, y2)); the box is interpolated between them, held
            before the first and after the last; the object exists from the first to the last.
        missed: intervals [a, b) of stream time when the detector does not report it.
        classes: class ids of its detections, cycled per detection.
        confidence: score of its detections.
        box_at: optional override of the reported box (t_s, box) -> box (occlusion, clipping).
    """

    name: str
    path: Sequence[tuple[float, Box]]
    missed: Sequence[tuple[float, float]] = ()
    classes: Sequence[int] = (CAR,)
    confidence: float = 0.8
    box_at: Callable[[float, np.ndarray], np.ndarray | None] | None = None

    def box(self, t_s: float) -> np.ndarray | None:
        times = [p[0] for p in self.path]
        if t_s < times[0] - 1e-9 or t_s > times[-1] + 1e-9:
            return None
        if any(a <= t_s < b for a, b in self.missed):
            return None
        boxes = np.array([p[1] for p in self.path], np.float64)
        box = np.array([np.interp(t_s, times, boxes[:, k]) for k in range(4)])
        if self.box_at is not None:
            return self.box_at(t_s, box)
        return box


@dataclass
class Run:
    """What the tracker said, per object: the ids of the rows fed by its detections."""

    ids: dict[str, list[int]] = field(default_factory=dict)
    detected: dict[str, int] = field(default_factory=dict)  # detections made of each object
    coasting: dict[int, list[float]] = field(default_factory=dict)  # id -> times coasting
    outputs: list[Tracks] = field(default_factory=list)
    ended: list[tuple[float, tuple[int, ...]]] = field(default_factory=list)

    def distinct(self, name: str) -> set[int]:
        return set(self.ids.get(name, []))


def clip_to_frame(box: np.ndarray) -> np.ndarray | None:
    x1, y1 = max(box[0], 0.0), max(box[1], 0.0)
    x2, y2 = min(box[2], WIDTH_PX), min(box[3], HEIGHT_PX)
    if x2 - x1 < 4 or y2 - y1 < 4:
        return None
    return np.array([x1, y1, x2, y2])


def run_scenario(
    objects: Sequence[Obj], times_s: Sequence[float], tracker: Tracker | None = None
) -> Run:
    tracker = tracker or Tracker()
    run = Run()
    counts = dict.fromkeys((o.name for o in objects), 0)
    for t_s in times_s:
        rows, owners = [], []
        for obj in objects:
            box = obj.box(t_s)
            box = None if box is None else clip_to_frame(box)
            if box is None:
                continue
            cls = obj.classes[counts[obj.name] % len(obj.classes)]
            counts[obj.name] += 1
            run.detected[obj.name] = counts[obj.name]
            rows.append((*box, obj.confidence, cls))
            owners.append(obj.name)
        dets = Detections.empty()
        if rows:
            arr = np.array(rows, np.float64)
            dets = Detections(arr[:, :4], arr[:, 4], arr[:, 5].astype(np.int32))
        tracks = tracker.update(dets, t_s)
        run.outputs.append(tracks)
        run.ended.append((t_s, tracker.ended_track_ids))
        for tid, d in zip(tracks.track_id.tolist(), tracks.det_index.tolist(), strict=True):
            if d >= 0:
                run.ids.setdefault(owners[d], []).append(tid)
            else:
                run.coasting.setdefault(tid, []).append(t_s)
    return run


def frames(duration_s: float, fps: float = 5.0, start_s: float = 0.0) -> list[float]:
    n = round(duration_s * fps)
    return [round(start_s + k / fps, 6) for k in range(n + 1)]


# ----- scenario building blocks -------------------------------------------------------------------

PARKED: Box = (500, 300, 700, 420)  # a parked car, 200 x 120 px


def parked_car(missed: Sequence[tuple[float, float]] = (), until_s: float = 12.0) -> Obj:
    return Obj("parked", [(0.0, PARKED), (until_s, PARKED)], missed=missed)


def passing_car(
    start_s: float = 2.0, speed_px_s: float = 300.0, y: tuple[float, float] = (330, 460)
) -> Obj:
    """A car driving left to right in front of the parked one (lower in the picture)."""
    duration_s = (WIDTH_PX + 400) / speed_px_s
    return Obj(
        "passing",
        [(start_s, (-200, y[0], 20, y[1])), (start_s + duration_s, (1480, y[0], 1700, y[1]))],
    )


def overlap_interval(a: Obj, b: Obj, times_s: Sequence[float]) -> list[float]:
    """Times at which the true boxes of ``a`` and ``b`` overlap."""
    out = []
    for t_s in times_s:
        ba, bb = a.box(t_s), b.box(t_s)
        if ba is not None and bb is not None and box_iou_xyxy(ba, bb)[0, 0] > 0:
            out.append(t_s)
    return out


def truncated_by(occluder: Obj) -> Callable[[float, np.ndarray], np.ndarray | None]:
    """The visible part of a box partly hidden by ``occluder`` (None when mostly hidden)."""

    def visible(t_s: float, box: np.ndarray) -> np.ndarray | None:
        front = occluder.box(t_s)
        if front is None or front[2] <= box[0] or front[0] >= box[2]:
            return box
        left, right = front[0] - box[0], box[2] - front[2]  # visible widths on either side
        if max(left, right) < 0.3 * (box[2] - box[0]):
            return None
        if left >= right:
            return np.array([box[0], box[1], front[0], box[3]])
        return np.array([front[2], box[1], box[2], box[3]])

    return visible


def crossing_people(gap: Sequence[tuple[float, float]] = ()) -> list[Obj]:
    """Two people walking towards each other along the same row, crossing at t = 3 s."""
    a = Obj(
        "walker_a",
        [(0.0, (200, 300, 270, 480)), (6.0, (1000, 300, 1070, 480))],
        classes=(PERSON,),
    )
    b = Obj(
        "walker_b",
        [(0.0, (1000, 310, 1070, 490)), (6.0, (200, 310, 270, 490))],
        classes=(PERSON,),
        missed=gap,
    )
    return [a, b]


def entering_from_left() -> Obj:
    """A car driving in through the left border: its box is clipped at x = 0 for a while."""
    return Obj("entering", [(0.0, (-220, 400, 0, 520)), (4.0, (380, 400, 600, 520))])


def at_right_border() -> Obj:
    """A car parked half out of the picture: its box is clipped at x = width throughout."""
    return Obj("border", [(0.0, (1180, 200, 1380, 320)), (10.0, (1180, 200, 1380, 320))])


def uneven_times() -> list[float]:
    """Detections at uneven gaps (dropped frames, a varying detector rate)."""
    gaps = [0.04, 0.2, 0.6, 0.1, 0.2, 0.9, 0.04, 0.04, 0.3, 1.0, 0.2, 0.5, 0.2]
    return [round(float(v), 6) for v in np.cumsum([0.0, *gaps * 2])]


PEOPLE_CROSSING = crossing_people()
CAR_PASSING = passing_car()
PARKED_TRUNCATED = Obj("parked", [(0.0, PARKED), (12.0, PARKED)], box_at=truncated_by(CAR_PASSING))


@dataclass(frozen=True)
class Case:
    objects: Sequence[Obj]
    times_s: Sequence[float]
    #: object name -> number of distinct ids it must get (1: kept its id throughout)
    ids: dict[str, int]
    #: most ids the tracker may create in total
    max_ids: int


CASES = {
    "parked-car-detector-gap-3s": Case(
        # drives in, parks at t = 2 s, is not detected from 6 s to 9 s
        [Obj("car", [(0.0, (0, 300, 200, 420)), (2.0, PARKED), (14.0, PARKED)], missed=[(6, 9)])],
        frames(14),
        {"car": 1},
        1,
    ),
    "parked-car-gap-at-1fps-detection": Case(
        [parked_car(missed=[(4, 8.5)])], frames(12, fps=1.0), {"parked": 1}, 1
    ),
    "car-passes-parked-car-which-is-missed": Case(
        [
            parked_car(
                missed=[
                    (t, t + 0.2) for t in overlap_interval(parked_car(), CAR_PASSING, frames(12))
                ]
            ),
            CAR_PASSING,
        ],
        frames(12),
        {"parked": 1, "passing": 1},
        2,
    ),
    "car-passes-parked-car-which-is-seen-in-part": Case(
        [PARKED_TRUNCATED, CAR_PASSING], frames(12), {"parked": 1, "passing": 1}, 2
    ),
    "car-passes-parked-car-both-seen-whole": Case(
        [parked_car(), CAR_PASSING], frames(12), {"parked": 1, "passing": 1}, 2
    ),
    "car-passes-parked-car-overlapping-a-lot": Case(
        [parked_car(), passing_car(y=(310, 440), speed_px_s=250.0)],
        frames(12),
        {"parked": 1, "passing": 1},
        2,
    ),
    "car-truck-class-flicker": Case(
        [
            Obj(
                "car",
                [(0.0, (100, 300, 300, 420)), (8.0, (900, 300, 1100, 420))],
                classes=(CAR, TRUCK, CAR, CAR, TRUCK, TRUCK, CAR),
            )
        ],
        frames(8),
        {"car": 1},
        1,
    ),
    "handbag-track-does-not-jump-onto-a-person": Case(
        # As in the ABODA clip: a carried bag, then a crouching person's box over where it was.
        [
            Obj(
                "bag",
                [(0.0, (423, 347, 462, 391)), (2.0, (446, 340, 489, 388))],
                classes=(HANDBAG,),
            ),
            Obj(
                "crouching",
                [(2.2, (446, 334, 499, 480)), (5.0, (458, 354, 505, 480))],
                classes=(PERSON,),
            ),
        ],
        frames(5),
        {"bag": 1, "crouching": 1},
        2,
    ),
    "two-people-cross-both-seen": Case(
        PEOPLE_CROSSING, frames(6), {"walker_a": 1, "walker_b": 1}, 2
    ),
    "two-people-cross-one-hidden-0.6s": Case(
        crossing_people(gap=[(2.7, 3.3)]), frames(6), {"walker_a": 1, "walker_b": 1}, 2
    ),
    "two-people-cross-at-25fps": Case(
        PEOPLE_CROSSING, frames(6, fps=25.0), {"walker_a": 1, "walker_b": 1}, 2
    ),
    "car-enters-through-left-border": Case([entering_from_left()], frames(6), {"entering": 1}, 1),
    "car-parked-across-right-border": Case([at_right_border()], frames(10), {"border": 1}, 1),
    "person-with-dropped-frames": Case(
        [
            Obj(
                "walker",
                [(0.0, (100, 300, 160, 460)), (8.0, (1100, 300, 1160, 460))],
                classes=(PERSON,),
            )
        ],
        uneven_times(),
        {"walker": 1},
        1,
    ),
    "fast-car-at-5fps": Case(
        # 1000 px/s: at 5 fps its boxes 0.2 s apart do not overlap at all
        [Obj("fast", [(0.0, (0, 300, 200, 420)), (1.0, (1000, 300, 1200, 420))])],
        frames(1),
        {"fast": 1},
        1,
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_trajectory_table(case: Case) -> None:
    run = run_scenario(case.objects, case.times_s)
    for name, expected in case.ids.items():
        got = run.distinct(name)
        assert len(got) == expected, f"{name} got ids {sorted(got)} over {run.ids.get(name)}"
        # Every detection of the object fed its track (all objects here are confirmed at once).
        assert len(run.ids[name]) == run.detected[name], f"{name}: detections left unmatched"
    all_ids = {int(t) for out in run.outputs for t in out.track_id}
    assert len(all_ids) <= case.max_ids, f"{len(all_ids)} ids: {sorted(all_ids)}"
    # Ids never repeat between objects: two objects never share one.
    owners: dict[int, str] = {}
    for name, ids in run.ids.items():
        for tid in set(ids):
            assert owners.setdefault(tid, name) == name, f"id {tid} on {owners[tid]} and {name}"


def test_parked_car_stays_present_through_a_detector_gap_at_its_last_box() -> None:
    car = parked_car(missed=[(5.0, 8.0)])
    run = run_scenario([car], frames(12))
    (tid,) = run.distinct("parked")
    gap_times = [t for t in frames(12) if 5.0 <= t < 8.0]
    assert run.coasting[tid] == gap_times  # present (coasting) in every frame of the gap
    for t_s, out in zip(frames(12), run.outputs, strict=True):
        if 5.0 <= t_s < 8.0:
            assert out.det_index.tolist() == [-1]
            np.testing.assert_allclose(out.detections.xyxy[0], PARKED, atol=1e-3)
            assert 0 < out.detections.confidence[0] < 0.8  # decayed, not gone


def test_parked_car_keeps_its_box_while_a_passing_car_hides_it() -> None:
    missed = [(t, t + 0.2) for t in overlap_interval(parked_car(), CAR_PASSING, frames(12))]
    run = run_scenario([parked_car(missed=missed), CAR_PASSING], frames(12))
    (parked_id,) = run.distinct("parked")
    for t_s, out in zip(frames(12), run.outputs, strict=True):
        row = out.track_id.tolist().index(parked_id)
        np.testing.assert_allclose(out.detections.xyxy[row], PARKED, atol=1e-3, err_msg=f"{t_s}")


def test_class_flicker_reports_the_majority_class() -> None:
    # Detected as truck, car, car, truck, car, car, truck, ...: reported as a car from the second
    # hit on, also on the frames where the detector says truck.
    flicker = (TRUCK, CAR, CAR)
    car = Obj("car", [(0.0, (100, 300, 300, 420)), (4.0, (500, 300, 700, 420))], classes=flicker)
    run = run_scenario([car], frames(4))
    reported = [int(out.detections.class_id[0]) for out in run.outputs]
    assert reported == [TRUCK] + [CAR] * (len(run.outputs) - 1)


def test_duplicate_detections_of_one_vehicle_start_one_track() -> None:
    # Per-class NMS: the same vehicle as "truck 0.67" and "car 0.48".
    tracker = Tracker()
    for k in range(6):
        box = np.array([[100 + 10 * k, 300, 300 + 10 * k, 420]] * 2, np.float32)
        box[1] += [2, -1, -3, 2]
        tracks = tracker.update(
            Detections(box, np.array([0.67, 0.48]), np.array([TRUCK, CAR])), k * 0.2
        )
    assert tracks.track_id.tolist() == [1]
    assert tracker.track_count == 1


# ----- lifecycle: confirmation, coasting, expiry, pruning -----------------------------------------


def one(box: Box, confidence: float = 0.8, cls: int = CAR) -> Detections:
    return Detections(np.array([box], np.float32), np.array([confidence]), np.array([cls]))


@pytest.mark.parametrize(
    ("confidences", "expected_ids"),
    [
        ((0.9,), [[1]]),
        ((0.45,), [[]]),
        ((0.45, 0.45), [[], [1]]),
        ((0.45, None, None, None, None, None, None, 0.45), [[]] * 8),
        ((0.3, 0.3, 0.3), [[], [], []]),
        ((0.9, 0.2, 0.2, 0.2), [[1], [1], [1], [1]]),
    ],
    ids=[
        "confident-confirmed-at-once",
        "single-weak-hit-not-reported",
        "second-hit-confirms",
        "tentative-dropped-after-1s-without-hit",
        "low-score-never-starts-a-track",
        "low-score-extends-an-active-track",
    ],
)
def test_confirmation(confidences: Sequence[float | None], expected_ids: list[list[int]]) -> None:
    tracker = Tracker()
    got = []
    for k, conf in enumerate(confidences):
        dets = (
            Detections.empty() if conf is None else one((100 + 4 * k, 100, 200 + 4 * k, 200), conf)
        )
        tracks = tracker.update(dets, k * 0.2)
        got.append(
            [tid for tid, d in zip(tracks.track_id, tracks.det_index, strict=True) if d >= 0]
        )
    assert got == expected_ids


def test_moving_track_coasts_on_its_prediction_then_ends_after_lost_s() -> None:
    tracker = Tracker(TrackerSettings(lost_s=1.0))
    for k in range(10):  # 100 px/s to the right
        tracker.update(one((100 + 20 * k, 300, 160 + 20 * k, 460)), k * 0.2)
    last_x1 = 100 + 20 * 9
    coast = tracker.update(Detections.empty(), 2.6)  # 0.8 s after the last hit
    assert coast.det_index.tolist() == [-1]
    assert coast.detections.xyxy[0, 0] == pytest.approx(last_x1 + 80, abs=10)  # predicted
    assert coast.detections.confidence[0] == pytest.approx(0.8 * 0.2, abs=1e-4)
    gone = tracker.update(Detections.empty(), 2.9)  # 1.1 s after the last hit
    assert len(gone) == 0 and tracker.ended_track_ids == (1,) and tracker.track_count == 0
    tracker.update(Detections.empty(), 3.0)
    assert tracker.ended_track_ids == ()  # reported once


@pytest.mark.parametrize(
    ("gap_s", "same_id"),
    [(1.4, True), (1.7, False)],
    ids=["moving-gap-within-lost_s", "moving-gap-beyond-lost_s"],
)
def test_moving_gap_is_measured_in_stream_time(gap_s: float, same_id: bool) -> None:
    tracker = Tracker()
    for k in range(5):
        tracker.update(one((100 + 10 * k, 300, 160 + 10 * k, 460)), k * 0.5)
    x = 140 + 20 * gap_s
    tracks = tracker.update(one((x, 300, x + 60, 460)), 2.0 + gap_s)
    assert (tracks.track_id.tolist() == [1]) is same_id


@pytest.mark.parametrize(
    ("seen_at_rest_s", "kept_s"),
    [(20.0, 10.0), (3.0, 6.0), (0.6, 1.5)],
    ids=["long-at-rest-capped-by-stationary_lost_s", "kept-twice-as-long-as-seen", "lost_s-floor"],
)
def test_stationary_track_is_kept_in_proportion_to_its_time_at_rest(
    seen_at_rest_s: float, kept_s: float
) -> None:
    tracker = Tracker(TrackerSettings(stationary_lost_s=10.0))
    times = frames(seen_at_rest_s)
    for t_s in times:
        tracker.update(one(PARKED), t_s)
    last = times[-1]
    kept = tracker.update(Detections.empty(), last + kept_s - 0.05)
    assert kept.track_id.tolist() == [1] and kept.det_index.tolist() == [-1]
    np.testing.assert_allclose(kept.detections.xyxy[0], PARKED)
    assert tracker.update(Detections.empty(), last + kept_s + 0.05).track_id.tolist() == []
    assert tracker.ended_track_ids == (1,) and tracker.track_count == 0


def test_car_driving_away_from_a_parking_spot_is_no_longer_stationary() -> None:
    # Parked 4 s, then drives off at 200 px/s and is lost: it must not linger 30 s at rest.
    car = Obj("car", [(0.0, PARKED), (4.0, PARKED), (6.0, (900, 300, 1100, 420))])
    tracker = Tracker()
    run_scenario([car], frames(6), tracker)
    assert tracker.update(Detections.empty(), 6.0 + 1.6).track_id.tolist() == []
    assert tracker.ended_track_ids == (1,)


def test_memory_does_not_grow_over_a_long_run_of_short_tracks() -> None:
    tracker = Tracker()
    rng = np.random.default_rng(7)
    ended = last_id = 0  # plain counters: the test itself must not grow while traced

    def run(first: int, last: int) -> None:
        # 5 fps; for 1 s in every 2 s, each detection is a new object somewhere else. The run
        # ends with 2 s of nothing, so every track has ended when it returns.
        nonlocal ended, last_id
        for k in range(first, last + 10):
            x, y = rng.uniform(0, 1100), rng.uniform(0, 600)
            busy = k < last and k % 10 < 5
            dets = one((x, y, x + 100, y + 80)) if busy else Detections.empty()
            ids = tracker.update(dets, k * 0.2).track_id
            last_id = max(last_id, int(ids.max(initial=0)))
            ended += len(tracker.ended_track_ids)
            assert tracker.track_count <= 6
        assert tracker.track_count == 0

    run(0, 1000)  # warm up: caches, interned values, numpy internals
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        run(1010, 2010)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ended == last_id > 900  # ~1000 objects, every track ended (ids are 1, 2, ...)
    # One leaked small object per ended track would be > 25 kB here.
    assert after - before < 8 * 1024, f"grew by {after - before} bytes over 1000 updates"


def test_ended_ids_are_reported_exactly_once_each() -> None:
    tracker = Tracker()
    ended: list[int] = []
    started: set[int] = set()
    for k in range(600):
        t_s = k * 0.2
        slot = k % 20
        dets = (
            one((50 * (k // 20 % 20), 100, 50 * (k // 20 % 20) + 60, 200))
            if slot < 5
            else Detections.empty()
        )
        started |= set(tracker.update(dets, t_s).track_id.tolist())
        ended += tracker.ended_track_ids
    ended += tracker.update(Detections.empty(), 600 * 0.2 + 60).track_id.tolist() or []
    ended += tracker.ended_track_ids
    assert sorted(ended) == sorted(started) and len(ended) == len(set(ended))


def test_deterministic() -> None:
    objects = [*crossing_people(gap=[(2.7, 3.3)]), parked_car()]
    a = run_scenario(objects, frames(6))
    b = run_scenario(objects, frames(6))
    for x, y in zip(a.outputs, b.outputs, strict=True):
        np.testing.assert_array_equal(x.track_id, y.track_id)
        np.testing.assert_array_equal(x.detections.xyxy, y.detections.xyxy)


def test_reset_reports_the_ids_it_dropped_and_never_reuses_them() -> None:
    tracker = Tracker()
    tracker.update(one(PARKED), 0.0)
    tracker.reset()
    assert tracker.ended_track_ids == (1,) and tracker.track_count == 0
    assert tracker.update(one(PARKED), 0.0).track_id.tolist() == [2]


# ----- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("detections", "pts_s", "error", "message"),
    [
        ([[0, 0, 1, 1]], 1.0, TypeError, "must be vision.types.Detections, got list"),
        (Detections.empty(), float("nan"), ValueError, "pts_s must be a finite number"),
        (Detections.empty(), 0.5, ValueError, r"pts_s went backwards: 0.5 after 1.0"),
    ],
    ids=["not-detections", "nan-pts", "pts-backwards"],
)
def test_update_rejects_bad_input(
    detections: object, pts_s: float, error: type[Exception], message: str
) -> None:
    tracker = Tracker()
    tracker.update(Detections.empty(), 1.0)
    with pytest.raises(error, match=message):
        tracker.update(detections, pts_s)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"high_confidence": 1.5}, r"high_confidence must lie in \[0, 1\], got 1.5"),
        ({"lost_s": 0.0}, "lost_s must be > 0, got 0.0"),
        ({"min_hits": 0}, "min_hits must be an integer >= 1, got 0"),
        ({"low_confidence": 0.6}, r"low_confidence \(0.6\) must not exceed high_confidence"),
        ({"new_track_confidence": 0.2}, r"new_track_confidence \(0.2\) must be at least"),
        ({"moving_speed": 0.05}, r"moving_speed \(0.05\) must be at least stationary_speed"),
        ({"stationary_lost_s": 1.0}, r"stationary_lost_s \(1.0\) must be at least lost_s"),
        ({"match_iou": float("nan")}, "match_iou must be a finite number"),
    ],
    ids=[
        "confidence-above-1",
        "zero-lost",
        "zero-min-hits",
        "low-above-high",
        "new-below-high",
        "moving-below-stationary",
        "stationary-below-lost",
        "nan",
    ],
)
def test_settings_reject_bad_values(overrides: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrackerSettings(**overrides)  # type: ignore[arg-type]


def test_tracker_rejects_settings_of_the_wrong_type() -> None:
    with pytest.raises(TypeError, match="settings must be a TrackerSettings, got dict"):
        Tracker({"lost_s": 1.0})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
        ((0, 0, 10, 10), (5, 0, 15, 10), 1 / 3),
        ((0, 0, 10, 10), (20, 20, 30, 30), 0.0),
        ((0, 0, 0, 0), (0, 0, 0, 0), 0.0),
    ],
    ids=["same", "half-shift", "disjoint", "both-empty"],
)
def test_box_iou(a: Box, b: Box, expected: float) -> None:
    assert box_iou_xyxy(np.array([a]), np.array([b]))[0, 0] == pytest.approx(expected)


# ----- speed --------------------------------------------------------------------------------------


def moving_crowd(n: int, steps: int) -> list[Detections]:
    """``n`` objects on a grid drifting right; jitter from a seeded generator."""
    rng = np.random.default_rng(3)
    cols = math.ceil(math.sqrt(n))
    base = np.array([[40 + 120 * (i % cols), 40 + 90 * (i // cols)] for i in range(n)], np.float64)
    out = []
    for k in range(steps):
        xy = base + np.array([4.0 * k, 0.0]) + rng.normal(0, 1.0, base.shape)
        boxes = np.concatenate([xy, xy + np.array([60.0, 70.0])], axis=1)
        out.append(Detections(boxes, np.full(n, 0.8), np.zeros(n, np.int32)))
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("n", "budget_us"), [(10, 1500), (50, 5000)], ids=["10-dets", "50-dets"])
def test_update_speed(n: int, budget_us: float) -> None:
    frames_ = moving_crowd(n, 200)
    best = math.inf
    for _ in range(3):
        tracker = Tracker()
        for k, dets in enumerate(frames_[:20]):
            tracker.update(dets, k * 0.2)
        start = time.perf_counter()
        for k, dets in enumerate(frames_[20:], start=20):
            tracks = tracker.update(dets, k * 0.2)
        best = min(best, (time.perf_counter() - start) / (len(frames_) - 20) * 1e6)
        assert len(tracks) == n and tracker.track_count == n
    print(f"tracker update with {n} detections: {best:.0f} us")
    assert best < budget_us
