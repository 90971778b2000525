"""The config's ``evidence`` section: the keys file (owner-only, read at start), the variable,
which wins, and every problem with its dotted path in check-config, at start and in rotate-key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from hazardwatch.cli import main as cli_main
from hazardwatch.services import StartupError, load
from pipelines.config import ConfigError, parse_config
from pipelines.evidence_crypto import (
    KEY_ENV,
    KEYS_ENV,
    EvidenceKeys,
    current_keys,
    write_evidence_bytes,
)
from pipelines.evidence_keys import EvidenceSettings, resolve_evidence_keys, start_keys
from tests.support.evidence_hazard import ENTRY_A, ENTRY_B

pytestmark = pytest.mark.timeout(60)

SITE = {
    "site": {"id": "s1", "name": "S"},
    "cameras": {
        "facade": {
            "source": "rtsp://10.0.0.1/x",
            "zones": {"wall": {"polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}},
            "hazards": [{"kind": "falling_object", "zone": "wall"}],
            "floors": {"count": 10, "lowest_visible_floor": 1, "lines": [0.1, 0.3, 0.5, 0.7]},
        }
    },
}


@pytest.fixture(autouse=True)
def _no_keys_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEYS_ENV, raising=False)
    monkeypatch.delenv(KEY_ENV, raising=False)


def keys_file(folder: Path, text: str, mode: int = 0o600, name: str = "evidence.keys") -> Path:
    path = folder / name
    path.write_text(text)
    path.chmod(mode)
    return path


def config_file(folder: Path, evidence: dict[str, str] | None) -> Path:
    data = dict(SITE) if evidence is None else {**SITE, "evidence": evidence}
    path = folder / "site.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def settings(**fields: str) -> EvidenceSettings:
    return EvidenceSettings.model_validate(fields)


def test_a_good_file_gives_its_keys(tmp_path: Path) -> None:
    keys_file(tmp_path, f"{ENTRY_B},\n{ENTRY_A}\n")
    keys, issues = resolve_evidence_keys(settings(keys_file="evidence.keys"), tmp_path, {})
    assert issues == []
    assert keys == EvidenceKeys.parse(f"{ENTRY_B},{ENTRY_A}")  # relative: to the config folder
    assert keys is not None and keys.current_id == "kb"
    absolute = str(tmp_path / "evidence.keys")
    assert resolve_evidence_keys(settings(keys_file=absolute), Path("/nowhere"), {})[0] == keys


def test_no_section_keeps_the_environment(tmp_path: Path) -> None:
    assert resolve_evidence_keys(EvidenceSettings(), tmp_path, {}) == (None, [])
    keys, _ = resolve_evidence_keys(EvidenceSettings(), tmp_path, {KEYS_ENV: ENTRY_A})
    assert keys == EvidenceKeys.parse(ENTRY_A)
    custom = settings(keys_env="SITE_KEYS")
    assert resolve_evidence_keys(custom, tmp_path, {KEYS_ENV: ENTRY_A})[0] is None
    assert resolve_evidence_keys(custom, tmp_path, {"SITE_KEYS": ENTRY_B})[0] == (
        EvidenceKeys.parse(ENTRY_B)
    )


BAD_FILES = [
    # (file text, mode, (path, message parts)) -- None: no file at all
    (None, 0o600, ("evidence.keys_file", ["evidence.keys", "does not exist"])),
    (ENTRY_A, 0o644, ("evidence.keys_file", ["evidence.keys", "mode 0644", "chmod 600"])),
    (ENTRY_A, 0o640, ("evidence.keys_file", ["mode 0640", "group or others"])),
    (ENTRY_A, 0o000, ("evidence.keys_file", ["permission denied"])),
    (f"{ENTRY_A}, kb-no-colon", 0o600, ("evidence.keys_file", ["entry 2 must look like"])),
    (f"{ENTRY_A} kb:not*base64", 0o600, ("evidence.keys_file", ["entry 2 ('kb') is not base64"])),
    ("ka:AAAA", 0o600, ("evidence.keys_file", ["'ka' has 3 bytes; AES-256 needs 32"])),
    (f"{ENTRY_A},{ENTRY_A}", 0o600, ("evidence.keys_file", ["ids must be unique"])),
    ("  \n", 0o600, ("evidence.keys_file", ["names no key", "new-key"])),
]


@pytest.mark.parametrize(
    ("text", "mode", "expected"),
    BAD_FILES,
    ids=[
        "missing",
        "mode-0644",
        "mode-0640",
        "unreadable",
        "entry-2-malformed",
        "entry-2-not-base64",
        "short-key",
        "repeated-id",
        "empty",
    ],
)
def test_a_bad_file_is_named_with_its_path(
    tmp_path: Path, text: str | None, mode: int, expected: tuple[str, list[str]]
) -> None:
    if mode == 0o000 and os.geteuid() == 0:
        pytest.skip("root reads a file of any mode")
    if text is not None:
        keys_file(tmp_path, text, mode)
    keys, issues = resolve_evidence_keys(settings(keys_file="evidence.keys"), tmp_path, {})
    assert keys is None
    assert [issue.path for issue in issues] == [expected[0]]
    for part in expected[1]:
        assert part in issues[0].message, issues[0].message
    assert "AAAA" not in issues[0].message and ENTRY_A.split(":")[1] not in issues[0].message


def test_a_folder_is_not_a_keys_file(tmp_path: Path) -> None:
    (tmp_path / "evidence.keys").mkdir()
    _, issues = resolve_evidence_keys(settings(keys_file="evidence.keys"), tmp_path, {})
    assert [(i.path, "is not a regular file" in i.message) for i in issues] == [
        ("evidence.keys_file", True)
    ]


def test_file_and_variable_must_agree(tmp_path: Path) -> None:
    keys_file(tmp_path, ENTRY_A)
    chosen = settings(keys_file="evidence.keys")
    same, issues = resolve_evidence_keys(chosen, tmp_path, {KEYS_ENV: f" {ENTRY_A} "})
    assert issues == [] and same == EvidenceKeys.parse(ENTRY_A)
    keys, issues = resolve_evidence_keys(chosen, tmp_path, {KEYS_ENV: ENTRY_B})
    assert keys is None and len(issues) == 1
    assert issues[0].path == "evidence.keys_file"
    message = issues[0].message
    assert "(keys ka)" in message and f"{KEYS_ENV} (keys kb)" in message and "unset" in message
    bad_env = resolve_evidence_keys(chosen, tmp_path, {KEYS_ENV: "nonsense"})[1]
    assert [(i.path, "entry 1 must look like" in i.message) for i in bad_env] == [
        ("evidence.keys_env", True)
    ]


@pytest.mark.parametrize(
    ("fields", "path", "part"),
    [
        ({"keys_file": ""}, "evidence.keys_file", "at least 1 character"),
        ({"keys_env": "NOT-A-NAME"}, "evidence.keys_env", "should match pattern"),
        ({"keys": ENTRY_A}, "evidence.keys", "unknown key 'keys'"),
    ],
    ids=["empty-path", "bad-variable-name", "key-material-inline"],
)
def test_the_section_schema(fields: dict[str, str], path: str, part: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(yaml.safe_dump({**SITE, "evidence": fields}), "site.yaml")
    assert [(e.path, part in e.message) for e in info.value.errors] == [(path, True)]


def test_check_config_names_the_keys_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(tmp_path, {"keys_file": "evidence.keys"})
    assert cli_main(["check-config", str(config)]) == 2
    err = capsys.readouterr().err
    missing = tmp_path / "evidence.keys"
    assert f"{config}: evidence.keys_file: evidence key file {missing} does not exist" in err, err
    keys_file(tmp_path, ENTRY_A, 0o644)
    assert cli_main(["check-config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}: evidence.keys_file: " in err and "(mode 0644)" in err, err
    (tmp_path / "evidence.keys").chmod(0o600)
    assert cli_main(["check-config", str(config)]) == 0
    assert capsys.readouterr().out.startswith(f"OK: {config}: 1 camera")


def test_the_start_uses_the_file_and_refuses_a_bad_one(tmp_path: Path) -> None:
    config = config_file(tmp_path, {"keys_file": "evidence.keys"})
    with pytest.raises(StartupError, match=r"site\.yaml: evidence\.keys_file: .*does not exist"):
        load(config)
    assert current_keys() is None  # nothing was started
    keys_file(tmp_path, ENTRY_B)
    load(config)
    assert current_keys() == EvidenceKeys.parse(ENTRY_B)
    (tmp_path / "evidence.keys").write_text(ENTRY_A)  # read at start only
    assert current_keys() == EvidenceKeys.parse(ENTRY_B)
    written = tmp_path / "x.bin"
    write_evidence_bytes(written, b"plaintext")
    assert written.read_bytes()[:8] == b"\x89HWENC\r\n" and b"plaintext" not in written.read_bytes()


def test_without_a_section_the_start_leaves_the_environment_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert start_keys(EvidenceSettings(), tmp_path, {}) == []
    monkeypatch.setenv(KEYS_ENV, ENTRY_A)
    assert current_keys() == EvidenceKeys.parse(ENTRY_A)


def test_new_key_entry_fits_the_file_and_rotate_key_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["evidence", "new-key", "k2"]) == 0
    entry = capsys.readouterr().out.strip()
    keys_file(tmp_path, f"{entry}\n{ENTRY_A}\n")
    config = config_file(tmp_path, {"keys_file": "evidence.keys"})
    data_dir = tmp_path / "data"
    folder = data_dir / "evidence" / "cam" / "hz"
    folder.mkdir(parents=True)
    write_evidence_bytes(folder / "snapshot.jpg", b"jpeg bytes", EvidenceKeys.parse(ENTRY_A))
    args = ["evidence", "rotate-key", "--data-dir", str(data_dir), "--config", str(config)]
    assert cli_main(args) == 0
    assert "evidence key 'k2': 1 re-encrypted" in capsys.readouterr().out
    (tmp_path / "evidence.keys").chmod(0o644)
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert f"{config}: evidence.keys_file: " in err and "mode 0644" in err, err
