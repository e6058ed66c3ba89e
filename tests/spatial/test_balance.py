"""Land balance: hand-computed tiny frames, closure invariants, labels and exports."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from shapely import box

from spatial.balance import TABLES, LandBalance, land_balance
from spatial.errors import InputError, ValidationError
from spatial.schema import codes

X0, Y0 = 545_000.0, 4_410_000.0  # near Isfana, EPSG:32642


def _square(ha: float, slot: int) -> object:
    """A square of ``ha`` hectares, each slot 1 km apart so nothing overlaps."""
    side = math.sqrt(ha * 10_000.0)
    x = X0 + slot * 1_000.0
    return box(x, Y0, x + side, Y0 + side)


def _parcels(rows: list[dict[str, object]]) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(rows)
    geometry = [_square(float(ha), i) for i, ha in enumerate(frame["area_ha"])]
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=32642)


@pytest.fixture
def parcels() -> gpd.GeoDataFrame:
    # Hand-computed: parcels 1 + 2 + 0.1 + 0.08 + 1.5 + 0.5 = 5.18 ha; official area 10 ha.
    return _parcels(
        [
            dict(cadastral_no="4-08-01-0001-0001", land_category="agricultural",
                 ag_subtype="arable_irrigated", ownership="private", in_use=True,
                 state_ag_fund=False, settlement=None, official_area_ha=1.02, area_ha=1.0),
            dict(cadastral_no="4-08-01-0001-0002", land_category="agricultural",
                 ag_subtype="pasture", ownership="municipal", in_use=False,
                 state_ag_fund=True, settlement=None, official_area_ha=2.0, area_ha=2.0),
            dict(cadastral_no="4-08-01-0001-0003", land_category="settlement",
                 ag_subtype="empty", ownership="private", in_use=True,
                 state_ag_fund=False, settlement="Samat", official_area_ha=0.1, area_ha=0.1),
            dict(cadastral_no="4-08-01-0001-0004", land_category="settlement",
                 ag_subtype=None, ownership="private", in_use=False,
                 state_ag_fund=False, settlement="Golbo", official_area_ha=None, area_ha=0.08),
            dict(cadastral_no="4-08-01-0001-0005", land_category="reserve",
                 ag_subtype="empty", ownership="state", in_use=False,
                 state_ag_fund=False, settlement=None, official_area_ha=1.5, area_ha=1.5),
            dict(cadastral_no="4-08-01-0001-0006", land_category="water_fund",
                 ag_subtype="empty", ownership="state", in_use=True,
                 state_ag_fund=False, settlement="Samat", official_area_ha=0.5, area_ha=0.5),
        ]
    )  # fmt: skip


@pytest.fixture
def settlements() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["Samat", "Golbo", "Tailan"],
            "name_ky": ["Самат", "Голбо", "Тайлан"],
            "name_ru": ["Самат", "Голбо", "Тайлан"],
            "name_en": ["Samat", "Golbo", "Tailan"],
            "households": [549, 405, 355],
            "population": [2315, 1777, 1561],
        }
    )


def _row(table: pd.DataFrame, code: str) -> pd.Series:
    rows = table[table["code"] == code]
    assert len(rows) == 1, f"expected one row {code!r}, got {len(rows)}"
    return rows.iloc[0]


def _assert_closed(balance: LandBalance) -> None:
    """Every table adds up: data rows, inventory total, gap, official area."""
    official = balance.official_area_ha
    for key, data_kinds in (
        ("categories", {"category"}),
        ("ownership", {"ownership"}),
        ("settlements", {"settlement", "outside"}),
    ):
        table = balance.table(key)
        data = table[table["kind"].isin(data_kinds)]
        inventory = _row(table, "inventory_total")
        assert data["area_ha"].sum() == pytest.approx(inventory["area_ha"], abs=1e-6)
        assert data["parcels"].sum() == inventory["parcels"] == balance.parcel_count
        assert data["official_area_ha"].sum() == pytest.approx(inventory["official_area_ha"])
        assert inventory["area_ha"] + _row(table, "gap")["area_ha"] == pytest.approx(official)
        assert _row(table, "municipality_total")["area_ha"] == pytest.approx(official)
        assert table["share_pct"].to_numpy() == pytest.approx(
            (table["area_ha"] / official * 100).to_numpy()
        )
    ag = balance.agricultural
    subtypes = ag[ag["kind"] == "subtype"]
    total = _row(ag, "agricultural_total")
    assert subtypes["area_ha"].sum() == pytest.approx(total["area_ha"], abs=1e-6)
    assert total["area_ha"] == pytest.approx(_row(balance.categories, "agricultural")["area_ha"])
    assert _row(ag, "arable_total")["area_ha"] == pytest.approx(
        _row(ag, "arable_irrigated")["area_ha"] + _row(ag, "arable_rainfed")["area_ha"]
    )
    assert (ag["used_ha"] + ag["unused_ha"]).to_numpy() == pytest.approx(ag["area_ha"].to_numpy())
    use = balance.use
    assert (use["used_ha"] + use["unused_ha"]).to_numpy() == pytest.approx(
        use["total_ha"].to_numpy()
    )
    categories = use[use["kind"] == "category"]
    assert categories["total_ha"].sum() == pytest.approx(balance.parcels_area_ha, abs=1e-6)
    assert balance.used_ha + balance.unused_ha == pytest.approx(balance.parcels_area_ha, abs=1e-6)


# -- hand-computed figures ------------------------------------------------------------------


def test_categories_hand_computed_with_zero_rows_and_positive_gap(parcels):
    balance = land_balance(parcels, official_area_ha=10.0)
    table = balance.categories
    assert table["code"].tolist() == [
        *codes("land_category"),
        "inventory_total",
        "gap",
        "municipality_total",
    ]
    expected = {
        "agricultural": (3.0, 2),
        "settlement": (0.18, 2),
        "industry_transport": (0.0, 0),
        "protected": (0.0, 0),
        "forest_fund": (0.0, 0),
        "water_fund": (0.5, 1),
        "reserve": (1.5, 1),
    }
    for code, (area, count) in expected.items():
        row = _row(table, code)
        assert row["area_ha"] == pytest.approx(area)
        assert row["parcels"] == count
        assert row["share_pct"] == pytest.approx(area / 10.0 * 100)
    assert balance.parcels_area_ha == pytest.approx(5.18)
    assert balance.gap_ha == pytest.approx(4.82)
    assert balance.gap_share_pct == pytest.approx(48.2)
    gap = _row(table, "gap")
    assert gap["area_ha"] == pytest.approx(4.82)
    assert gap["parcels"] == 0
    _assert_closed(balance)


def test_negative_gap_is_reported_not_hidden(parcels):
    balance = land_balance(parcels, official_area_ha=4.0)
    assert balance.gap_ha == pytest.approx(-1.18)
    assert _row(balance.categories, "gap")["area_ha"] == pytest.approx(-1.18)
    assert _row(balance.ownership, "gap")["share_pct"] == pytest.approx(-29.5)
    _assert_closed(balance)
    assert "exceed" in balance.row_labels("categories", "en")[8]
    assert "превышает" in balance.row_labels("categories", "ru")[8]
    assert "ашып кеткен" in balance.row_labels("categories", "ky")[8]
    assert land_balance(parcels, official_area_ha=10.0).row_labels("categories", "en")[8] == (
        "Not covered by the inventory (gap)"
    )


def test_official_areas_side_by_side(parcels):
    balance = land_balance(parcels, official_area_ha=10.0)
    # Official areas: 1.02 + 2 + 0.1 + (missing) + 1.5 + 0.5 = 5.12.
    assert balance.parcels_official_area_ha == pytest.approx(5.12)
    agricultural = _row(balance.categories, "agricultural")
    assert agricultural["area_ha"] == pytest.approx(3.0)
    assert agricultural["official_area_ha"] == pytest.approx(3.02)
    summary = balance.summary.set_index("code")
    assert summary.loc["parcels_area_ha", "value"] == pytest.approx(5.18)
    assert summary.loc["parcels_official_area_ha", "value"] == pytest.approx(5.12)
    assert summary.loc["parcels_without_official_area", "value"] == 1
    assert _row(balance.categories, "gap")["official_area_ha"] == pytest.approx(4.88)


def test_agricultural_subtypes(parcels):
    ag = land_balance(parcels, official_area_ha=10.0).agricultural
    assert ag["code"].tolist() == [
        "arable_irrigated",
        "arable_rainfed",
        "arable_total",
        "perennial",
        "hayfield",
        "pasture",
        "empty",
        "agricultural_total",
    ]
    assert _row(ag, "arable_irrigated")["area_ha"] == pytest.approx(1.0)
    assert _row(ag, "arable_irrigated")["private_ha"] == pytest.approx(1.0)
    assert _row(ag, "arable_total")["area_ha"] == pytest.approx(1.0)
    pasture = _row(ag, "pasture")
    assert pasture["area_ha"] == pytest.approx(2.0)
    assert pasture["unused_ha"] == pytest.approx(2.0)
    assert pasture["state_ag_fund_ha"] == pytest.approx(2.0)
    assert _row(ag, "agricultural_total")["parcels"] == 2
    assert _row(ag, "perennial")["area_ha"] == 0.0


def test_use_state_fund_reserve_and_ownership(parcels):
    balance = land_balance(parcels, official_area_ha=10.0)
    # Used: 1 (irrigated) + 0.1 (house) + 0.5 (water) = 1.6; unused 2 + 0.08 + 1.5 = 3.58.
    assert balance.used_ha == pytest.approx(1.6)
    assert balance.unused_ha == pytest.approx(3.58)
    assert balance.used_unused_ratio == pytest.approx(1.6 / 3.58)
    settlement = _row(balance.use, "settlement")
    assert settlement["used_ha"] == pytest.approx(0.1)
    assert settlement["unused_ha"] == pytest.approx(0.08)
    assert settlement["used_pct"] == pytest.approx(0.1 / 0.18 * 100)
    assert settlement["used_parcels"] == 1 and settlement["unused_parcels"] == 1
    assert math.isnan(_row(balance.use, "protected")["used_pct"])
    assert balance.state_ag_fund_ha == pytest.approx(2.0)
    assert balance.reserve_ha == pytest.approx(1.5)
    summary = balance.summary.set_index("code")
    assert summary.loc["state_ag_fund_unused_ha", "value"] == pytest.approx(2.0)
    assert summary.loc["reserve_parcels", "value"] == 1
    assert summary.loc["used_unused_ratio", "unit"] == "ratio"
    ownership = balance.ownership
    assert _row(ownership, "state")["area_ha"] == pytest.approx(2.0)
    assert _row(ownership, "municipal")["area_ha"] == pytest.approx(2.0)
    assert _row(ownership, "private")["area_ha"] == pytest.approx(1.18)
    assert _row(ownership, "private")["parcels"] == 3


def test_ratio_is_none_when_nothing_is_unused(parcels):
    balance = land_balance(parcels.assign(in_use=True), official_area_ha=10.0)
    assert balance.unused_ha == 0
    assert balance.used_unused_ratio is None
    assert balance.to_dict("en")["used_unused_ratio"] is None


def test_settlements_with_people_and_outside_row(parcels, settlements):
    frame = parcels.copy()
    frame.loc[0, "settlement"] = "Kara-Suu"  # a name the settlements table does not know
    balance = land_balance(frame, official_area_ha=10.0, settlements=settlements)
    table = balance.settlements
    assert table["code"].tolist() == [
        "Samat",
        "Golbo",
        "Tailan",
        "Kara-Suu",
        "outside_settlements",
        "inventory_total",
        "gap",
        "municipality_total",
    ]
    samat = _row(table, "Samat")
    assert samat["area_ha"] == pytest.approx(0.6)
    assert samat["settlement_land_ha"] == pytest.approx(0.1)
    assert samat["households"] == 549 and samat["population"] == 2315
    assert _row(table, "Tailan")["area_ha"] == 0.0
    assert pd.isna(_row(table, "Kara-Suu")["households"])
    outside = _row(table, "outside_settlements")
    assert outside["area_ha"] == pytest.approx(3.5)
    assert outside["kind"] == "outside"
    assert pd.isna(outside["population"])
    assert _row(table, "inventory_total")["households"] == 549 + 405 + 355
    assert _row(table, "municipality_total")["population"] == 2315 + 1777 + 1561
    _assert_closed(balance)
    assert balance.row_labels("settlements", "ky")[:2] == ["Самат", "Голбо"]
    assert balance.row_labels("settlements", "ru")[4] == "Вне населённых пунктов"
    assert balance.row_labels("settlements", "en")[4] == "Outside settlements"


def test_settlements_without_people_has_no_people_columns(parcels):
    table = land_balance(parcels, official_area_ha=10.0).settlements
    assert "households" not in table.columns
    assert table["code"].tolist()[:2] == ["Golbo", "Samat"]  # sorted when no table is given


def test_bad_settlements_table_is_an_input_error(parcels, settlements):
    with pytest.raises(InputError, match="population"):
        land_balance(
            parcels, official_area_ha=10.0, settlements=settlements.drop(columns="population")
        )
    doubled = pd.concat([settlements, settlements.iloc[[0]]])
    with pytest.raises(InputError, match="Samat"):
        land_balance(parcels, official_area_ha=10.0, settlements=doubled)


# -- areas and validation ---------------------------------------------------------------


def test_area_is_computed_from_projected_geometry_when_column_absent(parcels):
    with_column = land_balance(parcels, official_area_ha=10.0)
    without = land_balance(parcels.drop(columns="area_ha"), official_area_ha=10.0)
    assert without.parcels_area_ha == pytest.approx(with_column.parcels_area_ha)
    pd.testing.assert_frame_equal(without.categories, with_column.categories, rtol=1e-9)


def test_other_area_column(parcels):
    renamed = parcels.rename(columns={"area_ha": "area_computed"}).assign(
        area_computed=lambda f: f["area_computed"] * 2
    )
    balance = land_balance(renamed, official_area_ha=20.0, area_column="area_computed")
    assert balance.parcels_area_ha == pytest.approx(10.36)


def test_geographic_crs_without_area_column_is_refused(parcels):
    geographic = parcels.drop(columns="area_ha").to_crs(4326)
    with pytest.raises(ValidationError) as info:
        land_balance(geographic, official_area_ha=10.0)
    assert [p.code for p in info.value.problems] == ["crs_not_projected"]


def test_every_bad_row_is_reported_at_once(parcels):
    bad = parcels.copy()
    bad["land_category"] = bad["land_category"].astype(object)
    bad.loc[1, "land_category"] = "farmland"
    bad.loc[2, "land_category"] = None
    bad.loc[3, "ownership"] = "collective"
    bad["in_use"] = bad["in_use"].astype(object)
    bad.loc[4, "in_use"] = None
    bad.loc[5, "in_use"] = "yes"
    bad.loc[0, "ag_subtype"] = "orchard"
    bad.loc[0, "area_ha"] = -1.0
    bad.loc[1, "official_area_ha"] = -0.5
    with pytest.raises(ValidationError) as info:
        land_balance(bad, official_area_ha=10.0)
    found = {(p.code, p.column, p.row, p.feature) for p in info.value.problems}
    assert found == {
        ("unknown_code", "land_category", 1, "4-08-01-0001-0002"),
        ("missing_value", "land_category", 2, "4-08-01-0001-0003"),
        ("unknown_code", "ownership", 3, "4-08-01-0001-0004"),
        ("missing_value", "in_use", 4, "4-08-01-0001-0005"),
        ("not_boolean", "in_use", 5, "4-08-01-0001-0006"),
        ("unknown_code", "ag_subtype", 0, "4-08-01-0001-0001"),
        ("invalid_area", "area_ha", 0, "4-08-01-0001-0001"),
        ("invalid_area", "official_area_ha", 1, "4-08-01-0001-0002"),
    }
    assert "farmland" in str(info.value) or "farmland" in " ".join(
        p.message for p in info.value.problems
    )


def test_missing_required_columns_are_all_named(parcels):
    with pytest.raises(ValidationError) as info:
        land_balance(parcels.drop(columns=["ownership", "in_use"]), official_area_ha=10.0)
    assert {(p.code, p.column) for p in info.value.problems} == {
        ("missing_column", "ownership"),
        ("missing_column", "in_use"),
    }


@pytest.mark.parametrize("official", [0, -5, math.nan, math.inf, "a lot"])
def test_official_area_must_be_positive(parcels, official):
    with pytest.raises(InputError, match="official_area_ha"):
        land_balance(parcels, official_area_ha=official)


def test_integer_booleans_and_missing_optional_columns_are_accepted(parcels):
    minimal = parcels[["land_category", "ownership", "in_use", "area_ha", "geometry"]].assign(
        in_use=lambda f: f["in_use"].astype(int)
    )
    balance = land_balance(minimal, official_area_ha=10.0)
    assert balance.used_ha == pytest.approx(1.6)
    assert balance.state_ag_fund_ha == 0
    assert balance.settlements["code"].tolist()[0] == "outside_settlements"
    assert _row(balance.agricultural, "empty")["area_ha"] == pytest.approx(3.0)


def test_empty_inventory_is_all_gap():
    empty = gpd.GeoDataFrame(
        {"land_category": [], "ownership": [], "in_use": [], "area_ha": []},
        geometry=gpd.GeoSeries([], crs=32642),
    )
    balance = land_balance(empty, official_area_ha=28950.0)
    assert balance.gap_ha == 28950.0
    assert balance.parcel_count == 0
    _assert_closed(balance)


# -- labels and exports -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "agricultural", "header", "gap", "total"),
    [
        ("ky", "айыл чарба багытындагы жерлер", "Эсептелген аянты, га",
         "Инвентаризация менен камтылбаган жерлер (айырма)", "Муниципалитеттин расмий аянты"),
        ("ru", "земли сельскохозяйственного назначения", "Вычисленная площадь, га",
         "Земли, не охваченные инвентаризацией (разница)", "Официальная площадь муниципалитета"),
        ("en", "agricultural land", "Computed area, ha",
         "Not covered by the inventory (gap)", "Official area of the municipality"),
    ],
)  # fmt: skip
def test_frames_are_labelled_in_three_languages(
    parcels, settlements, lang, agricultural, header, gap, total
):
    balance = land_balance(parcels, official_area_ha=10.0, settlements=settlements)
    frames = balance.to_frames(lang)
    assert list(frames) == list(TABLES)
    categories = frames["categories"]
    item = categories.columns[0]
    assert categories[item].tolist()[0] == agricultural
    assert categories[item].tolist()[-2:] == [gap, total]
    assert header in categories.columns
    assert "code" not in categories.columns and "kind" not in categories.columns
    assert categories[header].tolist() == pytest.approx(balance.categories["area_ha"].tolist())
    # Every header and label is translated: no code leaks into a human frame.
    for frame in frames.values():
        assert not any("_" in str(column) for column in frame.columns)
        assert not any("_" in str(value) for value in frame[frame.columns[0]])
    assert balance.title("categories", lang)


def test_languages_differ_and_unknown_language_is_refused(parcels):
    balance = land_balance(parcels, official_area_ha=10.0)
    headers = {lang: tuple(balance.to_frames(lang)["use"].columns) for lang in ("ky", "ru", "en")}
    assert len(set(headers.values())) == 3
    with pytest.raises(InputError, match="language"):
        balance.to_frames("de")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="table"):
        balance.table("pastures")


def test_to_dict_is_json_ready(parcels, settlements):
    balance = land_balance(parcels, official_area_ha=10.0, settlements=settlements)
    data = balance.to_dict("ru")
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    back = json.loads(text)
    assert back["gap_ha"] == pytest.approx(4.82)
    assert set(back["tables"]) == set(TABLES)
    rows = back["tables"]["categories"]["rows"]
    assert rows[0]["code"] == "agricultural"
    assert rows[0]["label"] == "земли сельскохозяйственного назначения"
    assert rows[0]["area_ha"] == pytest.approx(3.0)
    assert back["tables"]["categories"]["title"] == "Распределение земель по категориям"
    outside = next(r for r in back["tables"]["settlements"]["rows"] if r["kind"] == "outside")
    assert outside["households"] is None
    protected = next(r for r in back["tables"]["use"]["rows"] if r["code"] == "protected")
    assert protected["used_pct"] is None


def test_csv_per_table_round_trip(parcels, settlements, tmp_path: Path):
    balance = land_balance(parcels, official_area_ha=10.0, settlements=settlements)
    written = balance.to_csv(tmp_path / "balance", "ky")
    assert [p.name for p in written] == [f"land_balance_{key}.csv" for key in TABLES]
    assert written[0].read_bytes().startswith(b"\xef\xbb\xbf")  # BOM for spreadsheet programs
    frames = balance.to_frames("ky")
    for key, path in zip(TABLES, written, strict=True):
        back = pd.read_csv(path, encoding="utf-8-sig")
        expected = frames[key]
        assert list(back.columns) == list(expected.columns)
        for column in expected.columns[1:]:
            if pd.api.types.is_numeric_dtype(back[column]):
                assert back[column].to_numpy(dtype=float) == pytest.approx(
                    pd.to_numeric(expected[column]).to_numpy(dtype=float), nan_ok=True
                )
    categories = pd.read_csv(written[1], encoding="utf-8-sig")
    assert categories.iloc[:, 1].tolist() == pytest.approx(balance.categories["area_ha"].tolist())


def test_csv_single_file_holds_every_table(parcels, tmp_path: Path):
    balance = land_balance(parcels, official_area_ha=10.0)
    (path,) = balance.to_csv(tmp_path / "balance.csv", "en")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    titles = [balance.title(key, "en") for key in TABLES]
    assert [r[0] for r in rows if r and r[0] in titles] == titles
    start = rows.index(["Land by category"])
    assert rows[start + 1][:2] == ["Item", "Computed area, ha"]
    gap_row = next(r for r in rows[start:] if r and r[0] == "Not covered by the inventory (gap)")
    assert float(gap_row[1]) == pytest.approx(4.82)


def test_xlsx_one_sheet_per_table_numbers_and_bold_header(parcels, settlements, tmp_path: Path):
    balance = land_balance(parcels, official_area_ha=10.0, settlements=settlements)
    path = balance.to_xlsx(tmp_path / "out" / "balance.xlsx", "ru")
    book = load_workbook(path)
    assert book.sheetnames == [
        "Итоги",
        "Категории",
        "Сельхозугодья",
        "Использование",
        "Собственность",
        "Населённые пункты",
    ]
    frames = balance.to_frames("ru")
    for key, name in zip(TABLES, book.sheetnames, strict=True):
        sheet = book[name]
        rows = list(sheet.iter_rows(values_only=True))
        assert list(rows[0]) == list(frames[key].columns)
        assert all(cell.font.bold for cell in sheet[1])
        assert len(rows) - 1 == len(frames[key])
    sheet = book["Категории"]
    values = [r[1] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert all(isinstance(v, float | int) for v in values)
    assert values == pytest.approx(balance.categories["area_ha"].tolist())
    people = [r for r in book["Населённые пункты"].iter_rows(min_row=2, values_only=True)]
    assert people[0][0] == "Самат" and people[0][-1] == 2315
    assert people[3][-1] is None  # outside settlements has no population


# -- invariants ---------------------------------------------------------------------------

_CATEGORIES = list(codes("land_category"))
_SUBTYPES = list(codes("ag_subtype"))
_OWNERS = list(codes("ownership"))


@st.composite
def _random_parcels(draw: st.DrawFn) -> tuple[pd.DataFrame, float]:
    n = draw(st.integers(min_value=0, max_value=40))
    area = st.floats(min_value=0.0, max_value=500.0, allow_nan=False)
    frame = pd.DataFrame(
        {
            "land_category": draw(st.lists(st.sampled_from(_CATEGORIES), min_size=n, max_size=n)),
            "ag_subtype": draw(st.lists(st.sampled_from(_SUBTYPES), min_size=n, max_size=n)),
            "ownership": draw(st.lists(st.sampled_from(_OWNERS), min_size=n, max_size=n)),
            "in_use": draw(st.lists(st.booleans(), min_size=n, max_size=n)),
            "state_ag_fund": draw(st.lists(st.booleans(), min_size=n, max_size=n)),
            "settlement": draw(st.lists(st.sampled_from(["A", "B", None]), min_size=n, max_size=n)),
            "area_ha": draw(st.lists(area, min_size=n, max_size=n)),
            "official_area_ha": draw(st.lists(area, min_size=n, max_size=n)),
        }
    )
    official = draw(st.floats(min_value=0.01, max_value=50_000.0, allow_nan=False))
    return frame, official


@settings(max_examples=150, deadline=None)
@given(_random_parcels())
def test_balance_always_closes(case):
    frame, official = case
    balance = land_balance(frame, official_area_ha=official)
    categories = balance.categories
    data = categories[categories["kind"] == "category"]["area_ha"].sum()
    assert data + balance.gap_ha == pytest.approx(official, rel=1e-9, abs=1e-6)
    assert balance.used_ha + balance.unused_ha == pytest.approx(
        balance.parcels_area_ha, rel=1e-9, abs=1e-6
    )
    assert balance.parcels_area_ha == pytest.approx(float(np.sum(frame["area_ha"])), abs=1e-6)
    _assert_closed(balance)
