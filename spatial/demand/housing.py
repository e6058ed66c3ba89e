"""Land for housing: from projected population to hectares of new residential land.

Young people in Isfana rank "access to land to build housing" among their top three
needs, and the Space section must say how much land that takes. The chain is:

1. household size ``s_t = max(s_0·(1 − d)^t, min(s_0, s_min))`` — ``s_0`` from the
   ``settlements`` frame or the base year's households/population, ``d`` the norm
   ``household_size_decline`` (new households formed by young adults), ``s_min`` the floor
   ``min_household_size``;
2. households ``H_t = P_t / s_t``; new households ``max(H_t − H_0, 0)`` (a shrinking
   settlement needs no new land; it does not release any either);
3. plus the existing backlog (households waiting for a plot), met evenly over
   ``backlog_years``;
4. less the ``infill_share`` built on land already residential; the rest split into
   multi-storey dwellings (``multi_storey_share``) and individual plots;
5. hectares: individual ``n·plot_ha``, multi-storey ``n / dwellings_per_ha``, both grossed
   up for streets and networks: ``/(1 − streets_share)``.

Hectares are cumulative: the additional land needed from the base year up to each year.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..errors import InputError, Problem, ValidationError
from ._frames import check_columns, check_unknown_settlements, numeric_column, text_column
from .norms import DemandNorms
from .population import PopulationProjection

__all__ = ["DEMAND_COLUMNS", "housing_demand", "project_households"]

#: Columns of every tidy demand frame.
DEMAND_COLUMNS = ("settlement", "year", "scenario", "use", "driver", "hectares", "quantity",
                  "unit")


def _settlement_key(frame: pd.DataFrame) -> str:
    if "settlement" in frame.columns:
        return "settlement"
    if "name" in frame.columns:
        return "name"
    raise InputError("the settlements frame needs a 'name' (or 'settlement') column")


def _settlement_table(
    settlements: pd.DataFrame | None, known: Iterable[str], problems: list[Problem]
) -> pd.DataFrame:
    """Per-settlement household size and multi-storey share from the ``settlements`` layer."""
    known = list(known)
    empty = pd.DataFrame(
        {"household_size": np.nan, "multi_storey_share": np.nan},
        index=pd.Index(known, name="settlement"),
    )
    if settlements is None:
        return empty
    layer = "settlements"
    frame = pd.DataFrame(settlements).reset_index(drop=True)
    key = _settlement_key(frame)
    names = text_column(frame, key, layer=layer, problems=problems)
    keyed = frame.assign(**{key: names})
    size = pd.Series(np.nan, index=frame.index, dtype=float)
    if "household_size" in frame.columns:
        size = numeric_column(keyed, "household_size", layer=layer, problems=problems, key=key,
                              allow_blank=True, minimum=0)
        size = size.where(size > 0)
    if "households" in frame.columns and "population" in frame.columns:
        hh = numeric_column(keyed, "households", layer=layer, problems=problems, key=key,
                            allow_blank=True, minimum=0)
        pop = numeric_column(keyed, "population", layer=layer, problems=problems, key=key,
                             allow_blank=True, minimum=0)
        size = size.fillna(pop / hh.where(hh > 0))
    share = pd.Series(np.nan, index=frame.index, dtype=float)
    if "multi_storey_share" in frame.columns:
        share = numeric_column(keyed, "multi_storey_share", layer=layer, problems=problems,
                               key=key, allow_blank=True, minimum=0)
        for pos in np.flatnonzero((share > 1).to_numpy()):
            problems.append(
                Problem(code="above_max", message="multi_storey_share is above 1",
                        layer=layer, row=int(pos), feature=str(names.iloc[pos]),
                        column="multi_storey_share")
            )
    table = pd.DataFrame({"settlement": names, "household_size": size,
                          "multi_storey_share": share}).dropna(subset=["settlement"])
    dup = table.duplicated("settlement")
    for pos in dup.index[dup.to_numpy()]:
        problems.append(
            Problem(code="duplicate_key", message=f"settlement {table.at[pos, 'settlement']!r} "
                    "appears twice", layer=layer, row=int(pos),
                    feature=str(table.at[pos, "settlement"]), column=key)
        )
    table = table.loc[~dup].set_index("settlement")
    return table.reindex(known)


def project_households(
    projection: PopulationProjection,
    *,
    norms: DemandNorms | None = None,
    settlements: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Households by settlement, year and scenario under the household-size trend.

    Parameters
    ----------
    projection
        The population projection (its base year holds the actual households).
    norms
        ``household_size_decline`` and ``min_household_size`` are used.
    settlements
        Optional ``settlements`` layer (``name``, ``household_size`` or
        ``households``/``population``); its household size wins over the series'.

    Returns
    -------
    pandas.DataFrame
        ``settlement, year, scenario, population, household_size, households,
        new_households`` (``new_households`` = ``max(H_t − H_base, 0)``).
    """
    norms = norms or DemandNorms.default()
    problems: list[Problem] = []
    names = projection.settlements
    table = _settlement_table(settlements, names, problems)
    frame = projection.frame
    base = frame.loc[frame["year"] == projection.base_year].drop_duplicates("settlement")
    base = base.set_index("settlement").reindex(names)
    with np.errstate(divide="ignore", invalid="ignore"):
        series_size = base["population"] / base["households"].where(base["households"] > 0)
    size0 = table["household_size"].fillna(series_size)
    for name in size0.index[size0.isna().to_numpy()]:
        problems.append(
            Problem(code="no_household_size",
                    message=f"{name}: no household size — give households in the population "
                    "series or household_size in the settlements table",
                    layer="settlements", feature=str(name), column="household_size")
        )
    if problems:
        raise ValidationError(problems)
    decline = norms.household_size_decline.value
    floor = norms.min_household_size.value
    s0 = frame["settlement"].map(size0).to_numpy(dtype=float)
    t = (frame["year"] - projection.base_year).to_numpy(dtype=float)
    size = np.maximum(s0 * (1.0 - decline) ** t, np.minimum(s0, floor))
    households = frame["population"].to_numpy(dtype=float) / size
    p0 = frame["settlement"].map(base["population"]).to_numpy(dtype=float)
    h0 = p0 / s0
    out = frame[["settlement", "year", "scenario", "population"]].copy()
    out["household_size"] = size
    out["households"] = households
    out["new_households"] = np.maximum(households - h0, 0.0)
    return out.reset_index(drop=True)


def _backlog(
    backlog: pd.DataFrame | None, known: list[str], problems: list[Problem]
) -> pd.Series:
    if backlog is None:
        return pd.Series(0.0, index=pd.Index(known, name="settlement"))
    layer = "housing_backlog"
    frame = pd.DataFrame(backlog).reset_index(drop=True)
    if not check_columns(frame, ("settlement", "households"), layer=layer, problems=problems):
        return pd.Series(0.0, index=pd.Index(known, name="settlement"))
    names = text_column(frame, "settlement", layer=layer, problems=problems)
    keyed = frame.assign(settlement=names)
    waiting = numeric_column(keyed, "households", layer=layer, problems=problems,
                             key="settlement", minimum=0, code_below="negative_count")
    check_unknown_settlements(names, known, layer=layer, problems=problems)
    return waiting.groupby(names).sum().reindex(known, fill_value=0.0).fillna(0.0)


def housing_demand(
    projection: PopulationProjection,
    *,
    norms: DemandNorms | None = None,
    settlements: pd.DataFrame | None = None,
    backlog: pd.DataFrame | None = None,
    backlog_years: int | None = None,
) -> pd.DataFrame:
    """Hectares of new residential land by settlement, year, scenario and housing type.

    Parameters
    ----------
    projection
        Population projection.
    norms
        Housing norms (see module docstring); defaults if not given.
    settlements
        Optional ``settlements`` layer: ``household_size`` (or ``households`` and
        ``population``) and ``multi_storey_share`` per settlement override the series and
        the norm.
    backlog
        Optional ``settlement, households``: households already waiting for a plot; their
        dwellings are added evenly over ``backlog_years`` (default: the horizon).

    Returns
    -------
    pandas.DataFrame
        Tidy rows (:data:`DEMAND_COLUMNS`) for the projected years; ``use`` is
        ``individual_housing`` or ``multi_storey_housing``, ``driver`` is ``population``
        (growth and household formation) or ``backlog``; ``quantity`` is dwellings on new
        land (after infill).
    """
    norms = norms or DemandNorms.default()
    years_to_clear = projection.horizon if backlog_years is None else backlog_years
    if isinstance(years_to_clear, bool) or not isinstance(years_to_clear, int | np.integer) or (
        years_to_clear < 1
    ):
        raise InputError(f"backlog_years must be a whole number ≥ 1, got {backlog_years!r}")
    problems: list[Problem] = []
    names = projection.settlements
    table = _settlement_table(settlements, names, problems)
    waiting = _backlog(backlog, names, problems)
    try:
        hh = project_households(projection, norms=norms, settlements=settlements)
    except ValidationError as exc:
        problems.extend(p for p in exc.problems if p not in problems)
    if problems:
        raise ValidationError(problems)
    hh = hh.loc[hh["year"] > projection.base_year].reset_index(drop=True)

    t = (hh["year"] - projection.base_year).to_numpy(dtype=float)
    from_growth = hh["new_households"].to_numpy(dtype=float)
    from_backlog = hh["settlement"].map(waiting).to_numpy(dtype=float) * np.minimum(
        t / years_to_clear, 1.0
    )
    share = hh["settlement"].map(table["multi_storey_share"]).astype(float)
    multi_share = share.fillna(norms.multi_storey_share.value).to_numpy(dtype=float)
    on_new_land = 1.0 - norms.infill_share.value
    gross = 1.0 / (1.0 - norms.streets_share.value)
    plot_ha = norms.individual_plot_ha.value
    per_ha = norms.multi_storey_dwellings_per_ha.value

    parts = []
    for driver, need in (("population", from_growth), ("backlog", from_backlog)):
        dwellings = need * on_new_land
        individual = dwellings * (1.0 - multi_share)
        multi = dwellings * multi_share
        for use, qty, ha in (
            ("individual_housing", individual, individual * plot_ha * gross),
            ("multi_storey_housing", multi, multi / per_ha * gross),
        ):
            parts.append(
                pd.DataFrame({
                    "settlement": hh["settlement"], "year": hh["year"],
                    "scenario": hh["scenario"], "use": use, "driver": driver,
                    "hectares": ha, "quantity": qty, "unit": "dwellings",
                })
            )
    out = pd.concat(parts, ignore_index=True)
    # Backlog rows only where households are waiting.
    no_backlog = out["settlement"].map(waiting).to_numpy(dtype=float) <= 0
    out = out.loc[~((out["driver"] == "backlog").to_numpy() & no_backlog)]
    return out.reset_index(drop=True)[list(DEMAND_COLUMNS)]
