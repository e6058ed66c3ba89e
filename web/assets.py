"""Third-party JavaScript and CSS of the map pages, served by the app itself.

Municipal networks are often offline, so a map page must not load Leaflet and its plugins
from a CDN. Folium names each asset by its CDN URL (``default_js``/``default_css`` of a
map or plugin class); the installed ``folium-offline`` package (module ``offlinefolium``)
ships the text of those same files keyed by the same URLs. This module extracts them at
start-up, serves each under ``/assets/<file name>``, and points the Folium elements of a
page at those local URLs. Nothing third-party is copied into the repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from posixpath import basename
from typing import Any
from urllib.parse import urlsplit

import folium
from folium import plugins

from spatial.errors import NotFoundError

#: URL prefix under which the app serves the assets.
ASSET_PREFIX = "/assets/"

#: Folium classes the map pages use; their assets are extracted at start-up.
OFFLINE_ELEMENTS: tuple[type[Any], ...] = (
    folium.Map,
    plugins.VectorGridProtobuf,
    plugins.MeasureControl,
    plugins.Fullscreen,
)

_MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css"}


@dataclass(frozen=True)
class Asset:
    """One served file: its local name, media type, text and the CDN URL it replaces."""

    name: str
    media_type: str
    text: str
    source_url: str


def asset_name(source_url: str) -> str:
    """The local file name of a CDN URL (its last path segment, made to end in .js/.css)."""
    name = basename(urlsplit(source_url).path)
    return name if name.endswith((".js", ".css")) else f"{name}.js"


def _bundled_texts() -> dict[str, str]:
    from offlinefolium.elements import _res  # the package's URL -> file text table

    texts: dict[str, str] = dict(_res)
    return texts


@cache
def offline_assets() -> dict[str, Asset]:
    """Every asset the map pages need, by local name; read once from ``offlinefolium``.

    Raises
    ------
    NotFoundError
        If the installed package lacks an asset a Folium class names, or two assets would
        get the same local name — both mean a Folium/folium-offline version mismatch.
    """
    texts = _bundled_texts()
    assets: dict[str, Asset] = {}
    problems: list[str] = []
    for cls in OFFLINE_ELEMENTS:
        for _, url in [*cls.default_js, *cls.default_css]:
            name = asset_name(url)
            if url not in texts:
                problems.append(f"{cls.__name__}: {url} is not bundled in folium-offline")
                continue
            previous = assets.get(name)
            if previous is not None and previous.source_url != url:
                problems.append(f"{cls.__name__}: {url} and {previous.source_url} share {name}")
                continue
            suffix = name[name.rfind("."):]
            assets[name] = Asset(name, _MEDIA_TYPES[suffix], texts[url], url)
    if problems:
        raise NotFoundError("offline map assets missing: " + "; ".join(problems))
    return assets


def asset(name: str) -> Asset:
    """The asset served as ``/assets/<name>``."""
    found = offline_assets().get(name)
    if found is None:
        raise NotFoundError(f"no asset {name!r}")
    return found


def localise(element: Any) -> Any:
    """Point a Folium map or plugin at the app's own asset URLs instead of the CDN.

    The lists are replaced on the instance (never mutated), so Folium's class-level
    defaults stay untouched for other users of Folium in the process.
    """
    assets = offline_assets()
    for attribute in ("default_js", "default_css"):
        local = []
        for key, url in getattr(element, attribute, []):
            name = asset_name(url)
            if name not in assets:
                raise NotFoundError(f"{type(element).__name__}: asset {url} is not served")
            local.append((key, ASSET_PREFIX + name))
        setattr(element, attribute, local)
    return element
