"""Economic land: sector jobs, production targets and the Q76 investment chain."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spatial.demand import (
    ChainStep,
    DemandNorms,
    InvestmentProject,
    agriculture_demand,
    investment_demand,
    sector_demand,
)
from spatial.errors import ValidationError

SCENARIOS = ("low", "medium", "high")
COMMON = {"base_year": 2024, "horizon": 5, "scenarios": SCENARIOS,
          "known_settlements": ["A", "B"]}


def q76_project(start_year: int = 2025, settlement: str = "A") -> InvestmentProject:
    """The methodology's example (Q76), its coefficients given as project inputs."""
    return InvestmentProject(
        name="irrigation",
        settlement=settlement,
        start_year=start_year,
        amount=20_000_000,  # som
        steps=(
            ChainStep("investment", "irrigated_ha", 350 / 20_000_000, use="agriculture",
                      ha_per_unit=1.0, unit="ha"),
            ChainStep("irrigated_ha", "farm_jobs", 30 / 350, unit="jobs"),
            ChainStep("irrigated_ha", "processing_jobs", 10 / 350, use="industry",
                      ha_per_unit=0.05, unit="jobs"),
            ChainStep("farm_jobs", "income", 7_000_000 / 40, unit="som a year"),
            ChainStep("processing_jobs", "income", 7_000_000 / 40, unit="som a year"),
            ChainStep("income", "houses", 20 / 7_000_000, lag=(6, 10),
                      use="individual_housing", ha_per_unit=0.08, unit="houses"),
        ),
    )


def _level(chain: pd.DataFrame, quantity: str, year: int) -> float:
    sel = chain[(chain["quantity"] == quantity) & (chain["year"] == year)]
    return float(sel["level"].sum())


# ---------------------------------------------------------------- Q76 investment chain
def test_q76_chain_reproduces_the_methodology_example() -> None:
    chain = q76_project().chain(until_year=2035)
    assert _level(chain, "investment", 2025) == 20_000_000
    assert _level(chain, "irrigated_ha", 2025) == pytest.approx(350)
    assert _level(chain, "farm_jobs", 2025) == pytest.approx(30)
    assert _level(chain, "processing_jobs", 2025) == pytest.approx(10)
    assert _level(chain, "income", 2025) == pytest.approx(7_000_000)
    # At least 20 new houses after 6–10 years, none before.
    assert _level(chain, "houses", 2030) == 0
    assert _level(chain, "houses", 2031) == pytest.approx(4)
    assert _level(chain, "houses", 2035) == pytest.approx(20)
    houses = chain[chain["quantity"] == "houses"].set_index("year")
    assert houses.loc[2035, "hectares"] == pytest.approx(20 * 0.08)
    assert houses.loc[2035, "use"] == "individual_housing"


def test_q76_land_demand_by_use_and_year() -> None:
    out = investment_demand([q76_project()], base_year=2024, horizon=11, scenarios=SCENARIOS,
                            known_settlements=["A"])
    medium = out[out["scenario"] == "medium"]
    wide = medium.pivot_table(index="year", columns="use", values="hectares", aggfunc="sum")
    assert wide.loc[2025, "agriculture"] == pytest.approx(350)
    assert wide.loc[2025, "industry"] == pytest.approx(0.5)
    assert wide.loc[2030, "individual_housing"] == 0
    assert wide.loc[2035, "individual_housing"] == pytest.approx(1.6)
    assert set(out["driver"]) == {"investment:irrigation"}
    assert set(out["scenario"]) == set(SCENARIOS)
    assert out.groupby("scenario")["hectares"].sum().nunique() == 1


def test_land_norm_is_used_when_the_step_gives_none() -> None:
    norms = DemandNorms.default().with_values({"economy.jobs_per_ha.industry": 25,
                                               "housing.individual_plot_ha": 0.1,
                                               "housing.streets_share": 0.2})
    project = InvestmentProject("plant", "A", 2025, 1.0, (
        ChainStep("investment", "jobs", 50, use="industry"),
        ChainStep("jobs", "houses", 0.5, lag=(1, 1), use="individual_housing"),
    ))
    chain = project.chain(until_year=2026, norms=norms)
    jobs = chain[chain["quantity"] == "jobs"].set_index("year")
    assert jobs.loc[2025, "hectares"] == pytest.approx(2.0)  # 50 / 25
    houses = chain[chain["quantity"] == "houses"].set_index("year")
    assert houses.loc[2026, "hectares"] == pytest.approx(25 * 0.1 / 0.8)


def test_project_started_before_the_base_year_counts_only_what_comes_after() -> None:
    out = investment_demand([q76_project(start_year=2020)], base_year=2024, horizon=6,
                            scenarios=("medium",), known_settlements=["A"])
    wide = out.pivot_table(index="year", columns="use", values="hectares", aggfunc="sum")
    assert wide["agriculture"].abs().max() == 0  # irrigation was built in 2020
    # Houses come 2026–2030 (4 a year); 2026 is the first after the base year.
    assert wide.loc[2026, "individual_housing"] == pytest.approx(4 * 0.08)
    assert wide.loc[2030, "individual_housing"] == pytest.approx(20 * 0.08)


def test_project_limited_to_a_scenario() -> None:
    project = InvestmentProject("hotel", "B", 2026, 1.0,
                                (ChainStep("investment", "jobs", 20, use="tourism"),),
                                scenarios=("high",))
    out = investment_demand([project], **COMMON)
    assert set(out["scenario"]) == {"high"}
    assert out.set_index("year").loc[2026, "hectares"] == pytest.approx(2.0)  # 20 / 10


def test_bad_projects_are_reported_together() -> None:
    cyclic = InvestmentProject("loop", "A", 2025, 1.0, (
        ChainStep("investment", "a", 1.0),
        ChainStep("a", "b", 1.0),
        ChainStep("b", "a", 1.0),
    ))
    broken = InvestmentProject("broken", "Nowhere", 2025, -5.0, (
        ChainStep("money", "jobs", 1.0, lag=(3, 1)),
        ChainStep("investment", "stalls", 1.0, use="bazaar"),
    ))
    with pytest.raises(ValidationError) as err:
        investment_demand([cyclic, broken, broken], **COMMON, uses=["industry", "commerce"])
    got = {(p.code, p.feature) for p in err.value.problems}
    assert ("cycle", "loop") in got
    assert ("duplicate_key", "broken") in got
    assert ("unknown_settlement", "broken") in got
    assert ("below_min", "broken") in got
    assert ("unknown_quantity", "broken") in got
    assert ("bad_step", "broken") in got
    assert ("unknown_use", "broken") in got
    assert ("no_norm", "broken") in got


# ---------------------------------------------------------------- sector jobs
def test_sector_jobs_become_cumulative_hectares() -> None:
    jobs = pd.DataFrame({
        "settlement": ["A", "A", "A", "B"],
        "use": ["industry", "industry", "commerce", "tourism"],
        "year": [2025, 2027, 2026, 2026],
        "jobs": [50, 25, 100, 30],
        "jobs_per_ha": [None, None, None, 15],
    })
    out = sector_demand(jobs, **COMMON, norms=DemandNorms.default())
    medium = out[out["scenario"] == "medium"]
    ind = medium[(medium["settlement"] == "A") & (medium["use"] == "industry")]
    assert ind.set_index("year")["hectares"].to_dict() == pytest.approx(
        {2025: 2.0, 2026: 2.0, 2027: 3.0, 2028: 3.0, 2029: 3.0})
    assert ind.set_index("year")["quantity"].loc[2029] == 75
    com = medium[medium["use"] == "commerce"].set_index("year")["hectares"]
    assert com.loc[2025] == 0 and com.loc[2026] == pytest.approx(2.0)
    tour = medium[medium["use"] == "tourism"].set_index("year")["hectares"]
    assert tour.loc[2026] == pytest.approx(2.0)  # 30 jobs at 15 a hectare (row override)
    assert set(out["driver"]) == {"sector_growth"}


def test_sector_jobs_per_scenario_and_beyond_the_horizon() -> None:
    jobs = pd.DataFrame({"settlement": ["A", "A", "A"], "use": ["industry"] * 3,
                         "year": [2025, 2026, 2040], "jobs": [25, 25, 1000],
                         "scenario": ["", "high", ""]})
    out = sector_demand(jobs, **COMMON)
    last = out[out["year"] == 2029].set_index("scenario")["hectares"]
    assert last.to_dict() == pytest.approx({"low": 1.0, "medium": 1.0, "high": 2.0})


def test_bad_sector_rows() -> None:
    jobs = pd.DataFrame({
        "settlement": ["A", "C", "A", "A", "A"],
        "use": ["industry", "industry", "space_port", "commerce", "commerce"],
        "year": [2024, 2025, 2025, 2026, 2026],
        "jobs": [1, 1, 1, -3, "x"],
        "scenario": ["", "", "", "", "best"],
    })
    with pytest.raises(ValidationError) as err:
        sector_demand(jobs, **COMMON)
    got = {(p.code, p.row) for p in err.value.problems}
    assert got == {("year_not_projected", 0), ("unknown_settlement", 1), ("no_norm", 2),
                   ("negative_count", 3), ("bad_type", 4), ("unknown_code", 4)}


# ---------------------------------------------------------------- production targets
def test_raspberry_example_production_target() -> None:
    # Q76: 2 200 t on 4 t/ha (550 ha); +74 % by 2027 with +5 % yield.
    targets = pd.DataFrame({"settlement": ["B"], "product": ["raspberry"], "year": [2027],
                            "production": [2200 * 1.74], "yield": [4 * 1.05],
                            "current_area_ha": [550.0]})
    out = agriculture_demand(targets, **COMMON)
    medium = out[out["scenario"] == "medium"].set_index("year")
    extra = 2200 * 1.74 / 4.2 - 550
    assert extra == pytest.approx(361.43, abs=0.01)
    assert medium.loc[2027, "hectares"] == pytest.approx(extra)
    assert medium.loc[2025, "hectares"] == pytest.approx(extra / 3)  # linear from 2024
    assert medium.loc[2029, "hectares"] == pytest.approx(extra)      # held after
    assert set(out["use"]) == {"agriculture"}
    assert set(out["driver"]) == {"production_target"}


def test_target_met_on_current_land_needs_none() -> None:
    targets = pd.DataFrame({"settlement": ["A", "A"], "product": ["wheat", "wheat"],
                            "year": [2026, 2028], "production": [300, 600], "yield": [3, 3],
                            "current_area_ha": [150, 150]})
    out = agriculture_demand(targets, **COMMON)
    medium = out[out["scenario"] == "medium"].set_index("year")["hectares"]
    assert medium.loc[2026] == 0
    assert medium.loc[2027] == pytest.approx(25)
    assert medium.loc[2028] == pytest.approx(50)
    assert np.isclose(medium.loc[2029], 50)


def test_bad_targets() -> None:
    targets = pd.DataFrame({"settlement": ["A", "Q"], "product": ["wheat", ""],
                            "year": [2026, 2023], "production": [300, 10], "yield": [0, 1],
                            "current_area_ha": [150, -1]})
    with pytest.raises(ValidationError) as err:
        agriculture_demand(targets, **COMMON)
    got = {(p.code, p.row, p.column) for p in err.value.problems}
    assert ("below_min", 0, "yield") in got
    assert ("unknown_settlement", 1, "settlement") in got
    assert ("missing_value", 1, "product") in got
    assert ("year_not_projected", 1, "year") in got
    assert ("below_min", 1, "current_area_ha") in got
