"""PacketRing: bounded by time and bytes, always starting at a keyframe."""

from __future__ import annotations

import pytest

from cameras.packets import EncodedPacket, StreamTemplate
from cameras.ring import PacketRing

TEMPLATE_A = StreamTemplate("h264", 320, 240, None, b"", "a" * 64)
TEMPLATE_B = StreamTemplate("h264", 640, 480, None, b"", "b" * 64)


def packets(
    n: int, *, fps: float = 25.0, gop: int = 25, start: int = 0, size: int = 100,
    template: StreamTemplate = TEMPLATE_A,
) -> list[EncodedPacket]:  # fmt: skip
    return [
        EncodedPacket(
            data=bytes([i % 256]) * size,
            pts_s=i / fps,
            dts_s=i / fps,
            duration_s=1 / fps,
            is_keyframe=i % gop == 0,
            template=template,
        )
        for i in range(start, start + n)
    ]


def test_keeps_at_least_max_duration_from_a_keyframe() -> None:
    ring = PacketRing(max_duration_s=3.0)
    for p in packets(250):  # 10 s at 25 fps, keyframe every second
        ring.append(p)
    held = ring.snapshot(-1.0)
    assert held[0].is_keyframe
    assert held[-1].pts_s == pytest.approx(249 / 25)
    span = held[-1].pts_s - held[0].pts_s
    assert 3.0 <= span < 3.0 + 1.0  # never less than asked, at most one GOP more


def test_snapshot_starts_at_last_keyframe_at_or_before_time() -> None:
    ring = PacketRing(max_duration_s=10.0)
    for p in packets(200):
        ring.append(p)
    assert ring.snapshot(3.5)[0].pts_s == pytest.approx(3.0)
    assert ring.snapshot(4.0)[0].pts_s == pytest.approx(4.0)
    assert ring.snapshot(3.999)[0].pts_s == pytest.approx(3.0)


def test_snapshot_earlier_than_held_starts_at_oldest_keyframe() -> None:
    ring = PacketRing(max_duration_s=2.0)
    for p in packets(250):
        ring.append(p)
    first = ring.snapshot(0.0)[0]
    assert first.is_keyframe and first.pts_s >= 6.0


@pytest.mark.parametrize(
    ("first_index", "kept_from"),
    [(0, 0), (3, 25), (24, 25)],
    ids=["starts-on-key", "starts-mid-gop", "starts-just-before-key"],
)
def test_packets_before_first_keyframe_are_not_kept(first_index: int, kept_from: int) -> None:
    ring = PacketRing(max_duration_s=60.0)
    accepted = [ring.append(p) for p in packets(60, start=first_index)]
    assert accepted.count(False) == kept_from - first_index
    assert ring.dropped_before_keyframe == kept_from - first_index
    assert ring.snapshot(-1)[0].pts_s == pytest.approx(kept_from / 25)


def test_bytes_cap_drops_whole_gops() -> None:
    ring = PacketRing(max_duration_s=60.0, max_bytes=25 * 100 * 3)  # 3 GOPs of 100-byte packets
    for p in packets(250):
        ring.append(p)
    assert ring.size_bytes <= 25 * 100 * 3
    assert ring.snapshot(-1)[0].is_keyframe


def test_codec_change_clears_and_waits_for_keyframe() -> None:
    ring = PacketRing(max_duration_s=60.0)
    for p in packets(50):
        ring.append(p)
    new = packets(30, start=55, gop=25, template=TEMPLATE_B)  # first keyframe at index 75
    results = [ring.append(p) for p in new]
    assert results[:20] == [False] * 20 and all(results[20:])
    held = ring.snapshot(-1)
    assert {p.template.fingerprint for p in held} == {TEMPLATE_B.fingerprint}
    assert held[0].pts_s == pytest.approx(3.0)


def test_discontinuity_keeps_old_packets_but_waits_for_keyframe() -> None:
    ring = PacketRing(max_duration_s=60.0)
    for p in packets(40):
        ring.append(p)
    ring.mark_discontinuity()
    later = packets(30, start=110)  # keyframe at 125
    accepted = [ring.append(p) for p in later]
    assert accepted.count(False) == 15
    held = ring.snapshot(-1)
    assert held[0].pts_s == 0.0 and held[-1].pts_s == pytest.approx(139 / 25)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_duration_s": 0}, "max_duration_s"),
        ({"max_duration_s": 1, "max_bytes": 0}, "max_bytes"),
    ],
    ids=["zero-duration", "zero-bytes"],
)
def test_bad_limits_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PacketRing(**kwargs)  # type: ignore[arg-type]
