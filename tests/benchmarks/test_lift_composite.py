"""The lift dataset's synthetic ceiling-view composites (benchmarks/lift_composite.py): the label
of a pasted object is where the object is, held-back frames are never used, the output is
reproducible from its seed, and the real builder's composites come from train frames only."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from benchmarks.lift_composite import (
    BICYCLE,
    EBIKE,
    CompositeSettings,
    Frame,
    Shape,
    eligible,
    make_composites,
    paste,
)
from tests.support.assets import SHARED_ASSETS, require_shared

W, H = 640, 360


def _frame(
    source: str,
    split: str,
    camera: str,
    time: int,
    shapes: tuple[Shape, ...],
    grey: int = 120,
    colour: tuple[int, int, int] = (40, 40, 220),
) -> Frame:
    """A flat grey frame with each shape filled in ``colour``."""
    image = np.full((H, W, 3), grey, np.uint8)
    for shape in shapes:
        pts = np.round(shape.points * np.array([W, H])).astype(np.int32)
        cv2.fillPoly(image, [pts], colour)
    return Frame(source, split, camera, time, image, shapes)


def _triangle(cls: int, x: float, y: float, w: float, h: float) -> Shape:
    """A triangle (not a rectangle: the cut-out follows the polygon) standing at x..x+w, y+h."""
    pts = [[x, y + h], [x + w, y + h], [x + w * 0.3, y]]
    return Shape(cls, np.asarray(pts, np.float32))


def _changed_box(before: np.ndarray, after: np.ndarray, threshold: int = 40) -> np.ndarray:
    diff = np.abs(after.astype(np.int16) - before.astype(np.int16)).max(axis=2)
    ys, xs = np.nonzero(diff > threshold)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


@pytest.mark.parametrize("left", [0.40, 0.0])  # 0.0: touching the frame edge, a one-sided cut
@pytest.mark.parametrize("seed", range(6))
def test_the_pasted_box_is_where_the_object_landed(seed: int, left: float) -> None:
    source = _frame("src", "train", "A", 1, (_triangle(EBIKE, left, 0.45, 0.20, 0.35),))
    background = np.full((H, W, 3), 90, np.uint8)
    canvas = background.copy()
    settings = CompositeSettings(shift_x=0.15, shift_y=0.1)
    placed = paste(
        canvas, source, 0, np.random.default_rng(seed), np.zeros((0, 4), np.float32), settings,
        grey=False,
    )  # fmt: skip
    assert placed is not None
    assert placed.cls == EBIKE and placed.source == "src"
    # The object's pixels (red on a grey that the colour match keeps grey) span the label box;
    # the margin cut with it took the new floor's grey (context-to-context colour transfer).
    found = _changed_box(background, canvas)
    np.testing.assert_allclose(found, np.asarray(placed.box_xyxy), atol=2.5)
    height = placed.box_xyxy[3] - placed.box_xyxy[1]
    assert 0.5 * 0.35 * H < height < 1.7 * 0.35 * H  # plausible scale of the same view


def test_a_paste_does_not_hide_a_labelled_box() -> None:
    source = _frame("src", "train", "A", 1, (_triangle(BICYCLE, 0.4, 0.4, 0.3, 0.5),))
    canvas = np.full((H, W, 3), 90, np.uint8)
    # A labelled box just where the bicycle stood (and, without shift or mirror, must stand).
    labelled = np.array([[0.4 * W, 0.4 * H, 0.7 * W, 0.9 * H]], np.float32)
    settings = CompositeSettings(shift_x=0.0, shift_y=0.0, mirror_probability=0.0, max_cover=0.3)
    placed = paste(canvas, source, 0, np.random.default_rng(0), labelled, settings, grey=False)
    assert placed is None  # the only place it may go covers the labelled box
    assert (canvas == 90).all()  # and nothing was drawn


def _scene() -> list[Frame]:
    """Train, val and held-back frames of camera A (held back from time 100), plus a frame
    marked train that lies in camera A's held-back time range."""
    ebike = _triangle(EBIKE, 0.35, 0.5, 0.25, 0.4)
    bike = _triangle(BICYCLE, 0.45, 0.55, 0.2, 0.35)
    frames = [
        _frame("train-ebike-1", "train", "A", 10, (ebike,)),
        _frame("train-ebike-2", "train", "A", 20, (ebike,), colour=(220, 40, 40)),
        _frame("train-bike", "train", "A", 30, (bike,), grey=140),
        _frame("train-empty", "train", "A", 40, (), grey=100),
        _frame("val-empty", "val", "A", 60, (), grey=70),
        _frame("val-ebike", "val", "A", 70, (ebike,)),
    ]
    for k in range(6):  # held back: more frames than train, so a leak would show
        frames.append(_frame(f"test-ebike-{k}", "test", "A", 100 + k, (ebike,)))
        frames.append(_frame(f"test-empty-{k}", "test", "A", 110 + k, (), grey=60))
    frames.append(_frame("late-train-empty", "train", "A", 150, (), grey=50))
    frames.append(_frame("late-train-bike", "train", "A", 160, (bike,), grey=50))
    return frames


def test_held_back_frames_and_their_time_range_are_never_used() -> None:
    frames = _scene()
    allowed = {f.source for f in eligible(frames)}
    assert allowed == {"train-ebike-1", "train-ebike-2", "train-bike", "train-empty"}
    made = make_composites(frames, CompositeSettings(count=40, seed=3))
    assert len(made) == 40
    used = {c.background for c in made} | {p.source for c in made for p in c.pasted}
    assert used <= allowed
    assert {c.background for c in made} == {"train-bike", "train-empty"}  # no e-bike in them
    assert any(p.cls == EBIKE for c in made for p in c.pasted)
    assert any(p.cls == BICYCLE for c in made for p in c.pasted)


def test_composites_are_reproducible_from_their_seed() -> None:
    frames = _scene()
    settings = CompositeSettings(count=8, seed=5)
    first, second = make_composites(frames, settings), make_composites(frames, settings)
    other = make_composites(frames, replace(settings, seed=6))
    assert [c.label_lines for c in first] == [c.label_lines for c in second]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(first, second, strict=True))
    assert [c.label_lines for c in first] != [c.label_lines for c in other]


def test_labels_of_a_composite_keep_the_background_boxes_and_add_the_pasted_ones() -> None:
    made = make_composites(_scene(), CompositeSettings(count=20, seed=1))
    for composite in made:
        classes = [int(line.split()[0]) for line in composite.label_lines]
        from_background = 1 if composite.background == "train-bike" else 0
        assert len(classes) == from_background + len(composite.pasted)
        assert len(composite.pasted) >= 1
        for line in composite.label_lines:
            _, cx, cy, w, h = (float(v) for v in line.split())
            assert 0 < w <= 1 and 0 < h <= 1
            assert cx - w / 2 >= 0 and cx + w / 2 <= 1.0001
            assert cy - h / 2 >= 0 and cy + h / 2 <= 1.0001


def test_a_scene_without_cut_outs_is_refused() -> None:
    frames = [f for f in _scene() if f.source != "train-bike"]
    with pytest.raises(ValueError, match="bicycle"):
        make_composites(frames, CompositeSettings(count=1))


def test_the_builders_composites_use_train_frames_only() -> None:
    """On the real lift images: every background and cut-out of the composites is a train
    frame, and none is a held-back one or of a held-back camera's held-back time range."""
    from benchmarks.lift_dataset import collect, composites

    require_shared(SHARED_ASSETS / "images" / "ebike_elevator_labeled_2", "the lift dataset")
    items = collect(SHARED_ASSETS, 20, 5)
    made, record = composites(items, CompositeSettings(count=6, seed=0))
    assert record["count"] == 6 and len(made) == 6
    split_of = {i.source: i.split for i in items}
    held_from: dict[str, int] = {}
    for item in items:
        if item.split == "test" and item.time is not None:
            held_from[item.camera] = min(held_from.get(item.camera, item.time), item.time)
    time_of = {i.source: (i.camera, i.time) for i in items}
    records = record["items"]
    assert isinstance(records, list)
    used = {r["background"] for r in records} | {p["source"] for r in records for p in r["pasted"]}
    for source in used:
        assert split_of[source] == "train", source
        camera, time = time_of[source]
        assert camera not in held_from or (time is not None and time < held_from[camera])
    assert all(m.split == "train" for m in made)
