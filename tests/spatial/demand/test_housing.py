"""Housing land, computed by hand on one or two settlements."""

from __future__ import annotations

import pandas as pd
import pytest

from spatial.demand import (
    DemandNorms,
    PopulationProjection,
    housing_demand,
    project_households,
)
from spatial.errors import InputError, ValidationError


def projection(populations: dict[str, list[float]], households: dict[str, float | None],
               base_year: int = 2024) -> PopulationProjection:
    """A medium-only projection with the given populations from the base year on."""
    rows = []
    for name, pops in populations.items():
        for k, pop in enumerate(pops):
            rows.append({"settlement": name, "year": base_year + k, "scenario": "medium",
                         "population": float(pop),
                         "households": households[name] if k == 0 else float("nan"),
                         "projected": k > 0})
    frame = pd.DataFrame(rows).astype({"households": float})
    horizon = max(len(p) for p in populations.values()) - 1
    rates = pd.DataFrame({"settlement": list(populations), "scenario": "medium", "rate": 0.0})
    return PopulationProjection(frame=frame, method="official", base_year=base_year,
                                horizon=horizon, rates=rates)


#: Norms chosen so the hand computation is exact.
NORMS = DemandNorms.default().with_values({
    "housing.household_size_decline": 0.01,
    "housing.min_household_size": 3.0,
    "housing.individual_plot_ha": 0.1,
    "housing.multi_storey_share": 0.2,
    "housing.multi_storey_dwellings_per_ha": 100,
    "housing.infill_share": 0.1,
    "housing.streets_share": 0.2,
}, source="test")


def _ha(frame: pd.DataFrame, year: int, use: str, driver: str = "population") -> float:
    sel = frame[(frame["year"] == year) & (frame["use"] == use) & (frame["driver"] == driver)]
    return float(sel["hectares"].sum())


def test_hand_computed_hectares() -> None:
    proj = projection({"A": [1000, 1100]}, {"A": 200})
    out = housing_demand(proj, norms=NORMS)
    # size 5 × 0.99 = 4.95; 1100 / 4.95 = 222.2 households, 22.2 new; 10 % infill → 20
    # dwellings on new land: 16 plots × 0.1 ha / 0.8 = 2.0 ha; 4 flats / 100 per ha / 0.8.
    assert _ha(out, 2025, "individual_housing") == pytest.approx(2.0)
    assert _ha(out, 2025, "multi_storey_housing") == pytest.approx(0.05)
    qty = out.set_index("use")["quantity"]
    assert qty["individual_housing"] == pytest.approx(16)
    assert qty["multi_storey_housing"] == pytest.approx(4)
    assert set(out["unit"]) == {"dwellings"}
    assert set(out["driver"]) == {"population"}  # no backlog given


def test_household_formation_needs_land_without_population_growth() -> None:
    proj = projection({"A": [1000, 1000, 1000]}, {"A": 200})
    hh = project_households(proj, norms=NORMS)
    sizes = hh.set_index("year")["household_size"]
    assert sizes.loc[2026] == pytest.approx(5 * 0.99**2)
    new = hh.set_index("year")["new_households"]
    assert new.loc[2026] == pytest.approx(1000 / (5 * 0.99**2) - 200)
    out = housing_demand(proj, norms=NORMS)
    assert _ha(out, 2026, "individual_housing") > _ha(out, 2025, "individual_housing") > 0


def test_household_size_floor() -> None:
    norms = NORMS.with_values({"housing.min_household_size": 4.98})
    proj = projection({"A": [1000, 1000, 1000]}, {"A": 200})
    sizes = project_households(proj, norms=norms).set_index("year")["household_size"]
    assert sizes.loc[2025] == pytest.approx(4.98)
    assert sizes.loc[2026] == pytest.approx(4.98)
    # A settlement already below the floor keeps its own size (no jump up).
    small = projection({"A": [1000, 1000]}, {"A": 400})  # 2.5 persons per household
    sizes = project_households(small, norms=NORMS).set_index("year")["household_size"]
    assert sizes.loc[2025] == pytest.approx(2.5)


def test_shrinking_settlement_needs_no_land() -> None:
    proj = projection({"A": [1000, 800]}, {"A": 200})
    out = housing_demand(proj, norms=NORMS.with_values({"housing.household_size_decline": 0}))
    assert out["hectares"].sum() == 0


def test_backlog_is_met_evenly_over_the_horizon() -> None:
    norms = NORMS.with_values({"housing.household_size_decline": 0})
    proj = projection({"A": [1000, 1000, 1000], "B": [500, 500, 500]}, {"A": 200, "B": 100})
    backlog = pd.DataFrame({"settlement": ["A"], "households": [40]})
    out = housing_demand(proj, norms=norms, backlog=backlog)
    # 20 a year, 18 on new land: 14.4 plots × 0.1 / 0.8 = 1.8 ha; 3.6 flats → 0.045 ha.
    assert _ha(out, 2025, "individual_housing", "backlog") == pytest.approx(1.8)
    assert _ha(out, 2026, "individual_housing", "backlog") == pytest.approx(3.6)
    assert _ha(out, 2026, "multi_storey_housing", "backlog") == pytest.approx(0.09)
    assert set(out.loc[out["driver"] == "backlog", "settlement"]) == {"A"}
    # Cleared in the first year when asked.
    fast = housing_demand(proj, norms=norms, backlog=backlog, backlog_years=1)
    assert _ha(fast, 2025, "individual_housing", "backlog") == pytest.approx(3.6)
    with pytest.raises(InputError, match="backlog_years"):
        housing_demand(proj, norms=norms, backlog=backlog, backlog_years=0)


def test_settlements_frame_overrides_size_and_multi_storey_share() -> None:
    proj = projection({"A": [1000, 1100], "B": [400, 440]}, {"A": None, "B": None})
    settlements = pd.DataFrame({
        "name": ["A", "B"],
        "households": [200, 100],
        "population": [1000, 400],
        "household_size": [None, None],
        "multi_storey_share": [0.0, None],
    })
    out = housing_demand(proj, norms=NORMS, settlements=settlements)
    a = out[out["settlement"] == "A"]
    assert _ha(a, 2025, "multi_storey_housing") == 0
    assert _ha(a, 2025, "individual_housing") == pytest.approx(2.5)  # 20 plots × 0.1 / 0.8
    b = out[out["settlement"] == "B"]
    # size 4 × 0.99; 440 / 3.96 = 111.1, 11.1 new, 10 on new land, 8 plots → 1.0 ha.
    assert _ha(b, 2025, "individual_housing") == pytest.approx(1.0)
    explicit = settlements.assign(household_size=[10.0, None])
    out = housing_demand(proj, norms=NORMS, settlements=explicit)
    a = out[out["settlement"] == "A"]
    # size 9.9 → 111.1 households vs 100 → 10 on new land, all individual.
    assert _ha(a, 2025, "individual_housing") == pytest.approx(1.25)


def test_missing_household_size_and_bad_backlog_are_reported_together() -> None:
    proj = projection({"A": [1000, 1100], "B": [10, 11]}, {"A": None, "B": 2})
    backlog = pd.DataFrame({"settlement": ["C", "A"], "households": [5, -1]})
    with pytest.raises(ValidationError) as err:
        housing_demand(proj, norms=NORMS, backlog=backlog)
    got = {(p.code, p.row, p.feature) for p in err.value.problems}
    assert ("no_household_size", None, "A") in got
    assert ("unknown_settlement", 0, "C") in got
    assert ("negative_count", 1, "A") in got
