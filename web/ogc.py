"""OGC API - Features over a workspace: Part 1 (core, GeoJSON, OpenAPI 3.0), Part 2 (CRS by
reference), Part 3 queryables and Part 4 (create, replace, delete) under ``/ogc``.

QGIS and GDAL open the inventory and every reference layer through this service, and
editors change parcels from QGIS with the rules of the web app: the same store calls
(:meth:`~spatial.store.Workspace.create_parcel`, ``update_parcel`` with the expected
row version, ``delete_parcel``), so every edit is validated, versioned and written to the
same history, in the name of the signed-in account.

Choices a client can rely on:

- Collections are the workspace's layers; feature ids are the store's ``fid`` (integers
  that never change, not even when a parcel's cadastral number does), and every page is
  in ``fid`` order, so paging by ``next`` links is stable.
- Coordinates are CRS84 (longitude, latitude) unless ``crs`` asks for EPSG:4326 or the
  workspace CRS; EPSG codes are answered in their authority axis order (EPSG:4326 is
  latitude first), as Part 2 requires. Geometries are kept in GIS (x = east) order
  internally and swapped only at the edge of the service, in and out.
- A full ``PUT`` must carry the ``row_version`` it read (in the properties, or as
  ``If-Match``): missing is 428, stale is 412, and nothing is written.
- The public role sees only published collections (see :func:`is_published`) and never
  a personal column; OPTIONS answers with the methods the caller may use.

Pages are written without a GeoJSON library: geometries are transformed and encoded
for the whole page at once (``shapely.transform`` / ``shapely.to_geojson``), properties
as JSON lines by pandas, and the features joined as text.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from fastapi import HTTPException
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from spatial.errors import (
    ConflictError,
    CRSError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from spatial.schema import LayerSchema, codes, layer_schema
from spatial.store import Workspace

from .auth import User
from .i18n import t

__all__ = [
    "CONFORMANCE",
    "CRS84",
    "DEFAULT_LIMIT",
    "EDITABLE_LAYERS",
    "GEOJSON",
    "JSON",
    "MAX_LIMIT",
    "OPENAPI_30",
    "SCHEMA_JSON",
    "Feature",
    "MissingVersion",
    "OgcCrs",
    "Page",
    "Stale",
    "allowed_methods",
    "collection_document",
    "collections_document",
    "conformance_document",
    "create_feature",
    "delete_feature",
    "feature_document",
    "is_published",
    "items_page",
    "landing_document",
    "openapi_document",
    "parse_crs",
    "publication",
    "queryables_document",
    "replace_feature",
    "set_published",
    "visible_layer",
]

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/"
GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI_30 = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA_JSON = "application/schema+json"
#: Page size when a client gives no ``limit``, and the largest page served. A larger
#: ``limit`` is served as the maximum (Part 1 asks for this instead of an error).
DEFAULT_LIMIT = 1_000
MAX_LIMIT = 10_000
#: Layers that Part 4 may change: parcels, the versioned inventory with a history.
#: Reference layers are replaced by imports (``jer import``), not feature by feature.
EDITABLE_LAYERS = frozenset({"parcels"})
#: Layer metadata key holding ``"false"`` for a layer hidden from the public role.
PUBLISHED_KEY = "published"
#: Sent-back geometries within this many metres of the stored one are not a change.
ROUND_TRIP_M = 0.001

CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
)
#: Query parameters of ``/items`` besides one per queryable property.
ITEMS_PARAMETERS = frozenset({"limit", "offset", "bbox", "bbox-crs", "crs", "properties", "f",
                              "lang"})
FEATURE_PARAMETERS = frozenset({"crs", "properties", "f", "lang"})
_JSON_TYPES = {"text": "string", "integer": "integer", "real": "number", "boolean": "boolean",
               "date": "string"}
_GEOMETRY_SCHEMAS = {
    "Point": "https://geojson.org/schema/Point.json",
    "LineString": "https://geojson.org/schema/LineString.json",
    "Polygon": "https://geojson.org/schema/Polygon.json",
    "MultiPoint": "https://geojson.org/schema/MultiPoint.json",
    "MultiLineString": "https://geojson.org/schema/MultiLineString.json",
    "MultiPolygon": "https://geojson.org/schema/MultiPolygon.json",
}
_STORE_MANAGED = ("fid", "id")


class Stale(HTTPException):
    """A replace or delete made from a version that is no longer current: 412 with the
    current ``ETag``, like the parcels API; nothing was written."""

    def __init__(self, message: str, *, current: int | None) -> None:
        super().__init__(412, detail=message,
                         headers={} if current is None else {"ETag": f'"{current}"'})
        self.current = current


class MissingVersion(HTTPException):
    """A replace naming no version to check: 428 Precondition Required."""

    def __init__(self, message: str) -> None:
        super().__init__(428, detail=message)


# --------------------------------------------------------------------------- CRS


@dataclass(frozen=True)
class OgcCrs:
    """A CRS as the service offers it: its URI, the pyproj CRS and its axis order."""

    uri: str
    crs: CRS
    #: Authority axis order has northing/latitude first (EPSG:4326): coordinates are
    #: swapped at the service edge, since geometries inside are always x = east.
    lat_first: bool

    @property
    def epsg(self) -> int | None:
        return None if self.uri == CRS84 else int(self.uri.rsplit("/", 1)[1])


@cache
def _ogc_crs(uri: str) -> OgcCrs:
    if uri == CRS84:
        return OgcCrs(CRS84, CRS.from_user_input("OGC:CRS84"), lat_first=False)
    crs = CRS.from_epsg(int(uri.rsplit("/", 1)[1]))
    return OgcCrs(uri, crs, lat_first=crs.axis_info[0].direction in ("north", "south"))


def offered_crs(workspace: Workspace) -> list[OgcCrs]:
    """CRS84 (the default), EPSG:4326 and the workspace's own CRS, in that order."""
    own = f"{EPSG_URI}{workspace.crs.to_epsg()}"
    uris = [CRS84, f"{EPSG_URI}4326"]
    if own not in uris:
        uris.append(own)
    return [_ogc_crs(uri) for uri in uris]


def storage_crs(workspace: Workspace) -> OgcCrs:
    return _ogc_crs(f"{EPSG_URI}{workspace.crs.to_epsg()}")


def _normalise_crs(value: str) -> str:
    text = value.strip().strip("<>").strip().strip("[]").strip()
    if text.startswith("https://"):
        text = "http://" + text[len("https://"):]
    upper = text.upper()
    if upper in ("OGC:CRS84", "CRS84", "URN:OGC:DEF:CRS:OGC:1.3:CRS84",
                 "URN:OGC:DEF:CRS:OGC::CRS84"):
        return CRS84
    for prefix in ("EPSG:", "URN:OGC:DEF:CRS:EPSG::", "URN:OGC:DEF:CRS:EPSG:0:"):
        if upper.startswith(prefix) and text[len(prefix):].isdigit():
            return f"{EPSG_URI}{int(text[len(prefix):])}"
    if text.startswith(EPSG_URI) and text[len(EPSG_URI):].isdigit():
        return f"{EPSG_URI}{int(text[len(EPSG_URI):])}"
    return text


def parse_crs(value: str | None, workspace: Workspace, *, parameter: str) -> OgcCrs:
    """The offered CRS named by ``value`` (a URI, ``[EPSG:n]`` or ``EPSG:n``); CRS84 if None.

    Raises
    ------
    CRSError
        If the CRS is not one the collections offer (HTTP 400, as Part 2 asks).
    """
    if value is None or not value.strip():
        return _ogc_crs(CRS84)
    uri = _normalise_crs(value)
    offered = offered_crs(workspace)
    for candidate in offered:
        if candidate.uri == uri:
            return candidate
    raise CRSError(
        f"{parameter} {value!r} is not offered; use one of "
        f"{', '.join(c.uri for c in offered)}"
    )


@cache
def _transformer(source: str, target: str) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(source), CRS.from_user_input(target),
                                always_xy=True)


def _crs_key(crs: CRS | OgcCrs) -> str:
    if isinstance(crs, OgcCrs):
        return "OGC:CRS84" if crs.uri == CRS84 else f"EPSG:{crs.epsg}"
    return f"EPSG:{crs.to_epsg()}"


def to_service(geoms: np.ndarray, source: CRS, target: OgcCrs) -> np.ndarray:
    """Geometries from the workspace CRS into ``target``, in its authority axis order."""
    same = target.epsg is not None and target.epsg == source.to_epsg()
    if same and not target.lat_first:
        return geoms
    transformer = None if same else _transformer(_crs_key(source), _crs_key(target))

    def move(xy: np.ndarray) -> np.ndarray:
        x, y = (xy[:, 0], xy[:, 1]) if transformer is None else \
            transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([y, x] if target.lat_first else [x, y])

    return shapely.transform(geoms, move)


def from_service(geometry: BaseGeometry, source: OgcCrs) -> BaseGeometry:
    """A geometry sent in ``source`` (authority axis order) in GIS (x = east) order."""
    if not source.lat_first:
        return geometry
    return shapely.transform(geometry, lambda xy: xy[:, ::-1])


def _bbox(value: str, crs: OgcCrs) -> tuple[float, float, float, float]:
    """``bbox`` text (4 or 6 numbers in ``crs`` axis order) as (xmin, ymin, xmax, ymax)."""
    parts = value.split(",")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (4, 6) or not all(math.isfinite(n) for n in numbers):
        raise InputError(
            f"bbox {value!r} must be 4 numbers (lower corner, upper corner) or 6 with heights"
        )
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    a0, a1, b0, b1 = numbers
    if crs.lat_first:
        a0, a1, b0, b1 = a1, a0, b1, b0
    if a0 > b0 or a1 > b1:
        raise InputError(f"bbox {value!r}: the lower corner must come first")
    return a0, a1, b0, b1


# --------------------------------------------------------------------------- publication


def is_published(workspace: Workspace, layer: str) -> bool:
    """Whether the public role sees ``layer``; every layer is published until switched off.

    Parcels without their personal columns are public in the web app too (maps, tiles),
    so the default keeps the service consistent with it; ``jer publish LAYER --off``
    hides a layer (e.g. a draft zoning plan) from visitors who are not signed in.
    """
    return workspace.layer_metadata(layer).get(PUBLISHED_KEY, "true").lower() != "false"


def set_published(workspace: Workspace, layer: str, published: bool) -> None:
    """Publish or withdraw ``layer`` for the public role (layer metadata ``published``)."""
    workspace.set_layer_metadata(layer, {PUBLISHED_KEY: "true" if published else "false"})


def publication(workspace: Workspace) -> dict[str, bool]:
    """``{layer: published}`` for every layer of the workspace, in schema order."""
    return {layer: is_published(workspace, layer) for layer in workspace.layers()}


def visible_layers(workspace: Workspace, user: User) -> list[str]:
    """Layers the caller may read: all when signed in, the published ones otherwise."""
    layers = workspace.layers()
    if user.username is not None:
        return layers
    return [layer for layer in layers if is_published(workspace, layer)]


def visible_layer(workspace: Workspace, layer: str, user: User) -> LayerSchema:
    """Schema of a collection the caller may read; NotFoundError otherwise.

    An unpublished collection is "not found" for the public role rather than
    "forbidden", so its existence is not revealed either.
    """
    if layer not in workspace.layers() or (
        user.username is None and not is_published(workspace, layer)
    ):
        raise NotFoundError(f"no collection {layer!r}")
    return layer_schema(layer)


def _columns(spec: LayerSchema, user: User) -> list[str]:
    """Stored columns the caller may read (personal ones only with ``read_personal``)."""
    personal = set(spec.personal_columns)
    return [c for c in spec.all_columns if user.can("read_personal") or c not in personal]


def _column_type(spec: LayerSchema, column: str) -> str:
    column_spec = spec.columns.get(column) or spec.computed[column]
    return column_spec.type


def allowed_methods(workspace: Workspace, layer: str, user: User, *, item: bool) -> list[str]:
    """HTTP methods the caller may use on a collection's items (or on one item).

    Editing methods are listed only for an editable layer and a caller holding
    ``edit_inventory``, so QGIS offers editing exactly to those who may edit. PATCH is
    not offered: partial updates are not versioned like a full replace.
    """
    visible_layer(workspace, layer, user)
    methods = ["GET", "OPTIONS"]
    if layer in EDITABLE_LAYERS and user.can("edit_inventory"):
        methods += ["PUT", "DELETE"] if item else ["POST"]
    return methods


# --------------------------------------------------------------------------- documents


def _link(href: str, rel: str, type_: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": type_, "title": title}


def landing_document(workspace: Workspace, base: str, user: User, *,
                     lang: str) -> dict[str, Any]:
    """The landing page: where the API description, conformance and collections are.

    Titled with the municipality's name when the caller may read that layer.
    """
    title = "Jer"
    if "municipality" in visible_layers(workspace, user):
        names = workspace.read_layer("municipality", columns=[f"name_{lang}"])[f"name_{lang}"]
        if len(names):
            title = f"Jer: {names.iloc[0]}"
    return {
        "title": title,
        "description": t("ogc.landing_description", lang),
        "links": [
            _link(f"{base}/", "self", JSON, "This document"),
            _link(f"{base}/api", "service-desc", OPENAPI_30, "The API definition (OpenAPI 3.0)"),
            _link(f"{base}/conformance", "conformance", JSON, "Conformance classes"),
            _link(f"{base}/conformance", "http://www.opengis.net/def/rel/ogc/1.0/conformance",
                  JSON, "Conformance classes"),
            _link(f"{base}/collections", "data", JSON, "Collections"),
            _link(f"{base}/collections", "http://www.opengis.net/def/rel/ogc/1.0/data", JSON,
                  "Collections"),
        ],
    }


def conformance_document() -> dict[str, Any]:
    return {"conformsTo": list(CONFORMANCE)}


def _extent_crs84(workspace: Workspace, layer: str) -> list[float] | None:
    extent = workspace.extent(layer)
    if extent is None:
        return None
    transformer = _transformer(_crs_key(workspace.crs), "OGC:CRS84")
    bounds = transformer.transform_bounds(*extent, densify_pts=21)
    return [round(float(v), 7) for v in bounds]


def collection_document(workspace: Workspace, layer: str, base: str, user: User, *,
                        lang: str) -> dict[str, Any]:
    """One collection: extent in CRS84, offered CRS, storage CRS, item count, links."""
    spec = visible_layer(workspace, layer, user)
    href = f"{base}/collections/{layer}"
    meta = workspace.layer_metadata(layer)
    description = meta.get("description") or meta.get("note") or spec.title.get("en", layer)
    document: dict[str, Any] = {
        "id": layer,
        "title": spec.title.get(lang) or spec.title.get("en", layer),
        "description": description,
        "itemType": "feature",
        "crs": [c.uri for c in offered_crs(workspace)],
        "storageCrs": storage_crs(workspace).uri,
        "itemCount": workspace.count(layer),
        "links": [
            _link(href, "self", JSON, "This collection"),
            _link(f"{href}/items", "items", GEOJSON, "Features"),
            _link(f"{href}/queryables", "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                  SCHEMA_JSON, "Queryable properties"),
        ],
    }
    extent = _extent_crs84(workspace, layer)
    if extent is not None:
        document["extent"] = {"spatial": {"bbox": [extent], "crs": CRS84}}
    return document


def collections_document(workspace: Workspace, base: str, user: User, *,
                         lang: str) -> dict[str, Any]:
    """Every collection the caller may read."""
    return {
        "links": [_link(f"{base}/collections", "self", JSON, "Collections")],
        "collections": [collection_document(workspace, layer, base, user, lang=lang)
                        for layer in visible_layers(workspace, user)],
        "crs": [c.uri for c in offered_crs(workspace)],
    }


def queryables_document(workspace: Workspace, layer: str, base: str, user: User, *,
                        lang: str) -> dict[str, Any]:
    """JSON Schema of the properties the caller may read and filter on (``?name=value``)."""
    spec = visible_layer(workspace, layer, user)
    properties: dict[str, Any] = {}
    for column in _columns(spec, user):
        column_spec = spec.columns.get(column) or spec.computed[column]
        entry: dict[str, Any] = {"title": column, "type": _JSON_TYPES[column_spec.type]}
        if column_spec.type == "date":
            entry["format"] = "date"
        if column_spec.codes:
            entry["enum"] = list(codes(column_spec.codes))
        if column in spec.computed:
            entry["readOnly"] = True
        properties[column] = entry
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": f"{base}/collections/{layer}/queryables",
        "type": "object",
        "title": spec.title.get(lang) or spec.title.get("en", layer),
        "properties": properties,
        "additionalProperties": False,
    }


# --------------------------------------------------------------------------- features


def _iso_dates(values: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(values)
    return parsed.dt.strftime("%Y-%m-%d").astype(object).where(parsed.notna(), None)


def _properties_json(frame: pd.DataFrame, spec: LayerSchema) -> list[str]:
    """One JSON object per row, written by pandas for the whole page at once."""
    if len(frame.columns) == 0:
        return ["{}"] * len(frame)
    if len(frame) == 0:
        return []
    out = frame.copy()
    for column in out.columns:
        if _column_type(spec, column) == "date":
            out[column] = _iso_dates(out[column])
    text = out.to_json(orient="records", lines=True, force_ascii=False, double_precision=15)
    return text.rstrip("\n").split("\n")


def encode_features(frame: gpd.GeoDataFrame, spec: LayerSchema, target: OgcCrs) -> list[str]:
    """Features of a frame as GeoJSON texts in ``target``; ids are the ``fid``."""
    geoms = to_service(frame.geometry.to_numpy(), frame.crs, target)
    texts = shapely.to_geojson(geoms)
    geometries = ["null" if t is None else t for t in texts.tolist()]
    properties = _properties_json(pd.DataFrame(frame.drop(columns=["fid", "geometry"])), spec)
    fids = frame["fid"].tolist()
    return [
        f'{{"type":"Feature","id":{fid},"geometry":{geometry},"properties":{props}}}'
        for fid, geometry, props in zip(fids, geometries, properties, strict=True)
    ]


def _check_parameters(given: Mapping[str, str], allowed: set[str] | frozenset[str]) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise InputError(
            f"unknown query parameter(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(allowed))}"
        )
    if given.get("f", "json").lower() not in ("json", "geojson"):
        raise InputError(f"f={given['f']!r}: only json (GeoJSON) is served")


def _selected(value: str | None, readable: list[str], layer: str) -> list[str]:
    if value is None:
        return readable
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in readable]
    if unknown:
        raise InputError(
            f"{layer}: unknown properties {', '.join(map(repr, unknown))}; "
            f"properties are {', '.join(readable)}"
        )
    return [c for c in readable if c in names]


def _filter_value(spec: LayerSchema, column: str, text: str) -> object:
    """A ``?column=value`` filter as the column's type; InputError naming it otherwise."""
    kind = _column_type(spec, column)
    try:
        if kind == "integer":
            return int(text)
        if kind == "real":
            return float(text)
        if kind == "date":
            return date.fromisoformat(text)
        if kind == "boolean":
            flag = {"true": True, "1": True, "false": False, "0": False}.get(text.lower())
            if flag is None:
                raise ValueError(text)
            return flag
    except ValueError as exc:
        raise InputError(f"{spec.name}: filter {column}={text!r} is not a {kind}") from exc
    return text


@dataclass(frozen=True)
class Page:
    """An encoded page of features and the headers that go with it."""

    body: bytes
    crs: OgcCrs
    returned: int
    matched: int


def _link_with(url: str, params: Mapping[str, str], **changes: int) -> str:
    merged = {**params, **{k: str(v) for k, v in changes.items()}}
    return f"{url}?{urlencode(merged)}"


def items_page(workspace: Workspace, layer: str, params: Mapping[str, str], *, base: str,
               user: User) -> Page:
    """A page of ``/collections/{layer}/items`` for the given query parameters.

    ``next`` is given while features remain, ``prev`` after the first page; both keep
    every other parameter, so a client follows them to the end in a stable order.
    """
    spec = visible_layer(workspace, layer, user)
    readable = _columns(spec, user)
    _check_parameters(params, ITEMS_PARAMETERS | set(readable))
    limit = _integer(params.get("limit"), "limit", DEFAULT_LIMIT, minimum=1)
    limit = min(limit, MAX_LIMIT)
    offset = _integer(params.get("offset"), "offset", 0, minimum=0)
    target = parse_crs(params.get("crs"), workspace, parameter="crs")
    box = None
    bbox_crs = None
    if params.get("bbox"):
        box_crs = parse_crs(params.get("bbox-crs"), workspace, parameter="bbox-crs")
        box = _bbox(params["bbox"], box_crs)
        bbox_crs = box_crs.crs
    elif params.get("bbox-crs"):
        raise InputError("bbox-crs given without bbox")
    where = {c: _filter_value(spec, c, params[c]) for c in readable if c in params}
    columns = _selected(params.get("properties"), readable, layer)
    page, matched = workspace.read_page(
        layer, limit=limit, offset=offset, bbox=box, bbox_crs=bbox_crs, columns=columns,
        where=where or None, include_personal=user.can("read_personal"),
    )
    features = encode_features(page, spec, target)
    url = f"{base}/collections/{layer}/items"
    kept = {k: v for k, v in params.items() if k not in ("offset", "limit")}
    links = [_link(_link_with(url, kept, limit=limit, offset=offset), "self", GEOJSON,
                   "This page"),
             _link(f"{base}/collections/{layer}", "collection", JSON, "The collection")]
    if offset + len(features) < matched and features:
        links.append(_link(_link_with(url, kept, limit=limit, offset=offset + limit), "next",
                           GEOJSON, "Next page"))
    if offset > 0:
        links.append(_link(_link_with(url, kept, limit=limit, offset=max(0, offset - limit)),
                           "prev", GEOJSON, "Previous page"))
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    head = (f'{{"type":"FeatureCollection","timeStamp":"{stamp}","numberMatched":{matched},'
            f'"numberReturned":{len(features)},"links":{json.dumps(links)},"features":[')
    body = (head + ",".join(features) + "]}").encode("utf-8")
    return Page(body=body, crs=target, returned=len(features), matched=matched)


def _integer(value: str | None, name: str, default: int, *, minimum: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise InputError(f"{name}={value!r} must be an integer of at least {minimum}")
    return number


def _fid(feature_id: str, layer: str) -> int:
    if not feature_id.isdigit():
        raise NotFoundError(f"{layer}: no feature {feature_id!r}")
    return int(feature_id)


@dataclass(frozen=True)
class Feature:
    """One encoded feature and its entity tag."""

    body: bytes
    crs: OgcCrs
    etag: str


def _etag(spec: LayerSchema, frame: gpd.GeoDataFrame, text: str) -> str:
    if spec.versioned:
        return f'"{int(frame["row_version"].iloc[0])}"'
    return f'W/"{hashlib.sha256(text.encode()).hexdigest()[:20]}"'


def feature_document(workspace: Workspace, layer: str, feature_id: str,
                     params: Mapping[str, str], *, base: str, user: User) -> Feature:
    """One feature (``/items/{id}``) with its ETag: the row version for parcels."""
    spec = visible_layer(workspace, layer, user)
    readable = _columns(spec, user)
    _check_parameters(params, FEATURE_PARAMETERS)
    target = parse_crs(params.get("crs"), workspace, parameter="crs")
    columns = _selected(params.get("properties"), readable, layer)
    return _feature(workspace, spec, _fid(feature_id, layer), target, base=base, user=user,
                    columns=columns)


def _feature(workspace: Workspace, spec: LayerSchema, fid: int, target: OgcCrs, *, base: str,
             user: User, columns: list[str] | None = None) -> Feature:
    readable = _columns(spec, user)
    wanted = readable if columns is None else columns
    fetch = wanted if not spec.versioned or "row_version" in wanted else [*wanted, "row_version"]
    frame = workspace.read_layer(spec.name, where={"fid": fid}, columns=fetch,
                                 include_personal=user.can("read_personal"))
    if len(frame) == 0:
        raise NotFoundError(f"{spec.name}: no feature {fid}")
    shown = frame[["fid", *wanted, "geometry"]]
    text = encode_features(gpd.GeoDataFrame(shown, geometry="geometry", crs=frame.crs), spec,
                           target)[0]
    href = f"{base}/collections/{spec.name}"
    links = [_link(f"{href}/items/{fid}", "self", GEOJSON, "This feature"),
             _link(href, "collection", JSON, "The collection")]
    body = text[:-1] + f',"links":{json.dumps(links)}}}'
    return Feature(body=body.encode("utf-8"), crs=target, etag=_etag(spec, frame, text))


# --------------------------------------------------------------------------- editing


def _editable(workspace: Workspace, layer: str, user: User) -> LayerSchema:
    spec = visible_layer(workspace, layer, user)
    if layer not in EDITABLE_LAYERS:
        raise PermissionDeniedError(
            f"collection {layer!r} is read-only here; only "
            f"{', '.join(sorted(EDITABLE_LAYERS))} can be edited (reference layers are "
            f"imported with jer import)"
        )
    return spec


def _parse_body(raw: bytes) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(properties, geometry) of a GeoJSON Feature body; InputError naming what is wrong."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"the body is not JSON: {exc}") from exc
    if not isinstance(body, dict) or body.get("type") != "Feature":
        raise InputError('the body must be one GeoJSON Feature ({"type": "Feature", ...})')
    properties = body.get("properties") or {}
    geometry = body.get("geometry")
    if not isinstance(properties, dict):
        raise InputError("the feature's properties must be a JSON object")
    if geometry is not None and not isinstance(geometry, dict):
        raise InputError("the feature's geometry must be a GeoJSON geometry object or null")
    return properties, geometry


def _record(spec: LayerSchema, properties: Mapping[str, Any], geometry: dict[str, Any] | None,
            source: OgcCrs, user: User, *, replace: bool) -> dict[str, Any]:
    """Editable columns and the geometry (GIS axis order, in ``source``) of a request.

    Computed columns (area, version, who and when) are ignored, so a feature read from
    the service can be sent back as it is. A replace sets every editable column the
    caller can see, absent ones to null; personal columns the caller cannot see keep
    their stored value.
    """
    computed = set(spec.computed) | set(_STORE_MANAGED)
    record = {k: v for k, v in properties.items() if k not in computed}
    personal = set(spec.personal_columns)
    may_personal = user.can("read_personal")
    sent_personal = sorted(personal & set(record))
    if sent_personal and not may_personal:
        raise PermissionDeniedError(f"role {user.role!r} may not write {sent_personal}")
    if replace:
        for column in spec.columns:
            if column not in record and (may_personal or column not in personal):
                record[column] = None
    if geometry is not None:
        try:
            shape = shapely.from_geojson(json.dumps(geometry))
        except (shapely.errors.GEOSException, ValueError) as exc:
            raise InputError(f"{spec.name}: geometry is not valid GeoJSON: {exc}") from exc
        record["geometry"] = from_service(shape, source)
    elif replace:
        record["geometry"] = None
    return record


def _same_shape(sent: Any, stored: BaseGeometry, source: OgcCrs, workspace: Workspace) -> bool:
    """Whether a sent geometry is the stored one up to the trip through the service CRS.

    QGIS sends back every feature it saves with coordinates it read in degrees; the
    round trip moves vertices by far less than a millimetre, which is not an edit.
    """
    if not isinstance(sent, BaseGeometry):
        return False
    transformer = _transformer(_crs_key(source), _crs_key(workspace.crs))
    projected = shapely.transform(
        sent, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
    )
    return bool(shapely.equals_exact(shapely.normalize(projected), shapely.normalize(stored),
                                     tolerance=ROUND_TRIP_M))


def _version(value: Any, where: str) -> int:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("W/"):
            text = text[2:]
        if len(text) > 2 and text[0] == text[-1] == '"':
            text = text[1:-1]
        if text.isdigit():
            return int(text)
    elif isinstance(value, int | float) and not isinstance(value, bool) and \
            float(value).is_integer() and value >= 1:
        return int(value)
    raise InputError(f"{where} {value!r} is not a row version of this service, e.g. 3")


def expected_version(if_match: str | None, properties: Mapping[str, Any]) -> int:
    """The version a replace was made from: ``If-Match``, else property ``row_version``.

    QGIS cannot send ``If-Match``; it sends back every property it read, so the
    ``row_version`` property carries the precondition. Both given and different is
    a contradiction in the request itself (400).
    """
    header = None if if_match is None else _version(if_match, "If-Match")
    sent = properties.get("row_version")
    prop = None if sent is None else _version(sent, "property row_version")
    if header is not None and prop is not None and header != prop:
        raise InputError(f"If-Match names version {header} but property row_version is {prop}")
    version = header if header is not None else prop
    if version is None:
        raise MissingVersion(
            "send the row_version you read (property row_version, or If-Match: "
            '"<row_version>"): a replace without it could overwrite a colleague\'s edit'
        )
    return version


def create_feature(workspace: Workspace, layer: str, raw: bytes, *, source: OgcCrs,
                   base: str, user: User) -> tuple[int, Feature]:
    """POST: a new parcel, validated and recorded as ``create`` in the history."""
    spec = _editable(workspace, layer, user)
    properties, geometry = _parse_body(raw)
    record = _record(spec, properties, geometry, source, user, replace=False)
    created = workspace.create_parcel(record, user=user.name, crs=source.crs)
    fid = int(created["fid"])
    return fid, _feature(workspace, spec, fid, source, base=base, user=user)


def replace_feature(workspace: Workspace, layer: str, feature_id: str, raw: bytes, *,
                    source: OgcCrs, if_match: str | None, base: str, user: User) -> Feature:
    """PUT: replace a parcel still at the version the caller read (412 otherwise)."""
    spec = _editable(workspace, layer, user)
    fid = _fid(feature_id, layer)
    properties, geometry = _parse_body(raw)
    expected = expected_version(if_match, properties)
    record = _record(spec, properties, geometry, source, user, replace=True)
    current = workspace.get_parcel(fid, include_personal=False)
    if current["row_version"] != expected:
        raise _stale(fid, expected, current["row_version"])
    if _same_shape(record.get("geometry"), current["geometry"], source, workspace):
        del record["geometry"]
    try:
        workspace.update_parcel(fid, record, expected_version=expected, user=user.name,
                                crs=source.crs)
    except ConflictError as exc:
        raise _stale(fid, expected, exc.actual) from exc
    return _feature(workspace, spec, fid, source, base=base, user=user)


def delete_feature(workspace: Workspace, layer: str, feature_id: str, *,
                   if_match: str | None, user: User) -> None:
    """DELETE: remove a parcel; its last state stays in the history and can be restored.

    ``If-Match`` is checked when sent. QGIS sends none, so without it the current
    version is deleted (still atomically: a change in between is a 412).
    """
    _editable(workspace, layer, user)
    fid = _fid(feature_id, layer)
    current = workspace.get_parcel(fid, include_personal=False)
    expected = current["row_version"] if if_match is None else _version(if_match, "If-Match")
    if current["row_version"] != expected:
        raise _stale(fid, expected, current["row_version"])
    try:
        workspace.delete_parcel(fid, expected_version=expected, user=user.name)
    except ConflictError as exc:
        raise _stale(fid, expected, exc.actual) from exc


def _stale(fid: int, expected: int, actual: Any) -> Stale:
    return Stale(
        f"parcel {fid} is at version {actual}, not {expected}: someone changed it since you "
        f"read it; reload the layer and reapply your change (nothing was written)",
        current=None if actual is None else int(actual),
    )


# --------------------------------------------------------------------------- OpenAPI


def _param(name: str, location: str, description: str, schema: dict[str, Any], *,
           required: bool = False, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": location, "required": required, "description": description,
            "schema": schema, **extra}


def _response(description: str, media: str | None = None, schema: str | None = None,
              headers: Sequence[str] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if media:
        out["content"] = {media: {"schema": {"$ref": f"#/components/schemas/{schema}"}
                                  if schema else {"type": "object"}}}
    if headers:
        out["headers"] = {h: {"$ref": f"#/components/headers/{h}"} for h in headers}
    return out


def openapi_document(base: str, *, version: str) -> dict[str, Any]:
    """The OpenAPI 3.0 description of the service (``service-desc`` of the landing page).

    Written for OGC clients rather than generated: QGIS and GDAL read
    ``components/parameters/limit`` (``maximum`` and ``default``) to size their pages,
    and OpenAPI 3.0, not the 3.1 the rest of the app is described in.
    """
    p = "#/components/parameters/"
    errors = {"400": _response("Bad request: the message names the parameter", JSON,
                               "exception"),
              "404": _response("No such collection or feature", JSON, "exception")}
    collection_id = {"$ref": f"{p}collectionId"}
    feature_id = {"$ref": f"{p}featureId"}
    edit_security: list[dict[str, list[str]]] = [{"basic": []}, {"bearer": []}]
    paths: dict[str, Any] = {
        "/": {"get": {"operationId": "getLandingPage", "summary": "Landing page",
                      "responses": {"200": _response("Links to the API", JSON, "landingPage")}}},
        "/conformance": {"get": {"operationId": "getConformance",
                                 "summary": "Conformance classes",
                                 "responses": {"200": _response("Conformance", JSON,
                                                                "confClasses")}}},
        "/api": {"get": {"operationId": "getApi", "summary": "This document",
                         "responses": {"200": _response("OpenAPI 3.0", OPENAPI_30)}}},
        "/collections": {"get": {"operationId": "getCollections",
                                 "summary": "Collections the caller may read",
                                 "responses": {"200": _response("Collections", JSON,
                                                                "collections")}}},
        "/collections/{collectionId}": {"get": {
            "operationId": "describeCollection", "summary": "One collection",
            "parameters": [collection_id],
            "responses": {"200": _response("The collection", JSON, "collection"), **errors}}},
        "/collections/{collectionId}/queryables": {"get": {
            "operationId": "getQueryables", "summary": "Queryable properties (JSON Schema)",
            "parameters": [collection_id],
            "responses": {"200": _response("JSON Schema", SCHEMA_JSON), **errors}}},
        "/collections/{collectionId}/items": {
            "get": {
                "operationId": "getFeatures",
                "summary": "Features in fid order; follow the next links to page",
                "description": "Any queryable property can be given as ?name=value "
                               "(equality).",
                "parameters": [collection_id, {"$ref": f"{p}limit"}, {"$ref": f"{p}offset"},
                               {"$ref": f"{p}bbox"}, {"$ref": f"{p}bbox-crs"},
                               {"$ref": f"{p}crs"}, {"$ref": f"{p}properties"}],
                "responses": {"200": _response("A page of features", GEOJSON,
                                               "featureCollectionGeoJSON", ["Content-Crs"]),
                              **errors},
            },
            "post": {
                "operationId": "createFeature",
                "summary": "Create a parcel (editors; parcels only)",
                "parameters": [collection_id, {"$ref": f"{p}contentCrs"}],
                "security": edit_security,
                "requestBody": {"required": True, "content": {GEOJSON: {"schema": {
                    "$ref": "#/components/schemas/featureGeoJSON"}}}},
                "responses": {
                    "201": _response("Created; Location names the new feature", GEOJSON,
                                     "featureGeoJSON", ["Location", "ETag"]),
                    "401": _response("Sign in to edit"), "403": _response("Not an editor, or "
                                                                          "a read-only layer"),
                    "422": _response("Every validation problem of the parcel", JSON,
                                     "exception"), **errors},
            },
            "options": {"operationId": "optionsFeatures",
                        "summary": "Methods the caller may use (Allow)",
                        "parameters": [collection_id],
                        "responses": {"204": _response("See the Allow header",
                                                       headers=["Allow"])}},
        },
        "/collections/{collectionId}/items/{featureId}": {
            "get": {
                "operationId": "getFeature", "summary": "One feature, with an ETag",
                "parameters": [collection_id, feature_id, {"$ref": f"{p}crs"},
                               {"$ref": f"{p}properties"}],
                "responses": {"200": _response("The feature", GEOJSON, "featureGeoJSON",
                                               ["Content-Crs", "ETag"]), **errors},
            },
            "put": {
                "operationId": "replaceFeature",
                "summary": "Replace a parcel at the row_version it was read at",
                "description": "The feature must carry the row_version it was read at "
                               "(property row_version, or If-Match); a stale version is "
                               "refused with 412 and nothing is written.",
                "parameters": [collection_id, feature_id, {"$ref": f"{p}contentCrs"},
                               {"$ref": f"{p}ifMatch"}],
                "security": edit_security,
                "requestBody": {"required": True, "content": {GEOJSON: {"schema": {
                    "$ref": "#/components/schemas/featureGeoJSON"}}}},
                "responses": {
                    "200": _response("Replaced", GEOJSON, "featureGeoJSON", ["ETag"]),
                    "412": _response("Stale row_version; nothing was written", JSON,
                                     "exception", ["ETag"]),
                    "428": _response("No row_version sent", JSON, "exception"),
                    "422": _response("Every validation problem of the change", JSON,
                                     "exception"), **errors},
            },
            "delete": {
                "operationId": "deleteFeature",
                "summary": "Delete a parcel (If-Match checked when sent)",
                "parameters": [collection_id, feature_id, {"$ref": f"{p}ifMatch"}],
                "security": edit_security,
                "responses": {"204": _response("Deleted; the history keeps it"),
                              "412": _response("Stale If-Match; nothing was deleted"),
                              **errors},
            },
            "options": {"operationId": "optionsFeature",
                        "summary": "Methods the caller may use (Allow)",
                        "parameters": [collection_id, feature_id],
                        "responses": {"204": _response("See the Allow header",
                                                       headers=["Allow"])}},
        },
    }
    crs_schema = {"type": "string", "format": "uri", "default": CRS84}
    parameters = {
        "collectionId": _param("collectionId", "path", "A layer of the workspace",
                               {"type": "string"}, required=True),
        "featureId": _param("featureId", "path", "The feature's fid", {"type": "string"},
                            required=True),
        "limit": _param("limit", "query",
                        f"Features per page (at most {MAX_LIMIT}; a larger value is served "
                        f"as {MAX_LIMIT})",
                        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                         "default": DEFAULT_LIMIT}, style="form", explode=False),
        "offset": _param("offset", "query", "Features to skip (the next links set it)",
                         {"type": "integer", "minimum": 0, "default": 0}, style="form",
                         explode=False),
        "bbox": _param("bbox", "query", "Lower and upper corner in bbox-crs axis order",
                       {"type": "array", "minItems": 4, "maxItems": 6,
                        "items": {"type": "number"}}, style="form", explode=False),
        "bbox-crs": _param("bbox-crs", "query", "CRS of bbox", crs_schema, style="form",
                           explode=False),
        "crs": _param("crs", "query", "CRS of the returned geometries", crs_schema,
                      style="form", explode=False),
        "properties": _param("properties", "query", "Properties to return (comma-separated)",
                             {"type": "array", "items": {"type": "string"}}, style="form",
                             explode=False),
        "contentCrs": _param("Content-Crs", "header",
                             "CRS of the sent geometry, as <uri> (default CRS84)",
                             {"type": "string"}),
        "ifMatch": _param("If-Match", "header", 'The row version read, as "<row_version>"',
                          {"type": "string"}),
    }
    link = {"type": "object", "required": ["href", "rel"],
            "properties": {k: {"type": "string"} for k in ("href", "rel", "type", "title")}}
    links = {"type": "array", "items": {"$ref": "#/components/schemas/link"}}
    schemas = {
        "link": link,
        "exception": {"type": "object", "properties": {
            "error": {"type": "string"}, "message": {"type": "string"},
            "detail": {"type": "string"},
            "problems": {"type": "array", "items": {"type": "object"}}}},
        "landingPage": {"type": "object", "required": ["links"], "properties": {
            "title": {"type": "string"}, "description": {"type": "string"}, "links": links}},
        "confClasses": {"type": "object", "required": ["conformsTo"], "properties": {
            "conformsTo": {"type": "array", "items": {"type": "string"}}}},
        "collection": {"type": "object", "required": ["id", "links"], "properties": {
            "id": {"type": "string"}, "title": {"type": "string"},
            "description": {"type": "string"}, "itemType": {"type": "string"},
            "crs": {"type": "array", "items": {"type": "string"}},
            "storageCrs": {"type": "string"}, "itemCount": {"type": "integer"},
            "extent": {"type": "object"}, "links": links}},
        "collections": {"type": "object", "required": ["links", "collections"], "properties": {
            "links": links, "crs": {"type": "array", "items": {"type": "string"}},
            "collections": {"type": "array",
                            "items": {"$ref": "#/components/schemas/collection"}}}},
        "featureGeoJSON": {"type": "object", "required": ["type", "geometry", "properties"],
                           "properties": {
                               "type": {"type": "string", "enum": ["Feature"]},
                               "id": {"type": "integer"},
                               "geometry": {"type": "object", "nullable": True},
                               "properties": {"type": "object", "nullable": True},
                               "links": links}},
        "featureCollectionGeoJSON": {"type": "object", "required": ["type", "features"],
                                     "properties": {
                                         "type": {"type": "string",
                                                  "enum": ["FeatureCollection"]},
                                         "features": {"type": "array", "items": {
                                             "$ref": "#/components/schemas/featureGeoJSON"}},
                                         "links": links, "timeStamp": {"type": "string"},
                                         "numberMatched": {"type": "integer"},
                                         "numberReturned": {"type": "integer"}}},
    }
    headers = {
        "Content-Crs": {"description": "CRS of the geometries, as <uri>",
                        "schema": {"type": "string"}},
        "ETag": {"description": 'The row version, as "<n>", for parcels',
                 "schema": {"type": "string"}},
        "Location": {"description": "URL of the created feature", "schema": {"type": "string"}},
        "Allow": {"description": "Methods the caller may use", "schema": {"type": "string"}},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Jer OGC API - Features", "version": version,
                 "description": "Land inventory and reference layers; parcels editable "
                                "(Part 4) by accounts holding edit_inventory. Sign in with "
                                "HTTP Basic or a bearer token from jer user token."},
        "servers": [{"url": base}],
        "paths": paths,
        "components": {
            "parameters": parameters,
            "schemas": schemas,
            "headers": headers,
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic",
                          "description": "User name and password (QGIS: Basic authentication)"},
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "API token from jer user token"},
            },
        },
    }
