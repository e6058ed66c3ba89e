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

``--compare-old`` also runs capacity the way it was measured before the overlaps and the
cuts were shared between uses (:func:`capacity_one_check_per_use`: one full constraint
check with remainders per use and category group), for the capacity step and for the
whole section, side by side in the same run, and asserts that every number is identical.
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
from spatial.demand import capacity as capacity_module
from spatial.demand.allocation import allocate
from spatial.demand.capacity import (
    CapacityResult,
    candidate_parcels,
    demand_balance,
    land_capacity,
)
from spatial.zoning import ConstraintLayers, Proposal, check_parcels, load_rulebook

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


def capacity_one_check_per_use(
    parcels: gpd.GeoDataFrame, layers: ConstraintLayers, rulebook: Any, *, uses: Any,
    n_jobs: int = 1, candidates: gpd.GeoDataFrame | None = None,
    settlements: gpd.GeoDataFrame | None = None, min_developable_m2: float = 1.0,
    measured: Any = None,
) -> CapacityResult:
    """:func:`land_capacity` as it was before the overlaps were shared between uses.

    Per use and per category group (fits the use / must change category) one full
    :func:`check_parcels` with remainders; kept here as the baseline of ``--compare-old``.
    ``measured`` is ignored: this path measures everything itself, as it used to.
    """
    uses = tuple(dict.fromkeys(uses))
    cand = candidates if candidates is not None else candidate_parcels(
        parcels, settlements=settlements)
    frames = []
    for use in uses:
        current = cand["land_category"].to_numpy(dtype=object)
        fits_list = rulebook.uses[use].categories
        fits = np.isin(current, np.array(fits_list, dtype=object))
        parts = []
        for fit in (True, False):
            sel = np.flatnonzero(fits == fit)
            if not sel.size:
                continue
            sub = cand.iloc[sel]
            target = None if fit else fits_list[0]
            batch = check_parcels(sub, Proposal(target_use=use, target_category=target),
                                  layers, rulebook, n_jobs=n_jobs, with_remainder=True)
            t = batch.table
            whole = capacity_module._whole_prohibited(batch.reasons, len(sub))
            remainder = np.minimum(t["remainder_m2"].to_numpy(dtype=float),
                                   t["area_m2"].to_numpy(dtype=float))
            developable = np.where(whole, 0.0, remainder)
            developable = np.where(
                (developable > 0.0) & (developable >= min_developable_m2), developable, 0.0)
            verdict = t["verdict"].to_numpy(dtype=object)
            parts.append(pd.DataFrame({
                "parcel": sub.index.to_numpy(dtype=object),
                "cadastral_no": sub["cadastral_no"].to_numpy(dtype=object),
                "settlement": sub["settlement"].to_numpy(dtype=object),
                "use": use, "verdict": verdict,
                "candidate_ha": t["area_m2"].to_numpy(dtype=float) / 1e4,
                "developable_ha": developable / 1e4,
                "conditional": verdict == "conditional",
                "needs_category_change": not fit,
                "current_category": current[sel],
                "target_category": current[sel] if fit else target,
                "prohibiting_rules": t["prohibiting_rules"].to_numpy(dtype=object),
                "whole_prohibited": whole,
                "candidate_reasons": sub["candidate_reasons"].to_numpy(dtype=object),
                "_pos": sel,
            }))
        if parts:
            frames.append(pd.concat(parts, ignore_index=True).sort_values("_pos", kind="stable"))
    per = pd.concat(frames, ignore_index=True)
    geometry = cand.geometry.to_numpy()[per["_pos"].to_numpy(dtype=np.int64)]
    per = per.drop(columns="_pos")
    per_gdf = gpd.GeoDataFrame(per, geometry=gpd.GeoSeries(geometry, crs=cand.crs).values,
                               crs=cand.crs)
    return CapacityResult(table=capacity_module._summarise(per), parcels=per_gdf, uses=uses)


def _same_capacity(new: CapacityResult, old: CapacityResult) -> None:
    pd.testing.assert_frame_equal(new.table, old.table, check_exact=True)
    pd.testing.assert_frame_equal(pd.DataFrame(new.parcels), pd.DataFrame(old.parcels),
                                  check_exact=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parcels", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--compare-old", action="store_true",
                        help="also time capacity the old way and assert identical results")
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
    if args.compare_old:
        t0 = time.perf_counter()
        old = capacity_one_check_per_use(parcels, constraint, rulebook, uses=uses,
                                         candidates=candidates, n_jobs=args.jobs)
        old_capacity_s = time.perf_counter() - t0
        _same_capacity(capacity, old)
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
    old_compute = None
    if args.compare_old:
        from unittest import mock

        t0 = time.perf_counter()
        with mock.patch.object(capacity_module, "land_capacity", capacity_one_check_per_use):
            old_section = space_section(layers, rulebook=rulebook, population=history,
                                        horizon=5, scenario="medium", lang="ky",
                                        n_jobs=args.jobs)
        old_compute = time.perf_counter() - t0
        for name in ("capacity", "demand_balance", "allocation", "unmet", "draft_requests",
                     "compliance", "zoning", "restrictions"):
            pd.testing.assert_frame_equal(getattr(section, name), getattr(old_section, name),
                                          check_exact=True)

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
    if old_compute is not None:
        print(f"before/after, same run: capacity step {old_capacity_s:.2f} s -> "
              f"{steps['capacity']:.2f} s ({old_capacity_s / steps['capacity']:.1f}x); "
              f"whole section compute {old_compute:.2f} s -> {report_compute:.2f} s; "
              f"results identical")
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
    if old_compute is not None:
        results["old"] = {"capacity_s": round(old_capacity_s, 3),
                          "report_compute_s": round(old_compute, 3), "identical": True}
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
