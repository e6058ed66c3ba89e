"""Hazard processing for a municipality: GEBCO slope zones, zonal stats and exposure.

``python -m bench.bench_hazards`` reads the real GEBCO window of Isfana, derives landslide
zones from slope classes, then lays a synthetic grid of household plots (default 20 000,
25 m × 40 m, with gaps) over the valley and times :func:`zonal_stats` (slope per plot),
:func:`hazard_exposure` and :func:`relocation_candidates` against the derived zones plus
mudflow fans. Goals: each step under 5 s for 20 000 parcels on the 2-core machine. The
last line is the JSON result ``bench.run_all`` collects.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from spatial.hazards import (
    ISFANA_BBOX_LONLAT,
    ThresholdSet,
    demo_terrain,
    derive_hazard_zones_from_dem,
    hazard_exposure,
    relocation_candidates,
    slope_degrees,
    zonal_stats,
)

GOAL_SECONDS = 5.0
UTM = CRS.from_epsg(32642)
SLOPE = ThresholdSet(
    name="slope_landslide",
    hazard_type="landslide",
    unit="degrees",
    source="benchmark",
    classes=(("low", 0.0, 15.0), ("medium", 15.0, 30.0), ("high", 30.0, math.inf)),
)


def synthetic_parcels(n: int, *, centre: tuple[float, float], seed: int = 3) -> gpd.GeoDataFrame:
    """``n`` plots of 25 m × 40 m on a street grid around ``centre`` (UTM metres)."""
    rng = np.random.default_rng(seed)
    side = math.ceil(math.sqrt(n))
    i = np.arange(n)
    x0 = centre[0] - side * 15 + (i % side) * 30.0
    y0 = centre[1] - side * 22.5 + (i // side) * 45.0
    geoms = shapely.box(x0, y0, x0 + 25.0, y0 + 40.0)
    category = rng.choice(["settlement", "agricultural", "reserve"], size=n, p=[0.7, 0.25, 0.05])
    return gpd.GeoDataFrame(
        {
            "cadastral_no": [f"4-08-01-{k // 10_000:04d}-{k % 10_000:04d}" for k in range(n)],
            "land_category": category,
            "designated_use": pd.Series(category).map({"settlement": "individual_housing"}),
        },
        geometry=geoms,
        crs=UTM,
    )


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    timings, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        timings.append(time.perf_counter() - started)
    return float(np.median(timings)), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parcels", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    derive_s, (grid, zones) = timed(
        lambda: (
            g := demo_terrain(ISFANA_BBOX_LONLAT),
            derive_hazard_zones_from_dem(g, SLOPE, crs=UTM),
        ),
        args.repeat,
    )
    centre = tuple(
        gpd.GeoSeries([shapely.Point(69.53, 39.83)], crs=4326).to_crs(UTM).iloc[0].coords[0]
    )
    parcels = synthetic_parcels(args.parcels, centre=(centre[0], centre[1]))
    fans = gpd.GeoDataFrame(
        {"hazard_type": ["mudflow"] * 3, "hazard_class": ["high", "medium", "low"]},
        geometry=[
            shapely.Point(centre).buffer(800),
            shapely.Point(centre).buffer(1_600),
            shapely.Point(centre).buffer(2_400),
        ],
        crs=UTM,
    )
    hazard = pd.concat(
        [zones[["hazard_type", "hazard_class", "geometry"]], fans], ignore_index=True
    )
    hazard = gpd.GeoDataFrame(hazard, geometry="geometry", crs=UTM)
    slope = grid.with_array(slope_degrees(grid))

    zonal_s, _ = timed(lambda: zonal_stats(parcels, slope, stats=("mean", "max")), args.repeat)
    exposure_s, summary = timed(lambda: hazard_exposure(hazard, parcels=parcels), args.repeat)
    relocation_s, candidates = timed(
        lambda: relocation_candidates(hazard, parcels=parcels), args.repeat
    )
    vertices = int(shapely.get_num_coordinates(zones.geometry.to_numpy()).sum())
    print(
        f"GEBCO window {grid.shape[0]}×{grid.shape[1]} cells -> {len(zones)} landslide zones "
        f"({vertices:,} vertices) in {derive_s:.2f} s; {args.parcels:,} parcels: zonal stats "
        f"{zonal_s:.2f} s, exposure {exposure_s:.2f} s, relocation {relocation_s:.2f} s "
        f"({len(candidates.parcels):,} candidates); goal < {GOAL_SECONDS:.0f} s each"
    )
    result = {
        "benchmark": "hazards",
        "parcels": args.parcels,
        "dem_cells": int(grid.array.size),
        "zone_vertices": vertices,
        "derive_s": round(derive_s, 3),
        "zonal_stats_s": round(zonal_s, 3),
        "exposure_s": round(exposure_s, 3),
        "relocation_s": round(relocation_s, 3),
        "exposed_parcels": int(summary.classes["parcels"].sum()),
        "goal_s": GOAL_SECONDS,
        "ok": max(derive_s, zonal_s, exposure_s, relocation_s) < GOAL_SECONDS,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
