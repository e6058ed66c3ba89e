"""Mapbox vector tiles (MVT) of the parcels, for maps of a whole municipality.

A municipality has tens of thousands of parcels, too many for one GeoJSON page. Tiles are
cut on request from the workspace through its spatial index (``read_layer(bbox=...)``),
so the same path serves a GeoPackage and PostGIS. Tiles carry only non-personal columns.
"""

from __future__ import annotations

from typing import Any

import mapbox_vector_tile
import morecantile
import numpy as np
import shapely

from spatial.errors import InputError, NotFoundError
from spatial.schema import label
from spatial.store import Workspace

#: The tile matrix set of web maps (Leaflet's default grid).
TMS = morecantile.tms.get("WebMercatorQuad")
#: Highest zoom served; beyond it a tile is smaller than a parcel boundary's accuracy.
MAX_ZOOM = 22
#: MVT layer name and the parcel columns it carries (never personal ones).
PARCEL_LAYER = "parcels"
TILE_COLUMNS = ("cadastral_no", "land_category", "ag_subtype", "in_use", "settlement")
EXTENT = 4096
#: Features are clipped to the tile plus this many tile units, so strokes join at edges.
BUFFER = 64
WEB_MERCATOR = "EPSG:3857"


def check_tile(z: int, x: int, y: int) -> morecantile.Tile:
    """The tile, or an error: a bad zoom is bad input, a tile off the grid does not exist."""
    if not 0 <= z <= MAX_ZOOM:
        raise InputError(f"zoom {z} is outside 0..{MAX_ZOOM}")
    size = 2**z
    if not (0 <= x < size and 0 <= y < size):
        raise NotFoundError(f"tile {z}/{x}/{y} is outside the grid (0..{size - 1} at zoom {z})")
    return morecantile.Tile(x, y, z)


def parcel_tile(workspace: Workspace, z: int, x: int, y: int) -> bytes:
    """The parcels tile ``z/x/y`` as MVT bytes; empty bytes where no parcel lies.

    Geometry is clipped to the buffered tile and simplified to one tile unit, so a tile
    at a low zoom stays small while a tile at a high zoom keeps every vertex that shows.
    """
    tile = check_tile(z, x, y)
    bounds = TMS.xy_bounds(tile)
    unit = (bounds.right - bounds.left) / EXTENT
    pad = unit * BUFFER
    box = (bounds.left - pad, bounds.bottom - pad, bounds.right + pad, bounds.top + pad)
    parcels = workspace.read_layer(
        PARCEL_LAYER, bbox=box, bbox_crs=WEB_MERCATOR, columns=list(TILE_COLUMNS),
        include_personal=False,
    )
    if parcels.empty:
        return b""
    geometry = parcels.geometry.to_crs(WEB_MERCATOR).to_numpy()
    geometry = shapely.clip_by_rect(geometry, *box)
    # To integer tile units (y up, as MVT encoders expect) in one vectorised pass, then
    # drop the vertices that fall within a unit of the line: what the tile can show.
    origin = np.array([bounds.left, bounds.bottom])
    geometry = shapely.transform(geometry, lambda xy: np.round((xy - origin) / unit))
    geometry = shapely.simplify(geometry, 1.0, preserve_topology=True)
    keep = ~(shapely.is_empty(geometry) | shapely.is_missing(geometry))
    if not keep.any():
        return b""
    attributes = parcels.loc[keep, list(TILE_COLUMNS)].astype(object)
    attributes = attributes.where(attributes.notna(), None)
    records = attributes.to_dict("records")
    features = [
        {
            "geometry": geom,
            "properties": {k: v for k, v in props.items() if v is not None},
        }
        for geom, props in zip(geometry[keep], records, strict=True)
    ]
    encoded: bytes = mapbox_vector_tile.encode(
        [{"name": PARCEL_LAYER, "features": features}],
        default_options={"extents": EXTENT},
    )
    return encoded


def parcels_at(workspace: Workspace, lon: float, lat: float, *, lang: str) -> list[dict[str, Any]]:
    """Non-personal attributes of the parcels under a WGS 84 point (a click on the map)."""
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise InputError(f"point ({lon}, {lat}) is not a WGS 84 longitude/latitude")
    eps = 1e-7
    found = workspace.read_layer(
        PARCEL_LAYER, bbox=(lon - eps, lat - eps, lon + eps, lat + eps), bbox_crs=4326,
        columns=[*TILE_COLUMNS, "official_area_ha"], include_personal=False,
    )
    point = shapely.points(*_project(workspace, lon, lat))
    found = found[shapely.intersects(found.geometry.to_numpy(), point)]
    return describe_parcels(found, lang=lang)


def find_parcel(workspace: Workspace, cadastral_no: str, *, lang: str) -> dict[str, Any]:
    """A parcel by cadastral number, with its WGS 84 bounds for the map to zoom to."""
    found = workspace.read_layer(
        PARCEL_LAYER, where={"cadastral_no": cadastral_no.strip()},
        columns=[*TILE_COLUMNS, "official_area_ha"], include_personal=False,
    )
    if found.empty:
        raise NotFoundError(f"no parcel with cadastral number {cadastral_no!r}")
    (parcel,) = describe_parcels(found.iloc[:1], lang=lang)
    xmin, ymin, xmax, ymax = found.iloc[:1].to_crs(4326).total_bounds
    parcel["bounds"] = [float(xmin), float(ymin), float(xmax), float(ymax)]
    return parcel


def describe_parcels(parcels: Any, *, lang: str) -> list[dict[str, Any]]:
    """Attribute dicts with the coded values labelled in ``lang`` next to their codes."""
    columns = [c for c in (*TILE_COLUMNS, "official_area_ha") if c in parcels.columns]
    frame = parcels[columns].astype(object)
    frame = frame.where(frame.notna(), None)
    for column in ("land_category", "ag_subtype"):
        if column in frame:
            frame[f"{column}_label"] = [
                None if code is None else label(column, str(code), lang)  # type: ignore[arg-type]
                for code in frame[column]
            ]
    records: list[dict[str, Any]] = frame.to_dict("records")
    for record in records:
        for key, value in record.items():
            if isinstance(value, np.generic):
                record[key] = value.item()
    return records


def _project(workspace: Workspace, lon: float, lat: float) -> tuple[float, float]:
    from pyproj import Transformer

    transformer = Transformer.from_crs(4326, workspace.crs, always_xy=True)
    x, y = transformer.transform(lon, lat)
    return float(x), float(y)
