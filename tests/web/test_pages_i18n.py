"""The strings of the pages in Kyrgyz, Russian and English."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest

from web.i18n import LOCALES, t

FILES = ("messages.json", "pages.json")
#: Words Kyrgyz borrows from Russian unchanged, and names of the languages themselves.
SAME_IN_KY_AND_RU = {"municipality", "hectares", "field_id", "pages_lang_ky", "pages_lang_ru",
                     "pages_lang_en"}


def _entries() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for name in FILES:
        found.update(json.loads((LOCALES / name).read_text(encoding="utf-8")))
    return found


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


@pytest.mark.parametrize("key", sorted(_entries()))
def test_every_string_in_three_languages_with_the_same_placeholders(key):
    entry = _entries()[key]
    assert set(entry) == {"ky", "ru", "en"}
    assert all(entry[lang].strip() for lang in entry)
    assert _fields(entry["ky"]) == _fields(entry["ru"]) == _fields(entry["en"])


def test_kyrgyz_strings_are_not_russian_left_in_place():
    same = {k for k, v in _entries().items() if v["ky"] == v["ru"]}
    assert same <= SAME_IN_KY_AND_RU
    # letters only Kyrgyz has (ң, ө, ү) appear in most Kyrgyz strings; Russian-only
    # letters (щ, ъ, ё) in none of them
    for key, entry in _entries().items():
        assert not re.search("[щъё]", entry["ky"], re.I), key


def test_new_keys_of_the_pages_carry_their_part_prefix():
    pages = json.loads((LOCALES / "pages.json").read_text(encoding="utf-8"))
    assert all(key.startswith("pages_") for key in pages)


def test_every_key_the_templates_ask_for_exists():
    templates = Path(LOCALES).parent / "templates"
    asked: set[str] = set()
    for name in ("base.html", "login.html", "map.html", "balance.html",
                 "report/app_space.html"):
        source = (templates / name).read_text(encoding="utf-8")
        # whole keys only: t("pages_x", …), not keys built from parts (t("a_" ~ code, …))
        asked |= set(re.findall(r"""\bt\(\s*["']([a-z_]+)["']\s*,""", source))
    assert asked
    for key in asked:
        for lang in ("ky", "ru", "en"):
            assert t(key, lang) != key, (key, lang)
