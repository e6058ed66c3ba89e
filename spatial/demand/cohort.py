"""Cohort-component population projection by age and sex.

When the household book gives population by age and sex, the projection can follow
each cohort: people age into the next group (less deaths), women of child-bearing age
give births, and net migration by age and sex is added. This matters for land demand
because schools and kindergartens follow the number of children, not only the total.

Inputs (documented in ``docs/demand.md``):

- ``age_sex`` — ``settlement, sex, age, population[, year]``: the base population; ``age``
  is the lower bound of the group, groups are equally wide (1 or 5 years) from 0, the
  last group is open (e.g. 85+). A group missing for a settlement counts as 0 people.
- :class:`CohortRates` — ``mortality`` (``sex, age, rate``: annual probability of dying),
  ``fertility`` (``age, rate``: annual births per woman of the mother's age group) and
  optionally ``migration`` (``sex, age, rate``: annual net migrants per resident of the
  group). The rates apply to every settlement.

One projection step is as long as an age group is wide. For a step of ``n`` years:
survivors ``P'[a+1] = P[a]·(1−q[a])^n`` (the open group keeps its own survivors too);
births ``B = n·Σ f[a]·(W[a] + W'[a])/2`` over the women at the start and end of the step;
newborns ``B·share·(1−q[0])^(n/2)`` by sex; then net migration
``P'' = max(P'·(1 + n·m), 0)``. Years between steps are interpolated linearly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, Problem, ValidationError
from ._frames import check_columns, check_unknown_settlements, numeric_column, text_column
from .population import _SCENARIO_SIGN, PopulationProjection, _assemble

__all__ = [
    "SEXES",
    "CohortRates",
    "project_cohort_component",
    "read_age_sex_csv",
    "read_cohort_rates_csv",
]

#: Sex codes in array order; the other spellings accepted on input map to these.
SEXES: tuple[str, ...] = ("f", "m")
_SEX_ALIASES = {
    "f": "f", "female": "f", "w": "f", "ж": "f", "жен": "f", "аял": "f", "к": "f", "кыз": "f",
    "m": "m", "male": "m", "м": "m", "муж": "m", "эркек": "m", "э": "m",
}
_RATE_TABLES = ("mortality", "fertility", "migration")


@dataclass(frozen=True)
class CohortRates:
    """Demographic rates of the cohort-component method (applied to every settlement).

    Attributes
    ----------
    mortality
        ``sex, age, rate``: annual probability of dying in each age-sex group; every
        group of the age-sex table needs one.
    fertility
        ``age, rate``: annual live births per woman in each age group of the mother;
        groups not listed have none.
    migration
        ``sex, age, rate``: annual net migrants (in − out) per resident of the group,
        negative for out-migration; groups not listed have none.
    share_male_at_birth
        Share of boys among births (about 0.512 in Central Asia).
    """

    mortality: pd.DataFrame
    fertility: pd.DataFrame
    migration: pd.DataFrame | None = None
    share_male_at_birth: float = 0.512


# ---------------------------------------------------------------------- readers
def _read_csv(path: str | PathLike[str]) -> tuple[pd.DataFrame, str]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    for encoding in ("utf-8-sig", "cp1251"):
        try:
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, comment="#",
                              skipinitialspace=True, encoding=encoding)
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(f"{path.name}: not a readable CSV file: {exc}") from exc
        raw.columns = [str(c).strip().lower() for c in raw.columns]
        return raw, path.name
    raise InputError(f"{path.name}: neither UTF-8 nor cp1251 text")


def read_age_sex_csv(
    path: str | PathLike[str], *, known_settlements: Iterable[str] | None = None
) -> pd.DataFrame:
    """Read the base population by age and sex (``settlement,sex,age,population[,year]``).

    Returns the table checked (see :func:`validate_age_sex`); raises ``ValidationError``
    with every problem.
    """
    raw, name = _read_csv(path)
    table, _width = validate_age_sex(raw, known_settlements=known_settlements, layer=name)
    return table


def read_cohort_rates_csv(
    path: str | PathLike[str], *, share_male_at_birth: float = 0.512
) -> CohortRates:
    """Read all rates from one CSV ``table,sex,age,rate``.

    ``table`` is ``mortality``, ``fertility`` or ``migration``; ``sex`` is blank for
    fertility. The tables are checked against the age groups when projecting.
    """
    raw, name = _read_csv(path)
    problems: list[Problem] = []
    if not check_columns(raw, ("table", "age", "rate"), layer=name, problems=problems):
        raise ValidationError(problems)
    table = raw["table"].astype(str).str.strip().str.lower()
    for pos in np.flatnonzero(~table.isin(_RATE_TABLES).to_numpy()):
        problems.append(
            Problem(code="unknown_code",
                    message=f"table {raw['table'].iloc[pos]!r} is not one of "
                    f"{', '.join(_RATE_TABLES)}",
                    layer=name, row=int(pos), column="table")
        )
    if problems:
        raise ValidationError(problems)
    if "sex" not in raw.columns:
        raw = raw.assign(sex="")
    parts = {t: raw.loc[table == t].reset_index(drop=True) for t in _RATE_TABLES}
    return CohortRates(
        mortality=parts["mortality"][["sex", "age", "rate"]],
        fertility=parts["fertility"][["age", "rate"]],
        migration=parts["migration"][["sex", "age", "rate"]] if len(parts["migration"]) else None,
        share_male_at_birth=share_male_at_birth,
    )


# ---------------------------------------------------------------------- validation
def _sex_column(frame: pd.DataFrame, *, layer: str, problems: list[Problem]) -> pd.Series:
    text = frame["sex"].astype("string").str.strip().str.lower()
    mapped = text.map(_SEX_ALIASES)
    bad = mapped.isna().to_numpy()
    for pos in np.flatnonzero(bad):
        problems.append(
            Problem(code="unknown_code",
                    message=f"sex {frame['sex'].iloc[pos]!r} is not f or m",
                    layer=layer, row=int(pos), column="sex")
        )
    return mapped.astype(object)


def validate_age_sex(
    frame: pd.DataFrame,
    *,
    known_settlements: Iterable[str] | None = None,
    layer: str = "age_sex",
) -> tuple[pd.DataFrame, int]:
    """Check the base age-sex table; return it clean and the age-group width in years."""
    problems: list[Problem] = []
    if not check_columns(frame, ("settlement", "sex", "age", "population"), layer=layer,
                         problems=problems):
        raise ValidationError(problems)
    if len(frame) == 0:
        raise ValidationError([Problem(code="no_data", message="the age-sex table has no rows",
                                       layer=layer)])
    frame = frame.reset_index(drop=True)
    settlement = text_column(frame, "settlement", layer=layer, problems=problems)
    keyed = frame.assign(settlement=settlement)
    sex = _sex_column(frame, layer=layer, problems=problems)
    age = numeric_column(keyed, "age", layer=layer, problems=problems, key="settlement",
                         integer=True, minimum=0)
    population = numeric_column(keyed, "population", layer=layer, problems=problems,
                                key="settlement", minimum=0, code_below="negative_count")
    year = None
    if "year" in frame.columns:
        year = numeric_column(keyed, "year", layer=layer, problems=problems, key="settlement",
                              integer=True)
        if year.dropna().nunique() > 1:
            problems.append(
                Problem(code="mixed_years",
                        message="the age-sex table must hold one year, found "
                        f"{', '.join(str(int(y)) for y in sorted(year.dropna().unique()))}",
                        layer=layer, column="year")
            )
    if known_settlements is not None:
        check_unknown_settlements(settlement, known_settlements, layer=layer, problems=problems)
    clean = pd.DataFrame({"settlement": settlement, "sex": sex, "age": age,
                          "population": population})
    if year is not None:
        clean["year"] = year
    keys = clean[["settlement", "sex", "age"]].notna().all(axis=1)
    sub = clean.loc[keys]
    dup = sub.duplicated(["settlement", "sex", "age"]).to_numpy()
    names, sexes, ages = (sub[c].to_numpy() for c in ("settlement", "sex", "age"))
    rows = sub.index.to_numpy()
    for i in np.flatnonzero(dup):
        problems.append(
            Problem(code="duplicate_group",
                    message=f"{names[i]} {sexes[i]} age {int(ages[i])} appears twice",
                    layer=layer, row=int(rows[i]), feature=str(names[i]), column="age")
        )
    width = _age_width(clean["age"].dropna().to_numpy(), layer=layer, problems=problems)
    if problems:
        raise ValidationError(problems)
    clean["age"] = clean["age"].astype(np.int64)
    if year is not None:
        clean["year"] = clean["year"].astype(np.int64)
    return clean, width


def _age_width(ages: np.ndarray, *, layer: str, problems: list[Problem]) -> int:
    grid = np.unique(ages.astype(int)) if ages.size else np.array([], dtype=int)
    if grid.size < 2 or grid[0] != 0:
        problems.append(
            Problem(code="bad_age_groups",
                    message="age groups must start at 0 and be at least two "
                    f"(found {', '.join(map(str, grid.tolist())) or 'none'})",
                    layer=layer, column="age")
        )
        return 0
    steps = np.diff(grid)
    if not (steps == steps[0]).all():
        problems.append(
            Problem(code="bad_age_groups",
                    message="age groups must be equally wide (e.g. 0, 5, 10, … 85); found "
                    f"{', '.join(map(str, grid.tolist()))}",
                    layer=layer, column="age")
        )
        return 0
    return int(steps[0])


def _rate_array(
    frame: pd.DataFrame | None,
    name: str,
    grid: np.ndarray,
    *,
    by_sex: bool,
    required: bool,
    minimum: float | None,
    maximum: float | None,
    problems: list[Problem],
) -> np.ndarray:
    """A rates table as an array (2 × G by sex, or G), reporting every problem."""
    shape = (len(SEXES), len(grid)) if by_sex else (len(grid),)
    out = np.zeros(shape)
    if frame is None:
        return out
    cols = ("sex", "age", "rate") if by_sex else ("age", "rate")
    if not check_columns(frame, cols, layer=name, problems=problems):
        return out
    frame = frame.reset_index(drop=True)
    n_before = len(problems)
    age = numeric_column(frame, "age", layer=name, problems=problems, integer=True, minimum=0)
    rate = numeric_column(frame, "rate", layer=name, problems=problems, minimum=minimum)
    above: list[Problem] = []
    if maximum is not None:
        for pos in np.flatnonzero((rate > maximum).to_numpy()):
            above.append(
                Problem(code="above_max",
                        message=f"rate {frame['rate'].iloc[pos]!r} is above {maximum:g}",
                        layer=name, row=int(pos), column="rate")
            )
    sex = _sex_column(frame, layer=name, problems=problems) if by_sex else None
    age_idx = pd.Index(grid).get_indexer(pd.Index(age.fillna(-1).astype(int)))
    off_grid = (age.notna().to_numpy()) & (age_idx < 0)
    for pos in np.flatnonzero(off_grid):
        problems.append(
            Problem(code="unknown_age_group",
                    message=f"age {frame['age'].iloc[pos]!r} is not an age group of the "
                    f"population table ({', '.join(map(str, grid.tolist()))})",
                    layer=name, row=int(pos), column="age")
        )
    if len(problems) > n_before:
        problems.extend(above)
        return out
    problems.extend(above)
    keys = ["sex", "age"] if by_sex else ["age"]
    keyed = pd.DataFrame({"age": age.astype(int)})
    if sex is not None:
        keyed["sex"] = sex
    dup = keyed.duplicated(keys)
    for pos in np.flatnonzero(dup.to_numpy()):
        problems.append(
            Problem(code="duplicate_group",
                    message=f"{name} for {' '.join(str(keyed.iloc[pos][k]) for k in keys)} "
                    "is given twice",
                    layer=name, row=int(pos), column="age")
        )
    if dup.any():
        return out
    if by_sex and sex is not None:
        sex_idx = pd.Index(SEXES).get_indexer(pd.Index(sex))
        out[sex_idx, age_idx] = rate.to_numpy()
        have = np.zeros(shape, dtype=bool)
        have[sex_idx, age_idx] = True
        if required:
            for s_i, a_i in zip(*np.nonzero(~have), strict=True):
                problems.append(
                    Problem(code="missing_rate",
                            message=f"no {name} rate for sex {SEXES[s_i]} age {grid[a_i]}",
                            layer=name, column="rate")
                )
    else:
        out[age_idx] = rate.to_numpy()
    return out


# ---------------------------------------------------------------------- projection
def project_cohort_component(
    history: pd.DataFrame,
    age_sex: pd.DataFrame,
    rates: CohortRates,
    *,
    horizon: int,
    scenarios: tuple[str, ...],
    fertility_spread: float = 0.1,
    migration_spread: float = 0.002,
    total_tolerance: float = 0.01,
) -> PopulationProjection:
    """Project by cohort component; use it through :func:`project_population`.

    Parameters
    ----------
    history
        The validated population series; its last year is the base year and gives the
        household sizes. Its settlements and the age-sex table's must be the same.
    age_sex
        Base population by settlement, sex and age group (of the base year; a ``year``
        column, if any, must equal it).
    rates
        Mortality, fertility and net migration rates.
    scenarios
        Low fertility is scaled by ``1 − fertility_spread`` and the migration rate
        shifted by ``−migration_spread``; high by the opposite. Every step is monotone in
        both, so high ≥ medium ≥ low holds.
    total_tolerance
        Largest relative difference allowed between a settlement's age-sex total and its
        base-year population in the series (guards against joining the wrong files).
    """
    if not isinstance(rates, CohortRates):
        raise InputError("cohort_rates must be a CohortRates")
    share_male = rates.share_male_at_birth
    if not (0.0 < share_male < 1.0):
        raise InputError(f"share_male_at_birth must be between 0 and 1, got {share_male!r}")
    base_year = int(history["year"].max())
    names = np.array(sorted(history["settlement"].unique()), dtype=object)
    table, width = validate_age_sex(age_sex, known_settlements=names.tolist())
    problems: list[Problem] = []
    if "year" in table.columns and int(table["year"].iloc[0]) != base_year:
        problems.append(
            Problem(code="year_mismatch",
                    message=f"the age-sex table is for {int(table['year'].iloc[0])} but the "
                    f"population series ends in {base_year}",
                    layer="age_sex", column="year")
        )
    for name in sorted(set(names) - set(table["settlement"])):
        problems.append(
            Problem(code="missing_settlement", message=f"no age-sex data for {name}",
                    layer="age_sex", feature=str(name), column="settlement")
        )
    grid = np.arange(0, int(table["age"].max()) + 1, width)
    mortality = _rate_array(rates.mortality, "mortality", grid, by_sex=True, required=True,
                            minimum=0.0, maximum=1.0, problems=problems)
    fertility = _rate_array(rates.fertility, "fertility", grid, by_sex=False, required=False,
                            minimum=0.0, maximum=None, problems=problems)
    migration = _rate_array(rates.migration, "migration", grid, by_sex=True, required=False,
                            minimum=None, maximum=None, problems=problems)
    if fertility[0] > 0:
        problems.append(
            Problem(code="bad_rate", message="fertility in the youngest age group must be 0",
                    layer="fertility", column="rate")
        )

    # Base population as an S × 2 × G array.
    s_idx = pd.Index(names).get_indexer(pd.Index(table["settlement"]))
    x_idx = pd.Index(SEXES).get_indexer(pd.Index(table["sex"]))
    a_idx = table["age"].to_numpy() // width
    base = np.zeros((len(names), len(SEXES), len(grid)))
    base[s_idx, x_idx, a_idx] = table["population"].to_numpy(dtype=float)
    base_totals = base.sum(axis=(1, 2))
    series_base = (
        history.loc[history["year"] == base_year].set_index("settlement")["population"]
        .reindex(names).to_numpy(dtype=float)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(base_totals - series_base) / np.maximum(series_base, 1.0)
    for name, got, want in zip(names[rel > total_tolerance], base_totals[rel > total_tolerance],
                               series_base[rel > total_tolerance], strict=True):
        problems.append(
            Problem(code="age_sex_total_mismatch",
                    message=f"{name}: the age-sex groups add up to {got:g} but the population "
                    f"series has {want:g} in {base_year}",
                    layer="age_sex", feature=str(name), column="population")
        )
    if problems:
        raise ValidationError(problems)

    n = width
    n_steps = math.ceil(horizon / n)
    survival = (1.0 - mortality) ** n  # 2 × G
    newborn_survival = (1.0 - mortality[:, 0]) ** (n / 2.0)  # 2
    birth_share = np.array([1.0 - share_male, share_male])  # f, m

    n_s, n_c = len(names), len(scenarios)
    step_totals = np.empty((n_s, n_c, n_steps + 1))
    detail: list[pd.DataFrame] = []
    for c, scenario in enumerate(scenarios):
        sign = _SCENARIO_SIGN[scenario]
        fert = fertility * max(1.0 + sign * fertility_spread, 0.0)
        mig_factor = 1.0 + n * (migration + sign * migration_spread)  # 2 × G
        pop = base.copy()
        step_totals[:, c, 0] = pop.sum(axis=(1, 2))
        detail.append(_detail_frame(names, scenario, base_year, grid, pop))
        for j in range(1, n_steps + 1):
            new = np.zeros_like(pop)
            new[:, :, 1:] = pop[:, :, :-1] * survival[np.newaxis, :, :-1]
            new[:, :, -1] += pop[:, :, -1] * survival[np.newaxis, :, -1]
            women = (pop[:, 0, :] + new[:, 0, :]) / 2.0
            births = n * (women * fert[np.newaxis, :]).sum(axis=1)  # S
            new[:, :, 0] = births[:, np.newaxis] * (birth_share * newborn_survival)[np.newaxis, :]
            pop = np.maximum(new * mig_factor[np.newaxis, :, :], 0.0)
            step_totals[:, c, j] = pop.sum(axis=(1, 2))
            detail.append(_detail_frame(names, scenario, base_year + j * n, grid, pop))

    # Annual values: linear interpolation between step years.
    k = np.arange(1, horizon + 1)
    lower, frac = k // n, (k % n) / n
    upper = np.minimum(lower + 1, n_steps)
    levels = step_totals[:, :, lower] + frac * (
        step_totals[:, :, upper] - step_totals[:, :, lower]
    )
    frame = _assemble(history, names, scenarios, base_year, k, levels,
                      base_population=base_totals)
    with np.errstate(divide="ignore", invalid="ignore"):
        implied = np.where(
            base_totals[:, np.newaxis] > 0,
            (levels[:, :, -1] / base_totals[:, np.newaxis]) ** (1.0 / horizon) - 1.0,
            np.nan,
        )
    rate_frame = pd.DataFrame({
        "settlement": np.repeat(names, n_c),
        "scenario": np.tile(np.array(scenarios, dtype=object), n_s),
        "rate": implied.ravel(),
    })
    age_detail = pd.concat(detail, ignore_index=True)
    age_detail = age_detail.loc[age_detail["year"] <= base_year + horizon].reset_index(drop=True)
    return PopulationProjection(frame=frame, method="cohort_component", base_year=base_year,
                                horizon=horizon, rates=rate_frame, age_sex=age_detail)


def _detail_frame(
    names: np.ndarray, scenario: str, year: int, grid: np.ndarray, pop: np.ndarray
) -> pd.DataFrame:
    n_s, n_x, n_g = pop.shape
    return pd.DataFrame({
        "settlement": np.repeat(names, n_x * n_g),
        "year": np.full(pop.size, year, dtype=np.int64),
        "scenario": scenario,
        "sex": np.tile(np.repeat(np.array(SEXES, dtype=object), n_g), n_s),
        "age": np.tile(grid, n_s * n_x),
        "population": pop.ravel(),
    })
