"""Cohort-component projection on tiny synthetic populations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spatial.demand import (
    CohortRates,
    project_population,
    read_age_sex_csv,
    read_cohort_rates_csv,
)
from spatial.errors import InputError, ValidationError


def _age_sex(ages: list[int], female: list[float], male: list[float],
             settlement: str = "A") -> pd.DataFrame:
    return pd.DataFrame({
        "settlement": settlement,
        "sex": ["f"] * len(ages) + ["m"] * len(ages),
        "age": ages * 2,
        "population": female + male,
    })


def _history(total: float, settlement: str = "A", households: float | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({"settlement": settlement, "year": [2023, 2024],
                          "population": [total, total]})
    if households is not None:
        frame["households"] = households
    return frame


def _mortality(ages: list[int], rates: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"sex": ["f"] * len(ages) + ["m"] * len(ages), "age": ages * 2,
                         "rate": rates * 2})


def _detail(proj, year: int, sex: str, scenario: str = "medium") -> list[float]:
    d = proj.age_sex
    sub = d[(d["year"] == year) & (d["sex"] == sex) & (d["scenario"] == scenario)]
    return sub.sort_values("age")["population"].tolist()


def test_without_births_deaths_or_migration_the_cohort_just_ages() -> None:
    ages = [0, 1, 2, 3, 4]
    pop = _age_sex(ages, [10, 20, 30, 40, 50], [1, 2, 3, 4, 5])
    rates = CohortRates(mortality=_mortality(ages, [0.0] * 5),
                        fertility=pd.DataFrame({"age": [], "rate": []}))
    proj = project_population(_history(165), method="cohort_component", age_sex=pop,
                              cohort_rates=rates, horizon=2)
    assert _detail(proj, 2025, "f") == [0, 10, 20, 30, 90]
    assert _detail(proj, 2026, "f") == [0, 0, 10, 20, 120]
    assert _detail(proj, 2026, "m") == [0, 0, 1, 2, 12]
    # The medium total stays the same; low and high shift the migration rate.
    y2026 = proj.frame[proj.frame["year"] == 2026].set_index("scenario")["population"]
    assert y2026["medium"] == 165
    assert y2026["low"] < 165 < y2026["high"]


def test_five_year_groups_age_by_one_group_per_five_years() -> None:
    ages = [0, 5, 10, 15]
    pop = _age_sex(ages, [100, 200, 300, 400], [0, 0, 0, 0])
    # Only the open group (15+) dies, all of it, within the step.
    rates = CohortRates(mortality=_mortality(ages, [0, 0, 0, 1.0]),
                        fertility=pd.DataFrame({"age": [], "rate": []}))
    proj = project_population(_history(1000), method="cohort_component", age_sex=pop,
                              cohort_rates=rates, horizon=5)
    assert _detail(proj, 2029, "f") == [0, 100, 200, 300]
    medium = proj.frame[proj.frame["scenario"] == "medium"].set_index("year")["population"]
    # 1000 → 600 after one step; the years between are interpolated linearly.
    assert medium.loc[2029] == pytest.approx(600)
    assert medium.loc[2025] == pytest.approx(920)
    assert medium.loc[2027] == pytest.approx(760)
    assert set(proj.age_sex["year"]) == {2024, 2029}


def test_a_stationary_population_stays_stationary() -> None:
    ages = [0, 1, 2, 3]
    pop = _age_sex(ages, [50, 50, 50, 50], [50, 50, 50, 50])
    # Nobody dies before the open group, everybody in it dies; 100 women aged 1–2 at one
    # birth a year each replace the 100 who die.
    rates = CohortRates(mortality=_mortality(ages, [0, 0, 0, 1.0]),
                        fertility=pd.DataFrame({"age": [1, 2], "rate": [1.0, 1.0]}),
                        share_male_at_birth=0.5)
    proj = project_population(_history(400, households=100), method="cohort_component",
                              age_sex=pop, cohort_rates=rates, horizon=10,
                              fertility_spread=0.0, migration_spread=0.0)
    assert np.allclose(proj.frame["population"], 400)
    assert np.allclose(proj.age_sex["population"], 50)
    assert np.allclose(proj.frame["households"], 100)
    assert np.allclose(proj.rates["rate"], 0)


def test_births_use_women_at_start_and_end_of_the_step() -> None:
    ages = [0, 1, 2]
    pop = _age_sex(ages, [100, 100, 0], [0, 0, 0])
    rates = CohortRates(mortality=_mortality(ages, [0.1, 0, 0]),
                        fertility=pd.DataFrame({"age": [1], "rate": [0.5]}),
                        share_male_at_birth=0.512)
    proj = project_population(_history(200), method="cohort_component", age_sex=pop,
                              cohort_rates=rates, horizon=1)
    # Women aged 1: 100 at the start, 90 at the end (survivors of age 0) → mean 95.
    births = 0.5 * 95
    newborn_survival = 0.9 ** 0.5
    assert _detail(proj, 2025, "f")[0] == pytest.approx(births * 0.488 * newborn_survival)
    assert _detail(proj, 2025, "m")[0] == pytest.approx(births * 0.512 * newborn_survival)
    assert _detail(proj, 2025, "f")[1:] == pytest.approx([90, 100])


def test_net_migration_by_age_and_sex() -> None:
    ages = [0, 1]
    pop = _age_sex(ages, [100, 100], [100, 100])
    rates = CohortRates(
        mortality=_mortality(ages, [0, 0]),
        fertility=pd.DataFrame({"age": [], "rate": []}),
        migration=pd.DataFrame({"sex": ["m"], "age": [1], "rate": [-0.1]}),
    )
    proj = project_population(_history(400), method="cohort_component", age_sex=pop,
                              cohort_rates=rates, horizon=1, migration_spread=0.05)
    # Men of the open group: 200 after ageing, 10 % leave.
    assert _detail(proj, 2025, "m") == pytest.approx([0, 180])
    assert _detail(proj, 2025, "f") == pytest.approx([0, 200])
    assert _detail(proj, 2025, "m", "high") == pytest.approx([0, 200 * 0.95])


@settings(max_examples=40, deadline=None)
@given(
    pops=st.lists(st.floats(0, 5000), min_size=8, max_size=8),
    mortality=st.lists(st.floats(0, 0.5), min_size=4, max_size=4),
    fertility=st.lists(st.floats(0, 0.3), min_size=2, max_size=2),
    migration=st.lists(st.floats(-0.1, 0.1), min_size=4, max_size=4),
    fert_spread=st.floats(0, 0.5),
    mig_spread=st.floats(0, 0.05),
    horizon=st.integers(1, 12),
)
def test_cohort_scenarios_are_ordered(
    pops: list[float], mortality: list[float], fertility: list[float],
    migration: list[float], fert_spread: float, mig_spread: float, horizon: int,
) -> None:
    ages = [0, 5, 10, 15]
    pop = _age_sex(ages, pops[:4], pops[4:])
    rates = CohortRates(
        mortality=_mortality(ages, mortality),
        fertility=pd.DataFrame({"age": [5, 10], "rate": fertility}),
        migration=pd.DataFrame({"sex": ["f", "f", "m", "m"], "age": [0, 15, 5, 10],
                                "rate": migration}),
    )
    proj = project_population(_history(sum(pops)), method="cohort_component", age_sex=pop,
                              cohort_rates=rates, horizon=horizon,
                              fertility_spread=fert_spread, migration_spread=mig_spread)
    wide = proj.frame.pivot_table(index=["settlement", "year"], columns="scenario",
                                  values="population")
    tol = 1e-9 * (1 + wide.abs().max().max())
    assert (wide["high"] >= wide["medium"] - tol).all()
    assert (wide["medium"] >= wide["low"] - tol).all()
    assert (wide >= 0).all().all()


def test_several_settlements_are_projected_together_and_add_up() -> None:
    ages = [0, 1]
    pop = pd.concat([_age_sex(ages, [10, 10], [10, 10], "A"),
                     _age_sex(ages, [5, 5], [5, 5], "B")])
    hist = pd.concat([_history(40, "A"), _history(20, "B")])
    rates = CohortRates(mortality=_mortality(ages, [0.0, 0.1]),
                        fertility=pd.DataFrame({"age": [1], "rate": [0.2]}))
    proj = project_population(hist, method="cohort_component", age_sex=pop,
                              cohort_rates=rates, horizon=3)
    total = proj.total().set_index(["year", "scenario"])["population"]
    summed = proj.frame.groupby(["year", "scenario"])["population"].sum()
    assert np.allclose(total.sort_index(), summed.sort_index())
    assert proj.settlements == ["A", "B"]


def test_bad_cohort_inputs_are_reported_together() -> None:
    ages = [0, 5, 10]
    pop = pd.concat([
        _age_sex(ages, [10, 10, 10], [10, 10, 10], "A"),
        pd.DataFrame({"settlement": ["A"], "sex": ["x"], "age": [5], "population": [1]}),
    ])
    rates = CohortRates(
        mortality=pd.DataFrame({"sex": ["f", "f", "f", "m", "m"], "age": [0, 5, 10, 0, 5],
                                "rate": [0.1, 0.1, 1.5, 0.1, 0.1]}),
        fertility=pd.DataFrame({"age": [0, 7], "rate": [0.1, 0.1]}),
    )
    with pytest.raises(ValidationError) as err:
        project_population(_history(60), method="cohort_component", age_sex=pop,
                           cohort_rates=rates)
    codes = {p.code for p in err.value.problems}
    assert "unknown_code" in codes  # sex 'x'
    # The age table problem stops before the rates are checked; fix it and look again.
    pop = pop[pop["sex"] != "x"]
    with pytest.raises(ValidationError) as err:
        project_population(_history(60), method="cohort_component", age_sex=pop,
                           cohort_rates=rates)
    got = {(p.code, p.layer) for p in err.value.problems}
    assert ("above_max", "mortality") in got        # rate 1.5
    assert ("missing_rate", "mortality") in got     # m 10 has none
    assert ("unknown_age_group", "fertility") in got  # age 7


def test_fertility_in_the_youngest_group_is_refused() -> None:
    ages = [0, 5]
    rates = CohortRates(mortality=_mortality(ages, [0, 0]),
                        fertility=pd.DataFrame({"age": [0], "rate": [0.1]}))
    with pytest.raises(ValidationError, match="youngest"):
        project_population(_history(40), method="cohort_component",
                           age_sex=_age_sex(ages, [10, 10], [10, 10]), cohort_rates=rates)


def test_uneven_age_groups_are_refused() -> None:
    pop = _age_sex([0, 5, 15], [1, 1, 1], [1, 1, 1])
    rates = CohortRates(mortality=_mortality([0, 5, 15], [0, 0, 0]),
                        fertility=pd.DataFrame({"age": [], "rate": []}))
    with pytest.raises(ValidationError, match="equally wide"):
        project_population(_history(6), method="cohort_component", age_sex=pop,
                           cohort_rates=rates)


def test_age_sex_must_match_the_series() -> None:
    ages = [0, 1]
    rates = CohortRates(mortality=_mortality(ages, [0, 0]),
                        fertility=pd.DataFrame({"age": [], "rate": []}))
    hist = pd.concat([_history(40, "A"), _history(10, "B")])
    pop = _age_sex(ages, [10, 10], [10, 15], "A").assign(year=2023)
    with pytest.raises(ValidationError) as err:
        project_population(hist, method="cohort_component", age_sex=pop, cohort_rates=rates)
    got = {(p.code, p.feature) for p in err.value.problems}
    assert ("year_mismatch", None) in got
    assert ("missing_settlement", "B") in got
    assert ("age_sex_total_mismatch", "A") in got  # 45 vs 40


def test_cohort_method_needs_its_inputs() -> None:
    with pytest.raises(InputError, match="age_sex and cohort_rates"):
        project_population(_history(1), method="cohort_component")


def test_csv_readers(tmp_path: Path) -> None:
    (tmp_path / "agesex.csv").write_text(
        "# base population\nsettlement,year,sex,age,population\n"
        "A,2024,f,0,10\nA,2024,f,1,10\nA,2024,m,0,10\nA,2024,м,1,10\n", encoding="utf-8")
    (tmp_path / "rates.csv").write_text(
        "table,sex,age,rate\nmortality,f,0,0\nmortality,f,1,0\nmortality,m,0,0\n"
        "mortality,m,1,0\nfertility,,1,0.5\nmigration,m,1,0.01\n", encoding="utf-8")
    pop = read_age_sex_csv(tmp_path / "agesex.csv", known_settlements=["A"])
    assert set(pop["sex"]) == {"f", "m"}  # Cyrillic м read as male
    rates = read_cohort_rates_csv(tmp_path / "rates.csv")
    assert len(rates.mortality) == 4 and len(rates.fertility) == 1
    assert rates.migration is not None and len(rates.migration) == 1
    proj = project_population(_history(40), method="cohort_component", age_sex=pop,
                              cohort_rates=rates, horizon=1)
    assert proj.frame["population"].gt(0).all()
    (tmp_path / "bad.csv").write_text("table,sex,age,rate\nbirths,,1,0.5\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="births"):
        read_cohort_rates_csv(tmp_path / "bad.csv")
