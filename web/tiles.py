"""Mapbox vector tiles (MVT) of the workspace layers, for maps of a whole municipality.

A municipality has tens of thousands of parcels and hundreds of zones, too many for one
GeoJSON page. Tiles are cut on request from the workspace through its spatial index
(``read_layer(bbox=...)``), so the same path serves a GeoPackage and PostGIS.

Only the layers of :data:`TILE_LAYERS` are served, each with an allow-list of columns;
no personal column is ever among them (checked when this module loads, and by a test).
Feature details on a click come from :func:`features_at`, a small bbox query at the
clicked point, so tiles stay small and carry no more than the styling needs.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import morecantile
import numpy as np
import pandas as pd
import shapely

from spatial.errors import InputError, NotFoundError
from spatial.schema import codes, label, layer_schema
from spatial.store import Workspace

from .mvt import encode_layer

#: The tile matrix set of web maps (Leaflet's default grid).
TMS = morecantile.tms.get("WebMercatorQuad")
#: Highest zoom served; beyond it a tile is smaller than a parcel boundary's accuracy.
MAX_ZOOM = 22
#: MVT layer name of the parcels and the parcel columns a tile carries (never personal).
PARCEL_LAYER = "parcels"
TILE_COLUMNS = ("cadastral_no", "land_category", "ag_subtype", "in_use", "settlement")
EXTENT = 4096
#: Features are clipped to the tile plus this many tile units, so strokes join at edges.
BUFFER = 64
WEB_MERCATOR = "EPSG:3857"
#: Half the side (degrees) of the box a click is looked up in, before the exact test.
CLICK_EPS = 1e-7
#: At most this many features of one layer are described for one click.
MAX_CLICK_FEATURES = 20
#: Up to this zoom a parcel is about a pixel wide or less, and a tile would hold tens of
#: thousands of them: parcel layers are served as a mosaic of cells instead (the value of
#: the parcel under each cell's centre), which looks the same and weighs a fraction.
MOSAIC_MAX_ZOOM = 11
#: Polygons smaller than one screen pixel of a 256-pixel tile (in tile units²) are left out.
MIN_AREA = (EXTENT / 256) ** 2
#: Cells per tile side in a mosaic: 2 screen pixels per cell.
MOSAIC_CELLS = 128

Reader = Callable[[Workspace, tuple[float, float, float, float], Any], gpd.GeoDataFrame]
#: The value a mosaic shows for each of some parcels (missing: leave the cell empty).
MosaicValues = Callable[[Workspace, gpd.GeoDataFrame], pd.Series]


@dataclass(frozen=True)
class TileSource:
    """A layer served as tiles: where its features come from and what a tile carries.

    ``layer`` is the workspace layer read (its schema decides what is personal);
    ``columns`` the attributes a tile carries and ``details`` the further ones a click
    shows; ``codelists`` which of them hold codes to label; ``read`` replaces the plain
    bbox read for derived layers; ``mosaic`` (column, values) makes low-zoom tiles a
    mosaic of that column (:data:`MOSAIC_MAX_ZOOM`); ``also_reads`` names the other
    workspace layers a tile depends on, so a cached tile is cut anew when they change.
    """

    layer: str
    columns: tuple[str, ...]
    codelists: Mapping[str, str]
    read: Reader | None = None
    details: tuple[str, ...] = ()
    mosaic: tuple[str, MosaicValues] | None = None
    also_reads: tuple[str, ...] = ()

    @property
    def detail_columns(self) -> tuple[str, ...]:
        return (*self.columns, *self.details)


def _read_exposed(workspace: Workspace, box: tuple[float, float, float, float],
                  box_crs: Any) -> gpd.GeoDataFrame:
    """Parcels in ``box`` touching a hazard zone, with their hazard types and worst class.

    Hazard zones are read over the parcels' own extent, not the tile's, so a parcel that
    crosses a tile edge gets the same class in every tile it shows in.
    """
    from .maps import exposed_parcels

    empty = gpd.GeoDataFrame(
        {c: pd.Series(dtype=object) for c in TILE_LAYERS["exposed_parcels"].columns},
        geometry=gpd.GeoSeries([], crs=workspace.crs), crs=workspace.crs)
    if "hazard_zones" not in workspace.layers():
        return empty
    parcels = workspace.read_layer(PARCEL_LAYER, bbox=box, bbox_crs=box_crs,
                                   columns=["cadastral_no", "settlement"],
                                   include_personal=False)
    if parcels.empty:
        return empty
    hazards = workspace.read_layer("hazard_zones", bbox=tuple(parcels.total_bounds),
                                   columns=["hazard_type", "hazard_class"],
                                   include_personal=False)
    if hazards.empty:
        return empty
    return exposed_parcels(parcels, hazards, lang=None)


def _category_values(workspace: Workspace, parcels: gpd.GeoDataFrame) -> pd.Series:
    return parcels["land_category"]


def _exposure_values(workspace: Workspace, parcels: gpd.GeoDataFrame) -> pd.Series:
    """The worst hazard class of each parcel (missing where no hazard zone touches it)."""
    from .maps import exposed_parcels

    none = pd.Series(None, index=parcels.index, dtype=object)
    if "hazard_zones" not in workspace.layers():
        return none
    hazards = workspace.read_layer("hazard_zones", bbox=tuple(parcels.total_bounds),
                                   columns=["hazard_type", "hazard_class"],
                                   include_personal=False)
    if hazards.empty:
        return none
    exposed = exposed_parcels(parcels, hazards, lang=None)
    worst = dict(zip(exposed["cadastral_no"], exposed["hazard_class"], strict=True))
    return parcels["cadastral_no"].map(worst)


#: Every layer the tile endpoint serves, by the name used in URLs and as MVT layer name.
TILE_LAYERS: dict[str, TileSource] = {
    "parcels": TileSource(PARCEL_LAYER, TILE_COLUMNS,
                          {"land_category": "land_category", "ag_subtype": "ag_subtype"},
                          details=("designated_use", "official_area_ha"),
                          mosaic=("land_category", _category_values)),
    "zones": TileSource("zones", ("zone_id", "zone_type", "name"), {}),
    "protected_areas": TileSource(
        "protected_areas", ("area_id", "name", "pa_type", "subzone"),
        {"pa_type": "protected_area_type", "subzone": "protected_subzone"}),
    "forest_fund": TileSource("forest_fund", ("forest_id", "name"), {}),
    "hazard_zones": TileSource(
        "hazard_zones", ("hazard_id", "name", "hazard_type", "hazard_class", "source"),
        {"hazard_type": "hazard_type", "hazard_class": "hazard_class"}),
    "restrictions": TileSource(
        "restrictions", ("restriction_id", "name", "restriction_type"),
        {"restriction_type": "restriction_type"}),
    "exposed_parcels": TileSource(
        PARCEL_LAYER, ("cadastral_no", "settlement", "hazard_types", "hazard_class"),
        {"hazard_class": "hazard_class"}, read=_read_exposed,
        mosaic=("hazard_class", _exposure_values), also_reads=("hazard_zones",)),
}


def _check_sources() -> None:
    """Refuse to start if a tile layer would carry a personal column or an unknown one."""
    problems = []
    for name, source in TILE_LAYERS.items():
        spec = layer_schema(source.layer)
        personal = set(source.detail_columns) & set(spec.personal_columns)
        if personal:
            problems.append(f"{name}: personal column(s) {sorted(personal)}")
        if source.read is None:
            unknown = set(source.detail_columns) - set(spec.columns)
            if unknown:
                problems.append(f"{name}: {sorted(unknown)} not in layer {source.layer}")
    if problems:
        raise RuntimeError("tile layers: " + "; ".join(problems))


_check_sources()


def tile_source(name: str) -> TileSource:
    """The served layer ``name``; any other name does not exist as far as the web goes."""
    source = TILE_LAYERS.get(name)
    if source is None:
        raise NotFoundError(f"no tile layer {name!r}; layers: {', '.join(TILE_LAYERS)}")
    return source


def check_tile(z: int, x: int, y: int) -> morecantile.Tile:
    """The tile, or an error: a bad zoom is bad input, a tile off the grid does not exist."""
    if not 0 <= z <= MAX_ZOOM:
        raise InputError(f"zoom {z} is outside 0..{MAX_ZOOM}")
    size = 2**z
    if not (0 <= x < size and 0 <= y < size):
        raise NotFoundError(f"tile {z}/{x}/{y} is outside the grid (0..{size - 1} at zoom {z})")
    return morecantile.Tile(x, y, z)


def _read(workspace: Workspace, source: TileSource, box: tuple[float, float, float, float],
          box_crs: Any, *, details: bool = False) -> gpd.GeoDataFrame:
    box = _box_in_workspace_crs(workspace, box, box_crs)
    if source.read is not None:
        return source.read(workspace, box, None)
    if source.layer not in workspace.layers():
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=workspace.crs))
    columns = source.detail_columns if details else source.columns
    return workspace.read_layer(source.layer, bbox=box, columns=list(columns),
                                include_personal=False)


def layer_tile(workspace: Workspace, name: str, z: int, x: int, y: int) -> bytes:
    """The tile ``z/x/y`` of served layer ``name`` as MVT bytes; empty where nothing lies.

    Geometry is clipped to the buffered tile and simplified to one tile unit, so a tile
    at a low zoom stays small while a tile at a high zoom keeps every vertex that shows.
    Parcel layers up to :data:`MOSAIC_MAX_ZOOM` are a mosaic (:func:`mosaic_features`).
    """
    source = tile_source(name)
    tile = check_tile(z, x, y)
    bounds = TMS.xy_bounds(tile)
    unit = (bounds.right - bounds.left) / EXTENT
    pad = unit * BUFFER
    box = (bounds.left - pad, bounds.bottom - pad, bounds.right + pad, bounds.top + pad)
    if source.mosaic is not None and z <= MOSAIC_MAX_ZOOM:
        rectangles, values = mosaic_cells(workspace, source.mosaic, bounds, box)
        return encode_layer(name, rectangles,
                            {source.mosaic[0]: values, "generalised": [True] * len(values)},
                            extent=EXTENT)
    frame = _read(workspace, source, box, WEB_MERCATOR)
    if frame.empty:
        return b""
    geometry = shapely.clip_by_rect(_web_mercator(frame.geometry), *box)
    # To integer tile units, y down as MVT has it, in one vectorised pass; then drop the
    # vertices that fall within a unit of the line: what the tile can show.
    origin = np.array([bounds.left, bounds.top])
    scale = np.array([1.0, -1.0]) / unit
    geometry = shapely.transform(geometry, lambda xy: np.round((xy - origin) * scale))
    geometry = shapely.simplify(geometry, 1.0, preserve_topology=False)
    # A polygon under one screen pixel cannot be seen at this zoom; a click still finds it.
    seen = (shapely.get_dimensions(geometry) < 2) | (shapely.area(geometry) >= MIN_AREA)
    columns = [c for c in source.columns if c in frame.columns]
    return encode_layer(name, geometry[seen], frame.loc[seen, columns], extent=EXTENT)


def _web_mercator(geometry: gpd.GeoSeries) -> np.ndarray:
    """``geometry`` in Web Mercator, through a transformer kept per thread."""
    if geometry.crs is None:
        return geometry.to_numpy()
    transformer = _transformer(geometry.crs.srs, WEB_MERCATOR)
    return shapely.transform(  # type: ignore[no-any-return]
        geometry.to_numpy(), lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def _box_in_workspace_crs(workspace: Workspace, box: tuple[float, float, float, float],
                          box_crs: Any) -> tuple[float, float, float, float]:
    """``box`` in the workspace CRS, as the store would transform it, minus a new transformer.

    Creating a pyproj transformer takes milliseconds, a good part of a small tile.
    """
    transformer = _transformer(box_crs, workspace.crs.srs)
    left, bottom, right, top = transformer.transform_bounds(*box, densify_pts=21)
    return float(left), float(bottom), float(right), float(top)


_local = threading.local()


def _transformer(source: Any, target: Any) -> Any:
    """A pyproj transformer between two CRS; pyproj's are not shared between threads."""
    from pyproj import Transformer

    cache: dict[tuple[Any, Any], Any] = _local.__dict__.setdefault("transformers", {})
    if (source, target) not in cache:
        cache[(source, target)] = Transformer.from_crs(source, target, always_xy=True)
    return cache[(source, target)]


def mosaic_cells(workspace: Workspace, mosaic: tuple[str, MosaicValues], bounds: Any,
                 box: tuple[float, float, float, float]) -> tuple[np.ndarray, list[str]]:
    """A low-zoom tile of a parcel layer: runs of equal cells as rectangles.

    The tile is cut into :data:`MOSAIC_CELLS` × :data:`MOSAIC_CELLS` cells; each takes
    the value of the parcel under its centre (one bulk spatial-index query for all
    centres), and neighbouring cells of a row with the same value become one rectangle.
    Returns the rectangles in tile units (y down) and their values; the tile's features
    carry the value and ``generalised``, and no parcel's own attributes.
    """
    values_of = mosaic[1]
    parcels = workspace.read_layer(PARCEL_LAYER,
                                   bbox=_box_in_workspace_crs(workspace, box, WEB_MERCATOR),
                                   columns=["cadastral_no", "land_category"],
                                   include_personal=False)
    if parcels.empty:
        return np.array([], dtype=object), []
    n = MOSAIC_CELLS
    step = (bounds.right - bounds.left) / n
    centres = (np.arange(n) + 0.5) * step
    cx, cy = np.meshgrid(bounds.left + centres, bounds.bottom + centres)  # [row, column]
    px, py = _transformer(WEB_MERCATOR, workspace.crs.srs).transform(cx.ravel(), cy.ravel())
    point_idx, parcel_idx = parcels.sindex.query(shapely.points(px, py), predicate="intersects")
    if not len(point_idx):
        return np.array([], dtype=object), []
    cells, first = np.unique(point_idx, return_index=True)
    hit, inverse = np.unique(parcel_idx[first], return_inverse=True)
    hit_parcels = parcels.iloc[hit].reset_index(drop=True)
    values = np.asarray(values_of(workspace, hit_parcels).astype(object), dtype=object)[inverse]
    known = np.asarray(pd.notna(values), dtype=bool)
    cells, values = cells[known], values[known]
    if not len(cells):
        return np.array([], dtype=object), []
    col, row = cells % n, cells // n
    starts = np.ones(len(cells), dtype=bool)
    starts[1:] = (row[1:] != row[:-1]) | (col[1:] != col[:-1] + 1) | (values[1:] != values[:-1])
    first_cell = np.flatnonzero(starts)
    last_cell = np.r_[first_cell[1:], len(cells)] - 1
    size = EXTENT / n
    rectangles = shapely.box(col[first_cell] * size, EXTENT - (row[first_cell] + 1) * size,
                             (col[last_cell] + 1) * size, EXTENT - row[first_cell] * size)
    return rectangles, [str(value) for value in values[first_cell]]


# --------------------------------------------------------------------------- tile cache

#: Bytes of encoded tiles one server process keeps (each uvicorn worker has its own).
TILE_CACHE_BYTES = 64 * 2**20


class TileCache:
    """Encoded tiles of one server process, least recently used out first.

    An entry is keyed by workspace, layer and tile, and holds the fingerprint of the
    workspace layers it was cut from (:func:`tile_fingerprint`); a request whose
    fingerprint differs (a parcel was edited, a layer imported, by this process or any
    other) cuts the tile anew. So the cache never serves a tile older than the data.
    """

    def __init__(self, max_bytes: int = TILE_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], bytes]] = \
            OrderedDict()
        self._guard = threading.Lock()

    def get(self, key: tuple[Any, ...], fingerprint: tuple[Any, ...]) -> bytes | None:
        """The tile under ``key`` if it was cut from data with ``fingerprint``."""
        with self._guard:
            entry = self._items.get(key)
            if entry is None or entry[0] != fingerprint:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: tuple[Any, ...], fingerprint: tuple[Any, ...], data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        with self._guard:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= len(old[1])
            self._items[key] = (fingerprint, data)
            self.bytes += len(data)
            while self.bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self.bytes -= len(dropped)

    def clear(self) -> None:
        with self._guard:
            self._items.clear()
            self.bytes = 0


def tile_fingerprint(workspace: Workspace, name: str) -> tuple[Any, ...]:
    """What a tile of served layer ``name`` was cut from: the workspace and its layers' state.

    Parcels record every write in their history, so their stamp is one indexed read
    (see :func:`web.services.layer_stamp`); a request pays that, not a tile.
    """
    from .services import layer_stamp

    source = tile_source(name)
    present = set(workspace.layers())
    return (workspace.url, *(layer_stamp(workspace, layer, present)
                             for layer in (source.layer, *source.also_reads)))


def tile_etag(fingerprint: tuple[Any, ...], name: str, z: int, x: int, y: int) -> str:
    """A strong ETag of a tile: the same for the same data, new after any change to it."""
    digest = hashlib.sha256(repr((fingerprint, name, z, x, y)).encode()).hexdigest()
    return f'"{digest[:20]}"'


def cached_layer_tile(cache: TileCache, workspace: Workspace, name: str, z: int, x: int,
                      y: int, *, if_none_match: str | None = None
                      ) -> tuple[bytes | None, str]:
    """The tile and its ETag; ``None`` for the tile when ``if_none_match`` already has it.

    A tile the client holds costs one fingerprint read; one this process cut from the
    same data comes from ``cache``; any other is cut by :func:`layer_tile` and kept.
    """
    tile_source(name)
    check_tile(z, x, y)
    fingerprint = tile_fingerprint(workspace, name)
    etag = tile_etag(fingerprint, name, z, x, y)
    if if_none_match is not None and etag in {tag.strip() for tag in if_none_match.split(",")}:
        return None, etag
    key = (name, z, x, y)
    data = cache.get(key, fingerprint)
    if data is None:
        data = layer_tile(workspace, name, z, x, y)
        cache.put(key, fingerprint, data)
    return data, etag


def parcel_tile(workspace: Workspace, z: int, x: int, y: int) -> bytes:
    """The parcels tile ``z/x/y`` as MVT bytes (see :func:`layer_tile`)."""
    return layer_tile(workspace, PARCEL_LAYER, z, x, y)


def features_at(workspace: Workspace, name: str, lon: float, lat: float, *, lang: str,
                labels: Mapping[str, Mapping[str, str]] | None = None) -> list[dict[str, Any]]:
    """Attributes of the features of served layer ``name`` under a WGS 84 point.

    Only the layer's tile columns are returned, coded ones with a ``<column>_label`` in
    ``lang``; ``labels`` adds labels for columns whose codes are not in the schema
    (zone types come from the municipality's rulebook).
    """
    source = tile_source(name)
    _check_point(lon, lat)
    box = (lon - CLICK_EPS, lat - CLICK_EPS, lon + CLICK_EPS, lat + CLICK_EPS)
    found = _read(workspace, source, box, 4326, details=True)
    if found.empty:
        return []
    point = shapely.points(*_project(workspace, lon, lat))
    found = found[shapely.intersects(found.geometry.to_numpy(), point)]
    return describe(found.iloc[:MAX_CLICK_FEATURES], source, lang=lang, labels=labels)


def parcels_at(workspace: Workspace, lon: float, lat: float, *, lang: str,
               labels: Mapping[str, Mapping[str, str]] | None = None) -> list[dict[str, Any]]:
    """Non-personal attributes of the parcels under a WGS 84 point (a click on the map)."""
    return features_at(workspace, PARCEL_LAYER, lon, lat, lang=lang, labels=labels)


def find_parcel(workspace: Workspace, cadastral_no: str, *, lang: str,
                labels: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, Any]:
    """A parcel by cadastral number, with its WGS 84 bounds for the map to zoom to."""
    found = workspace.read_layer(
        PARCEL_LAYER, where={"cadastral_no": cadastral_no.strip()},
        columns=list(TILE_LAYERS[PARCEL_LAYER].detail_columns), include_personal=False,
    )
    if found.empty:
        raise NotFoundError(f"no parcel with cadastral number {cadastral_no!r}")
    (parcel,) = describe(found.iloc[:1], TILE_LAYERS[PARCEL_LAYER], lang=lang, labels=labels)
    xmin, ymin, xmax, ymax = found.iloc[:1].to_crs(4326).total_bounds
    parcel["bounds"] = [float(xmin), float(ymin), float(xmax), float(ymax)]
    return parcel


def describe_parcels(parcels: Any, *, lang: str) -> list[dict[str, Any]]:
    """Attribute dicts with the coded values labelled in ``lang`` next to their codes."""
    return describe(parcels, TILE_LAYERS["parcels"], lang=lang)


def describe(frame: Any, source: TileSource, *, lang: str,
             labels: Mapping[str, Mapping[str, str]] | None = None) -> list[dict[str, Any]]:
    """Plain attribute dicts of ``frame``, with ``<column>_label`` for coded columns."""
    columns = [c for c in source.detail_columns if c in frame.columns]
    table = frame[columns].astype(object)
    table = table.where(table.notna(), None)
    for column, codelist in source.codelists.items():
        if column in table:
            table[f"{column}_label"] = [
                None if code is None else label(codelist, str(code), lang)  # type: ignore[arg-type]
                for code in table[column]
            ]
    if "hazard_types" in table:  # derived: comma-separated hazard type codes
        known = set(codes("hazard_type"))
        table["hazard_types_label"] = [
            None if value is None else ", ".join(
                label("hazard_type", code, lang) if code in known else code  # type: ignore[arg-type]
                for code in str(value).split(","))
            for value in table["hazard_types"]
        ]
    for column, mapping in (labels or {}).items():
        if column in table:
            table[f"{column}_label"] = [None if v is None else mapping.get(str(v), str(v))
                                        for v in table[column]]
    records: list[dict[str, Any]] = table.to_dict("records")
    return [{key: _plain(value) for key, value in record.items()} for record in records]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _check_point(lon: float, lat: float) -> None:
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise InputError(f"point ({lon}, {lat}) is not a WGS 84 longitude/latitude")


def _project(workspace: Workspace, lon: float, lat: float) -> tuple[float, float]:
    x, y = _transformer(4326, workspace.crs.srs).transform(lon, lat)
    return float(x), float(y)
