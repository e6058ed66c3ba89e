"""Allocation of land demand to candidate parcels: ranking, greedy fill, invariants."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from spatial.demand.allocation import COMPONENTS, SuitabilityWeights, allocate
from spatial.demand.capacity import CAPACITY_COLUMNS, CapacityResult, land_capacity
from spatial.errors import ValidationError
from spatial.zoning import ConstraintLayers, load_rulebook

CRS = 32642


def cap_row(no: str, x: float, ha: float, *, use: str = "individual_housing",
            settlement: str = "A", change: bool = False, verdict: str = "allowed",
            candidate_ha: float | None = None) -> dict[str, Any]:
    side = 10.0
    return {
        "parcel": no, "cadastral_no": no, "settlement": settlement, "use": use,
        "verdict": verdict, "candidate_ha": candidate_ha if candidate_ha is not None else ha,
        "developable_ha": ha, "conditional": verdict == "conditional",
        "needs_category_change": change,
        "current_category": "agricultural" if change else "settlement",
        "target_category": "settlement", "prohibiting_rules": "",
        "whole_prohibited": False, "candidate_reasons": "unused",
        "geometry": shapely.box(x, 0, x + side, side),
    }


def capacity_of(rows: list[dict[str, Any]], uses: tuple[str, ...] = ("individual_housing",)
                ) -> tuple[CapacityResult, gpd.GeoDataFrame]:
    geoms = [r["geometry"] for r in rows]
    per = gpd.GeoDataFrame([{k: v for k, v in r.items() if k != "geometry"} for r in rows],
                           geometry=geoms, crs=CRS)
    table = per.groupby(["settlement", "use"], as_index=False)[
        ["candidate_ha", "developable_ha"]].sum()
    table["conditional_ha"] = 0.0
    table["parcels"] = 1
    parcels = per.drop_duplicates("parcel").set_index("parcel")[["cadastral_no", "geometry"]]
    parcels = gpd.GeoDataFrame(parcels, geometry="geometry", crs=CRS)
    parcels["ag_subtype"] = "empty"
    parcels["designated_use"] = "none"
    return CapacityResult(table=table[list(CAPACITY_COLUMNS)], parcels=per, uses=uses), parcels


def demand_of(rows: list[tuple[str, str, float]], *, scenario: str = "medium",
              year: int = 2029) -> pd.DataFrame:
    return pd.DataFrame({
        "settlement": [r[1] for r in rows], "year": year, "scenario": scenario,
        "use": [r[0] for r in rows], "driver": "population", "hectares": [r[2] for r in rows],
        "quantity": [r[2] * 10 for r in rows], "unit": "dwellings",
    })


SETTLEMENTS = gpd.GeoDataFrame({"name": ["A", "B"]},
                               geometry=[shapely.box(0, 0, 10, 10),
                                         shapely.box(10_000, 0, 10_010, 10)], crs=CRS)


def test_greedy_fill_by_distance_overshoots_by_at_most_one_parcel():
    # 1 ha parcels at growing distance from settlement A: the nearest win
    rows = [cap_row(f"p{i}", 100.0 * i, 1.0) for i in range(6)]
    cap, parcels = capacity_of(rows)
    res = allocate(demand_of([("individual_housing", "A", 2.5)]), cap, parcels,
                   settlements=SETTLEMENTS)
    assert res.chosen["cadastral_no"].tolist() == ["p0", "p1", "p2"]
    assert res.chosen["rank"].tolist() == [1, 2, 3]
    assert res.chosen["score"].is_monotonic_decreasing
    assert res.unmet.empty
    assert res.demand["allocated_ha"].item() == pytest.approx(3.0)
    # every published component is a column; absent inputs are NaN
    for c in COMPONENTS:
        assert f"c_{c}" in res.chosen
    assert res.chosen["c_road_distance"].isna().all()
    assert res.chosen["c_settlement_distance"].iloc[0] == 1.0


def test_zero_developable_never_chosen_and_shortfall_reported():
    rows = [cap_row("full", 0, 1.0), cap_row("none", 100, 0.0, verdict="prohibited",
                                             candidate_ha=2.0)]
    cap, parcels = capacity_of(rows)
    res = allocate(demand_of([("individual_housing", "A", 5.0)]), cap, parcels)
    assert res.chosen["cadastral_no"].tolist() == ["full"]
    assert res.unmet["short_ha"].item() == pytest.approx(4.0)


def test_ties_broken_by_cadastral_number():
    rows = [cap_row(no, 0, 1.0) for no in ("c", "a", "b")]
    cap, parcels = capacity_of(rows)
    res = allocate(demand_of([("individual_housing", "A", 1.5)]), cap, parcels)
    assert res.chosen["cadastral_no"].tolist() == ["a", "b"]


def test_irrigated_land_spared_and_category_change_penalised():
    rows = [cap_row("irrigated", 0, 1.0), cap_row("change", 0, 1.0, change=True),
            cap_row("plain", 0, 1.0)]
    cap, parcels = capacity_of(rows)
    parcels.loc["irrigated", "ag_subtype"] = "arable_irrigated"
    res = allocate(demand_of([("individual_housing", "A", 2.0)]), cap, parcels,
                   weights={"irrigated": 3.0, "category_change": 1.0})
    assert res.chosen["cadastral_no"].tolist() == ["plain", "change"]
    assert res.chosen.set_index("cadastral_no").loc["change", "c_category_change"] == 0.0


def test_high_hazard_excluded_medium_penalised():
    rows = [cap_row("high", 0, 1.0), cap_row("medium", 100, 1.0), cap_row("safe", 200, 1.0)]
    cap, parcels = capacity_of(rows)
    hazards = gpd.GeoDataFrame(
        {"hazard_id": ["h1", "h2"], "hazard_type": ["mudflow", "flood"],
         "hazard_class": ["high", "medium"]},
        geometry=[shapely.box(-5, -5, 5, 5), shapely.box(95, -5, 105, 5)], crs=CRS)
    res = allocate(demand_of([("individual_housing", "A", 3.0)]), cap, parcels,
                   hazard_zones=hazards)
    assert res.chosen["cadastral_no"].tolist() == ["safe", "medium"]
    assert res.chosen["hazard_class"].isna().tolist() == [True, False]
    assert res.chosen["hazard_class"].iloc[1] == "medium"
    assert res.chosen["c_hazard"].tolist() == [1.0, 0.5]
    assert res.unmet["short_ha"].item() == pytest.approx(1.0)


def test_slope_and_roads_components():
    rows = [cap_row("steep", 0, 1.0), cap_row("flat-far", 100, 1.0),
            cap_row("flat-near", 200, 1.0)]
    cap, parcels = capacity_of(rows)
    slope = pd.Series({"steep": 20.0, "flat-far": 1.0, "flat-near": 1.0})
    roads = gpd.GeoDataFrame(geometry=[shapely.LineString([(205, -50), (205, 50)])], crs=CRS)
    res = allocate(demand_of([("individual_housing", "A", 2.0)]), cap, parcels,
                   slope=slope, roads=roads)
    assert res.chosen["cadastral_no"].tolist() == ["flat-near", "flat-far"]
    got = res.chosen.set_index("cadastral_no")
    assert got.loc["flat-near", "c_road_distance"] == 1.0
    assert got.loc["flat-near", "c_slope"] == pytest.approx(1 - 1 / 15)


def test_a_parcel_serves_one_use_only():
    rows = [cap_row("p1", 0, 1.0), cap_row("p2", 100, 1.0),
            cap_row("p1", 0, 1.0, use="school"), cap_row("p2", 100, 1.0, use="school")]
    cap, parcels = capacity_of(rows, uses=("school", "individual_housing"))
    res = allocate(demand_of([("individual_housing", "A", 1.0), ("school", "A", 1.0)]),
                   cap, parcels, settlements=SETTLEMENTS)
    assert res.chosen["cadastral_no"].is_unique
    assert dict(zip(res.chosen["use"], res.chosen["cadastral_no"], strict=True)) == {
        "school": "p1", "individual_housing": "p2"}


def test_settlements_filled_separately():
    rows = [cap_row("a1", 0, 1.0), cap_row("b1", 10_000, 1.0, settlement="B"),
            cap_row("b2", 10_100, 1.0, settlement="B")]
    cap, parcels = capacity_of(rows)
    res = allocate(demand_of([("individual_housing", "A", 0.5),
                              ("individual_housing", "B", 1.5)]), cap, parcels)
    assert res.chosen.groupby("settlement").size().to_dict() == {"A": 1, "B": 2}


def test_draft_requests_carry_the_demand_driver():
    rows = [cap_row("farm", 0, 1.0, change=True), cap_row("village", 100, 1.0)]
    cap, parcels = capacity_of(rows)
    parcels.loc["farm", "designated_use"] = "agriculture"
    res = allocate(demand_of([("individual_housing", "A", 1.5)]), cap, parcels)
    req = res.draft_requests()
    assert req["cadastral_no"].tolist() == ["farm"]
    r = req.iloc[0]
    assert (r["current_category"], r["target_category"]) == ("agricultural", "settlement")
    assert (r["current_use"], r["target_use"]) == ("agriculture", "individual_housing")
    assert r["justification_en"].startswith("population growth: 15 dwellings by 2029")
    assert "1.50 ha" in r["justification_en"]
    assert r["justification_ru"].startswith("рост населения: 15 жилищ к 2029 г.")
    assert r["justification_ky"].startswith("калктын өсүшү: 15")


def test_bad_weights_scenario_and_year_refused_together():
    cap, parcels = capacity_of([cap_row("p", 0, 1.0)])
    with pytest.raises(ValidationError) as err:
        allocate(demand_of([("individual_housing", "A", 1.0)]), cap, parcels,
                 scenario="wild", weights=SuitabilityWeights(weights={"beauty": 1.0},
                                                               max_slope_deg=0.0))
    codes = sorted(p.code for p in err.value.problems)
    assert codes == ["bad_value", "unknown_code", "unknown_scenario"]
    with pytest.raises(ValidationError, match="year 2040"):
        allocate(demand_of([("individual_housing", "A", 1.0)]), cap, parcels, year=2040)


@settings(max_examples=40, deadline=None)
@given(
    areas=st.lists(st.floats(0.0, 3.0), min_size=1, max_size=12),
    xs=st.lists(st.integers(0, 3000), min_size=12, max_size=12),
    medium=st.floats(0.01, 10.0), extra=st.floats(0.0, 10.0),
)
def test_high_scenario_superset_and_overshoot_invariants(areas, xs, medium, extra):
    rows = [cap_row(f"p{i:02d}", float(xs[i]), a) for i, a in enumerate(areas)]
    rows += [cap_row(f"p{i:02d}", float(xs[i]), a, use="school")
             for i, a in enumerate(areas)]
    cap, parcels = capacity_of(rows, uses=("school", "individual_housing"))
    frame = pd.concat([
        demand_of([("individual_housing", "A", medium), ("school", "A", medium / 4)]),
        demand_of([("individual_housing", "A", medium + extra),
                   ("school", "A", (medium + extra) / 4)], scenario="high"),
    ])
    med = allocate(frame, cap, parcels, scenario="medium", settlements=SETTLEMENTS)
    high = allocate(frame, cap, parcels, scenario="high", settlements=SETTLEMENTS)
    assert set(med.chosen["cadastral_no"]) <= set(high.chosen["cadastral_no"])
    # the first-served use keeps its parcels exactly
    school = set(med.chosen.loc[med.chosen["use"] == "school", "cadastral_no"])
    assert school <= set(high.chosen.loc[high.chosen["use"] == "school", "cadastral_no"])
    for res in (med, high):
        c = res.chosen
        assert c["cadastral_no"].is_unique
        assert (c["developable_ha"] > 0).all()
        for (use, _settlement), g in c.groupby(["use", "settlement"]):
            need = res.demand.set_index("use").loc[use, "demand_ha"]
            # all but the last parcel were still short of the demand
            assert g["developable_ha"].sum() - g["developable_ha"].iloc[-1] < need
        met = res.demand["allocated_ha"] + 1e-9 >= res.demand["demand_ha"]
        assert set(res.unmet["use"]) == set(res.demand.loc[~met, "use"])
        assert res.demand["allocated_ha"].sum() == pytest.approx(c["developable_ha"].sum())


def test_isfana_allocation_end_to_end():
    from jer_data import DEMO_DIR
    from jer_data.demo.generate import build_isfana
    from spatial.demand import DemandNorms, land_demand, project_population, read_population_csv

    rulebook = load_rulebook()
    demo = build_isfana()
    lay = ConstraintLayers.from_frames(rulebook=rulebook, **{name: demo[name] for name in (
        "zones", "protected_areas", "water_bodies", "forest_fund", "hazard_zones",
        "restrictions")})
    settlements = demo["settlements"]
    history = read_population_csv(DEMO_DIR / "population.csv",
                                  known_settlements=settlements["name"])
    demand = land_demand(project_population(history, horizon=5),
                         norms=DemandNorms.from_mapping(rulebook.norms),
                         settlements=settlements, facilities=demo["facilities"],
                         uses=rulebook.uses)
    uses = sorted(demand.frame["use"].unique())
    cap = land_capacity(demo["parcels"], lay, rulebook, uses=uses, settlements=settlements,
                        n_jobs=2)
    res = allocate(demand, cap, demo["parcels"], settlements=settlements,
                   hazard_zones=demo["hazard_zones"])
    chosen = res.chosen
    assert len(chosen) > 0 and chosen["cadastral_no"].is_unique
    # never land the rules refuse: each chosen parcel had developable land for its use
    per = cap.parcels.set_index(["cadastral_no", "use"])
    dev = per.loc[list(zip(chosen["cadastral_no"], chosen["use"], strict=True)),
                  "developable_ha"].to_numpy()
    assert np.allclose(dev, chosen["developable_ha"]) and (dev > 0).all()
    assert not (chosen["hazard_class"] == "high").any()
    total_alloc = res.demand["allocated_ha"].sum()
    assert total_alloc == pytest.approx(chosen["developable_ha"].sum())
    req = res.draft_requests()
    assert req["justification_en"].notna().all()
    assert set(req["cadastral_no"]) <= set(chosen["cadastral_no"])


def test_weights_from_plain_data():
    w = SuitabilityWeights.from_mapping({"weights": {"irrigated": 5}, "max_slope_deg": 10,
                                         "exclude_hazard": ["high", "medium"]})
    assert w.weights["irrigated"] == 5 and w.weights["hazard"] == 2.0
    assert w.exclude_hazard == ("high", "medium") and w.max_slope_deg == 10
    with pytest.raises(ValidationError) as err:
        SuitabilityWeights.from_mapping({"colour": 1, "weights": {"slope": -1}})
    assert [p.code for p in err.value.problems] == ["unknown_key"]
    with pytest.raises(ValidationError) as err:
        SuitabilityWeights.from_mapping({"weights": {"slope": -1},
                                         "hazard_penalty": {"extreme": 2.0}})
    assert len(err.value.problems) == 2


def test_slope_from_a_zonal_statistics_frame():
    rows = [cap_row("steep", 0, 1.0), cap_row("flat", 100, 1.0)]
    cap, parcels = capacity_of(rows)
    zonal = pd.DataFrame({"mean": [30.0, 2.0], "max": [40.0, 3.0]}, index=["steep", "flat"])
    res = allocate(demand_of([("individual_housing", "A", 1.0)]), cap, parcels, slope=zonal)
    assert res.chosen["cadastral_no"].tolist() == ["flat"]


def test_allocation_takes_only_what_capacity_allows():
    """Through the real constraint engine: prohibited land is never allocated."""
    rulebook = load_rulebook()
    zones = gpd.GeoDataFrame(
        {"zone_id": ["Z1", "Z2"], "zone_type": ["residential_individual", "agricultural"],
         "name": ["Village", "Fields"]},
        geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)], crs=CRS)
    lay = ConstraintLayers.from_frames(rulebook=rulebook, zones=zones, crs=CRS)
    base = {"land_category": "settlement", "ag_subtype": "empty", "designated_use": "none",
            "ownership": "municipal", "in_use": False, "state_ag_fund": False,
            "settlement": "A"}
    parcels = gpd.GeoDataFrame(
        [{"cadastral_no": no, **base} for no in ("fields", "straddle", "village")],
        geometry=[shapely.box(150, 0, 200, 100), shapely.box(60, 0, 140, 50),
                  shapely.box(0, 60, 20, 80)], crs=CRS)
    cap = land_capacity(parcels, lay, rulebook, uses=["individual_housing"])
    res = allocate(demand_of([("individual_housing", "A", 10.0)]), cap, parcels)
    got = res.chosen.set_index("cadastral_no")["developable_ha"]
    assert "fields" not in got.index
    assert got["straddle"] == pytest.approx(0.2)  # 40 × 50 m in Z1 only
    assert got["village"] == pytest.approx(0.04)
    assert res.unmet["short_ha"].item() == pytest.approx(10.0 - 0.24)
