"""Reading land data files into GeoDataFrames: formats, encodings, CRS and column mapping.

A land specialist brings whatever the cadastre office or an old program produced:
zipped shapefiles with cp1251 ``.dbf`` files and Pulkovo-1942 coordinates, GeoPackages,
GeoJSON, KML from Google Earth, or an Excel/CSV export with the geometry as WKT text.
:func:`read_layer_file` reads all of them the same way — through GDAL (pyogrio) where
GDAL can — and returns the features in their source CRS with ``.crs`` set, columns
renamed to the schema's names and values recoded. It never checks the data model
(``spatial.validation`` does) and never reprojects (the caller does, with ``to_crs``).

Axis order: geometry is always read with x = easting (or longitude) and y = northing
(or latitude), GDAL's "traditional GIS order", whatever the CRS definition says. That is
how shapefiles, GeoPackages and GeoJSON store coordinates and how GIS programs write WKT,
also for the northing-first Gauss–Krüger systems (EPSG:28413, 28414). WKT typed in the
CRS's own northing-first order needs ``axis_order: northing_easting`` in the mapping;
coordinates that only make sense swapped are refused with that hint.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as PyprojCRSError
from pyproj.exceptions import ProjError

from ..errors import CRSError, InputError
from ..schema import layer_schema
from .formats import detect_format
from .mapping import (
    GEOMETRY_TARGET,
    AxisOrder,
    ColumnMapping,
    as_mapping,
    map_columns,
    map_values,
    normalise_label,
    normalise_text,
)

__all__ = ["DEFAULT_SHAPEFILE_ENCODING", "GEOMETRY_COLUMN_NAMES", "read_layer_file"]

#: Encoding assumed for a ``.dbf`` without ``.cpg``: what Russian-locale Windows
#: programs (ArcView, MapInfo, old cadastre software) wrote.
DEFAULT_SHAPEFILE_ENCODING = "cp1251"

#: Header names recognised as the WKT geometry column of CSV and XLSX files
#: (compared ignoring case); a mapping can name any other header.
GEOMETRY_COLUMN_NAMES = ("wkt", "geometry", "geom", "the_geom", "wkt_geom", "геометрия")

#: ``.dbf`` language-driver ids that name a Cyrillic code page. GDAL honours them;
#: other ids (0x00, or 0x57 "Windows ANSI", which means cp1251 on a Russian machine
#: and which GDAL reads as Latin-1) get :data:`DEFAULT_SHAPEFILE_ENCODING`.
_CYRILLIC_LDIDS = {0x26: "cp866", 0x65: "cp866", 0xC9: "cp1251"}

#: Presentation fields GDAL's LIBKML driver adds to every placemark; not data.
_KML_STYLE_FIELDS = (
    "id", "timestamp", "begin", "end", "altitudeMode", "tessellate", "extrude",
    "visibility", "drawOrder", "icon", "snippet",
)

#: Degrees of slack around a CRS's area of use before coordinates count as implausible;
#: Gauss–Krüger data are often carried a zone or so past the zone edge.
_AREA_OF_USE_MARGIN = 5.0

_SRID = re.compile(r"^\s*SRID=(\d+)\s*;", re.IGNORECASE)


@dataclass
class _Source:
    """What a format reader found, before mapping and CRS resolution."""

    frame: pd.DataFrame
    name: str  # the file (and member/layer) for messages
    crs: CRS | None = None
    crs_hint: str = ""  # why a missing CRS is missing, for the error message
    source_layer: str | None = None
    encoding: str | None = None
    text_geometry: bool = False  # WKT from a table: axis order is a question
    fixed_crs: CRS | None = None  # the format defines the CRS (KML)
    info: dict[str, Any] = field(default_factory=dict)


def read_layer_file(
    path: str | os.PathLike[str],
    *,
    layer: str | None = None,
    source_layer: str | None = None,
    mapping: ColumnMapping | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    crs: CRS | str | int | None = None,
    encoding: str | None = None,
) -> gpd.GeoDataFrame:
    """Read one layer of a land data file, in its source CRS, with schema column names.

    Parameters
    ----------
    path
        GeoPackage, GeoJSON, zipped shapefile (read inside the zip), shapefile, CSV or
        XLSX with a WKT column, or KML; see :data:`spatial.io.FORMATS`.
    layer
        Target schema layer (``"parcels"``); enables recovery of truncated shapefile
        names, the built-in recoding of code-list labels and conversion to schema types.
        Defaults to the mapping's ``layer``.
    source_layer
        Layer, shapefile or sheet to read when the file holds several; without it a
        single one is taken, or the one named like ``layer``, else an error lists them.
    mapping
        :class:`ColumnMapping`, a dict of the same shape, or a YAML/JSON file path.
    crs
        CRS the coordinates are in. It overrides the file's own definition (``.prj``),
        for files whose definition is missing or wrong; it is not a reprojection target.
    encoding
        Text encoding of a ``.dbf`` or CSV; overrides ``.cpg`` and detection.

    Returns
    -------
    geopandas.GeoDataFrame
        Geometry column ``geometry``; ``.attrs["jer_import"]`` records the file, the
        source layer, the encoding, where the CRS came from and the renamed columns.

    Raises
    ------
    InputError
        The file cannot be read: unknown type, corrupt, no layers, ambiguous layer,
        missing ``.prj``, CSV without geometry column or CRS, bad WKT (with row numbers).
    CRSError
        The CRS cannot be parsed, or the coordinates cannot be in it.
    ValidationError
        The mapping is invalid (every problem listed).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found")
    if p.is_dir():
        raise InputError(f"{p}: is a folder; give a file (zip a shapefile with its .dbf/.prj)")
    if p.stat().st_size == 0:
        raise InputError(f"{p.name}: the file is empty")
    column_mapping = as_mapping(mapping, layer=layer)
    if layer is None and column_mapping is not None:
        layer = column_mapping.layer
    if layer is not None:
        layer_schema(layer)  # unknown layers fail here with the list of known ones
    explicit_crs, crs_from = _explicit_crs(crs, column_mapping)
    fmt = detect_format(p)
    options = _Options(
        layer=layer,
        source_layer=source_layer or (column_mapping.source_layer if column_mapping else None),
        encoding=encoding or (column_mapping.encoding if column_mapping else None),
        mapping=column_mapping,
        axis_order=column_mapping.axis_order if column_mapping else "easting_northing",
    )
    source = _READERS[fmt.name](p, options)
    if source.text_geometry:
        frame, renamed = _table_to_frame(source, options)
    else:
        renamed_frame, renamed = map_columns(
            source.frame, mapping=column_mapping, layer=layer, file=source.name,
            protected=(GEOMETRY_TARGET,),
        )
        frame = gpd.GeoDataFrame(renamed_frame, geometry=GEOMETRY_TARGET)
    if source.fixed_crs is not None:
        if explicit_crs is not None and explicit_crs != source.fixed_crs:
            raise CRSError(
                f"{source.name}: {fmt.title} coordinates are always "
                f"{source.fixed_crs.to_string()}; do not state crs {explicit_crs.to_string()}"
            )
        final_crs, crs_from = source.fixed_crs, "format"
    elif explicit_crs is not None:
        final_crs = explicit_crs
    elif source.crs is not None:
        final_crs, crs_from = source.crs, "file"
    else:
        raise InputError(
            f"{source.name}: {source.crs_hint or 'the file states no coordinate system'}; "
            "state the CRS of the coordinates with --crs EPSG:xxxx or 'crs:' in the mapping file"
        )
    frame = frame.set_crs(final_crs, allow_override=True)
    _check_plausible(frame, source=source)
    frame = gpd.GeoDataFrame(map_values(frame, mapping=column_mapping, layer=layer),
                             geometry=GEOMETRY_TARGET, crs=final_crs)
    frame = frame.reset_index(drop=True)
    frame.attrs["jer_import"] = {
        "file": str(p),
        "format": fmt.name,
        "source_layer": source.source_layer,
        "encoding": source.encoding,
        "crs": final_crs.to_string(),
        "crs_from": crs_from,
        "layer": layer,
        **renamed,
        **source.info,
    }
    return frame


@dataclass(frozen=True)
class _Options:
    layer: str | None
    source_layer: str | None
    encoding: str | None
    mapping: ColumnMapping | None
    axis_order: AxisOrder


def _explicit_crs(
    crs: CRS | str | int | None, mapping: ColumnMapping | None
) -> tuple[CRS | None, str]:
    if crs is not None:
        try:
            return CRS.from_user_input(crs), "argument"
        except (PyprojCRSError, TypeError, ValueError) as exc:
            raise CRSError(f"cannot understand the CRS {crs!r}: {exc}") from exc
    if mapping is not None and mapping.crs is not None:
        return mapping.crs, "mapping"
    return None, "file"


def _choose(names: Sequence[str], options: _Options, *, file: str, what: str = "layer") -> str:
    """Pick the layer, shapefile or sheet to read from a file holding ``names``."""
    wanted = options.source_layer
    if wanted is not None:
        if wanted in names:
            return wanted
        folded = [n for n in names if n.casefold() == wanted.casefold()]
        if len(folded) == 1:
            return folded[0]
        raise InputError(
            f"{file}: no {what} {wanted!r}; it holds: {', '.join(names) or 'nothing'}"
        )
    if len(names) == 1:
        return names[0]
    if not names:
        raise InputError(f"{file}: holds no {what} with geometry")
    if options.layer is not None and options.layer in names:
        return options.layer
    raise InputError(
        f"{file}: holds {len(names)} {what}s ({', '.join(names)}); "
        f"choose one with source_layer"
    )


def _gdal_read(path: str, name: str, **kwargs: Any) -> gpd.GeoDataFrame:
    """pyogrio's reader with GDAL and decoding failures turned into :class:`InputError`."""
    try:
        frame = pyogrio.read_dataframe(path, use_arrow=False, **kwargs)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
            pyogrio.errors.FieldError, pyogrio.errors.GeometryError,
            pyogrio.errors.FeatureError) as exc:
        raise InputError(f"{name}: cannot be read: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: text is not in the encoding {kwargs.get('encoding') or 'the file declares'} "
            f"({exc.reason} at byte {exc.start}); state the encoding (e.g. 'encoding: cp1251' "
            "in the mapping file)"
        ) from exc
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"{name}: has no geometry")
    if frame.geometry.name != GEOMETRY_TARGET:
        frame = frame.rename_geometry(GEOMETRY_TARGET)
    return frame


def _list_layers(path: str, name: str) -> list[str]:
    try:
        layers = pyogrio.list_layers(path)
    except pyogrio.errors.DataSourceError as exc:
        raise InputError(f"{name}: cannot be read: {exc}") from exc
    return [str(n) for n, geometry_type in layers if geometry_type is not None]


def _file_crs(frame: gpd.GeoDataFrame) -> CRS | None:
    return None if frame.crs is None else CRS.from_user_input(frame.crs)


# --- the format readers ----------------------------------------------------------------


def _read_gpkg(p: Path, options: _Options) -> _Source:
    names = _list_layers(str(p), p.name)
    chosen = _choose(names, options, file=p.name)
    frame = _gdal_read(str(p), f"{p.name}, layer {chosen!r}", layer=chosen)
    return _Source(
        frame, f"{p.name}, layer {chosen!r}", crs=_file_crs(frame),
        crs_hint=f"layer {chosen!r} has no coordinate system", source_layer=chosen,
        encoding="UTF-8",
    )


def _read_geojson(p: Path, options: _Options) -> _Source:
    frame = _gdal_read(str(p), p.name)
    return _Source(frame, p.name, crs=_file_crs(frame), encoding="UTF-8")


def _read_kml(p: Path, options: _Options) -> _Source:
    names = _list_layers(str(p), p.name)
    chosen = _choose(names, options, file=p.name, what="folder")
    frame = _gdal_read(str(p), p.name, layer=chosen)
    frame = frame.drop(columns=[c for c in _KML_STYLE_FIELDS if c in frame.columns])
    frame[GEOMETRY_TARGET] = shapely.force_2d(frame.geometry.array)
    return _Source(
        frame, p.name, fixed_crs=CRS.from_epsg(4326), source_layer=chosen, encoding="UTF-8"
    )


@dataclass(frozen=True)
class _ShapefileParts:
    """Where a shapefile's parts are, in a zip or a folder."""

    gdal_path: str
    name: str
    present: frozenset[str]  # lower-case extensions present, with the dot
    read: Callable[[str, int], bytes]  # (extension, size) -> first bytes of that part


def _zip_members(p: Path) -> list[str]:
    try:
        with zipfile.ZipFile(p) as archive:
            members = archive.namelist()
    except zipfile.BadZipFile as exc:
        raise InputError(f"{p.name}: not a valid zip file ({exc})") from exc
    return [
        m for m in members
        if not m.endswith("/") and not m.startswith("__MACOSX/")
        and not PurePosixPath(m).name.startswith("._")
    ]


def _shapefile_in_zip(p: Path, options: _Options) -> tuple[_ShapefileParts, str]:
    members = _zip_members(p)
    shps = sorted(m for m in members if m.lower().endswith(".shp"))
    if not shps:
        raise InputError(
            f"{p.name}: holds no shapefile (.shp); it contains: {', '.join(members) or 'nothing'}"
        )
    stems = [PurePosixPath(m).stem for m in shps]
    names = stems if len(set(stems)) == len(stems) else [m[:-4] for m in shps]
    chosen = _choose(names, options, file=p.name, what="shapefile")
    member = shps[names.index(chosen)]
    base = member[:-4]
    parts = {m[len(base):].lower(): m for m in members if m[: len(base)] == base}

    def read(ext: str, size: int) -> bytes:
        with zipfile.ZipFile(p) as archive, archive.open(parts[ext]) as fh:
            return fh.read(size)

    gdal_path = f"/vsizip/{p.resolve().as_posix()}/{member}"
    shp = _ShapefileParts(gdal_path, f"{p.name}/{member}", frozenset(parts), read)
    return shp, chosen


def _shapefile_in_folder(p: Path) -> _ShapefileParts:
    siblings = {
        f.suffix.lower(): f for f in p.parent.iterdir()
        if f.stem == p.stem and f.is_file()
    }

    def read(ext: str, size: int) -> bytes:
        with siblings[ext].open("rb") as fh:
            return fh.read(size)

    return _ShapefileParts(str(p), p.name, frozenset(siblings), read)


def _read_shapefile_parts(shp: _ShapefileParts, options: _Options) -> _Source:
    missing = [ext for ext in (".shx", ".dbf") if ext not in shp.present]
    if missing:
        raise InputError(
            f"{shp.name}: incomplete shapefile, missing {' and '.join(missing)} "
            "(a shapefile needs its .shp, .shx, .dbf and .prj files together)"
        )
    info: dict[str, Any] = {}
    if options.encoding is not None:
        encoding: str | None = options.encoding
        info["encoding_from"] = "argument"
    elif ".cpg" in shp.present:
        declared = shp.read(".cpg", 64).decode("ascii", errors="replace").strip()
        encoding, info["encoding_from"] = None, f".cpg ({declared})"
    else:
        header = shp.read(".dbf", 32)
        ldid = header[29] if len(header) > 29 else 0
        if ldid in _CYRILLIC_LDIDS:
            encoding, info["encoding_from"] = None, f".dbf language driver 0x{ldid:02X}"
        else:
            encoding, info["encoding_from"] = DEFAULT_SHAPEFILE_ENCODING, "default (no .cpg)"
    kwargs = {} if encoding is None else {"encoding": encoding}
    frame = _gdal_read(shp.gdal_path, shp.name, **kwargs)
    if encoding is None:
        encoding = _gdal_encoding(shp)
    crs = _file_crs(frame)
    if ".prj" not in shp.present:
        hint = f"the shapefile has no .prj file (expected {PurePosixPath(shp.name).stem}.prj)"
    else:
        hint = "the .prj file could not be understood"
    return _Source(frame, shp.name, crs=crs, crs_hint=hint, encoding=encoding, info=info)


def _gdal_encoding(shp: _ShapefileParts) -> str | None:
    try:
        return str(pyogrio.read_info(shp.gdal_path)["encoding"])
    except (pyogrio.errors.DataSourceError, UnicodeDecodeError):  # pragma: no cover - read above
        return None


def _read_shapefile_zip(p: Path, options: _Options) -> _Source:
    shp, chosen = _shapefile_in_zip(p, options)
    source = _read_shapefile_parts(shp, options)
    source.source_layer = chosen
    return source


def _read_shapefile(p: Path, options: _Options) -> _Source:
    source = _read_shapefile_parts(_shapefile_in_folder(p), options)
    source.source_layer = p.stem
    return source


def _decode_text(p: Path, encoding: str | None) -> tuple[str, str]:
    """CSV text and its encoding: as stated, else UTF-8 (with or without BOM), else cp1251."""
    raw = p.read_bytes()
    candidates = [encoding] if encoding else (
        ["utf-8-sig"] if raw.startswith(b"\xef\xbb\xbf") else ["utf-8", "cp1251"]
    )
    for candidate in candidates:
        try:
            return raw.decode(candidate), candidate
        except UnicodeDecodeError as exc:
            error = exc
        except LookupError as exc:
            raise InputError(f"{p.name}: unknown encoding {candidate!r}") from exc
    raise InputError(
        f"{p.name}: text is not {encoding} ({error.reason} at byte {error.start}); "
        "state the right encoding"
    )


def _geometry_headers(options: _Options) -> set[str]:
    names = {normalise_label(n) for n in GEOMETRY_COLUMN_NAMES}
    if options.mapping is not None:
        names |= {
            normalise_label(src)
            for src, dst in options.mapping.columns.items() if dst == GEOMETRY_TARGET
        }
    return names


def _detect_delimiter(text: str, geometry_headers: set[str]) -> str:
    """``;``, ``,`` or tab: the one that splits the first rows into equal, most columns.

    Russian-locale Excel writes ``;`` and leaves the commas of WKT unquoted, so a
    delimiter that gives ragged rows is wrong; a header naming the geometry column
    breaks ties (boxes all have five vertices, so ``,`` can look regular).
    """
    best: tuple[bool, bool, int] = (False, False, 0)
    chosen = ","
    for delimiter in (",", ";", "\t"):
        rows = list(itertools.islice(csv.reader(io.StringIO(text), delimiter=delimiter), 50))
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        regular = all(len(r) == width for r in rows[1:] if r)
        header = {str(v) for v in normalise_text(pd.Series(rows[0], dtype=object))}
        score = (regular, bool(header & geometry_headers), width)
        if score > best:
            best, chosen = score, delimiter
    return chosen


def _read_csv(p: Path, options: _Options) -> _Source:
    text, encoding = _decode_text(p, options.encoding)
    delimiter = _detect_delimiter(text, _geometry_headers(options))
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
            na_values=[""], skipinitialspace=False,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{p.name}: cannot be read as CSV: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return _Source(
        frame, p.name, crs_hint="a CSV file carries no coordinate system", encoding=encoding,
        text_geometry=True, info={"delimiter": delimiter},
    )


def _read_xlsx(p: Path, options: _Options) -> _Source:
    try:
        workbook = pd.ExcelFile(p, engine="openpyxl")
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InputError(f"{p.name}: cannot be read as an Excel workbook: {exc}") from exc
    with workbook:
        sheets = [str(s) for s in workbook.sheet_names if not str(s).startswith("_")]
        chosen = _choose(sheets, options, file=p.name, what="sheet")
        frame = pd.read_excel(workbook, sheet_name=chosen, dtype=object)
        about = None
        if "_about" in workbook.sheet_names:
            about = pd.read_excel(workbook, sheet_name="_about", dtype=str)
    frame.columns = [str(c).strip() for c in frame.columns]
    crs = None
    if about is not None and {"sheet", "crs"} <= set(about.columns):
        stated = about.loc[about["sheet"] == chosen, "crs"].dropna()
        if len(stated):
            try:
                crs = CRS.from_user_input(stated.iloc[0])
            except PyprojCRSError as exc:
                raise InputError(f"{p.name}: '_about' sheet has a bad crs: {exc}") from exc
    return _Source(
        frame, f"{p.name}, sheet {chosen!r}", crs=crs,
        crs_hint="an Excel sheet carries no coordinate system", source_layer=chosen,
        encoding="UTF-8", text_geometry=True,
    )


_READERS: dict[str, Callable[[Path, _Options], _Source]] = {
    "gpkg": _read_gpkg,
    "geojson": _read_geojson,
    "shapefile_zip": _read_shapefile_zip,
    "shapefile": _read_shapefile,
    "csv": _read_csv,
    "xlsx": _read_xlsx,
    "kml": _read_kml,
}


# --- WKT tables ------------------------------------------------------------------------


def _table_to_frame(source: _Source, options: _Options) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Map a CSV/XLSX table's columns, then parse its WKT column with row numbers."""
    frame, renamed = map_columns(
        source.frame, mapping=options.mapping, layer=options.layer, file=source.name
    )
    if GEOMETRY_TARGET in frame.columns:
        column = GEOMETRY_TARGET
    else:
        headers = _geometry_headers(options)
        normal = normalise_text(pd.Series(list(frame.columns), dtype=object))
        found = [c for c, n in zip(frame.columns, normal, strict=True) if n in headers]
        if not found:
            raise InputError(
                f"{source.name}: no geometry column; name it one of "
                f"{', '.join(GEOMETRY_COLUMN_NAMES)} or map its header to 'geometry' in the "
                f"mapping file (columns found: {', '.join(map(str, frame.columns))})"
            )
        if len(found) > 1:
            raise InputError(
                f"{source.name}: several possible geometry columns ({', '.join(found)}); map one "
                "to 'geometry' in the mapping file"
            )
        column = found[0]
    text = frame[column].astype(object).where(frame[column].notna()).astype(str).str.strip()
    blank = frame[column].isna() | text.eq("")
    srids = text.str.extract(_SRID, expand=False)
    text = text.str.replace(_SRID, "", regex=True)
    cells = text.to_numpy(dtype=object, copy=True)
    cells[blank.to_numpy()] = None
    geometries = shapely.from_wkt(cells, on_invalid="ignore")
    bad = np.flatnonzero(pd.isna(geometries) & ~blank.to_numpy())
    if len(bad):
        # Row numbers as a spreadsheet shows them: the header is row 1.
        listed = ", ".join(str(i + 2) for i in bad[:20])
        more = f" and {len(bad) - 20} more" if len(bad) > 20 else ""
        first = str(text.iloc[bad[0]])
        raise InputError(
            f"{source.name}: bad WKT in column {column!r} at row {listed}{more} "
            f"(row 1 is the header); first: {first[:60]!r}"
        )
    if options.axis_order == "northing_easting":
        geometries = shapely.transform(geometries, lambda xy: xy[:, ::-1])
    found_srids = sorted(set(srids.dropna()))
    if len(found_srids) > 1:
        raise InputError(f"{source.name}: EWKT with several SRIDs: {', '.join(found_srids)}")
    if found_srids and source.crs is None:
        source.crs = CRS.from_epsg(int(found_srids[0]))
    frame = frame.drop(columns=[column])
    result = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometries, index=frame.index))
    result = result.rename_geometry(GEOMETRY_TARGET) if result.geometry.name != GEOMETRY_TARGET \
        else result
    source.info["geometry_column"] = str(column)
    return result, renamed


# --- CRS plausibility ------------------------------------------------------------------


def _check_plausible(frame: gpd.GeoDataFrame, *, source: _Source) -> None:
    """Refuse coordinates that cannot be in the stated CRS.

    A wrong CRS (Gauss–Krüger without the zone prefix, lon/lat labelled as UTM, X and Y
    swapped as Soviet surveys write them) produces features thousands of kilometres
    away that every later check would misreport; the reader can say what is wrong.
    """
    crs = CRS.from_user_input(frame.crs)
    area = crs.area_of_use
    geometries = frame.geometry.array
    present = ~(shapely.is_missing(geometries) | shapely.is_empty(geometries))
    if area is None or not present.any():
        return
    xmin, ymin, xmax, ymax = shapely.total_bounds(geometries[present])
    if _inside(crs, (xmin, ymin, xmax, ymax), area.bounds):
        return
    where = f"{source.name}: coordinates (x {xmin:.6g}..{xmax:.6g}, y {ymin:.6g}..{ymax:.6g})"
    used = f"{crs.to_string()} ({crs.name}) is used in lon {area.west}..{area.east}, " \
        f"lat {area.south}..{area.north}"
    if _inside(crs, (ymin, xmin, ymax, xmax), area.bounds):
        fix = (
            "set 'axis_order: northing_easting' in the mapping file"
            if source.text_geometry
            else "the file stores x and y swapped; fix it in the GIS that wrote it"
        )
        raise CRSError(f"{where} fit {crs.to_string()} only with x and y swapped "
                       f"(northing first); {fix}")
    raise CRSError(f"{where} lie outside where {used}; is the CRS right? "
                   f"State the CRS of the coordinates with --crs")


def _inside(
    crs: CRS, bounds: tuple[float, float, float, float], area: tuple[float, float, float, float]
) -> bool:
    try:
        to_lonlat = Transformer.from_crs(crs, crs.geodetic_crs or "EPSG:4326", always_xy=True)
        west, south, east, north = to_lonlat.transform_bounds(*bounds, errcheck=True)
    except (ProjError, ValueError):
        return False
    if not np.all(np.isfinite([west, south, east, north])):
        return False
    m = _AREA_OF_USE_MARGIN
    a_west, a_south, a_east, a_north = area
    return bool(
        west <= a_east + m and east >= a_west - m and south <= a_north + m and north >= a_south - m
        and -180 - m <= west and east <= 180 + m and south >= -90 and north <= 90
    )
