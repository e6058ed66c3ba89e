"""Kyrgyz, Russian and English strings of the UI.

Strings live in ``web/locales/*.json`` (key -> {ky, ru, en}), one file per part of the
app, merged at start; a key defined twice is an error. Code labels (land
categories, hazard types …) come from the data model's code lists in ``spatial.schema``.
Kyrgyz is the default language.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import cast

from fastapi import Request

from spatial.schema import LANGS

from .settings import Lang

LOCALES = Path(__file__).resolve().parent / "locales"
LANG_COOKIE = "jer_lang"


@cache
def catalog() -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = {}
    for path in sorted(LOCALES.glob("*.json")):
        part: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
        twice = sorted(set(part) & set(data))
        if twice:
            raise RuntimeError(f"{path.name}: keys defined in another locale file: {twice}")
        data.update(part)
    return data


def t(key: str, lang: str, **values: object) -> str:
    """The string ``key`` in ``lang``; English, then the key itself, as fallbacks."""
    entry = catalog().get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry.get("en") or key
    return text.format(**values) if values else text


def negotiate_lang(request: Request, default: Lang = "ky") -> Lang:
    """Language from ``?lang=``, then the language cookie, then Accept-Language."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGS:
            return cast(Lang, candidate)
    header = request.headers.get("accept-language", "")
    for part in header.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return cast(Lang, code)
    return default
