"""Population series reading and projection: the SEDP worked example, scenarios, totals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jer_data import DEMO_DIR
from spatial.demand import (
    official_growth_rate,
    project_population,
    read_population_csv,
    validate_population,
)
from spatial.demand._frames import round_half_away
from spatial.errors import InputError, ValidationError

DEMO_SETTLEMENTS = ["Isfana", "Murza-Patcha", "Samat", "Chimgen", "Tailan", "Ak-Bulak", "Golbo"]


def _example(**extra: list[float]) -> pd.DataFrame:
    """The methodology's worked example (Q30): 2021–2024."""
    return pd.DataFrame({
        "settlement": "Example", "year": [2021, 2022, 2023, 2024],
        "population": [9800, 10500, 11000, 11500], **extra,
    })


def _medium(projection, settlement: str, year: int) -> float:
    f = projection.frame
    row = f[(f["settlement"] == settlement) & (f["year"] == year) & (f["scenario"] == "medium")]
    assert len(row) == 1
    return float(row["population"].iloc[0])


# ---------------------------------------------------------------- the official method
def test_worked_example_gives_exactly_12130() -> None:
    proj = project_population(_example(), method="official", horizon=1)
    assert _medium(proj, "Example", 2025) == 12130


def test_worked_example_rates_are_rounded_like_the_methodology() -> None:
    # 7.14 %, 4.76 %, 4.55 % → mean 5.4833 → 5.48 %.
    assert official_growth_rate([9800, 10500, 11000, 11500]) == pytest.approx(0.0548, abs=1e-12)
    unrounded = official_growth_rate([9800, 10500, 11000, 11500], rate_decimals=None)
    assert unrounded == pytest.approx((700 / 9800 + 500 / 10500 + 500 / 11000) / 3)


def test_unrounded_rate_would_give_12131_which_is_why_the_rate_is_rounded() -> None:
    proj = project_population(_example(), method="official", horizon=1, rate_decimals=None)
    # 11 500 × 1.0548340… = 12 130.59 → 12 131: not the methodology's figure.
    assert _medium(proj, "Example", 2025) == 12131


def test_official_method_is_carried_on_year_by_year_from_the_rounded_figure() -> None:
    proj = project_population(_example(), method="official", horizon=3)
    # 12 130 × 1.0548 = 12 794.72 → 12 795; 12 795 × 1.0548 = 13 496.17 → 13 496.
    assert _medium(proj, "Example", 2026) == 12795
    assert _medium(proj, "Example", 2027) == 13496


def test_official_rate_uses_only_the_last_three_rates() -> None:
    longer = pd.concat([
        pd.DataFrame({"settlement": ["Example"], "year": [2020], "population": [100.0]}),
        _example(),
    ])
    proj = project_population(longer, horizon=1)
    assert _medium(proj, "Example", 2025) == 12130


def test_round_half_away_from_zero() -> None:
    got = round_half_away(np.array([0.5, 1.5, 2.5, -0.5, -2.5, 2.4]))
    assert got.tolist() == [1.0, 2.0, 3.0, -1.0, -3.0, 2.0]
    assert round_half_away(np.array([4.545454]), 2).tolist() == [4.55]


def test_scenarios_are_the_rate_plus_minus_the_spread() -> None:
    proj = project_population(_example(), horizon=1, rate_spread=0.01)
    rates = proj.rates.set_index("scenario")["rate"]
    assert rates["low"] == pytest.approx(0.0448)
    assert rates["high"] == pytest.approx(0.0648)
    f = proj.frame[proj.frame["year"] == 2025].set_index("scenario")["population"]
    assert f["low"] == round(11500 * 1.0448)
    assert f["high"] == round(11500 * 1.0648)


def test_only_requested_scenarios_are_returned() -> None:
    proj = project_population(_example(), horizon=2, scenarios=("medium",))
    assert proj.scenarios == ["medium"]
    with pytest.raises(InputError, match="unknown scenario"):
        project_population(_example(), scenarios=("optimistic",))


def test_base_year_is_included_as_actual() -> None:
    proj = project_population(_example(households=[2000, 2100, 2200, 2300]), horizon=2)
    base = proj.frame[proj.frame["year"] == 2024]
    assert set(base["scenario"]) == {"low", "medium", "high"}
    assert (base["population"] == 11500).all()
    assert (base["households"] == 2300).all()
    assert not base["projected"].any()
    assert proj.frame.loc[proj.frame["year"] > 2024, "projected"].all()
    # Households follow the base-year household size (5.0).
    assert _row(proj, 2025)["households"] == pytest.approx(12130 / 5.0)


def _row(proj, year: int, scenario: str = "medium") -> pd.Series:
    f = proj.frame
    return f[(f["year"] == year) & (f["scenario"] == scenario)].iloc[0]


@pytest.mark.parametrize("horizon", [3, 5, 10, 20])
def test_horizon_sets_the_projected_years(horizon: int) -> None:
    proj = project_population(_example(), horizon=horizon)
    assert proj.years == list(range(2024, 2025 + horizon))
    assert proj.horizon == horizon


@pytest.mark.parametrize("horizon", [0, -1, 51, 2.5, True])
def test_bad_horizon_is_refused(horizon: object) -> None:
    with pytest.raises(InputError, match="horizon"):
        project_population(_example(), horizon=horizon)  # type: ignore[arg-type]


def test_unknown_method_is_refused() -> None:
    with pytest.raises(InputError, match="unknown projection method"):
        project_population(_example(), method="linear")


def test_official_method_needs_four_years() -> None:
    short = pd.DataFrame({"settlement": ["A", "A", "A", "B", "B", "B", "B"],
                          "year": [2022, 2023, 2024, 2021, 2022, 2023, 2024],
                          "population": [1, 2, 3, 1, 2, 3, 4]})
    with pytest.raises(ValidationError) as err:
        project_population(short)
    codes = {(p.code, p.feature) for p in err.value.problems}
    assert codes == {("too_few_years", "A")}


def test_zero_population_in_a_rate_base_is_reported() -> None:
    zero = _example().assign(population=[0, 10, 11, 12])
    with pytest.raises(ValidationError) as err:
        project_population(zero)
    assert [p.code for p in err.value.problems] == ["zero_population"]


# ---------------------------------------------------------------- compound growth
def test_compound_growth_over_the_whole_series() -> None:
    hist = pd.DataFrame({"settlement": "A", "year": [2022, 2023, 2024],
                         "population": [100.0, 110.0, 121.0]})
    proj = project_population(hist, method="compound", horizon=2)
    assert proj.rates.set_index("scenario").loc["medium", "rate"] == pytest.approx(0.10)
    assert _medium(proj, "A", 2025) == pytest.approx(133.1)
    assert _medium(proj, "A", 2026) == pytest.approx(146.41)


def test_compound_growth_window() -> None:
    hist = pd.DataFrame({"settlement": "A", "year": [2021, 2022, 2023, 2024],
                         "population": [50.0, 100.0, 110.0, 121.0]})
    proj = project_population(hist, method="compound", window=2, horizon=1)
    assert _medium(proj, "A", 2025) == pytest.approx(133.1)
    with pytest.raises(ValidationError, match="needs 5 years"):
        project_population(hist, method="compound", window=4)


# ---------------------------------------------------------------- invariants
@st.composite
def histories(draw: st.DrawFn) -> pd.DataFrame:
    n_settlements = draw(st.integers(1, 4))
    n_years = draw(st.integers(4, 8))
    frames = []
    for i in range(n_settlements):
        pops = draw(st.lists(st.integers(1, 2_000_000), min_size=n_years, max_size=n_years))
        frames.append(pd.DataFrame({"settlement": f"S{i}",
                                    "year": np.arange(2024 - n_years + 1, 2025),
                                    "population": pops}))
    return pd.concat(frames, ignore_index=True)


@settings(max_examples=60, deadline=None)
@given(
    hist=histories(),
    method=st.sampled_from(["official", "compound"]),
    spread=st.floats(0.0, 0.05),
    horizon=st.integers(1, 20),
)
def test_high_is_at_least_medium_is_at_least_low(
    hist: pd.DataFrame, method: str, spread: float, horizon: int
) -> None:
    proj = project_population(hist, method=method, horizon=horizon, rate_spread=spread)
    wide = proj.frame.pivot_table(index=["settlement", "year"], columns="scenario",
                                  values="population")
    assert (wide["high"] >= wide["medium"]).all()
    assert (wide["medium"] >= wide["low"]).all()
    assert (wide >= 0).all().all()


@settings(max_examples=30, deadline=None)
@given(hist=histories(), method=st.sampled_from(["official", "compound"]))
def test_total_is_the_sum_of_settlements(hist: pd.DataFrame, method: str) -> None:
    proj = project_population(hist, method=method, horizon=5)
    total = proj.total().set_index(["year", "scenario"])["population"]
    summed = proj.frame.groupby(["year", "scenario"])["population"].sum()
    pd.testing.assert_series_equal(total.sort_index(), summed.sort_index(), check_names=False)


# ---------------------------------------------------------------- reading and bad input
def _write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "population.csv"
    path.write_text(text, encoding=encoding)
    return path


def test_reads_long_csv_with_comments(tmp_path: Path) -> None:
    path = _write(tmp_path, "# exported from the household book\n"
                            "settlement,year,population,households\n"
                            "A,2023,100,20\nA,2024,110,\nB,2023,50,10\nB,2024,55,11\n")
    frame = read_population_csv(path)
    assert frame.columns.tolist() == ["settlement", "year", "population", "households"]
    assert frame["year"].dtype == np.int64
    assert frame["population"].tolist() == [100, 110, 50, 55]
    assert np.isnan(frame["households"].iloc[1])


def test_reads_cp1251_with_cyrillic_names(tmp_path: Path) -> None:
    path = _write(tmp_path, "settlement,year,population\nИсфана,2023,100\nИсфана,2024,101\n",
                  encoding="cp1251")
    assert read_population_csv(path)["settlement"].unique().tolist() == ["Исфана"]


def test_every_problem_is_reported_at_once_with_row_and_value(tmp_path: Path) -> None:
    path = _write(tmp_path, "settlement,year,population,households\n"
                            "Isfana,2022,20000,4000\n"      # 0
                            "Isfana,2023,abc,4100\n"        # 1 non-numeric
                            "Isfana,2024,21000,4200\n"      # 2
                            "Isfana,2024,21001,4200\n"      # 3 duplicate
                            "Samat,2022,-5,500\n"           # 4 negative
                            "Samat,2024,2400,550\n"         # 5 (2023 missing)
                            "Isfanaa,2024,10,2\n"           # 6 unknown (typo)
                            "Golbo,2024,100,150\n")         # 7 households > people
    with pytest.raises(ValidationError) as err:
        read_population_csv(path, known_settlements=DEMO_SETTLEMENTS)
    problems = err.value.problems
    by_code = {p.code: p for p in problems}
    assert set(by_code) == {"bad_type", "duplicate_year", "negative_count", "missing_year",
                            "unknown_settlement", "households_exceed_population"}
    assert by_code["bad_type"].row == 1 and "'abc'" in by_code["bad_type"].message
    assert by_code["bad_type"].column == "population"
    assert by_code["duplicate_year"].row == 3
    assert "first in row 2" in by_code["duplicate_year"].message
    assert by_code["negative_count"].row == 4 and "-5" in by_code["negative_count"].message
    assert by_code["missing_year"].feature == "Samat" and "2023" in by_code["missing_year"].message
    assert by_code["unknown_settlement"].row == 6
    assert "did you mean 'Isfana'" in by_code["unknown_settlement"].message
    assert by_code["households_exceed_population"].row == 7
    assert all(p.layer == "population.csv" for p in problems)


def test_series_ending_early_is_a_missing_year() -> None:
    hist = pd.DataFrame({"settlement": ["A", "A", "B"], "year": [2023, 2024, 2023],
                         "population": [1, 2, 3]})
    with pytest.raises(ValidationError) as err:
        validate_population(hist)
    (problem,) = err.value.problems
    assert problem.code == "missing_year" and problem.feature == "B"
    assert problem.details["missing_years"] == [2024]


def test_blank_and_fractional_years_are_reported() -> None:
    hist = pd.DataFrame({"settlement": ["A", "", "A"], "year": ["2023", "2024", "2024.5"],
                         "population": ["1", "2", ""]})
    with pytest.raises(ValidationError) as err:
        validate_population(hist)
    got = {(p.code, p.row, p.column) for p in err.value.problems}
    assert ("missing_value", 1, "settlement") in got
    assert ("bad_type", 2, "year") in got
    assert ("missing_value", 2, "population") in got


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "name,year\nA,2024\n")
    with pytest.raises(ValidationError) as err:
        read_population_csv(path)
    assert {p.column for p in err.value.problems} == {"settlement", "population"}
    assert all(p.code == "missing_column" for p in err.value.problems)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_population_csv(tmp_path / "nope.csv")


def test_empty_table_is_refused() -> None:
    with pytest.raises(ValidationError, match="no rows"):
        validate_population(pd.DataFrame(columns=["settlement", "year", "population"]))


# ---------------------------------------------------------------- the demo file
def test_demo_population_file() -> None:
    frame = read_population_csv(DEMO_DIR / "population.csv", known_settlements=DEMO_SETTLEMENTS)
    assert sorted(frame["settlement"].unique()) == sorted(DEMO_SETTLEMENTS)
    assert sorted(frame["year"].unique()) == list(range(2019, 2025))
    y2019 = frame[frame["year"] == 2019].set_index("settlement")
    # The real 2019 figures (BRIEF §9).
    assert y2019["population"].sum() == 31613
    assert y2019["households"].sum() == 7235
    assert y2019.loc["Isfana", "population"] == 20769
    assert y2019.loc["Golbo", "households"] == 405
    growth = frame.pivot(index="year", columns="settlement", values="population").pct_change()
    assert growth.dropna().to_numpy().min() >= 0.01
    assert growth.dropna().to_numpy().max() <= 0.03
    text = (DEMO_DIR / "population.csv").read_text(encoding="utf-8")
    assert "ILLUSTRATIVE" in text and "REAL" in text
