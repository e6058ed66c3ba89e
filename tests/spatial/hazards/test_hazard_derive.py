"""Hazard zones derived from rasters: synthetic grids and the real GEBCO window of Isfana."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import CRS
from shapely.geometry import box

from spatial.errors import CRSError, InputError
from spatial.hazards import (
    GEBCO_CREDIT,
    GEBCO_DOI,
    ISFANA_BBOX_LONLAT,
    RasterGrid,
    ThresholdSet,
    demo_terrain,
    derive_from_workspace,
    derive_hazard_zones_from_dem,
    derive_hazard_zones_from_raster,
    gebco_dem_path,
    slope_degrees,
)
from spatial.schema import layer_schema

UTM = CRS.from_epsg(32642)
SLOPE = ThresholdSet(
    name="slope_landslide",
    hazard_type="landslide",
    unit="degrees",
    source="default, to be set locally",
    classes=(("low", 0.0, 15.0), ("medium", 15.0, 30.0), ("high", 30.0, math.inf)),
)
FLOOD = ThresholdSet(
    name="flood_depth",
    hazard_type="flood",
    unit="m",
    source="default, to be set locally",
    classes=(("low", 0.05, 0.5), ("medium", 0.5, 1.5), ("high", 1.5, math.inf)),
)
COLUMNS = [*layer_schema("hazard_zones").all_columns, "geometry"]


def two_slopes_dem() -> RasterGrid:
    """10 m cells; west half rises 10 % (5.7°), east half 100 % (45°) along x."""
    cols, rows = 20, 8
    x = (np.arange(cols) + 0.5) * 10.0
    gradient = np.where(x < 100.0, 0.1, 1.0)
    profile = np.cumsum(gradient * 10.0)
    return RasterGrid(
        array=np.tile(profile, (rows, 1)),
        transform=Affine(10.0, 0, 600_000.0, 0, -10.0, 4_410_000.0),
        crs=UTM,
        source="/data/survey_dem.tif",
    )


def test_slope_zones_from_a_synthetic_dem() -> None:
    zones = derive_hazard_zones_from_dem(two_slopes_dem(), SLOPE, crs=UTM)
    assert list(zones.columns) == COLUMNS
    assert zones["hazard_class"].tolist() == ["high", "medium", "low"]
    assert (zones["hazard_type"] == "landslide").all()
    assert zones["source"].iloc[0] == (
        "slope (Horn) from survey_dem.tif; thresholds slope_landslide (default, to be set locally)"
    )
    area = dict(zip(zones["hazard_class"], zones.geometry.area, strict=True))
    # Horn's x-gradient at column k is (g[k] + g[k+1]) / 2 for cell gradients g: columns
    # 1..8 are low (0.1), column 9 straddles (0.55 -> 28.8°, medium), 10..18 high (1.0).
    assert area["low"] == pytest.approx(6 * 8 * 100.0)
    assert area["medium"] == pytest.approx(6 * 1 * 100.0)
    assert area["high"] == pytest.approx(6 * 9 * 100.0)
    assert zones.geometry.is_valid.all()


def test_flood_depth_zones_from_a_depth_raster() -> None:
    depth = np.array([[0.0, 0.2, 0.7], [1.0, 2.0, np.nan]])
    grid = RasterGrid(
        array=depth, transform=Affine(5.0, 0, 600_000.0, 0, -5.0, 4_410_000.0), crs=UTM
    )
    zones = derive_hazard_zones_from_raster(grid, FLOOD, crs=UTM, name="Isfana-Sai 1 % flood")
    area = dict(zip(zones["hazard_class"], zones.geometry.area, strict=True))
    assert area == {
        "high": pytest.approx(25.0),
        "medium": pytest.approx(50.0),
        "low": pytest.approx(25.0),
    }
    assert (zones["hazard_type"] == "flood").all()
    assert (zones["name"] == "Isfana-Sai 1 % flood").all()
    with pytest.raises(InputError, match="hazard_type"):
        derive_hazard_zones_from_raster(grid, FLOOD.classes, crs=UTM)
    with pytest.raises(CRSError, match="projected"):
        derive_hazard_zones_from_raster(grid, FLOOD, crs=4326)


def test_derive_from_a_dem_file_clips_to_the_area(tmp_path: Path) -> None:
    dem = two_slopes_dem()
    path = tmp_path / "dem.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=dem.height,
        width=dem.width,
        count=1,
        dtype="float64",
        crs="EPSG:32642",
        transform=dem.transform,
    ) as dst:
        dst.write(dem.array, 1)
    area = gpd.GeoDataFrame(geometry=[box(600_020, 4_409_950, 600_180, 4_409_990)], crs=32642)
    zones = derive_from_workspace(area, SLOPE, dem=path, crs=32642, margin_m=20)
    union = shapely.union_all(zones.geometry.to_numpy())
    assert union.area == pytest.approx(area.geometry.iloc[0].area)
    assert zones.geometry.within(area.geometry.iloc[0].buffer(1e-6)).all()
    assert zones["source"].iloc[0].startswith("slope (Horn) from dem.tif")


# --------------------------------------------------------------------------- real GEBCO


def test_gebco_path_is_found_through_the_installed_package() -> None:
    path = gebco_dem_path()
    spec = importlib.util.find_spec("elevation")
    assert spec is not None and spec.origin is not None
    assert path.is_file() and path.suffix == ".nc"
    assert Path(spec.origin).parent in path.parents


@pytest.fixture(scope="module")
def isfana() -> RasterGrid:
    return demo_terrain(ISFANA_BBOX_LONLAT)


def test_demo_terrain_window_and_credit(isfana: RasterGrid) -> None:
    assert isfana.crs.to_epsg() == 4326
    minx, miny, maxx, maxy = isfana.bounds
    lon0, lat0, lon1, lat1 = ISFANA_BBOX_LONLAT
    assert minx <= lon0 and miny <= lat0 and maxx >= lon1 and maxy >= lat1
    assert maxx - minx < (lon1 - lon0) + 2 / 240 and maxy - miny < (lat1 - lat0) + 2 / 240
    assert isfana.res == pytest.approx((1 / 240, 1 / 240))
    assert not np.isnan(isfana.array).any()
    # Isfana sits at ~1 300 m at the foot of the Turkestan range (peaks over 4 000 m).
    assert 700 < np.min(isfana.array) < 1_300 and 3_500 < np.max(isfana.array) < 5_500
    assert GEBCO_DOI in isfana.tags["NC_GLOBAL#identifier_product_doi"]
    assert "GEBCO_2023" in isfana.tags["NC_GLOBAL#title"]
    assert GEBCO_DOI in GEBCO_CREDIT


def test_gebco_slopes_are_plausible(isfana: RasterGrid) -> None:
    slope = slope_degrees(isfana)
    interior = slope[1:-1, 1:-1]
    assert not np.isnan(interior).any()
    assert interior.min() >= 0 and interior.max() < 60
    # 15" cells smooth the relief: mean slopes of a few to a few tens of degrees.
    assert 3 < interior.mean() < 25


def test_gebco_landslide_zones_are_valid_polygons_in_utm(isfana: RasterGrid) -> None:
    zones = derive_hazard_zones_from_dem(isfana, SLOPE, crs=UTM, source=GEBCO_CREDIT)
    assert zones.crs == UTM
    assert list(zones.columns) == COLUMNS
    assert set(zones["hazard_class"]) <= {"high", "medium", "low"}
    assert zones.geometry.is_valid.all() and not zones.geometry.is_empty.any()
    assert set(zones.geom_type) <= {"Polygon", "MultiPolygon"}
    assert (zones["source"] == GEBCO_CREDIT).all()
    # Zones of one type do not overlap (up to the lon/lat -> UTM reprojection of shared
    # edges, ~1e-6 of the area), and together cover the interior cells.
    geoms = zones.geometry.to_numpy()
    assert sum(shapely.area(geoms)) == pytest.approx(shapely.union_all(geoms).area, rel=1e-5)
    rows, cols = isfana.shape
    inner = gpd.GeoSeries(
        [box(*(isfana.transform @ (1, rows - 1)), *(isfana.transform @ (cols - 1, 1)))], crs=4326
    ).to_crs(UTM)
    assert shapely.union_all(geoms).area == pytest.approx(inner.area.iloc[0], rel=1e-3)


def test_derive_from_workspace_uses_gebco_by_default() -> None:
    # A 6 km × 5 km "municipality" around Isfana, given in lon/lat.
    area = gpd.GeoDataFrame(geometry=[box(69.49, 39.81, 69.56, 39.855)], crs=4326)
    zones = derive_from_workspace(area, SLOPE)
    assert zones.crs == UTM  # chosen from the area
    assert zones["source"].iloc[0].startswith(GEBCO_CREDIT)
    boundary = area.to_crs(UTM).geometry.iloc[0]
    union = shapely.union_all(zones.geometry.to_numpy())
    # The margin gives every cell inside the boundary a slope, so the zones cover it.
    assert union.area == pytest.approx(boundary.area, rel=1e-6)
    assert zones.geometry.is_valid.all()
