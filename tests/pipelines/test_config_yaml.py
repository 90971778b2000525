"""The duplicate-refusing YAML loader."""

from __future__ import annotations

import pytest
import yaml

from pipelines.config_yaml import DuplicateKey, DuplicateKeyError, UniqueKeyLoader, load_yaml


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a: 1\nb: 2\n", [], id="no-duplicates"),
        pytest.param("a: 1\na: 2\n", [DuplicateKey(("a",), 2, 1, 1)], id="top-level"),
        pytest.param(
            "cams:\n  x: {s: 1}\n  y: {s: 2, s: 3}\n",
            [DuplicateKey(("cams", "y", "s"), 3, 13, 3)],
            id="nested-flow",
        ),
        pytest.param(
            "h:\n  - {k: 1}\n  - {k: 2, z: 1, z: 2}\n",
            [DuplicateKey(("h", 1, "z"), 3, 18, 3)],
            id="inside-list",
        ),
        pytest.param(
            "a: 1\nb: 2\na: 3\nb: 4\n",
            [DuplicateKey(("a",), 3, 1, 1), DuplicateKey(("b",), 4, 1, 2)],
            id="several-in-order",
        ),
        pytest.param("1: a\n'1': b\n", [], id="int-and-string-differ"),
        pytest.param(
            "base: &b {fps: 5, width: 640}\ncam: {<<: *b, fps: 2}\n", [], id="merge-key-override"
        ),
        pytest.param("x: &a {k: 1}\ny: *a\nz: *a\n", [], id="alias-reused"),
    ],
)
def test_find_duplicates(text: str, expected: list[DuplicateKey]) -> None:
    if not expected:
        assert load_yaml(text) == yaml.safe_load(text)
        return
    with pytest.raises(DuplicateKeyError) as info:
        load_yaml(text)
    assert info.value.duplicates == expected


def test_is_a_safe_loader() -> None:
    assert issubclass(UniqueKeyLoader, yaml.SafeLoader)
    with pytest.raises(yaml.constructor.ConstructorError):
        load_yaml("a: !!python/object/apply:os.system ['true']\n")
    assert yaml.load("a: 1\na: 2\n", Loader=yaml.SafeLoader) == {"a": 2}  # what we guard against
    with pytest.raises(DuplicateKeyError):
        yaml.load("a: 1\na: 2\n", Loader=UniqueKeyLoader)


def test_merge_values_are_applied() -> None:
    data = load_yaml("base: &b {fps: 5, width: 640}\ncam: {<<: *b, fps: 2}\n")
    assert data["cam"] == {"fps": 2, "width": 640}
