"""Evidence encrypted at rest (pipelines.evidence_crypto): the file format, random access,
tampering, keys, rotation; and a real EvidenceWriter writing with a key."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from cameras.clips import ClipRecorder, is_partial_name
from cameras.errors import ClipError
from cameras.ring import PacketRing
from cameras.source import SourceSettings, VideoSource
from hazardwatch.cli import main as cli_main
from pipelines.evidence import EvidenceWriter
from pipelines.evidence_crypto import (
    KEY_ENV,
    KEYS_ENV,
    MAGIC,
    DecryptingReader,
    EvidenceDecryptError,
    EvidenceKeyConfigError,
    EvidenceKeyMissing,
    EvidenceKeys,
    Header,
    decodable,
    encrypt_bytes,
    is_encrypted,
    keys_from_env,
    open_plaintext,
    parse_header,
    reencrypt_file,
    rotate_evidence_keys,
    seal_file,
    write_evidence_bytes,
)
from pipelines.evidence_layout import temp_name
from pipelines.public_clip import read_privacy_track, write_public_clip_from_track
from tests.support.evidence_hazard import ENTRY_A, ENTRY_B, KEY_A, KEY_B, write_hazard
from tests.support.media import ensure_clip
from vision.types import EvidenceClip

pytestmark = pytest.mark.timeout(120)

KEYS_A = EvidenceKeys.parse(ENTRY_A)
KEYS_B_THEN_A = EvidenceKeys.parse(f"{ENTRY_B},{ENTRY_A}")
SMALL_CHUNK = 1024


def payload(size: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def reader_of(blob: bytes, keys: EvidenceKeys, tmp_path: Path) -> DecryptingReader:
    path = tmp_path / "f.bin"
    path.write_bytes(blob)
    handle = open_plaintext(path, keys)
    assert isinstance(handle, DecryptingReader)
    return handle


# ----- format and random access ------------------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [0, 1, SMALL_CHUNK - 1, SMALL_CHUNK, SMALL_CHUNK + 1, 3 * SMALL_CHUNK + 5],
    ids=["empty", "one-byte", "chunk-less-one", "one-chunk", "chunk-plus-one", "three-and-a-bit"],
)
def test_round_trip_and_every_range(size: int, tmp_path: Path) -> None:
    data = payload(size)
    blob = encrypt_bytes(data, KEYS_A, chunk_bytes=SMALL_CHUNK)
    header = parse_header(blob, "t")
    assert header is not None and header.key_id == "ka" and header.plaintext_bytes == size
    assert len(blob) == header.file_bytes
    with reader_of(blob, KEYS_A, tmp_path) as reader:
        assert reader.size == size
        assert reader.read() == data
        for first, last in [(0, 0), (5, 17), (SMALL_CHUNK - 3, SMALL_CHUNK + 3), (size - 1, size)]:
            if not 0 <= first < size:
                continue
            reader.seek(first)
            assert reader.read(last - first + 1) == data[first : last + 1]
        if size:
            reader.seek(-1, io.SEEK_END)
            assert reader.read(10) == data[-1:]
        assert reader.read(10) == b""  # at the end


def test_a_range_decrypts_only_the_chunks_it_covers(tmp_path: Path) -> None:
    data = payload(10 * SMALL_CHUNK)
    with reader_of(encrypt_bytes(data, KEYS_A, SMALL_CHUNK), KEYS_A, tmp_path) as reader:
        reader.seek(4 * SMALL_CHUNK + 10)
        assert reader.read(SMALL_CHUNK) == data[4 * SMALL_CHUNK + 10 : 5 * SMALL_CHUNK + 10]
        assert reader.chunks_decrypted == 2  # chunks 4 and 5 of 10


def test_same_plaintext_twice_gives_different_files() -> None:
    data = payload(3000)
    first, second = (encrypt_bytes(data, KEYS_A, SMALL_CHUNK) for _ in range(2))
    assert first != second  # a fresh nonce per file
    assert data[:64] not in first


# ----- tampering ---------------------------------------------------------------------------


def _flip(blob: bytes, offset: int) -> bytes:
    changed = bytearray(blob)
    changed[offset] ^= 0x01
    return bytes(changed)


@pytest.mark.parametrize(
    ("where", "error"),
    [
        (lambda h: len(MAGIC) + 2, "not configured"),  # the key id: another (unknown) key
        (lambda h: h.size - 20, "fails authentication"),  # the base nonce
        (lambda h: h.size - 9, "chunk 0 of 3 fails authentication"),  # the chunk size
        (lambda h: h.size - 1, "bytes where its header says"),  # the plaintext length
        (lambda h: h.size + 5, "chunk 0 of 3 fails authentication"),  # first chunk
        (lambda h: h.size + SMALL_CHUNK + 16 + 7, "chunk 1 of 3 fails authentication"),
        (lambda h: h.file_bytes - 1, "chunk 2 of 3 fails authentication"),  # the last tag
    ],
    ids=["key-id", "nonce", "chunk-size", "length", "chunk-0", "chunk-1", "last-tag"],
)
def test_one_flipped_byte_is_refused(
    where: Callable[[Header], int], error: str, tmp_path: Path
) -> None:
    data = payload(2 * SMALL_CHUNK + 100)
    blob = encrypt_bytes(data, KEYS_A, SMALL_CHUNK)
    header = parse_header(blob, "t")
    assert header is not None
    tampered = _flip(blob, where(header))
    path = tmp_path / "f.bin"
    path.write_bytes(tampered)
    with (
        pytest.raises((EvidenceDecryptError, EvidenceKeyMissing), match=error),
        open_plaintext(path, KEYS_A) as reader,
    ):
        reader.read()


def test_reordered_truncated_and_extended_files_are_refused(tmp_path: Path) -> None:
    data = payload(3 * SMALL_CHUNK)
    blob = encrypt_bytes(data, KEYS_A, SMALL_CHUNK)
    header = parse_header(blob, "t")
    assert header is not None
    sealed = SMALL_CHUNK + 16
    chunks = [blob[header.size + i * sealed : header.size + (i + 1) * sealed] for i in range(3)]
    cases = {
        "swapped": blob[: header.size] + chunks[1] + chunks[0] + chunks[2],
        "cut-at-chunk": blob[: header.size] + chunks[0] + chunks[1],
        "appended": blob + b"x",
    }
    # Cut at a chunk boundary with the length in the header made to match: the header is
    # authenticated with every chunk, and the new last chunk was not sealed as the last.
    shorter = bytearray(blob[: header.size] + chunks[0] + chunks[1])
    shorter[header.size - 8 : header.size] = (2 * SMALL_CHUNK).to_bytes(8, "big")
    cases["cut-and-relabelled"] = bytes(shorter)
    for name, tampered in cases.items():
        path = tmp_path / f"{name}.bin"
        path.write_bytes(tampered)
        with pytest.raises(EvidenceDecryptError) as info, open_plaintext(path, KEYS_A) as reader:
            reader.read()
        assert "fails authentication" in str(info.value) or "header says" in str(info.value), name


# ----- keys --------------------------------------------------------------------------------


def test_missing_and_wrong_keys_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(encrypt_bytes(b"secret picture", KEYS_A))
    with pytest.raises(EvidenceKeyMissing, match=r"evidence key 'ka', which is not configured"):
        open_plaintext(path, EvidenceKeys.parse(ENTRY_B))
    monkeypatch.delenv(KEYS_ENV, raising=False)
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(EvidenceKeyMissing, match=r"key 'ka', but no evidence keys are configured"):
        open_plaintext(path)
    wrong = EvidenceKeys.parse(f"ka:{base64.b64encode(KEY_B).decode()}")  # same id, other key
    with (
        pytest.raises(EvidenceDecryptError, match="fails authentication"),
        open_plaintext(path, wrong) as reader,
    ):
        reader.read()


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("ka", "entry 1 must look like 'id:base64key'"),
        (f"{ENTRY_A},kb:not*base64", "the key of entry 2 \\('kb'\\) is not base64"),
        ("kc:" + base64.b64encode(b"short").decode(), "'kc' has 5 bytes; AES-256 needs 32"),
        (f"{ENTRY_A} ka:{base64.b64encode(KEY_B).decode()}", "ids must be unique"),
        ("bad/id:" + base64.b64encode(KEY_A).decode(), "must be 1-32 letters"),
        (" , ", "names no key"),
    ],
    ids=["no-colon", "not-base64", "short-key", "duplicate-id", "bad-id", "empty"],
)
def test_malformed_keys_are_named_without_key_material(value: str, error: str) -> None:
    with pytest.raises(EvidenceKeyConfigError, match=error) as info:
        keys_from_env({KEYS_ENV: value})
    assert KEYS_ENV in str(info.value)
    assert base64.b64encode(KEY_A).decode() not in str(info.value)


def test_keys_from_env() -> None:
    assert keys_from_env({}) is None
    keys = keys_from_env({KEYS_ENV: f" {ENTRY_B}\n{ENTRY_A} "})
    assert keys is not None and keys.current_id == "kb" and keys.ids == ("kb", "ka")
    assert "AAEC" not in repr(keys)
    single = keys_from_env({KEY_ENV: ENTRY_A})
    assert single is not None and single.ids == ("ka",)
    with pytest.raises(EvidenceKeyConfigError, match="not both"):
        keys_from_env({KEYS_ENV: ENTRY_A, KEY_ENV: ENTRY_B})


def test_without_keys_files_stay_plain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEYS_ENV, raising=False)
    monkeypatch.delenv(KEY_ENV, raising=False)
    path = tmp_path / "snapshot.jpg"
    digest = write_evidence_bytes(path, b"\xff\xd8\xffplain")
    assert path.read_bytes() == b"\xff\xd8\xffplain"
    assert digest == hashlib.sha256(b"\xff\xd8\xffplain").hexdigest()
    with open_plaintext(path) as fh:  # a plain file reads as itself
        assert fh.read() == b"\xff\xd8\xffplain"


# ----- rotation ----------------------------------------------------------------------------


def _store(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A mixed evidence tree: plain (written before keys), under key A, under key B."""
    data_dir = tmp_path / "data"
    folder = data_dir / "evidence" / "cam" / "2026-11-24" / "hz-1"
    folder.mkdir(parents=True)
    plain = {
        "clip.mp4": payload(200_000, 1),
        "snapshot.jpg": payload(5000, 2),
        "privacy.json": b'{"version": 1}',
        "after-20261124T080000Z-0a1b2c3d.jpg": payload(3000, 3),
    }
    (folder / "clip.mp4").write_bytes(plain["clip.mp4"])
    write_evidence_bytes(folder / "snapshot.jpg", plain["snapshot.jpg"], KEYS_A)
    write_evidence_bytes(folder / "privacy.json", plain["privacy.json"], KEYS_B_THEN_A)
    (folder / "after-20261124T080000Z-0a1b2c3d.jpg").write_bytes(
        encrypt_bytes(plain["after-20261124T080000Z-0a1b2c3d.jpg"], KEYS_A)
    )
    (folder / "annotations.json").write_bytes(b"{}")  # labels: not evidence, left plain
    return folder, plain


def test_rotation_reencrypts_everything_under_the_newest_key(tmp_path: Path) -> None:
    folder, plain = _store(tmp_path)
    report = rotate_evidence_keys(tmp_path / "data", KEYS_B_THEN_A)
    assert (report.encrypted, report.reencrypted, report.current, report.failed) == (1, 2, 1, [])
    for name, data in plain.items():
        with open_plaintext(folder / name, EvidenceKeys.parse(ENTRY_B)) as fh:  # B alone reads
            assert isinstance(fh, DecryptingReader) and fh.header.key_id == "kb"
            assert fh.read() == data
    assert (folder / "annotations.json").read_bytes() == b"{}"
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary left
    again = rotate_evidence_keys(tmp_path / "data", KEYS_B_THEN_A)
    assert (again.encrypted, again.reencrypted, again.current) == (0, 0, 4)


def test_rotation_leaves_a_damaged_file_alone_and_says_so(tmp_path: Path) -> None:
    folder, _plain = _store(tmp_path)
    snapshot = folder / "snapshot.jpg"
    damaged = _flip(snapshot.read_bytes(), len(snapshot.read_bytes()) - 3)
    snapshot.write_bytes(damaged)
    report = rotate_evidence_keys(tmp_path / "data", KEYS_B_THEN_A)
    assert len(report.failed) == 1 and "snapshot.jpg" in report.failed[0]
    assert "fails authentication" in report.failed[0]
    assert snapshot.read_bytes() == damaged
    assert report.encrypted + report.reencrypted == 2


def test_rotate_key_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _plain = _store(tmp_path)
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEYS_ENV, raising=False)
    assert cli_main(["evidence", "rotate-key", "--data-dir", str(tmp_path / "data")]) == 2
    assert "no evidence keys are configured" in capsys.readouterr().err
    monkeypatch.setenv(KEYS_ENV, f"{ENTRY_B},{ENTRY_A}")
    assert cli_main(["evidence", "rotate-key", "--data-dir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "'kb': 2 re-encrypted, 1 encrypted (were plain), 1 already current, 0 failed" in out
    assert reencrypt_file(folder / "clip.mp4", KEYS_B_THEN_A) == "current"
    assert cli_main(["evidence", "new-key", "kc"]) == 0
    entry = capsys.readouterr().out.strip()
    assert EvidenceKeys.parse(entry).current_id == "kc"


# ----- a real EvidenceWriter with a key ----------------------------------------------------


def ffprobe_fails(path: Path) -> bool:
    run = subprocess.run(["ffprobe", "-v", "error", str(path)], capture_output=True, check=False)
    return run.returncode != 0


def test_evidence_writer_with_a_key(
    tmp_path: Path, media_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEYS_ENV, ENTRY_A)
    clip_src = ensure_clip(media_cache, width=320, height=240, fps=25, seconds=4.0, gop=25)
    event = write_hazard(tmp_path, clip_src)
    assert "error" not in event.evidence, event.evidence
    files = {key: tmp_path / event.evidence[key] for key in ("clip", "snapshot", "privacy")}
    files["snapshot_public"] = tmp_path / event.evidence["snapshot_public"]
    for key, path in files.items():
        raw = path.read_bytes()
        assert raw.startswith(MAGIC), key
        with open_plaintext(path) as fh:
            plain = fh.read()
        assert hashlib.sha256(plain).hexdigest() == event.evidence["sha256"][key], key
        assert plain[:1024] not in raw and plain[100:164] not in raw, key
    # Not readable as what it is without the key; the decrypted bytes are.
    assert ffprobe_fails(files["clip"])
    assert cv2.imdecode(np.frombuffer(files["snapshot"].read_bytes(), np.uint8), 1) is None
    with pytest.raises(ValueError):
        json.loads(files["privacy"].read_bytes())
    with open_plaintext(files["snapshot"]) as fh:
        picture = cv2.imdecode(np.frombuffer(fh.read(), np.uint8), 1)
    assert picture is not None and picture.shape[1] == 320  # a caption strip below
    with decodable(files["clip"]) as source, av.open(source) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 25
    assert not [p for p in files["clip"].parent.iterdir() if p.name.startswith(".")]

    # The public copy, made from the encrypted clip and track, is encrypted too.
    track = read_privacy_track(files["privacy"])
    public = files["clip"].parent / "clip_public.mp4"
    digest = write_public_clip_from_track(files["clip"], public, track)
    assert is_encrypted(public) and ffprobe_fails(public)
    with open_plaintext(public) as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == digest
    with decodable(public) as source, av.open(source) as container:
        assert container.streams.video[0].codec_context.width == 320
    assert not [p for p in public.parent.iterdir() if p.name.startswith(".")]


def test_evidence_writer_without_a_key_writes_plain(
    tmp_path: Path, media_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEYS_ENV, raising=False)
    monkeypatch.delenv(KEY_ENV, raising=False)
    clip_src = ensure_clip(media_cache, width=320, height=240, fps=25, seconds=4.0, gop=25)
    event = write_hazard(tmp_path, clip_src)
    clip = tmp_path / event.evidence["clip"]
    assert not is_encrypted(clip) and not ffprobe_fails(clip)
    assert hashlib.sha256(clip.read_bytes()).hexdigest() == event.evidence["sha256"]["clip"]


def test_a_malformed_key_stops_the_writer_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEYS_ENV, "ka:nope!")
    recorder = ClipRecorder(PacketRing(max_duration_s=5.0), camera_id="cam")
    with pytest.raises(EvidenceKeyConfigError, match=f"{KEYS_ENV}: the key of entry 1"):
        EvidenceWriter(Path("unused"), "cam", "cam", recorder)
    recorder.close()
    assert os.environ[KEYS_ENV] == "ka:nope!"


# ----- the clip writer's sealer ------------------------------------------------------------


def _record_clip(clip: Path, target: Path, seal: Callable[[Path], None]) -> Future[EvidenceClip]:
    recorder = ClipRecorder(PacketRing(max_duration_s=15.0), camera_id="cam")
    source = VideoSource(
        SourceSettings(camera_id="cam", url=str(clip), fps=None, width_px=None),
        on_packet=recorder.feed,
    )
    future: Future[EvidenceClip] | None = None
    for frame in source.frames():
        if future is None and frame.pts_s >= 2.0:
            future = recorder.request(target, 2.0, 2.0, 1.0, 0.5, seal=seal)
    recorder.close()
    assert future is not None
    return future


def test_a_sealed_clip_is_encrypted_before_it_is_named(tmp_path: Path, media_cache: Path) -> None:
    clip_src = ensure_clip(media_cache, width=320, height=240, fps=25, seconds=4.0, gop=25)
    target = tmp_path / "hz" / "clip.mp4"
    seen: list[bool] = []

    def seal(path: Path) -> None:
        seen.append(target.exists())  # not named final yet
        seal_file(path, KEYS_A)
        assert is_partial_name(temp_name(path).name)  # a crash's leftover is cleaned up

    clip = _record_clip(clip_src, target, seal).result(timeout=30)
    assert seen == [False]
    assert is_encrypted(target) and ffprobe_fails(target)
    with open_plaintext(target, KEYS_A) as fh:
        plain = fh.read()
    assert hashlib.sha256(plain).hexdigest() == clip.sha256 and len(plain) == clip.size_bytes
    assert sorted(p.name for p in target.parent.iterdir()) == ["clip.mp4"]


def test_a_failing_sealer_fails_the_clip_and_leaves_nothing(
    tmp_path: Path, media_cache: Path
) -> None:
    clip_src = ensure_clip(media_cache, width=320, height=240, fps=25, seconds=4.0, gop=25)
    target = tmp_path / "hz" / "clip.mp4"

    def seal(path: Path) -> None:
        raise EvidenceKeyConfigError("HAZARDWATCH_EVIDENCE_KEYS: entry 1 is broken")

    with pytest.raises(ClipError, match=r"clip .*clip\.mp4: cannot encrypt: .*entry 1 is broken"):
        _record_clip(clip_src, target, seal).result(timeout=30)
    assert list(target.parent.iterdir()) == []
