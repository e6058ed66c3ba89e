"""Terrain derivatives from an elevation model, in plain numpy.

Slope is the first screening layer for landslide, rockfall and avalanche
susceptibility. It must be computed with cell sizes in metres: a GEBCO or SRTM grid is
stored in degrees, and one degree of longitude at Isfana (39.8° N) is only ~77 % of a
degree of latitude, so treating degrees as equal squares — or worse, as metres — gives
slopes that are wrong by a factor that changes with latitude.
"""

from __future__ import annotations

import numpy as np
from pyproj import CRS, Geod

from ..errors import CRSError, InputError
from .raster import RasterGrid

__all__ = ["cell_sizes_m", "slope_degrees"]


def _ellipsoid_geod(crs: CRS) -> Geod:
    ellipsoid = crs.ellipsoid
    if ellipsoid is None:
        raise CRSError(f"CRS {crs.name!r} has no ellipsoid; cannot measure cell sizes in metres")
    return Geod(a=ellipsoid.semi_major_metre, b=ellipsoid.semi_minor_metre)


def _axis_factor(crs: CRS) -> float:
    """Conversion factor of the CRS's horizontal unit to metres (projected) or radians."""
    axes = crs.axis_info
    if not axes:
        raise CRSError(f"CRS {crs.name!r} has no axis information; cannot tell its units")
    return float(axes[0].unit_conversion_factor)


def cell_sizes_m(grid: RasterGrid) -> tuple[np.ndarray, np.ndarray]:
    """Ground size of one cell step, per row, in metres.

    Returns
    -------
    dx, dy
        Arrays of length ``grid.height``: ``dx[r]`` is the east-west distance between
        two neighbouring cell centres of row ``r``; ``dy[r]`` the north-south distance
        between the centres of rows ``r`` and ``r + 1`` (the last entry repeats the one
        before it). In a projected CRS both are constant (the transform's pixel size in
        metres — grid distance, ignoring the projection's scale factor, ≤ 0.04 % in
        UTM). In a geographic CRS they are geodesic distances on the CRS's own
        ellipsoid, so ``dx`` shrinks with the cosine of latitude row by row.
    """
    if grid.is_rotated:
        raise InputError(f"raster {grid.source or ''} is rotated; warp it to a north-up grid first")
    crs = grid.crs
    rows = grid.height
    if crs.is_projected:
        factor = _axis_factor(crs)
        dx = np.full(rows, abs(grid.transform.a) * factor)
        dy = np.full(rows, abs(grid.transform.e) * factor)
        return dx, dy
    if not crs.is_geographic:
        raise CRSError(
            f"cannot measure cell sizes in CRS {crs.name!r}: neither projected nor geographic"
        )
    to_degrees = np.degrees(_axis_factor(crs))  # 1.0 for degrees, 0.9 for grads
    geod = _ellipsoid_geod(crs)
    _, lats = grid.cell_centres()
    lats = lats * to_degrees
    step_x = abs(grid.transform.a) * to_degrees
    zeros = np.zeros_like(lats)
    _, _, dx = geod.inv(zeros, lats, zeros + step_x, lats)
    if rows > 1:
        _, _, dy_between = geod.inv(zeros[:-1], lats[:-1], zeros[1:], lats[1:])
        dy = np.append(dy_between, dy_between[-1])
    else:
        step_y = abs(grid.transform.e) * to_degrees
        _, _, dy = geod.inv(zeros, lats - step_y / 2, zeros, lats + step_y / 2)
    return np.asarray(dx, dtype=np.float64), np.asarray(dy, dtype=np.float64)


def slope_degrees(grid: RasterGrid, *, z_factor: float = 1.0) -> np.ndarray:
    """Slope of an elevation grid in degrees, by Horn's (1981) 3 × 3 method.

    Horn's weighted differences are what GDAL, ArcGIS and QGIS use, so slopes match the
    tools a working group may cross-check with. The x difference of each of the three
    rows of the window is divided by that row's own cell width, which makes the result
    exact for a plane in metric coordinates even on a lon/lat grid.

    Parameters
    ----------
    grid
        Elevation model, north-up. Elevations in metres unless ``z_factor`` says otherwise.
    z_factor
        Multiplier turning elevation units into metres (0.3048 for feet).

    Returns
    -------
    numpy.ndarray
        Slope in degrees, shape of ``grid``. **Edge cells are NaN** (their 3 × 3
        window is incomplete; replicating the border would invent a flat rim, which
        would under-state hazard at the edge). Cells whose window touches a nodata cell
        are NaN as well. Read the DEM with a margin of at least one cell around the area
        of interest so its whole area gets a slope.
    """
    if grid.is_rotated:
        raise InputError(f"raster {grid.source or ''} is rotated; warp it to a north-up grid first")
    z = np.asarray(grid.array, dtype=np.float64) * float(z_factor)
    out = np.full(z.shape, np.nan)
    if z.shape[0] < 3 or z.shape[1] < 3:
        return out
    dx, dy = cell_sizes_m(grid)
    a, b, c = z[:-2, :-2], z[:-2, 1:-1], z[:-2, 2:]
    d, f = z[1:-1, :-2], z[1:-1, 2:]
    g, h, i = z[2:, :-2], z[2:, 1:-1], z[2:, 2:]
    # Each row's difference spans two cell widths of that row; weights 1, 2, 1 sum to 4.
    dx_top, dx_mid, dx_bot = dx[:-2, None], dx[1:-1, None], dx[2:, None]
    dz_dx = ((c - a) / dx_top + 2.0 * (f - d) / dx_mid + (i - g) / dx_bot) / 8.0
    # Centre distance from the row above to the row below the window's centre row.
    span_y = (dy[:-2] + dy[1:-1])[:, None]
    dz_dy = ((g + 2.0 * h + i) - (a + 2.0 * b + c)) / (4.0 * span_y)
    # Column and row directions: make x point east and y point north.
    if grid.transform.a < 0:
        dz_dx = -dz_dx
    if grid.transform.e < 0:
        dz_dy = -dz_dy
    slope = np.degrees(np.arctan(np.hypot(dz_dx, dz_dy)))
    # Horn's stencil skips the centre; a cell without elevation still has no slope.
    slope[np.isnan(z[1:-1, 1:-1])] = np.nan
    out[1:-1, 1:-1] = slope
    return out
