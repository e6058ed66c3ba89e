"""GeoJSON in and out of the JSON API: EPSG:4326 on the wire, the workspace CRS inside.

RFC 7946 GeoJSON is longitude/latitude; the workspace measures in a projected CRS.
Transformers are built once per CRS pair (pyproj's are thread-safe) because building
one costs more than transforming a parcel.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import orjson
import shapely
from fastapi.responses import JSONResponse
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from spatial.errors import Problem

WGS84 = "EPSG:4326"
GEOJSON = "application/geo+json"
_POLYGONAL = ("Polygon", "MultiPolygon")


@lru_cache(maxsize=16)
def _transformer(source: str, target: str) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(source), CRS.from_user_input(target),
                                always_xy=True)


def _key(crs: Any) -> str:
    found = CRS.from_user_input(crs)
    return found.srs or found.to_wkt()


def _transform(geoms: np.ndarray, source: Any, target: Any) -> np.ndarray:
    transformer = _transformer(_key(source), _key(target))

    def move(xy: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return np.asarray(shapely.transform(geoms, move), dtype=object)


def to_wgs84(geoms: np.ndarray | list[Any], crs: Any) -> np.ndarray:
    """Geometries from ``crs`` to EPSG:4326 (``None`` stays ``None``)."""
    return _transform(np.asarray(geoms, dtype=object), crs, WGS84)


def from_wgs84(geom: BaseGeometry, crs: Any) -> BaseGeometry:
    """One geometry from EPSG:4326 to ``crs``."""
    moved: BaseGeometry = _transform(np.array([geom], dtype=object), WGS84, crs)[0]
    return moved


def geojson(geoms: np.ndarray | list[Any]) -> list[dict[str, Any] | None]:
    """GeoJSON geometry objects of shapely geometries (``None`` for missing ones)."""
    texts = shapely.to_geojson(np.asarray(geoms, dtype=object))
    return [None if text is None else json.loads(text) for text in texts]


def polygon_from_geojson(value: Mapping[str, Any], *, column: str = "geometry"
                         ) -> tuple[BaseGeometry | None, list[Problem]]:
    """A drawn (multi)polygon from a GeoJSON geometry in EPSG:4326, or the problems.

    Coordinates outside longitude ±180 / latitude ±90 are refused with a problem that
    says so: the usual mistake is sending projected metres.
    """
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind not in _POLYGONAL:
        return None, [Problem(
            "wrong_geometry_type",
            f"geometry must be a GeoJSON Polygon or MultiPolygon in EPSG:4326, got "
            f"{kind if kind else type(value).__name__!r}",
            layer="geometry", column=column,
        )]
    try:
        geom = shapely.from_geojson(json.dumps(value))
    except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
        return None, [Problem("bad_geojson", f"geometry is not readable GeoJSON: {exc}",
                              layer="geometry", column=column)]
    if geom is None or geom.is_empty:
        return None, [Problem("empty_geometry", "geometry has no coordinates",
                              layer="geometry", column=column)]
    xmin, ymin, xmax, ymax = geom.bounds
    if not (-180 <= xmin <= xmax <= 180 and -90 <= ymin <= ymax <= 90):
        return None, [Problem(
            "not_wgs84",
            f"geometry coordinates must be longitude/latitude (EPSG:4326); its bounds "
            f"({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) are not — projected metres?",
            layer="geometry", column=column,
        )]
    return geom, []


class FastJSONResponse(JSONResponse):
    """JSON written by orjson: compact UTF-8 like Starlette's, several times faster.

    A check's answer carries its geometries as GeoJSON; ``json.dumps`` of it was 6 % of
    the server's CPU under concurrent checks, on the event loop. numpy scalars and
    arrays are written as numbers and lists. What orjson cannot write (an integer over
    64 bits, a key that is not a string) goes to Starlette's encoder, which answers as
    before. orjson writes NaN as ``null`` where Starlette refused it.
    """

    def render(self, content: Any) -> bytes:
        try:  # numpy scalars too: json.dumps writes a float64 (a float subclass)
            return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
        except TypeError:  # orjson.JSONEncodeError is one
            return super().render(content)


class GeoJSONResponse(FastJSONResponse):
    """JSON with the GeoJSON media type; varies by credentials, never sniffed as HTML."""

    media_type = GEOJSON

    def __init__(self, content: Any, status_code: int = 200,
                 headers: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(content, status_code=status_code,
                         headers={**API_HEADERS, **(headers or {})}, **kwargs)


#: Every API answer depends on who asks (permissions, personal columns).
API_HEADERS = {"X-Content-Type-Options": "nosniff", "Vary": "Authorization, Cookie"}


class APIResponse(FastJSONResponse):
    """A JSON answer of this API (``nosniff``, varies by credentials)."""

    def __init__(self, content: Any, status_code: int = 200,
                 headers: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(content, status_code=status_code,
                         headers={**API_HEADERS, **(headers or {})}, **kwargs)
