"""Exporting workspace layers to files: GeoPackage, GeoJSON, zipped shapefile, CSV, XLSX.

Every export is atomic: the file is written beside the target under a temporary name
and moved over it with :func:`os.replace`, so a failed export (full disk, bad value)
never leaves a half-written file where the previous export was.

Format conventions, chosen so the file opens in the program people will use:

- GeoJSON is reprojected to EPSG:4326 as RFC 7946 requires, with 12 decimals
  (about 0.1 µm) so a round trip changes nothing.
- Zipped shapefile: one ``.shp``/``.shx``/``.dbf``/``.prj``/``.cpg`` set per layer
  (per geometry kind when a layer mixes points, lines and polygons), UTF-8 text,
  field names shortened to 10 bytes as :mod:`spatial.io.fieldnames` documents, dates as
  ``YYYY-MM-DD`` text (``.dbf`` has no date-time type GDAL writes).
- CSV: UTF-8 with BOM (so Excel shows Cyrillic), comma-separated, geometry as full
  precision WKT in the last column ``wkt``, in the layer's CRS (not stored in the file).
- XLSX: one sheet per layer, typed numbers, booleans and dates, geometry as WKT in the
  last column ``wkt``; a WKT longer than Excel's 32,767-character cell limit is left
  empty, and the ``_about`` sheet lists, per sheet, the layer, its CRS and the rows
  whose geometry was left out.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import shapely
from openpyxl.utils.exceptions import IllegalCharacterError
from pyproj import CRS

from ..errors import CRSError, InputError
from ..schema import LANGS, layer_schema, load_schema
from .fieldnames import shorten_field_names
from .formats import detect_format

__all__ = ["EXCEL_CELL_LIMIT", "GEOJSON_DECIMALS", "WKT_COLUMN", "write_layer_file"]

#: Longest text an Excel cell holds.
EXCEL_CELL_LIMIT = 32_767
#: Decimals of GeoJSON coordinates (degrees): about 0.1 micrometre.
GEOJSON_DECIMALS = 12
#: Name of the WKT column in CSV and XLSX exports (one the reader recognises).
WKT_COLUMN = "wkt"
_EXCEL_ROWS = 1_048_576
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_FILE_FORBIDDEN = re.compile(r'[\\/:*?"<>|\x00-\x1f]')
_FAMILIES = {  # shapely type id -> shapefile geometry kind
    0: "points", 4: "points", 1: "lines", 2: "lines", 5: "lines", 3: "polygons", 6: "polygons",
}


def write_layer_file(
    frames: gpd.GeoDataFrame | Mapping[str, gpd.GeoDataFrame],
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    labels_lang: str | None = None,
    drop_columns: Iterable[str] | None = None,
) -> Path:
    """Write layers to a file, atomically.

    Parameters
    ----------
    frames
        One frame, or ``{layer name: frame}``; a single frame is named after the file.
        Layer names that are schema layers give the field-name shortening and the
        labels their column list and code lists.
    path
        Target file; replaced if it exists.
    format
        ``gpkg``, ``geojson``, ``shapefile_zip``, ``csv`` or ``xlsx``; by default from
        the extension (see :data:`spatial.io.FORMATS`).
    labels_lang
        ``ky``, ``ru`` or ``en``: write coded columns as labels in that language, for
        people reading the table; a file with labels still imports, since the reader
        recognises labels.
    drop_columns
        Columns to leave out of every layer, e.g. the schema's personal columns for a
        public export (dropping them is the caller's duty; names absent are ignored).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    InputError
        Unknown format, several layers for a one-layer format, a frame without
        geometry, or values the format cannot hold.
    CRSError
        A frame without CRS.
    """
    target = Path(path)
    fmt = detect_format(target, format=format, for_write=True)
    if labels_lang is not None and labels_lang not in LANGS:
        raise InputError(f"labels_lang must be one of {', '.join(LANGS)}, not {labels_lang!r}")
    layers = _as_layers(frames, default_name=target.stem)
    if not fmt.multi_layer and len(layers) != 1:
        raise InputError(
            f"{target.name}: {fmt.title} holds one layer, {len(layers)} given "
            f"({', '.join(layers)}); use GeoPackage or one file per layer"
        )
    if not target.parent.is_dir():
        raise InputError(f"{target.parent}: folder does not exist")
    dropped = tuple(drop_columns or ())
    prepared = {
        name: _prepare(frame, name, drop=dropped, labels_lang=labels_lang)
        for name, frame in layers.items()
    }
    temporary = target.parent / f".{target.stem}.{uuid.uuid4().hex[:8]}.tmp{target.suffix}"
    try:
        _WRITERS[fmt.name](prepared, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def _as_layers(
    frames: gpd.GeoDataFrame | Mapping[str, gpd.GeoDataFrame], *, default_name: str
) -> dict[str, gpd.GeoDataFrame]:
    layers = {default_name: frames} if isinstance(frames, gpd.GeoDataFrame) else dict(frames)
    if not layers:
        raise InputError("nothing to write: no layers given")
    for name, frame in layers.items():
        if not isinstance(frame, gpd.GeoDataFrame) or not _has_geometry(frame):
            raise InputError(f"layer {name!r} is not a GeoDataFrame with a geometry column")
        if frame.crs is None:
            raise CRSError(f"layer {name!r} has no CRS; set it before exporting")
    return layers


def _has_geometry(frame: gpd.GeoDataFrame) -> bool:
    try:
        frame.geometry  # noqa: B018 - raises without an active geometry column
    except AttributeError:
        return False
    return True


def _prepare(
    frame: gpd.GeoDataFrame, name: str, *, drop: tuple[str, ...], labels_lang: str | None
) -> gpd.GeoDataFrame:
    """A copy with string column names, dropped columns gone and codes turned into labels."""
    geometry = frame.geometry.name
    out = frame.drop(columns=[c for c in drop if c in frame.columns and c != geometry])
    out = out.rename(columns={c: str(c) for c in out.columns if not isinstance(c, str)})
    if labels_lang is not None and name in load_schema().layers:
        codelists = load_schema().codelists
        for column in layer_schema(name).columns.values():
            if column.codes is None or column.name not in out.columns:
                continue
            labels = {
                code: entry.get(labels_lang) or entry.get("en") or code
                for code, entry in codelists[column.codes].items()
            }
            values = out[column.name]
            out[column.name] = values.map(labels).where(values.isin(list(labels)), values)
    return out


def _schema_columns(name: str) -> tuple[str, ...]:
    layers = load_schema().layers
    return layers[name].all_columns if name in layers else ()


def _attributes(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    return pd.DataFrame(frame.drop(columns=[frame.geometry.name]))


def _midnight_only(values: pd.Series) -> bool:
    times = values.dropna()
    return bool((times == times.dt.normalize()).all())


def _dates_as_text(table: pd.DataFrame) -> pd.DataFrame:
    """Date-time columns as ISO text: ``YYYY-MM-DD`` when every value is a date."""
    table = table.copy()
    for column in table.columns:
        values = table[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            pattern = "%Y-%m-%d" if _midnight_only(values) else "%Y-%m-%dT%H:%M:%S"
            table[column] = values.dt.strftime(pattern).astype(object).where(values.notna())
    return table


def _wkt(frame: gpd.GeoDataFrame) -> pd.Series:
    """Geometry as WKT at full precision: the shortest text that reads back exactly."""
    text = shapely.to_wkt(frame.geometry.array, rounding_precision=-1, trim=True)
    return pd.Series(text, index=frame.index, dtype=object)


def _gdal_write(frame: gpd.GeoDataFrame, path: Path, *, name: str, **kwargs: Any) -> None:
    try:
        pyogrio.write_dataframe(frame, path, **kwargs)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
            pyogrio.errors.FieldError, pyogrio.errors.GeometryError,
            pyogrio.errors.FeatureError, TypeError, ValueError) as exc:
        raise InputError(f"cannot write layer {name!r}: {exc}") from exc


# --- the format writers ----------------------------------------------------------------


def _write_gpkg(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    for name, frame in layers.items():
        _gdal_write(frame, path, name=name, layer=name, driver="GPKG")


def _write_geojson(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    ((name, frame),) = layers.items()
    _gdal_write(
        frame.to_crs(4326), path, name=name, layer=name, driver="GeoJSON",
        layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": str(GEOJSON_DECIMALS)},
    )


def _file_name(name: str) -> str:
    return _FILE_FORBIDDEN.sub("_", name).strip(" .") or "layer"


def _write_shapefile_zip(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".shp-") as folder:
        work = Path(folder)
        for name, frame in layers.items():
            geometry = frame.geometry.name
            attributes = [c for c in frame.columns if c != geometry]
            short = shorten_field_names(attributes, reserved=_schema_columns(name))
            table = _dates_as_text(_attributes(frame)).rename(columns=short)
            out = gpd.GeoDataFrame(table, geometry=frame.geometry.array, crs=frame.crs)
            kinds = _geometry_kinds(frame, name)
            for kind, rows in kinds.items():
                stem = _file_name(name if len(kinds) == 1 else f"{name}_{kind}")
                _gdal_write(
                    out.iloc[rows], work / f"{stem}.shp", name=name, driver="ESRI Shapefile",
                    encoding="UTF-8",
                )
                cpg = work / f"{stem}.cpg"
                if not cpg.exists():  # pragma: no cover - GDAL writes it for UTF-8
                    cpg.write_text("UTF-8", encoding="ascii")
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for part in sorted(work.iterdir()):
                archive.write(part, arcname=part.name)


def _geometry_kinds(frame: gpd.GeoDataFrame, name: str) -> dict[str, np.ndarray]:
    """Row positions per shapefile geometry kind; missing geometries go with the first kind."""
    type_ids = shapely.get_type_id(frame.geometry.array)
    collections = np.flatnonzero(type_ids == 7)
    if len(collections):
        raise InputError(
            f"layer {name!r}: a shapefile cannot hold geometry collections "
            f"(rows {', '.join(map(str, collections[:10]))}); export to GeoPackage"
        )
    family = np.full(len(type_ids), "", dtype=object)
    for type_id, kind in _FAMILIES.items():  # over the seven geometry types, not the rows
        family[type_ids == type_id] = kind
    present = sorted(set(family[family != ""].tolist()))
    if not present:
        return {"polygons": np.arange(len(frame))}
    family[family == ""] = present[0]
    return {kind: np.flatnonzero(family == kind) for kind in present}


def _write_csv(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    ((name, frame),) = layers.items()
    table = _dates_as_text(_attributes(frame))
    if WKT_COLUMN in table.columns:
        raise InputError(f"layer {name!r} has a column {WKT_COLUMN!r}; rename it before export")
    table[WKT_COLUMN] = _wkt(frame)
    table.to_csv(path, index=False, encoding="utf-8-sig")


def _sheet_names(names: Iterable[str]) -> dict[str, str]:
    """Excel sheet names: no ``[]:*?/\\``, at most 31 characters, unique, no leading ``_``."""
    result: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        base = _SHEET_FORBIDDEN.sub("_", name).strip("'").lstrip("_")[:31] or "layer"
        sheet, n = base, 1
        while sheet.casefold() in used or sheet.casefold() == "_about":
            n += 1
            sheet = f"{base[: 31 - len(str(n)) - 1]}~{n}"
        used.add(sheet.casefold())
        result[name] = sheet
    return result


def _excel_table(frame: gpd.GeoDataFrame, name: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Attributes with typed dates and the WKT column; rows whose WKT does not fit a cell."""
    table = _attributes(frame)
    if WKT_COLUMN in table.columns:
        raise InputError(f"layer {name!r} has a column {WKT_COLUMN!r}; rename it before export")
    if len(table) >= _EXCEL_ROWS:
        raise InputError(f"layer {name!r} has {len(table)} rows, more than an Excel sheet holds")
    for column in table.columns:
        values = table[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            if getattr(values.dt, "tz", None) is not None:
                values = values.dt.tz_convert("UTC").dt.tz_localize(None)
            # Whole dates become date cells, not date-times at midnight.
            table[column] = values.dt.date.where(values.notna()) if _midnight_only(values) \
                else values
    wkt = _wkt(frame)
    too_long = np.flatnonzero(wkt.str.len().fillna(0).to_numpy() > EXCEL_CELL_LIMIT)
    table[WKT_COLUMN] = wkt.where(wkt.str.len().fillna(0) <= EXCEL_CELL_LIMIT)
    return table, too_long


def _write_xlsx(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    sheets = _sheet_names(layers)
    about: list[dict[str, Any]] = []
    try:
        with pd.ExcelWriter(
            path, engine="openpyxl", date_format="yyyy-mm-dd",
            datetime_format="yyyy-mm-dd hh:mm:ss",
        ) as workbook:
            for name, frame in layers.items():
                table, too_long = _excel_table(frame, name)
                table.to_excel(workbook, sheet_name=sheets[name], index=False)
                about.append({
                    "sheet": sheets[name],
                    "layer": name,
                    "crs": CRS.from_user_input(frame.crs).to_string(),
                    "features": len(table),
                    "geometry_column": WKT_COLUMN,
                    # Excel row numbers: the header is row 1.
                    "geometry_omitted_rows": ", ".join(str(i + 2) for i in too_long),
                })
            note = (
                f"Geometry is WKT in column {WKT_COLUMN!r}, in the sheet's CRS; geometries "
                f"longer than Excel's {EXCEL_CELL_LIMIT}-character cell limit are left empty "
                "and listed in geometry_omitted_rows (export to GeoPackage to keep them)."
            )
            pd.DataFrame(about).assign(note=note).to_excel(
                workbook, sheet_name="_about", index=False
            )
    except IllegalCharacterError as exc:
        raise InputError(f"{path.name}: a text value holds a control character Excel refuses: "
                         f"{exc}") from exc


_WRITERS: dict[str, Callable[[dict[str, gpd.GeoDataFrame], Path], None]] = {
    "gpkg": _write_gpkg,
    "geojson": _write_geojson,
    "shapefile_zip": _write_shapefile_zip,
    "csv": _write_csv,
    "xlsx": _write_xlsx,
}
