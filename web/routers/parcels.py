"""The parcels JSON API: GeoJSON in EPSG:4326, optimistic concurrency through ETags.

Every parcel response carries ``ETag: "<row_version>"``; a change or deletion must
send it back in ``If-Match`` (missing: 428, stale: 412 and nothing is written), so two
specialists editing the same parcel cannot silently overwrite each other. Personal
columns (right holders) are left out of every response, history included, for callers
without the ``read_personal`` permission — in the query itself, not by masking.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field
from pyproj import CRS
from pyproj.exceptions import CRSError as ProjCRSError
from shapely.geometry.base import BaseGeometry

from spatial.errors import ConflictError, CRSError, InputError, NotFoundError
from spatial.schema import layer_schema
from spatial.store import Workspace

from ..api_geo import FastJSONResponse
from ..auth import CurrentUser, User, require
from ..deps import WorkspaceDep

router = APIRouter(prefix="/api/parcels", tags=["parcels"])

GEOJSON = "application/geo+json"
WGS84 = "EPSG:4326"
MAX_LIMIT = 10_000
#: Vertex movement (metres) below which a sent-back geometry counts as unchanged.
ROUND_TRIP_M = 0.001
EditorDep = Annotated[User, Depends(require("edit_inventory"))]


class GeoJSONResponse(FastJSONResponse):
    """JSON with the GeoJSON media type (RFC 7946), also announced in the OpenAPI document.

    The same URL answers with or without holders depending on the caller, so caches
    must key on the credentials, and browsers must never sniff the body as HTML.
    """

    media_type = GEOJSON

    def __init__(self, content: Any, status_code: int = 200,
                 headers: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        merged = {"X-Content-Type-Options": "nosniff", "Vary": "Authorization, Cookie",
                  **(headers or {})}
        super().__init__(content, status_code=status_code, headers=merged, **kwargs)


# --------------------------------------------------------------------------- models


class ParcelProperties(BaseModel):
    """Attributes of a parcel; ``holder`` only for callers who may read personal data."""

    cadastral_no: str
    land_category: str | None = None
    ag_subtype: str | None = None
    designated_use: str | None = None
    ownership: str | None = None
    holder: str | None = Field(default=None, description="Personal: needs read_personal")
    right_type: str | None = None
    lease_until: date | None = None
    in_use: bool | None = None
    state_ag_fund: bool | None = None
    official_area_ha: float | None = None
    settlement: str | None = None
    area_ha: float | None = None
    row_version: int | None = None
    updated_at: str | None = None
    updated_by: str | None = None


class ParcelFeature(BaseModel):
    """A parcel as a GeoJSON Feature in EPSG:4326; ``id`` is the cadastral number."""

    type: Literal["Feature"] = "Feature"
    id: str | None = None
    geometry: dict[str, Any] | None
    properties: ParcelProperties


class ParcelCollection(BaseModel):
    """A page of parcels as a GeoJSON FeatureCollection in EPSG:4326."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[ParcelFeature]
    numberReturned: int
    links: list[dict[str, str]] = Field(default_factory=list)


class ParcelInput(BaseModel):
    """A parcel to create or change: a GeoJSON Feature with EPSG:4326 geometry.

    Computed properties (``area_ha``, ``row_version``, ``updated_*``) are ignored, so a
    feature read from this API can be sent back as it is.
    """

    type: Literal["Feature"] = "Feature"
    geometry: dict[str, Any] | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class RestoreRequest(BaseModel):
    """The earlier version to bring back."""

    version: int = Field(ge=1)


class HistoryItem(BaseModel):
    """One recorded write of a parcel; ``snapshot.geometry`` is GeoJSON in EPSG:4326."""

    cadastral_no: str | None
    version: int
    action: str
    user: str
    at: str
    changes: dict[str, list[Any]]
    snapshot: dict[str, Any]


# --------------------------------------------------------------------------- helpers


def _plain(value: Any) -> Any:
    """A cell as a JSON value (``None`` for nulls, ISO text for dates)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _to_wgs84(geoms: list[BaseGeometry | None], crs: Any) -> list[dict[str, Any] | None]:
    series = gpd.GeoSeries(geoms, crs=crs).to_crs(WGS84)
    texts = shapely.to_geojson(series.to_numpy())
    return [None if text is None else json.loads(text) for text in texts]


def _feature(record: Mapping[Any, Any], geometry: dict[str, Any] | None) -> dict[str, Any]:
    properties = {str(k): _plain(v) for k, v in record.items() if k not in ("fid", "geometry")}
    feature = ParcelFeature(
        id=properties.get("cadastral_no"), geometry=geometry,
        properties=ParcelProperties(**properties),
    )
    return feature.model_dump(mode="json", exclude_unset=True)


def _etag(version: Any) -> str:
    return f'"{int(version)}"'


def _feature_response(workspace: Workspace, record: dict[str, Any], *,
                      status_code: int = 200, location: bool = False) -> GeoJSONResponse:
    geometry = _to_wgs84([record["geometry"]], workspace.crs)[0]
    headers = {"ETag": _etag(record["row_version"])}
    if location:
        headers["Location"] = f"/api/parcels/{quote(str(record['cadastral_no']), safe='')}"
    return GeoJSONResponse(_feature(record, geometry), status_code=status_code, headers=headers)


def _if_match(value: str | None) -> int:
    """The version named by an ``If-Match`` header (428 if missing, 400 if unreadable)."""
    if value is None:
        raise HTTPException(428, detail='send If-Match: "<row_version>" from the ETag you read')
    text = value.strip()
    if text.startswith('"') and text.endswith('"') and len(text) > 2:
        text = text[1:-1]
    if not text.isdigit():
        raise HTTPException(
            400, detail=f"If-Match {value!r} is not an ETag of this API, e.g. \"3\""
        )
    return int(text)


def _stale(cadastral_no: str, expected: int, actual: Any) -> HTTPException:
    return HTTPException(
        412,
        detail=f"parcel {cadastral_no} is at version {actual}, not {expected}; "
               f"read it again and reapply your change",
        headers={} if actual is None else {"ETag": _etag(actual)},
    )


def _record_input(body: ParcelInput, user: User) -> dict[str, Any]:
    """Editable columns and the shapely geometry of a request body."""
    spec = layer_schema("parcels")
    computed = set(spec.computed)
    record = {k: v for k, v in body.properties.items() if k not in computed}
    personal = set(spec.personal_columns) & set(record)
    if personal and not user.can("read_personal"):
        raise HTTPException(403, detail=f"role {user.role!r} may not write {sorted(personal)}")
    if body.geometry is not None:
        try:
            record["geometry"] = shapely.from_geojson(json.dumps(body.geometry))
        except (shapely.errors.GEOSException, ValueError) as exc:
            raise InputError(f"parcels: geometry is not valid GeoJSON: {exc}") from exc
    return record


def _same_shape(sent: Any, stored: BaseGeometry, crs: Any) -> bool:
    """Whether a geometry sent in EPSG:4326 is the stored one, up to the round trip.

    Clients send back the features they read; the trip through degrees moves vertices
    by far less than a millimetre, which must not count as a change of the shape.
    """
    if not isinstance(sent, BaseGeometry):
        return False
    projected = gpd.GeoSeries([sent], crs=WGS84).to_crs(crs).iloc[0]
    return bool(shapely.equals_exact(shapely.normalize(projected), shapely.normalize(stored),
                                     tolerance=ROUND_TRIP_M))


def _parse_crs(value: str) -> CRS:
    try:
        return CRS.from_user_input(value)
    except ProjCRSError as exc:
        raise CRSError(f"bbox-crs {value!r} is not a known CRS") from exc


def _parse_bbox(value: str) -> tuple[float, float, float, float]:
    parts = value.split(",")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) != 4:
        raise InputError(f"bbox {value!r} must be four numbers: xmin,ymin,xmax,ymax")
    return numbers[0], numbers[1], numbers[2], numbers[3]


def _fid_of(workspace: Workspace, cadastral_no: str) -> int:
    """fid of a parcel, including a deleted one still in the history."""
    try:
        return int(workspace.find_parcel(cadastral_no, include_personal=False)["fid"])
    except NotFoundError:
        for entry in workspace.history(None, limit=1_000_000, include_personal=False):
            if entry.cadastral_no == cadastral_no:
                return int(entry.fid)
        raise


# --------------------------------------------------------------------------- routes


@router.get("", response_model=ParcelCollection, response_class=GeoJSONResponse)
def list_parcels(
    request: Request,
    workspace: WorkspaceDep,
    user: CurrentUser,
    bbox: Annotated[str | None, Query(description="xmin,ymin,xmax,ymax")] = None,
    bbox_crs: Annotated[
        str, Query(alias="bbox-crs", description="CRS of bbox: EPSG:4326 or the workspace CRS")
    ] = WGS84,
    category: Annotated[str | None, Query(description="land_category code")] = None,
    settlement: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=0, le=MAX_LIMIT)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> GeoJSONResponse:
    """Parcels meeting a bounding box and filters, as GeoJSON in EPSG:4326."""
    where: dict[str, object] = {}
    if category is not None:
        where["land_category"] = category
    if settlement is not None:
        where["settlement"] = settlement
    frame = workspace.read_layer(
        "parcels",
        bbox=None if bbox is None else _parse_bbox(bbox),
        bbox_crs=_parse_crs(bbox_crs) if bbox is not None else None,
        where=where or None,
        include_personal=user.can("read_personal"),
        limit=limit, offset=offset,
    )
    geometries = _to_wgs84(list(frame.geometry), frame.crs)
    attributes = pd.DataFrame(frame.drop(columns="geometry")).to_dict("records")
    features = [_feature(record, geometry)
                for record, geometry in zip(attributes, geometries, strict=True)]
    links: list[dict[str, str]] = []
    if limit and len(features) == limit:
        nxt = request.url.include_query_params(offset=offset + limit)
        links.append({"rel": "next", "href": str(nxt), "type": GEOJSON})
    body = {"type": "FeatureCollection", "features": features,
            "numberReturned": len(features), "links": links}
    return GeoJSONResponse(body)


@router.get("/{cadastral_no}", response_model=ParcelFeature, response_class=GeoJSONResponse,
            responses={404: {"description": "No such parcel"}})
def get_parcel(cadastral_no: str, workspace: WorkspaceDep, user: CurrentUser) -> GeoJSONResponse:
    """One parcel with ``ETag: "<row_version>"`` for a later ``If-Match``."""
    record = workspace.find_parcel(cadastral_no, include_personal=user.can("read_personal"))
    return _feature_response(workspace, record)


@router.post("", response_model=ParcelFeature, response_class=GeoJSONResponse, status_code=201,
             responses={422: {"description": "Every validation problem of the parcel"}})
async def create_parcel(body: ParcelInput, workspace: WorkspaceDep,
                        user: EditorDep) -> GeoJSONResponse:
    """Create a parcel (201 with ``Location`` and ``ETag``)."""
    record = _record_input(body, user)
    created = await run_in_threadpool(
        workspace.create_parcel, record, user=user.name, crs=WGS84
    )
    shown = _shown(created, user)
    return _feature_response(workspace, shown, status_code=201, location=True)


def _shown(record: dict[str, Any], user: User) -> dict[str, Any]:
    if user.can("read_personal"):
        return record
    personal = set(layer_schema("parcels").personal_columns)
    return {k: v for k, v in record.items() if k not in personal}


@router.put("/{cadastral_no}", response_model=ParcelFeature, response_class=GeoJSONResponse,
            responses={412: {"description": "If-Match is stale; nothing was written"},
                       428: {"description": "If-Match is missing"},
                       422: {"description": "Every validation problem of the change"}})
async def update_parcel(
    cadastral_no: str, body: ParcelInput, workspace: WorkspaceDep, user: EditorDep,
    if_match: Annotated[str | None, Header()] = None,
) -> GeoJSONResponse:
    """Change a parcel at the version named in ``If-Match``.

    Properties left out keep their value; ``geometry`` left out keeps the shape.
    """
    expected = _if_match(if_match)
    record = _record_input(body, user)
    current = workspace.find_parcel(cadastral_no, include_personal=False)
    if current["row_version"] != expected:
        raise _stale(cadastral_no, expected, current["row_version"])
    if _same_shape(record.get("geometry"), current["geometry"], workspace.crs):
        del record["geometry"]
    try:
        updated = await run_in_threadpool(
            workspace.update_parcel, int(current["fid"]), record, expected_version=expected,
            user=user.name, crs=WGS84,
        )
    except ConflictError as exc:
        raise _stale(cadastral_no, expected, exc.actual) from exc
    return _feature_response(workspace, _shown(updated, user),
                             location=updated["cadastral_no"] != cadastral_no)


@router.delete("/{cadastral_no}", status_code=204,
               responses={412: {"description": "If-Match is stale; nothing was deleted"},
                          428: {"description": "If-Match is missing"}})
async def delete_parcel(
    cadastral_no: str, workspace: WorkspaceDep, user: EditorDep,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Delete a parcel at the version named in ``If-Match``; its history stays."""
    expected = _if_match(if_match)
    current = workspace.find_parcel(cadastral_no, include_personal=False)
    if current["row_version"] != expected:
        raise _stale(cadastral_no, expected, current["row_version"])
    try:
        await run_in_threadpool(
            workspace.delete_parcel, int(current["fid"]), expected_version=expected,
            user=user.name,
        )
    except ConflictError as exc:
        raise _stale(cadastral_no, expected, exc.actual) from exc
    return Response(status_code=204)


@router.get("/{cadastral_no}/history", response_model=list[HistoryItem])
def parcel_history(
    cadastral_no: str, workspace: WorkspaceDep, user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    """Recorded writes of a parcel (also a deleted one), newest first."""
    fid = _fid_of(workspace, cadastral_no)
    entries = workspace.history(fid, limit=limit, offset=offset,
                                include_personal=user.can("read_personal"))
    geometries = _to_wgs84(
        [shapely.from_wkb(e.snapshot["geometry"]) if e.snapshot.get("geometry") else None
         for e in entries],
        workspace.crs,
    )
    items = []
    for entry, geometry in zip(entries, geometries, strict=True):
        item = entry.to_dict()
        item.pop("fid", None)
        item["snapshot"] = {**{k: v for k, v in entry.snapshot.items() if k != "fid"},
                            "geometry": geometry}
        items.append(item)
    return items


@router.post("/{cadastral_no}/restore", response_model=ParcelFeature,
             response_class=GeoJSONResponse,
             responses={404: {"description": "No such parcel or version"},
                        412: {"description": "If-Match is stale; nothing was written"}})
async def restore_parcel(
    cadastral_no: str, body: RestoreRequest, workspace: WorkspaceDep, user: EditorDep,
    if_match: Annotated[str | None, Header()] = None,
) -> GeoJSONResponse:
    """Bring back the parcel as it was at ``version``, as a new version (revives deletions).

    ``If-Match`` is optional here: a restore rewrites a whole known state, but when given
    it must name the current version (or that of the deletion).
    """
    expected = None if if_match is None else _if_match(if_match)
    fid = _fid_of(workspace, cadastral_no)
    try:
        restored = await run_in_threadpool(
            workspace.restore_parcel, fid, body.version, user=user.name,
            expected_version=expected,
        )
    except ConflictError as exc:
        raise _stale(cadastral_no, expected or 0, exc.actual) from exc
    return _feature_response(workspace, _shown(restored, user))
