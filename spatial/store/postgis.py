"""The shared workspace: one PostgreSQL schema with PostGIS geometry columns.

A district server keeps each municipality's workspace in its own schema
(``postgresql://user:pw@host:port/db?schema=isfana``, default schema ``jer``). Layers are
tables with geometry columns typed with the workspace SRID and GiST indexes; bulk
imports stream PostgreSQL's COPY text format built with vectorised pandas string
operations (geometry as hex EWKB), inside the same transaction as validation reads
and history rows. Row versions are checked with ``SELECT ... FOR UPDATE`` plus an
``UPDATE ... WHERE row_version = ?``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql as pgsql
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

__all__ = ["DEFAULT_SCHEMA", "PostGISWorkspace", "split_url"]

DEFAULT_SCHEMA = "jer"
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SQL_TYPES = {
    "text": "text", "integer": "bigint", "real": "double precision", "boolean": "boolean",
    "date": "date", "timestamp": "timestamptz", "json": "text",
}
_GEOMETRY_TYPES = {
    "MULTIPOLYGON": "MultiPolygon", "POLYGON": "Polygon", "MULTILINESTRING": "MultiLineString",
    "LINESTRING": "LineString", "MULTIPOINT": "MultiPoint", "POINT": "Point",
    "GEOMETRY": "Geometry",
}


def split_url(url: str) -> tuple[str, str]:
    """(connection URL without ``schema``, schema name) of a workspace URL."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = DEFAULT_SCHEMA
    kept = []
    for key, value in query:
        if key == "schema":
            schema = value
        else:
            kept.append((key, value))
    if not _SCHEMA_NAME.match(schema):
        raise InputError(f"schema name {schema!r} is not a plain SQL identifier")
    return urlunsplit(parts._replace(query=urlencode(kept))), schema


def _connect(conninfo: str, display: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to PostGIS workspace {display}: {exc}") from exc


def _copy_text(values: pd.Series, ctype: str) -> pd.Series:
    """One column in COPY text format: escaped text, ``\\N`` for nulls."""
    null = values.isna().to_numpy()
    if ctype == "boolean":
        text = pd.Series(np.where(values.fillna(False).astype(bool).to_numpy(), "t", "f"),
                         index=values.index, dtype=object)
    elif ctype == "integer":
        text = values.astype("Int64").astype(str)
    elif ctype == "real":
        text = values.astype(float).astype(str)
    elif ctype == "date":
        text = pd.to_datetime(values).dt.strftime("%Y-%m-%d")
    else:
        text = values.astype(object).where(~null, "").astype(str)
        if text.str.contains(r"[\\\t\n\r]", regex=True).any():
            text = (text.str.replace("\\", "\\\\", regex=False)
                    .str.replace("\t", "\\t", regex=False)
                    .str.replace("\n", "\\n", regex=False)
                    .str.replace("\r", "\\r", regex=False))
    text = text.astype(object)
    text[null] = "\\N"
    return text


class PostGISWorkspace(Workspace):
    """A workspace in one schema of a PostGIS database."""

    def __init__(self, url: str, conn: psycopg.Connection[Any], schema: str, epsg: int) -> None:
        super().__init__(url)
        self._conn = conn
        self.schema = schema
        self._epsg = epsg
        self.crs = CRS.from_epsg(epsg)

    # ------------------------------------------------------------------ open / create
    @classmethod
    def open(cls, url: str) -> PostGISWorkspace:
        """Open the workspace in the URL's schema; :class:`NotFoundError` if there is none."""
        conninfo, schema = split_url(url)
        conn = _connect(conninfo, _mask(url))
        try:
            row = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename = %s",
                [schema, META_TABLE],
            ).fetchone()
            if not row or not row[0]:
                raise NotFoundError(f"no Jer workspace in schema {schema!r} of {_mask(url)}")
            meta = dict(conn.execute(
                pgsql.SQL("SELECT key, value FROM {}.{}").format(
                    pgsql.Identifier(schema), pgsql.Identifier(META_TABLE)
                )
            ).fetchall())
            if "jer_format" not in meta or "crs_epsg" not in meta:
                raise NotFoundError(f"schema {schema!r} of {_mask(url)} is not a Jer workspace")
            return cls(url, conn, schema, int(meta["crs_epsg"]))
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(f"cannot open PostGIS workspace {_mask(url)}: {exc}") from exc
        except BaseException:
            conn.close()
            raise

    @classmethod
    def create(
        cls, url: str, crs: CRS, *, overwrite: bool, init: Callable[[Workspace], None]
    ) -> PostGISWorkspace:
        """Create the schema with every layer, then run ``init``; all in one transaction."""
        conninfo, schema = split_url(url)
        conn = _connect(conninfo, _mask(url))
        epsg = int(crs.to_epsg() or 0)
        ws = cls(url, conn, schema, epsg)
        try:
            with ws.transaction():
                exists = ws._fetch(
                    "SELECT count(*) FROM pg_namespace WHERE nspname = ?", [schema]
                )[0][0]
                if exists:
                    if not overwrite:
                        raise ConflictError(
                            f"schema {schema!r} already exists in {_mask(url)} (use overwrite "
                            f"to replace the workspace)"
                        )
                    ws._execute(f'DROP SCHEMA "{schema}" CASCADE')
                has_postgis = ws._fetch(
                    "SELECT count(*) FROM pg_extension WHERE extname = 'postgis'"
                )[0][0]
                if not has_postgis:
                    ws._execute("CREATE EXTENSION IF NOT EXISTS postgis")
                ws._execute(f'CREATE SCHEMA "{schema}"')
                ws._ensure_srid(crs, epsg)
                ws._create_structure()
                init(ws)
        except BaseException:
            conn.close()
            raise
        return ws

    def _ensure_srid(self, crs: CRS, epsg: int) -> None:
        known = self._fetch("SELECT count(*) FROM spatial_ref_sys WHERE srid = ?", [epsg])[0][0]
        if not known:
            self._execute(
                "INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, srtext, proj4text) "
                "VALUES (?, 'EPSG', ?, ?, ?)",
                [epsg, epsg, crs.to_wkt("WKT1_GDAL"), crs.to_proj4()],
            )

    def _create_structure(self) -> None:
        t = self._t
        self._execute(f"CREATE TABLE {t(META_TABLE)} (key text PRIMARY KEY, value text)")
        self._execute(f"CREATE TABLE {t(LAYER_META_TABLE)} (layer text NOT NULL, key text NOT "
                      f"NULL, value text, PRIMARY KEY (layer, key))")
        self._execute(
            f"CREATE TABLE {t(HISTORY_TABLE)} (id bigint GENERATED BY DEFAULT AS IDENTITY "
            f"PRIMARY KEY, fid bigint NOT NULL, cadastral_no text, version bigint NOT NULL, "
            f"action text NOT NULL, user_name text, at timestamptz NOT NULL, changes text, "
            f"snapshot text)"
        )
        self._execute(f'CREATE INDEX "{HISTORY_TABLE}_fid" ON {t(HISTORY_TABLE)} (fid, version)')
        self._execute(f"INSERT INTO {t(META_TABLE)} (key, value) VALUES (?, ?), (?, ?)",
                      ["jer_format", FORMAT_VERSION, "crs_epsg", str(self._epsg)])
        for layer in schema_layers():
            spec = layer_schema(layer)
            gtype = _GEOMETRY_TYPES[storage_geometry_type(spec)]
            cols = "".join(f', "{c}" {_SQL_TYPES[k]}' for c, k in column_sql_types(spec).items())
            self._execute(
                f"CREATE TABLE {t(layer)} (fid bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY "
                f"KEY, {GEOM} geometry({gtype}, {self._epsg}){cols})"
            )
            self._execute(f'CREATE INDEX "{layer}_{GEOM}_gist" ON {t(layer)} USING gist ({GEOM})')
            if spec.key:
                self._execute(
                    f'CREATE UNIQUE INDEX "{layer}_{spec.key}_key" ON {t(layer)} ("{spec.key}")'
                )
            self._write_layer_description(layer, spec.title.get("en", layer))

    # ------------------------------------------------------------------ backend hooks
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._lock:
            try:
                cursor = self._conn.execute(*self._query(sql, params))
            except psycopg.Error as exc:
                raise _store_error(exc, self) from exc
            return cursor.rowcount

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(*self._query(sql, params)).fetchall()
            except psycopg.Error as exc:
                raise _store_error(exc, self) from exc

    @staticmethod
    def _query(sql: str, params: Sequence[Any]) -> tuple[str, Sequence[Any] | None]:
        if not params:
            return sql, None
        return sql.replace("%", "%%").replace("?", "%s"), list(params)

    def _begin_sql(self) -> str:
        return "BEGIN"

    def _close_connection(self) -> None:
        self._conn.close()

    def _t(self, table: str) -> str:
        return f'"{self.schema}"."{table}"'

    def _geom_select(self) -> str:
        return f"ST_AsBinary({GEOM})"

    def _geom_param(self) -> str:
        return f"ST_GeomFromWKB(?, {self._epsg})"

    def _geoms_to_db(self, geoms: np.ndarray) -> list[Any]:
        return shapely.to_wkb(np.asarray(geoms, dtype=object), flavor="iso",
                              output_dimension=2).tolist()

    def _bbox_condition(self, layer: str, bbox: tuple[float, float, float, float]
                        ) -> tuple[str, list[Any]]:
        return f"{GEOM} && ST_MakeEnvelope(?, ?, ?, ?, {self._epsg})", [float(v) for v in bbox]

    def _in_condition(self, column: str, values: list[Any]) -> tuple[str, list[Any]]:
        return f'"{column}" = ANY(?)', [values]

    def _envelopes_in_bbox(self, layer: str, bbox: tuple[float, float, float, float],
                           conditions: Sequence[tuple[str, list[Any]]]) -> np.ndarray:
        # Envelopes as the GiST index stores them (float4 boxes rounded outward).
        condition, params = self._bbox_condition(layer, bbox)
        sql = (f"SELECT fid, ST_XMin(b), ST_XMax(b), ST_YMin(b), ST_YMax(b) FROM "
               f"(SELECT fid, {GEOM}::box2d AS b FROM {self._t(layer)} WHERE ({condition})")
        for extra, p in conditions:
            sql += f" AND ({extra})"
            params = [*params, *p]
        rows = self._fetch(sql + ") AS candidates ORDER BY fid", params)
        return np.array(rows, dtype=float).reshape(len(rows), 5)

    def _extent_sql(self, layer: str) -> str:
        return (f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                f"(SELECT ST_Extent({GEOM}) AS e FROM {self._t(layer)}) AS extent")

    def _values_to_db(self, ctype: str, values: pd.Series) -> list[Any]:
        if ctype == "boolean":
            flags = values.astype("boolean")
            return flags.astype(object).where(flags.notna(), None).tolist()
        if ctype == "integer":
            ints = values.astype("Int64")
            return ints.astype(object).where(ints.notna(), None).tolist()
        if ctype == "real":
            reals = values.astype(float)
            return reals.astype(object).where(reals.notna(), None).tolist()
        if ctype == "date":
            parsed = pd.to_datetime(values)
            return parsed.dt.date.astype(object).where(parsed.notna(), None).tolist()
        return values.astype(object).where(values.notna(), None).tolist()

    def _limit_clause(self, limit: int | None, offset: int) -> tuple[str, list[Any]]:
        return " LIMIT ? OFFSET ?", [None if limit is None else int(limit), int(offset)]

    def _for_update(self) -> str:
        return " FOR UPDATE"

    def _allocate_fids(self, layer: str, n: int) -> np.ndarray:
        rows = self._fetch(
            "SELECT nextval(pg_get_serial_sequence(?, 'fid')) FROM generate_series(1, ?)",
            [self._t(layer), int(n)],
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def _copy(self, table: str, names: list[str], lines: pd.Series,
              progress: Callable[[int, int], None] | None = None) -> None:
        columns = ", ".join(f'"{c}"' for c in names)
        statement = f"COPY {self._t(table)} ({columns}) FROM STDIN"
        total = len(lines)
        values = lines.tolist()
        with self._lock:
            try:
                with self._conn.cursor() as cursor, cursor.copy(statement) as copy:
                    for start in range(0, total, BATCH_ROWS):
                        copy.write("\n".join(values[start:start + BATCH_ROWS]) + "\n")
                        if progress is not None:
                            progress(min(start + BATCH_ROWS, total), total)
            except psycopg.Error as exc:
                raise _store_error(exc, self) from exc

    def _bulk_insert_features(
        self, layer: str, data: pd.DataFrame, geoms: np.ndarray,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        spec = layer_schema(layer)
        types = {"fid": "integer", **column_sql_types(spec)}
        ewkb = shapely.to_wkb(shapely.set_srid(np.asarray(geoms, dtype=object), self._epsg),
                              hex=True, include_srid=True, output_dimension=2)
        parts = [_copy_text(data["fid"], "integer"),
                 pd.Series(ewkb, index=data.index, dtype=object)]
        parts += [_copy_text(data[c], types[c]) for c in data.columns[1:]]
        lines = parts[0].str.cat(pd.concat(parts[1:], axis=1), sep="\t")
        self._copy(layer, ["fid", GEOM, *data.columns[1:]], lines, progress)
        self._execute(f"ANALYZE {self._t(layer)}")

    def _bulk_insert_rows(self, table: str, data: pd.DataFrame, types: Mapping[str, str]) -> None:
        if len(data) == 0:
            return
        parts = [_copy_text(data[c], types.get(c, "text")) for c in data.columns]
        lines = (parts[0].str.cat(pd.concat(parts[1:], axis=1), sep="\t") if len(parts) > 1
                 else parts[0])
        self._copy(table, list(data.columns), lines)

    def _lock_layer(self, layer: str) -> None:
        # SHARE ROW EXCLUSIVE conflicts with itself but not with readers: writers of a
        # layer take turns, like the GeoPackage's BEGIN IMMEDIATE, and reads go on.
        self._execute(f"LOCK TABLE {self._t(layer)} IN SHARE ROW EXCLUSIVE MODE")

    def _after_layer_write(self, layer: str, bounds: tuple[float, ...] | None = None) -> None:
        return None  # PostGIS keeps no per-layer extent to refresh

    def _tables(self) -> set[str]:
        rows = self._fetch("SELECT tablename FROM pg_tables WHERE schemaname = ?", [self.schema])
        return {r[0] for r in rows}

    def _write_layer_description(self, layer: str, description: str) -> None:
        with self._lock:
            try:
                self._conn.execute(pgsql.SQL("COMMENT ON TABLE {}.{} IS {}").format(
                    pgsql.Identifier(self.schema), pgsql.Identifier(layer),
                    pgsql.Literal(description),
                ))
            except psycopg.Error as exc:
                raise _store_error(exc, self) from exc

    def _create_plain_table(self, name: str, columns: Mapping[str, str]) -> None:
        cols = "".join(f', "{c}" {_SQL_TYPES[k]}' for c, k in columns.items())
        self._execute(f"CREATE TABLE {self._t(name)} (id bigint GENERATED BY DEFAULT AS "
                      f"IDENTITY PRIMARY KEY{cols})")

    def _add_column(self, table: str, column: str, kind: str) -> None:
        self._execute(f'ALTER TABLE {self._t(table)} ADD COLUMN "{column}" {_SQL_TYPES[kind]}')

    def _insert_returning_id(self, table: str, names: list[str], params: list[Any]) -> int:
        cols = ", ".join(f'"{c}"' for c in names)
        sql = (f"INSERT INTO {self._t(table)} ({cols}) VALUES ({', '.join(['?'] * len(names))})"
               if names else f"INSERT INTO {self._t(table)} DEFAULT VALUES")
        return int(self._fetch(sql + " RETURNING id", params)[0][0])


def _mask(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def _store_error(exc: psycopg.Error, ws: PostGISWorkspace) -> Exception:
    where = f"PostGIS workspace {_mask(ws.url)}"
    if isinstance(exc, psycopg.errors.UniqueViolation):
        return ConflictError(f"{where}: {exc}")
    if isinstance(exc, psycopg.errors.DuplicateSchema):
        return ConflictError(f"{where}: {exc}")
    return StoreError(f"{where}: {exc}")
