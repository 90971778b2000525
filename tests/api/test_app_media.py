"""Media routes: HTTP Range (206/416), HEAD, and paths that must never leave the data dir."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.media import ByteRange, MediaNotFound, RangeNotSatisfiable, parse_range, resolve_inside
from tests.api.app_harness import ApiHarness, MadeTicket, bearer, live_server_fixture, sha256_file
from vision.types import HazardKind

pytestmark = pytest.mark.timeout(60)


# --- parse_range ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "size", "expected", "error"),
    [
        ("bytes=0-9", 100, ByteRange(0, 9), None),
        ("bytes=0-0", 100, ByteRange(0, 0), None),
        ("bytes=90-200", 100, ByteRange(90, 99), None),
        ("bytes=50-", 100, ByteRange(50, 99), None),
        ("bytes=-10", 100, ByteRange(90, 99), None),
        ("bytes=-500", 100, ByteRange(0, 99), None),
        ("BYTES = 3-4", 100, ByteRange(3, 4), None),
        ("bytes=0-1,5-6", 100, None, None),
        ("bytes=100-", 100, None, "starts at or past the end of the 100-byte file"),
        ("bytes=200-300", 100, None, "starts at or past the end"),
        ("bytes=-0", 100, None, "selects nothing"),
        ("bytes=0-", 0, None, "starts at or past the end of the 0-byte file"),
        ("bytes=9-3", 100, None, "ends before it starts"),
        ("bytes=abc", 100, None, "malformed byte range"),
        ("bytes=-", 100, None, "malformed byte range"),
        ("bytes=1-2-3", 100, None, "malformed byte range"),
        ("items=0-9", 100, None, "Range must look like 'bytes=first-last'"),
        ("0-9", 100, None, "Range must look like"),
        ("bytes=" + ",".join(["0-1"] * 17), 100, None, "too many ranges"),
        ("bytes=" + "9" * 4301 + "-", 100, None, "has 4301 digits"),
        ("bytes=0-" + "9" * 4301, 100, None, "has 4301 digits"),
        ("bytes=-" + "9" * 4301, 100, None, "has 4301 digits"),
        ("bytes=" + "0" * 21 + "-", 100, None, "has 21 digits"),
        ("bytes=0-" + "9" * 20, 100, ByteRange(0, 99), None),
        ("bytes=\u0661-\u0662", 100, None, "malformed byte range"),
    ],
    ids=[
        "first-bytes",
        "one-byte",
        "past-end-clamped",
        "open",
        "suffix",
        "suffix-longer-than-file",
        "case-and-spaces",
        "multiple-served-whole",
        "start-at-end",
        "start-past-end",
        "empty-suffix",
        "empty-file",
        "reversed",
        "letters",
        "dash-only",
        "three-parts",
        "other-unit",
        "no-unit",
        "too-many",
        "4301-digit-start",
        "4301-digit-end",
        "4301-digit-suffix",
        "21-digit-zeros",
        "20-digit-end-clamped",
        "non-ascii-digits",
    ],
)
def test_parse_range(header: str, size: int, expected: ByteRange | None, error: str | None) -> None:
    if error is None:
        assert parse_range(header, size) == expected
    else:
        with pytest.raises(RangeNotSatisfiable, match=error) as info:
            parse_range(header, size)
        assert info.value.size == size


# --- resolve_inside ------------------------------------------------------------------------------


@pytest.fixture
def media_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "evidence" / "cam").mkdir(parents=True)
    (root / "evidence" / "cam" / "clip.mp4").write_bytes(b"inside")
    (tmp_path / "secret.txt").write_bytes(b"outside")
    (root / "evidence" / "out.mp4").symlink_to(tmp_path / "secret.txt")
    (root / "evidence" / "in.mp4").symlink_to(root / "evidence" / "cam" / "clip.mp4")
    (root / "evidence" / "loop.mp4").symlink_to(root / "evidence" / "loop.mp4")
    return root


@pytest.mark.parametrize(
    ("stored", "error"),
    [
        ("evidence/cam/clip.mp4", None),
        ("{root}/evidence/cam/clip.mp4", None),
        ("evidence/in.mp4", None),
        ("evidence/cam/../cam/clip.mp4", None),
        ("../secret.txt", "outside the data directory"),
        ("evidence/../../secret.txt", "outside the data directory"),
        ("{root}/../secret.txt", "outside the data directory"),
        ("/etc/passwd", "outside the data directory"),
        ("evidence/out.mp4", "outside the data directory"),
        ("evidence/loop.mp4", "cannot be resolved"),
        ("evidence/cam", "not a regular file"),
        ("evidence/cam/missing.mp4", "does not exist"),
        ("evidence/cam/clip.mp4/x", "does not exist"),
        ("", "empty or malformed"),
        ("evidence/\x00clip.mp4", "empty or malformed"),
        ("/dev/null", "outside the data directory"),
    ],
    ids=[
        "relative",
        "absolute-inside",
        "symlink-inside",
        "dotdot-staying-inside",
        "dotdot-out",
        "nested-dotdot-out",
        "absolute-dotdot-out",
        "absolute-elsewhere",
        "symlink-out",
        "symlink-loop",
        "directory",
        "missing",
        "file-as-directory",
        "empty",
        "nul-byte",
        "device",
    ],
)
def test_resolve_inside(media_root: Path, stored: str, error: str | None) -> None:
    stored = stored.replace("{root}", str(media_root))
    if error is None:
        path = resolve_inside(media_root, stored)
        assert path.read_bytes() == b"inside"
    else:
        with pytest.raises(MediaNotFound, match=error):
            resolve_inside(media_root, stored)


# --- over HTTP -----------------------------------------------------------------------------------


@pytest.fixture
def harness(tmp_path: Path, media_cache: Path) -> Iterator[ApiHarness]:
    made = ApiHarness(tmp_path, media_cache)
    yield made
    made.close()


@pytest.fixture
def ticket(harness: ApiHarness) -> MadeTicket:
    return harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED, relative_paths=True)


def _get_clip(harness: ApiHarness, ticket: MadeTicket, **headers: str) -> httpx.Response:
    return harness.client.get(
        f"/tickets/{ticket.id}/clip.mp4", headers={**bearer("reviewer"), **headers}
    )


def test_whole_clip_without_range(harness: ApiHarness, ticket: MadeTicket) -> None:
    response = _get_clip(harness, ticket)
    data = ticket.files["clip"].read_bytes()
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-length"] == str(len(data))
    assert response.headers["etag"] == f'"{sha256_file(ticket.files["clip"])}"'


@pytest.mark.parametrize(
    ("range_header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=-100", -100, None),
        ("bytes=1000-", 1000, None),
        ("bytes=5-4999999", 5, None),
    ],
    ids=["first-bytes", "suffix", "open", "clamped"],
)
def test_range_requests_answer_206(
    harness: ApiHarness, ticket: MadeTicket, range_header: str, first: int, last: int | None
) -> None:
    data = ticket.files["clip"].read_bytes()
    size = len(data)
    start = first % size
    end = size - 1 if last is None else last
    response = _get_clip(harness, ticket, Range=range_header)
    assert response.status_code == 206, response.text
    assert response.content == data[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize(
    "range_header",
    ["bytes=99999999-", "bytes=-0", "bytes=x-y", "lines=1-2", "bytes=9-3"],
    ids=["past-end", "empty-suffix", "garbage", "other-unit", "reversed"],
)
def test_unsatisfiable_ranges_answer_416(
    harness: ApiHarness, ticket: MadeTicket, range_header: str
) -> None:
    size = ticket.files["clip"].stat().st_size
    response = _get_clip(harness, ticket, Range=range_header)
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"
    assert response.json()["detail"]


def test_multiple_ranges_get_the_whole_file(harness: ApiHarness, ticket: MadeTicket) -> None:
    response = _get_clip(harness, ticket, Range="bytes=0-1,10-20")
    assert response.status_code == 200
    assert response.content == ticket.files["clip"].read_bytes()


def test_if_range_with_a_stale_etag_gets_the_whole_file(
    harness: ApiHarness, ticket: MadeTicket
) -> None:
    etag = f'"{sha256_file(ticket.files["clip"])}"'
    fresh = _get_clip(harness, ticket, Range="bytes=0-9", **{"If-Range": etag})
    assert fresh.status_code == 206
    stale = _get_clip(harness, ticket, Range="bytes=0-9", **{"If-Range": '"0000"'})
    assert stale.status_code == 200
    assert stale.content == ticket.files["clip"].read_bytes()


def test_head_gives_headers_only(harness: ApiHarness, ticket: MadeTicket) -> None:
    response = harness.client.head(
        f"/tickets/{ticket.id}/clip.mp4", headers={**bearer("admin"), "Range": "bytes=0-9"}
    )
    assert response.status_code == 206
    assert response.content == b""
    assert response.headers["content-length"] == "10"


@pytest.mark.parametrize(
    "stored",
    [
        "../outside.mp4",
        "evidence/../../outside.mp4",
        "{outside}",
        "/etc/passwd",
        "evidence/link-out.mp4",
        "evidence",
    ],
    ids=["dotdot", "nested-dotdot", "absolute-outside", "etc-passwd", "symlink-out", "directory"],
)
def test_evidence_paths_outside_the_data_dir_are_not_served(
    harness: ApiHarness, tmp_path: Path, stored: str
) -> None:
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"must never be served")
    link = harness.data_dir / "evidence" / "link-out.mp4"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        os.symlink(outside, link)
    path = stored.replace("{outside}", str(outside))
    made = harness.add_ticket(
        "facade",
        "facade",
        HazardKind.FALLING_OBJECT,
        evidence={"clip": path, "sha256": {"clip": "0" * 64}},
    )
    response = harness.client.get(f"/tickets/{made.id}/clip.mp4", headers=bearer("admin"))
    assert response.status_code == 404
    assert "must never be served" not in response.text
    assert f"the clip of ticket '{made.id}' is not available" in response.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/tickets/..%2F..%2Fetc%2Fpasswd/clip.mp4",
        "/tickets/%2E%2E/clip.mp4",
        "/tickets/a%00b/clip.mp4",
        "/tickets/" + "a" * 300 + "/clip.mp4",
        "/cameras/..%2Flane_a/snapshot.jpg",
        "/cameras/LANE_A/snapshot.jpg",
    ],
    ids=["encoded-dotdot", "dotdot-id", "nul-in-id", "huge-id", "camera-dotdot", "camera-case"],
)
def test_path_tricks_in_ids_are_4xx(harness: ApiHarness, path: str) -> None:
    response = harness.client.get(path, headers=bearer("admin"))
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["detail"]


def test_live_snapshot(harness: ApiHarness) -> None:
    client = harness.client
    missing = client.get("/cameras/lane_a/snapshot.jpg", headers=bearer("admin"))
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no live snapshot of camera 'lane_a' yet"
    live = harness.data_dir / "live" / "lane_a.jpg"
    live.parent.mkdir()
    live.write_bytes(b"\xff\xd8live-jpeg\xff\xd9")
    got = client.get("/cameras/lane_a/snapshot.jpg", headers=bearer("grid_lane"))
    assert got.status_code == 200
    assert got.content == live.read_bytes()
    assert got.headers["cache-control"] == "no-store"
    for role, path, status in (
        ("grid_facade", "/cameras/lane_a/snapshot.jpg", 404),
        ("public", "/cameras/lane_a/snapshot.jpg", 403),
        ("admin", "/cameras/nope/snapshot.jpg", 404),
    ):
        assert client.get(path, headers=bearer(role)).status_code == status, (role, path)


def test_live_snapshot_symlinked_out_is_not_served(harness: ApiHarness, tmp_path: Path) -> None:
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"not for you")
    (harness.data_dir / "live").mkdir()
    (harness.data_dir / "live" / "lane_a.jpg").symlink_to(secret)
    response = harness.client.get("/cameras/lane_a/snapshot.jpg", headers=bearer("admin"))
    assert response.status_code == 404
    assert b"not for you" not in response.content


# --- through a real HTTP server ------------------------------------------------------------------


@pytest.fixture
def live_server(harness: ApiHarness) -> Iterator[str]:
    """The app under uvicorn on a loopback port, in a thread; yields its base URL."""
    yield from live_server_fixture(harness, "uvicorn-test")


@pytest.mark.integration
def test_range_and_body_limit_over_a_real_socket(
    harness: ApiHarness, ticket: MadeTicket, live_server: str
) -> None:
    data = ticket.files["clip"].read_bytes()
    with httpx.Client(base_url=live_server, headers=bearer("admin"), timeout=10.0) as client:
        part = client.get(f"/tickets/{ticket.id}/clip.mp4", headers={"Range": "bytes=-64"})
        assert part.status_code == 206
        assert part.content == data[-64:]
        assert (
            part.headers["content-range"] == f"bytes {len(data) - 64}-{len(data) - 1}/{len(data)}"
        )

        def chunks() -> Iterator[bytes]:
            yield b'{"to": "reported", "note": "'
            for _ in range(100):
                yield b"q" * 8192
            yield b'"}'

        big = client.post(
            f"/tickets/{ticket.id}/transition",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
        assert big.status_code == 413
        assert "request body too large" in big.json()["detail"]
    assert harness.store.get_ticket(ticket.id).status == "discovered"  # type: ignore[union-attr]
