"""The combined land-demand table: totals add up, errors are gathered, the demo runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jer_data import DEMO_DIR
from spatial.demand import (
    DEMAND_COLUMNS,
    LAND_USES,
    DemandNorms,
    housing_demand,
    land_demand,
    project_population,
    read_population_csv,
    sector_demand,
    social_demand,
)
from spatial.errors import ValidationError

from .test_economy import q76_project


def _history() -> pd.DataFrame:
    return pd.DataFrame({
        "settlement": ["A"] * 4 + ["B"] * 4,
        "year": [2021, 2022, 2023, 2024] * 2,
        "population": [9800, 10500, 11000, 11500, 1000, 1020, 1040, 1060],
        "households": [2000, 2100, 2200, 2300, 250, 255, 260, 265],
    })


FACILITIES = pd.DataFrame({
    "facility_id": ["s1", "k1", "c1", "s2"],
    "kind": ["school", "kindergarten", "clinic", "school"],
    "capacity": [1500, 300, 100, 150],
    "settlement": ["A", "A", "A", "B"],
})
JOBS = pd.DataFrame({"settlement": ["A", "B"], "use": ["industry", "commerce"],
                     "year": [2026, 2027], "jobs": [100, 50]})
TARGETS = pd.DataFrame({"settlement": ["B"], "product": ["raspberry"], "year": [2027],
                        "production": [3828.0], "yield": [4.2], "current_area_ha": [550.0]})


def _full_table(horizon: int = 5):
    proj = project_population(_history(), horizon=horizon)
    return proj, land_demand(
        proj, facilities=FACILITIES, sector_jobs=JOBS, production_targets=TARGETS,
        projects=[q76_project(settlement="B")],
        housing_backlog=pd.DataFrame({"settlement": ["A"], "households": [30]}),
    )


def test_table_shape_and_codes() -> None:
    _, table = _full_table()
    frame = table.frame
    assert list(frame.columns) == list(DEMAND_COLUMNS)
    assert set(frame["use"]) <= set(LAND_USES)
    assert set(frame["use"]) == {"individual_housing", "multi_storey_housing", "school",
                                 "kindergarten", "health", "industry", "commerce",
                                 "agriculture"}
    assert set(frame["year"]) == set(range(2025, 2030))
    assert set(frame["scenario"]) == {"low", "medium", "high"}
    assert (frame["hectares"] >= 0).all()
    assert table.base_year == 2024
    assert {"population", "backlog", "existing_deficit", "sector_growth",
            "production_target", "investment:irrigation"} == set(frame["driver"])


def test_totals_add_up_across_settlements_and_uses() -> None:
    proj, table = _full_table()
    frame = table.frame
    total = table.total().set_index(["scenario", "year"])["hectares"]
    by_settlement = table.total(by=("scenario", "year", "settlement"))
    by_use = table.total(by=("scenario", "year", "use"))
    assert np.allclose(by_settlement.groupby(["scenario", "year"])["hectares"].sum()
                       .reindex(total.index), total)
    assert np.allclose(by_use.groupby(["scenario", "year"])["hectares"].sum()
                       .reindex(total.index), total)
    assert total.sum() == pytest.approx(frame["hectares"].sum())
    # The parts are exactly the modules' own results.
    housing = housing_demand(proj, backlog=pd.DataFrame({"settlement": ["A"],
                                                         "households": [30]}))
    social = social_demand(proj, facilities=FACILITIES)
    sector = sector_demand(JOBS, base_year=2024, horizon=5, scenarios=proj.scenarios,
                           known_settlements=proj.settlements)
    for part, uses in ((housing, {"individual_housing", "multi_storey_housing"}),
                       (social, {"school", "kindergarten", "health"})):
        sub = frame[frame["use"].isin(uses) & frame["driver"].isin(set(part["driver"]))]
        assert sub["hectares"].sum() == pytest.approx(part["hectares"].sum())
    sub = frame[frame["driver"] == "sector_growth"]
    assert sub["hectares"].sum() == pytest.approx(sector["hectares"].sum())
    # Scenario order.
    assert list(table.total()["scenario"].unique()) == ["low", "medium", "high"]


def test_by_use_and_annual_views() -> None:
    _, table = _full_table()
    wide = table.by_use(scenario="medium")
    medium = table.frame[table.frame["scenario"] == "medium"]
    assert wide.sum(axis=1).to_numpy() == pytest.approx(
        medium.groupby("year")["hectares"].sum().to_numpy())
    annual = table.annual()
    # Yearly increments add back up to the cumulative figure of the last year.
    last = table.frame[table.frame["year"] == 2029]["hectares"].sum()
    assert annual["hectares"].sum() == pytest.approx(last)


@settings(max_examples=20, deadline=None)
@given(growth=st.lists(st.floats(-0.05, 0.08), min_size=2, max_size=2),
       spread=st.floats(0.0, 0.03))
def test_housing_and_social_land_follow_the_scenario_order(
    growth: list[float], spread: float
) -> None:
    years = np.arange(2019, 2025)
    hist = pd.concat([
        pd.DataFrame({"settlement": name, "year": years,
                      "population": np.round(base * (1 + g) ** (years - 2019)),
                      "households": np.round(base / 4.5)})
        for name, base, g in (("A", 5000, growth[0]), ("B", 800, growth[1]))
    ])
    proj = project_population(hist, horizon=8, rate_spread=spread)
    table = land_demand(proj, facilities=FACILITIES)
    wide = table.total(by=("scenario", "year", "settlement")).pivot_table(
        index=["settlement", "year"], columns="scenario", values="hectares")
    assert (wide["high"] >= wide["medium"] - 1e-9).all()
    assert (wide["medium"] >= wide["low"] - 1e-9).all()


def test_problems_of_every_input_are_raised_together() -> None:
    proj = project_population(_history(), horizon=3)
    with pytest.raises(ValidationError) as err:
        land_demand(
            proj,
            facilities=FACILITIES.assign(settlement=["A", "A", "A", "Z"]),
            sector_jobs=JOBS.assign(use=["industry", "casino"]),
            production_targets=TARGETS.assign(yield_=0).drop(columns="yield"),
            housing_backlog=pd.DataFrame({"settlement": ["Q"], "households": [3]}),
        )
    layers = {p.layer for p in err.value.problems}
    assert layers == {"facilities", "sector_jobs", "production_targets", "housing_backlog"}


def test_uses_must_be_rulebook_uses() -> None:
    proj = project_population(_history(), horizon=3)
    rulebook_uses = ["individual_housing", "multi_storey_housing", "school", "kindergarten",
                     "health"]
    table = land_demand(proj, uses=rulebook_uses)
    assert set(table.frame["use"]) <= set(rulebook_uses)
    with pytest.raises(ValidationError) as err:
        land_demand(proj, sector_jobs=JOBS, uses=rulebook_uses)
    assert {p.code for p in err.value.problems} == {"unknown_use"}
    assert "industry" in str(err.value)


def test_demo_forecast_end_to_end() -> None:
    history = read_population_csv(DEMO_DIR / "population.csv")
    proj = project_population(history, horizon=5)
    norms = DemandNorms.default()
    table = land_demand(proj, norms=norms)
    medium_2029 = table.frame.query("scenario == 'medium' and year == 2029")
    assert set(medium_2029["settlement"]) == set(history["settlement"])
    housing = medium_2029[medium_2029["use"] == "individual_housing"]["hectares"].sum()
    # Isfana grows by about 3 700 people in five years: tens of hectares of plots.
    assert 20 < housing < 200
    total = table.total()
    assert (total["hectares"] > 0).all()
    assert table.norms is norms
