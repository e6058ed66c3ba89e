"""check_parcels: every parcel at once, the same answers as the single check."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from spatial.errors import CRSError, ValidationError
from spatial.zoning import ConstraintLayers, Proposal, check_parcels, check_transformation

from .conftest import TWO_ZONES, box, frame, hazard, layers, restriction


@pytest.fixture(scope="module")
def lay(rulebook):
    return layers(
        rulebook,
        zones=TWO_ZONES,
        hazard_zones=[hazard("H1", "flood", "high", box(150, 0, 200, 100))],
        restrictions=[restriction("R1", "power_line_corridor", box(0, 45, 100, 55))],
    )


@pytest.fixture(scope="module")
def parcels():
    return frame([
        # housing, wholly in Z1: complies
        {"cadastral_no": "P1", "land_category": "settlement",
         "designated_use": "individual_housing", "geometry": box(10, 10, 30, 30)},
        # housing under the power line (10 x 20 = 200 m² of 400): prohibited
        {"cadastral_no": "P2", "land_category": "settlement",
         "designated_use": "individual_housing", "geometry": box(40, 40, 60, 60)},
        # crops on agricultural land in Z2, half in the high flood zone (permitted there)
        {"cadastral_no": "P3", "land_category": "agricultural", "designated_use": "agriculture",
         "geometry": box(130, 10, 170, 30)},
        # a shop on agricultural land: does not fit the category, and Z2 conditions it
        {"cadastral_no": "P4", "land_category": "agricultural", "designated_use": "commerce",
         "geometry": box(110, 60, 120, 70)},
        # no recorded use, outside every zone
        {"cadastral_no": "P5", "land_category": "reserve", "designated_use": None,
         "geometry": box(300, 0, 310, 10)},
    ]).set_index(pd.Index([10, 20, 30, 40, 50]))


def test_compliance_of_current_uses(parcels, lay, rulebook):
    result = check_parcels(parcels, None, lay, rulebook)
    table = result.table
    assert list(table.index) == [10, 20, 30, 40, 50]
    assert list(table["cadastral_no"]) == ["P1", "P2", "P3", "P4", "P5"]
    assert list(table["verdict"]) == ["allowed", "prohibited", "allowed", "prohibited",
                                      "allowed"]
    assert list(table["worst_regime"].iloc[:4]) == ["permitted", "prohibited", "permitted",
                                                    "prohibited"]
    assert table["worst_regime"].isna().tolist() == [False] * 4 + [True]
    assert list(table["n_reasons"]) == [1, 2, 2, 2, 0]
    assert list(table["n_notes"]) == [0, 0, 0, 0, 1]
    assert table.loc[20, "rule_ids"] == (
        "zoning.residential_individual;restrictions.power_line_corridor")
    assert table.loc[20, "prohibiting_rules"] == "restrictions.power_line_corridor"
    assert table.loc[40, "rule_ids"] == "uses.commerce.categories;zoning.agricultural"
    assert table.loc[20, "max_prohibited_m2"] == 200.0
    assert table.loc[20, "max_prohibited_share"] == 50.0
    assert list(table["area_m2"]) == [400.0, 400.0, 800.0, 100.0, 100.0]
    flood = result.reasons[(result.reasons["parcel"] == 30)
                           & (result.reasons["rule_id"] == "hazard_zones.flood.high")]
    assert flood[["feature_id", "regime", "overlap_m2", "overlap_share"]].values.tolist() == [
        ["H1", "permitted", 400.0, 50.0]]
    assert result.proposal is None


def test_one_proposal_for_every_parcel(parcels, lay, rulebook):
    result = check_parcels(parcels, Proposal(target_use="school", target_category="settlement"),
                           lay, rulebook)
    table = result.table
    # P1 in Z1: school permitted, no transition (already settlement)
    assert table.loc[10, "verdict"] == "allowed"
    # P3: agricultural -> settlement is conditional; Z2 prohibits schools; the high flood
    # zone prohibits them and blocks settlement
    assert table.loc[30, "verdict"] == "prohibited"
    assert table.loc[30, "prohibiting_rules"] == "zoning.agricultural;hazard_zones.flood.high"
    reasons = result.reasons_for(30)
    assert [r.kind for r in reasons] == ["transition", "zoning", "restriction"]
    assert reasons[0].authority == "district_administration"
    assert reasons[2].blocks_category
    # P5 reserve -> settlement (district administration), outside every zone
    assert table.loc[50, "verdict"] == "conditional"
    assert [n.rule_id for n in result.reasons_for(50, notes=True)] == ["zoning.outside"]
    assert result.proposal == Proposal(target_use="school", target_category="settlement")


@pytest.mark.parametrize(
    "proposal",
    [None, Proposal(target_use="individual_housing", target_category="settlement", floors=4),
     Proposal(target_category="water_fund")],
)
def test_single_check_equals_the_batch(parcels, lay, rulebook, proposal):
    batch = check_parcels(parcels, proposal, lay, rulebook, with_remainder=True)
    for label, (_, row) in zip(parcels.index, parcels.iterrows(), strict=True):
        single = check_transformation(row, proposal or Proposal(), lay, rulebook)
        assert single.verdict == batch.table.loc[label, "verdict"]
        assert list(single.reasons) == batch.reasons_for(label)
        assert list(single.notes) == batch.reasons_for(label, notes=True)
        assert single.remainder_m2 == pytest.approx(batch.table.loc[label, "remainder_m2"])
        assert single.area_m2 == batch.table.loc[label, "area_m2"]


def test_two_threads_give_the_same_answer(rulebook):
    # 120 x 100 parcels of 10 x 10 m over 30 zones and a hazard: enough pairs for threads
    xs, ys = np.meshgrid(np.arange(120) * 10.0, np.arange(100) * 10.0)
    grid = shapely.box(xs.ravel(), ys.ravel(), xs.ravel() + 10, ys.ravel() + 10)
    parcels = gpd.GeoDataFrame(
        {"cadastral_no": [f"G{i}" for i in range(grid.size)], "land_category": "settlement",
         "designated_use": "school"}, geometry=grid, crs=32642)
    zones = [
        {"zone_id": f"Z{i}", "zone_type": ("residential_individual", "green", "production")[i % 3],
         "geometry": box(i * 40 + 3, 0, i * 40 + 43, 1000)}
        for i in range(30)
    ]
    lay = layers(rulebook, zones=zones,
                 hazard_zones=[hazard("H", "landslide", "medium", shapely.Point(600, 500)
                                      .buffer(300))])
    one = check_parcels(parcels, None, lay, rulebook, n_jobs=1)
    two = check_parcels(parcels, None, lay, rulebook, n_jobs=2)
    pd.testing.assert_frame_equal(one.table, two.table)
    pd.testing.assert_frame_equal(one.reasons, two.reasons)
    assert (one.table["verdict"] == "prohibited").sum() > 0
    assert (one.table["verdict"] == "allowed").sum() > 0


def test_each_thread_has_its_own_prepared_features(lay):
    index = lay.layer("zones")
    copy = index.replica(1)
    assert index.replica(0) is index.geoms
    assert index.replica(1) is copy  # built once
    assert all(a is not b for a, b in zip(index.geoms, copy, strict=True))
    assert shapely.equals(index.geoms, copy).all()
    assert shapely.is_prepared(copy).all()


def test_geopackage_output(parcels, lay, rulebook, tmp_path):
    result = check_parcels(parcels, None, lay, rulebook)
    out = result.to_geodataframe("ru")
    assert list(out["verdict"]) == list(result.table["verdict"])
    assert "ЛЭП" in out.loc[20, "messages"]
    assert out.loc[50, "messages"] == ""
    path = tmp_path / "compliance.gpkg"
    pyogrio.write_dataframe(out, path, layer="compliance")
    back = pyogrio.read_dataframe(path, layer="compliance")
    assert list(back["verdict"]) == list(out["verdict"])
    assert back.crs.to_epsg() == 32642


def test_parcels_in_another_crs(parcels, lay, rulebook):
    with pytest.raises(CRSError, match="EPSG:4326"):
        check_parcels(parcels.set_crs(4326, allow_override=True), None, lay, rulebook)


def test_unknown_codes_name_the_parcels(parcels, lay, rulebook):
    bad = parcels.copy()
    bad.loc[[10, 20], "designated_use"] = "housing"
    bad.loc[30, "land_category"] = "farmland"
    with pytest.raises(ValidationError) as err:
        check_parcels(bad, None, lay, rulebook)
    found = {(p.column, p.details["value"]): p for p in err.value.problems}
    assert set(found) == {("designated_use", "housing"), ("land_category", "farmland")}
    assert "P1, P2" in found[("designated_use", "housing")].message
    assert found[("land_category", "farmland")].row == 2
    # a proposal's own use replaces the recorded ones, so they need not be known
    assert len(check_parcels(bad.drop(index=30), Proposal(target_use="school"), lay,
                             rulebook).table) == 4


def test_invalid_parcel_geometry(parcels, lay, rulebook):
    bad = parcels.copy()
    bad.loc[40, "geometry"] = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    with pytest.raises(ValidationError) as err:
        check_parcels(bad, None, lay, rulebook)
    [problem] = err.value.problems
    assert (problem.code, problem.row, problem.feature) == ("invalid_geometry", 3, "P4")


def test_empty_selection(parcels, lay, rulebook):
    result = check_parcels(parcels.iloc[:0], None, lay, rulebook)
    assert len(result.table) == 0 and len(result.reasons) == 0


def test_isfana_demo_end_to_end(rulebook):
    from jer_data.demo.generate import build_isfana

    demo = build_isfana()
    lay = ConstraintLayers.from_frames(
        rulebook=rulebook, **{name: demo[name] for name in (
            "zones", "protected_areas", "water_bodies", "forest_fund", "hazard_zones",
            "restrictions")},
    )
    parcels = demo["parcels"]
    result = check_parcels(parcels, None, lay, rulebook, n_jobs=2)
    assert len(result.table) == len(parcels)
    verdicts = result.table["verdict"].value_counts()
    assert set(verdicts.index) == {"allowed", "conditional", "prohibited"}
    # homes in the high flood and mudflow zones are the ones to plan relocation for
    live = result.reasons[~result.reasons["note"]]
    hazard_homes = live[live["rule_id"].isin(["hazard_zones.flood.high",
                                              "hazard_zones.mudflow.high"])
                        & (live["regime"] == "prohibited")]
    assert len(hazard_homes) > 0
    # the single check agrees with the batch on a sample of parcels
    for label in parcels.sample(15, random_state=0).index:
        single = check_transformation(parcels.loc[label], Proposal(), lay, rulebook)
        assert single.verdict == result.table.loc[label, "verdict"]
        assert list(single.reasons) == result.reasons_for(label)
