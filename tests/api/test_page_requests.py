"""Every request the web pages make exists in the API, with query parameters it takes.

The API answers 422 to a query parameter a route does not declare (:func:`api.context.
reject_unknown_query`). The zone editor once asked ``/cameras/{id}/snapshot.jpg?t=<time>`` and
showed a broken picture for every camera; this test reads each page's addresses from its source
(:mod:`tests.api.page_requests`) and holds them to the app's routes, so such a mismatch fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from httpx import Response

from tests.api.app_harness import ApiHarness, bearer
from tests.api.page_requests import PageRequest, page_requests, requests_in

pytestmark = pytest.mark.timeout(60)

REQUESTS = page_requests()


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory, media_cache: Path) -> Iterator[ApiHarness]:
    made = ApiHarness(tmp_path_factory.mktemp("pages"), media_cache)
    yield made
    made.close()


def _send(harness: ApiHarness, request: PageRequest) -> Response:
    """The request as the page makes it: ``1`` for each computed part and query value, as admin
    (who may call everything), GET for addresses that are not a script's call."""
    path = request.path.replace("{}", "1")
    query = {name: "1" for name in sorted(request.query)}
    return harness.client.request(
        request.method or "GET", path, params=query, headers=bearer("admin")
    )


def test_the_pages_make_requests_at_all() -> None:
    """The reader finds the zone editor's own calls (a reader that finds nothing passes all)."""
    paths = {(r.module, r.method, r.path) for r in REQUESTS}
    assert ("zones.py", "GET", "/cameras/{}/zones") in paths
    assert ("zones.py", "PUT", "/cameras/{}/zones") in paths
    assert any(r.module == "zones.py" and r.path == "/cameras/{}/snapshot.jpg" for r in REQUESTS)
    # the dispatch rules and the review page's reassignment (issue 12)
    assert ("dispatch.py", "GET", "/dispatch") in paths
    assert ("dispatch.py", "PUT", "/dispatch") in paths
    assert ("dispatch.py", "GET", "/cameras") in paths
    assert ("dispatch.py", "GET", "/cameras/{}/zones") in paths
    assert ("review.py", "POST", "/tickets/{}/assign") in paths
    assert ("review.py", "GET", "/tickets/{}/deliveries") in paths  # the ticket's delivery log


@pytest.mark.parametrize(
    ("source", "path", "query", "method"),
    [
        (
            "x.src = '/cameras/' + encodeURIComponent(cam) + '/snapshot.jpg?t=' + Date.now();",
            "/cameras/{}/snapshot.jpg",
            {"t"},
            None,
        ),
        (
            "const q = new URLSearchParams(); q.set('status', s); q.append('limit', 5);\n"
            "await HW.api('/tickets?' + q.toString());",
            "/tickets",
            {"status", "limit"},
            "GET",
        ),
        (
            "await HW.api(`/cameras/${id}/zones`, {method: 'PUT', body: b});",
            "/cameras/{}/zones",
            set(),
            "PUT",
        ),
        ('f"/cameras/{cid}/snapshot.jpg"', "/cameras/{}/snapshot.jpg", set(), None),
    ],
    ids=["cache-buster", "search-params", "template-literal", "python-f-string"],
)
def test_the_reader_reads_addresses(
    source: str, path: str, query: set[str], method: str | None
) -> None:
    [found] = requests_in("x.py", source)
    assert (found.path, set(found.query), found.method, found.unresolved) == (
        path,
        query,
        method,
        None,
    )


def test_a_query_built_elsewhere_is_reported_unresolved() -> None:
    [found] = requests_in("x.py", "fetch('/tickets?' + makeQuery(filters));")
    assert found.unresolved == "makeQuery(filters)"


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: f"{r.where()} {r.path}")
def test_each_page_request_has_a_route_taking_its_query(
    harness: ApiHarness, request_: PageRequest
) -> None:
    assert request_.unresolved is None, (
        f"{request_.where()}: cannot tell which query parameters {request_.unresolved!r} adds to "
        f"{request_.path}; build it with URLSearchParams .set('name', ...) in the same file"
    )
    response = _send(harness, request_)
    shown = f"{request_.where()}: {request_.method or 'GET'} {request_.path}"
    is_json = "json" in response.headers.get("content-type", "")
    body = response.json() if is_json and response.content else {}
    detail = str(body.get("detail", ""))
    assert not (response.status_code == 404 and detail.startswith("no such endpoint")), (
        f"{shown}: no such route ({detail})"
    )
    if request_.method is not None:  # a link or image is a GET; a form may post
        assert response.status_code != 405, f"{shown}: {detail}"
    unknown = [e["loc"] for e in body.get("errors", []) if e["msg"] == "unknown query parameter"]
    assert not unknown, f"{shown} adds query parameters the route refuses: {detail}"


def test_the_snapshot_takes_a_cache_buster_and_is_never_cached(harness: ApiHarness) -> None:
    """The regression itself: ``?t=`` is answered like the plain address, ``no-store``."""
    live = harness.data_dir / "live"
    live.mkdir(exist_ok=True)
    (live / "lane_a.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg \xff\xd9")
    for address in ("/cameras/lane_a/snapshot.jpg", "/cameras/lane_a/snapshot.jpg?t=1733460000"):
        response = harness.client.get(address, headers=bearer("reviewer"))
        assert response.status_code == 200, (address, response.text)
        assert response.headers["cache-control"] == "no-store"
    wrong = harness.client.get("/cameras/lane_a/snapshot.jpg?tt=1", headers=bearer("reviewer"))
    assert wrong.status_code == 422  # other unknown parameters are still refused
    assert re.search(r"unknown query parameter 'tt'", wrong.json()["detail"])
