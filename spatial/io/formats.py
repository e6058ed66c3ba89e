"""The registry of file formats Jer reads and writes.

One table drives the reader's and writer's dispatch, the CLI's help text and the import
guide, so adding a format is one entry here plus its reader or writer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

__all__ = ["FORMATS", "FileFormat", "detect_format", "format_by_name"]


@dataclass(frozen=True, slots=True)
class FileFormat:
    """One file format.

    Parameters
    ----------
    name
        Short name used by ``write_layer_file(format=...)`` and the CLI.
    title
        Name a land specialist knows the format by.
    extensions
        File name endings, lower case with the dot, the first one is the default.
    readable, writable
        What Jer can do with it.
    multi_layer
        Whether one file holds several layers (GeoPackage tables, zipped shapefiles,
        workbook sheets, KML folders).
    notes
        One sentence for the CLI help: CRS and encoding conventions of the format.
    """

    name: str
    title: str
    extensions: tuple[str, ...]
    readable: bool
    writable: bool
    multi_layer: bool
    notes: str


#: Every format Jer knows, keyed by :attr:`FileFormat.name`.
FORMATS: dict[str, FileFormat] = {
    f.name: f
    for f in (
        FileFormat(
            "gpkg", "GeoPackage", (".gpkg",), True, True, True,
            "Several layers in one file; keeps the CRS, types and UTF-8 text.",
        ),
        FileFormat(
            "geojson", "GeoJSON", (".geojson", ".json"), True, True, False,
            "One layer; written in EPSG:4326 (lon/lat) as RFC 7946 requires.",
        ),
        FileFormat(
            "shapefile_zip", "Zipped ESRI Shapefile", (".zip",), True, True, True,
            "Read inside the zip; .prj required; .cpg honoured, cp1251 assumed without it; "
            "written as UTF-8 with field names shortened to 10 characters.",
        ),
        FileFormat(
            "shapefile", "ESRI Shapefile", (".shp",), True, False, False,
            "The .shp beside its .shx/.dbf/.prj/.cpg; same rules as the zipped shapefile.",
        ),
        FileFormat(
            "csv", "CSV with a WKT geometry column", (".csv", ".txt"), True, True, False,
            "Delimiter ',' or ';'; geometry as WKT; the CRS must be given on import; "
            "written as UTF-8 with BOM so Excel shows Cyrillic.",
        ),
        FileFormat(
            "xlsx", "Excel workbook with a WKT geometry column", (".xlsx",), True, True, True,
            "One sheet per layer; geometry as WKT (left empty past Excel's 32,767-character "
            "cell limit, listed in the '_about' sheet with the CRS).",
        ),
        FileFormat(
            "kml", "KML (Google Earth)", (".kml",), True, False, True,
            "Always EPSG:4326; altitudes are dropped.",
        ),
    )
}

_BY_EXTENSION: dict[str, FileFormat] = {
    ext: fmt for fmt in FORMATS.values() for ext in fmt.extensions
}


def format_by_name(name: str, *, for_write: bool = False) -> FileFormat:
    """The format called ``name`` (or named by an extension such as ``".gpkg"``)."""
    key = name.lower().strip()
    fmt = FORMATS.get(key) or _BY_EXTENSION.get(key if key.startswith(".") else f".{key}")
    if fmt is None:
        raise InputError(f"unknown format {name!r}; known formats: {', '.join(FORMATS)}")
    if for_write and not fmt.writable:
        writable = ", ".join(f.name for f in FORMATS.values() if f.writable)
        raise InputError(f"Jer cannot write {fmt.title}; writable formats: {writable}")
    if not for_write and not fmt.readable:  # pragma: no cover - every format is readable today
        raise InputError(f"Jer cannot read {fmt.title}")
    return fmt


def _sniff(path: Path) -> FileFormat | None:
    """Guess the format from the first bytes, for files without a known extension."""
    with path.open("rb") as fh:
        head = fh.read(1024)
    if head.startswith(b"SQLite format 3\x00"):
        return FORMATS["gpkg"]
    if head.startswith(b"PK\x03\x04"):
        # An XLSX workbook is a zip too; its first member is one of its XML parts.
        is_workbook = b"[Content_Types].xml" in head or b"xl/" in head or b"docProps/" in head
        return FORMATS["xlsx" if is_workbook else "shapefile_zip"]
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        return FORMATS["geojson"]
    if b"<kml" in head:
        return FORMATS["kml"]
    return None


def detect_format(
    path: str | os.PathLike[str], *, format: str | None = None, for_write: bool = False
) -> FileFormat:
    """Format of ``path``: ``format`` if given, else the extension, else the content.

    Content sniffing only runs for existing files with an unknown extension, so a
    cadastre extract saved as ``extract.dat`` by an old program still opens.
    """
    p = Path(path)
    if format is not None:
        return format_by_name(format, for_write=for_write)
    fmt = _BY_EXTENSION.get(p.suffix.lower())
    if fmt is None and not for_write and p.is_file():
        fmt = _sniff(p)
    if fmt is None:
        known = ", ".join(
            ext for f in FORMATS.values() if (f.writable if for_write else f.readable)
            for ext in f.extensions
        )
        raise InputError(
            f"{p.name}: unknown file type {p.suffix or '(no extension)'!r}; "
            f"{'write' if for_write else 'read'}able extensions: {known}"
        )
    if for_write and not fmt.writable:
        return format_by_name(fmt.name, for_write=True)
    return fmt
