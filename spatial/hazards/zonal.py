"""Zonal statistics of a raster per parcel, vectorised.

"What is the mean slope / the maximum flood depth on this parcel?" is asked for every
parcel of a municipality at once (thousands), so the parcels are burnt into one label
grid and the statistics come from ``np.bincount`` and sorted ``reduceat`` over the
label array — one pass over the cells, no loop over parcels.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely

from ..crs import to_crs
from ..errors import InputError
from .raster import RasterGrid

__all__ = ["ZONAL_STATS", "zonal_stats"]

#: Statistics :func:`zonal_stats` can compute.
ZONAL_STATS: tuple[str, ...] = ("mean", "max", "min", "sum", "std")


def _group_extreme(
    labels: np.ndarray, values: np.ndarray, size: int, ufunc: np.ufunc
) -> np.ndarray:
    """Per-label reduction with ``ufunc`` (maximum/minimum) via sort + reduceat."""
    out = np.full(size, np.nan)
    if labels.size == 0:
        return out
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    out[sorted_labels[starts]] = ufunc.reduceat(values[order], starts)
    return out


def zonal_stats(
    parcels: gpd.GeoDataFrame,
    grid: RasterGrid,
    *,
    stats: Sequence[str] = ("mean", "max"),
    all_touched: bool = False,
) -> pd.DataFrame:
    """Statistics of ``grid`` over each parcel.

    Parameters
    ----------
    parcels
        Polygons with a CRS; reprojected to the grid's CRS (never the other way round,
        which would resample the raster).
    grid
        The raster (slope, flood depth, …); NaN cells are ignored.
    stats
        Any of :data:`ZONAL_STATS`. ``std`` is the population standard deviation.
    all_touched
        Count every cell a parcel touches instead of cells whose centre it contains.
        Off by default so a cell shared by two parcels is not counted twice.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``parcels``; one column per statistic, ``cells`` (number of data
        cells used) and ``point_sampled``. A parcel that contains no cell centre
        (smaller than a cell, or a thin strip) takes the value of the cell under its
        representative point and has ``point_sampled`` True, so small household plots
        still get a value. Parcels outside the grid or only over nodata get NaN and
        ``cells == 0``. Where parcels overlap, a cell is counted for one of them only
        (the later row).
    """
    unknown = [s for s in stats if s not in ZONAL_STATS]
    if unknown or not stats:
        raise InputError(
            f"unknown zonal statistic(s) {unknown or list(stats)}; "
            f"choose from {', '.join(ZONAL_STATS)}"
        )
    frame = to_crs(parcels, grid.crs, what="parcels")
    n = len(frame)
    values = np.asarray(grid.array, dtype=np.float64)
    geoms = frame.geometry.to_numpy()
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    ids = np.arange(1, n + 1, dtype=np.int64)
    if present.any():
        labels = rasterio.features.rasterize(
            zip(geoms[present], ids[present], strict=True),
            out_shape=grid.shape,
            transform=grid.transform,
            fill=0,
            all_touched=all_touched,
            dtype="int32" if n < 2**31 - 1 else "int64",
        )
    else:
        labels = np.zeros(grid.shape, dtype=np.int32)

    size = n + 1  # label 0 is "no parcel"
    burnt = np.bincount(labels.ravel(), minlength=size)
    data = (labels > 0) & ~np.isnan(values)
    lab = labels[data].astype(np.int64)
    val = values[data]
    count = np.bincount(lab, minlength=size).astype(np.float64)
    total = np.bincount(lab, weights=val, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, np.nan)
    columns: dict[str, np.ndarray] = {}
    if "mean" in stats:
        columns["mean"] = mean
    if "max" in stats:
        columns["max"] = _group_extreme(lab, val, size, np.maximum)
    if "min" in stats:
        columns["min"] = _group_extreme(lab, val, size, np.minimum)
    if "sum" in stats:
        columns["sum"] = np.where(count > 0, total, np.nan)
    if "std" in stats:
        squares = np.bincount(lab, weights=(val - mean[lab]) ** 2, minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            columns["std"] = np.where(count > 0, np.sqrt(squares / count), np.nan)

    # Parcels that received no cell at all: sample the cell under a representative point.
    sampled = np.zeros(size, dtype=bool)
    need = np.flatnonzero(present & (burnt[1:] == 0))
    if need.size:
        points = shapely.point_on_surface(geoms[need])
        cols_f, rows_f = ~grid.transform @ (shapely.get_x(points), shapely.get_y(points))
        rows = np.floor(np.asarray(rows_f)).astype(np.int64)
        cols = np.floor(np.asarray(cols_f)).astype(np.int64)
        inside = (rows >= 0) & (rows < grid.height) & (cols >= 0) & (cols < grid.width)
        picked = np.full(need.size, np.nan)
        picked[inside] = values[rows[inside], cols[inside]]
        ok = ~np.isnan(picked)
        target = need[ok] + 1
        for name in columns:
            columns[name][target] = 0.0 if name == "std" else picked[ok]
        count[target] = 1.0
        sampled[target] = True

    result = pd.DataFrame({name: columns[name][1:] for name in stats}, index=parcels.index)
    result["cells"] = count[1:].astype(np.int64)
    result["point_sampled"] = sampled[1:]
    return result
