"""The web lab's labels as data (serve/assets/strings.json): English and Korean name the same
keys with the same {placeholders}, every key the page asks for exists, and the English of
index.html (shown before the script runs) is the English of the file."""

from __future__ import annotations

import json
import re
from importlib import resources

ASSETS = resources.files("attnlab.serve") / "assets"


def strings() -> dict[str, dict[str, str]]:
    return json.loads((ASSETS / "strings.json").read_text(encoding="utf-8"))


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_english_and_korean_have_the_same_keys_and_placeholders():
    table = strings()
    assert sorted(table) == ["en", "ko"]
    assert table["en"].keys() == table["ko"].keys()
    for key, english in table["en"].items():
        korean = table["ko"][key]
        assert isinstance(english, str) and isinstance(korean, str), key
        assert placeholders(english) == placeholders(korean), key
        if english:  # "ready" is empty in both
            assert (korean and korean != english) or key in {"top_k", "top_p"}, key  # translated


def test_every_key_the_page_uses_exists():
    en = strings()["en"]
    page = (ASSETS / "index.html").read_text(encoding="utf-8")
    script = (ASSETS / "lab.js").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n="(\w+)"', page))
    used |= set(re.findall(r'\b(?:label|t)\("(\w+)"[,)]', script))
    used |= set(re.findall(r'\bstep_\w+', script))
    assert len(used) > 40
    assert used - en.keys() == set()


def test_the_pages_english_is_the_files():
    en = strings()["en"]
    page = (ASSETS / "index.html").read_text(encoding="utf-8")
    shown = re.findall(r'data-i18n="(\w+)">([^<]*)<', page)
    assert len(shown) > 20
    for key, text in shown:
        assert text == en[key], key
