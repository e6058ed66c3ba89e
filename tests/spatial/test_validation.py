"""Every validation problem of the data model, with its message."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon, box

from spatial.errors import CRSError, InputError, ValidationError
from spatial.validation import coerce_boolean, validate_layer

CRS = "EPSG:32642"
MUNICIPALITY = box(0, 0, 1000, 1000)


def parcels(rows: list[dict], geoms: list) -> gpd.GeoDataFrame:
    base = {
        "land_category": "agricultural",
        "ownership": "municipal",
        "in_use": True,
    }
    return gpd.GeoDataFrame([{**base, **r} for r in rows], geometry=geoms, crs=CRS)


def codes_of(report, code):
    return [p for p in report.problems if p.code == code]


def test_clean_parcels_pass_and_are_normalised():
    frame = parcels(
        [{"cadastral_no": "1", "official_area_ha": 1.0, "in_use": "да"},
         {"cadastral_no": 2, "official_area_ha": "1,0", "in_use": "жок",
          "lease_until": "31.12.2030"}],
        [box(0, 0, 100, 100), box(100, 0, 200, 100)],
    )
    report = validate_layer(frame, "parcels", crs=CRS, municipality=MUNICIPALITY)
    assert report.ok, report.problems
    out = report.frame
    assert out["cadastral_no"].tolist() == ["1", "2"]
    assert out["in_use"].tolist() == [True, False]
    assert out["area_ha"].tolist() == [1.0, 1.0]
    assert out["official_area_ha"].tolist() == [1.0, 1.0]
    assert out["ag_subtype"].tolist() == ["empty", "empty"]  # schema default
    assert str(out["lease_until"].iloc[1]) == "2030-12-31"
    assert str(out["lease_until"].iloc[0]) in ("None", "NaT")


def test_invalid_geometry_reports_shapely_reason():
    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    report = validate_layer(parcels([{"cadastral_no": "a"}], [bowtie]), "parcels", crs=CRS)
    [problem] = codes_of(report, "invalid_geometry")
    assert "Self-intersection" in problem.message
    assert problem.row == 0 and problem.feature == "a"
    assert list(report.invalid_rows) == [0]


def test_empty_and_missing_geometry():
    report = validate_layer(
        parcels([{"cadastral_no": "a"}, {"cadastral_no": "b"}], [Polygon(), None]),
        "parcels", crs=CRS,
    )
    assert [p.row for p in codes_of(report, "empty_geometry")] == [0, 1]


def test_wrong_geometry_type():
    report = validate_layer(parcels([{"cadastral_no": "a"}], [Point(1, 1)]), "parcels", crs=CRS)
    [problem] = codes_of(report, "wrong_geometry_type")
    assert "Point" in problem.message and "Polygon" in problem.message


def test_duplicate_cadastral_numbers_within_input_and_against_existing():
    frame = parcels(
        [{"cadastral_no": "x"}, {"cadastral_no": "x"}, {"cadastral_no": "y"}],
        [box(0, 0, 10, 10), box(10, 0, 20, 10), box(20, 0, 30, 10)],
    )
    existing = parcels([{"cadastral_no": "y"}], [box(500, 500, 510, 510)])
    report = validate_layer(frame, "parcels", crs=CRS, existing=existing)
    dups = codes_of(report, "duplicate_key")
    assert sorted(p.row for p in dups) == [0, 1, 2]
    assert any("appears more than once (rows 0, 1)" in p.message for p in dups)
    assert any("'y' already exists" in p.message for p in dups)


def test_unknown_codes_name_the_value_and_the_valid_codes():
    frame = parcels([{"cadastral_no": "a", "land_category": "farmland", "ownership": "kolkhoz"}],
                    [box(0, 0, 10, 10)])
    report = validate_layer(frame, "parcels", crs=CRS)
    problems = codes_of(report, "unknown_code")
    assert {p.column for p in problems} == {"land_category", "ownership"}
    cat = next(p for p in problems if p.column == "land_category")
    assert "'farmland'" in cat.message and "agricultural" in cat.message


def test_missing_column_and_missing_values_and_bad_types():
    frame = gpd.GeoDataFrame(
        {"cadastral_no": ["a", None], "land_category": ["reserve", "reserve"],
         "in_use": ["maybe", True], "official_area_ha": ["ten", -1]},
        geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10)], crs=CRS,
    )
    report = validate_layer(frame, "parcels", crs=CRS)
    [missing_col] = codes_of(report, "missing_column")
    assert missing_col.column == "ownership"
    assert [p.row for p in codes_of(report, "missing_value")] == [1]
    bad = codes_of(report, "bad_type")
    assert {(p.row, p.column) for p in bad} == {(0, "in_use"), (0, "official_area_ha")}
    [below] = codes_of(report, "below_min")
    assert below.row == 1 and "-1 is below 0" in below.message
    # A missing required column invalidates every row.
    assert list(report.invalid_rows) == [0, 1]


def test_overlap_beyond_tolerance_is_an_error_and_touching_is_not():
    frame = parcels(
        [{"cadastral_no": "a"}, {"cadastral_no": "b"}, {"cadastral_no": "c"}],
        # a and b share an edge; c overlaps b by 5 x 10 = 50 m².
        [box(0, 0, 10, 10), box(10, 0, 20, 10), box(15, 0, 25, 10)],
    )
    report = validate_layer(frame, "parcels", crs=CRS, overlap_tolerance_m2=1.0)
    overlaps = codes_of(report, "overlap")
    assert sorted(p.feature for p in overlaps) == ["b", "c"]
    b = next(p for p in overlaps if p.feature == "b")
    assert "c (row 2): 50.0 m²" in b.message
    assert b.details["overlaps"][0]["area_m2"] == pytest.approx(50.0)
    # Under the tolerance: not reported.
    assert not codes_of(validate_layer(frame, "parcels", crs=CRS, overlap_tolerance_m2=60),
                        "overlap")


def test_overlap_with_existing_parcels():
    frame = parcels([{"cadastral_no": "new"}], [box(0, 0, 10, 10)])
    existing = parcels([{"cadastral_no": "old"}], [box(8, 0, 18, 10)])
    [p] = codes_of(validate_layer(frame, "parcels", crs=CRS, existing=existing), "overlap")
    assert p.feature == "new" and "old (existing feature 0): 20.0 m²" in p.message


def test_outside_municipality_beyond_tolerance():
    frame = parcels(
        [{"cadastral_no": "in"}, {"cadastral_no": "out"}, {"cadastral_no": "sliver"}],
        [box(10, 10, 20, 20), box(990, 0, 1010, 10), box(999.95, 500, 1000.05, 510)],
    )
    report = validate_layer(frame, "parcels", crs=CRS, municipality=MUNICIPALITY)
    [p] = codes_of(report, "outside_municipality")
    assert p.feature == "out" and "100.0 m²" in p.message


def test_official_area_mismatch_is_a_warning_with_both_areas():
    frame = parcels(
        [{"cadastral_no": "ok", "official_area_ha": 1.04},
         {"cadastral_no": "off", "official_area_ha": 1.2}],
        [box(0, 0, 100, 100), box(100, 0, 200, 100)],
    )
    report = validate_layer(frame, "parcels", crs=CRS)
    [p] = codes_of(report, "area_mismatch")
    assert p.feature == "off" and p.severity == "warning"
    assert "1.2000 ha differs from the computed 1.0000 ha by 20.0%" in p.message
    assert report.ok  # warnings never block


def test_unknown_columns_are_a_warning():
    frame = parcels([{"cadastral_no": "a", "colour": "red"}], [box(0, 0, 10, 10)])
    report = validate_layer(frame, "parcels", crs=CRS)
    [p] = codes_of(report, "unknown_column")
    assert "colour" in p.message and p.severity == "warning"
    assert "colour" not in report.frame.columns


def test_reprojects_input_and_multipolygons_are_accepted():
    mp = MultiPolygon([box(0, 0, 10, 10), box(20, 0, 30, 10)])
    frame = parcels([{"cadastral_no": "m"}], [mp]).to_crs(4326)
    report = validate_layer(frame, "parcels", crs=CRS)
    assert report.ok
    assert report.frame.crs == CRS
    assert report.frame["area_ha"].iloc[0] == pytest.approx(0.02, rel=1e-6)


def test_raise_if_invalid_carries_every_problem():
    frame = parcels([{"cadastral_no": "a", "land_category": "bad"}, {"cadastral_no": "a"}],
                    [box(0, 0, 10, 10), Polygon()])
    report = validate_layer(frame, "parcels", crs=CRS)
    with pytest.raises(ValidationError) as err:
        report.raise_if_invalid()
    assert {p.code for p in err.value.problems} >= {"unknown_code", "duplicate_key",
                                                    "empty_geometry"}
    assert len(report.valid_frame()) == 0


def test_valid_frame_keeps_only_good_rows():
    frame = parcels([{"cadastral_no": "a"}, {"cadastral_no": "b", "ownership": "??"}],
                    [box(0, 0, 10, 10), box(10, 0, 20, 10)])
    report = validate_layer(frame, "parcels", crs=CRS)
    assert report.valid_frame()["cadastral_no"].tolist() == ["a"]


def test_input_without_crs_or_geometry_or_with_geographic_target():
    frame = parcels([{"cadastral_no": "a"}], [box(0, 0, 1, 1)]).set_crs(None, allow_override=True)
    with pytest.raises(CRSError, match="no CRS"):
        validate_layer(frame, "parcels", crs=CRS)
    with pytest.raises(CRSError, match="not projected"):
        validate_layer(parcels([{"cadastral_no": "a"}], [box(0, 0, 1, 1)]), "parcels",
                       crs="EPSG:4326")
    with pytest.raises(InputError, match="no geometry"):
        validate_layer(gpd.GeoDataFrame({"a": [1]}), "parcels", crs=CRS)


def test_settlements_layer_checks_its_own_schema():
    frame = gpd.GeoDataFrame(
        {"name": ["A", "A"], "households": [10, -2], "population": [40, "many"]},
        geometry=[Point(1, 1), Point(2, 2)], crs=CRS,
    )
    report = validate_layer(frame, "settlements", crs=CRS)
    assert {p.code for p in report.problems} == {"duplicate_key", "below_min", "bad_type"}


def test_coerce_boolean_spellings():
    import pandas as pd

    values, bad = coerce_boolean(pd.Series(["Да", "нет", "ооба", "жок", 1, 0.0, None, "x"]))
    assert values.tolist()[:6] == [True, False, True, False, True, False]
    assert values.isna().tolist()[6]
    assert bad.tolist() == [False] * 7 + [True]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(1, 5)),
                min_size=1, max_size=12))
def test_overlap_reported_iff_interiors_share_area(squares):
    geoms = [box(x, y, x + s, y + s) for x, y, s in squares]
    frame = parcels([{"cadastral_no": str(i)} for i in range(len(geoms))], geoms)
    report = validate_layer(frame, "parcels", crs=CRS, overlap_tolerance_m2=0.0)
    flagged = {p.row for p in codes_of(report, "overlap")}
    expected = {
        i for i in range(len(geoms)) for j in range(len(geoms))
        if i != j and geoms[i].intersection(geoms[j]).area > 0
    }
    assert flagged == expected
    assert set(np.asarray(report.invalid_rows).tolist()) == expected


def test_iso_dates_and_date_objects_are_not_read_day_first():
    import datetime as dt

    frame = parcels(
        [{"cadastral_no": "a", "lease_until": "2030-01-02"},
         {"cadastral_no": "b", "lease_until": dt.date(2030, 1, 2)},
         {"cadastral_no": "c", "lease_until": "02.01.2030"}],
        [box(0, 0, 10, 10), box(10, 0, 20, 10), box(20, 0, 30, 10)],
    )
    out = validate_layer(frame, "parcels", crs=CRS).frame
    assert [str(v) for v in out["lease_until"]] == ["2030-01-02"] * 3


def test_reference_layers_may_cross_the_boundary_with_a_warning():
    rivers = gpd.GeoDataFrame(
        {"water_id": ["r1"], "kind": ["river"], "water_class": ["medium_river"]},
        geometry=[shapely_line([(500, 500), (1500, 500)])], crs=CRS,
    )
    report = validate_layer(rivers, "water_bodies", crs=CRS, municipality=MUNICIPALITY)
    [p] = codes_of(report, "outside_municipality")
    assert p.severity == "warning" and report.ok


def shapely_line(coords):
    from shapely.geometry import LineString

    return LineString(coords)


USES = ("individual_housing", "commerce", "agriculture")


def test_designated_use_outside_the_given_code_list_names_value_column_and_codes():
    frame = parcels([{"cadastral_no": "a", "designated_use": "individual housing"},
                     {"cadastral_no": "b", "designated_use": "villa"},
                     {"cadastral_no": "c", "designated_use": "commerce"},
                     {"cadastral_no": "d", "designated_use": None}],
                    [box(0, 0, 10, 10), box(10, 0, 20, 10), box(20, 0, 30, 10),
                     box(30, 0, 40, 10)])
    report = validate_layer(frame, "parcels", crs=CRS, code_lists={"designated_use": USES})
    problems = codes_of(report, "unknown_code")
    assert [(p.row, p.feature, p.column) for p in problems] == [
        (0, "a", "designated_use"), (1, "b", "designated_use")]
    typo, villa = problems
    assert "'individual housing'" in typo.message
    assert "did you mean 'individual_housing'?" in typo.message
    assert "'villa'" in villa.message and "did you mean" not in villa.message
    assert "individual_housing, commerce, agriculture" in villa.message
    assert villa.details == {"value": "villa", "allowed": list(USES)}
    assert list(report.invalid_rows) == [0, 1]
    # Without a code list (no rulebook at hand) the use stays free text.
    assert validate_layer(frame, "parcels", crs=CRS).ok


def test_a_given_code_list_replaces_the_schema_one_and_long_lists_are_elided():
    frame = parcels([{"cadastral_no": "a", "ownership": "kolkhoz"}], [box(0, 0, 10, 10)])
    assert validate_layer(frame, "parcels", crs=CRS,
                          code_lists={"ownership": ("kolkhoz",)}).ok
    many = tuple(f"use_{i:02d}" for i in range(40))
    bad = parcels([{"cadastral_no": "a", "designated_use": "x"}], [box(0, 0, 10, 10)])
    [problem] = codes_of(validate_layer(bad, "parcels", crs=CRS,
                                        code_lists={"designated_use": many}), "unknown_code")
    assert "use_29, … (40 codes)" in problem.message and "use_30" not in problem.message
    assert problem.details["allowed"] == list(many)


def test_rulebook_code_lists_follow_the_rulebook_file(tmp_path):
    from spatial.validation import rulebook_code_lists
    from spatial.zoning import load_rulebook

    default = rulebook_code_lists(None)["designated_use"]
    assert default == tuple(load_rulebook().uses) and "individual_housing" in default
    book = tmp_path / "municipal.yaml"
    book.write_text("extends: default.yaml\nuses:\n  orchard_cooperative:\n"
                    "    name: {ky: бак, ru: сад, en: orchard}\n    categories: [agricultural]\n",
                    encoding="utf-8")
    assert rulebook_code_lists(book)["designated_use"] == (*default, "orchard_cooperative")
    # An edited rulebook is read again (its size changes, so its stamp does).
    book.write_text(book.read_text(encoding="utf-8").replace("orchard_cooperative",
                                                             "orchard_cooperative_society"),
                    encoding="utf-8")
    assert rulebook_code_lists(book)["designated_use"][-1] == "orchard_cooperative_society"
