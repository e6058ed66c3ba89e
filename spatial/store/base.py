"""The workspace interface and the logic both storage backends share.

A workspace is one municipality's data: the schema layers of ``data/schemas/layers.json``,
key/value metadata, and the edit history of parcels. Two backends implement it: an
embedded GeoPackage (one file a land specialist can copy, and open in QGIS as it is)
and PostGIS (a server shared by a district). Everything that does not depend on the
storage — validation, row versions, history, the record and frame conversions — lives
here, so the two backends behave identically and the same tests run on both; the
backends supply only SQL dialect, geometry encoding and bulk loading.

All SQL written here uses ``?`` placeholders; a backend whose driver wants another
style rewrites them in :meth:`Workspace._execute`.
"""

from __future__ import annotations

import json
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from ..errors import (
    ConflictError,
    CRSError,
    InputError,
    NotFoundError,
    Problem,
    ValidationError,
)
from ..schema import LayerSchema, layer_schema, load_schema
from ..validation import ValidationReport, rulebook_code_lists, validate_layer

__all__ = [
    "FORMAT_VERSION",
    "HISTORY_TABLE",
    "LAYER_META_TABLE",
    "META_TABLE",
    "HistoryEntry",
    "ImportReport",
    "Workspace",
    "column_sql_types",
    "schema_layers",
    "storage_geometry_type",
]

#: Version of the on-disk layout of a Jer workspace (tables, metadata keys).
FORMAT_VERSION = "1"
META_TABLE = "jer_metadata"
LAYER_META_TABLE = "jer_layer_metadata"
HISTORY_TABLE = "jer_history"
#: Geometry column name in every layer table (GDAL's default for GeoPackage).
GEOM = "geom"
#: Name of the versioned layer whose edits are recorded in the history.
PARCELS = "parcels"
#: Rows written per statement batch in bulk imports; progress is reported per batch.
BATCH_ROWS = 5_000

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_GEOMETRY_TYPE_IDS = {
    "Point": 0, "LineString": 1, "Polygon": 3, "MultiPoint": 4, "MultiLineString": 5,
    "MultiPolygon": 6,
}
#: Single-part type id -> (multi-part type id, constructor) for promotion on write.
_PROMOTE: dict[str, tuple[int, int, Callable[..., Any]]] = {
    "MULTIPOLYGON": (3, 6, shapely.multipolygons),
    "MULTILINESTRING": (1, 5, shapely.multilinestrings),
    "MULTIPOINT": (0, 4, shapely.multipoints),
}


def schema_layers() -> list[str]:
    """Every layer of the data model, in schema order."""
    return list(load_schema().layers)


def column_sql_types(spec: LayerSchema) -> dict[str, str]:
    """Stored attribute columns of a layer (input then computed) with their schema types."""
    out: dict[str, str] = {name: col.type for name, col in spec.columns.items()}
    out.update({name: col.type for name, col in spec.computed.items()})
    return out


def storage_geometry_type(spec: LayerSchema) -> str:
    """GeoPackage/PostGIS geometry type of a layer's column.

    A layer that takes ``Polygon`` and ``MultiPolygon`` is stored as ``MULTIPOLYGON``
    (single parts promoted on write, demoted on read) rather than as the generic
    ``GEOMETRY``: QGIS splits a generic layer into one sub-layer per geometry type,
    which would show a parcel fabric as two layers.
    """
    types = set(spec.geometry_types)
    for multi, single in (
        ("MultiPolygon", "Polygon"), ("MultiLineString", "LineString"), ("MultiPoint", "Point"),
    ):
        if types <= {single, multi}:
            return multi.upper() if multi in types else single.upper()
    return "GEOMETRY"


def promote(geoms: np.ndarray, storage_type: str) -> np.ndarray:
    """Single parts as one-part multis so every value matches a ``MULTI*`` column type."""
    if storage_type not in _PROMOTE or len(geoms) == 0:
        return geoms
    single, _multi, make = _PROMOTE[storage_type]
    out = np.asarray(geoms, dtype=object).copy()
    mask = shapely.get_type_id(out) == single
    if mask.any():
        out[mask] = make(out[mask][:, None])
    return out


def demote(geoms: np.ndarray, storage_type: str) -> np.ndarray:
    """One-part multis back to single parts: what was written is what is read."""
    if storage_type not in _PROMOTE or len(geoms) == 0:
        return geoms
    _single, multi, _make = _PROMOTE[storage_type]
    out = np.asarray(geoms, dtype=object)
    mask = (shapely.get_type_id(out) == multi) & (shapely.get_num_geometries(out) == 1)
    if mask.any():
        out = out.copy()
        out[mask] = shapely.get_geometry(out[mask], 0)
    return out


def utc_now() -> datetime:
    """Current UTC time at millisecond precision (what both backends store exactly)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 UTC text with a ``Z`` suffix, e.g. ``2025-05-06T09:30:00.123Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_utc(value: Any) -> datetime:
    """A stored timestamp (text or driver datetime) as an aware UTC datetime."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _py(value: Any) -> Any:
    """A pandas/numpy cell as a plain Python value (``None`` for every kind of null)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, BaseGeometry):
        return shapely.to_wkb(value, hex=True, flavor="iso")
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in the history")


def _dates_as_datetime64(frame: pd.DataFrame, spec: LayerSchema) -> pd.DataFrame:
    """Unambiguous date columns as ``datetime64`` before validation.

    Values read back from a workspace are ``date`` objects and forms send ISO text
    (``2031-05-06``); validation parses other text day-first (``06.05.2031``), which
    would swap day and month of ISO dates, so columns whose every value is a date
    object or ISO text go in as datetimes. Other columns are left to validation.
    """
    out = frame
    for name, col in spec.columns.items():
        if col.type != "date" or name not in frame.columns or frame[name].dtype != object:
            continue
        values = frame[name]
        kind = pd.api.types.infer_dtype(values, skipna=True)
        if kind in ("date", "datetime"):
            parsed = pd.to_datetime(values)
        elif kind == "string":
            text = values.str.strip()
            parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
            if (parsed.isna() & text.notna() & (text != "")).any():
                continue
        else:
            continue
        if out is frame:
            out = frame.copy()
        out[name] = parsed
    return out


@dataclass
class ImportReport:
    """What an import wrote: counts and every problem (warnings, and errors of skipped rows)."""

    layer: str
    imported: int
    skipped: int
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "imported": self.imported,
            "skipped": self.skipped,
            "problems": [p.to_dict() for p in self.problems],
        }


@dataclass(frozen=True)
class HistoryEntry:
    """One recorded write of a parcel.

    Attributes
    ----------
    version
        The parcel's ``row_version`` after the write; a deletion takes the next number
        (a tombstone), so every entry of a parcel has its own version.
    changes
        ``{column: (old, new)}`` for updates and restores; ``(None, new)`` for creations;
        empty for imports and deletions (the snapshot holds the state). A changed
        geometry is reported as ``{"geometry": ("changed", "changed")}`` beside the
        ``area_ha`` before and after.
    snapshot
        The full parcel after the write (before it, for a deletion), JSON-typed: dates as
        ISO text, the geometry as ISO WKB hex under ``"geometry"``.
    """

    fid: int
    cadastral_no: str | None
    version: int
    action: Literal["create", "update", "delete", "restore", "import"]
    user: str
    at: datetime
    changes: dict[str, tuple[Any, Any]]
    snapshot: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = iso_utc(self.at)
        out["changes"] = {k: list(v) for k, v in self.changes.items()}
        return out


class Workspace(ABC):
    """A Jer workspace: schema layers, metadata and parcel history in one store.

    Every write is validated with :func:`spatial.validation.validate_layer` and runs in
    one transaction; :meth:`transaction` lets a caller group several writes, which then
    join the outer transaction (each as a savepoint) instead of committing.

    A workspace object serialises its own use with a lock, so one object may be shared
    by threads; for parallel work open one object per worker.
    """

    url: str
    crs: CRS

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()
        self._depth = 0
        self._closed = False
        self._epsg = 0

    # ------------------------------------------------------------------ backend hooks
    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the number of rows it changed."""

    @abstractmethod
    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one query and return all rows."""

    @abstractmethod
    def _begin_sql(self) -> str:
        """Statement that opens an outermost write transaction."""

    @abstractmethod
    def _close_connection(self) -> None: ...

    @abstractmethod
    def _t(self, table: str) -> str:
        """Quoted, qualified name of a table."""

    @abstractmethod
    def _geom_select(self) -> str:
        """SQL expression that yields the ISO/OGC WKB of the ``geom`` column."""

    @abstractmethod
    def _geom_param(self) -> str:
        """SQL expression turning one parameter (from :meth:`_geoms_to_db`) into a geometry."""

    @abstractmethod
    def _geoms_to_db(self, geoms: np.ndarray) -> list[Any]:
        """Geometries (already promoted) as parameters for :meth:`_geom_param`."""

    @abstractmethod
    def _bbox_condition(self, layer: str, bbox: tuple[float, float, float, float]
                        ) -> tuple[str, list[Any]]:
        """Condition selecting rows whose envelope meets ``bbox`` through the spatial index."""

    @abstractmethod
    def _in_condition(self, column: str, values: list[Any]) -> tuple[str, list[Any]]:
        """Condition ``column IN values`` with one parameter however many values."""

    @abstractmethod
    def _envelopes_in_bbox(self, layer: str, bbox: tuple[float, float, float, float],
                           conditions: Sequence[tuple[str, list[Any]]]) -> np.ndarray:
        """``(fid, minx, maxx, miny, maxy)`` rows, ordered by fid, of the features whose
        indexed envelope meets ``bbox`` and which meet ``conditions``.

        Envelopes come from the spatial index itself (never rounded inward), so a
        feature whose envelope lies inside ``bbox`` certainly intersects it.
        """

    @abstractmethod
    def _extent_sql(self, layer: str) -> str:
        """Query yielding one row ``(xmin, ymin, xmax, ymax)`` of a layer (nulls if empty)."""

    @abstractmethod
    def _values_to_db(self, ctype: str, values: pd.Series) -> list[Any]:
        """A column of normalised values as driver parameters for its schema type."""

    @abstractmethod
    def _limit_clause(self, limit: int | None, offset: int) -> tuple[str, list[Any]]: ...

    @abstractmethod
    def _for_update(self) -> str:
        """Suffix that locks selected rows until the transaction ends ('' if the
        transaction already holds the write lock)."""

    @abstractmethod
    def _allocate_fids(self, layer: str, n: int) -> np.ndarray:
        """``n`` new feature ids never used before in ``layer`` (inside a transaction)."""

    @abstractmethod
    def _bulk_insert_features(
        self, layer: str, data: pd.DataFrame, geoms: np.ndarray,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        """Insert normalised rows (``fid`` + stored columns) with their promoted geometries."""

    @abstractmethod
    def _bulk_insert_rows(self, table: str, data: pd.DataFrame, types: Mapping[str, str]) -> None:
        """Insert rows into a non-spatial table; ``types`` gives each column's kind."""

    @abstractmethod
    def _after_layer_write(self, layer: str, bounds: tuple[float, ...] | None = None) -> None:
        """Refresh per-layer bookkeeping (GeoPackage extent and last change).

        ``bounds`` of a single written geometry widen the recorded extent; ``()`` only
        touches the change time; ``None`` recomputes the extent after a bulk write.
        """

    def _lock_layer(self, layer: str) -> None:
        """Serialise writers of ``layer`` until the transaction ends.

        Validation reads the features near a write and then the write happens; two
        writers doing this at once could each miss the other's overlapping parcel. The
        GeoPackage needs nothing here (``BEGIN IMMEDIATE`` locks the whole file).
        """
        return None

    @abstractmethod
    def _tables(self) -> set[str]:
        """Names of the tables in the workspace."""

    @abstractmethod
    def _write_layer_description(self, layer: str, description: str) -> None:
        """Expose a human description of the layer where desktop GIS show it."""

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the connection; an open transaction is rolled back."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._close_connection()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._display_url()} EPSG:{self._epsg}>"

    def _display_url(self) -> str:
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", self.url)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one transaction; nested uses become savepoints.

        An exception inside the block rolls back everything written in it (and, for the
        outermost block, the whole transaction) and propagates.
        """
        with self._lock:
            depth = self._depth
            savepoint = f"jer_sp_{depth}"
            self._execute(self._begin_sql() if depth == 0 else f"SAVEPOINT {savepoint}")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                try:
                    if depth == 0:
                        self._execute("ROLLBACK")
                    else:
                        self._execute(f"ROLLBACK TO SAVEPOINT {savepoint}")
                        self._execute(f"RELEASE SAVEPOINT {savepoint}")
                except Exception:  # the original error matters more than a failed rollback
                    pass
                raise
            self._depth -= 1
            if depth == 0:
                self._execute("COMMIT")
            else:
                self._execute(f"RELEASE SAVEPOINT {savepoint}")

    # ------------------------------------------------------------------ metadata
    def metadata(self) -> dict[str, str]:
        """Workspace key/values: CRS, format and schema versions, creator, user entries."""
        rows = self._fetch(f"SELECT key, value FROM {self._t(META_TABLE)} ORDER BY key")
        return {str(k): str(v) for k, v in rows}

    def code_lists(self) -> dict[str, tuple[str, ...]]:
        """Codes that the workspace's rulebook defines for layer columns (parcel uses).

        Every write validates against them, so the inventory never holds a designated
        use that the checks and the Space report of this workspace cannot look up.
        """
        return rulebook_code_lists(self.metadata().get("rulebook") or None)

    def set_metadata(self, values: Mapping[str, str]) -> None:
        """Insert or replace workspace metadata entries."""
        with self.transaction():
            for key, value in values.items():
                self._execute(f"DELETE FROM {self._t(META_TABLE)} WHERE key = ?", [str(key)])
                self._execute(
                    f"INSERT INTO {self._t(META_TABLE)} (key, value) VALUES (?, ?)",
                    [str(key), str(value)],
                )

    def layer_metadata(self, layer: str) -> dict[str, str]:
        """Per-layer key/values, e.g. ``{"illustrative": "true", "source": "..."}``."""
        self._check_layer(layer)
        rows = self._fetch(
            f"SELECT key, value FROM {self._t(LAYER_META_TABLE)} WHERE layer = ? ORDER BY key",
            [layer],
        )
        return {str(k): str(v) for k, v in rows}

    def set_layer_metadata(self, layer: str, values: Mapping[str, str]) -> None:
        """Insert or replace per-layer metadata; desktop GIS see a description of it."""
        spec = self._check_layer(layer)
        with self.transaction():
            for key, value in values.items():
                self._execute(
                    f"DELETE FROM {self._t(LAYER_META_TABLE)} WHERE layer = ? AND key = ?",
                    [layer, str(key)],
                )
                self._execute(
                    f"INSERT INTO {self._t(LAYER_META_TABLE)} (layer, key, value) "
                    f"VALUES (?, ?, ?)",
                    [layer, str(key), str(value)],
                )
            entries = self.layer_metadata(layer)
            title = spec.title.get("en", layer)
            text = entries.get("description") or "; ".join(
                f"{k}: {v}" for k, v in entries.items()
            )
            self._write_layer_description(layer, f"{title}. {text}" if text else title)

    # ------------------------------------------------------------------ layers
    def layers(self) -> list[str]:
        """Schema layers present in this workspace, in schema order."""
        tables = self._tables()
        return [name for name in schema_layers() if name in tables]

    def _check_layer(self, layer: str) -> LayerSchema:
        spec = layer_schema(layer)
        if layer not in self._tables():
            raise NotFoundError(f"layer {layer!r} is not in workspace {self._display_url()}")
        return spec

    def count(self, layer: str) -> int:
        """Number of features in ``layer``."""
        self._check_layer(layer)
        return int(self._fetch(f"SELECT count(*) FROM {self._t(layer)}")[0][0])

    def read_layer(
        self,
        layer: str,
        *,
        bbox: tuple[float, float, float, float] | None = None,
        bbox_crs: Any = None,
        columns: Sequence[str] | None = None,
        where: Mapping[str, object] | None = None,
        include_personal: bool = True,
        limit: int | None = None,
        offset: int = 0,
    ) -> gpd.GeoDataFrame:
        """Features of ``layer`` in the workspace CRS, ordered by ``fid``.

        Parameters
        ----------
        bbox
            ``(xmin, ymin, xmax, ymax)``: features that intersect this box, found through
            the spatial index (GeoPackage R-tree, PostGIS GiST) and tested exactly.
        bbox_crs
            CRS of ``bbox`` if not the workspace CRS (e.g. 4326 for a web map view).
        columns
            Attribute columns to read (``fid`` and the geometry always come); default all.
        where
            Equality filters ``{column: value}``; ``None`` matches nulls, a list or set
            matches any of its values.
        include_personal
            ``False`` leaves out the schema columns marked personal (right holders) in
            the query itself, so they are never read for a public view.
        """
        spec = self._check_layer(layer)
        selected, conditions = self._query_parts(spec, columns, where, include_personal)
        box = None if bbox is None else self._bbox_in_crs(bbox, bbox_crs)
        if box is not None:
            conditions.insert(0, self._bbox_condition(layer, box))
        if box is None:
            return self._select_frame(spec, selected, conditions, limit=limit, offset=offset)
        if (limit is not None and limit < 0) or offset < 0:
            raise InputError("limit and offset must not be negative")
        # The index stores 32-bit envelopes, rounded outward differently by each backend;
        # an exact test on the candidates makes the answer exact and the same on both.
        candidates = self._select_frame(spec, selected, conditions)
        hits = candidates[shapely.intersects(candidates.geometry.to_numpy(), shapely.box(*box))]
        end = None if limit is None else offset + limit
        return hits.iloc[offset:end].reset_index(drop=True)

    def _query_parts(
        self, spec: LayerSchema, columns: Sequence[str] | None,
        where: Mapping[str, object] | None, include_personal: bool,
    ) -> tuple[list[str], list[tuple[str, list[Any]]]]:
        """Columns to select and equality conditions of a read, checked against the schema."""
        types = column_sql_types(spec)
        wanted = list(types) if columns is None else list(columns)
        unknown = [c for c in wanted if c not in types and c != "fid"]
        if unknown:
            raise InputError(
                f"{spec.name}: unknown column(s) {', '.join(map(repr, unknown))}; "
                f"columns are {', '.join(types)}"
            )
        personal = set(spec.personal_columns)
        selected = [c for c in types if c in wanted and (include_personal or c not in personal)]
        conditions: list[tuple[str, list[Any]]] = []
        for column, value in (where or {}).items():
            if column != "fid" and column not in types:
                raise InputError(f"{spec.name}: cannot filter on unknown column {column!r}")
            if column in personal and not include_personal:
                raise InputError(f"{spec.name}: cannot filter on personal column {column!r}")
            conditions.append(self._equality(column, "integer" if column == "fid"
                                             else types[column], value))
        return selected, conditions

    def read_page(
        self,
        layer: str,
        *,
        limit: int,
        offset: int = 0,
        bbox: tuple[float, float, float, float] | None = None,
        bbox_crs: Any = None,
        columns: Sequence[str] | None = None,
        where: Mapping[str, object] | None = None,
        include_personal: bool = True,
    ) -> tuple[gpd.GeoDataFrame, int]:
        """One page of ``layer`` in ``fid`` order, and how many features match in all.

        Made for services that page through a layer (OGC API - Features, QGIS): the
        page is cut in SQL (``ORDER BY fid LIMIT/OFFSET``), so reading the last page of
        a large layer does not decode the pages before it, and the order is stable
        between requests. With ``bbox``, the spatial index gives each candidate's
        envelope; a candidate whose envelope lies inside the box is a hit without its
        geometry being read, and only those crossing the edge are tested exactly, so
        the count is exact, and the same on both backends, at the cost of reading the
        geometries along the box's edge.

        Parameters are those of :meth:`read_layer`; ``limit`` is required.

        Returns
        -------
        (page, matched)
            The page (columns as :meth:`read_layer` gives them) and the number of
            features meeting ``bbox`` and ``where`` regardless of ``limit``/``offset``.
        """
        spec = self._check_layer(layer)
        if limit < 0 or offset < 0:
            raise InputError("limit and offset must not be negative")
        selected, conditions = self._query_parts(spec, columns, where, include_personal)
        if bbox is None:
            sql = f"SELECT count(*) FROM {self._t(layer)}"
            params: list[Any] = []
            if conditions:
                sql += " WHERE " + " AND ".join(f"({c})" for c, _ in conditions)
                for _, p in conditions:
                    params.extend(p)
            matched = int(self._fetch(sql, params)[0][0])
            page = self._select_frame(spec, selected, conditions, limit=limit, offset=offset)
            return page, matched
        box = self._bbox_in_crs(bbox, bbox_crs)
        envelopes = self._envelopes_in_bbox(layer, box, conditions)
        fids = envelopes[:, 0].astype(np.int64)
        inside = ((envelopes[:, 1] >= box[0]) & (envelopes[:, 2] <= box[2])
                  & (envelopes[:, 3] >= box[1]) & (envelopes[:, 4] <= box[3]))
        edge = fids[~inside]
        hits = fids[inside]
        if len(edge):
            crossing = self._select_frame(
                spec, [], [self._in_condition("fid", edge.tolist())]
            )
            touched = shapely.intersects(crossing.geometry.to_numpy(), shapely.box(*box))
            hits = np.concatenate([hits, crossing["fid"].to_numpy(dtype=np.int64)[touched]])
        hits = np.sort(hits)
        wanted = hits[offset:offset + limit]
        page = self._select_frame(spec, selected, [self._in_condition("fid", wanted.tolist())])
        return page, len(hits)

    def extent(self, layer: str) -> tuple[float, float, float, float] | None:
        """``(xmin, ymin, xmax, ymax)`` of a layer in the workspace CRS; ``None`` if empty.

        Read from the spatial index (GeoPackage R-tree, PostGIS envelopes), so it may
        exceed the exact extent by the index's rounding (under a metre).
        """
        self._check_layer(layer)
        row = self._fetch(self._extent_sql(layer))[0]
        if any(v is None for v in row):
            return None
        return float(row[0]), float(row[1]), float(row[2]), float(row[3])

    def _bbox_in_crs(self, bbox: tuple[float, float, float, float], bbox_crs: Any
                     ) -> tuple[float, float, float, float]:
        xmin, ymin, xmax, ymax = (float(v) for v in bbox)
        if not (xmin <= xmax and ymin <= ymax):
            raise InputError(f"bbox {bbox!r} is not (xmin, ymin, xmax, ymax)")
        if bbox_crs is None:
            return xmin, ymin, xmax, ymax
        source = CRS.from_user_input(bbox_crs)
        if source == self.crs:
            return xmin, ymin, xmax, ymax
        transformer = Transformer.from_crs(source, self.crs, always_xy=True)
        left, bottom, right, top = transformer.transform_bounds(
            xmin, ymin, xmax, ymax, densify_pts=21
        )
        return float(left), float(bottom), float(right), float(top)

    def _equality(self, column: str, ctype: str, value: object) -> tuple[str, list[Any]]:
        if value is None:
            return f'"{column}" IS NULL', []
        if isinstance(value, list | tuple | set | frozenset | np.ndarray | pd.Series):
            values = self._values_to_db(ctype, self._typed_series(ctype, list(value)))
            return self._in_condition(column, values)
        db_value = self._values_to_db(ctype, self._typed_series(ctype, [value]))[0]
        return f'"{column}" = ?', [db_value]

    @staticmethod
    def _typed_series(ctype: str, values: list[Any]) -> pd.Series:
        if ctype == "boolean":
            return pd.Series(values, dtype="boolean")
        if ctype == "integer":
            return pd.Series(values, dtype="Int64")
        if ctype == "real":
            return pd.Series(values, dtype=float)
        if ctype == "date":
            parsed = pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601")
            return parsed.dt.date.astype(object).where(parsed.notna(), None)
        return pd.Series(values, dtype=object)

    def _select_frame(
        self,
        spec: LayerSchema,
        selected: Sequence[str],
        conditions: Sequence[tuple[str, list[Any]]],
        *,
        limit: int | None = None,
        offset: int = 0,
        joiner: str = " AND ",
        with_geometry: bool = True,
    ) -> gpd.GeoDataFrame:
        types = column_sql_types(spec)
        fields = ["fid", self._geom_select() if with_geometry else "NULL"]
        fields += [f'"{c}"' for c in selected]
        sql = f"SELECT {', '.join(fields)} FROM {self._t(spec.name)}"
        params: list[Any] = []
        if conditions:
            sql += " WHERE " + joiner.join(f"({c})" for c, _ in conditions)
            for _, p in conditions:
                params.extend(p)
        sql += " ORDER BY fid"
        if limit is not None or offset:
            if (limit is not None and limit < 0) or offset < 0:
                raise InputError("limit and offset must not be negative")
            clause, extra = self._limit_clause(limit, offset)
            sql += clause
            params.extend(extra)
        rows = self._fetch(sql, params)
        return self._frame_from_rows(spec, ["fid", "_wkb", *selected], rows, types)

    def _frame_from_rows(
        self, spec: LayerSchema, names: list[str], rows: list[tuple[Any, ...]],
        types: Mapping[str, str],
    ) -> gpd.GeoDataFrame:
        raw = pd.DataFrame.from_records(rows, columns=names, nrows=len(rows)) if rows \
            else pd.DataFrame({n: pd.Series(dtype=object) for n in names})
        out = pd.DataFrame(index=pd.RangeIndex(len(raw)))
        out["fid"] = raw["fid"].astype(np.int64)
        for name in names[2:]:
            out[name] = self._typed_column(types[name], raw[name])
        wkb = raw["_wkb"].to_numpy(dtype=object)
        geoms = shapely.from_wkb(wkb) if len(wkb) else np.empty(0, dtype=object)
        geoms = demote(geoms, storage_geometry_type(spec))
        return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geoms, crs=self.crs), crs=self.crs)

    @staticmethod
    def _typed_column(ctype: str, values: pd.Series) -> pd.Series:
        """A column read from the store with the dtype validation normalises it to."""
        if ctype == "integer":
            return values.astype("Int64")
        if ctype == "real":
            return values.astype(float)
        if ctype == "boolean":
            return values.astype("boolean")
        if ctype == "date":
            parsed = pd.to_datetime(values, format="ISO8601") if values.dtype == object \
                else pd.to_datetime(values)
            return parsed.dt.date.astype(object).where(parsed.notna(), None)
        return values.astype(object).where(values.notna(), None)

    # ------------------------------------------------------------------ imports
    def import_layer(
        self,
        layer: str,
        frame: gpd.GeoDataFrame,
        *,
        user: str,
        mode: Literal["append", "replace"] = "append",
        valid_only: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> ImportReport:
        """Validate ``frame`` as a whole and write it to ``layer`` in one transaction.

        Parameters
        ----------
        frame
            Features in any CRS (reprojected to the workspace CRS).
        user
            Who imports, recorded in the parcels' history and ``updated_by``.
        mode
            ``"append"`` checks keys and overlaps against the features already there;
            ``"replace"`` first clears the layer (deletions of parcels are recorded).
        valid_only
            Write the rows without errors and report the others as skipped, instead of
            refusing the whole frame.
        progress
            Called as ``progress(rows_written, rows_total)`` while writing.

        Raises
        ------
        ValidationError
            With every problem, when any row has an error and ``valid_only`` is false;
            nothing is written then.
        """
        spec = self._check_layer(layer)
        if mode not in ("append", "replace"):
            raise InputError(f"import mode must be 'append' or 'replace', not {mode!r}")
        if not isinstance(frame, gpd.GeoDataFrame):
            raise InputError(f"{layer}: import needs a GeoDataFrame, not {type(frame).__name__}")
        frame = _dates_as_datetime64(frame, spec)
        with self.transaction():
            self._lock_layer(layer)
            municipality = None if layer == "municipality" else self._municipality_geometry()
            existing = self._existing_for_import(spec, frame) if mode == "append" else None
            report = validate_layer(
                frame, layer, crs=self.crs, municipality=municipality, existing=existing,
                code_lists=self.code_lists(),
            )
            problems = list(report.problems)
            good = report.frame if report.ok else report.valid_frame()
            if layer == "municipality":
                before = 0 if mode == "replace" else self.count(layer)
                if before + len(good) != 1:
                    problems.insert(0, Problem(
                        code="municipality_rows",
                        message=f"the municipality layer holds exactly one boundary; this "
                                f"import would leave {before + len(good)}",
                        layer=layer,
                    ))
                    raise ValidationError(problems)
            if not report.ok and not valid_only:
                raise ValidationError(problems)
            if mode == "replace":
                self._clear_layer(spec, user=user)
            self._write_new_features(spec, good, user=user, progress=progress)
        return ImportReport(
            layer=layer, imported=len(good), skipped=len(report.frame) - len(good),
            problems=problems,
        )

    def _existing_for_import(self, spec: LayerSchema, frame: gpd.GeoDataFrame
                             ) -> gpd.GeoDataFrame | None:
        """Features a new frame must not duplicate or overlap: every stored key, and the
        geometries within the frame's extent (read through the spatial index)."""
        if len(frame) == 0 or frame.crs is None:
            return None
        keys = [spec.key] if spec.key else []
        geoms = frame.geometry.to_numpy()
        present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        near = None
        if present.any():
            bounds = shapely.total_bounds(geoms[present])
            if np.isfinite(bounds).all():
                box = self._bbox_in_crs(tuple(bounds), frame.crs)
                near = self._select_frame(spec, keys, [self._bbox_condition(spec.name, box)])
        if not keys:
            return near
        everyone = self._select_frame(spec, keys, [], with_geometry=False)
        if near is None:
            return everyone
        rest = everyone[~everyone["fid"].isin(near["fid"])]
        return gpd.GeoDataFrame(
            pd.concat([near, rest], ignore_index=True), geometry="geometry", crs=self.crs
        )

    def _municipality_geometry(self) -> BaseGeometry | None:
        if "municipality" not in self._tables():
            return None
        frame = self._select_frame(layer_schema("municipality"), [], [])
        if len(frame) == 0:
            return None
        return shapely.union_all(frame.geometry.to_numpy())

    def _write_new_features(
        self, spec: LayerSchema, frame: gpd.GeoDataFrame, *, user: str,
        progress: Callable[[int, int], None] | None,
    ) -> np.ndarray:
        """Insert validated rows as new features; parcels get version 1 and history."""
        n = len(frame)
        if progress is not None:
            progress(0, n)
        if n == 0:
            return np.empty(0, dtype=np.int64)
        fids = self._allocate_fids(spec.name, n)
        data = pd.DataFrame({"fid": fids})
        for name in spec.columns:
            data[name] = frame[name].array
        now = utc_now()
        if spec.versioned:
            data["area_ha"] = frame["area_ha"].to_numpy(dtype=float)
            data["row_version"] = np.ones(n, dtype=np.int64)
            data["updated_at"] = iso_utc(now)
            data["updated_by"] = user
        stored = self._storage_geoms(spec, frame.geometry.to_numpy())
        self._bulk_insert_features(spec.name, data, stored, progress)
        if spec.versioned:
            self._record_history_bulk(
                spec, data, demote(stored, storage_geometry_type(spec)),
                action="import", versions=data["row_version"].to_numpy(), user=user, at=now,
            )
        self._after_layer_write(spec.name)
        return fids

    def _storage_geoms(self, spec: LayerSchema, geoms: np.ndarray) -> np.ndarray:
        geoms = np.asarray(geoms, dtype=object)
        geoms = shapely.force_2d(geoms) if shapely.has_z(geoms).any() else geoms
        return promote(geoms, storage_geometry_type(spec))

    def _clear_layer(self, spec: LayerSchema, *, user: str) -> None:
        """Delete every feature of a layer; parcels' deletions go to the history."""
        if spec.versioned:
            current = self._select_frame(spec, list(column_sql_types(spec)), [])
            if len(current):
                self._record_history_bulk(
                    spec, current.drop(columns="geometry"), current.geometry.to_numpy(),
                    action="delete", versions=current["row_version"].to_numpy() + 1,
                    user=user, at=utc_now(),
                )
        self._execute(f"DELETE FROM {self._t(spec.name)}")
        self._after_layer_write(spec.name)

    # ------------------------------------------------------------------ history
    def _snapshot_json(self, data: pd.DataFrame, geoms: np.ndarray) -> list[str]:
        """One JSON object per row (attributes, computed columns, WKB hex geometry)."""
        out = data.copy()
        for name in out.columns:
            if out[name].dtype == object and pd.api.types.infer_dtype(
                out[name], skipna=True
            ) == "date":
                parsed = pd.to_datetime(out[name])
                out[name] = parsed.dt.strftime("%Y-%m-%d").where(parsed.notna(), None)
        out["geometry"] = shapely.to_wkb(geoms, hex=True, flavor="iso")
        text = out.to_json(orient="records", lines=True, force_ascii=False, double_precision=15)
        return text.rstrip("\n").split("\n")

    def _record_history_bulk(
        self, spec: LayerSchema, data: pd.DataFrame, geoms: np.ndarray, *, action: str,
        versions: np.ndarray, user: str, at: datetime,
    ) -> None:
        key = spec.key or "fid"
        rows = pd.DataFrame({
            "fid": data["fid"].to_numpy(dtype=np.int64),
            "cadastral_no": data[key].astype(object).to_numpy(),
            "version": np.asarray(versions, dtype=np.int64),
            "action": action,
            "user_name": user,
            "at": iso_utc(at),
            "changes": "{}",
            "snapshot": self._snapshot_json(data, geoms),
        })
        self._bulk_insert_rows(HISTORY_TABLE, rows, _HISTORY_TYPES)

    def _record_history(
        self, *, fid: int, key: str | None, version: int, action: str, user: str, at: datetime,
        changes: Mapping[str, tuple[Any, Any]], snapshot: Mapping[str, Any],
    ) -> None:
        self._execute(
            f"INSERT INTO {self._t(HISTORY_TABLE)} (fid, cadastral_no, version, action, "
            f"user_name, at, changes, snapshot) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                fid, key, version, action, user, self._timestamp_to_db(at),
                json.dumps({k: list(v) for k, v in changes.items()}, default=_json_default,
                           ensure_ascii=False),
                json.dumps(dict(snapshot), default=_json_default, ensure_ascii=False),
            ],
        )

    def _timestamp_to_db(self, moment: datetime) -> Any:
        """A timestamp as a driver parameter (ISO text; PostGIS casts it)."""
        return iso_utc(moment)

    def history(
        self, fid: int | None = None, *, limit: int = 100, offset: int = 0,
        include_personal: bool = True,
    ) -> list[HistoryEntry]:
        """Recorded writes of one parcel (or of all), newest first.

        ``include_personal=False`` strips personal columns from changes and snapshots.
        """
        sql = (f"SELECT fid, cadastral_no, version, action, user_name, at, changes, snapshot "
               f"FROM {self._t(HISTORY_TABLE)}")
        params: list[Any] = []
        if fid is not None:
            sql += " WHERE fid = ?"
            params.append(int(fid))
        clause, extra = self._limit_clause(int(limit), int(offset))
        rows = self._fetch(sql + " ORDER BY id DESC" + clause, params + extra)
        personal = () if include_personal else layer_schema(PARCELS).personal_columns
        return [self._history_entry(row, personal) for row in rows]

    @staticmethod
    def _history_entry(row: tuple[Any, ...], personal: Sequence[str]) -> HistoryEntry:
        fid, key, version, action, user, at, changes, snapshot = row
        change_map = {k: (v[0], v[1]) for k, v in json.loads(changes).items()
                      if k not in personal}
        snap = {k: v for k, v in json.loads(snapshot).items() if k not in personal}
        return HistoryEntry(
            fid=int(fid), cadastral_no=key, version=int(version), action=action,
            user=str(user), at=parse_utc(at), changes=change_map, snapshot=snap,
        )

    def parcel_version(self, fid: int, version: int) -> dict[str, Any]:
        """The parcel as it was at ``version`` (from its history snapshot)."""
        rows = self._fetch(
            f"SELECT action, snapshot FROM {self._t(HISTORY_TABLE)} "
            f"WHERE fid = ? AND version = ? ORDER BY id DESC",
            [int(fid), int(version)],
        )
        if not rows:
            raise NotFoundError(f"parcel {fid} has no version {version}")
        action, snapshot = rows[0]
        if action == "delete":
            raise NotFoundError(
                f"version {version} of parcel {fid} is its deletion; version {version - 1} "
                f"holds its last state"
            )
        return self._record_from_snapshot(json.loads(snapshot))

    def _record_from_snapshot(self, snapshot: Mapping[str, Any]) -> dict[str, Any]:
        spec = layer_schema(PARCELS)
        types = column_sql_types(spec)
        record: dict[str, Any] = {"fid": int(snapshot["fid"])}
        for name, ctype in types.items():
            value = snapshot.get(name)
            if value is not None and ctype == "date":
                value = date.fromisoformat(str(value)[:10])
            record[name] = value
        record["geometry"] = shapely.from_wkb(snapshot["geometry"])
        return record

    # ------------------------------------------------------------------ parcels
    def _parcel_record(self, fid: int, *, lock: bool = False,
                       include_personal: bool = True) -> dict[str, Any] | None:
        spec = layer_schema(PARCELS)
        types = column_sql_types(spec)
        selected = [c for c in types
                    if include_personal or c not in spec.personal_columns]
        fields = ", ".join(["fid", self._geom_select(), *[f'"{c}"' for c in selected]])
        rows = self._fetch(
            f"SELECT {fields} FROM {self._t(PARCELS)} WHERE fid = ?"
            + (self._for_update() if lock else ""),
            [int(fid)],
        )
        if not rows:
            return None
        frame = self._frame_from_rows(spec, ["fid", "_wkb", *selected], rows, types)
        return self._record_of(frame, 0)

    @staticmethod
    def _record_of(frame: gpd.GeoDataFrame, position: int) -> dict[str, Any]:
        row = frame.iloc[position]
        record = {name: _py(row[name]) for name in frame.columns if name != "geometry"}
        record["geometry"] = frame.geometry.iloc[position]
        return record

    def get_parcel(self, fid: int, *, include_personal: bool = True) -> dict[str, Any]:
        """A parcel's attributes, ``fid``, computed columns and shapely ``geometry``."""
        self._check_layer(PARCELS)
        record = self._parcel_record(fid, include_personal=include_personal)
        if record is None:
            raise NotFoundError(f"parcel {fid} does not exist")
        return record

    def find_parcel(self, cadastral_no: str, *, include_personal: bool = True) -> dict[str, Any]:
        """The parcel with cadastral number ``cadastral_no``."""
        self._check_layer(PARCELS)
        rows = self._fetch(
            f'SELECT fid FROM {self._t(PARCELS)} WHERE "cadastral_no" = ?', [str(cadastral_no)]
        )
        if not rows:
            raise NotFoundError(f"no parcel with cadastral number {cadastral_no!r}")
        return self.get_parcel(int(rows[0][0]), include_personal=include_personal)

    def _record_frame(self, spec: LayerSchema, record: Mapping[str, Any], crs: Any
                      ) -> gpd.GeoDataFrame:
        allowed = set(spec.columns) | {"geometry"}
        unknown = sorted(set(record) - allowed)
        if unknown:
            raise InputError(
                f"{spec.name}: cannot set {', '.join(map(repr, unknown))}; editable columns "
                f"are {', '.join(spec.columns)} and geometry"
            )
        geometry = record.get("geometry")
        if isinstance(geometry, str):
            try:
                geometry = shapely.from_wkt(geometry)
            except shapely.errors.GEOSException as exc:
                raise InputError(f"{spec.name}: geometry is not valid WKT: {exc}") from exc
        elif geometry is not None and not isinstance(geometry, BaseGeometry):
            raise InputError(
                f"{spec.name}: geometry must be a shapely geometry or WKT, "
                f"not {type(geometry).__name__}"
            )
        data = {name: [record[name]] for name in spec.columns if name in record}
        frame = gpd.GeoDataFrame(
            pd.DataFrame(data, index=[0], dtype=object),
            geometry=gpd.GeoSeries([geometry], crs=crs if crs is not None else self.crs),
        )
        return _dates_as_datetime64(frame, spec)

    def _validate_one(self, spec: LayerSchema, frame: gpd.GeoDataFrame,
                      *, exclude_fid: int | None) -> ValidationReport:
        """Validate one parcel against the municipality and the parcels near it."""
        geom = frame.geometry.iloc[0]
        conditions: list[tuple[str, list[Any]]] = []
        if geom is not None and not geom.is_empty:
            in_crs = frame.to_crs(self.crs).geometry.iloc[0]
            conditions.append(self._bbox_condition(spec.name, tuple(in_crs.bounds)))
        key_value = frame[spec.key].iloc[0] if spec.key and spec.key in frame else None
        if spec.key and _py(key_value) is not None:
            conditions.append((f'"{spec.key}" = ?', [str(key_value).strip()]))
        existing = None
        if conditions:
            existing = self._select_frame(
                spec, [spec.key] if spec.key else [], conditions, joiner=" OR "
            )
            if exclude_fid is not None:
                existing = existing[existing["fid"] != exclude_fid]
        report = validate_layer(
            frame, spec.name, crs=self.crs, municipality=self._municipality_geometry(),
            existing=existing, code_lists=self.code_lists(),
        )
        report.raise_if_invalid()
        return report

    def _store_values(self, spec: LayerSchema, normalised: gpd.GeoDataFrame, *, version: int,
                      user: str, at: datetime) -> tuple[dict[str, Any], BaseGeometry]:
        """The stored column values of a normalised one-row frame, as Python values."""
        values = {name: _py(normalised[name].iloc[0]) for name in spec.columns}
        values["area_ha"] = _py(normalised["area_ha"].iloc[0])
        values["row_version"] = version
        values["updated_at"] = iso_utc(at)
        values["updated_by"] = user
        stored = self._storage_geoms(spec, normalised.geometry.to_numpy())[0]
        return values, stored

    def _db_params(self, spec: LayerSchema, values: Mapping[str, Any]) -> list[Any]:
        types = column_sql_types(spec)
        return [self._values_to_db(types[name], self._typed_series(types[name], [value]))[0]
                for name, value in values.items()]

    def _insert_parcel_row(self, spec: LayerSchema, fid: int, values: Mapping[str, Any],
                           stored: BaseGeometry) -> None:
        names = ", ".join(["fid", GEOM, *[f'"{c}"' for c in values]])
        marks = ", ".join(["?", self._geom_param(), *["?"] * len(values)])
        self._execute(
            f"INSERT INTO {self._t(spec.name)} ({names}) VALUES ({marks})",
            [int(fid), self._geoms_to_db(np.array([stored], dtype=object))[0],
             *self._db_params(spec, values)],
        )

    def _update_parcel_row(self, spec: LayerSchema, fid: int, values: Mapping[str, Any],
                           stored: BaseGeometry, expected_version: int) -> None:
        sets = ", ".join([f"{GEOM} = {self._geom_param()}", *[f'"{c}" = ?' for c in values]])
        changed = self._execute(
            f"UPDATE {self._t(spec.name)} SET {sets} WHERE fid = ? AND row_version = ?",
            [self._geoms_to_db(np.array([stored], dtype=object))[0],
             *self._db_params(spec, values), int(fid), int(expected_version)],
        )
        if changed != 1:
            current = self._parcel_record(fid)
            actual = None if current is None else current["row_version"]
            raise ConflictError(
                f"parcel {fid} changed meanwhile: expected version {expected_version}, "
                f"found {actual}",
                expected=expected_version, actual=actual,
            )

    @staticmethod
    def _changes(old: Mapping[str, Any] | None,
                 new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
        """``{column: (old, new)}`` for attributes that differ; geometry as a marker."""
        skip = {"fid", "row_version", "updated_at", "updated_by", "geometry"}
        out: dict[str, tuple[Any, Any]] = {}
        for name, value in new.items():
            if name in skip:
                continue
            before = None if old is None else old.get(name)
            if before != value:
                out[name] = (before, value)
        old_geom = None if old is None else old.get("geometry")
        new_geom = new.get("geometry")
        if old is None:
            out["geometry"] = (None, "changed")
        elif not (old_geom is not None and new_geom is not None
                  and shapely.equals_exact(old_geom, new_geom, 0.0)):
            out["geometry"] = ("changed", "changed")
        return out

    @staticmethod
    def _snapshot(fid: int, values: Mapping[str, Any], geom: BaseGeometry) -> dict[str, Any]:
        return {"fid": fid, **values, "geometry": geom}

    def create_parcel(self, record: Mapping[str, object], *, user: str,
                      crs: Any = None) -> dict[str, Any]:
        """Add one parcel (attributes + ``geometry`` in the workspace CRS, or ``crs``).

        Validated against the municipality and the parcels near it (overlaps, unique
        cadastral number); version 1 is recorded in the history as ``create``.
        """
        spec = self._check_layer(PARCELS)
        frame = self._record_frame(spec, record, crs)
        with self.transaction():
            self._lock_layer(spec.name)
            report = self._validate_one(spec, frame, exclude_fid=None)
            now = utc_now()
            values, stored = self._store_values(spec, report.frame, version=1, user=user, at=now)
            fid = int(self._allocate_fids(spec.name, 1)[0])
            self._insert_parcel_row(spec, fid, values, stored)
            created = self._parcel_record(fid)
            assert created is not None
            self._record_history(
                fid=fid, key=values.get(spec.key or ""), version=1, action="create", user=user,
                at=now, changes=self._changes(None, created),
                snapshot=self._snapshot(fid, values, created["geometry"]),
            )
            self._after_layer_write(spec.name, tuple(stored.bounds))
        return created

    def _locked_current(self, fid: int, expected_version: int | None) -> dict[str, Any]:
        self._lock_layer(PARCELS)
        current = self._parcel_record(fid, lock=True)
        if current is None:
            raise NotFoundError(f"parcel {fid} does not exist")
        if expected_version is not None and current["row_version"] != expected_version:
            raise ConflictError(
                f"parcel {fid} was changed by {current['updated_by']} at "
                f"{current['updated_at']}: you edited version {expected_version}, the current "
                f"version is {current['row_version']}",
                expected=expected_version, actual=current["row_version"],
            )
        return current

    def update_parcel(self, fid: int, changes: Mapping[str, object], *, expected_version: int,
                      user: str, crs: Any = None) -> dict[str, Any]:
        """Change a parcel's attributes and/or geometry, if it is still at ``expected_version``.

        Raises
        ------
        ConflictError
            When another write bumped the version since it was read; nothing is written.
        """
        spec = self._check_layer(PARCELS)
        self._record_frame(spec, changes, crs)  # rejects unknown columns before locking
        with self.transaction():
            current = self._locked_current(fid, expected_version)
            merged: dict[str, Any] = {name: current[name] for name in spec.columns}
            merged["geometry"] = current["geometry"]
            merged.update(changes)
            geometry_crs = crs if "geometry" in changes else None
            frame = self._record_frame(spec, merged, geometry_crs)
            report = self._validate_one(spec, frame, exclude_fid=fid)
            now = utc_now()
            values, stored = self._store_values(
                spec, report.frame, version=expected_version + 1, user=user, at=now
            )
            self._update_parcel_row(spec, fid, values, stored, expected_version)
            updated = self._parcel_record(fid)
            assert updated is not None
            self._record_history(
                fid=fid, key=values.get(spec.key or ""), version=expected_version + 1,
                action="update", user=user, at=now, changes=self._changes(current, updated),
                snapshot=self._snapshot(fid, values, updated["geometry"]),
            )
            self._after_layer_write(spec.name, tuple(stored.bounds))
        return updated

    def delete_parcel(self, fid: int, *, expected_version: int, user: str) -> None:
        """Delete a parcel still at ``expected_version``; its last state stays in the history."""
        spec = self._check_layer(PARCELS)
        with self.transaction():
            current = self._locked_current(fid, expected_version)
            changed = self._execute(
                f"DELETE FROM {self._t(spec.name)} WHERE fid = ? AND row_version = ?",
                [int(fid), int(expected_version)],
            )
            if changed != 1:
                raise ConflictError(f"parcel {fid} changed meanwhile",
                                    expected=expected_version, actual=None)
            values = {k: v for k, v in current.items() if k not in ("fid", "geometry")}
            self._record_history(
                fid=fid, key=current.get(spec.key or ""), version=expected_version + 1,
                action="delete", user=user, at=utc_now(), changes={},
                snapshot=self._snapshot(fid, values, current["geometry"]),
            )
            self._after_layer_write(spec.name, ())

    def restore_parcel(self, fid: int, version: int, *, user: str,
                       expected_version: int | None = None) -> dict[str, Any]:
        """Write the parcel as it was at ``version`` as a new version; revives deletions.

        ``expected_version`` (optional) is the current version, or for a deleted parcel
        the version of its deletion; a mismatch raises :class:`ConflictError`.
        """
        spec = self._check_layer(PARCELS)
        with self.transaction():
            self._lock_layer(spec.name)
            old = self.parcel_version(fid, version)
            latest = self._fetch(
                f"SELECT max(version) FROM {self._t(HISTORY_TABLE)} WHERE fid = ?", [int(fid)]
            )[0][0]
            current = self._parcel_record(fid, lock=True)
            actual = int(latest) if current is None else int(current["row_version"])
            if expected_version is not None and actual != expected_version:
                raise ConflictError(
                    f"parcel {fid} is at version {actual}, not {expected_version}",
                    expected=expected_version, actual=actual,
                )
            record = {name: old[name] for name in spec.columns}
            record["geometry"] = old["geometry"]
            frame = self._record_frame(spec, record, None)
            report = self._validate_one(spec, frame, exclude_fid=fid)
            now = utc_now()
            new_version = max(actual, int(latest)) + 1
            values, stored = self._store_values(
                spec, report.frame, version=new_version, user=user, at=now
            )
            if current is None:
                self._insert_parcel_row(spec, fid, values, stored)
            else:
                self._update_parcel_row(spec, fid, values, stored, actual)
            restored = self._parcel_record(fid)
            assert restored is not None
            self._record_history(
                fid=fid, key=values.get(spec.key or ""), version=new_version, action="restore",
                user=user, at=now, changes=self._changes(current, restored),
                snapshot=self._snapshot(fid, values, restored["geometry"]),
            )
            self._after_layer_write(spec.name, tuple(stored.bounds))
        return restored

    # ------------------------------------------------------------------ plain tables
    def ensure_table(self, name: str, columns: Mapping[str, str]) -> None:
        """Create a non-spatial table (if missing) for features beyond the layers.

        ``columns`` maps names to ``text``, ``integer``, ``real``, ``boolean``, ``date``,
        ``timestamp`` or ``json``; an ``id`` integer primary key is added. Later
        features (transformation requests, hearings, users) keep their records here so
        they share the workspace's transactions.
        """
        _check_identifier(name)
        if name in schema_layers() or name.startswith(("gpkg_", "rtree_", "jer_", "sqlite")):
            raise InputError(f"table name {name!r} is reserved")
        for column, kind in columns.items():
            _check_identifier(column)
            if kind not in _PLAIN_TYPES:
                raise InputError(f"column {column!r}: unknown type {kind!r}; "
                                 f"use one of {', '.join(_PLAIN_TYPES)}")
            if column == "id":
                raise InputError("column 'id' is added automatically")
        with self.transaction():
            if name in self._tables():
                self._add_missing_columns(name, columns)
                return
            self._create_plain_table(name, columns)
            self._set_table_types(name, columns)

    @abstractmethod
    def _create_plain_table(self, name: str, columns: Mapping[str, str]) -> None: ...

    @abstractmethod
    def _add_column(self, table: str, column: str, kind: str) -> None: ...

    def _add_missing_columns(self, name: str, columns: Mapping[str, str]) -> None:
        known = self._table_types(name)
        for column, kind in columns.items():
            if column not in known:
                self._add_column(name, column, kind)
        self._set_table_types(name, {**known, **columns})

    def _set_table_types(self, name: str, columns: Mapping[str, str]) -> None:
        self._execute(f"DELETE FROM {self._t(LAYER_META_TABLE)} WHERE layer = ? AND key = ?",
                      [f"table:{name}", "columns"])
        self._execute(
            f"INSERT INTO {self._t(LAYER_META_TABLE)} (layer, key, value) VALUES (?, ?, ?)",
            [f"table:{name}", "columns", json.dumps(dict(columns))],
        )

    def _table_types(self, name: str) -> dict[str, str]:
        rows = self._fetch(
            f"SELECT value FROM {self._t(LAYER_META_TABLE)} WHERE layer = ? AND key = ?",
            [f"table:{name}", "columns"],
        )
        if not rows:
            raise NotFoundError(f"table {name!r} does not exist; create it with ensure_table")
        return dict(json.loads(rows[0][0]))

    def insert_row(self, table: str, values: Mapping[str, object]) -> int:
        """Insert one row into a plain table; returns its ``id``."""
        types = self._table_types(table)
        self._check_columns(table, types, values)
        names = list(values)
        with self.transaction():
            params = [self._plain_to_db(types[c], values[c]) for c in names]
            return self._insert_returning_id(table, names, params)

    @abstractmethod
    def _insert_returning_id(self, table: str, names: list[str], params: list[Any]) -> int: ...

    def select_rows(self, table: str, *, where: Mapping[str, object] | None = None,
                    order_by: str = "id", descending: bool = False, limit: int | None = None,
                    offset: int = 0) -> list[dict[str, Any]]:
        """Rows of a plain table as dicts, filtered by equality on columns."""
        types = self._table_types(table)
        if order_by != "id" and order_by not in types:
            raise InputError(f"{table}: cannot order by unknown column {order_by!r}")
        cond, params = self._plain_where(table, types, where)
        names = ["id", *types]
        sql = (f"SELECT {', '.join(f'{chr(34)}{c}{chr(34)}' for c in names)} FROM {self._t(table)}"
               f"{cond} ORDER BY \"{order_by}\"{' DESC' if descending else ''}, id")
        if limit is not None or offset:
            clause, extra = self._limit_clause(limit, offset)
            sql += clause
            params += extra
        rows = self._fetch(sql, params)
        all_types = {"id": "integer", **types}
        return [{c: self._plain_from_db(all_types[c], v) for c, v in zip(names, row, strict=True)}
                for row in rows]

    def update_rows(self, table: str, values: Mapping[str, object], *,
                    where: Mapping[str, object]) -> int:
        """Set ``values`` on the rows matching ``where``; returns how many changed."""
        types = self._table_types(table)
        self._check_columns(table, types, values)
        if not values:
            return 0
        cond, params = self._plain_where(table, types, where)
        sets = ", ".join(f'"{c}" = ?' for c in values)
        with self.transaction():
            return self._execute(
                f"UPDATE {self._t(table)} SET {sets}{cond}",
                [self._plain_to_db(types[c], v) for c, v in values.items()] + params,
            )

    def delete_rows(self, table: str, *, where: Mapping[str, object]) -> int:
        """Delete the rows matching ``where``; returns how many."""
        types = self._table_types(table)
        cond, params = self._plain_where(table, types, where)
        with self.transaction():
            return self._execute(f"DELETE FROM {self._t(table)}{cond}", params)

    @staticmethod
    def _check_columns(table: str, types: Mapping[str, str], values: Mapping[str, object]) -> None:
        unknown = [c for c in values if c not in types]
        if unknown:
            raise InputError(f"{table}: unknown column(s) {', '.join(map(repr, unknown))}")

    def _plain_where(self, table: str, types: Mapping[str, str],
                     where: Mapping[str, object] | None) -> tuple[str, list[Any]]:
        all_types = {"id": "integer", **types}
        parts: list[str] = []
        params: list[Any] = []
        for column, value in (where or {}).items():
            if column not in all_types:
                raise InputError(f"{table}: cannot filter on unknown column {column!r}")
            if value is None:
                parts.append(f'"{column}" IS NULL')
            else:
                parts.append(f'"{column}" = ?')
                params.append(self._plain_to_db(all_types[column], value))
        return (" WHERE " + " AND ".join(parts) if parts else ""), params

    def _plain_to_db(self, kind: str, value: object) -> Any:
        if value is None:
            return None
        if kind == "json":
            return json.dumps(value, default=_json_default, ensure_ascii=False)
        if kind == "timestamp":
            if not isinstance(value, datetime):
                value = parse_utc(value)
            return self._timestamp_to_db(value)
        if kind == "date" and isinstance(value, date):
            return value.isoformat()
        if kind == "boolean":
            return self._values_to_db("boolean", pd.Series([bool(value)], dtype="boolean"))[0]
        return value

    @staticmethod
    def _plain_from_db(kind: str, value: Any) -> Any:
        if value is None:
            return None
        if kind == "json":
            return json.loads(value) if isinstance(value, str) else value
        if kind == "timestamp":
            return parse_utc(value)
        if kind == "date":
            return value if isinstance(value, date) else date.fromisoformat(str(value))
        if kind == "boolean":
            return bool(value)
        return value


_PLAIN_TYPES = ("text", "integer", "real", "boolean", "date", "timestamp", "json")
_HISTORY_TYPES = {
    "fid": "integer", "cadastral_no": "text", "version": "integer", "action": "text",
    "user_name": "text", "at": "timestamp", "changes": "text", "snapshot": "text",
}


def _check_identifier(name: str) -> None:
    if not _IDENTIFIER.match(name):
        raise InputError(
            f"{name!r} is not a valid table or column name (lower-case letters, digits, _)"
        )


def check_crs(crs: CRS) -> int:
    """EPSG code of a workspace CRS; workspaces record their CRS by EPSG code."""
    if not crs.is_projected:
        raise CRSError(f"workspace CRS {crs.name} is not projected; areas need metres")
    code = crs.to_epsg()
    if code is None:
        raise CRSError(f"workspace CRS {crs.name} has no EPSG code; choose an EPSG projected CRS")
    return int(code)
