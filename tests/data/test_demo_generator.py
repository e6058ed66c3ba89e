"""The Isfana demo generator: real statistics, a valid illustrative fabric, determinism."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from pyproj import Transformer

from jer_data.demo.generate import (
    CRS_EPSG,
    DESIGNATED_USES,
    KINDERGARTEN_CHILDREN,
    LAYER_METADATA,
    SCHOOL_OVER_CAPACITY,
    SCHOOL_PUPILS,
    ZONE_TYPES,
    build_isfana,
    write_demo,
)
from spatial.balance import land_balance
from spatial.schema import codes, layer_schema, load_schema
from spatial.validation import validate_layer

SEED = 2019


@pytest.fixture(scope="module")
def layers() -> dict[str, gpd.GeoDataFrame]:
    return build_isfana(seed=SEED)


@pytest.fixture(scope="module")
def parcels(layers) -> gpd.GeoDataFrame:
    return layers["parcels"]


@pytest.fixture(scope="module")
def boundary(layers) -> shapely.Geometry:
    return layers["municipality"].geometry.iloc[0]


def _overlap_areas(frame: gpd.GeoDataFrame) -> np.ndarray:
    """Areas of every pairwise overlap, from one bulk spatial-index query."""
    geoms = frame.geometry.to_numpy()
    left, right = frame.sindex.query(geoms, predicate="intersects")
    pairs = left < right
    return shapely.area(shapely.intersection(geoms[left[pairs]], geoms[right[pairs]]))


# -- determinism ------------------------------------------------------------------------------


def test_same_seed_gives_identical_layers(layers):
    again = build_isfana(seed=SEED)
    assert list(again) == list(layers)
    for name, frame in layers.items():
        assert_geodataframe_equal(again[name], frame, check_less_precise=False)
        assert (
            shapely.to_wkb(again[name].geometry.to_numpy()).tolist()
            == shapely.to_wkb(frame.geometry.to_numpy()).tolist()
        ), name


def test_another_seed_gives_another_valid_fabric(parcels):
    other = build_isfana(seed=7)["parcels"]
    assert len(other) != len(parcels) or not other.geometry.geom_equals(parcels.geometry).all()
    assert other.geometry.is_valid.all()
    assert (_overlap_areas(other) <= 1.0).all()


# -- the real figures -------------------------------------------------------------------------


def test_municipality_is_exactly_the_official_area(layers, boundary):
    municipality = layers["municipality"]
    assert municipality.crs.to_epsg() == CRS_EPSG == 32642
    assert len(municipality) == 1
    assert boundary.is_valid and boundary.geom_type == "Polygon"
    assert abs(boundary.area / 10_000 - 28_950.0) <= 0.01
    row = municipality.iloc[0]
    assert (row["name_ky"], row["name_ru"], row["name_en"]) == (
        "Исфана шаары",
        "город Исфана",
        "Isfana city",
    )
    assert (row["kind"], row["oblast"], row["district"]) == ("city", "Баткен", "Лейлек")
    assert row["official_area_ha"] == 28_950.0


def test_settlements_carry_the_real_statistics(layers, boundary):
    settlements = layers["settlements"]
    expected = {
        "Isfana": (4780, 20769, "Исфана"),
        "Murza-Patcha": (214, 868, "Мурза-Патча"),
        "Samat": (549, 2315, "Самат"),
        "Chimgen": (740, 3422, "Чимген"),
        "Tailan": (355, 1561, "Тайлан"),
        "Ak-Bulak": (192, 901, "Ак-Булак"),
        "Golbo": (405, 1777, "Голбо"),
    }
    got = {
        row["name"]: (row["households"], row["population"], row["name_ky"])
        for row in settlements.drop(columns="geometry").to_dict(orient="records")
    }
    assert got == expected
    assert settlements["households"].sum() == 7235
    assert settlements["population"].sum() == 31613
    assert (settlements["name_ru"] == settlements["name_ky"]).all()
    assert (settlements["name_en"] == settlements["name"]).all()
    assert settlements["household_size"].to_numpy() == pytest.approx(
        (settlements["population"] / settlements["households"]).to_numpy(), abs=0.005
    )
    assert settlements.geometry.is_valid.all()
    assert settlements.geometry.within(boundary.buffer(0.01)).all()
    assert (_overlap_areas(settlements) == 0).all()
    # Isfana city sits at its real position, on the north of the territory.
    to_utm = Transformer.from_crs(4326, CRS_EPSG, always_xy=True)
    x, y = to_utm.transform(69.53, 39.84)
    city = settlements.set_index("name").geometry["Isfana"]
    assert city.distance(shapely.Point(x, y)) == 0
    assert city.centroid.y > boundary.centroid.y + 5_000


# -- the parcel fabric ------------------------------------------------------------------------


def test_parcels_are_many_valid_inside_and_do_not_overlap(parcels, boundary):
    assert len(parcels) >= 5000
    assert parcels.crs.to_epsg() == CRS_EPSG
    assert parcels.geometry.is_valid.all()
    assert set(parcels.geom_type) <= {"Polygon", "MultiPolygon"}
    outside = shapely.area(shapely.difference(parcels.geometry.to_numpy(), boundary))
    assert outside.max() <= 1.0
    assert (_overlap_areas(parcels) <= 1.0).all()


def test_cadastral_numbers_are_unique_and_kyrgyz_shaped(parcels):
    numbers = parcels["cadastral_no"]
    assert numbers.is_unique
    assert numbers.map(lambda n: bool(re.fullmatch(r"4-08-\d{2}-\d{4}-\d{4}", n))).all()
    # Parcels inside Isfana city are in cadastral zone 01, farmland outside in zone 08.
    city = parcels["settlement"] == "Isfana"
    assert numbers[city].str.startswith("4-08-01-").all()
    assert numbers[parcels["settlement"].isna()].str.startswith("4-08-08-").all()


def test_codes_and_columns_follow_the_schema(layers):
    schema = load_schema()
    for name, frame in layers.items():
        spec = layer_schema(name)
        assert list(frame.columns) == [*spec.columns, "geometry"], name
        assert frame.crs.to_epsg() == CRS_EPSG, name
        assert set(frame.geom_type) <= set(spec.geometry_types), name
        for column, col in spec.columns.items():
            if col.required:
                assert frame[column].notna().all(), f"{name}.{column}"
            if col.codes:
                values = set(frame[column].dropna())
                assert values <= set(schema.codelists[col.codes]), f"{name}.{column}"
            if col.unique:
                assert frame[column].is_unique, f"{name}.{column}"
    parcels = layers["parcels"]
    assert set(parcels["designated_use"]) <= set(DESIGNATED_USES)
    assert set(layers["zones"]["zone_type"]) == set(ZONE_TYPES)
    assert parcels["in_use"].dtype == bool and parcels["state_ag_fund"].dtype == bool


def test_every_layer_passes_the_workspace_validation(layers, boundary):
    for name, frame in layers.items():
        report = validate_layer(
            frame, name, crs=CRS_EPSG, municipality=None if name == "municipality" else boundary
        )
        assert report.ok, (name, [str(p) for p in report.errors[:5]])
        if name == "parcels":
            # Some official areas are off by more than 5 %, so the import shows warnings.
            mismatches = [p for p in report.warnings if p.code == "area_mismatch"]
            assert 10 <= len(mismatches) <= 0.02 * len(frame)


def test_every_category_and_subtype_is_present(parcels):
    assert set(parcels["land_category"]) == set(codes("land_category"))
    ag = parcels[parcels["land_category"] == "agricultural"]
    assert set(ag["ag_subtype"]) == {
        "arable_irrigated",
        "arable_rainfed",
        "perennial",
        "hayfield",
        "pasture",
    }
    assert (parcels.loc[parcels["land_category"] != "agricultural", "ag_subtype"] == "empty").all()
    pastures = ag[ag["ag_subtype"] == "pasture"]
    assert (pastures.area / 10_000).median() > 50  # large parcels up the mountains
    assert set(pastures["ownership"]) == {"municipal", "state", "private"}
    fund = parcels[parcels["state_ag_fund"]]
    assert len(fund) > 50
    assert (fund["land_category"] == "agricultural").all()
    assert (fund["ownership"] == "municipal").all()
    assert 0.05 < (~parcels["in_use"]).mean() < 0.3


def test_housing_plots_are_small_and_mostly_used(parcels):
    housing = parcels[parcels["designated_use"] == "individual_housing"]
    area = housing.area / 10_000
    assert area.min() >= 0.06 and area.max() <= 0.12
    assert (housing["land_category"] == "settlement").all()
    assert housing["settlement"].notna().all()
    assert housing["in_use"].mean() > 0.85
    per_settlement = housing.groupby("settlement").size()
    assert len(per_settlement) == 7
    assert per_settlement["Isfana"] > 3000


def test_holders_only_on_private_or_leased_parcels(parcels):
    named = (parcels["ownership"] == "private") | (parcels["right_type"] == "lease")
    assert parcels.loc[named, "holder"].notna().all()
    assert parcels.loc[~named, "holder"].isna().all()
    holders = parcels["holder"].dropna()
    # Russian-style "Surname Name Patronymic" or traditional "Name Father uulu/kyzy/ugli/kizi".
    assert holders.str.contains(r"(?:вич|вна|уулу|кызы|угли|кизи)$").all()
    assert holders.str.fullmatch(r"[А-ЯЁӨҮҢа-яёөүң\- ]+").all()
    assert holders.nunique() > 500
    leased = parcels["right_type"] == "lease"
    assert parcels.loc[leased, "lease_until"].notna().all()
    assert parcels.loc[~leased, "lease_until"].isna().all()


def test_official_areas_are_close_but_a_few_are_off(parcels):
    computed = parcels.area / 10_000
    relative = (parcels["official_area_ha"] - computed).abs() / computed
    assert (relative <= 0.031).mean() > 0.98
    assert (relative > 0.05).sum() >= 10


def test_balance_closes_and_shows_a_visible_gap(layers, parcels):
    balance = land_balance(parcels, official_area_ha=28_950.0, settlements=layers["settlements"])
    categories = balance.categories
    data = categories.loc[categories["kind"] == "category", "area_ha"].sum()
    assert data + balance.gap_ha == pytest.approx(28_950.0, abs=0.1)
    assert 150 <= balance.gap_ha <= 900  # a few hundred hectares not inventoried
    assert (categories.loc[categories["kind"] == "category", "area_ha"] > 0).all()
    assert balance.state_ag_fund_ha > 0 and balance.reserve_ha > 0
    table = balance.settlements.set_index("code")
    assert table.loc["inventory_total", "households"] == 7235
    assert table["settlement_land_ha"]["Isfana"] > 300


# -- the other layers -------------------------------------------------------------------------


def test_water_bodies(layers):
    kinds = layers["water_bodies"]
    river = kinds[kinds["kind"] == "river"]
    assert len(river) == 1 and river["water_class"].iloc[0] == "medium_river"
    assert river.geom_type.iloc[0] == "LineString" and river.length.iloc[0] > 20_000
    canals = kinds[kinds["kind"] == "canal"]
    assert len(canals) == 2 and (canals["water_class"] == "canal").all()
    intake = kinds[kinds["kind"] == "intake"]
    assert len(intake) == 1 and intake["water_class"].iloc[0] == "intake"
    assert intake.geometry.iloc[0].distance(river.geometry.iloc[0]) < 1e-6
    assert len(kinds) == 4


def test_facilities_are_short_of_school_places(layers):
    facilities = layers["facilities"]
    schools = facilities[facilities["kind"] == "school"]
    kindergartens = facilities[facilities["kind"] == "kindergarten"]
    assert len(schools) == 15 and len(kindergartens) == 22
    assert schools["capacity"].sum() == SCHOOL_PUPILS - SCHOOL_OVER_CAPACITY == 4658
    assert kindergartens["capacity"].sum() == KINDERGARTEN_CHILDREN == 1718
    assert set(facilities["settlement"]) == set(layers["settlements"]["name"])
    assert (facilities.geom_type == "Point").all()
    outlines = layers["settlements"][["name", "geometry"]].rename(columns={"name": "outline"})
    inside = facilities.sjoin(outlines, predicate="within")
    assert len(inside) == len(facilities)
    assert (inside["settlement"] == inside["outline"]).all()


def test_zoning_covers_the_territory_without_overlaps(layers, boundary):
    zones = layers["zones"]
    assert zones.geometry.is_valid.all()
    assert zones.area.sum() / 10_000 == pytest.approx(28_950.0, abs=1.0)
    assert (_overlap_areas(zones) <= 1.0).all()


def test_protected_area_restrictions_and_hazards(layers, parcels):
    protected = layers["protected_areas"]
    assert list(protected["subzone"]) == ["core", "buffer"]
    assert set(protected["pa_type"]) == {"natural_monument"}
    restrictions = layers["restrictions"]
    assert {"border_zone", "sanitary_zone"} <= set(restrictions["restriction_type"])
    hazards = layers["hazard_zones"]
    assert {"mudflow", "flood", "landslide"} <= set(hazards["hazard_type"])
    assert set(hazards["hazard_class"]) == {"high", "medium", "low"}
    assert hazards["source"].str.contains("illustrative").all()
    # Some houses stand in high-hazard zones: the relocation list is not empty.
    housing = parcels[parcels["designated_use"] == "individual_housing"]
    high = hazards[hazards["hazard_class"] == "high"]
    exposed = housing.sjoin(high, predicate="intersects")
    assert exposed["cadastral_no"].nunique() > 50
    assert set(exposed["hazard_type"]) >= {"flood", "mudflow"}
    forest = layers["forest_fund"]
    forest_parcels = parcels[parcels["land_category"] == "forest_fund"]
    assert forest.area.sum() == pytest.approx(forest_parcels.area.sum(), rel=0.02)


def test_every_layer_has_metadata(layers):
    assert set(LAYER_METADATA) == set(layers)
    for name, meta in LAYER_METADATA.items():
        assert meta["illustrative"] in {"true", "false"}, name
        assert meta["source"], name
        assert all(isinstance(v, str) for v in meta.values()), name
    assert "1 January 2019" in LAYER_METADATA["settlements"]["source"]
    assert "households" in LAYER_METADATA["settlements"]["real_attributes"]
    assert "illustrative" in LAYER_METADATA["settlements"]["note"]
    assert LAYER_METADATA["parcels"]["illustrative"] == "true"


# -- the workspace --------------------------------------------------------------------------


def test_write_demo_builds_a_workspace_with_the_store(tmp_path: Path, layers):
    from spatial.store import open_workspace

    target = tmp_path / "demo" / "isfana.gpkg"
    reports = write_demo(target, seed=SEED)
    assert target.exists()
    assert not list(target.parent.glob("*.building*"))
    assert reports["parcels"].imported == len(layers["parcels"])
    workspace = open_workspace(target)
    try:
        assert workspace.metadata()["demo"] == "isfana"
        assert workspace.metadata()["generator_seed"] == str(SEED)
        assert "illustrative" in workspace.metadata()["illustrative"]
        for name, frame in layers.items():
            assert workspace.count(name) == len(frame), name
            assert workspace.layer_metadata(name) == LAYER_METADATA[name], name
    finally:
        workspace.close()
