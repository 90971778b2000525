"""Schemathesis against the app's own OpenAPI schema: no 5xx, and answers that match the schema.

The app runs in-process (ASGI) on a real store with real evidence: a closed ticket of ``lane_a``
with every evidence file and a live picture, and an open ticket of ``facade``, so that generated
requests reach the store and the media routes and not only the validators. Requests carry an
admin token (the role matrix covers the other roles). For each operation of the schema,
schemathesis generates requests that fit the schema and requests that do not (bounded, and
derandomized so that a failure is reproducible), and every answer is checked: never a server
error, status code, content type, headers and body as the schema declares them, schema
violations refused with a 4xx, methods the schema does not name refused, and operations that
declare the bearer token refusing requests without it. The whole run stays well under a minute
on two cores (``HW_SCHEMATHESIS_EXAMPLES`` raises the bound for a longer run by hand).

The operations are listed here, and :func:`test_every_operation_is_fuzzed` fails when the
schema gains one that the list lacks (so a new route is fuzzed too).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    ignored_auth,
    not_a_server_error,
    positive_data_acceptance,
    unsupported_method,
)
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.app_harness import ApiHarness, bearer, jpeg_bytes
from tests.api.closed_ticket import close_with_after_picture
from vision.types import HazardKind

pytestmark = pytest.mark.timeout(120)

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    unsupported_method,
    ignored_auth,
]
EXAMPLES_PER_MODE = int(os.environ.get("HW_SCHEMATHESIS_EXAMPLES", "50"))

# (method, path, whether it takes parameters or a body, i.e. can be sent data that does not fit)
OPERATIONS = [
    ("GET", "/health", False),
    ("GET", "/metrics", False),
    ("GET", "/stats", False),
    ("GET", "/stats/dashboard", True),
    ("GET", "/tickets", True),
    ("GET", "/tickets/{ticket_id}", True),
    ("POST", "/tickets/{ticket_id}/transition", True),
    ("GET", "/tickets/{ticket_id}/clip.mp4", True),
    ("HEAD", "/tickets/{ticket_id}/clip.mp4", True),
    ("GET", "/tickets/{ticket_id}/snapshot.jpg", True),
    ("HEAD", "/tickets/{ticket_id}/snapshot.jpg", True),
    ("GET", "/tickets/{ticket_id}/annotations", True),
    ("PUT", "/tickets/{ticket_id}/annotations", True),
    ("GET", "/tickets/{ticket_id}/frames/{t_ms}.jpg", True),
    ("GET", "/tickets/{ticket_id}/deliveries", True),
    ("GET", "/cameras", False),
    ("GET", "/cameras/{camera_id}/live", True),
    ("GET", "/cameras/{camera_id}/zones", True),
    ("PUT", "/cameras/{camera_id}/zones", True),
    ("GET", "/cameras/{camera_id}/snapshot.jpg", True),
    ("HEAD", "/cameras/{camera_id}/snapshot.jpg", True),
    ("GET", "/dispatch", False),
    ("PUT", "/dispatch", True),
    ("POST", "/tickets/{ticket_id}/assign", True),
]
CASES = [
    pytest.param(method, path, mode, id=f"{mode.value} {method} {path}")
    for method, path, takes_input in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if takes_input or mode is GenerationMode.POSITIVE
]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory, media_cache: Path) -> Iterator[Any]:
    harness = ApiHarness(tmp_path_factory.mktemp("schemathesis"), media_cache)
    close_with_after_picture(harness, "lane_a")
    harness.add_ticket("facade", "facade", HazardKind.FALLING_OBJECT)
    live = harness.data_dir / "live" / "lane_a.jpg"
    live.parent.mkdir(exist_ok=True)
    live.write_bytes(jpeg_bytes(5))
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", harness.app)
    finally:
        harness.close()


def test_every_operation_is_fuzzed(api_schema: Any) -> None:
    in_schema = {
        (method.upper(), path)
        for path, operations in api_schema.raw_schema["paths"].items()
        for method in operations
    }
    assert in_schema == {(method, path) for method, path, _ in OPERATIONS}
    for method, path, takes_input in OPERATIONS:
        raw = api_schema.raw_schema["paths"][path][method.lower()]
        assert takes_input == bool(raw.get("parameters") or raw.get("requestBody")), path


def test_the_schema_says_which_operations_need_a_token(api_schema: Any) -> None:
    raw = api_schema.raw_schema
    assert raw["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for method, path, _ in OPERATIONS:
        security = raw["paths"][path][method.lower()].get("security")
        assert security == (None if path == "/health" else [{"bearer": []}]), (method, path)


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_the_api_keeps_to_its_schema(
    api_schema: Any, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=bearer("admin"), checks=CHECKS)

    run()
