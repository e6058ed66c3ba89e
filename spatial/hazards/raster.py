"""Reading rasters: the one module of Jer that opens raster files with rasterio.

Hazard work needs elevation models, flood-depth grids and susceptibility maps that come
as GeoTIFF from surveys or as netCDF from global products (GEBCO). Keeping every raster
read here means there is one place that decides how nodata, scale/offset, windows and a
missing CRS are handled; everything downstream works on the plain :class:`RasterGrid`
(a float array with NaN for nodata, its affine transform and CRS) and stays testable
with tiny synthetic grids.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS
from pyproj.exceptions import CRSError as PyprojCRSError
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from ..errors import CRSError, InputError, NotFoundError

__all__ = ["BBox", "RasterGrid", "open_raster"]

#: ``(minx, miny, maxx, maxy)``.
BBox = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class RasterGrid:
    """A single raster band in memory, with its georeferencing.

    Parameters
    ----------
    array
        2-D float array, rows from the top of the grid; cells without data are NaN so
        that numpy arithmetic (slope, classes, zonal means) propagates "unknown"
        instead of treating a fill value such as ``-32767`` as an elevation.
    transform
        Affine transform from (col, row) to CRS coordinates of the cell's upper-left corner.
    crs
        Coordinate reference system of the grid; never ``None``.
    nodata
        The nodata value of the source file, kept for writing results back.
    source
        Where the grid came from (the path or GDAL dataset name), for messages and
        the ``source`` column of derived layers.
    tags
        Dataset-level metadata of the source (for netCDF the global attributes, e.g.
        ``NC_GLOBAL#identifier_product_doi``), so credits can be checked, not guessed.
    """

    array: np.ndarray
    transform: Affine
    crs: CRS
    nodata: float | None = None
    source: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.array.ndim != 2:
            raise InputError(f"a raster grid needs a 2-D array, got shape {self.array.shape}")
        if not isinstance(self.crs, CRS):
            object.__setattr__(self, "crs", CRS.from_user_input(self.crs))

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)``."""
        rows, cols = self.array.shape
        return int(rows), int(cols)

    @property
    def height(self) -> int:
        return self.shape[0]

    @property
    def width(self) -> int:
        return self.shape[1]

    @property
    def is_rotated(self) -> bool:
        """Whether the transform has rotation or shear terms (then rows are not parallels)."""
        return not (self.transform.b == 0 and self.transform.d == 0)

    @property
    def res(self) -> tuple[float, float]:
        """Absolute cell size ``(x, y)`` in CRS units (degrees for a geographic grid)."""
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def bounds(self) -> BBox:
        """``(minx, miny, maxx, maxy)`` of the grid's outer cell edges."""
        corners = (
            np.array([0, self.width, 0, self.width]),
            np.array([0, 0, self.height, self.height]),
        )
        xs, ys = self.transform @ corners  # type: ignore[operator]  # affine maps arrays too
        return float(np.min(xs)), float(np.min(ys)), float(np.max(xs)), float(np.max(ys))

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """1-D x coordinates of column centres and y coordinates of row centres.

        Only defined for north-up (unrotated) grids, where a row shares one y.
        """
        if self.is_rotated:
            raise InputError(f"raster {self.source or ''} is rotated; warp it to a north-up grid")
        cols = np.arange(self.width) + 0.5
        rows = np.arange(self.height) + 0.5
        return (
            self.transform.c + self.transform.a * cols,
            self.transform.f + self.transform.e * rows,
        )

    def with_array(self, array: np.ndarray) -> RasterGrid:
        """Same georeferencing, other values (e.g. slope derived from elevation)."""
        if array.shape != self.array.shape:
            raise InputError(
                f"array shape {array.shape} differs from grid shape {self.array.shape}"
            )
        return replace(self, array=array)


def _dataset_name(path: str | Path, variable: str | None) -> tuple[str, Path | None]:
    """GDAL dataset name to open and the file on disk it refers to (for existence checks)."""
    text = str(path)
    if text.upper().startswith("NETCDF:"):
        if variable is not None:
            raise InputError(
                f"give either a NETCDF:file:variable name or variable=, not both: {text}"
            )
        inner = text[len("NETCDF:") :]
        file_part = inner.rsplit(":", 1)[0] if inner.count(":") >= 1 else inner
        return text, Path(file_part.strip('"'))
    file = Path(path)
    if variable is not None:
        return f'NETCDF:"{file}":{variable}', file
    return text, file


def _window_for_bbox(
    ds: Any, bbox: BBox, bbox_crs: CRS | None, raster_crs: CRS, name: str
) -> Window:
    minx, miny, maxx, maxy = (float(v) for v in bbox)
    if not (minx < maxx and miny < maxy) or not all(map(math.isfinite, (minx, miny, maxx, maxy))):
        raise InputError(
            f"bbox {bbox} for raster {name} must be finite with minx < maxx and miny < maxy"
        )
    if bbox_crs is not None and bbox_crs != raster_crs:
        minx, miny, maxx, maxy = transform_bounds(
            bbox_crs, raster_crs, minx, miny, maxx, maxy, densify_pts=21
        )
    inverse = ~ds.transform
    cols, rows = inverse @ (np.array([minx, maxx, minx, maxx]), np.array([miny, miny, maxy, maxy]))
    # Whole cells that the bbox touches: floor the start, ceil the end, then clip to the file.
    col0 = max(0, math.floor(float(np.min(cols)) + 1e-9))
    col1 = min(ds.width, math.ceil(float(np.max(cols)) - 1e-9))
    row0 = max(0, math.floor(float(np.min(rows)) + 1e-9))
    row1 = min(ds.height, math.ceil(float(np.max(rows)) - 1e-9))
    if col1 <= col0 or row1 <= row0:
        raise InputError(
            f"bbox {tuple(bbox)} does not overlap raster {name} "
            f"(raster bounds {tuple(round(v, 6) for v in ds.bounds)} in {raster_crs.to_string()})"
        )
    return Window(col0, row0, col1 - col0, row1 - row0)


def open_raster(
    path: str | Path,
    *,
    band: int = 1,
    bbox: BBox | None = None,
    bbox_crs: Any = None,
    variable: str | None = None,
    assume_crs: Any = None,
) -> RasterGrid:
    """Read one band of a raster (GeoTIFF, netCDF or anything GDAL reads) into memory.

    Parameters
    ----------
    path
        File path, or a GDAL dataset name such as ``NETCDF:"/data/gebco.nc":elevation``.
    band
        1-based band number.
    bbox
        ``(minx, miny, maxx, maxy)``: read only the cells this box touches, so a country
        grid can serve one municipality without loading the whole file.
    bbox_crs
        CRS of ``bbox`` (anything pyproj accepts); defaults to the raster's own CRS.
    variable
        netCDF variable to read; a shortcut for the ``NETCDF:file:variable`` form.
    assume_crs
        CRS to use **only when the file declares none**. A raster without a CRS is
        refused otherwise: silently guessing would put hazard zones in the wrong place.
        Pass it when the CRS is known from the product's documentation (GEBCO netCDF
        subsets lose their ``crs`` grid-mapping variable but are WGS 84 lon/lat).

    Returns
    -------
    RasterGrid
        Values as float64 with NaN for nodata (scale and offset applied).

    Raises
    ------
    NotFoundError
        The file does not exist.
    InputError
        GDAL cannot read it, the band does not exist, or the bbox misses the raster.
    CRSError
        The raster has no CRS and none was assumed, or a CRS argument is invalid.
    """
    name, file = _dataset_name(path, variable)
    if file is not None and not file.exists():
        raise NotFoundError(f"raster file not found: {file}")
    try:
        assumed = CRS.from_user_input(assume_crs) if assume_crs is not None else None
        box_crs = CRS.from_user_input(bbox_crs) if bbox_crs is not None else None
    except PyprojCRSError as exc:
        raise CRSError(f"invalid CRS given for raster {name}: {exc}") from exc
    try:
        with warnings.catch_warnings():
            # A missing georeference is reported below as a CRSError naming the file.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            ds = rasterio.open(name)
        with ds:
            if not 1 <= band <= ds.count:
                raise InputError(
                    f"raster {name} has {ds.count} band(s); band {band} does not exist"
                )
            if ds.crs is not None:
                crs = CRS.from_user_input(ds.crs.to_wkt())
            elif assumed is not None:
                crs = assumed
            else:
                raise CRSError(
                    f"raster {name} has no CRS; give the file a CRS (e.g. gdal_edit.py -a_srs) "
                    "or pass assume_crs= if the product's documentation states it"
                )
            if ds.transform.is_identity:
                raise CRSError(f"raster {name} has no geotransform; it cannot be placed on the map")
            window = _window_for_bbox(ds, bbox, box_crs, crs, name) if bbox is not None else None
            masked = ds.read(band, window=window, masked=True)
            transform = (
                ds.transform @ Affine.translation(window.col_off, window.row_off)
                if window is not None
                else ds.transform
            )
            scale = ds.scales[band - 1] if ds.scales else 1.0
            offset = ds.offsets[band - 1] if ds.offsets else 0.0
            nodata = ds.nodata
            tags = dict(ds.tags())
    except RasterioError as exc:
        raise InputError(f"cannot read raster {name}: {exc}") from exc
    array = np.ma.filled(masked.astype(np.float64), np.nan)
    if scale not in (None, 1.0) or offset not in (None, 0.0):
        array = array * float(scale if scale is not None else 1.0) + float(offset or 0.0)
    return RasterGrid(
        array=array,
        transform=transform,
        crs=crs,
        nodata=None if nodata is None else float(nodata),
        source=name,
        tags=tags,
    )
