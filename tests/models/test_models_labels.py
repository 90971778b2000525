"""Class names from metadata or files, and the label -> role mapping check."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from model_assets import COCO_NAMES

from models.errors import LabelMappingError
from models.labels import (
    COCO80,
    LabelSource,
    map_classes,
    parse_names_metadata,
    read_labels_file,
    resolve_labels,
    suggest_label,
)


@pytest.mark.parametrize(
    ("text", "expected", "error"),
    [
        pytest.param(
            "{0: 'person', 1: 'bicycle'}", ("person", "bicycle"), None, id="ultralytics-dict"
        ),
        pytest.param("{1: 'b', 0: 'a'}", ("a", "b"), None, id="unordered-dict"),
        pytest.param("['a', 'b']", ("a", "b"), None, id="list"),
        pytest.param("{0: 'a', 2: 'c'}", None, r"indices 0\.\.1, got \[0, 2\]", id="gap"),
        pytest.param("__import__('os')", None, r"not a dict or list literal", id="code"),
        pytest.param("42", None, r"must be a dict or list, got int", id="int"),
        pytest.param("{'x': 'a'}", None, r"non-integer class indices", id="str-keys"),
        pytest.param("{0: 'a', 1: 'a'}", None, r"'a' is given twice", id="duplicate"),
    ],
)
def test_parse_names_metadata(text, expected, error) -> None:
    if error:
        with pytest.raises(LabelMappingError, match=error):
            parse_names_metadata(text)
    else:
        assert parse_names_metadata(text) == expected


def test_coco80_matches_the_names_file_of_the_assets() -> None:
    assert read_labels_file(COCO_NAMES) == COCO80
    assert COCO80[:8] == (
        "person",
        "bicycle",
        "car",
        "motorbike",
        "aeroplane",
        "bus",
        "train",
        "truck",
    )


def test_read_labels_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("a\n\nb\n\n")
    with pytest.raises(LabelMappingError, match=r"labels\.txt: class 1 has an empty name"):
        read_labels_file(path)
    with pytest.raises(LabelMappingError, match=r"cannot read"):
        read_labels_file(tmp_path / "missing.txt")


def test_resolve_labels_precedence(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    meta = ("x", "y")
    assert resolve_labels(2, meta).source is LabelSource.METADATA
    with caplog.at_level(logging.WARNING):
        given = resolve_labels(2, meta, labels=("p", "q"))
    assert given.names == ("p", "q") and given.source is LabelSource.LABELS
    assert "override its metadata" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assumed = resolve_labels(80, None, model_name="m.onnx")
    assert assumed.source is LabelSource.COCO80_ASSUMED and assumed.names == COCO80
    assert "m.onnx has no class names" in caplog.text


@pytest.mark.parametrize(
    ("unknown", "suggestion"),
    [
        pytest.param("motorcycle", "motorbike", id="motorcycle"),
        pytest.param("airplane", "aeroplane", id="airplane"),
        pytest.param("Car", "car", id="case"),
        pytest.param("persn", "person", id="typo"),
        pytest.param("zeppelin", None, id="nothing-close"),
    ],
)
def test_suggest_label(unknown, suggestion) -> None:
    assert suggest_label(unknown, COCO80) == suggestion


def test_map_classes_returns_index_to_role() -> None:
    roles = map_classes({"motorbike": "ebike", "car": "vehicle"}, COCO80)
    assert roles == {3: "ebike", 2: "vehicle"}


def test_map_classes_other_spelling_is_handled_by_the_mapping_not_code() -> None:
    ultralytics_names = ("person", "bicycle", "car", "motorcycle")
    assert map_classes({"motorcycle": "ebike"}, ultralytics_names) == {3: "ebike"}
    with pytest.raises(LabelMappingError, match=r"'motorbike' \(did you mean 'motorcycle'\?\)"):
        map_classes({"motorbike": "ebike"}, ultralytics_names, model_name="yolo11n.onnx")
