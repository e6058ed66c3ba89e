"""Vector tiles of the served layers and the small feature queries behind the map pages."""

from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response

from spatial.errors import InputError
from spatial.store import Workspace
from spatial.zoning import Rulebook

from ..deps import LangDep, WorkspaceDep
from ..maps import settlement_labels, zone_type_labels
from ..services import resolve_rulebook, rulebook_stamp
from ..tiles import (
    TILE_LAYERS,
    TileCache,
    cached_layer_tile_async,
    features_at,
    find_parcel,
    parcels_at,
    precut_tiles,
    prewarm_indexes,
)

router = APIRouter(tags=["maps"])
logger = logging.getLogger(__name__)

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"


@lru_cache(maxsize=8)
def _rulebook(stamp: tuple[Any, ...], path: str | None) -> Rulebook:
    return resolve_rulebook(path)


def _labels(workspace: Workspace, names: list[str], lang: str) -> dict[str, dict[str, str]]:
    """Labels of columns whose codes are the municipality's: settlements, uses, zones.

    The rulebook is loaded once per version of its files (a click must stay quick).
    """
    labels: dict[str, dict[str, str]] = {}
    book = None
    if {"parcels", "zones"} & set(names):
        book = _rulebook(rulebook_stamp(workspace), workspace.metadata().get("rulebook") or None)
    if {"parcels", "exposed_parcels"} & set(names):
        labels["settlement"] = settlement_labels(workspace, lang)
    if book is not None and "parcels" in names:
        labels["designated_use"] = {code: use.name.get(lang) or code
                                    for code, use in book.uses.items()}
    if book is not None and "zones" in names:
        labels["zone_type"] = zone_type_labels(book, lang)
    return labels


@router.get("/tiles/{layer}/{z}/{x}/{y}.pbf", response_class=Response,
            responses={304: {"description": "The client's copy (If-None-Match) is current"},
                       404: {"description": "No such layer, or a tile off the grid"}})
async def tile(layer: str, z: int, x: int, y: int, workspace: WorkspaceDep, request: Request,
               if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """One WebMercatorQuad tile of a served layer as MVT (non-personal attributes only).

    Layers: ``parcels``, ``zones``, ``protected_areas``, ``forest_fund``,
    ``hazard_zones``, ``restrictions`` and ``exposed_parcels`` (parcels touching a hazard
    zone, with their hazard types and worst class). The ETag changes with the data the
    tile is cut from; browsers revalidate (``no-cache``) and get 304 while it holds.
    """
    data, etag = await cached_layer_tile_async(tile_cache(request.app.state), workspace,
                                               layer, z, x, y, if_none_match=if_none_match)
    headers = {"Cache-Control": "no-cache", "ETag": etag}
    if data is None:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=MVT_MEDIA_TYPE, headers=headers)


_CACHE_GUARD = threading.Lock()


def start_prewarm(state: Any, url: str) -> threading.Thread:
    """Build the tile indexes of the workspace at ``url`` in a background thread.

    Then the low-zoom tiles every map opens with are cut (:func:`precut_tiles`).
    Progress is in ``state.tile_prewarm`` (``status``: building, ready or failed, with
    the seconds per layer and for the pre-cut tiles, or the error) and in
    ``/api/health``. A failure only means the
    first tile of a layer reads it, and reports the problem itself.
    """
    from spatial.store import open_workspace

    progress: dict[str, Any] = {"status": "building"}
    state.tile_prewarm = progress

    def run() -> None:
        try:
            workspace = open_workspace(url)
            try:
                progress["seconds"] = prewarm_indexes(tile_cache(state), workspace)
                started = time.perf_counter()
                progress["precut"] = precut_tiles(tile_cache(state), workspace)
                progress["seconds"]["precut"] = round(time.perf_counter() - started, 3)
            finally:
                workspace.close()
        except Exception as exc:  # reported here, and met again by the first request
            logger.warning("tile indexes not prebuilt: %s", exc)
            progress.update(status="failed", error=str(exc))
        else:
            progress["status"] = "ready"

    thread = threading.Thread(target=run, name="jer-tile-prewarm", daemon=True)
    thread.start()
    return thread


def tile_cache(state: Any) -> TileCache:
    """The app's tile cache (``app.state.tile_cache``), made on first use."""
    with _CACHE_GUARD:
        if not hasattr(state, "tile_cache"):
            state.tile_cache = TileCache()
        cache: TileCache = state.tile_cache
        return cache


@router.get("/api/map/at")
def features_at_point(
    workspace: WorkspaceDep,
    lang: LangDep,
    layers: Annotated[str, Query(description="Comma-separated tile layers, e.g. "
                                             "parcels,hazard_zones")],
    lon: float = Query(ge=-180, le=180),
    lat: float = Query(ge=-90, le=90),
) -> dict[str, list[dict[str, Any]]]:
    """What the served layers hold under a WGS 84 point: the details of a map click.

    Coded values come with a ``<column>_label`` in the page's language.
    """
    names = [name.strip() for name in layers.split(",") if name.strip()]
    unknown = [name for name in names if name not in TILE_LAYERS]
    if not names or unknown:
        raise InputError(f"layers {unknown or layers!r}: choose from {', '.join(TILE_LAYERS)}")
    labels = _labels(workspace, names, lang)
    return {name: features_at(workspace, name, lon, lat, lang=lang, labels=labels)
            for name in dict.fromkeys(names)}


@router.get("/api/map/parcels/at")
def parcels_at_point(
    workspace: WorkspaceDep,
    lang: LangDep,
    lon: float = Query(ge=-180, le=180),
    lat: float = Query(ge=-90, le=90),
) -> list[dict[str, Any]]:
    """Non-personal attributes of the parcels under a WGS 84 point."""
    return parcels_at(workspace, lon, lat, lang=lang,
                      labels=_labels(workspace, ["parcels"], lang))


@router.get("/api/map/parcels/find")
def parcel_by_cadastral_no(
    workspace: WorkspaceDep, lang: LangDep, cadastral_no: str = Query(min_length=1)
) -> dict[str, Any]:
    """A parcel by cadastral number with its WGS 84 bounds, for the map search."""
    return find_parcel(workspace, cadastral_no, lang=lang,
                       labels=_labels(workspace, ["parcels"], lang))
