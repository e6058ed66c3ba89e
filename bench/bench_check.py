"""Constraint check of 100 000 parcels against 2 000 zones and 500 restriction polygons.

``python -m bench.bench_check [--n 100000] [--loop-sample N]`` builds a synthetic
municipality in EPSG:32642 (parcels and zones as Voronoi partitions, hazard zones,
protected areas and restriction corridors as irregular polygons) and measures, in one run:

(a) the batch check :func:`spatial.zoning.check_parcels` (compliance of every parcel's
    current use: every layer, every reason, the summary table), with 2 threads and 1;
(b) the same overlap answer (area of every parcel × feature intersection) with
    :func:`geopandas.overlay`;
(c) a naive per-parcel loop, as an analyst's script does it: for each parcel query the
    layer's index and intersect the features it touches (idiomatic geopandas), and (c')
    the same loop written as tightly as Python allows (bare shapely objects);
(d) the bare lower bound: one bulk ``STRtree.query(predicate="intersects")`` per layer,
    then ``shapely.intersection`` and ``shapely.area`` on all pairs (one thread);
(e) the single-parcel check :func:`spatial.zoning.check_transformation` once indexes
    exist (median over random parcels).

Goals: (a) ≥ 5× faster than (c), ≥ 2× faster than (b), no slower than (d); (e) under
5 ms. (b) and (c) run at full size unless ``--loop-sample`` is given, in which case they
run on that many parcels and are extrapolated linearly (said so in the output). The last
line is the JSON result ``bench.run_all`` collects.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from spatial.zoning import (
    ConstraintLayers,
    Proposal,
    check_parcels,
    check_transformation,
    load_rulebook,
)

CRS = 32642
X0, Y0 = 540_000.0, 4_405_000.0  # near Isfana, UTM 42N
ZONE_TYPES = ["residential_individual", "residential_multi", "mixed_centre", "production",
              "agricultural", "recreation", "green", "reserve_dev"]
USES = ["individual_housing", "agriculture", "pasture", "commerce", "industry", "school",
        "transport", "recreation", "none"]
CATEGORY_OF = {"individual_housing": "settlement", "agriculture": "agricultural",
               "pasture": "agricultural", "commerce": "settlement", "industry":
               "industry_transport", "school": "settlement", "transport": "industry_transport",
               "recreation": "settlement", "none": "reserve"}


def voronoi(n: int, extent: float, rng: np.random.Generator) -> np.ndarray:
    """A partition of the square into ``n`` irregular cells."""
    frame = shapely.box(X0, Y0, X0 + extent, Y0 + extent)
    points = shapely.points(X0 + rng.uniform(0, extent, n), Y0 + rng.uniform(0, extent, n))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(points),
                                                       extend_to=frame))
    return shapely.intersection(cells, frame)


def blobs(n: int, extent: float, radius: tuple[float, float], rng: np.random.Generator
          ) -> np.ndarray:
    """Irregular polygons: circles with 48 vertices whose radii wobble by ±30 %."""
    k = 48
    cx = X0 + rng.uniform(0, extent, n)[:, None]
    cy = Y0 + rng.uniform(0, extent, n)[:, None]
    r = rng.uniform(*radius, n)[:, None] * rng.uniform(0.7, 1.3, (n, k))
    angle = np.linspace(0, 2 * np.pi, k, endpoint=False)[None, :]
    rings = np.stack([cx + r * np.cos(angle), cy + r * np.sin(angle)], axis=-1)
    return shapely.make_valid(shapely.polygons(rings))


def corridors(n: int, extent: float, rng: np.random.Generator) -> np.ndarray:
    """Road and power-line corridors: buffered straight segments 1–4 km long."""
    x = X0 + rng.uniform(0, extent, n)
    y = Y0 + rng.uniform(0, extent, n)
    length = rng.uniform(1000, 4000, n)
    angle = rng.uniform(0, np.pi, n)
    lines = shapely.linestrings(
        np.stack([np.stack([x, y], -1),
                  np.stack([x + length * np.cos(angle), y + length * np.sin(angle)], -1)], 1))
    return shapely.buffer(lines, rng.uniform(10, 40, n), cap_style="flat")


def municipality(n_parcels: int, n_zones: int, n_restrictions: int, seed: int = 42
                 ) -> dict[str, gpd.GeoDataFrame]:
    rng = np.random.default_rng(seed)
    extent = float(np.sqrt(n_parcels * 900.0))  # ~ 0.09 ha per parcel on average
    parcel_geoms = voronoi(n_parcels, extent, rng)
    uses = rng.choice(USES, len(parcel_geoms), p=[0.55, 0.15, 0.05, 0.05, 0.03, 0.01, 0.04,
                                                  0.02, 0.10])
    parcels = gpd.GeoDataFrame(
        {"cadastral_no": [f"4-08-{i:07d}" for i in range(len(parcel_geoms))],
         "land_category": pd.Series(uses).map(CATEGORY_OF).to_numpy(),
         "designated_use": uses},
        geometry=parcel_geoms, crs=CRS,
    )
    zone_geoms = voronoi(n_zones, extent, rng)
    zones = gpd.GeoDataFrame(
        {"zone_id": [f"Z{i}" for i in range(len(zone_geoms))],
         "zone_type": rng.choice(ZONE_TYPES, len(zone_geoms)),
         "name": [f"zone {i}" for i in range(len(zone_geoms))]},
        geometry=zone_geoms, crs=CRS,
    )
    n_haz = n_restrictions * 2 // 5
    n_pa = n_restrictions // 5
    n_res = n_restrictions - n_haz - n_pa
    hazards = gpd.GeoDataFrame(
        {"hazard_id": [f"H{i}" for i in range(n_haz)],
         "hazard_type": rng.choice(["mudflow", "landslide", "flood", "rockfall"], n_haz),
         "hazard_class": rng.choice(["high", "medium", "low"], n_haz)},
        geometry=blobs(n_haz, extent, (80, 400), rng), crs=CRS,
    )
    protected = gpd.GeoDataFrame(
        {"area_id": [f"P{i}" for i in range(n_pa)], "name": [f"area {i}" for i in range(n_pa)],
         "pa_type": rng.choice(["sanctuary", "natural_monument", "geopark"], n_pa),
         "subzone": "whole"},
        geometry=blobs(n_pa, extent, (100, 500), rng), crs=CRS,
    )
    restrictions = gpd.GeoDataFrame(
        {"restriction_id": [f"R{i}" for i in range(n_res)],
         "restriction_type": rng.choice(["road_corridor", "power_line_corridor",
                                         "pipeline_corridor", "sanitary_zone"], n_res)},
        geometry=corridors(n_res, extent, rng), crs=CRS,
    )
    return {"parcels": parcels, "zones": zones, "hazard_zones": hazards,
            "protected_areas": protected, "restrictions": restrictions}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def constraint_frames(data: dict[str, gpd.GeoDataFrame]) -> list[gpd.GeoDataFrame]:
    return [data[k] for k in ("zones", "hazard_zones", "protected_areas", "restrictions")]


def lower_bound(parcels: gpd.GeoDataFrame, layers: list[gpd.GeoDataFrame]) -> float:
    """(d) Bulk query with the intersects predicate, then intersection and area on all pairs."""
    geoms = parcels.geometry.to_numpy()
    total = 0.0
    for layer in layers:
        features = layer.geometry.to_numpy()
        tree = shapely.STRtree(features)
        pos, feat = tree.query(geoms, predicate="intersects")
        total += float(shapely.area(shapely.intersection(geoms[pos], features[feat])).sum())
    return total


def by_overlay(parcels: gpd.GeoDataFrame, layers: list[gpd.GeoDataFrame]) -> float:
    """(b) geopandas.overlay of the parcels with each layer, then areas."""
    left = parcels[["cadastral_no", "geometry"]]
    total = 0.0
    for layer in layers:
        right = layer[[layer.columns[0], "geometry"]]
        pieces = gpd.overlay(left, right, how="intersection", keep_geom_type=True)
        total += float(pieces.geometry.area.sum())
    return total


def naive_loop(parcels: gpd.GeoDataFrame, layers: list[gpd.GeoDataFrame]) -> float:
    """(c) An analyst's script: per parcel, query each layer's index, intersect the hits.

    Idiomatic geopandas, as found in planning notebooks: ``itertuples`` over parcels,
    ``sindex.query`` with the ``intersects`` predicate, a GeoSeries intersection.
    """
    total = 0.0
    for parcel in parcels.itertuples():
        geom = parcel.geometry
        for layer in layers:
            hits = layer.sindex.query(geom, predicate="intersects")
            total += float(layer.geometry.iloc[hits].intersection(geom).area.sum())
    return total


def tight_loop(parcels: gpd.GeoDataFrame, layers: list[gpd.GeoDataFrame]) -> float:
    """(c') The fastest per-parcel loop: the same steps on bare shapely objects."""
    total = 0.0
    indexed = [(layer.sindex, layer.geometry.to_numpy()) for layer in layers]
    for geom in parcels.geometry.to_numpy():
        for sindex, features in indexed:
            for i in sindex.query(geom, predicate="intersects"):
                total += geom.intersection(features[i]).area
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000, help="parcels")
    parser.add_argument("--zones", type=int, default=2_000)
    parser.add_argument("--restrictions", type=int, default=500)
    parser.add_argument("--loop-sample", type=int, default=0,
                        help="run (b) and (c) on this many parcels and extrapolate (0: all)")
    parser.add_argument("--single", type=int, default=300, help="single checks to time")
    args = parser.parse_args(argv)

    t_data, data = timed(lambda: municipality(args.n, args.zones, args.restrictions))
    parcels = data["parcels"]
    rulebook = load_rulebook()
    t_layers, layers = timed(lambda: ConstraintLayers.from_frames(
        rulebook=rulebook, zones=data["zones"], hazard_zones=data["hazard_zones"],
        protected_areas=data["protected_areas"], restrictions=data["restrictions"]))
    frames = constraint_frames(data)
    n_restr = sum(len(f) for f in frames[1:])
    print(f"{len(parcels):,} parcels, {len(data['zones']):,} zones, {n_restr} restriction "
          f"polygons; synthetic data {t_data:.1f} s, ConstraintLayers {t_layers:.2f} s")

    check_parcels(parcels.iloc[:2000], None, layers, rulebook)  # warm-up (imports, caches)
    t_batch2, batch = timed(lambda: check_parcels(parcels, None, layers, rulebook, n_jobs=2))
    t_batch1, _ = timed(lambda: check_parcels(parcels, None, layers, rulebook, n_jobs=1))
    t_lower, lower_total = timed(lambda: lower_bound(parcels, frames))

    sample = parcels if not args.loop_sample else parcels.sample(
        min(args.loop_sample, len(parcels)), random_state=1)
    scale = len(parcels) / len(sample)
    t_overlay, overlay_total = timed(lambda: by_overlay(sample, frames))
    t_loop, loop_total = timed(lambda: naive_loop(sample, frames))
    t_tight, tight_total = timed(lambda: tight_loop(sample, frames))
    t_overlay *= scale
    t_loop *= scale
    t_tight *= scale

    # The same overlap answer: our overlaps summed over all reasons of spatial pairs.
    reasons = batch.reasons
    spatial = reasons[reasons["feature_id"].notna() & (reasons["kind"] != "building")]
    ours_total = float(spatial["overlap_m2"].sum())
    if not args.loop_sample:
        assert abs(ours_total - lower_total) < 1e-6 * lower_total, (ours_total, lower_total)
        assert abs(overlay_total - lower_total) < 1e-4 * lower_total, (overlay_total,
                                                                       lower_total)
        assert abs(loop_total - lower_total) < 1e-6 * lower_total, (loop_total, lower_total)
        assert abs(tight_total - lower_total) < 1e-6 * lower_total, (tight_total, lower_total)

    rng = np.random.default_rng(3)
    picks = rng.choice(len(parcels), args.single, replace=False)
    proposal = Proposal(target_use="individual_housing", target_category="settlement")
    timings = []
    for i in picks:
        row = parcels.iloc[int(i)]
        started = time.perf_counter()
        check_transformation(row, proposal, layers, rulebook)
        timings.append(time.perf_counter() - started)
    t_single = float(np.median(timings))

    extrapolated = f" (run on {len(sample):,} parcels, ×{scale:.1f})" if scale > 1 else ""
    rows = [
        ("(a) check_parcels, 2 threads", t_batch2, ""),
        ("(a) check_parcels, 1 thread", t_batch1, ""),
        ("(b) geopandas.overlay", t_overlay, extrapolated),
        ("(c) naive per-parcel loop (geopandas)", t_loop, extrapolated),
        ("(c') tight per-parcel loop (shapely)", t_tight, extrapolated),
        ("(d) bare lower bound (1 thread)", t_lower, ""),
    ]
    print(f"{'method':38} {'seconds':>9} {'vs (a)':>8}")
    for name, seconds, note in rows:
        print(f"{name:38} {seconds:9.2f} {seconds / t_batch2:7.1f}×{note}")
    print(f"(e) single check_transformation, median of {args.single}: "
          f"{t_single * 1000:.2f} ms (goal < 5 ms)")
    verdicts = batch.table["verdict"].value_counts().to_dict()
    print(f"verdicts: {verdicts}; {len(reasons):,} reasons and notes")

    result = {
        "benchmark": "zoning_check",
        "parcels": len(parcels),
        "zones": len(data["zones"]),
        "restriction_polygons": n_restr,
        "batch_2_threads_s": round(t_batch2, 3),
        "batch_1_thread_s": round(t_batch1, 3),
        "overlay_s": round(t_overlay, 3),
        "naive_loop_s": round(t_loop, 3),
        "tight_loop_s": round(t_tight, 3),
        "lower_bound_s": round(t_lower, 3),
        "extrapolated_from": len(sample) if scale > 1 else None,
        "single_check_median_ms": round(t_single * 1000, 3),
        "constraint_layers_s": round(t_layers, 3),
        "speedup_vs_loop": round(t_loop / t_batch2, 2),
        "speedup_vs_tight_loop": round(t_tight / t_batch2, 2),
        "speedup_vs_overlay": round(t_overlay / t_batch2, 2),
        "speedup_vs_lower_bound": round(t_lower / t_batch2, 2),
        "ok": bool(t_loop / t_batch2 >= 5 and t_overlay / t_batch2 >= 2
                   and t_batch2 <= t_lower and t_single < 0.005),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
