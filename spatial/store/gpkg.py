"""The embedded workspace: one GeoPackage file that QGIS and GDAL open as it is.

Written with Python's ``sqlite3`` and a vectorised encoder of GeoPackage geometry blobs
(header + envelope + ISO WKB) instead of through GDAL, because an import must be one
SQLite transaction together with its validation reads and history rows: a process
killed mid-import then leaves the file exactly as before (SQLite's rollback journal).
The file follows GeoPackage 1.4: ``gpkg_spatial_ref_sys``, ``gpkg_contents``,
``gpkg_geometry_columns``, an R-tree index per layer with GDAL's triggers, registered in
``gpkg_extensions``. Journal mode DELETE keeps the workspace a single file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import struct
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ..errors import ConflictError, InputError, NotFoundError, StoreError
from ..schema import layer_schema
from .base import (
    BATCH_ROWS,
    FORMAT_VERSION,
    GEOM,
    HISTORY_TABLE,
    LAYER_META_TABLE,
    META_TABLE,
    Workspace,
    column_sql_types,
    schema_layers,
    storage_geometry_type,
)

__all__ = ["GeoPackageWorkspace", "decode_gpkg_geometry", "encode_gpkg_geometries"]

#: ``PRAGMA application_id`` of a GeoPackage: ASCII "GPKG".
APPLICATION_ID = 0x47504B47
#: ``PRAGMA user_version`` of GeoPackage 1.4.0.
USER_VERSION = 10400
BUSY_TIMEOUT_S = 30.0

_SQL_TYPES = {
    "text": "TEXT", "integer": "INTEGER", "real": "REAL", "boolean": "BOOLEAN", "date": "DATE",
    "timestamp": "DATETIME", "json": "TEXT",
}
#: Envelope contents indicator -> bytes of envelope after the 8-byte header.
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
#: WKB of the geometry column without the GeoPackage header; the header length depends on
#: the envelope indicator in bits 1-3 of the flags byte (the low hex digit of byte 4).
_GEOM_SELECT = (
    f"substr({GEOM}, 9 + CASE ((instr('0123456789ABCDEF', substr(hex(substr({GEOM}, 4, 1)), 2, 1))"
    f" - 1) >> 1) WHEN 1 THEN 32 WHEN 2 THEN 48 WHEN 3 THEN 48 WHEN 4 THEN 64 ELSE 0 END)"
)

_CORE_DDL = [
    "CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL "
    "PRIMARY KEY, organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, "
    "definition TEXT NOT NULL, description TEXT)",
    "CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT "
    "NULL, identifier TEXT UNIQUE, description TEXT DEFAULT '', last_change DATETIME NOT NULL "
    "DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x DOUBLE, min_y DOUBLE, max_x DOUBLE,"
    " max_y DOUBLE, srs_id INTEGER, CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES "
    "gpkg_spatial_ref_sys(srs_id))",
    "CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL, "
    "geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT "
    "NOT NULL, CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name), CONSTRAINT "
    "uk_gc_table_name UNIQUE (table_name), CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) "
    "REFERENCES gpkg_contents(table_name), CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) "
    "REFERENCES gpkg_spatial_ref_sys (srs_id))",
    "CREATE TABLE gpkg_extensions (table_name TEXT, column_name TEXT, extension_name TEXT NOT "
    "NULL, definition TEXT NOT NULL, scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE "
    "(table_name, column_name, extension_name))",
]


def encode_gpkg_geometries(geoms: np.ndarray, srs_id: int) -> list[bytes | None]:
    """GeoPackage binary blobs (little-endian header with an XY envelope + ISO WKB).

    Vectorised: the 40-byte headers are one structured array filled from
    ``shapely.bounds``, joined to the WKB with one element-wise ``add`` over objects.
    Empty geometries get the empty flag and a NaN envelope, as the standard asks.
    """
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    missing = shapely.is_missing(geoms)
    header = np.zeros(n, dtype=[("magic", "S2"), ("version", "u1"), ("flags", "u1"),
                                ("srs_id", "<i4"), ("envelope", "<f8", (4,))])
    header["magic"] = b"GP"
    empty = shapely.is_empty(geoms) & ~missing
    header["flags"] = np.where(empty, 0b10011, 0b00011)  # XY envelope, little endian
    header["srs_id"] = srs_id
    bounds = shapely.bounds(geoms)
    header["envelope"] = bounds[:, [0, 2, 1, 3]]
    heads = np.array(header.view("V40").tolist(), dtype=object)
    out = np.full(n, None, dtype=object)
    present = ~missing
    if present.any():
        wkb = shapely.to_wkb(geoms[present], flavor="iso", byte_order=1, output_dimension=2)
        out[present] = heads[present] + wkb
    return out.tolist()


def _wkb_of(blob: bytes) -> bytes:
    if len(blob) < 8 or blob[:2] != b"GP":
        raise StoreError("not a GeoPackage geometry blob")
    indicator = (blob[3] >> 1) & 0b111
    return bytes(blob[8 + _ENVELOPE_BYTES.get(indicator, 0):])


def decode_gpkg_geometry(blob: bytes | None) -> shapely.Geometry | None:
    """One GeoPackage blob as a shapely geometry (for tools reading a single value)."""
    if blob is None:
        return None
    return shapely.from_wkb(_wkb_of(blob))


def _envelope(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """(minx, maxx, miny, maxy) of a blob, from its header envelope when it has one."""
    if blob is None or len(blob) < 8:
        return None
    flags = blob[3]
    if flags & 0b10000:
        return None
    indicator = (flags >> 1) & 0b111
    if indicator in (1, 2, 3, 4):
        order = "<" if flags & 1 else ">"
        minx, maxx, miny, maxy = struct.unpack_from(order + "4d", blob, 8)
        return minx, maxx, miny, maxy
    geom = shapely.from_wkb(_wkb_of(blob))
    if geom.is_empty:
        return None
    x0, y0, x1, y1 = geom.bounds
    return x0, x1, y0, y1


def _st_is_empty(blob: bytes | None) -> int | None:
    if blob is None:
        return None
    if len(blob) >= 8 and blob[3] & 0b10000:
        return 1
    return 0 if _envelope(blob) is not None else 1


def _envelope_part(i: int) -> Callable[[bytes | None], float | None]:
    def part(blob: bytes | None) -> float | None:
        env = _envelope(blob)
        return None if env is None else env[i]
    return part


def _rtree_triggers(t: str, c: str = GEOM, i: str = "fid") -> dict[str, str]:
    """The R-tree maintenance triggers GDAL writes (GeoPackage 1.4 rtree extension)."""
    r = f"rtree_{t}_{c}"
    insert_values = (f'VALUES (NEW."{i}",ST_MinX(NEW."{c}"), ST_MaxX(NEW."{c}"),'
                     f'ST_MinY(NEW."{c}"), ST_MaxY(NEW."{c}"))')
    return {
        f"{r}_insert": (
            f'CREATE TRIGGER "{r}_insert" AFTER INSERT ON "{t}" WHEN (new."{c}" NOT NULL AND '
            f'NOT ST_IsEmpty(NEW."{c}")) BEGIN INSERT OR REPLACE INTO "{r}" {insert_values}; END'
        ),
        f"{r}_update6": (
            f'CREATE TRIGGER "{r}_update6" AFTER UPDATE OF "{c}" ON "{t}" WHEN OLD."{i}" = '
            f'NEW."{i}" AND (NEW."{c}" NOTNULL AND NOT ST_IsEmpty(NEW."{c}")) AND (OLD."{c}" '
            f'NOTNULL AND NOT ST_IsEmpty(OLD."{c}")) BEGIN UPDATE "{r}" SET minx = '
            f'ST_MinX(NEW."{c}"), maxx = ST_MaxX(NEW."{c}"),miny = ST_MinY(NEW."{c}"), maxy = '
            f'ST_MaxY(NEW."{c}") WHERE id = NEW."{i}";END'
        ),
        f"{r}_update7": (
            f'CREATE TRIGGER "{r}_update7" AFTER UPDATE OF "{c}" ON "{t}" WHEN OLD."{i}" = '
            f'NEW."{i}" AND (NEW."{c}" NOTNULL AND NOT ST_IsEmpty(NEW."{c}")) AND (OLD."{c}" '
            f'ISNULL OR ST_IsEmpty(OLD."{c}")) BEGIN INSERT INTO "{r}" {insert_values}; END'
        ),
        f"{r}_update2": (
            f'CREATE TRIGGER "{r}_update2" AFTER UPDATE OF "{c}" ON "{t}" WHEN OLD."{i}" = '
            f'NEW."{i}" AND (NEW."{c}" ISNULL OR ST_IsEmpty(NEW."{c}")) BEGIN DELETE FROM '
            f'"{r}" WHERE id = OLD."{i}"; END'
        ),
        f"{r}_update5": (
            f'CREATE TRIGGER "{r}_update5" AFTER UPDATE ON "{t}" WHEN OLD."{i}" != NEW."{i}" AND '
            f'(NEW."{c}" NOTNULL AND NOT ST_IsEmpty(NEW."{c}")) BEGIN DELETE FROM "{r}" WHERE '
            f'id = OLD."{i}"; INSERT OR REPLACE INTO "{r}" {insert_values}; END'
        ),
        f"{r}_update4": (
            f'CREATE TRIGGER "{r}_update4" AFTER UPDATE ON "{t}" WHEN OLD."{i}" != NEW."{i}" AND '
            f'(NEW."{c}" ISNULL OR ST_IsEmpty(NEW."{c}")) BEGIN DELETE FROM "{r}" WHERE id IN '
            f'(OLD."{i}", NEW."{i}"); END'
        ),
        f"{r}_delete": (
            f'CREATE TRIGGER "{r}_delete" AFTER DELETE ON "{t}" WHEN old."{c}" NOT NULL BEGIN '
            f'DELETE FROM "{r}" WHERE id = OLD."{i}"; END'
        ),
    }


def _connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """Open the file with Jer's settings; ``sqlite3.DatabaseError`` if it is no database."""
    uri = f"file:{quote(str(path.resolve()))}?mode={'rwc' if create else 'rw'}"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open GeoPackage {path}: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA cache_size = -65536")
    except sqlite3.Error:
        conn.close()
        raise
    for name, func in (("ST_MinX", _envelope_part(0)), ("ST_MaxX", _envelope_part(1)),
                       ("ST_MinY", _envelope_part(2)), ("ST_MaxY", _envelope_part(3)),
                       ("ST_IsEmpty", _st_is_empty)):
        conn.create_function(name, 1, func, deterministic=True)
    return conn


class GeoPackageWorkspace(Workspace):
    """A workspace in one GeoPackage file (the embedded default)."""

    def __init__(self, path: str | os.PathLike[str], conn: sqlite3.Connection) -> None:
        super().__init__(str(path))
        self.path = Path(path)
        self._conn = conn
        meta = dict(conn.execute(f'SELECT key, value FROM "{META_TABLE}"').fetchall())
        self._epsg = int(meta["crs_epsg"])
        self.crs = CRS.from_epsg(self._epsg)

    # ------------------------------------------------------------------ open / create
    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> GeoPackageWorkspace:
        """Open an existing workspace file; :class:`NotFoundError` if it is not one."""
        path = Path(path)
        if not path.is_file():
            raise NotFoundError(f"workspace {path} does not exist")
        try:
            conn = _connect(path, create=False)
        except sqlite3.DatabaseError as exc:
            raise NotFoundError(f"{path} is not a Jer workspace: {exc}") from exc
        try:
            (app_id,) = conn.execute("PRAGMA application_id").fetchone()
            has_meta = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
                [META_TABLE],
            ).fetchone()[0]
            if app_id != APPLICATION_ID or not has_meta:
                raise NotFoundError(f"{path} is not a Jer workspace (no {META_TABLE} table)")
            fmt = conn.execute(
                f'SELECT value FROM "{META_TABLE}" WHERE key = ?', ["jer_format"]
            ).fetchone()
            if fmt is None:
                raise NotFoundError(f"{path} is not a Jer workspace (no format version)")
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() == "wal":
                conn.execute("PRAGMA journal_mode = DELETE")
            return cls(path, conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise NotFoundError(f"{path} is not a Jer workspace: {exc}") from exc
        except BaseException:
            conn.close()
            raise

    @classmethod
    def create(
        cls, path: str | os.PathLike[str], crs: CRS, *, overwrite: bool,
        init: Callable[[Workspace], None],
    ) -> GeoPackageWorkspace:
        """Create a workspace file with every schema layer, then run ``init`` on it.

        The file is built under a temporary name and moved into place only when
        complete, so a failed creation never leaves a half-made workspace (nor destroys
        the one being overwritten).
        """
        path = Path(path)
        if path.suffix.lower() != ".gpkg":
            raise InputError(f"a GeoPackage workspace needs a .gpkg file name, not {path.name!r}")
        if path.exists() and not overwrite:
            raise ConflictError(f"workspace {path} already exists (use overwrite to replace it)")
        if not path.parent.is_dir():
            raise InputError(f"folder {path.parent} does not exist")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        for leftover in (tmp, Path(f"{tmp}-journal")):
            leftover.unlink(missing_ok=True)
        conn = _connect(tmp, create=True)
        try:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {USER_VERSION}")
            conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("BEGIN IMMEDIATE")
            _create_structure(conn, crs)
            conn.execute("COMMIT")
            ws = cls(tmp, conn)
            init(ws)
            ws.close()
        except BaseException:
            conn.close()
            tmp.unlink(missing_ok=True)
            raise
        # A stale hot journal beside the old file would be "rolled back" into the new one.
        Path(f"{path}-journal").unlink(missing_ok=True)
        os.replace(tmp, path)
        return cls.open(path)

    # ------------------------------------------------------------------ backend hooks
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._lock:
            try:
                return self._conn.execute(sql, params).rowcount
            except sqlite3.Error as exc:
                raise _store_error(exc, self.path) from exc

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _store_error(exc, self.path) from exc

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise _store_error(exc, self.path) from exc

    def _begin_sql(self) -> str:
        # IMMEDIATE takes the write lock up front: the version check, validation reads
        # and the write then see one state, and two processes serialise instead of
        # failing at commit.
        return "BEGIN IMMEDIATE"

    def _close_connection(self) -> None:
        self._conn.close()

    def _t(self, table: str) -> str:
        return f'"{table}"'

    def _geom_select(self) -> str:
        return _GEOM_SELECT

    def _geom_param(self) -> str:
        return "?"

    def _geoms_to_db(self, geoms: np.ndarray) -> list[Any]:
        return encode_gpkg_geometries(geoms, self._epsg)

    def _bbox_condition(self, layer: str, bbox: tuple[float, float, float, float]
                        ) -> tuple[str, list[Any]]:
        xmin, ymin, xmax, ymax = bbox
        return (
            f'fid IN (SELECT id FROM "rtree_{layer}_{GEOM}" WHERE minx <= ? AND maxx >= ? '
            f"AND miny <= ? AND maxy >= ?)",
            [xmax, xmin, ymax, ymin],
        )

    def _in_condition(self, column: str, values: list[Any]) -> tuple[str, list[Any]]:
        return f'"{column}" IN (SELECT value FROM json_each(?))', [json.dumps(values)]

    def _envelopes_in_bbox(self, layer: str, bbox: tuple[float, float, float, float],
                           conditions: Sequence[tuple[str, list[Any]]]) -> np.ndarray:
        # The R-tree holds float32 envelopes rounded outward: read them instead of
        # decoding every candidate's geometry blob.
        xmin, ymin, xmax, ymax = bbox
        sql = (f'SELECT r.id, r.minx, r.maxx, r.miny, r.maxy FROM "rtree_{layer}_{GEOM}" r '
               f"WHERE r.minx <= ? AND r.maxx >= ? AND r.miny <= ? AND r.maxy >= ?")
        params: list[Any] = [xmax, xmin, ymax, ymin]
        if conditions:
            sql += (f' AND r.id IN (SELECT fid FROM "{layer}" WHERE '
                    + " AND ".join(f"({c})" for c, _ in conditions) + ")")
            for _, p in conditions:
                params.extend(p)
        rows = self._fetch(sql + " ORDER BY r.id", params)
        return np.array(rows, dtype=float).reshape(len(rows), 5)

    def _extent_sql(self, layer: str) -> str:
        return f'SELECT min(minx), min(miny), max(maxx), max(maxy) FROM "rtree_{layer}_{GEOM}"'

    def _values_to_db(self, ctype: str, values: pd.Series) -> list[Any]:
        if ctype == "boolean":
            flags = values.astype("boolean")
            return flags.astype("Int64").astype(object).where(flags.notna(), None).tolist()
        if ctype == "integer":
            ints = values.astype("Int64")
            return ints.astype(object).where(ints.notna(), None).tolist()
        if ctype == "real":
            reals = values.astype(float)
            return reals.astype(object).where(reals.notna(), None).tolist()
        if ctype == "date":
            parsed = pd.to_datetime(values)
            text = parsed.dt.strftime("%Y-%m-%d").astype(object)
            return text.where(parsed.notna(), None).tolist()
        return values.astype(object).where(values.notna(), None).tolist()

    def _limit_clause(self, limit: int | None, offset: int) -> tuple[str, list[Any]]:
        return " LIMIT ? OFFSET ?", [-1 if limit is None else int(limit), int(offset)]

    def _for_update(self) -> str:
        return ""  # BEGIN IMMEDIATE already holds the database's write lock

    def _allocate_fids(self, layer: str, n: int) -> np.ndarray:
        (base,) = self._fetch(
            f"SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?), 0), "
            f'coalesce((SELECT max(fid) FROM "{layer}"), 0))',
            [layer],
        )[0]
        return np.arange(int(base) + 1, int(base) + 1 + n, dtype=np.int64)

    def _bulk_insert_features(
        self, layer: str, data: pd.DataFrame, geoms: np.ndarray,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        """Insert rows in batches and fill the R-tree from ``shapely.bounds`` in bulk.

        The per-row insert trigger (which would decode every blob in Python) is dropped
        and recreated inside the same transaction, so a kill in between restores it.
        """
        spec = layer_schema(layer)
        types = {"fid": "integer", **column_sql_types(spec)}
        names = list(data.columns)
        columns = [self._values_to_db(types[c], data[c]) for c in names]
        blobs = self._geoms_to_db(geoms)
        rows = list(zip(columns[0], blobs, *columns[1:], strict=True))
        sql = (f'INSERT INTO "{layer}" ("fid", "{GEOM}", '
               f'{", ".join(f"{chr(34)}{c}{chr(34)}" for c in names[1:])}) '
               f'VALUES ({", ".join(["?"] * (len(names) + 1))})')
        trigger = f"rtree_{layer}_{GEOM}_insert"
        with self._lock:
            self._execute(f'DROP TRIGGER IF EXISTS "{trigger}"')
            total = len(rows)
            for start in range(0, total, BATCH_ROWS):
                self._executemany(sql, rows[start:start + BATCH_ROWS])
                if progress is not None:
                    progress(min(start + BATCH_ROWS, total), total)
            bounds = shapely.bounds(geoms)
            ok = np.isfinite(bounds).all(axis=1)
            fids = data["fid"].to_numpy(dtype=np.int64)[ok].tolist()
            b = bounds[ok]
            self._executemany(
                f'INSERT INTO "rtree_{layer}_{GEOM}" VALUES (?, ?, ?, ?, ?)',
                list(zip(fids, b[:, 0].tolist(), b[:, 2].tolist(), b[:, 1].tolist(),
                         b[:, 3].tolist(), strict=True)),
            )
            self._execute(_rtree_triggers(layer)[trigger])

    def _bulk_insert_rows(self, table: str, data: pd.DataFrame, types: Mapping[str, str]) -> None:
        names = list(data.columns)
        columns = [self._values_to_db(types.get(c, "text"), data[c]) for c in names]
        sql = (f'INSERT INTO "{table}" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in names)}) '
               f'VALUES ({", ".join(["?"] * len(names))})')
        with self._lock:
            self._executemany(sql, list(zip(*columns, strict=True)))

    def _after_layer_write(self, layer: str, bounds: tuple[float, ...] | None = None) -> None:
        stamp = "last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now')"
        if bounds == ():
            self._execute(f"UPDATE gpkg_contents SET {stamp} WHERE table_name = ?", [layer])
            return
        if bounds is None:
            extent = self._fetch(
                f'SELECT min(minx), min(miny), max(maxx), max(maxy) FROM "rtree_{layer}_{GEOM}"'
            )[0]
            self._execute(
                f"UPDATE gpkg_contents SET {stamp}, min_x = ?, min_y = ?, max_x = ?, max_y = ? "
                f"WHERE table_name = ?", [*extent, layer],
            )
            return
        self._execute(
            f"UPDATE gpkg_contents SET {stamp}, min_x = min(coalesce(min_x, ?), ?), "
            f"min_y = min(coalesce(min_y, ?), ?), max_x = max(coalesce(max_x, ?), ?), "
            f"max_y = max(coalesce(max_y, ?), ?) WHERE table_name = ?",
            [bounds[0], bounds[0], bounds[1], bounds[1], bounds[2], bounds[2], bounds[3],
             bounds[3], layer],
        )

    def _tables(self) -> set[str]:
        return {r[0] for r in self._fetch("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _write_layer_description(self, layer: str, description: str) -> None:
        self._execute("UPDATE gpkg_contents SET description = ? WHERE table_name = ?",
                      [description, layer])

    def _create_plain_table(self, name: str, columns: Mapping[str, str]) -> None:
        _create_attribute_table(self._conn, name, columns, description="")

    def _add_column(self, table: str, column: str, kind: str) -> None:
        self._execute(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {_SQL_TYPES[kind]}')

    def _insert_returning_id(self, table: str, names: list[str], params: list[Any]) -> int:
        cols = ", ".join(f'"{c}"' for c in names)
        sql = (f'INSERT INTO "{table}" ({cols}) VALUES ({", ".join(["?"] * len(names))})'
               if names else f'INSERT INTO "{table}" DEFAULT VALUES')
        with self._lock:
            try:
                cursor = self._conn.execute(sql, params)
            except sqlite3.Error as exc:
                raise _store_error(exc, self.path) from exc
            return int(cursor.lastrowid or 0)


def _store_error(exc: sqlite3.Error, path: Path) -> Exception:
    if isinstance(exc, sqlite3.IntegrityError):
        return ConflictError(f"{path}: {exc}")
    return StoreError(f"GeoPackage {path}: {exc}")


def _srs_row(crs: CRS, code: int) -> tuple[str, int, str, int, str, str]:
    return (crs.name, code, "EPSG", code, crs.to_wkt("WKT1_GDAL"), crs.name)


def _create_attribute_table(conn: sqlite3.Connection, name: str, columns: Mapping[str, str],
                            *, description: str) -> None:
    cols = ", ".join(f'"{c}" {_SQL_TYPES[k]}' for c, k in columns.items())
    conn.execute(f'CREATE TABLE "{name}" (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, {cols})')
    conn.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
        "VALUES (?, 'attributes', ?, ?)", [name, name, description],
    )


def _create_structure(conn: sqlite3.Connection, crs: CRS) -> None:
    """GeoPackage core tables, the Jer tables and every schema layer, empty."""
    code = int(crs.to_epsg() or 0)
    for ddl in _CORE_DDL:
        conn.execute(ddl)
    wgs84 = CRS.from_epsg(4326)
    conn.executemany(
        "INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)",
        [
            ("Undefined Cartesian SRS", -1, "NONE", -1, "undefined",
             "undefined Cartesian coordinate reference system"),
            ("Undefined geographic SRS", 0, "NONE", 0, "undefined",
             "undefined geographic coordinate reference system"),
            ("WGS 84 geodetic", 4326, "EPSG", 4326, wgs84.to_wkt("WKT1_GDAL"),
             "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid"),
        ] + ([_srs_row(crs, code)] if code != 4326 else []),
    )
    _create_attribute_table(conn, META_TABLE, {"key": "text", "value": "text"},
                            description="Jer workspace metadata (CRS, versions, provenance)")
    conn.execute(f'CREATE UNIQUE INDEX "{META_TABLE}_key" ON "{META_TABLE}" (key)')
    _create_attribute_table(conn, LAYER_META_TABLE,
                            {"layer": "text", "key": "text", "value": "text"},
                            description="Jer per-layer metadata (sources, illustrative flags)")
    conn.execute(f'CREATE UNIQUE INDEX "{LAYER_META_TABLE}_key" ON "{LAYER_META_TABLE}" '
                 f"(layer, key)")
    _create_attribute_table(
        conn, HISTORY_TABLE,
        {"fid": "integer", "cadastral_no": "text", "version": "integer", "action": "text",
         "user_name": "text", "at": "timestamp", "changes": "json", "snapshot": "json"},
        description="Edit history of parcels: who changed what and when, with snapshots",
    )
    conn.execute(f'CREATE INDEX "{HISTORY_TABLE}_fid" ON "{HISTORY_TABLE}" (fid, version)')
    conn.execute(
        f'INSERT INTO "{META_TABLE}" (key, value) VALUES (?, ?), (?, ?)',
        ["jer_format", FORMAT_VERSION, "crs_epsg", str(code)],
    )
    for layer in schema_layers():
        _create_layer(conn, layer, code)


def _create_layer(conn: sqlite3.Connection, layer: str, srs_id: int) -> None:
    spec = layer_schema(layer)
    gtype = storage_geometry_type(spec)
    cols = "".join(f', "{c}" {_SQL_TYPES[k]}' for c, k in column_sql_types(spec).items())
    conn.execute(
        f'CREATE TABLE "{layer}" ("fid" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, '
        f'"{GEOM}" {gtype}{cols})'
    )
    if spec.key:
        conn.execute(f'CREATE UNIQUE INDEX "{layer}_{spec.key}_key" ON "{layer}" ("{spec.key}")')
    conn.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
        "VALUES (?, 'features', ?, ?, ?)",
        [layer, layer, spec.title.get("en", layer), srs_id],
    )
    conn.execute("INSERT INTO gpkg_geometry_columns VALUES (?, ?, ?, ?, 0, 0)",
                 [layer, GEOM, gtype, srs_id])
    conn.execute(f'CREATE VIRTUAL TABLE "rtree_{layer}_{GEOM}" USING rtree(id, minx, maxx, miny, '
                 f"maxy)")
    for ddl in _rtree_triggers(layer).values():
        conn.execute(ddl)
    conn.execute(
        "INSERT INTO gpkg_extensions VALUES (?, ?, 'gpkg_rtree_index', "
        "'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')",
        [layer, GEOM],
    )
