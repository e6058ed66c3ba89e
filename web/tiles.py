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

import gc
import hashlib
import itertools
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
from starlette.concurrency import run_in_threadpool

from spatial.errors import InputError, NotFoundError
from spatial.schema import codes, label, layer_schema
from spatial.store import Workspace

from .mvt import CodedColumn, encode_layer

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

#: Reads a derived layer: (workspace, box in its CRS or None, equality filters or None).
Reader = Callable[[Workspace, tuple[float, float, float, float] | None,
                   Mapping[str, object] | None], gpd.GeoDataFrame]


@dataclass(frozen=True)
class TileSource:
    """A layer served as tiles: where its features come from and what a tile carries.

    ``layer`` is the workspace layer read (its schema decides what is personal);
    ``columns`` the attributes a tile carries and ``details`` the further ones a click
    shows; ``codelists`` which of them hold codes to label; ``read`` replaces the plain
    bbox read for derived layers (``None`` for the box: the whole layer); ``mosaic``
    names the column whose values make low-zoom tiles a mosaic (:data:`MOSAIC_MAX_ZOOM`;
    a missing value leaves its cells empty); ``also_reads`` names the other
    workspace layers a tile depends on, so a cached tile is cut anew when they change.
    """

    layer: str
    columns: tuple[str, ...]
    codelists: Mapping[str, str]
    read: Reader | None = None
    details: tuple[str, ...] = ()
    mosaic: str | None = None
    also_reads: tuple[str, ...] = ()

    @property
    def detail_columns(self) -> tuple[str, ...]:
        return (*self.columns, *self.details)


def _read_exposed(workspace: Workspace, box: tuple[float, float, float, float] | None,
                  where: Mapping[str, object] | None) -> gpd.GeoDataFrame:
    """Parcels in ``box`` touching a hazard zone, with their hazard types and worst class.

    ``where`` filters the parcels (a tile index asks for the ones edited by ``fid``).

    Hazard zones are read over the parcels' own extent, not the tile's, so a parcel that
    crosses a tile edge gets the same class in every tile it shows in.
    """
    from .maps import exposed_parcels

    empty = gpd.GeoDataFrame(
        {"fid": pd.Series(dtype=np.int64)}
        | {c: pd.Series(dtype=object) for c in TILE_LAYERS["exposed_parcels"].columns},
        geometry=gpd.GeoSeries([], crs=workspace.crs), crs=workspace.crs)
    if "hazard_zones" not in workspace.layers():
        return empty
    parcels = workspace.read_layer(PARCEL_LAYER, bbox=box, where=where,
                                   columns=["cadastral_no", "settlement"],
                                   include_personal=False)
    if parcels.empty:
        return empty
    hazards = workspace.read_layer("hazard_zones", bbox=tuple(parcels.total_bounds),
                                   columns=["hazard_type", "hazard_class"],
                                   include_personal=False)
    if hazards.empty:
        return empty
    return exposed_parcels(parcels, hazards, lang=None, keep=("fid",))


#: Every layer the tile endpoint serves, by the name used in URLs and as MVT layer name.
TILE_LAYERS: dict[str, TileSource] = {
    "parcels": TileSource(PARCEL_LAYER, TILE_COLUMNS,
                          {"land_category": "land_category", "ag_subtype": "ag_subtype"},
                          details=("designated_use", "official_area_ha"),
                          mosaic="land_category"),
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
        mosaic="hazard_class", also_reads=("hazard_zones",)),
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


def _read(workspace: Workspace, source: TileSource,
          box: tuple[float, float, float, float] | None = None, box_crs: Any = None, *,
          where: Mapping[str, object] | None = None, details: bool = False
          ) -> gpd.GeoDataFrame:
    """The source's features in ``box`` (``None``: all) meeting ``where``, with ``fid``."""
    if box is not None:
        box = _box_in_workspace_crs(workspace, box, box_crs)
    if source.read is not None:
        return source.read(workspace, box, where)
    if source.layer not in workspace.layers():
        return gpd.GeoDataFrame({"fid": pd.Series(dtype=np.int64)},
                                geometry=gpd.GeoSeries([], crs=workspace.crs))
    columns = source.detail_columns if details else source.columns
    return workspace.read_layer(source.layer, bbox=box, where=where, columns=list(columns),
                                include_personal=False)


@dataclass(frozen=True, eq=False)
class TileIndex:
    """A served layer held for cutting tiles: Web Mercator geometry, tile columns, a tree.

    Reading a tile's features from the workspace (an R-tree query, decoding WKB,
    reprojecting) took most of a tile's time, and each tile near a dense area read the
    same parcels again. The index reads the layer once, keeps it in Web Mercator with an
    STR tree over it, and keeps copies generalised for the zooms where a tile holds
    thousands of features (:data:`GENERALISED_ZOOMS`), so a tile is a tree query, a clip
    and the encoding. It is built from one state of the workspace: :class:`TileCache`
    keeps it with that state's fingerprint and builds a new one when the data changes.
    """

    #: Feature ids (ascending): rows are in the order tiles draw them, and are replaced
    #: by id when features change (:func:`update_tile_index`).
    fid: np.ndarray
    geometry: np.ndarray
    #: The tile columns, factorised with their values encoded once (see CodedColumn).
    properties: Mapping[str, CodedColumn]
    tree: shapely.STRtree
    #: Area (Web Mercator m²) of each feature, to leave out sub-pixel ones before clipping.
    area: np.ndarray
    #: The geometry simplified to one tile unit of each zoom of GENERALISED_ZOOMS.
    generalised: Mapping[int, np.ndarray]
    #: The value each feature gives a mosaic cell (None: the layer has no mosaic).
    mosaic: np.ndarray | None

    def __len__(self) -> int:
        return len(self.geometry)

    @property
    def nbytes(self) -> int:
        """Rough memory held: coordinates of every copy plus the attribute table."""
        copies = [self.geometry, *self.generalised.values()]
        points = sum(int(shapely.get_num_coordinates(g).sum()) for g in copies)
        return points * 16 + sum(c.codes.nbytes + c.entries.nbytes
                                 for c in self.properties.values())


#: Zooms whose tiles are cut from geometry generalised beforehand to their tile unit;
#: above them a tile holds few enough features to simplify on the fly.
GENERALISED_ZOOMS = (12, 13, 14)


def tile_unit(z: int) -> float:
    """Web Mercator metres of one tile unit at zoom ``z``."""
    bounds = TMS.xy_bounds(morecantile.Tile(0, 0, z))
    return float(bounds.right - bounds.left) / EXTENT


def _read_rows(workspace: Workspace, source: TileSource,
               fids: list[int] | None = None) -> gpd.GeoDataFrame:
    """The source's features (``fids``: only those) with a shape, in ``fid`` order."""
    frame = _read(workspace, source, where=None if fids is None else {"fid": fids})
    geometry = frame.geometry.to_numpy()
    frame = frame[~(shapely.is_missing(geometry) | shapely.is_empty(geometry))]
    return frame.sort_values("fid", kind="stable").reset_index(drop=True)


def _mosaic_values(source: TileSource, frame: pd.DataFrame) -> np.ndarray | None:
    if source.mosaic is None:
        return None
    if source.mosaic not in frame:
        return np.full(len(frame), None, dtype=object)
    values = frame[source.mosaic].astype(object)
    return np.asarray(values.where(values.notna(), None), dtype=object)


def _tree(geometry: np.ndarray) -> shapely.STRtree:
    tree = shapely.STRtree(geometry)
    tree.query(shapely.box(0, 0, 0, 0))  # built now, not by the first of parallel queries
    return tree


def _generalise(geometry: np.ndarray) -> dict[int, np.ndarray]:
    """The generalised copies; a feature simplification leaves as it was is not copied.

    Most parcels have a handful of vertices, all of which show at zoom 12: their copy
    would be the same shape again (nine in ten, about 200 bytes each).
    """
    out = {}
    count = shapely.get_num_coordinates(geometry)
    for z in GENERALISED_ZOOMS:
        simple = shapely.simplify(geometry, tile_unit(z), preserve_topology=False)
        out[z] = np.where(shapely.get_num_coordinates(simple) == count, geometry, simple)
    return out


def build_tile_index(workspace: Workspace, name: str) -> TileIndex:
    """The index of served layer ``name`` from the workspace's current state.

    Only the source's tile columns are read (never a personal one: ``include_personal``
    is off), so what the index holds is what any tile may show.
    """
    source = tile_source(name)
    frame = _read_rows(workspace, source)
    geometry = np.asarray(_web_mercator(frame.geometry), dtype=object)
    columns = [c for c in source.columns if c in frame.columns]
    return TileIndex(
        fid=frame["fid"].to_numpy(dtype=np.int64), geometry=geometry, tree=_tree(geometry),
        properties={c: CodedColumn.from_values(frame[c]) for c in columns},
        area=shapely.area(geometry), generalised=_generalise(geometry),
        mosaic=_mosaic_values(source, frame),
    )


#: An index is updated from the parcel history when at most this many writes happened
#: since it was built; after more (an import), reading the whole layer again is as quick.
MAX_INDEX_UPDATE = 5_000


def update_tile_index(workspace: Workspace, name: str, index: TileIndex,
                      built: tuple[Any, ...], now: tuple[Any, ...]
                      ) -> tuple[TileIndex, np.ndarray] | None:
    """``index`` brought from data state ``built`` to ``now`` (fingerprints), or ``None``.

    Returns the new index and the Web Mercator bounds (n × 4) of what changed: the old
    and the new shapes of the features written, so tiles elsewhere are known unchanged.

    Reading 100 000 parcels into a new index takes seconds; after a land specialist saves
    one parcel the map would wait that long for its tiles. Parcels record every write in
    their history, so the parcels written since ``built`` are known: only they are read
    (and, for a derived layer, derived again), replace their old rows, and the tree is
    rebuilt over the arrays already held. The result is the index a full build would
    give. ``None`` when that cannot be known: the layer keeps no history, another layer
    the tiles read changed, the layer's metadata changed, or too many writes happened.
    """
    source = tile_source(name)
    if (built[0] != now[0] or built[2:] != now[2:] or len(built) != 2 + len(source.also_reads)
            or not layer_schema(source.layer).versioned):
        return None
    old, new = built[1], now[1]
    if len(old) != 4 or len(new) != 4 or old[3] != new[3]:  # (layer, count, last, metadata)
        return None
    fids = _written_since(workspace, old[2])
    if fids is None:
        return None
    fresh = _read_rows(workspace, source, sorted(fids))
    keep = ~np.isin(index.fid, np.fromiter(fids, dtype=np.int64, count=len(fids)))
    fid = np.concatenate([index.fid[keep], fresh["fid"].to_numpy(dtype=np.int64)])
    if source.read is None and len(fid) != new[1]:
        return None  # not what the history said: read everything instead
    order = np.argsort(fid, kind="stable")
    added = np.asarray(_web_mercator(fresh.geometry), dtype=object)
    geometry = np.concatenate([index.geometry[keep], added])[order]
    added_generalised = _generalise(added)
    generalised = {z: np.concatenate([g[keep], added_generalised[z]])[order]
                   for z, g in index.generalised.items()}
    mosaic = None
    if index.mosaic is not None:
        mosaic = np.concatenate([index.mosaic[keep],
                                 _mosaic_values(source, fresh)])[order]  # type: ignore[list-item]
    changed = shapely.bounds(np.concatenate([index.geometry[~keep], added]))
    return TileIndex(
        fid=fid[order], geometry=geometry, tree=_tree(geometry),
        properties={c: column.extended(keep, fresh[c]).take(order)
                    for c, column in index.properties.items()},
        area=np.concatenate([index.area[keep], shapely.area(added)])[order],
        generalised=generalised, mosaic=mosaic,
    ), changed


def _written_since(workspace: Workspace, last: tuple[Any, ...] | None) -> set[int] | None:
    """Ids of the parcels written after history entry ``last`` (None: since the start)."""
    fids: set[int] = set()
    page = 500
    for offset in range(0, MAX_INDEX_UPDATE + page, page):
        entries = workspace.history(None, limit=page, offset=offset, include_personal=False)
        for entry in entries:
            if last is not None and (entry.fid, entry.version, entry.action,
                                     entry.at.isoformat()) == last:
                return fids
            fids.add(entry.fid)
        if len(entries) < page:
            return fids if last is None else None  # ``last`` is gone: history was reset
        if len(fids) > MAX_INDEX_UPDATE:
            return None
    return None


def layer_tile(workspace: Workspace | None, name: str, z: int, x: int, y: int, *,
               index: TileIndex | None = None) -> bytes:
    """The tile ``z/x/y`` of served layer ``name`` as MVT bytes; empty where nothing lies.

    ``index`` is the layer's :class:`TileIndex` (built from ``workspace`` when not given;
    a server keeps it in its :class:`TileCache`). See :func:`index_tile`.
    """
    source = tile_source(name)
    check_tile(z, x, y)
    if index is None:
        if workspace is None:
            raise ValueError("layer_tile needs a workspace or the layer's index")
        index = build_tile_index(workspace, name)
    return index_tile(index, name, z, x, y, mosaic=source.mosaic)


def index_tile(index: TileIndex, name: str, z: int, x: int, y: int, *,
               mosaic: str | None = None) -> bytes:
    """Cut tile ``z/x/y`` of layer ``name`` from its index.

    Geometry is clipped to the buffered tile and simplified to one tile unit, so a tile
    at a low zoom stays small while a tile at a high zoom keeps every vertex that shows.
    With ``mosaic`` (the column it shows), tiles up to :data:`MOSAIC_MAX_ZOOM` are a
    mosaic (:func:`mosaic_cells`).
    """
    tile = check_tile(z, x, y)
    bounds = TMS.xy_bounds(tile)
    unit = (bounds.right - bounds.left) / EXTENT
    pad = unit * BUFFER
    box = (bounds.left - pad, bounds.bottom - pad, bounds.right + pad, bounds.top + pad)
    if mosaic and index.mosaic is not None and z <= MOSAIC_MAX_ZOOM:
        rectangles, values = mosaic_cells(index, bounds)
        return encode_layer(name, rectangles,
                            {mosaic: values, "generalised": [True] * len(values)},
                            extent=EXTENT)
    hits = np.sort(index.tree.query(shapely.box(*box)))
    # A polygon under one screen pixel cannot be seen at this zoom; a click still finds it.
    polygon = shapely.get_dimensions(index.geometry[hits]) == 2
    hits = hits[~polygon | (index.area[hits] >= MIN_AREA * unit * unit)]
    if not len(hits):
        return b""
    level = next((g for g in GENERALISED_ZOOMS if g >= z), None)
    source = index.geometry if level is None else index.generalised[level]
    geometry = shapely.clip_by_rect(source[hits], *box)
    # To integer tile units, y down as MVT has it, in one vectorised pass; then drop the
    # vertices that fall within a unit of the line: what the tile can show.
    origin = np.array([bounds.left, bounds.top])
    scale = np.array([1.0, -1.0]) / unit
    geometry = shapely.transform(geometry, lambda xy: np.round((xy - origin) * scale))
    if level != z:  # generalised for this zoom already; rounding repeats the encoder drops
        geometry = shapely.simplify(geometry, 1.0, preserve_topology=False)
    seen = (shapely.get_dimensions(geometry) < 2) | (shapely.area(geometry) >= MIN_AREA)
    rows = hits[seen]
    return encode_layer(name, geometry[seen],
                        {key: column.take(rows) for key, column in index.properties.items()},
                        extent=EXTENT)


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


def mosaic_cells(index: TileIndex, bounds: Any) -> tuple[np.ndarray, list[str]]:
    """A low-zoom tile of a parcel layer: runs of equal cells as rectangles.

    The tile is cut into :data:`MOSAIC_CELLS` × :data:`MOSAIC_CELLS` cells; each takes
    the value of the feature under its centre (one bulk tree query for all centres), and
    neighbouring cells of a row with the same value become one rectangle. Returns the
    rectangles in tile units (y down) and their values; the tile's features carry the
    value and ``generalised``, and no parcel's own attributes.
    """
    if index.mosaic is None or not len(index):
        return np.array([], dtype=object), []
    n = MOSAIC_CELLS
    step = (bounds.right - bounds.left) / n
    centres = (np.arange(n) + 0.5) * step
    cx, cy = np.meshgrid(bounds.left + centres, bounds.bottom + centres)  # [row, column]
    point_idx, feature_idx = index.tree.query(shapely.points(cx.ravel(), cy.ravel()),
                                              predicate="intersects")
    if not len(point_idx):
        return np.array([], dtype=object), []
    # The first feature (lowest id) under each cell, whatever order the tree gave them in.
    order = np.lexsort((feature_idx, point_idx))
    point_idx, feature_idx = point_idx[order], feature_idx[order]
    cells, first = np.unique(point_idx, return_index=True)
    values = index.mosaic[feature_idx[first]]
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

#: Half the side of the Web Mercator square (m): tile bounds by arithmetic, in bulk.
_HALF_WORLD = 20037508.342789244
#: Bytes of encoded tiles one server process keeps (each uvicorn worker has its own).
TILE_CACHE_BYTES = 64 * 2**20
#: Layer indexes one server process keeps (one app serves one workspace: 7 layers).
MAX_TILE_INDEXES = 16


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
        self._indexes: OrderedDict[tuple[str, str], tuple[tuple[Any, ...], TileIndex]] = \
            OrderedDict()
        self._building: dict[tuple[str, str], threading.Lock] = {}
        #: Indexes built from a whole layer, and updated from its history (for tests).
        self.indexes_built = 0
        self.indexes_updated = 0
        #: Cached tiles kept across updates because no change reached them.
        self.carried_over = 0

    def index(self, workspace: Workspace, name: str, fingerprint: tuple[Any, ...], *,
              settle: bool = True) -> TileIndex:
        """The :class:`TileIndex` of ``name`` for the data state ``fingerprint``.

        Built on first use; when the fingerprint changes, updated with the parcels
        written since (:func:`update_tile_index`) or else built again. Requests that
        need an index being built wait for it rather than each reading the layer.
        ``settle=False`` leaves :func:`_settle_heap` to a caller building several.
        """
        key = (workspace.url, name)
        with self._guard:
            entry = self._indexes.get(key)
            if entry is not None and entry[0] == fingerprint:
                self._indexes.move_to_end(key)
                return entry[1]
            building = self._building.setdefault(key, threading.Lock())
        with building:
            with self._guard:
                entry = self._indexes.get(key)
                if entry is not None and entry[0] == fingerprint:
                    return entry[1]
            update = None if entry is None else \
                update_tile_index(workspace, name, entry[1], entry[0], fingerprint)
            index = update[0] if update is not None else build_tile_index(workspace, name)
            with self._guard:
                self._indexes[key] = (fingerprint, index)
                self._indexes.move_to_end(key)
                if update is not None:
                    assert entry is not None
                    self.indexes_updated += 1
                    self._carry_over(name, entry[0], fingerprint, update[1])
                else:
                    self.indexes_built += 1
                while len(self._indexes) > MAX_TILE_INDEXES:
                    self._indexes.popitem(last=False)
            if settle and update is None:  # an update reuses the geometry objects it held
                _settle_heap()
            return index

    def _carry_over(self, name: str, built: tuple[Any, ...], now: tuple[Any, ...],
                    changed: np.ndarray) -> None:
        """Tiles of ``name`` cut at state ``built`` that no change reaches hold at ``now``.

        After a land specialist saves a parcel, only the tiles over its old and new shape
        differ; every other tile the map holds stays in the cache (under the new state,
        hence with a new ETag) instead of being cut again. Called with the guard held.
        """
        keys = [k for k, (fp, _) in self._items.items() if k[0] == name and fp == built]
        if not keys:
            return
        z, x, y = (np.array([k[i] for k in keys], dtype=np.float64) for i in (1, 2, 3))
        size = 2 * _HALF_WORLD / 2**z
        pad = size * BUFFER / EXTENT
        left, top = -_HALF_WORLD + x * size - pad, _HALF_WORLD - y * size + pad
        right, bottom = left + size + 2 * pad, top - size - 2 * pad
        hit = np.zeros(len(keys), dtype=bool)
        if len(changed):
            reached = shapely.STRtree(shapely.box(*changed.T)).query(
                shapely.box(left, bottom, right, top))[0]
            hit[reached] = True
        for key, stale in zip(keys, hit, strict=True):
            if not stale:
                self._items[key] = (now, self._items[key][1])
        self.carried_over += int((~hit).sum())

    def has_index(self, workspace: Workspace, name: str, fingerprint: tuple[Any, ...]
                  ) -> bool:
        """Whether :meth:`index` would answer at once (no layer to read)."""
        with self._guard:
            entry = self._indexes.get((workspace.url, name))
            return entry is not None and entry[0] == fingerprint

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
            self._indexes.clear()
            self.bytes = 0


_HEAP_GUARD = threading.Lock()


def _settle_heap() -> None:
    """Take the live objects out of the cycle collector's work, an index's among them.

    An index holds hundreds of thousands of geometry objects; the collector's next full
    pass over them stalled the tile request it fell in (about 0.1 s). Collecting once now,
    in the thread that built the index, and freezing what survives keeps those passes
    off the requests. Frozen objects are still freed by reference counting when an index
    is replaced; unfreezing first lets this pass reclaim cycles frozen by the last one.
    """
    with _HEAP_GUARD:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        _trim_malloc()


def _trim_malloc() -> None:
    """Give the C heap's free pages back to the system (glibc), after a layer was read.

    Reading a whole layer leaves hundreds of megabytes of freed decoding buffers in the
    process's heap; without this a server showed them as resident for good.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        trim = getattr(libc, "malloc_trim", None)
    except OSError:
        return
    if trim is not None:
        trim(0)


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


def _from_cache(cache: TileCache, workspace: Workspace, name: str, z: int, x: int, y: int,
                if_none_match: str | None, fingerprint: tuple[Any, ...] | None
                ) -> tuple[bytes | None, str, tuple[Any, ...] | None]:
    """(tile, ETag, fingerprint to cut it at): the tile is ``None`` when the client has it
    (no fingerprint then) or when it must be cut; nothing here reads a layer."""
    tile_source(name)
    check_tile(z, x, y)
    if fingerprint is None:
        fingerprint = tile_fingerprint(workspace, name)
    etag = tile_etag(fingerprint, name, z, x, y)
    if if_none_match is not None and etag in {tag.strip() for tag in if_none_match.split(",")}:
        return None, etag, None
    return cache.get((name, z, x, y), fingerprint), etag, fingerprint


def _cut_into(cache: TileCache, workspace: Workspace, name: str, z: int, x: int, y: int,
              fingerprint: tuple[Any, ...]) -> bytes:
    data = layer_tile(workspace, name, z, x, y, index=cache.index(workspace, name, fingerprint))
    cache.put((name, z, x, y), fingerprint, data)
    return data


def cached_layer_tile(cache: TileCache, workspace: Workspace, name: str, z: int, x: int,
                      y: int, *, if_none_match: str | None = None,
                      fingerprint: tuple[Any, ...] | None = None
                      ) -> tuple[bytes | None, str]:
    """The tile and its ETag; ``None`` for the tile when ``if_none_match`` already has it.

    A tile the client holds costs one fingerprint read; one this process cut from the
    same data comes from ``cache``; any other is cut by :func:`layer_tile` from the
    layer's index in ``cache`` (built once per state of the data) and kept.
    ``fingerprint`` is :func:`tile_fingerprint`'s, when the caller has read it already.
    """
    data, etag, state = _from_cache(cache, workspace, name, z, x, y, if_none_match,
                                    fingerprint)
    if data is None and state is not None:
        data = _cut_into(cache, workspace, name, z, x, y, state)
    return data, etag


async def cached_layer_tile_async(cache: TileCache, workspace: Workspace, name: str, z: int,
                                  x: int, y: int, *, if_none_match: str | None = None
                                  ) -> tuple[bytes | None, str]:
    """:func:`cached_layer_tile` for the event loop, where the tile route runs.

    Answering from the client's copy or the cache, and cutting from an index, are a few
    milliseconds of CPU under the interpreter lock: on the loop that is quicker than in a
    worker thread, where the map's parallel tile requests fought over the lock (p95
    doubled). Only reading a layer into a new index (seconds) goes to a thread, and only
    when the tile must be cut: a client revalidating its copy never waits for one.
    """
    data, etag, state = _from_cache(cache, workspace, name, z, x, y, if_none_match, None)
    if data is None and state is not None:
        if not cache.has_index(workspace, name, state):
            await run_in_threadpool(cache.index, workspace, name, state)
        data = _cut_into(cache, workspace, name, z, x, y, state)
    return data, etag


#: Layers whose indexes a starting server builds (:func:`prewarm_indexes`), in this order:
#: the parcels every map shows first, the derived exposure (the slowest) last.
PREWARM_LAYERS = ("parcels", "zones", "protected_areas", "forest_fund", "hazard_zones",
                  "restrictions", "exposed_parcels")


def prewarm_indexes(cache: TileCache, workspace: Workspace,
                    names: tuple[str, ...] = PREWARM_LAYERS) -> dict[str, float]:
    """Build the tile indexes of ``names`` into ``cache``; seconds each took.

    A fresh server would otherwise read each layer on the first tile of it, and that
    map would wait seconds; run in the background at start-up, the wait happens before
    anyone asks. A request arriving meanwhile waits for the index being built.
    """
    import time

    took: dict[str, float] = {}
    for name in names:
        started = time.perf_counter()
        cache.index(workspace, name, tile_fingerprint(workspace, name), settle=False)
        took[name] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    _settle_heap()
    took["heap"] = round(time.perf_counter() - started, 3)
    return took


#: Pre-cut at most this many low-zoom tiles per layer (a municipality needs about 70).
MAX_PRECUT_TILES = 512


def precut_tiles(cache: TileCache, workspace: Workspace,
                 names: tuple[str, ...] = PREWARM_LAYERS, *,
                 max_zoom: int = MOSAIC_MAX_ZOOM) -> int:
    """Cut the tiles of zooms 0..``max_zoom`` over each layer into ``cache``; how many.

    Every map opens on the whole municipality, at zoom 10 or so, where a parcel tile is
    a mosaic of 16 384 cells looked up in the tree (about 20 ms each): cutting these few
    dozen tiles at start-up means no visitor waits for them. They stay valid across
    parcel edits that do not reach them (:meth:`TileCache._carry_over`).
    """
    done = 0
    for name in names:
        fingerprint = tile_fingerprint(workspace, name)
        index = cache.index(workspace, name, fingerprint)
        if not len(index):
            continue
        xmin, ymin, xmax, ymax = shapely.total_bounds(index.geometry)
        west, south = TMS.lnglat(xmin, ymin)
        east, north = TMS.lnglat(xmax, ymax)
        tiles = TMS.tiles(west, south, east, north, zooms=list(range(max_zoom + 1)))
        for tile in itertools.islice(tiles, MAX_PRECUT_TILES):
            cached_layer_tile(cache, workspace, name, tile.z, tile.x, tile.y,
                              fingerprint=fingerprint)
            done += 1
    return done


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
