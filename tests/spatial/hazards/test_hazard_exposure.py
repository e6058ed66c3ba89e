"""Exposure tables and relocation candidates on a hand-made scene (EPSG:32642).

Scene, in metres from (600 000, 4 400 000):

* mudflow high ``[0,100]×[0,100]`` nested in mudflow medium ``[0,200]×[0,100]``;
  flood low ``[0,300]×[0,50]``.
* parcels P1 settlement ``[50,150]×[0,100]`` (high 0.5 ha, medium 0.5 ha, flood 0.5 ha),
  P2 agricultural ``[150,250]×[0,100]``, P3 agricultural far away, P4 settlement only
  touching the medium zone's edge.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from spatial.errors import CRSError, ValidationError
from spatial.hazards import disjoint_hazard_zones, hazard_exposure, relocation_candidates

X0, Y0 = 600_000.0, 4_400_000.0


def b(x0: float, y0: float, x1: float, y1: float) -> box:
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def p(x: float, y: float) -> Point:
    return Point(X0 + x, Y0 + y)


@pytest.fixture
def zones() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "hazard_id": ["MF-1", "MF-2", "FL-1"],
            "hazard_type": ["mudflow", "mudflow", "flood"],
            "hazard_class": ["high", "medium", "low"],
        },
        geometry=[b(0, 0, 100, 100), b(0, 0, 200, 100), b(0, 0, 300, 50)],
        crs=32642,
    )


@pytest.fixture
def parcels() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "cadastral_no": ["P1", "P2", "P3", "P4"],
            "land_category": ["settlement", "agricultural", "agricultural", "settlement"],
            "designated_use": ["individual_housing", None, None, "individual_housing"],
            "holder": ["Асанов А.", "Бекова Б.", "Осмонов О.", "Токтогулов Т."],
            "settlement": ["Isfana", None, None, "Isfana"],
        },
        geometry=[
            b(50, 0, 150, 100),
            b(150, 0, 250, 100),
            b(400, 0, 500, 100),
            b(100, 100, 200, 200),
        ],
        crs=32642,
    )


@pytest.fixture
def settlements() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "name": ["S1", "S2", "S3", "S4"],
            "households": [100, 10, 5, 7],
            "population": [400, 40, 20, 30],
        },
        geometry=[b(0, 0, 100, 200), p(150, 25), p(100, 50), p(1_000, 1_000)],
        crs=32642,
    )


@pytest.fixture
def facilities() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "facility_id": ["F1", "F2", "F3"],
            "kind": ["school", "clinic", "kindergarten"],
            "capacity": [300, 50, None],
        },
        geometry=[p(20, 20), b(190, 40, 210, 60), p(120, 80)],
        crs=32642,
    )


def row(frame: pd.DataFrame, **where: str) -> pd.Series:
    mask = np.logical_and.reduce([frame[k] == v for k, v in where.items()])
    match = frame[mask]
    assert len(match) == 1, f"expected one row for {where}, got {len(match)}"
    return match.iloc[0]


def test_disjoint_zones_worst_class_wins(zones: gpd.GeoDataFrame) -> None:
    out = disjoint_hazard_zones(zones)
    assert out[["hazard_type", "hazard_class"]].values.tolist() == [
        ["mudflow", "high"],
        ["mudflow", "medium"],
        ["flood", "low"],
    ]
    assert out["area_ha"].tolist() == pytest.approx([1.0, 1.0, 1.5])
    mud = out[out["hazard_type"] == "mudflow"].geometry
    assert mud.iloc[0].intersection(mud.iloc[1]).area == pytest.approx(0.0)


def test_classes_table(zones, parcels, settlements, facilities) -> None:
    summary = hazard_exposure(
        zones, parcels=parcels, settlements=settlements, facilities=facilities
    )
    classes = summary.classes
    assert list(classes.columns) == [
        "hazard_type",
        "hazard_class",
        "zone_ha",
        "parcels",
        "parcel_overlap_ha",
        "households",
        "population",
        "facilities",
        "facility_capacity",
    ]
    high = row(classes, hazard_type="mudflow", hazard_class="high")
    assert (high["zone_ha"], high["parcels"], high["parcel_overlap_ha"]) == pytest.approx(
        (1.0, 1, 0.5)
    )
    assert (high["households"], high["population"]) == pytest.approx((55.0, 220.0))
    assert (high["facilities"], high["facility_capacity"]) == (1, 300.0)
    medium = row(classes, hazard_type="mudflow", hazard_class="medium")
    # P1 is in high and medium: counted once (high), but its medium hectares count here.
    assert (medium["parcels"], medium["parcel_overlap_ha"]) == pytest.approx((1, 1.0))
    assert (medium["households"], medium["population"]) == pytest.approx((10.0, 40.0))
    assert (medium["facilities"], medium["facility_capacity"]) == (2, 50.0)
    flood = row(classes, hazard_type="flood", hazard_class="low")
    assert (flood["zone_ha"], flood["parcels"], flood["parcel_overlap_ha"]) == pytest.approx(
        (1.5, 2, 1.0)
    )
    assert (flood["households"], flood["population"]) == pytest.approx((40.0, 160.0))
    assert (flood["facilities"], flood["facility_capacity"]) == (2, 350.0)
    assert summary.crs == "EPSG:32642"


def test_land_table_is_overlap_hectares_by_category(zones, parcels) -> None:
    land = hazard_exposure(zones, parcels=parcels).land
    expected = {
        ("mudflow", "high", "settlement"): (1, 0.5),
        ("mudflow", "medium", "settlement"): (0, 0.5),
        ("mudflow", "medium", "agricultural"): (1, 0.5),
        ("flood", "low", "settlement"): (1, 0.5),
        ("flood", "low", "agricultural"): (1, 0.5),
    }
    got = {
        (r.hazard_type, r.hazard_class, r.land_category): (r.parcels, r.overlap_ha)
        for r in land.itertuples()
    }
    assert got.keys() == expected.keys()
    for key, (count, hectares) in expected.items():
        assert got[key][0] == count and got[key][1] == pytest.approx(hectares)


def test_settlement_and_facility_rows(zones, parcels, settlements, facilities) -> None:
    summary = hazard_exposure(
        zones, parcels=parcels, settlements=settlements, facilities=facilities
    )
    s1 = row(summary.settlements, hazard_type="mudflow", hazard_class="high", settlement="S1")
    assert (s1["share"], s1["households"], s1["population"]) == pytest.approx((0.5, 50.0, 200.0))
    s3 = summary.settlements[summary.settlements["settlement"] == "S3"]
    # A point on the high/medium boundary counts in the worst class only.
    assert sorted(zip(s3["hazard_type"], s3["hazard_class"], strict=True)) == [
        ("flood", "low"),
        ("mudflow", "high"),
    ]
    assert "S4" not in set(summary.settlements["settlement"])
    kg = row(summary.facilities, hazard_type="mudflow", hazard_class="medium", kind="kindergarten")
    assert (kg["facilities"], kg["capacity"]) == (1, 0.0)


def test_overlapping_zones_of_one_class_count_once() -> None:
    zones = gpd.GeoDataFrame(
        {"hazard_type": ["landslide", "landslide"], "hazard_class": ["high", "high"]},
        geometry=[b(0, 0, 100, 100), b(50, 0, 150, 100)],
        crs=32642,
    )
    parcels = gpd.GeoDataFrame(
        {"land_category": ["reserve"]}, geometry=[b(0, 0, 150, 100)], crs=32642
    )
    summary = hazard_exposure(zones, parcels=parcels)
    high = row(summary.classes, hazard_type="landslide", hazard_class="high")
    assert (high["zone_ha"], high["parcels"], high["parcel_overlap_ha"]) == pytest.approx(
        (1.5, 1, 1.5)
    )
    assert (high["households"], high["facilities"]) == (0.0, 0)


def test_geographic_layers_are_measured_in_utm(zones, parcels) -> None:
    summary = hazard_exposure(zones.to_crs(4326), parcels=parcels.to_crs(4326))
    assert summary.crs == "EPSG:32642"
    high = row(summary.classes, hazard_type="mudflow", hazard_class="high")
    assert high["parcel_overlap_ha"] == pytest.approx(0.5, rel=1e-6)
    with pytest.raises(CRSError):
        hazard_exposure(zones, parcels=parcels, crs=4326)


def test_every_problem_is_reported_at_once(zones, parcels) -> None:
    bad_zones = zones.copy()
    bad_zones.loc[1, "hazard_type"] = "tsunami"
    bad_zones.loc[2, "hazard_class"] = "extreme"
    bad_zones = pd.concat(
        [
            bad_zones,
            gpd.GeoDataFrame(
                {"hazard_id": ["PT"], "hazard_type": ["flood"], "hazard_class": ["low"]},
                geometry=[p(0, 0)],
                crs=32642,
            ),
        ],
        ignore_index=True,
    )
    bad_parcels = parcels.drop(columns="land_category")
    with pytest.raises(ValidationError) as info:
        hazard_exposure(bad_zones, parcels=bad_parcels)
    found = {(q.code, q.layer, q.row, q.feature, q.column) for q in info.value.problems}
    assert ("unknown_code", "hazard_zones", 1, "MF-2", "hazard_type") in found
    assert ("unknown_code", "hazard_zones", 2, "FL-1", "hazard_class") in found
    assert ("invalid_geometry_type", "hazard_zones", 3, "PT", None) in found
    assert ("missing_column", "parcels", None, None, "land_category") in found


def test_to_dict_is_json_and_to_frames_uses_labels(zones, parcels, settlements, facilities) -> None:
    summary = hazard_exposure(
        zones, parcels=parcels, settlements=settlements, facilities=facilities
    )
    data = json.loads(json.dumps(summary.to_dict()))
    assert data["classes"][0]["hazard_type"] == "mudflow"
    assert {"classes", "land", "settlements", "facilities", "crs"} <= data.keys()
    ru = summary.to_frames("ru")
    assert ru["classes"]["hazard_type"].iloc[0] == "сель"
    assert ru["classes"]["hazard_class"].iloc[0] == "высокая"
    assert "земли населённых пунктов" in set(ru["land"]["land_category"])
    ky = summary.to_frames("ky")
    assert ky["facilities"]["kind"].iloc[0] == "мектеп"
    assert ky["classes"]["hazard_type"].iloc[0] == "сел"
    # Codes stay in the data; labels only in the frames for people.
    assert summary.classes["hazard_type"].iloc[0] == "mudflow"


def test_no_exposure_gives_zero_rows_per_zone_class(zones) -> None:
    parcels = gpd.GeoDataFrame(
        {"land_category": ["reserve"]}, geometry=[b(900, 900, 950, 950)], crs=32642
    )
    summary = hazard_exposure(zones, parcels=parcels)
    assert len(summary.classes) == 3
    assert (summary.classes["parcels"] == 0).all() and summary.land.empty


# ------------------------------------------------------------------------------ relocation


@pytest.fixture
def relocation_zones(zones) -> gpd.GeoDataFrame:
    extra = gpd.GeoDataFrame(
        {
            "hazard_id": ["LS-1", "FL-2"],
            "hazard_type": ["landslide", "flood"],
            "hazard_class": ["high", "high"],
        },
        geometry=[b(0, 0, 100, 100), b(400, 0, 500, 50)],
        crs=32642,
    )
    return pd.concat([zones, extra], ignore_index=True)


def test_relocation_parcels(relocation_zones, parcels) -> None:
    more = gpd.GeoDataFrame(
        {"cadastral_no": ["P6"], "land_category": ["agricultural"], "designated_use": ["pasture"]},
        geometry=[b(0, 0, 50, 50)],
        crs=32642,
    )
    parcels = pd.concat([parcels, more], ignore_index=True)
    parcels.loc[2, "designated_use"] = "individual_housing"  # P3, agricultural land with a house
    result = relocation_candidates(relocation_zones, parcels=parcels)
    table = result.parcels
    assert table["cadastral_no"].tolist() == ["P1", "P3"]
    assert "holder" not in table.columns
    p1 = table.iloc[0]
    # Mudflow and landslide high zones coincide: the overlap counts once.
    assert (p1["hazard_types"], p1["worst_class"]) == ("mudflow;landslide", "high")
    assert (p1["overlap_ha"], p1["overlap_share"], p1["area_ha"]) == pytest.approx((0.5, 0.5, 1.0))
    p3 = table.iloc[1]
    assert (p3["hazard_types"], p3["overlap_share"]) == ("flood", pytest.approx(0.5))
    assert table.crs == parcels.crs
    assert table.geometry.iloc[0].equals(parcels.geometry.iloc[0])
    per_type = result.parcel_hazards
    assert sorted(zip(per_type["cadastral_no"], per_type["hazard_type"], strict=True)) == [
        ("P1", "landslide"),
        ("P1", "mudflow"),
        ("P3", "flood"),
    ]
    assert relocation_candidates(relocation_zones, parcels=parcels, min_share=0.6).parcels.empty


def test_relocation_settlements(relocation_zones, parcels, settlements) -> None:
    result = relocation_candidates(relocation_zones, parcels=parcels, settlements=settlements)
    table = result.settlements.set_index("settlement")
    assert set(table.index) == {"S1", "S3"}
    assert table.loc["S1", "share"] == pytest.approx(0.5)
    assert table.loc["S1", "households_exposed"] == pytest.approx(50.0)
    assert table.loc["S3", "population_exposed"] == pytest.approx(20.0)
    assert table.loc["S3", "hazard_types"] == "mudflow;landslide"
    frames = result.to_frames("en")
    assert (
        frames["settlements"].set_index("settlement").loc["S3", "hazard_types"]
        == "mudflow, landslide"
    )
    assert frames["parcels"]["hazard_class"].iloc[0] == "high"
    json.dumps(result.to_dict())


def test_relocation_with_medium_classes(relocation_zones, parcels) -> None:
    result = relocation_candidates(relocation_zones, parcels=parcels, classes=("high", "medium"))
    p1 = result.parcels.set_index("cadastral_no").loc["P1"]
    assert p1["overlap_share"] == pytest.approx(1.0)  # high 0.5 + medium 0.5
    assert p1["worst_class"] == "high"
    with pytest.raises(ValidationError, match="severe"):
        relocation_candidates(relocation_zones, parcels=parcels, classes=("severe",))
