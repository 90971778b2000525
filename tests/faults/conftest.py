"""Fixtures of the fault suite: the hazard clip, and ``hazardwatch up`` stopped at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import FacadeMedia, Service, facade_media


@pytest.fixture(scope="session")
def facade(media_cache: Path) -> FacadeMedia:
    return facade_media(media_cache)


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """``factory(config, redis_url, command="up", **kw)`` -> a Service (not started yet)."""
    made: list[Service] = []

    def make(config: Path, redis_url: str, **kwargs: Any) -> Service:
        kwargs.setdefault("name", f"{kwargs.get('command', 'up')}-{len(made) + 1}")
        service = Service(
            config=config,
            data_dir=kwargs.pop("data_dir", tmp_path / "data"),
            redis_url=redis_url,
            work_dir=tmp_path,
            **kwargs,
        )
        made.append(service)
        return service

    yield make
    for service in made:
        service.stop()
        print(f"--- {service.log_path} (tail)\n{service.log()[-3000:]}")
