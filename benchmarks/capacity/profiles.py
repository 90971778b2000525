"""The camera profiles `hazardwatch bench` measures: what each camera sends and what runs on it.

A profile is what an installer would recognise: a 1080p lane camera detecting at 5 fps, a lift-car
camera with the lift e-bike model, an upward facade camera analysed for motion at full rate.
``mixed`` is a site: 4 lane, 2 lift and 2 facade cameras, repeated to the camera count.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from pipelines.assets import PRODUCT_ASSETS_DIR

# COCO label -> role (the scenario generator's mapping; VOC spellings as in coco80.names)
COCO_CLASSES = {
    "car": "vehicle",
    "truck": "vehicle",
    "bus": "vehicle",
    "motorbike": "ebike",
    "bicycle": "bicycle",
    "person": "person",
}
COCO_MODEL = PRODUCT_ASSETS_DIR / "models" / "yolox_nano_coco_416.onnx"
COCO_LABELS = PRODUCT_ASSETS_DIR / "models" / "coco80.names"
LIFT_MODEL = PRODUCT_ASSETS_DIR / "models" / "yolox_nano_lift_ebike_416.onnx"


class ProfileName(StrEnum):
    """What ``--profile`` accepts."""

    LANE = "lane"
    LIFT = "lift"
    FACADE = "facade"
    MIXED = "mixed"


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """An H.264 stream as a camera sends it: size, rate, bitrate, keyframe interval, no B-frames."""

    width_px: int
    height_px: int
    fps: int
    bitrate_kbps: int
    gop_s: float = 2.0

    @property
    def size(self) -> str:
        return f"{self.width_px}x{self.height_px}"

    @property
    def gop_frames(self) -> int:
        return round(self.gop_s * self.fps)


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """A detector block of the run config (``detectors.NAME``)."""

    name: str
    model: Path
    input_size: int
    classes: dict[str, str]
    labels_file: Path | None = None
    score_threshold: float | None = None

    def config(self) -> dict[str, Any]:
        block: dict[str, Any] = {
            "model": str(self.model),
            "input_size": self.input_size,
            "family": "yolox",
            "classes": dict(self.classes),
        }
        if self.labels_file is not None:
            block["labels_file"] = str(self.labels_file)
        if self.score_threshold is not None:
            block["score_threshold"] = self.score_threshold
        return block


COCO_DETECTOR = DetectorSpec("coco", COCO_MODEL, 416, COCO_CLASSES, labels_file=COCO_LABELS)
# The lift model's e-bike (COCO's motorbike slot retrained on lift CCTV) and person; at 0.5, not
# its real-lift operating 0.89: the generated lift's e-bike is a COCO photo (as in the demo).
LIFT_DETECTOR = DetectorSpec(
    "lift",
    LIFT_MODEL,
    416,
    {"ebike": "ebike", "bicycle": "bicycle", "person": "person"},
    score_threshold=0.5,
)


@dataclass(frozen=True, slots=True)
class CameraProfile:
    """One kind of camera.

    Attributes:
        name: lane, lift or facade.
        main: the stream analysed (or, with substreams, the one clips are copied from).
        sub: the substream analysed with ``--substream``.
        detector: the model it detects with; None for motion-only cameras.
        detect_fps: detector rate (stream time).
        detect_width_px: width frames are scaled to (in FFmpeg) before the detector.
        motion_fps: motion analysis rate (falling objects); None when not used.
        motion_width_px: width of the motion analysis.
    """

    name: str
    main: StreamSpec
    sub: StreamSpec
    detector: DetectorSpec | None
    detect_fps: float | None = None
    detect_width_px: int = 416
    motion_fps: float | None = None
    motion_width_px: int = 480

    def resized(self, width_px: int, height_px: int) -> CameraProfile:
        """The same profile with a smaller main stream (``--size``, for quick tests)."""
        return replace(self, main=replace(self.main, width_px=width_px, height_px=height_px))


SUBSTREAM = StreamSpec(640, 360, 25, 768)
CAMERA_PROFILES: dict[str, CameraProfile] = {
    "lane": CameraProfile(
        "lane", StreamSpec(1920, 1080, 25, 4000), SUBSTREAM, COCO_DETECTOR, detect_fps=5.0
    ),
    "lift": CameraProfile(
        "lift", StreamSpec(1280, 720, 25, 2000), SUBSTREAM, LIFT_DETECTOR, detect_fps=5.0
    ),
    "facade": CameraProfile(
        "facade", StreamSpec(1280, 720, 25, 3000), SUBSTREAM, None, motion_fps=25.0
    ),
}
# a site: 4 lane : 2 lift : 2 facade, repeated to the camera count
MIXED_PATTERN = ("lane", "lift", "lane", "facade", "lane", "lift", "lane", "facade")


def camera_profiles(profile: ProfileName | str, count: int) -> list[CameraProfile]:
    """The profile of each of ``count`` cameras.

    Raises:
        ValueError: an unknown profile or a count below 1.
    """
    if count < 1:
        raise ValueError(f"the camera count must be at least 1, got {count}")
    name = ProfileName(profile)
    if name is ProfileName.MIXED:
        return [CAMERA_PROFILES[MIXED_PATTERN[k % len(MIXED_PATTERN)]] for k in range(count)]
    return [CAMERA_PROFILES[name.value]] * count


def kinds_in(profile: ProfileName | str) -> tuple[str, ...]:
    """The camera kinds a profile uses (media to make, references to measure)."""
    name = ProfileName(profile)
    if name is ProfileName.MIXED:
        return tuple(dict.fromkeys(MIXED_PATTERN))
    return (name.value,)
