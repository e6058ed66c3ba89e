"""Population by settlement: reading the household-book series and projecting it.

The SEDP working group needs next years' population of each settlement to size housing,
schools and kindergartens. The national methodology (Q30) prescribes a hand method when
no model is available: the mean of the last three annual growth rates applied to the last
actual value (``official``). Beside it this module offers compound growth over a window
(``compound``) and the cohort-component method by age and sex (``cohort_component``,
in :mod:`spatial.demand.cohort`), each in low / medium / high scenarios.

Input is the long table a "Санарип Аймак" household-book export gives:
``settlement,year,population[,households]``; see ``docs/demand.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import InputError, Problem, ValidationError
from ._frames import (
    check_columns,
    check_unknown_settlements,
    numeric_column,
    round_half_away,
    text_column,
)

__all__ = [
    "METHODS",
    "SCENARIOS",
    "PopulationProjection",
    "official_growth_rate",
    "project_population",
    "read_population_csv",
    "validate_population",
]

Method = Literal["official", "compound", "cohort_component"]
METHODS: tuple[str, ...] = ("official", "compound", "cohort_component")
#: Scenario names in ascending order of population.
SCENARIOS: tuple[str, ...] = ("low", "medium", "high")
#: Sign of each scenario's deviation from the medium rate.
_SCENARIO_SIGN = {"low": -1.0, "medium": 0.0, "high": 1.0}
_MAX_HORIZON = 50

PROJECTION_COLUMNS = ("settlement", "year", "scenario", "population", "households", "projected")


# ---------------------------------------------------------------------- reading
def read_population_csv(
    path: str | PathLike[str], *, known_settlements: Iterable[str] | None = None
) -> pd.DataFrame:
    """Read a population-by-settlement-and-year CSV, checking every row.

    The file is long format with a header ``settlement,year,population[,households]``;
    lines starting with ``#`` are comments (the demo file marks its illustrative years
    there). UTF-8 (with or without BOM) is expected, cp1251 is accepted.

    Parameters
    ----------
    path
        The CSV file.
    known_settlements
        Names of the workspace's settlements; a row naming another is an error, so a
        typo cannot silently create a new settlement.

    Returns
    -------
    pandas.DataFrame
        As :func:`validate_population`.

    Raises
    ------
    InputError
        The file is missing or is not a readable CSV.
    ValidationError
        With every problem found (row numbers are 0-based data rows, comments excluded).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"population file not found: {path}")
    raw: pd.DataFrame | None = None
    for encoding in ("utf-8-sig", "cp1251"):
        try:
            raw = pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                comment="#",
                skipinitialspace=True,
                encoding=encoding,
            )
            break
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(f"{path.name}: not a readable CSV file: {exc}") from exc
    if raw is None:
        raise InputError(f"{path.name}: neither UTF-8 nor cp1251 text")
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    return validate_population(raw, known_settlements=known_settlements, layer=path.name)


def validate_population(
    frame: pd.DataFrame,
    *,
    known_settlements: Iterable[str] | None = None,
    layer: str = "population",
) -> pd.DataFrame:
    """Check a population series and return it clean, or raise with every problem.

    Checks: required columns; blank, non-numeric or fractional years and counts;
    negative counts; more households than people; duplicate settlement-year rows;
    unknown settlements (when ``known_settlements`` is given); gaps in a settlement's
    years and settlements whose series stops before the last year of the table (the
    projection starts from one common base year).

    Returns
    -------
    pandas.DataFrame
        Columns ``settlement`` (str), ``year`` (int), ``population`` (float),
        ``households`` (float, NaN where not given), sorted by settlement and year.
    """
    problems: list[Problem] = []
    if not check_columns(frame, ("settlement", "year", "population"), layer=layer,
                         problems=problems):
        raise ValidationError(problems)
    if len(frame) == 0:
        raise ValidationError(
            [Problem(code="no_data", message="the population table has no rows", layer=layer)]
        )
    frame = frame.reset_index(drop=True)
    settlement = text_column(frame, "settlement", layer=layer, problems=problems)
    keyed = frame.assign(settlement=settlement)
    year = numeric_column(keyed, "year", layer=layer, problems=problems, key="settlement",
                          integer=True)
    population = numeric_column(
        keyed, "population", layer=layer, problems=problems, key="settlement",
        minimum=0, code_below="negative_count",
    )
    if "households" in frame.columns:
        households = numeric_column(
            keyed, "households", layer=layer, problems=problems, key="settlement",
            allow_blank=True, minimum=0, code_below="negative_count",
        )
    else:
        households = pd.Series(np.nan, index=frame.index, dtype=float)
    over = (households > population).to_numpy()
    for pos in np.flatnonzero(over):
        problems.append(
            Problem(
                code="households_exceed_population",
                message=f"{households.iloc[pos]:g} households but only "
                f"{population.iloc[pos]:g} people",
                layer=layer, row=int(pos), feature=settlement.iloc[pos], column="households",
            )
        )
    if known_settlements is not None:
        check_unknown_settlements(settlement, known_settlements, layer=layer, problems=problems)

    clean = pd.DataFrame(
        {"settlement": settlement, "year": year, "population": population,
         "households": households}
    )
    keys_ok = clean["settlement"].notna() & clean["year"].notna()
    sub = clean.loc[keys_ok]
    dup = sub.duplicated(["settlement", "year"], keep="first").to_numpy()
    first = (
        pd.Series(sub.index, index=sub.index)
        .groupby([sub["settlement"], sub["year"]])
        .transform("min")
        .to_numpy()
    )
    names = sub["settlement"].to_numpy()
    years = sub["year"].to_numpy()
    rows = sub.index.to_numpy()
    for i in np.flatnonzero(dup):
        problems.append(
            Problem(
                code="duplicate_year",
                message=f"{names[i]} {int(years[i])} appears again (first in row {int(first[i])})",
                layer=layer, row=int(rows[i]), feature=str(names[i]), column="year",
            )
        )
    _check_years(clean.loc[keys_ok], layer=layer, problems=problems)
    if problems:
        raise ValidationError(problems)
    clean["year"] = clean["year"].astype(np.int64)
    clean["settlement"] = clean["settlement"].astype(str)
    return clean.sort_values(["settlement", "year"], kind="stable").reset_index(drop=True)


def _check_years(frame: pd.DataFrame, *, layer: str, problems: list[Problem]) -> None:
    """Report gaps inside each settlement's series and series ending before the last year."""
    if frame.empty:
        return
    last_year = int(frame["year"].max())
    spans = frame.groupby("settlement")["year"].agg(["min", "max", "nunique"])
    broken = spans[(spans["max"] - spans["min"] + 1 != spans["nunique"])
                   | (spans["max"] < last_year)]
    first_year = broken["min"].astype(int).to_dict()
    faulty = frame.loc[frame["settlement"].isin(broken.index)]
    # One problem per faulty settlement (the error path only).
    for name, years in faulty.groupby("settlement")["year"]:
        have = set(years.astype(int).tolist())
        expected = set(range(first_year[name], last_year + 1))
        missing = sorted(expected - have)
        problems.append(
            Problem(
                code="missing_year",
                message=f"{name}: no population for {_years_text(missing)} "
                f"(every settlement needs each year from its first to {last_year})",
                layer=layer, feature=str(name), column="year",
                details={"missing_years": missing},
            )
        )


def _years_text(years: Sequence[int]) -> str:
    return ", ".join(str(y) for y in years)


# ---------------------------------------------------------------------- projection result
@dataclass(frozen=True)
class PopulationProjection:
    """Projected population (and households) by settlement, year and scenario.

    Attributes
    ----------
    frame
        Tidy frame with columns ``settlement, year, scenario, population, households,
        projected``. The base year (last actual year) is included with
        ``projected=False`` and the actual figures in every scenario, so growth from the
        base can be read off the same frame. ``households`` keeps the base year's
        household size (NaN where the input had no households); the housing module
        applies the household-size trend.
    method
        ``official``, ``compound`` or ``cohort_component``.
    base_year
        The last actual year.
    horizon
        Number of projected years after ``base_year``.
    rates
        ``settlement, scenario, rate``: the annual growth rate applied (a fraction; for
        the cohort-component method the implied mean rate over the horizon).
    age_sex
        Cohort-component only: ``settlement, year, scenario, sex, age, population`` at
        each projection step.
    """

    frame: pd.DataFrame
    method: str
    base_year: int
    horizon: int
    rates: pd.DataFrame
    age_sex: pd.DataFrame | None = None

    @property
    def settlements(self) -> list[str]:
        return sorted(self.frame["settlement"].unique().tolist())

    @property
    def scenarios(self) -> list[str]:
        return list(dict.fromkeys(self.frame["scenario"].tolist()))

    @property
    def years(self) -> list[int]:
        return sorted(int(y) for y in self.frame["year"].unique())

    def total(self) -> pd.DataFrame:
        """Municipality totals by year and scenario: the sum over settlements.

        For the official method the total is the sum of the settlements' rounded
        forecasts, not a projection of the total series (which would differ slightly):
        the SEDP tables must add up.
        """
        out = (
            self.frame.groupby(["year", "scenario"], sort=False)[["population", "households"]]
            .sum(min_count=1)
            .reset_index()
        )
        order = out["scenario"].map({s: i for i, s in enumerate(SCENARIOS)})
        out = out.assign(_o=order).sort_values(["year", "_o"], kind="stable")
        return out.drop(columns="_o").reset_index(drop=True)


# ---------------------------------------------------------------------- methods
def official_growth_rate(
    populations: Sequence[float] | np.ndarray, *, rate_decimals: int | None = 2
) -> float:
    """The SEDP (Q30) mean annual growth rate of a series, as a fraction.

    The mean of the last three annual rates ``(P_t − P_{t−1}) / P_{t−1}``. With
    ``rate_decimals=2`` each rate and their mean are rounded, as percentages, to two
    decimals (half away from zero) like the methodology's worked example:
    9 800, 10 500, 11 000, 11 500 → 7.14 %, 4.76 %, 4.55 % → 5.48 % → 0.0548.
    ``None`` keeps full precision (0.054834…).
    """
    arr = np.asarray(populations, dtype=float)
    if arr.ndim != 1 or arr.size < 4:
        raise InputError("the official method needs at least four years (three growth rates)")
    rates = _official_rates(arr[np.newaxis, -4:], rate_decimals)
    return float(rates[0])


def _official_rates(last4: np.ndarray, rate_decimals: int | None) -> np.ndarray:
    """Mean of the three annual rates of each row of ``last4`` (S × 4), as fractions."""
    pct = (last4[:, 1:] - last4[:, :-1]) / last4[:, :-1] * 100.0
    if rate_decimals is not None:
        pct = round_half_away(pct, rate_decimals)
    mean = pct.mean(axis=1)
    if rate_decimals is not None:
        mean = round_half_away(mean, rate_decimals)
    return np.asarray(mean / 100.0, dtype=float)


def project_population(
    history: pd.DataFrame,
    *,
    method: Method | str = "official",
    horizon: int = 5,
    scenarios: Sequence[str] = SCENARIOS,
    rate_spread: float = 0.005,
    rate_decimals: int | None = 2,
    window: int | None = None,
    age_sex: pd.DataFrame | None = None,
    cohort_rates: Any = None,
    fertility_spread: float = 0.1,
    migration_spread: float = 0.002,
    known_settlements: Iterable[str] | None = None,
) -> PopulationProjection:
    """Project each settlement's population ``horizon`` years past its last actual year.

    Parameters
    ----------
    history
        Long table ``settlement, year, population[, households]`` (see
        :func:`validate_population`, which is applied to it).
    method
        ``"official"`` — SEDP Q30: the mean of the last three annual growth rates,
        rounded as in the methodology (``rate_decimals``), applied to the last actual
        value and carried on year by year, each year rounded to whole persons (half away
        from zero), the next year applied to the rounded figure.
        ``"compound"`` — compound annual growth rate over ``window`` years
        ``(P_T / P_{T−w})^(1/w) − 1``, applied as ``P_T (1 + r)^k``, not rounded.
        ``"cohort_component"`` — ages each age-sex group, adds births and net migration
        (needs ``age_sex`` and ``cohort_rates``; see :mod:`spatial.demand.cohort`).
    horizon
        Years to project: 3–5 for the SEDP, 10–20 for a long-term plan (1–50 allowed).
    scenarios
        Any of ``low``, ``medium``, ``high``. For the growth-rate methods the low and
        high rates are the medium rate ∓ ``rate_spread``; for the cohort-component
        method fertility is scaled by ``1 ∓ fertility_spread`` and the net migration rate
        shifted by ``∓ migration_spread``. High ≥ medium ≥ low holds for every
        settlement and year.
    rate_spread
        Scenario spread of the annual growth rate, a fraction (0.005 = ±0.5 points).
    rate_decimals
        Official method: decimals of the percentage rates (2 as in the methodology;
        ``None`` for full precision).
    window
        Compound method: years of the CAGR window; ``None`` = each settlement's whole
        series.
    age_sex, cohort_rates, fertility_spread, migration_spread
        Cohort-component inputs and scenario spreads.
    known_settlements
        When given, the history must name only these settlements.

    Raises
    ------
    InputError
        Unknown method or scenario, horizon out of range, missing cohort inputs.
    ValidationError
        Bad history (every problem), or a settlement the method cannot project (too few
        years, zero population at the base of a rate).
    """
    if method not in METHODS:
        raise InputError(f"unknown projection method {method!r}; use one of {', '.join(METHODS)}")
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or not (
        1 <= horizon <= _MAX_HORIZON
    ):
        raise InputError(f"horizon must be a whole number of years from 1 to {_MAX_HORIZON}, "
                         f"got {horizon!r}")
    scen = _check_scenarios(scenarios)
    for name, value in (("rate_spread", rate_spread), ("fertility_spread", fertility_spread),
                        ("migration_spread", migration_spread)):
        if not np.isfinite(value) or value < 0:
            raise InputError(f"{name} must be a non-negative number, got {value!r}")
    hist = validate_population(history, known_settlements=known_settlements)
    base_year = int(hist["year"].max())
    horizon = int(horizon)

    if method == "cohort_component":
        from .cohort import project_cohort_component

        if age_sex is None or cohort_rates is None:
            raise InputError("the cohort_component method needs age_sex and cohort_rates")
        return project_cohort_component(
            hist, age_sex, cohort_rates, horizon=horizon, scenarios=scen,
            fertility_spread=fertility_spread, migration_spread=migration_spread,
        )

    wide = hist.pivot(index="settlement", columns="year", values="population").sort_index()
    names = wide.index.to_numpy(dtype=object)
    values = wide.to_numpy(dtype=float)
    problems: list[Problem] = []
    if method == "official":
        rates = _official_base_rates(names, values, rate_decimals, problems)
    else:
        rates = _compound_base_rates(names, values, window, problems)
    if problems:
        raise ValidationError(problems)

    base = values[:, -1]
    spread = np.array([_SCENARIO_SIGN[s] * rate_spread for s in scen])
    scen_rates = rates[:, np.newaxis] + spread[np.newaxis, :]  # S × C
    factor = np.maximum(1.0 + scen_rates, 0.0)
    steps = np.arange(1, horizon + 1)
    if method == "official":
        # Carried on year by year, each year rounded before the next is computed.
        levels = np.empty((len(names), len(scen), horizon))
        current = np.repeat(base[:, np.newaxis], len(scen), axis=1)
        for k in range(horizon):
            current = round_half_away(current * factor, 0)
            levels[:, :, k] = current
    else:
        levels = base[:, np.newaxis, np.newaxis] * factor[:, :, np.newaxis] ** steps
    frame = _assemble(hist, names, scen, base_year, steps, levels)
    rate_frame = pd.DataFrame(
        {
            "settlement": np.repeat(names, len(scen)),
            "scenario": np.tile(np.array(scen, dtype=object), len(names)),
            "rate": scen_rates.ravel(),
        }
    )
    return PopulationProjection(
        frame=frame, method=str(method), base_year=base_year, horizon=horizon, rates=rate_frame
    )


def _check_scenarios(scenarios: Sequence[str]) -> tuple[str, ...]:
    if isinstance(scenarios, str):
        scenarios = (scenarios,)
    scen = tuple(dict.fromkeys(scenarios))
    bad = [s for s in scen if s not in SCENARIOS]
    if bad or not scen:
        raise InputError(
            f"unknown scenario(s) {', '.join(map(repr, bad)) or '(none given)'}; "
            f"use low, medium, high"
        )
    return tuple(s for s in SCENARIOS if s in scen)


def _official_base_rates(
    names: np.ndarray, values: np.ndarray, rate_decimals: int | None, problems: list[Problem]
) -> np.ndarray:
    last4 = values[:, -4:] if values.shape[1] >= 4 else np.full((len(names), 4), np.nan)
    short = np.isnan(last4).any(axis=1)
    zero = ~short & (last4[:, :-1] <= 0).any(axis=1)
    for name, count in zip(names[short], (~np.isnan(values[short])).sum(axis=1), strict=True):
        problems.append(
            Problem(
                code="too_few_years",
                message=f"{name}: the official method needs the last four years (three growth "
                f"rates); the series has {int(count)}",
                layer="population", feature=str(name), column="year",
            )
        )
    for name in names[zero]:
        problems.append(
            Problem(
                code="zero_population",
                message=f"{name}: population 0 in one of the three years a growth rate is "
                "taken from; use another method or fix the series",
                layer="population", feature=str(name), column="population",
            )
        )
    rates = np.zeros(len(names))
    ok = ~short & ~zero
    if ok.any():
        rates[ok] = _official_rates(last4[ok], rate_decimals)
    return rates


def _compound_base_rates(
    names: np.ndarray, values: np.ndarray, window: int | None, problems: list[Problem]
) -> np.ndarray:
    count = (~np.isnan(values)).sum(axis=1)
    if window is not None:
        if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
            raise InputError(f"window must be a whole number of years ≥ 1, got {window!r}")
        span = np.full(len(names), int(window))
    else:
        span = count - 1
    short = (span < 1) | (count - 1 < span)
    for name, have, need in zip(names[short], count[short], span[short], strict=True):
        problems.append(
            Problem(
                code="too_few_years",
                message=f"{name}: compound growth over {max(int(need), 1)} years needs "
                f"{max(int(need), 1) + 1} years of data; the series has {int(have)}",
                layer="population", feature=str(name), column="year",
            )
        )
    n_years = values.shape[1]
    idx = np.clip(n_years - 1 - span, 0, n_years - 1)
    start = values[np.arange(len(names)), idx]
    end = values[:, -1]
    zero = ~short & ~(start > 0)
    for name in names[zero]:
        problems.append(
            Problem(
                code="zero_population",
                message=f"{name}: population 0 at the start of the growth window",
                layer="population", feature=str(name), column="population",
            )
        )
    ok = ~short & ~zero
    rates = np.zeros(len(names))
    rates[ok] = (end[ok] / start[ok]) ** (1.0 / span[ok]) - 1.0
    return rates


def _household_sizes(hist: pd.DataFrame, base_year: int) -> pd.Series:
    """Persons per household in the base year, by settlement (NaN where unknown)."""
    base = hist.loc[hist["year"] == base_year].set_index("settlement")
    with np.errstate(divide="ignore", invalid="ignore"):
        size = base["population"] / base["households"].where(base["households"] > 0)
    return size


def _assemble(
    hist: pd.DataFrame,
    names: np.ndarray,
    scen: tuple[str, ...],
    base_year: int,
    steps: np.ndarray,
    levels: np.ndarray,
    base_population: np.ndarray | None = None,
) -> pd.DataFrame:
    """Tidy frame of the base year (actual) and the projected levels (S × C × H).

    ``base_population`` replaces the series' base-year figures (the cohort-component
    method starts from the age-sex table's totals).
    """
    n_s, n_c, n_h = levels.shape
    base = hist.loc[hist["year"] == base_year].set_index("settlement").reindex(names)
    if base_population is not None:
        base = base.assign(population=base_population)
    projected = pd.DataFrame(
        {
            "settlement": np.repeat(names, n_c * n_h),
            "year": np.tile(base_year + steps, n_s * n_c).astype(np.int64),
            "scenario": np.tile(np.repeat(np.array(scen, dtype=object), n_h), n_s),
            "population": levels.ravel(),
        }
    )
    actual = pd.DataFrame(
        {
            "settlement": np.repeat(names, n_c),
            "year": np.full(n_s * n_c, base_year, dtype=np.int64),
            "scenario": np.tile(np.array(scen, dtype=object), n_s),
            "population": np.repeat(base["population"].to_numpy(dtype=float), n_c),
            "households": np.repeat(base["households"].to_numpy(dtype=float), n_c),
        }
    )
    size = _household_sizes(hist, base_year).reindex(names)
    projected["households"] = projected["population"] / np.repeat(
        size.to_numpy(dtype=float), n_c * n_h
    )
    projected["projected"] = True
    actual["projected"] = False
    frame = pd.concat([actual, projected], ignore_index=True)
    order = {s: i for i, s in enumerate(scen)}
    frame = frame.assign(_o=frame["scenario"].map(order)).sort_values(
        ["settlement", "year", "_o"], kind="stable"
    )
    return frame.drop(columns="_o").reset_index(drop=True)[list(PROJECTION_COLUMNS)]
