"""``DispatchBook``: the mapping in force is the data dir's override while it is usable, else the
config's; each replacement of the file is seen by the next ticket, even within one clock tick."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from api.dispatch import DispatchBook, dispatch_path, write_dispatch
from api.settings.dispatch import Assignee, Contact, DispatchConfig
from pipelines.config import HazardwatchConfig
from tests.api.app_harness import make_config

PROPERTY = Contact(name="物业服务中心")


@pytest.fixture
def config() -> HazardwatchConfig:
    base = make_config()
    assert base.api is not None
    api = base.api.model_copy(
        update={"dispatch": DispatchConfig(cameras={"lane_a": Assignee(unit=PROPERTY)})}
    )
    return base.model_copy(update={"api": api})


def _unit(book: DispatchBook, camera_id: str = "lane_a", zone: str = "lane") -> str | None:
    found = book.assignee_for(camera_id, zone)
    return None if found is None else found[0].unit.name


def test_the_config_mapping_until_an_override_is_written(
    config: HazardwatchConfig, tmp_path: Path
) -> None:
    book = DispatchBook(config, tmp_path)
    assert book.current().source == "config"
    assert _unit(book) == PROPERTY.name
    assert _unit(book, "facade", "facade") is None
    for name in ("Crew 1", "Crew 2", "Crew 3"):  # rewritten quickly: same size, same tick
        mapping = DispatchConfig(cameras={"lane_a": Assignee(unit=Contact(name=name))})
        write_dispatch(tmp_path, mapping, by="admin")
        assert _unit(book) == name
        assert book.current().source == "override" and book.current().by == "admin"
    dispatch_path(tmp_path).unlink()
    assert _unit(book) == PROPERTY.name
    assert book.current().source == "config"


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"mapping": {}}),
        json.dumps({"dispatch": {"cameras": {"lane_a": {"unit": {}}}}}),
        json.dumps(["dispatch"]),
    ],
    ids=["not-json", "no-dispatch-key", "invalid-mapping", "not-an-object"],
)
def test_an_unusable_override_falls_back_to_the_config_with_a_warning(
    config: HazardwatchConfig,
    tmp_path: Path,
    content: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dispatch_path(tmp_path).write_text(content, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="api.dispatch"):
        book = DispatchBook(config, tmp_path)
        assert _unit(book) == PROPERTY.name
    assert book.current().source == "config"
    assert any("unusable" in record.getMessage() for record in caplog.records)
