"""Slope by Horn's method with metric cell sizes, on projected and geographic grids."""

from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS, Transformer

from spatial.errors import InputError
from spatial.hazards import RasterGrid, cell_sizes_m, slope_degrees

UTM = CRS.from_epsg(32642)


def plane_on_projected_grid(
    a: float, b: float, *, dx: float = 10.0, dy: float = 20.0, shape: tuple[int, int] = (7, 9)
) -> RasterGrid:
    """z = a·x + b·y sampled at cell centres of a north-up UTM grid."""
    transform = Affine(dx, 0, 600_000.0, 0, -dy, 4_410_000.0)
    rows, cols = shape
    x = 600_000.0 + dx * (np.arange(cols) + 0.5)
    y = 4_410_000.0 - dy * (np.arange(rows) + 0.5)
    xx, yy = np.meshgrid(x, y)
    return RasterGrid(
        array=a * (xx - 600_000.0) + b * (yy - 4_400_000.0), transform=transform, crs=UTM
    )


def test_plane_on_projected_grid_gives_exact_slope_and_nan_edges() -> None:
    grid = plane_on_projected_grid(0.3, -0.4)
    slope = slope_degrees(grid)
    expected = math.degrees(math.atan(math.hypot(0.3, 0.4)))
    np.testing.assert_allclose(slope[1:-1, 1:-1], expected, rtol=0, atol=1e-9)
    assert np.isnan(slope[0]).all() and np.isnan(slope[-1]).all()
    assert np.isnan(slope[:, 0]).all() and np.isnan(slope[:, -1]).all()


@settings(max_examples=60, deadline=None)
@given(
    a=st.floats(-3, 3, allow_nan=False),
    b=st.floats(-3, 3, allow_nan=False),
    dx=st.floats(0.5, 500),
    dy=st.floats(0.5, 500),
)
def test_any_plane_any_cell_size_is_exact(a: float, b: float, dx: float, dy: float) -> None:
    slope = slope_degrees(plane_on_projected_grid(a, b, dx=dx, dy=dy, shape=(4, 5)))
    expected = math.degrees(math.atan(math.hypot(a, b)))
    np.testing.assert_allclose(slope[1:-1, 1:-1], expected, rtol=0, atol=1e-7)


def test_south_up_and_east_to_west_grids_give_the_same_slope() -> None:
    grid = plane_on_projected_grid(0.2, 0.1)
    flipped = RasterGrid(
        array=grid.array[::-1, ::-1],
        transform=grid.transform
        @ Affine.translation(grid.width, grid.height)
        @ Affine.scale(-1, -1),
        crs=UTM,
    )
    np.testing.assert_allclose(
        slope_degrees(flipped)[::-1, ::-1], slope_degrees(grid), equal_nan=True
    )


def test_z_factor_converts_elevation_units() -> None:
    feet = plane_on_projected_grid(0.5, 0.0)
    feet = feet.with_array(feet.array / 0.3048)
    slope = slope_degrees(feet, z_factor=0.3048)
    np.testing.assert_allclose(slope[1:-1, 1:-1], math.degrees(math.atan(0.5)), atol=1e-9)


def test_nodata_propagates_to_the_neighbourhood_only() -> None:
    grid = plane_on_projected_grid(0.1, 0.1, shape=(9, 9))
    dem = grid.array.copy()
    dem[4, 4] = np.nan
    slope = slope_degrees(grid.with_array(dem))
    assert np.isnan(slope[3:6, 3:6]).all()
    interior = slope[1:-1, 1:-1].copy()
    interior[2:5, 2:5] = 0.0
    assert not np.isnan(interior).any()


def test_grid_smaller_than_a_window_is_all_nan() -> None:
    grid = plane_on_projected_grid(0.1, 0.1, shape=(2, 5))
    assert np.isnan(slope_degrees(grid)).all()


def test_rotated_grid_is_refused() -> None:
    grid = RasterGrid(array=np.zeros((3, 3)), transform=Affine(10, 1, 0, 1, -10, 0), crs=UTM)
    with pytest.raises(InputError, match="rotated"):
        slope_degrees(grid)


def geographic_plane(a: float, b: float, *, lat0: float = 40.0, lon0: float = 69.5) -> RasterGrid:
    """A lon/lat grid sampling z = a·E + b·N of a local azimuthal equidistant projection.

    Around its centre that projection has scale 1 to better than 1e-6 over a few km, so
    the surface is a plane with metric gradient (a, b) and slope atan(hypot(a, b)).
    """
    step = 0.0005  # ~43 m east-west, ~55 m north-south at 40° N
    rows, cols = 41, 41
    transform = Affine(step, 0, lon0 - step * cols / 2, 0, -step, lat0 + step * rows / 2)
    lon = transform.c + step * (np.arange(cols) + 0.5)
    lat = transform.f - step * (np.arange(rows) + 0.5)
    lons, lats = np.meshgrid(lon, lat)
    local = CRS.from_proj4(f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m")
    east, north = Transformer.from_crs(4326, local, always_xy=True).transform(lons, lats)
    return RasterGrid(array=a * east + b * north, transform=transform, crs=CRS.from_epsg(4326))


@pytest.mark.parametrize(("a", "b"), [(0.3, 0.0), (0.0, 0.3), (0.25, -0.4), (1.2, 0.7)])
def test_plane_on_geographic_grid_matches_analytic_slope(a: float, b: float) -> None:
    slope = slope_degrees(geographic_plane(a, b))
    expected = math.degrees(math.atan(math.hypot(a, b)))
    interior = slope[1:-1, 1:-1]
    assert not np.isnan(interior).any()
    assert np.abs(interior - expected).max() < 0.1
    # Much better than the required 0.1°: per-row cell widths make it nearly exact.
    assert np.abs(interior - expected).max() < 1e-4


def test_geographic_cell_width_shrinks_with_cos_latitude() -> None:
    grid = RasterGrid(
        array=np.zeros((3, 2)),
        transform=Affine(1 / 240, 0, 69.0, 0, -20.0, 60.0),  # rows centred at 50, 30, 10 °N
        crs=CRS.from_epsg(4326),
    )
    dx, dy = cell_sizes_m(grid)
    ratio = dx / dx[-1]
    np.testing.assert_allclose(
        ratio, np.cos(np.radians([50, 30, 10])) / math.cos(math.radians(10)), rtol=3e-3
    )
    # 15 arc-seconds of longitude at 10°N is ~456 m on WGS 84.
    assert 450 < dx[-1] < 460
    # 20 degrees of latitude between row centres is ~2 216 km.
    assert 2_200_000 < dy[0] < 2_230_000


def test_projected_cell_sizes_are_in_metres_even_for_foot_crs() -> None:
    # NAD83 / Texas North (ftUS): 1 US survey foot = 0.3048006 m.
    grid = RasterGrid(
        array=np.zeros((3, 3)), transform=Affine(100, 0, 0, 0, -100, 0), crs=CRS.from_epsg(2275)
    )
    dx, dy = cell_sizes_m(grid)
    np.testing.assert_allclose(dx, 30.480061, rtol=1e-6)
    np.testing.assert_allclose(dy, 30.480061, rtol=1e-6)
