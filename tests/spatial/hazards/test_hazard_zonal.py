"""Zonal statistics per parcel against a hand-made grid."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pyproj import CRS
from shapely.geometry import box

from spatial.errors import CRSError, InputError
from spatial.hazards import RasterGrid, zonal_stats

X0, Y0 = 600_000.0, 4_410_000.0
GRID = RasterGrid(
    array=np.array(
        [
            [1.0, 2.0, 3.0, 4.0],
            [5.0, 6.0, 7.0, 8.0],
            [9.0, 10.0, 11.0, 12.0],
            [13.0, 14.0, np.nan, 16.0],
        ]
    ),
    transform=Affine(10.0, 0, X0, 0, -10.0, Y0),
    crs=CRS.from_epsg(32642),
)


def cell_box(col0: int, row0: int, col1: int, row1: int) -> box:
    """Box over cells col0..col1-1, row0..row1-1."""
    return box(X0 + 10 * col0, Y0 - 10 * row1, X0 + 10 * col1, Y0 - 10 * row0)


@pytest.fixture
def parcels() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"cadastral_no": ["A", "B", "C", "D", "F"]},
        geometry=[
            cell_box(0, 0, 2, 2),  # cells 1, 2, 5, 6
            cell_box(2, 2, 4, 4),  # cells 11, 12, nodata, 16
            box(X0 + 1, Y0 - 39, X0 + 3, Y0 - 37),  # inside cell (3, 0) = 13, covers no centre
            box(X0 + 1_000, Y0, X0 + 1_010, Y0 + 10),  # off the grid
            cell_box(2, 3, 3, 4),  # only the nodata cell
        ],
        crs=32642,
        index=[10, 11, 12, 13, 14],
    )


def test_stats_against_hand_computed_values(parcels: gpd.GeoDataFrame) -> None:
    result = zonal_stats(parcels, GRID, stats=("mean", "max", "min", "sum", "std"))
    assert list(result.index) == [10, 11, 12, 13, 14]
    assert list(result.columns) == ["mean", "max", "min", "sum", "std", "cells", "point_sampled"]
    a = result.loc[10]
    assert (a["mean"], a["max"], a["min"], a["sum"], a["cells"]) == (3.5, 6.0, 1.0, 14.0, 4)
    assert a["std"] == pytest.approx(math.sqrt(4.25))
    b = result.loc[11]
    assert (b["mean"], b["max"], b["min"], b["sum"], b["cells"]) == (13.0, 16.0, 11.0, 39.0, 3)
    assert not result.loc[10, "point_sampled"] and not result.loc[11, "point_sampled"]


def test_parcel_smaller_than_a_cell_takes_the_cell_under_it(parcels: gpd.GeoDataFrame) -> None:
    c = zonal_stats(parcels, GRID, stats=("mean", "max", "std")).loc[12]
    assert (c["mean"], c["max"], c["std"], c["cells"], c["point_sampled"]) == (
        13.0,
        13.0,
        0.0,
        1,
        True,
    )


def test_off_grid_and_nodata_parcels_get_nan(parcels: gpd.GeoDataFrame) -> None:
    result = zonal_stats(parcels, GRID)
    for index in (13, 14):
        assert result.loc[[index], ["mean", "max"]].isna().all(axis=None)
        assert result.loc[index, "cells"] == 0
        assert not result.loc[index, "point_sampled"]


def test_parcels_are_reprojected_to_the_raster_crs(parcels: gpd.GeoDataFrame) -> None:
    lonlat = parcels.iloc[:2].to_crs(4326)
    result = zonal_stats(lonlat, GRID, stats=("mean", "max"))
    assert result.loc[10, "mean"] == pytest.approx(3.5)
    assert result.loc[11, "max"] == 16.0


def test_all_touched_counts_every_touched_cell() -> None:
    # A box over cell centres of (0,0) and (0,1) only, touching cells of row 1 too.
    parcel = gpd.GeoDataFrame(geometry=[box(X0 + 2, Y0 - 12, X0 + 18, Y0 - 2)], crs=32642)
    centre = zonal_stats(parcel, GRID, stats=("sum",))
    touched = zonal_stats(parcel, GRID, stats=("sum",), all_touched=True)
    assert centre.loc[0, "sum"] == 3.0 and centre.loc[0, "cells"] == 2
    assert touched.loc[0, "sum"] == 1 + 2 + 5 + 6 and touched.loc[0, "cells"] == 4


def test_bad_arguments() -> None:
    parcel = gpd.GeoDataFrame(geometry=[cell_box(0, 0, 1, 1)], crs=32642)
    with pytest.raises(InputError, match="median"):
        zonal_stats(parcel, GRID, stats=("median",))
    with pytest.raises(CRSError):
        zonal_stats(gpd.GeoDataFrame(geometry=[cell_box(0, 0, 1, 1)]), GRID)
    empty = zonal_stats(parcel.iloc[:0], GRID)
    assert empty.empty and list(empty.columns) == ["mean", "max", "cells", "point_sampled"]


@settings(max_examples=40, deadline=None)
@given(
    values=arrays(np.float64, (6, 7), elements=st.floats(-100, 100) | st.just(np.nan)),
    col0=st.integers(0, 6),
    row0=st.integers(0, 5),
    width=st.integers(1, 7),
    height=st.integers(1, 6),
)
def test_cell_aligned_boxes_match_numpy_slices(
    values: np.ndarray, col0: int, row0: int, width: int, height: int
) -> None:
    col1, row1 = min(col0 + width, 7), min(row0 + height, 6)
    grid = RasterGrid(array=values, transform=GRID.transform, crs=GRID.crs)
    parcel = gpd.GeoDataFrame(geometry=[cell_box(col0, row0, col1, row1)], crs=32642)
    result = zonal_stats(parcel, grid, stats=("mean", "max", "min")).iloc[0]
    window = values[row0:row1, col0:col1]
    data = window[~np.isnan(window)]
    assert result["cells"] == data.size
    if data.size:
        assert result["mean"] == pytest.approx(data.mean(), abs=1e-9)
        assert result["max"] == data.max() and result["min"] == data.min()
    else:
        assert np.isnan(result["mean"]) and np.isnan(result["max"])
