"""Golden tests of check_transformation: hand-computed verdicts, reasons and areas."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from spatial.errors import CRSError, InputError, ValidationError
from spatial.zoning import (
    ConstraintLayers,
    Proposal,
    check_transformation,
    derive_water_zones,
)

from .conftest import (
    CRS,
    TWO_ZONES,
    box,
    frame,
    hazard,
    layers,
    protected,
    restriction,
    zone,
)

HOUSING = Proposal(target_use="individual_housing", current_category="settlement")


def kinds(result) -> list[tuple[str, str, str | None, float | None]]:
    return [(r.kind, r.rule_id, r.feature_id, r.regime) for r in result.reasons]


# ----------------------------------------------------------------------------- zoning


def test_permitted_use_inside_one_zone(two_zones, rulebook):
    result = check_transformation(box(10, 10, 40, 40), HOUSING, two_zones, rulebook)
    assert result.verdict == "allowed"
    [reason] = result.reasons
    assert (reason.kind, reason.rule_id, reason.layer, reason.feature_id) == (
        "zoning", "zoning.residential_individual", "zones", "Z1")
    assert reason.feature_name == "Kyzyl-Kyshtak"
    assert reason.regime == "permitted"
    assert reason.overlap_m2 == 900.0
    assert reason.overlap_share == 100.0
    assert "not law" in reason.source
    assert set(reason.message) == {"ky", "ru", "en"}
    assert "Individual housing" in reason.message["en"]
    assert "Жеке турак жай курулушу" in reason.message["ky"]
    assert result.notes == ()
    assert result.area_m2 == 900.0
    assert result.remainder_m2 == 900.0
    assert "individual_housing" in result.remainder_allowed_uses
    assert "commerce" in result.remainder_conditional_uses
    assert "industry" not in result.remainder_allowed_uses + result.remainder_conditional_uses


def test_conditional_use(two_zones, rulebook):
    result = check_transformation(
        box(10, 10, 40, 40), Proposal(target_use="commerce", current_category="settlement"),
        two_zones, rulebook,
    )
    assert result.verdict == "conditional"
    assert kinds(result) == [("zoning", "zoning.residential_individual", "Z1", "conditional")]
    assert "local council" in result.reasons[0].message["en"]


def test_listed_prohibition(two_zones, rulebook):
    result = check_transformation(
        box(10, 10, 40, 40), Proposal(target_use="industry", current_category="settlement"),
        two_zones, rulebook,
    )
    assert result.verdict == "prohibited"
    assert kinds(result) == [("zoning", "zoning.residential_individual", "Z1", "prohibited")]
    # the whole parcel is under the prohibition: nothing remains
    assert result.remainder_m2 == 0.0
    assert result.remainder_allowed_uses == ()


def test_use_unlisted_in_zone_type_is_prohibited(two_zones, rulebook):
    zt = rulebook.zone_types["residential_individual"]
    assert "water" not in zt.permitted + zt.conditional + zt.prohibited
    result = check_transformation(
        box(10, 10, 40, 40), Proposal(target_use="water", current_category="settlement"),
        two_zones, rulebook,
    )
    assert result.verdict == "prohibited"
    assert "neither a permitted nor a conditional use" in result.reasons[0].message["en"]


def test_parcel_partly_in_two_zones_exact_areas(two_zones, rulebook):
    # 80..100 lies in Z1 (20 x 40 = 800 m²), 100..130 in Z2 (30 x 40 = 1200 m²)
    result = check_transformation(box(80, 0, 130, 40), HOUSING, two_zones, rulebook)
    assert result.verdict == "prohibited"
    zoning = [r for r in result.reasons if r.kind == "zoning"]
    assert [(r.feature_id, r.regime, r.overlap_m2, r.overlap_share) for r in zoning] == [
        ("Z1", "permitted", 800.0, 40.0),
        ("Z2", "prohibited", 1200.0, 60.0),
    ]
    # 0.2 ha is over the 0.15 ha maximum plot for housing in Z1 (a conditional limit)
    assert [(r.rule_id, r.regime) for r in result.reasons if r.kind == "building"] == [
        ("zone_types.residential_individual.building.max_plot_ha", "conditional")]
    assert result.area_m2 == 2000.0
    assert result.remainder_m2 == pytest.approx(800.0)
    assert result.remainder.equals(box(80, 0, 100, 40))
    assert "individual_housing" in result.remainder_allowed_uses


def test_multipolygon_parcel(two_zones, rulebook):
    parcel = shapely.MultiPolygon([box(10, 10, 20, 20), box(110, 10, 130, 20)])
    result = check_transformation(
        parcel, Proposal(target_use="agriculture", current_category="agricultural"),
        two_zones, rulebook,
    )
    assert result.area_m2 == 300.0
    assert [(r.feature_id, r.regime, r.overlap_m2) for r in result.reasons] == [
        ("Z1", "conditional", 100.0), ("Z2", "permitted", 200.0),
    ]
    assert result.reasons[0].overlap_share == pytest.approx(100 / 3)
    assert result.verdict == "conditional"


def test_outside_all_zones_is_a_note(two_zones, rulebook):
    result = check_transformation(box(300, 0, 320, 10), HOUSING, two_zones, rulebook)
    assert result.verdict == "allowed"
    assert result.reasons == ()
    [note] = result.notes
    assert (note.rule_id, note.overlap_m2, note.overlap_share) == ("zoning.outside", 200.0, 100.0)
    assert "outside every legal zone" in note.message["en"]


def test_partly_outside_zones_notes_the_uncovered_part(two_zones, rulebook):
    result = check_transformation(box(180, 0, 230, 10), HOUSING, two_zones, rulebook)
    outside = [n for n in result.notes if n.rule_id == "zoning.outside"]
    assert [(n.overlap_m2, n.overlap_share) for n in outside] == [(300.0, 60.0)]


# ----------------------------------------------------------------------------- tolerance


def test_sliver_under_tolerance_is_a_note_not_a_verdict(two_zones, rulebook):
    # 1 m x 10 m = 10 m² in Z2, 10/910 = 1.1 % of the parcel: under 20 m² and 2 %
    parcel = box(10, 0, 101, 10)
    result = check_transformation(parcel, HOUSING, two_zones, rulebook)
    assert result.verdict == "allowed"
    assert kinds(result) == [("zoning", "zoning.residential_individual", "Z1", "permitted")]
    [note] = result.notes
    assert (note.feature_id, note.regime, note.overlap_m2) == ("Z2", "prohibited", 10.0)
    assert note.overlap_share == pytest.approx(10 / 910 * 100)
    # the sliver does not cut the remainder either
    assert result.remainder_m2 == 910.0

    strict = check_transformation(parcel, HOUSING, two_zones, rulebook, tolerance_m2=5)
    assert strict.verdict == "prohibited"
    assert strict.notes == ()
    assert check_transformation(parcel, HOUSING, two_zones, rulebook,
                                tolerance_m2=0).verdict == "prohibited"


def test_tolerance_needs_both_thresholds(rulebook):
    # 30 m² of a 10 000 m² parcel is 0.3 %: under the share but over the area threshold
    lay = layers(rulebook, zones=TWO_ZONES,
                 hazard_zones=[hazard("H1", "mudflow", "high", box(0, 0, 3, 10))])
    school = Proposal(target_use="school", current_category="settlement")
    result = check_transformation(box(0, 0, 100, 100), school, lay, rulebook)
    assert result.verdict == "prohibited"
    assert [r.rule_id for r in result.reasons] == ["zoning.residential_individual",
                                                   "hazard_zones.mudflow.high"]
    # switching the area criterion off leaves only the share: now a note
    lenient = check_transformation(box(0, 0, 100, 100), school, lay, rulebook,
                                   tolerance_m2=math.inf)
    assert lenient.verdict == "allowed"
    assert [n.rule_id for n in lenient.notes] == ["hazard_zones.mudflow.high"]


def test_negative_tolerance_is_refused(two_zones, rulebook):
    with pytest.raises(InputError, match="tolerance_m2"):
        check_transformation(box(0, 0, 1, 1), HOUSING, two_zones, rulebook, tolerance_m2=-1)


# ----------------------------------------------------------------------------- restrictions


def test_several_layers_at_once(rulebook):
    lay = layers(
        rulebook,
        zones=TWO_ZONES,
        hazard_zones=[hazard("H1", "mudflow", "medium", box(0, 0, 30, 15))],
        restrictions=[restriction("B1", "border_zone", box(-100, -100, 300, 300))],
        protected_areas=[protected("P1", "natural_monument", "whole", box(20, 20, 40, 40))],
    )
    result = check_transformation(box(0, 0, 30, 30), HOUSING, lay, rulebook)
    assert result.verdict == "prohibited"
    assert [(r.rule_id, r.layer, r.feature_id, r.regime, r.overlap_m2, r.overlap_share)
            for r in result.reasons] == [
        ("zoning.residential_individual", "zones", "Z1", "permitted", 900.0, 100.0),
        ("protected_areas.natural_monument.whole", "protected_areas", "P1", "prohibited",
         100.0, pytest.approx(100 / 9)),
        ("hazard_zones.mudflow.medium", "hazard_zones", "H1", "conditional", 450.0, 50.0),
        ("restrictions.border_zone", "restrictions", "B1", "conditional", 900.0, 100.0),
    ]
    assert result.reasons[1].feature_name == "PA P1"
    assert "Памятник природы" in result.reasons[1].message["ru"]
    # only the monument prohibits housing: the remainder is the parcel without it
    assert result.remainder_m2 == pytest.approx(800.0)
    # mudflow and border zone condition every use but "none" on the rest
    assert result.remainder_allowed_uses == ("none",)
    assert "individual_housing" in result.remainder_conditional_uses


def test_explicit_permission_beats_all(rulebook):
    # a national park core prohibits all uses but permits 'none'
    lay = layers(rulebook, protected_areas=[
        protected("P1", "national_park", "core", box(0, 0, 100, 100))])
    parcel = box(10, 10, 20, 20)
    nothing = check_transformation(
        parcel, Proposal(target_use="none", current_category="protected"), lay, rulebook)
    assert [r.regime for r in nothing.reasons] == ["permitted"]
    assert nothing.verdict == "allowed"
    grazing = check_transformation(
        parcel, Proposal(target_use="pasture", current_category="protected"), lay, rulebook)
    assert grazing.verdict == "prohibited"


def test_forest_fund_layer(rulebook):
    lay = ConstraintLayers.from_frames(
        rulebook=rulebook,
        forest_fund=frame([{"forest_id": "F1", "name": "Walnut grove",
                            "geometry": box(0, 0, 100, 100)}]),
    )
    result = check_transformation(
        box(10, 10, 20, 20), Proposal(target_use="forestry", current_category="forest_fund"),
        lay, rulebook)
    assert [(r.rule_id, r.regime, r.feature_name) for r in result.reasons] == [
        ("forest_fund", "permitted", "Walnut grove")]


# ----------------------------------------------------------------------------- category


def test_refused_category_change(two_zones, rulebook):
    result = check_transformation(
        box(10, 10, 20, 20),
        Proposal(current_category="protected", target_category="settlement"),
        two_zones, rulebook,
    )
    assert result.verdict == "prohibited"
    [reason] = result.reasons
    assert (reason.kind, reason.rule_id, reason.regime, reason.authority) == (
        "transition", "category_transitions.protected.settlement", "prohibited", None)
    assert reason.overlap_m2 is None
    assert "cannot be changed" in reason.message["en"]
    assert "невозможен" in reason.message["ru"]


def test_possible_category_change_names_the_authority(two_zones, rulebook):
    result = check_transformation(
        box(10, 10, 20, 20),
        Proposal(current_category="agricultural", target_category="settlement",
                 target_use="individual_housing"),
        two_zones, rulebook,
    )
    assert result.verdict == "conditional"
    assert kinds(result) == [
        ("transition", "category_transitions.agricultural.settlement", None, "conditional"),
        ("zoning", "zoning.residential_individual", "Z1", "permitted"),
        ("building", "zone_types.residential_individual.building.min_plot_ha", "Z1",
         "conditional"),
    ]
    assert result.reasons[0].authority == "district_administration"
    assert "district state administration" in result.reasons[0].message["en"]
    assert result.category == "settlement"


def test_use_that_does_not_fit_the_category(two_zones, rulebook):
    result = check_transformation(
        box(10, 10, 40, 40), Proposal(target_use="individual_housing",
                                      current_category="agricultural"),
        two_zones, rulebook,
    )
    assert result.verdict == "prohibited"
    assert result.reasons[0].rule_id == "uses.individual_housing.categories"
    assert result.reasons[0].regime == "prohibited"
    assert "transformation" in result.reasons[0].message["en"]


def test_restriction_blocks_a_change_of_category(rulebook):
    lay = layers(rulebook, hazard_zones=[hazard("H1", "mudflow", "high", box(0, 0, 100, 100))])
    result = check_transformation(
        box(10, 10, 40, 40),
        Proposal(current_category="agricultural", target_category="settlement"),
        lay, rulebook,
    )
    assert result.verdict == "prohibited"
    blocking = [r for r in result.reasons if r.blocks_category]
    assert [(r.rule_id, r.regime) for r in blocking] == [("hazard_zones.mudflow.high",
                                                          "prohibited")]
    # the same zone does not block a change to reserve land
    to_reserve = check_transformation(
        box(10, 10, 40, 40),
        Proposal(current_category="agricultural", target_category="reserve"), lay, rulebook)
    assert [r.blocks_category for r in to_reserve.reasons if r.kind == "restriction"] == [False]


def test_unknown_current_category_is_a_note(two_zones, rulebook):
    result = check_transformation(box(10, 10, 20, 20), Proposal(target_category="settlement"),
                                  two_zones, rulebook)
    assert [n.rule_id for n in result.notes] == ["category_transitions.unknown.settlement"]


# ----------------------------------------------------------------------------- building


def test_building_parameters_against_the_zone(two_zones, rulebook):
    proposal = Proposal(target_use="individual_housing", current_category="settlement",
                        floors=4, height_m=12.0, site_coverage=61.0)
    result = check_transformation(box(10, 10, 40, 40), proposal, two_zones, rulebook)
    building = [(r.rule_id.rsplit(".", 1)[1], r.regime, r.value, r.limit)
                for r in result.reasons if r.kind == "building"]
    # height 12 m equals the limit: no reason
    assert building == [("max_floors", "prohibited", 4.0, 3.0),
                        ("max_site_coverage_pct", "prohibited", 61.0, 60.0)]
    assert result.verdict == "prohibited"


def test_plot_size_limit_applies_only_to_its_uses(two_zones, rulebook):
    small = box(10, 10, 20, 20)  # 0.01 ha, under the 0.02 ha minimum for housing
    housing = check_transformation(small, HOUSING, two_zones, rulebook)
    assert [(r.rule_id, r.regime, r.value, r.limit) for r in housing.reasons][1:] == [
        ("zone_types.residential_individual.building.min_plot_ha", "conditional", 0.01, 0.02)]
    school = check_transformation(
        small, Proposal(target_use="school", current_category="settlement"), two_zones,
        rulebook)
    assert [r.kind for r in school.reasons] == ["zoning"]


# ----------------------------------------------------------------------------- water


def test_water_zone_derived_from_a_river_line(rulebook):
    river = frame([{"water_id": "W1", "name": "Isfana", "kind": "river",
                    "water_class": "medium_river",
                    "geometry": shapely.LineString([(0, 1000), (1000, 1000)])}])
    lay = ConstraintLayers.from_frames(rulebook=rulebook, water_bodies=river)
    # 300 m protection zone, 50 m coastal strip (rulebook defaults for a medium river)
    parcel = box(400, 1020, 500, 1100)
    result = check_transformation(parcel, HOUSING, lay, rulebook)
    assert [(r.rule_id, r.feature_id, r.feature_name, r.regime, r.overlap_m2, r.overlap_share)
            for r in result.reasons] == [
        ("water_protection_zone.medium_river", "W1/water_protection_zone", "Isfana",
         "conditional", pytest.approx(8000.0), pytest.approx(100.0)),
        ("coastal_strip.medium_river", "W1/coastal_strip", "Isfana", "prohibited",
         pytest.approx(3000.0), pytest.approx(37.5)),
    ]
    assert result.verdict == "prohibited"
    assert result.remainder_m2 == pytest.approx(5000.0)
    assert result.remainder.equals_exact(box(400, 1050, 500, 1100).normalize(), 1e-6) or (
        shapely.equals(result.remainder, box(400, 1050, 500, 1100)))


def test_derive_water_zones_widths(rulebook):
    bodies = frame([
        {"water_id": "W1", "name": "Isfana", "kind": "river", "water_class": "medium_river",
         "geometry": shapely.LineString([(0, 0), (1000, 0)])},
        {"water_id": "I1", "name": "Intake", "kind": "intake", "water_class": "intake",
         "geometry": shapely.Point(5000, 5000)},
    ])
    zones = derive_water_zones(bodies, rulebook)
    assert list(zones["zone_id"]) == ["W1/water_protection_zone", "I1/water_protection_zone",
                                      "W1/coastal_strip", "I1/coastal_strip"]
    assert list(zones["width_m"]) == [300.0, 300.0, 50.0, 50.0]
    strip = zones.geometry.iloc[2]
    assert strip.contains(shapely.Point(500, 49)) and not strip.contains(shapely.Point(500, 51))
    assert zones.geometry.iloc[1].contains(shapely.Point(5000, 5299))
    assert zones.crs.to_epsg() == CRS


def test_unknown_water_class_is_named(rulebook):
    bodies = frame([{"water_id": "W1", "kind": "river", "water_class": "big_river",
                     "geometry": shapely.LineString([(0, 0), (10, 0)])}])
    with pytest.raises(ValidationError) as err:
        derive_water_zones(bodies, rulebook)
    assert "big_river" in str(err.value) and "W1" in str(err.value)


def test_water_zones_refuse_a_rulebook_with_other_widths(rulebook, tmp_path):
    from spatial.zoning import load_rulebook

    river = frame([{"water_id": "W1", "kind": "river", "water_class": "canal",
                    "geometry": shapely.LineString([(0, 0), (10, 0)])}])
    lay = ConstraintLayers.from_frames(rulebook=rulebook, water_bodies=river)
    path = tmp_path / "wider.yaml"
    path.write_text(
        "extends: default\nwater_zones:\n  canal:\n    protection_zone_m: {value: 80}\n",
        encoding="utf-8",
    )
    other = load_rulebook(path)
    with pytest.raises(InputError, match="canal"):
        check_transformation(box(0, 0, 1, 1), HOUSING, lay, other)


# ----------------------------------------------------------------------------- inputs


def test_parcel_row_is_checked_for_its_current_use(two_zones, rulebook):
    parcels = frame([{"cadastral_no": "4-01-01-0001", "land_category": "settlement",
                      "designated_use": "industry", "geometry": box(10, 10, 40, 40)}])
    result = check_transformation(parcels.iloc[0], Proposal(), two_zones, rulebook)
    assert (result.parcel, result.use, result.category) == (
        "4-01-01-0001", "industry", "settlement")
    assert result.verdict == "prohibited"
    # a one-row frame works the same way
    same = check_transformation(parcels, Proposal(), two_zones, rulebook)
    assert same.reasons == result.reasons


def test_unknown_codes_are_named_with_suggestions(two_zones, rulebook):
    with pytest.raises(ValidationError) as err:
        check_transformation(
            box(0, 0, 10, 10),
            Proposal(target_use="individual_housng", target_category="setlement", floors=0),
            two_zones, rulebook,
        )
    problems = {p.code: p for p in err.value.problems}
    assert set(problems) == {"unknown_use", "unknown_land_category", "bad_value"}
    assert "'individual_housng'" in problems["unknown_use"].message
    assert "did you mean 'individual_housing'" in problems["unknown_use"].message
    assert problems["unknown_use"].column == "target_use"
    assert "did you mean 'settlement'" in problems["unknown_land_category"].message


def test_unknown_designated_use_of_a_parcel_row(two_zones, rulebook):
    row = pd.Series({"cadastral_no": "X-1", "land_category": "settlement",
                     "designated_use": "housing", "geometry": box(0, 0, 10, 10)})
    with pytest.raises(ValidationError) as err:
        check_transformation(row, Proposal(), two_zones, rulebook)
    [problem] = err.value.problems
    assert (problem.column, problem.feature) == ("designated_use", "X-1")


@pytest.mark.parametrize(
    ("geometry", "code"),
    [
        (shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)]), "invalid_geometry"),
        (shapely.Point(1, 1), "wrong_geometry_type"),
        (shapely.Polygon(), "empty_geometry"),
    ],
)
def test_bad_geometry(two_zones, rulebook, geometry, code):
    with pytest.raises(ValidationError) as err:
        check_transformation(geometry, HOUSING, two_zones, rulebook)
    assert [p.code for p in err.value.problems] == [code]


def test_parcel_frame_in_another_crs(two_zones, rulebook):
    parcels = gpd.GeoDataFrame({"cadastral_no": ["A"]}, geometry=[box(0, 0, 1, 1)], crs=4326)
    with pytest.raises(CRSError, match="EPSG:4326"):
        check_transformation(parcels, HOUSING, two_zones, rulebook)


def test_layers_in_different_crs_are_named(rulebook):
    zones = frame(TWO_ZONES)
    hazards = frame([hazard("H1", "flood", "low", box(0, 0, 1, 1))], crs=32643)
    with pytest.raises(CRSError) as err:
        ConstraintLayers.from_frames(rulebook=rulebook, zones=zones, hazard_zones=hazards)
    assert "hazard_zones" in str(err.value) and "EPSG:32643" in str(err.value)


def test_geographic_layers_are_refused(rulebook):
    with pytest.raises(CRSError, match="geographic"):
        ConstraintLayers.from_frames(rulebook=rulebook, zones=frame(TWO_ZONES, crs=4326))


def test_layer_problems_are_collected(rulebook):
    zones = frame([zone("Z1", "residental_individual", box(0, 0, 1, 1)),
                   zone("Z1", "green", box(1, 0, 2, 1))])
    hazards = frame([hazard("H1", "mudslide", "high", box(0, 0, 1, 1))])
    with pytest.raises(ValidationError) as err:
        ConstraintLayers.from_frames(rulebook=rulebook, zones=zones, hazard_zones=hazards)
    found = {(p.layer, p.code, p.column) for p in err.value.problems}
    assert found == {
        ("zones", "duplicate_key", "zone_id"),
        ("zones", "unknown_code", "zone_type"),
        ("hazard_zones", "unknown_code", "hazard_type"),
    }
    text = " ".join(p.message for p in err.value.problems)
    assert "did you mean 'residential_individual'" in text
    assert "'mudslide'" in text


def test_feature_without_a_rule_in_the_rulebook(rulebook, tmp_path):
    from spatial.zoning import load_rulebook

    path = tmp_path / "no_rockfall.yaml"
    path.write_text("extends: default\nrestriction_regimes:\n  hazard_zones:\n"
                    "    rockfall: null\n", encoding="utf-8")
    trimmed = load_rulebook(path)
    hazards = frame([hazard("H9", "rockfall", "low", box(0, 0, 1, 1))])
    with pytest.raises(ValidationError) as err:
        ConstraintLayers.from_frames(rulebook=trimmed, hazard_zones=hazards)
    [problem] = err.value.problems
    assert problem.code == "no_regime"
    assert "hazard_zones.rockfall.low" in problem.message and "H9" in problem.message


# ----------------------------------------------------------------------------- output


def test_to_dict_is_json_ready(two_zones, rulebook):
    result = check_transformation(box(80, 0, 130, 40), HOUSING, two_zones, rulebook)
    data = result.to_dict("ky", wgs84=True)
    text = json.dumps(data, ensure_ascii=False)
    assert "NaN" not in text
    assert data["verdict"] == "prohibited"
    assert data["crs"] == "EPSG:32642"
    assert isinstance(data["reasons"][0]["message"], str)
    assert data["remainder"]["geometry"]["type"] == "Polygon"
    lon, lat = data["remainder"]["geometry_wgs84"]["coordinates"][0][0]
    assert -180 <= lon <= 180 and -90 <= lat <= 90
    all_langs = result.to_dict()
    assert set(all_langs["reasons"][0]["message"]) == {"ky", "ru", "en"}


def test_rules_come_from_the_rulebook_not_code(two_zones, rulebook, tmp_path):
    from spatial.zoning import load_rulebook

    path = tmp_path / "local.yaml"
    path.write_text(
        "extends: default\nmunicipality: {code: isfana, name: {ky: Исфана, ru: Исфана, "
        "en: Isfana}}\nzone_types:\n  residential_individual:\n"
        "    permitted: [individual_housing, industry]\n    conditional: []\n"
        "    prohibited: []\n    source: Isfana council resolution 12/3\n",
        encoding="utf-8",
    )
    local = load_rulebook(path)
    lay = layers(local, zones=[zone("Z1", "residential_individual", box(0, 0, 100, 100))])
    result = check_transformation(
        box(10, 10, 20, 20), Proposal(target_use="industry", current_category="settlement"),
        lay, local)
    assert result.verdict == "allowed"
    assert result.reasons[0].source == "Isfana council resolution 12/3"
    assert result.to_dict()["rulebook"] == {"municipality": "isfana", "version": "2025.1"}


def test_check_rejects_other_inputs(two_zones, rulebook):
    with pytest.raises(InputError):
        check_transformation("POLYGON", HOUSING, two_zones, rulebook)  # type: ignore[arg-type]
