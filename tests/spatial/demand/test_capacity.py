"""Candidate land, capacity per use and the demand–capacity balance."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spatial.demand.capacity import (
    CAPACITY_COLUMNS,
    CapacityResult,
    balance_totals,
    candidate_parcels,
    demand_balance,
    land_capacity,
    target_category,
)
from spatial.errors import ValidationError
from spatial.zoning import ConstraintLayers, Proposal, Rulebook, check_parcels, load_rulebook

CRS = 32642


@pytest.fixture(scope="module")
def rulebook() -> Rulebook:
    return load_rulebook()


@pytest.fixture(scope="module")
def two_zones(rulebook: Rulebook) -> ConstraintLayers:
    """Z1 individual housing on x 0..100, Z2 agricultural (housing prohibited) on 100..200."""
    zones = gpd.GeoDataFrame(
        {"zone_id": ["Z1", "Z2"], "zone_type": ["residential_individual", "agricultural"],
         "name": ["Village", "Fields"]},
        geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)], crs=CRS,
    )
    return ConstraintLayers.from_frames(rulebook=rulebook, zones=zones, crs=CRS)


def parcel(no: str, geometry: Any, **kw: Any) -> dict[str, Any]:
    row = {"cadastral_no": no, "land_category": "settlement", "ag_subtype": "empty",
           "designated_use": "none", "ownership": "municipal", "in_use": False,
           "state_ag_fund": False, "settlement": "A", "geometry": geometry}
    row.update(kw)
    return row


def frame(rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    geoms = [r["geometry"] for r in rows]
    data = [{k: v for k, v in r.items() if k != "geometry"} for r in rows]
    return gpd.GeoDataFrame(data, geometry=geoms, crs=CRS)


# ---------------------------------------------------------------- candidates

def test_candidates_and_their_reasons():
    sq = shapely.box(0, 0, 10, 10)
    parcels = frame([
        parcel("p-private-in-use", sq, ownership="private", in_use=True),
        parcel("p-private-unused", sq, ownership="private", in_use=False),
        parcel("p-private-reserve-in-use", sq, ownership="private", in_use=True,
               land_category="reserve"),
        parcel("p-private-fund-in-use", sq, ownership="private", in_use=True,
               state_ag_fund=True),
        parcel("p-private-unknown", sq, ownership="private", in_use=None),
        parcel("p-municipal-in-use", sq, ownership="municipal", in_use=True),
        parcel("p-state-fund", sq, ownership="state", in_use=True, state_ag_fund=True,
               land_category="agricultural"),
        parcel("p-state-reserve", sq, ownership="state", in_use=True, land_category="reserve"),
        parcel("p-state-in-use", sq, ownership="state", in_use=True),
        parcel("p-all", sq, ownership="municipal", in_use=False, land_category="reserve",
               state_ag_fund=True),
    ])
    out = candidate_parcels(parcels)
    reasons = dict(zip(out["cadastral_no"], out["candidate_reasons"], strict=True))
    assert reasons == {
        "p-private-unused": "unused",
        "p-municipal-in-use": "municipal",
        "p-state-fund": "state_ag_fund",
        "p-state-reserve": "reserve",
        "p-all": "unused;reserve;state_ag_fund;municipal",
    }
    assert out.loc[out["cadastral_no"] == "p-all", "candidate_unused"].item()
    assert list(out.index) == [1, 5, 6, 7, 9]  # labels of the input kept


def test_candidates_missing_columns_all_named():
    bad = gpd.GeoDataFrame({"cadastral_no": ["x"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=CRS)
    with pytest.raises(ValidationError) as err:
        candidate_parcels(bad)
    assert {p.column for p in err.value.problems} == {
        "land_category", "ownership", "in_use", "state_ag_fund"}


def test_outlying_candidates_go_to_the_nearest_settlement():
    settlements = gpd.GeoDataFrame(
        {"name": ["A", "B"]},
        geometry=[shapely.box(0, 0, 100, 100), shapely.box(1000, 0, 1100, 100)], crs=CRS)
    parcels = frame([
        parcel("near-b", shapely.box(1150, 0, 1160, 10), settlement=None),
        parcel("far", shapely.box(5000, 0, 5010, 10), settlement=None),
        parcel("in-a", shapely.box(10, 10, 20, 20), settlement="A"),
    ])
    out = candidate_parcels(parcels, settlements=settlements, max_distance_m=500)
    got = dict(zip(out["cadastral_no"], out["settlement"], strict=True))
    assert got == {"near-b": "B", "far": "", "in-a": "A"}
    assert out["settlement_assigned"].tolist() == [True, False, False]


# ---------------------------------------------------------------- capacity

def test_target_category_follows_the_rulebook(rulebook):
    assert target_category("individual_housing", "settlement", rulebook) == "settlement"
    assert target_category("individual_housing", "agricultural", rulebook) == "settlement"
    assert target_category("industry", "reserve", rulebook) == rulebook.uses[
        "industry"].categories[0]


def test_capacity_counts_only_what_the_rules_leave(rulebook, two_zones):
    parcels = frame([
        parcel("in-z1", shapely.box(10, 10, 30, 30)),                       # 400 m², allowed
        parcel("straddle", shapely.box(80, 10, 120, 30)),                   # half in Z2
        parcel("in-z2", shapely.box(150, 10, 170, 30)),                     # all prohibited
        parcel("water", shapely.box(40, 40, 60, 60), land_category="water_fund"),  # no transfer
        parcel("farm", shapely.box(40, 70, 60, 90), land_category="agricultural"),
        parcel("private", shapely.box(60, 10, 70, 20), ownership="private", in_use=True),
    ])
    cap = land_capacity(parcels, two_zones, rulebook, uses=["individual_housing"])
    per = cap.parcels.set_index("cadastral_no")
    assert "private" not in per.index
    assert per.loc["in-z1", "developable_ha"] == pytest.approx(0.04)
    assert per.loc["straddle", "verdict"] == "prohibited"
    assert per.loc["straddle", "developable_ha"] == pytest.approx(0.04)  # the Z1 half
    assert per.loc["in-z2", "developable_ha"] == 0.0
    # water fund → settlement is impossible: nothing to cut away, the whole parcel is out
    assert per.loc["water", "whole_prohibited"] and per.loc["water", "developable_ha"] == 0.0
    assert per.loc["farm", "needs_category_change"]
    assert per.loc["farm", "target_category"] == "settlement"
    assert not per.loc["in-z1", "needs_category_change"]
    assert cap.table[["settlement", "use"]].values.tolist() == [["A", "individual_housing"]]
    row = cap.table.iloc[0]
    assert row["candidate_ha"] == pytest.approx(per["candidate_ha"].sum())
    assert row["developable_ha"] == pytest.approx(per["developable_ha"].sum())
    assert row["parcels"] == (per["developable_ha"] > 0).sum()
    assert list(cap.table.columns) == list(CAPACITY_COLUMNS)


def test_conditional_land_is_flagged(rulebook, two_zones):
    # commerce is conditional in an individual-housing zone
    parcels = frame([parcel("shop", shapely.box(10, 10, 30, 30))])
    cap = land_capacity(parcels, two_zones, rulebook, uses=["commerce"])
    assert cap.parcels["verdict"].item() == "conditional"
    assert cap.table["conditional_ha"].item() == pytest.approx(0.04)
    assert cap.table["developable_ha"].item() == pytest.approx(0.04)


def test_capacity_unknown_use_refused(rulebook, two_zones):
    parcels = frame([parcel("a", shapely.box(0, 0, 10, 10))])
    with pytest.raises(ValidationError) as err:
        land_capacity(parcels, two_zones, rulebook, uses=["housing", "spaceport"])
    assert len(err.value.problems) == 2


_CATS = ["settlement", "agricultural", "reserve", "water_fund", "industry_transport"]


@st.composite
def fabrics(draw: st.DrawFn) -> gpd.GeoDataFrame:
    n = draw(st.integers(1, 8))
    rows = []
    for i in range(n):
        x = draw(st.integers(0, 180))
        y = draw(st.integers(0, 80))
        w = draw(st.integers(1, 60))
        h = draw(st.integers(1, 30))
        rows.append(parcel(
            f"p{i}", shapely.box(x, y, x + w, y + h),
            land_category=draw(st.sampled_from(_CATS)),
            ownership=draw(st.sampled_from(["private", "municipal", "state"])),
            in_use=draw(st.booleans()), state_ag_fund=draw(st.booleans()),
        ))
    return frame(rows)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parcels=fabrics(), use=st.sampled_from(["individual_housing", "industry", "commerce"]))
def test_capacity_never_exceeds_candidates_nor_remainders(rulebook, two_zones, parcels, use):
    cap = land_capacity(parcels, two_zones, rulebook, uses=[use])
    per = cap.parcels
    assert (per["developable_ha"] <= per["candidate_ha"] + 1e-12).all()
    assert cap.table["developable_ha"].sum() <= cap.table["candidate_ha"].sum() + 1e-9
    # against the engine directly: never more than the area free of every prohibition
    cand = candidate_parcels(parcels)
    if len(cand):
        fits = cand["land_category"].isin(rulebook.uses[use].categories)
        for fit in (True, False):
            sub = cand.loc[fits == fit]
            if not len(sub):
                continue
            proposal = Proposal(target_use=use,
                                target_category=None if fit else rulebook.uses[use].categories[0])
            table = check_parcels(sub, proposal, two_zones, rulebook, with_remainder=True).table
            got = per.set_index("cadastral_no").loc[sub["cadastral_no"], "developable_ha"]
            assert (got.to_numpy() <= table["remainder_m2"].to_numpy() / 1e4 + 1e-12).all()
    # private land in use never appears
    private_in_use = parcels.loc[(parcels["ownership"] == "private") & parcels["in_use"],
                                 "cadastral_no"]
    assert not per["cadastral_no"].isin(private_in_use).any()


# ---------------------------------------------------------------- balance

def _capacity(rows: list[tuple[str, str, float]], uses: tuple[str, ...]) -> CapacityResult:
    table = pd.DataFrame(rows, columns=["settlement", "use", "developable_ha"])
    table["candidate_ha"] = table["developable_ha"] * 2
    table["conditional_ha"] = 0.0
    table["parcels"] = 1
    return CapacityResult(table=table[list(CAPACITY_COLUMNS)],
                          parcels=gpd.GeoDataFrame(geometry=[], crs=CRS), uses=uses)


def _demand() -> pd.DataFrame:
    rows = []
    for settlement in ("A", "B"):
        for year, scale in ((2025, 1.0), (2026, 2.0)):
            for scenario, s in (("medium", 1.0), ("high", 1.5)):
                rows += [
                    (settlement, year, scenario, "individual_housing", "population",
                     3.0 * scale * s, 30 * scale * s, "dwellings"),
                    (settlement, year, scenario, "individual_housing", "backlog",
                     1.0 * scale * s, 10 * scale * s, "dwellings"),
                    (settlement, year, scenario, "school", "population", 0.5 * scale * s,
                     100 * scale * s, "places"),
                    (settlement, year, scenario, "industry", "sector_growth", 2.0 * scale * s,
                     40 * scale * s, "jobs"),
                ]
    return pd.DataFrame(rows, columns=["settlement", "year", "scenario", "use", "driver",
                                       "hectares", "quantity", "unit"])


def test_balance_deficit_surplus_and_unmeasured_use():
    demand = _demand()
    cap = _capacity([("A", "individual_housing", 5.0), ("B", "individual_housing", 1.0),
                     ("A", "school", 0.0)], uses=("individual_housing", "school"))
    bal = demand_balance(demand, cap, scenario="medium")
    assert set(bal["scenario"]) == {"medium"}
    row = bal.set_index(["settlement", "year", "use"])
    # drivers summed: 3 + 1 ha
    assert row.loc[("A", 2025, "individual_housing"), "demand_ha"] == pytest.approx(4.0)
    assert row.loc[("A", 2025, "individual_housing"), "status"] == "surplus"
    assert row.loc[("A", 2025, "individual_housing"), "surplus_ha"] == pytest.approx(1.0)
    assert row.loc[("A", 2026, "individual_housing"), "deficit_ha"] == pytest.approx(3.0)
    assert row.loc[("B", 2025, "individual_housing"), "balance_ha"] == pytest.approx(-3.0)
    # school measured, no land in B: capacity 0, measured; industry never measured
    assert row.loc[("B", 2025, "school"), "capacity_ha"] == 0.0
    assert row.loc[("B", 2025, "school"), "capacity_measured"]
    assert row.loc[("A", 2025, "industry"), "capacity_ha"] == 0.0
    assert not row.loc[("A", 2025, "industry"), "capacity_measured"]
    assert row.loc[("A", 2025, "industry"), "status"] == "deficit"


def test_balance_totals_add_up():
    demand = _demand()
    cap = _capacity([("A", "individual_housing", 5.0), ("B", "school", 3.0)],
                    uses=("individual_housing", "school"))
    bal = demand_balance(demand, cap)
    assert set(bal["scenario"]) == {"medium", "high"}
    totals = balance_totals(bal).set_index(["scenario", "year"])
    want = demand.groupby(["scenario", "year"])["hectares"].sum()
    assert np.allclose(totals["demand_ha"].reindex(want.index), want)
    detail = bal.assign(net=bal["capacity_ha"] - bal["demand_ha"]).groupby(
        ["scenario", "year"])[["deficit_ha", "net"]].sum()
    assert np.allclose(totals["deficit_ha"].reindex(detail.index), detail["deficit_ha"])
    assert np.allclose(totals["net_ha"].reindex(detail.index), detail["net"])
    by_use = balance_totals(bal, by=("scenario", "year", "use"))
    assert by_use["deficit_ha"].sum() == pytest.approx(totals["deficit_ha"].sum())


def test_balance_refuses_a_frame_without_columns():
    with pytest.raises(ValidationError):
        demand_balance(pd.DataFrame({"use": ["x"]}), _capacity([], uses=()))


# ---------------------------------------------------------------- demo end to end

def test_isfana_capacity(rulebook):
    from jer_data.demo.generate import build_isfana

    demo = build_isfana()
    lay = ConstraintLayers.from_frames(rulebook=rulebook, **{name: demo[name] for name in (
        "zones", "protected_areas", "water_bodies", "forest_fund", "hazard_zones",
        "restrictions")})
    cap = land_capacity(demo["parcels"], lay, rulebook, uses=["individual_housing", "school"],
                        settlements=demo["settlements"], n_jobs=2)
    per = cap.parcels
    assert set(per["settlement"]) <= set(demo["settlements"]["name"]) | {""}
    assert (per["developable_ha"] <= per["candidate_ha"] + 1e-12).all()
    # some prohibited parcels keep a partial remainder; none counts beyond it
    prohibited = per[per["verdict"] == "prohibited"]
    partial = prohibited[(prohibited["developable_ha"] > 0)
                         & (prohibited["developable_ha"] < prohibited["candidate_ha"] - 1e-6)]
    assert len(partial) > 0
    total = cap.total(by=("use",)).set_index("use")
    assert total.loc["individual_housing", "developable_ha"] == pytest.approx(
        per.loc[per["use"] == "individual_housing", "developable_ha"].sum())
    assert (total["developable_ha"] > 0).all()


def _capacity_one_check_per_group(cand, layers, rulebook, uses, min_developable_m2=1.0):
    """Capacity as it was measured before the overlaps were shared between uses.

    One full :func:`check_parcels` with remainders per use and per category group (fits
    the use / must change category), developable land from each call's own remainders.
    """
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
            batch = check_parcels(sub, Proposal(target_use=use, target_category=target), layers,
                                  rulebook, with_remainder=True)
            t, reasons = batch.table, batch.reasons
            live = ~reasons["note"].to_numpy(dtype=bool)
            prohibited = (reasons["regime"] == "prohibited").to_numpy(dtype=bool)
            spatial = reasons["kind"].isin(("zoning", "restriction")).to_numpy() & pd.notna(
                reasons["feature_id"]).to_numpy()
            whole = np.zeros(len(sub), dtype=bool)
            whole[reasons["row"].to_numpy(dtype=np.int64)[live & prohibited & ~spatial]] = True
            remainder = np.minimum(t["remainder_m2"].to_numpy(dtype=float),
                                   t["area_m2"].to_numpy(dtype=float))
            developable = np.where(whole, 0.0, remainder)
            developable = np.where((developable > 0.0) & (developable >= min_developable_m2),
                                   developable, 0.0)
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
        frames.append(pd.concat(parts, ignore_index=True).sort_values("_pos", kind="stable"))
    return pd.concat(frames, ignore_index=True).drop(columns="_pos")


@pytest.fixture(scope="module")
def isfana(rulebook):
    from jer_data.demo.generate import build_isfana

    demo = build_isfana()
    lay = ConstraintLayers.from_frames(rulebook=rulebook, **{name: demo[name] for name in (
        "zones", "protected_areas", "water_bodies", "forest_fund", "hazard_zones",
        "restrictions")})
    return demo, lay


@pytest.mark.parametrize(("n_jobs", "min_developable_m2", "shared"),
                         [(1, 1.0, False), (2, 1.0, True), (2, 0.0, False), (1, 500.0, True)])
def test_isfana_capacity_equals_one_check_per_use(rulebook, isfana, n_jobs, min_developable_m2,
                                                  shared):
    """Sharing overlaps and cuts between uses, and skipping cuts that can leave nothing
    worth counting, changes no number, not even a bit."""
    from spatial.zoning.engine import measure

    demo, lay = isfana
    parcels = demo["parcels"]
    cand = candidate_parcels(parcels, settlements=demo["settlements"])
    uses = ["individual_housing", "school", "industry", "agriculture", "pasture", "landfill"]
    measured = measure(parcels.geometry.to_numpy(), lay) if shared else None
    cap = land_capacity(parcels, lay, rulebook, uses=uses, candidates=cand, n_jobs=n_jobs,
                        min_developable_m2=min_developable_m2, measured=measured)
    want = _capacity_one_check_per_group(cand, lay, rulebook, uses, min_developable_m2)
    got = pd.DataFrame(cap.parcels.drop(columns=cap.parcels.geometry.name))
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    # the cuts really matter here: prohibited parcels that keep only a part
    partial = got[(got["verdict"] == "prohibited") & (got["developable_ha"] > 0)
                  & (got["developable_ha"] < got["candidate_ha"])]
    assert partial["use"].nunique() >= 2
    assert (cap.parcels.geometry.to_numpy()
            == cand.geometry.to_numpy()[np.tile(np.arange(len(cand)), len(uses))]).all()


def test_a_shared_measurement_checks_like_a_fresh_one(rulebook):
    """check_parcels with measure(all).take(sel) gives what it measures itself for sel."""
    from jer_data.demo.generate import build_isfana
    from spatial.zoning.engine import measure

    demo = build_isfana()
    lay = ConstraintLayers.from_frames(rulebook=rulebook, **{name: demo[name] for name in (
        "zones", "protected_areas", "water_bodies", "forest_fund", "hazard_zones",
        "restrictions")})
    parcels = demo["parcels"]
    sel = np.flatnonzero(parcels["land_category"].to_numpy() != "settlement")[::3]
    measured = measure(parcels.geometry.to_numpy(), lay, n_jobs=2)
    proposal = Proposal(target_use="industry", target_category="industry_transport")
    fresh = check_parcels(parcels.iloc[sel], proposal, lay, rulebook, with_remainder=True)
    shared = check_parcels(parcels.iloc[sel], proposal, lay, rulebook, with_remainder=True,
                           measured=measured.take(sel))
    pd.testing.assert_frame_equal(shared.table, fresh.table, check_exact=True)
    pd.testing.assert_frame_equal(shared.reasons, fresh.reasons, check_exact=True)
    assert (fresh.table["verdict"] == "prohibited").any()
    with pytest.raises(ValueError, match="measured holds"):
        check_parcels(parcels.iloc[sel], proposal, lay, rulebook, measured=measured)
    with pytest.raises(ValueError, match="twice"):
        measured.take(np.array([sel[0], sel[0]]))
