"""Social facilities: place deficits and hectares, computed by hand."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from spatial.demand import DemandNorms, facility_capacity, social_demand
from spatial.errors import ValidationError

from .test_housing import projection

NORMS = DemandNorms.default().with_values({
    "social.school.places_per_1000": 180,
    "social.school.ha_per_place": 0.004,
    "social.kindergarten.places_per_1000": 60,
    "social.kindergarten.ha_per_place": 0.0035,
    "social.clinic.places_per_1000": 20,
    "social.clinic.ha_per_place": 0.001,
}, source="test")


def _rows(frame: pd.DataFrame, year: int, use: str) -> pd.Series:
    sel = frame[(frame["year"] == year) & (frame["use"] == use)]
    return sel.set_index("driver")["quantity"]


def _hectares(frame: pd.DataFrame, year: int, use: str) -> pd.Series:
    sel = frame[(frame["year"] == year) & (frame["use"] == use)]
    return sel.set_index("driver")["hectares"]


def test_hand_computed_school_deficit() -> None:
    proj = projection({"A": [10000, 11000]}, {"A": 2000})
    facilities = pd.DataFrame({
        "facility_id": ["s1", "s2", "k1", "c1", "x1"],
        "kind": ["school", "school", "kindergarten", "clinic", "other"],
        "capacity": [1000, 500, 700, 300, 99999],
        "settlement": ["A"] * 5,
    })
    out = social_demand(proj, facilities=facilities, norms=NORMS)
    # Schools: 1 800 needed now, 1 980 in 2025 against 1 500 places.
    school = _rows(out, 2025, "school")
    assert school["existing_deficit"] == pytest.approx(300)
    assert school["population"] == pytest.approx(180)
    assert _hectares(out, 2025, "school").to_dict() == pytest.approx(
        {"existing_deficit": 1.2, "population": 0.72})
    # Kindergartens: 600 now, 660 in 2025 against 700: no deficit.
    assert _rows(out, 2025, "kindergarten").sum() == 0
    # Clinic → land use "health": 220 visits per shift against 300.
    assert _rows(out, 2025, "health").sum() == 0
    assert set(out["use"]) == {"school", "kindergarten", "health"}
    assert set(out.loc[out["use"] == "health", "unit"]) == {"visits per shift"}
    assert set(out.loc[out["use"] == "school", "unit"]) == {"places"}


def test_without_facilities_every_place_is_lacking() -> None:
    proj = projection({"A": [1000, 1000]}, {"A": 200})
    out = social_demand(proj, norms=NORMS)
    assert _rows(out, 2025, "school")["existing_deficit"] == pytest.approx(180)
    assert _rows(out, 2025, "kindergarten")["existing_deficit"] == pytest.approx(60)


def test_observed_deficit_wins_over_a_lower_norm_isfana() -> None:
    # Isfana: 15 schools, 6 704 pupils, 2 046 over capacity → capacity 4 658.
    proj = projection({"Isfana": [31613, 31613 * 1.02]}, {"Isfana": 7235})
    facilities = pd.DataFrame({"facility_id": ["s"], "kind": ["school"], "capacity": [4658],
                               "settlement": ["Isfana"]})
    observed = pd.DataFrame({"settlement": ["Isfana"], "kind": ["school"], "places": [2046]})
    out = social_demand(proj, facilities=facilities, norms=NORMS, observed_deficit=observed)
    school = _rows(out, 2025, "school")
    # The norm (180 per 1 000 → 5 806 places) is below the 6 704 pupils observed.
    assert school["existing_deficit"] == pytest.approx(2046)
    assert school["population"] == pytest.approx(6704 * 1.02 - 6704)
    # Without the observation the norm decides.
    plain = _rows(social_demand(proj, facilities=facilities, norms=NORMS), 2025, "school")
    assert plain["existing_deficit"] == pytest.approx(31613 * 0.18 - 4658)


def test_capacity_per_settlement_from_a_geodataframe() -> None:
    facilities = gpd.GeoDataFrame({
        "facility_id": ["s1", "s2", "k1"], "kind": ["school", "School ", "kindergarten"],
        "capacity": [100, 50, 30], "settlement": ["A", "A", "B"],
    }, geometry=shapely.points([[500000, 4400000]] * 3), crs=32642)
    cap = facility_capacity(facilities, known_settlements=["A", "B", "C"])
    assert cap.loc["A", "school"] == 150
    assert cap.loc["B", "kindergarten"] == 30
    assert cap.loc["C"].sum() == 0


def test_bad_facilities_are_reported_with_row_and_id() -> None:
    proj = projection({"A": [1000, 1000]}, {"A": 200})
    facilities = pd.DataFrame({
        "facility_id": ["s1", "h1", "s2", "s3", "s4"],
        "kind": ["school", "hospital", "school", "school", "kindergarten"],
        "capacity": [100, 10, -5, "many", 10],
        "settlement": ["A", "A", "A", "A", "Z"],
    })
    observed = pd.DataFrame({"settlement": ["A"], "kind": ["pool"], "places": [3]})
    with pytest.raises(ValidationError) as err:
        social_demand(proj, facilities=facilities, norms=NORMS, observed_deficit=observed)
    got = {(p.code, p.row, p.feature) for p in err.value.problems}
    assert ("unknown_code", 1, "h1") in got
    assert ("negative_count", 2, "s2") in got
    assert ("bad_type", 3, "s3") in got
    assert ("unknown_settlement", 4, "s4") in got
    assert any(p.layer == "observed_deficit" and p.code == "unknown_code"
               for p in err.value.problems)


def test_population_decline_shrinks_the_deficit_first() -> None:
    proj = projection({"A": [1000, 500]}, {"A": 200})
    out = social_demand(proj, norms=NORMS)
    school = _rows(out, 2025, "school")
    assert school["existing_deficit"] == pytest.approx(90)
    assert school["population"] == 0
