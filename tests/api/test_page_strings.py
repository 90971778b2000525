"""The pages' two languages (api.pages.i18n): every dictionary complete, every key a page uses
defined in both languages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.pages.i18n import COMMON, LABELS, StringsError, merge_strings, page_strings
from tests.api.app_harness import TOKENS, ApiHarness

pytestmark = pytest.mark.timeout(60)

PAGES = ["/ui/login", "/ui/review", "/ui/dashboard", "/ui/zones", "/ui/dispatch"]
# a key used in markup (data-i18n, data-i18n-placeholder, ...) or as a literal in HW.t('key', ..)
_USED = re.compile(
    r"""data-i18n(?:-placeholder|-title|-aria-label)?="([^"]+)"|HW\.t\('([^']+)'\s*[,)]"""
)
_STRINGS = re.compile(r"^  strings: (\{.*\}),$", re.MULTILINE)


@pytest.mark.parametrize(
    ("zh", "en", "message"),
    [
        ({"a.x": "甲"}, {}, "missing in English: ['a.x']"),
        ({}, {"a.x": "A"}, "missing in Chinese: ['a.x']"),
        ({"A x": "甲"}, {"A x": "A"}, "is not [a-z]"),
        ({"a.x": " "}, {"a.x": "A"}, "empty text"),
        ({"a.x": "{n} 条"}, {"a.x": "{count} items"}, "placeholders ['n'] in Chinese"),
    ],
    ids=["only-zh", "only-en", "bad-key", "empty", "placeholders"],
)
def test_page_strings_refuses_incomplete_dictionaries(
    zh: dict[str, str], en: dict[str, str], message: str
) -> None:
    with pytest.raises(StringsError, match=re.escape(message)):
        page_strings("test", zh=zh, en=en)


def test_a_key_defined_twice_differently_is_an_error() -> None:
    other = page_strings("other", zh={"nav.review": "复核"}, en={"nav.review": "Review"})
    with pytest.raises(StringsError, match=re.escape("'nav.review' (zh-CN) is defined twice")):
        merge_strings(COMMON, other)


def test_labels_cover_the_same_values_in_both_languages() -> None:
    for group, table in LABELS["en"].items():
        assert set(table) == set(LABELS["zh-CN"][group]), group


@pytest.fixture
def harness(tmp_path: Path, media_cache: Path) -> Iterator[ApiHarness]:
    made = ApiHarness(tmp_path, media_cache)
    yield made
    made.close()


@pytest.mark.parametrize("page", PAGES)
def test_every_key_a_page_uses_is_defined_in_both_languages(harness: ApiHarness, page: str) -> None:
    if page != "/ui/login":
        harness.client.get(f"{page}?token={TOKENS['admin'][0]}")  # sets the session cookie
    response = harness.client.get(page)
    assert response.status_code == 200, response.text
    html = response.text
    found = _STRINGS.search(html)
    assert found, f"{page}: no strings table in the page"
    strings = json.loads(found.group(1))
    assert set(strings) == {"zh-CN", "en"}
    used = {a or b for a, b in _USED.findall(html)}
    assert "nav.logout" in used or page == "/ui/login"
    for lang, table in strings.items():
        missing = sorted(used - set(table))
        assert not missing, f"{page}: keys without {lang} text: {missing}"
