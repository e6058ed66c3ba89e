"""open_raster: the one place rasters are read (GeoTIFF, netCDF, windows, nodata, CRS)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from affine import Affine

from spatial.errors import CRSError, InputError, NotFoundError
from spatial.hazards import RasterGrid, open_raster

ORIGIN = (600_000.0, 4_410_000.0)


def from_origin(west: float, north: float, xsize: float, ysize: float) -> Affine:
    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


def write_tif(
    path: Path,
    array: np.ndarray,
    *,
    transform: Affine | None = None,
    crs: str | None = "EPSG:32642",
    nodata: float | None = -9999.0,
    scale: float | None = None,
    offset: float | None = None,
) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=array.shape[0],
        width=array.shape[1],
        count=1,
        dtype=array.dtype,
        crs=crs,
        transform=transform or from_origin(*ORIGIN, 10, 10),
        nodata=nodata,
    ) as dst:
        dst.write(array, 1)
        if scale is not None:
            dst.scales = (scale,)
        if offset is not None:
            dst.offsets = (offset,)
    return path


def test_geotiff_nodata_becomes_nan_and_georeferencing_is_kept(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    array[1, 2] = -9999.0
    grid = open_raster(write_tif(tmp_path / "dem.tif", array))
    assert isinstance(grid, RasterGrid)
    assert grid.array.dtype == np.float64
    assert np.isnan(grid.array[1, 2])
    assert np.count_nonzero(np.isnan(grid.array)) == 1
    assert grid.array[2, 3] == 11.0
    assert grid.crs.to_epsg() == 32642
    assert grid.nodata == -9999.0
    assert grid.transform == from_origin(*ORIGIN, 10, 10)
    assert grid.bounds == (600_000.0, 4_409_970.0, 600_040.0, 4_410_000.0)
    assert grid.res == (10.0, 10.0)
    xs, ys = grid.cell_centres()
    np.testing.assert_allclose(xs, [600_005, 600_015, 600_025, 600_035])
    np.testing.assert_allclose(ys, [4_409_995, 4_409_985, 4_409_975])


def test_scale_and_offset_are_applied(tmp_path: Path) -> None:
    array = np.array([[10, 20], [30, 40]], dtype=np.int16)
    grid = open_raster(write_tif(tmp_path / "d.tif", array, nodata=None, scale=0.5, offset=100.0))
    np.testing.assert_allclose(grid.array, [[105, 110], [115, 120]])


def test_bbox_in_raster_crs_reads_the_touched_cells_only(tmp_path: Path) -> None:
    array = np.arange(100, dtype=np.float32).reshape(10, 10)
    path = write_tif(tmp_path / "d.tif", array)
    # Cells 2..4 in x (600020-600050), rows 1..2 in y (4409990-4409970); edges inside cells.
    grid = open_raster(path, bbox=(600_025.0, 4_409_975.0, 600_045.0, 4_409_985.0))
    assert grid.shape == (2, 3)
    np.testing.assert_array_equal(grid.array, array[1:3, 2:5])
    assert grid.transform == from_origin(600_020.0, 4_409_990.0, 10, 10)


def test_bbox_in_another_crs_is_transformed(tmp_path: Path) -> None:
    array = np.ones((200, 200), dtype=np.float32)
    path = write_tif(tmp_path / "d.tif", array, transform=from_origin(*ORIGIN, 50, 50))
    full = open_raster(path)
    minx, miny, _, _ = full.bounds
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(32642, 4326, always_xy=True)
    lon0, lat0 = to_lonlat.transform(minx + 2_000, miny + 2_000)
    lon1, lat1 = to_lonlat.transform(minx + 4_000, miny + 4_000)
    grid = open_raster(path, bbox=(lon0, lat0, lon1, lat1), bbox_crs="EPSG:4326")
    gx0, gy0, gx1, gy1 = grid.bounds
    # The window covers the box (transformed bounds may be a little larger, never smaller).
    assert gx0 <= minx + 2_000 + 1 and gy0 <= miny + 2_000 + 1
    assert gx1 >= minx + 4_000 - 1 and gy1 >= miny + 4_000 - 1
    assert grid.shape[0] < 60 and grid.shape[1] < 60


def test_bbox_outside_the_raster_is_an_input_error(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "d.tif", np.ones((3, 3), dtype=np.float32))
    with pytest.raises(InputError, match="does not overlap"):
        open_raster(path, bbox=(0.0, 0.0, 10.0, 10.0))
    with pytest.raises(InputError, match="minx < maxx"):
        open_raster(path, bbox=(600_030.0, 4_409_990.0, 600_000.0, 4_410_000.0))


def test_raster_without_crs_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "nocrs.tif", np.ones((3, 3), dtype=np.float32), crs=None)
    with pytest.raises(CRSError, match=r"nocrs\.tif"):
        open_raster(path)
    grid = open_raster(path, assume_crs="EPSG:32642")
    assert grid.crs.to_epsg() == 32642


def test_assume_crs_never_overrides_a_declared_crs(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "d.tif", np.ones((3, 3), dtype=np.float32))
    assert open_raster(path, assume_crs="EPSG:4326").crs.to_epsg() == 32642


def test_missing_file_bad_band_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"missing\.tif"):
        open_raster(tmp_path / "missing.tif")
    path = write_tif(tmp_path / "d.tif", np.ones((3, 3), dtype=np.float32))
    with pytest.raises(InputError, match="band 2"):
        open_raster(path, band=2)
    junk = tmp_path / "junk.tif"
    junk.write_text("not a raster")
    with pytest.raises(InputError, match=r"junk\.tif"):
        open_raster(junk)


def test_netcdf_by_gdal_name_and_by_variable(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    array[0, 0] = -9999.0
    tif = write_tif(tmp_path / "d.tif", array)
    nc = tmp_path / "depth.nc"
    rasterio.shutil.copy(tif, nc, driver="netCDF")
    by_name = open_raster(f"NETCDF:{nc}:Band1")
    by_quoted = open_raster(f'NETCDF:"{nc}":Band1')
    by_variable = open_raster(nc, variable="Band1")
    for grid in (by_name, by_quoted, by_variable):
        assert grid.crs.to_epsg() == 32642
        assert grid.transform == from_origin(*ORIGIN, 10, 10)
        assert np.isnan(grid.array[0, 0])
        np.testing.assert_array_equal(grid.array.ravel()[1:], np.arange(1, 12))
    with pytest.raises(NotFoundError):
        open_raster(f"NETCDF:{tmp_path / 'nope.nc'}:Band1")
    with pytest.raises(InputError, match="not both"):
        open_raster(f"NETCDF:{nc}:Band1", variable="Band1")


def test_with_array_keeps_georeferencing_and_checks_shape(tmp_path: Path) -> None:
    grid = open_raster(write_tif(tmp_path / "d.tif", np.ones((3, 3), dtype=np.float32)))
    other = grid.with_array(np.zeros((3, 3)))
    assert other.transform == grid.transform and other.crs == grid.crs
    with pytest.raises(InputError, match="shape"):
        grid.with_array(np.zeros((2, 3)))
