"""The Space section of an SEDP for a municipality of 100 000 parcels; goal: under 30 s.

``python -m bench.bench_space [--parcels 100000] [--jobs 2]`` builds a large municipality
by tiling the Isfana demo (``jer_data.demo.generate.build_isfana``, 9 928 parcels, 7
settlements) on a grid: every layer — parcels, settlements, zones, protected areas,
water bodies, forest fund, hazard zones, restrictions, facilities — is copied and shifted
by the demo's extent plus a 1 km gap, with keys and settlement names suffixed per tile
(``Isfana~3``), and the demo's population series is copied for each tile's settlements.
So the fabric, zoning and restrictions are realistic, just repeated; ⌈n / 9 928⌉ tiles are
made and the parcels cut to ``n``.

Then it times, once each (the work is deterministic and each step runs for seconds):
forecast (population projection and land demand), indexing the constraint layers,
candidate selection, capacity for every use with demand, the demand–capacity balance,
allocation (medium scenario) and the draft transformation requests. The last line is
the JSON result ``bench.run_all`` collects.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from jer_data import DEMO_DIR
from jer_data.demo.generate import build_isfana
from spatial.demand import DemandNorms, land_demand, project_population, read_population_csv
from spatial.demand.allocation import allocate
from spatial.demand.capacity import candidate_parcels, demand_balance, land_capacity
from spatial.zoning import ConstraintLayers, load_rulebook

GOAL_SECONDS = 30.0
GAP_M = 1000.0
CONSTRAINT_LAYERS = ("zones", "protected_areas", "water_bodies", "forest_fund",
                     "hazard_zones", "restrictions")
KEYS = {"parcels": "cadastral_no", "zones": "zone_id", "protected_areas": "area_id",
        "water_bodies": "water_id", "forest_fund": "forest_id", "hazard_zones": "hazard_id",
        "restrictions": "restriction_id", "facilities": "facility_id"}

#: Columns holding settlement names, suffixed per tile so each tile's settlements differ.
SETTLEMENT_NAMES = {"parcels": ("settlement",), "settlements": ("name",),
                    "facilities": ("settlement",)}


def tiled_municipality(n_parcels: int) -> tuple[dict[str, gpd.GeoDataFrame], pd.DataFrame]:
    """The demo repeated on a grid until it has ``n_parcels`` parcels, and its population."""
    demo = build_isfana()
    history = read_population_csv(DEMO_DIR / "population.csv",
                                  known_settlements=demo["settlements"]["name"])
    tiles = max(1, math.ceil(n_parcels / len(demo["parcels"])))
    cols = math.ceil(math.sqrt(tiles))
    x0, y0, x1, y1 = demo["municipality"].total_bounds
    dx, dy = x1 - x0 + GAP_M, y1 - y0 + GAP_M
    layers: dict[str, list[gpd.GeoDataFrame]] = {name: [] for name in (
        "parcels", "settlements", "facilities", *CONSTRAINT_LAYERS)}
    people = []
    for t in range(tiles):
        ox, oy = (t % cols) * dx, (t // cols) * dy
        for name, parts in layers.items():
            frame = demo[name].copy()
            frame.geometry = frame.geometry.translate(ox, oy)
            if name in KEYS:
                frame[KEYS[name]] = frame[KEYS[name]].astype(str) + f"~{t}"
            for col in SETTLEMENT_NAMES.get(name, ()):
                frame[col] = frame[col].where(frame[col].isna(),
                                              frame[col].astype(str) + f"~{t}")
            parts.append(frame)
        hist = history.copy()
        hist["settlement"] = hist["settlement"] + f"~{t}"
        people.append(hist)
    out = {name: gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=parts[0].crs)
           for name, parts in layers.items()}
    out["parcels"] = out["parcels"].iloc[:n_parcels]
    # One municipality made of all tiles, its official area the tiles' sum.
    boundary = demo["municipality"]
    shifted = [boundary.geometry.translate((t % cols) * dx, (t // cols) * dy).iloc[0]
               for t in range(tiles)]
    municipality = boundary.iloc[:1].copy()
    municipality["official_area_ha"] = float(boundary["official_area_ha"].iloc[0]) * tiles
    out["municipality"] = gpd.GeoDataFrame(
        municipality.drop(columns="geometry"),
        geometry=[shapely.MultiPolygon(shifted)], crs=boundary.crs,
    )
    return out, pd.concat(people, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parcels", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    layers, history = tiled_municipality(args.parcels)
    build = time.perf_counter() - started
    parcels, settlements = layers["parcels"], layers["settlements"]
    rulebook = load_rulebook()
    steps: dict[str, float] = {}
    results: dict[str, Any] = {}

    def timed(name: str, fn: Any) -> Any:
        t0 = time.perf_counter()
        value = fn()
        steps[name] = time.perf_counter() - t0
        return value

    demand = timed("forecast", lambda: land_demand(
        project_population(history, method="official", horizon=5),
        norms=DemandNorms.from_mapping(rulebook.norms), settlements=settlements,
        facilities=layers["facilities"], uses=rulebook.uses))
    constraint = timed("index_layers", lambda: ConstraintLayers.from_frames(
        rulebook=rulebook, **{name: layers[name] for name in CONSTRAINT_LAYERS}))
    candidates = timed("candidates", lambda: candidate_parcels(parcels, settlements=settlements))
    uses = sorted(demand.frame.loc[demand.frame["hectares"] > 0, "use"].unique())
    capacity = timed("capacity", lambda: land_capacity(
        parcels, constraint, rulebook, uses=uses, candidates=candidates, n_jobs=args.jobs))
    balance = timed("balance", lambda: demand_balance(demand, capacity))
    allocation = timed("allocation", lambda: allocate(
        demand, capacity, parcels, scenario="medium", settlements=settlements,
        hazard_zones=layers["hazard_zones"]))
    requests = timed("draft_requests", allocation.draft_requests)
    total = sum(steps.values())

    # The whole finished section, as `jer report space` makes it: every table (balance,
    # zoning, restrictions, compliance, exposure, demand, capacity, allocation) + HTML + XLSX.
    from spatial.space import space_section
    from web.reports.space import render_space_html, write_space_xlsx

    t0 = time.perf_counter()
    section = space_section(layers, rulebook=rulebook, population=history, horizon=5,
                            scenario="medium", lang="ky", n_jobs=args.jobs)
    report_compute = time.perf_counter() - t0
    t0 = time.perf_counter()
    html = render_space_html(section, "ky")
    with tempfile.TemporaryDirectory() as tmp:
        write_space_xlsx(section, Path(tmp) / "space-ky.xlsx", "ky")
    report_render = time.perf_counter() - t0
    report_total = report_compute + report_render

    print(f"tiled municipality: {len(parcels):,} parcels, {len(settlements)} settlements, "
          f"{len(layers['zones'])} zones (built in {build:.1f} s, not counted)")
    print(f"{len(candidates):,} candidate parcels × {len(uses)} uses ({', '.join(uses)}); "
          f"{len(balance):,} balance rows; {len(allocation.chosen):,} parcels allocated, "
          f"{len(allocation.unmet)} unmet (use, settlement), {len(requests)} draft requests")
    for name, seconds in steps.items():
        print(f"  {name:<15} {seconds:7.2f} s")
    print(f"  {'total':<15} {total:7.2f} s")
    print(f"whole Space section (jer report space): compute {report_compute:.2f} s + "
          f"HTML/XLSX {report_render:.2f} s = {report_total:.2f} s (goal < {GOAL_SECONDS:.0f} s); "
          f"HTML {len(html) / 1e6:.2f} MB")
    results = {
        "benchmark": "space_section",
        "parcels": len(parcels),
        "candidates": len(candidates),
        "uses": len(uses),
        "jobs": args.jobs,
        "steps_s": {k: round(v, 3) for k, v in steps.items()},
        "total_s": round(total, 3),
        "goal_s": GOAL_SECONDS,
        "report_compute_s": round(report_compute, 3),
        "report_render_s": round(report_render, 3),
        "report_total_s": round(report_total, 3),
        "report_html_mb": round(len(html) / 1e6, 2),
        "ok": report_total < GOAL_SECONDS,
        "allocated_parcels": len(allocation.chosen),
        "allocated_ha": round(float(np.sum(allocation.chosen["developable_ha"])), 2),
    }
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
