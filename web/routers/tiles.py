"""Parcel vector tiles and the small parcel queries behind the map pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from ..deps import LangDep, WorkspaceDep
from ..tiles import find_parcel, parcel_tile, parcels_at

router = APIRouter(tags=["maps"])

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"


@router.get("/tiles/parcels/{z}/{x}/{y}.pbf", response_class=Response)
def parcels_tile(z: int, x: int, y: int, workspace: WorkspaceDep) -> Response:
    """Parcels (non-personal attributes) of one WebMercatorQuad tile as MVT."""
    return Response(parcel_tile(workspace, z, x, y), media_type=MVT_MEDIA_TYPE,
                    headers={"Cache-Control": "no-cache"})


@router.get("/api/map/parcels/at")
def parcels_at_point(
    workspace: WorkspaceDep,
    lang: LangDep,
    lon: float = Query(ge=-180, le=180),
    lat: float = Query(ge=-90, le=90),
) -> list[dict[str, Any]]:
    """Non-personal attributes of the parcels under a WGS 84 point."""
    return parcels_at(workspace, lon, lat, lang=lang)


@router.get("/api/map/parcels/find")
def parcel_by_cadastral_no(
    workspace: WorkspaceDep, lang: LangDep, cadastral_no: str = Query(min_length=1)
) -> dict[str, Any]:
    """A parcel by cadastral number with its WGS 84 bounds, for the map search."""
    return find_parcel(workspace, cadastral_no, lang=lang)
