"""Importing 100 000 parcels (validation included) into each workspace backend.

Goal: at least 10 000 parcels/s into the embedded GeoPackage.

``python -m bench.bench_import --n 100000 [--postgis-url postgresql://...]`` builds a
synthetic parcel fabric in EPSG:32642 (irregular quadrilaterals sharing jittered grid
nodes, so they touch without overlapping) inside a municipality polygon, imports it
into a fresh GeoPackage and, when a URL is given or ``JER_TEST_POSTGIS_URL`` is set,
into a fresh PostGIS schema, and prints parcels/s for each. Validation alone and a full
read-back are timed too, so a slow import can be attributed; ``--profile`` prints the
hottest functions of the GeoPackage import. The last line is the JSON result
``bench.run_all`` collects.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from spatial.schema import codes
from spatial.store import create_workspace
from spatial.validation import validate_layer

GOAL_PER_S = 10_000.0
CRS = 32642
X0, Y0 = 480_000.0, 4_390_000.0
CELL_M = 25.0


def synthetic_fabric(n: int, *, seed: int = 11) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(municipality, ``n`` parcels) in EPSG:32642.

    Grid nodes are jittered and shared by neighbouring cells, so the parcels are
    irregular quadrilaterals forming a partition, like a real cadastral fabric.
    """
    rng = np.random.default_rng(seed)
    nx = int(np.ceil(np.sqrt(n)))
    ny = int(np.ceil(n / nx))
    gx, gy = np.meshgrid(np.arange(nx + 1) * CELL_M, np.arange(ny + 1) * CELL_M)
    jitter = rng.uniform(-0.25, 0.25, size=(2, *gx.shape)) * CELL_M
    jitter[:, 0, :] = jitter[:, -1, :] = jitter[:, :, 0] = jitter[:, :, -1] = 0.0
    nodes_x, nodes_y = X0 + gx + jitter[0], Y0 + gy + jitter[1]
    i = np.arange(n)
    col, row = i % nx, i // nx
    corners = [(row, col), (row, col + 1), (row + 1, col + 1), (row + 1, col), (row, col)]
    ring = np.stack(
        [np.stack([nodes_x[r, c], nodes_y[r, c]], axis=-1) for r, c in corners], axis=1
    )
    geoms = shapely.polygons(ring)
    category = rng.choice(codes("land_category"), size=n,
                          p=[0.3, 0.55, 0.03, 0.01, 0.03, 0.03, 0.05])
    area_ha = shapely.area(geoms) / 10_000
    parcels = gpd.GeoDataFrame(
        {
            "cadastral_no": np.char.add("4-08-01-", np.char.zfill(i.astype(str), 7)),
            "land_category": category,
            "ag_subtype": np.where(category == "agricultural",
                                   rng.choice(["arable_irrigated", "pasture", "hayfield"], n),
                                   "empty"),
            "designated_use": pd.Series(category).map({"settlement": "individual_housing"}),
            "ownership": rng.choice(codes("ownership"), n),
            "holder": np.char.add("Holder ", (i % 9973).astype(str)),
            "right_type": rng.choice(codes("right_type"), n),
            "in_use": rng.random(n) < 0.8,
            "state_ag_fund": (category == "agricultural") & (rng.random(n) < 0.2),
            "official_area_ha": np.round(area_ha * rng.normal(1.0, 0.01, n), 4),
            "settlement": pd.Series(category).map({"settlement": "Isfana"}),
        },
        geometry=geoms, crs=CRS,
    )
    margin = 100.0
    boundary = shapely.box(X0 - margin, Y0 - margin, X0 + nx * CELL_M + margin,
                           Y0 + ny * CELL_M + margin)
    municipality = gpd.GeoDataFrame(
        {"name_ky": ["Бенчмарк"], "name_ru": ["Бенчмарк"], "name_en": ["Benchmark"],
         "kind": ["ayil_aimak"], "oblast": ["Batken"], "district": ["Leilek"],
         "official_area_ha": [boundary.area / 10_000]},
        geometry=[boundary], crs=CRS,
    )
    return municipality, parcels


def _with_schema(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"] + [("schema", schema)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(urlunsplit(urlsplit(url)._replace(query="")), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run_import(url: str, municipality: gpd.GeoDataFrame, parcels: gpd.GeoDataFrame,
               *, profile: bool = False) -> dict[str, Any]:
    """Create a workspace at ``url``, import ``parcels`` into it and time the steps."""
    n = len(parcels)
    with create_workspace(url, municipality, overwrite=True) as ws:
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        report = ws.import_layer("parcels", parcels, user="bench")
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
        assert report.imported == n, report
        started = time.perf_counter()
        back = ws.read_layer("parcels")
        read_s = time.perf_counter() - started
        assert len(back) == n
        box = tuple(back.geometry.iloc[n // 2].buffer(200).bounds)
        started = time.perf_counter()
        hits = ws.read_layer("parcels", bbox=box)
        bbox_ms = (time.perf_counter() - started) * 1000
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())
    return {
        "seconds": round(seconds, 3),
        "parcels_per_s": round(n / seconds),
        "read_all_s": round(read_s, 3),
        "bbox_read_ms": round(bbox_ms, 1),
        "bbox_hits": len(hits),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000, help="parcels to import")
    parser.add_argument("--postgis-url", default=os.environ.get("JER_TEST_POSTGIS_URL"),
                        help="PostGIS database for the server backend (default: "
                             "JER_TEST_POSTGIS_URL; skipped when unset)")
    parser.add_argument("--profile", action="store_true",
                        help="print the hottest functions of the GeoPackage import")
    args = parser.parse_args(argv)

    municipality, parcels = synthetic_fabric(args.n)
    started = time.perf_counter()
    report = validate_layer(parcels, "parcels", crs=CRS,
                            municipality=municipality.geometry.iloc[0])
    validate_s = time.perf_counter() - started
    assert report.ok, report.problems[:3]
    print(f"validation alone of {args.n:,} parcels: {validate_s:.2f} s "
          f"({args.n / validate_s:,.0f} parcels/s)")

    result: dict[str, Any] = {
        "benchmark": "import", "parcels": args.n, "validate_s": round(validate_s, 3),
        "goal_parcels_per_s": GOAL_PER_S,
    }
    with tempfile.TemporaryDirectory(prefix="jer-bench-") as tmp:
        gpkg = run_import(str(Path(tmp) / "bench.gpkg"), municipality, parcels,
                          profile=args.profile)
    gpkg["validate_share"] = round(validate_s / gpkg["seconds"], 2)
    result["gpkg"] = gpkg
    print(f"GeoPackage: {args.n:,} parcels in {gpkg['seconds']:.2f} s = "
          f"{gpkg['parcels_per_s']:,} parcels/s (goal >= {GOAL_PER_S:,.0f}); "
          f"validation ~{gpkg['validate_share']:.0%} of it; read-back {gpkg['read_all_s']:.2f} s; "
          f"bbox read {gpkg['bbox_read_ms']:.0f} ms ({gpkg['bbox_hits']} parcels)")

    result["postgis"] = None
    if args.postgis_url:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        try:
            pg = run_import(_with_schema(args.postgis_url, schema), municipality, parcels)
        finally:
            _drop_schema(args.postgis_url, schema)
        pg["validate_share"] = round(validate_s / pg["seconds"], 2)
        result["postgis"] = pg
        print(f"PostGIS: {args.n:,} parcels in {pg['seconds']:.2f} s = "
              f"{pg['parcels_per_s']:,} parcels/s; read-back {pg['read_all_s']:.2f} s; "
              f"bbox read {pg['bbox_read_ms']:.0f} ms ({pg['bbox_hits']} parcels)")
    else:
        print("PostGIS: skipped (no --postgis-url and JER_TEST_POSTGIS_URL unset)")
    result["ok"] = gpkg["parcels_per_s"] >= GOAL_PER_S
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
