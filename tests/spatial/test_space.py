"""The Space section assembly: tables from tiny exact layers, invariants, the demo."""

from __future__ import annotations

import sys
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spatial.errors import ValidationError
from spatial.space import space_section
from spatial.zoning import Rulebook, load_rulebook

CRS = 32642
X0, Y0 = 500_000.0, 4_400_000.0
SECRET = "Holderova Secret"


def box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def gdf(rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    geoms = [r["geometry"] for r in rows]
    return gpd.GeoDataFrame([{k: v for k, v in r.items() if k != "geometry"} for r in rows],
                            geometry=geoms, crs=CRS)


def world() -> dict[str, gpd.GeoDataFrame]:
    """A 100 ha municipality of 1 ha parcels: left half settlement, right half farmland.

    Zoning: individual housing 0–500 m (50 ha), agricultural 500–900 m (40 ha), 10 ha
    unzoned. A 4 ha natural monument core (0–200 × 0–200) overlaps a 4 ha high flood zone
    (100–300 × 0–200) by 2 ha; a border zone 900–1100 m is half outside (10 ha inside).
    """
    i = np.arange(100)
    x = (i % 10) * 100.0
    y = (i // 10) * 100.0
    settlement = x < 500
    parcels = gpd.GeoDataFrame({
        "cadastral_no": [f"1-01-01-0001-{k:04d}" for k in i],
        "land_category": np.where(settlement, "settlement", "agricultural"),
        "ag_subtype": [None if s else "arable_irrigated" for s in settlement],
        "designated_use": np.where(settlement, "individual_housing", "agriculture"),
        "ownership": np.where(settlement, "private", "state"),
        "holder": np.full(100, SECRET),
        "in_use": (i % 4) != 0,
        "state_ag_fund": False,
        "official_area_ha": 1.0,
        "settlement": ["A" if s else None for s in settlement],
    }, geometry=shapely.box(X0 + x, Y0 + y, X0 + x + 100, Y0 + y + 100), crs=CRS)
    return {
        "municipality": gdf([{
            "name_ky": "Сынак", "name_ru": "Тест", "name_en": "Test", "kind": "rural",
            "oblast": "Batken", "district": "Leilek", "official_area_ha": 100.0,
            "geometry": box(0, 0, 1000, 1000)}]),
        "settlements": gdf([{"name": "A", "name_ky": "А", "name_ru": "А", "name_en": "A",
                             "households": 100, "population": 450,
                             "geometry": box(0, 0, 500, 1000)}]),
        "parcels": parcels,
        "zones": gdf([
            {"zone_id": "Z1", "zone_type": "residential_individual", "name": "Z1",
             "geometry": box(0, 0, 500, 1000)},
            {"zone_id": "Z2", "zone_type": "agricultural", "name": "Z2",
             "geometry": box(500, 0, 900, 1000)},
        ]),
        "protected_areas": gdf([{"area_id": "PA1", "name": "Monument",
                                 "pa_type": "natural_monument", "subzone": "core",
                                 "geometry": box(0, 0, 200, 200)}]),
        "hazard_zones": gdf([{"hazard_id": "H1", "hazard_type": "flood", "hazard_class": "high",
                              "name": "flood", "source": "survey",
                              "geometry": box(100, 0, 300, 200)}]),
        "restrictions": gdf([{"restriction_id": "B1", "restriction_type": "border_zone",
                              "name": "border", "geometry": box(900, 0, 1100, 1000)}]),
    }


@pytest.fixture(scope="module")
def rulebook() -> Rulebook:
    return load_rulebook()


@pytest.fixture(scope="module")
def section(rulebook: Rulebook) -> Any:
    return space_section(world(), rulebook=rulebook, population=None,
                         metadata={"illustrative": "all invented"})


def _row(frame: pd.DataFrame, **match: Any) -> pd.Series:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in match.items():
        mask &= (frame[column] == value).to_numpy()
    assert mask.sum() == 1, (match, frame)
    return frame.loc[mask].iloc[0]


def test_zoning_area_by_zone_type_with_unzoned_rest(section: Any) -> None:
    zoning = section.zoning
    assert _row(zoning, zone_type="residential_individual")["area_ha"] == pytest.approx(50)
    assert _row(zoning, zone_type="agricultural")["area_ha"] == pytest.approx(40)
    assert _row(zoning, zone_type="unzoned")["area_ha"] == pytest.approx(10)
    total = _row(zoning, kind="total")
    assert total["area_ha"] == pytest.approx(100) and total["zones"] == 2
    assert _row(zoning, zone_type="agricultural")["share_pct"] == pytest.approx(40)


def test_restrictions_by_group_count_overlaps_once_and_clip(section: Any) -> None:
    r = section.restrictions
    assert _row(r, group="protected", kind="item")["area_ha"] == pytest.approx(4)
    assert _row(r, group="protected", kind="item")["type"] == "natural_monument"
    assert _row(r, group="hazard", type="flood", kind="item")["class"] == "high"
    assert _row(r, group="hazard", kind="group_total")["area_ha"] == pytest.approx(4)
    # the border zone reaches 100 m beyond the boundary: only 10 ha are inside
    assert _row(r, group="other", kind="group_total")["area_ha"] == pytest.approx(10)
    # 4 + 4 + 10 minus the 2 ha where the monument and the flood zone overlap
    total = _row(r, kind="total")
    assert total["area_ha"] == pytest.approx(16)
    assert total["share_pct"] == pytest.approx(16)
    assert "water" not in set(r["group"])  # no water bodies in this world


def test_used_unused_ratio_matches_the_balance(section: Any) -> None:
    total = _row(section.used_unused, code="total")
    assert total["used_ha"] == pytest.approx(75) and total["unused_ha"] == pytest.approx(25)
    assert total["ratio"] == pytest.approx(3)
    assert total["ratio"] == pytest.approx(section.balance.used_unused_ratio)
    assert section.population == 450 and section.households == 100


def test_compliance_and_relocation_counts(section: Any) -> None:
    compliance = section.compliance
    assert _row(compliance, verdict="total")["parcels"] == 100
    assert _row(compliance, verdict="total")["area_ha"] == pytest.approx(100)
    # housing parcels in the high flood zone are prohibited and relocation candidates
    assert _row(compliance, verdict="prohibited")["parcels"] >= 4
    assert section.relocation_parcels == 4
    reloc = _row(section.relocation, settlement="A", hazard_class="high")
    assert reloc["parcels"] == 4 and reloc["area_ha"] == pytest.approx(4)
    # 4 ha of the 50 ha settlement outline: 8 % of its people and households
    assert reloc["population_exposed"] == pytest.approx(36)
    assert reloc["households_exposed"] == pytest.approx(8)
    classes = section.exposure.classes
    assert _row(classes, hazard_type="flood", hazard_class="high")["parcels"] >= 4


def test_no_personal_column_reaches_the_section(section: Any) -> None:
    frames = [section.balance.settlements, section.used_unused, section.zoning,
              section.restrictions, section.compliance, section.relocation,
              *section.maps.values()]
    for frame in frames:
        assert "holder" not in frame.columns
        assert not frame.astype(str).isin([SECRET]).any().any()


def test_without_population_demand_is_not_computed(section: Any) -> None:
    assert section.demand is None and section.capacity is None and section.allocation is None
    assert set(section.not_computed) == {"demand", "capacity", "allocation"}
    assert section.illustrative == "all invented"


def test_illustrative_from_layer_metadata_and_none_for_real_data(rulebook: Rulebook) -> None:
    layers = world()
    flagged = space_section(layers, rulebook=rulebook, population=None,
                            layer_metadata={"parcels": {"illustrative": "true"},
                                            "zones": {"illustrative": "false"}})
    assert flagged.illustrative == "parcels"
    real = space_section(layers, rulebook=rulebook, population=None, metadata={})
    assert real.illustrative is None
    assert "gebco" not in set(real.sources["key"])


def test_gebco_credit_when_hazards_were_derived_from_it(rulebook: Rulebook) -> None:
    from spatial.hazards import GEBCO_CREDIT

    layers = world()
    layers["hazard_zones"] = layers["hazard_zones"].assign(source="derived from GEBCO 2023")
    result = space_section(layers, rulebook=rulebook, population=None)
    assert GEBCO_CREDIT in set(result.sources["text"])


def test_missing_layers_are_all_named(rulebook: Rulebook) -> None:
    layers = world()
    del layers["parcels"]
    del layers["municipality"]
    with pytest.raises(ValidationError) as err:
        space_section(layers, rulebook=rulebook, population=None)
    assert {p.layer for p in err.value.problems} == {"parcels", "municipality"}


def _population() -> pd.DataFrame:
    return pd.DataFrame({"settlement": ["A"] * 4, "year": [2021, 2022, 2023, 2024],
                         "population": [400, 420, 435, 450], "households": [90, 94, 97, 100]})


def test_demand_capacity_and_allocation_with_a_population(rulebook: Rulebook) -> None:
    result = space_section(world(), rulebook=rulebook, population=_population(), horizon=3)
    assert result.base_year == 2024
    assert result.demand is not None and result.demand_total is not None
    assert set(result.demand["year"]) == {2025, 2026, 2027}
    assert set(result.demand["settlement"]) == {"A"}
    # the total is the per-settlement table summed
    summed = result.demand.groupby(["use", "year"])["hectares"].sum().reset_index()
    pd.testing.assert_frame_equal(summed, result.demand_total, check_like=True)
    if "capacity" in result.not_computed:
        pytest.skip("spatial.demand.capacity is not installed")
    assert result.capacity is not None and result.demand_balance is not None
    assert set(result.demand_balance["scenario"]) == {"medium"}
    if result.allocation is not None:
        assert "holder" not in result.allocation.columns
        # nothing is allocated on land prohibited for the use: the flood zone parcels
        flood = {f"1-01-01-0001-{k:04d}" for k in (1, 2)}
        assert flood.isdisjoint(set(result.allocation["cadastral_no"]))


def test_capacity_module_missing_degrades_to_not_computed(
    rulebook: Rulebook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "spatial.demand.capacity", None)
    result = space_section(world(), rulebook=rulebook, population=_population(), horizon=2)
    assert result.demand is not None
    assert result.capacity is None and result.allocation is None
    assert "not available" in result.not_computed["capacity"]
    assert "allocation" in result.not_computed


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 900), st.integers(0, 900), st.integers(20, 400),
                          st.integers(20, 400), st.sampled_from(["hazard", "other"])),
                min_size=1, max_size=6))
def test_restriction_totals_are_unions(rulebook: Rulebook, boxes: list[tuple]) -> None:
    layers = world()
    hz = [{"hazard_id": f"H{k}", "hazard_type": "flood", "hazard_class": "low", "name": "h",
           "geometry": box(x, y, x + w, y + h)}
          for k, (x, y, w, h, g) in enumerate(boxes) if g == "hazard"]
    rs = [{"restriction_id": f"R{k}", "restriction_type": "sanitary_zone", "name": "r",
           "geometry": box(x, y, x + w, y + h)}
          for k, (x, y, w, h, g) in enumerate(boxes) if g == "other"]
    layers["hazard_zones"] = gdf(hz) if hz else layers["hazard_zones"].iloc[:0]
    layers["restrictions"] = gdf(rs) if rs else layers["restrictions"].iloc[:0]
    del layers["protected_areas"]
    result = space_section(layers, rulebook=rulebook, population=None)
    r = result.restrictions
    groups = r.loc[r["kind"] == "group_total", "area_ha"]
    total = float(r.loc[r["kind"] == "total", "area_ha"].iloc[0])
    assert total <= groups.sum() + 1e-6
    assert total >= groups.max() - 1e-6
    assert total <= 100 + 1e-6
    union = shapely.union_all([shapely.intersection(box(x, y, x + w, y + h),
                                                    box(0, 0, 1000, 1000))
                               for x, y, w, h, _ in boxes])
    assert total == pytest.approx(union.area / 10_000)
    items = r[r["kind"] == "item"]
    for group, sub in items.groupby("group"):
        assert sub["area_ha"].sum() >= float(groups[r.loc[groups.index, "group"] == group]
                                             .iloc[0]) - 1e-6


def test_existing_facilities_reduce_the_social_demand(rulebook: Rulebook) -> None:
    """Places that exist are not demanded again (facilities reach the demand step)."""
    layers = world()
    bare = space_section(layers, rulebook=rulebook, population=_population(), horizon=2)
    layers["facilities"] = gdf([
        {"facility_id": "S1", "kind": "school", "name": "School 1", "capacity": 5000,
         "settlement": "A", "geometry": shapely.Point(X0 + 250, Y0 + 500)},
    ])
    served = space_section(layers, rulebook=rulebook, population=_population(), horizon=2)
    assert bare.demand is not None and served.demand is not None

    def school(frame: pd.DataFrame) -> float:
        return float(frame.loc[frame["use"] == "school", "hectares"].sum())

    assert school(bare.demand) > 0
    assert school(served.demand) == pytest.approx(0)
