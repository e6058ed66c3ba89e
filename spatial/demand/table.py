"""The combined land-demand table: housing, social facilities and the economy together.

The Space section needs one table the working group can read, filter and total:
hectares by settlement, year, scenario, land use and the driver behind them.
:func:`land_demand` runs every part on the same projection and norms and reports the
problems of all inputs at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import Problem, ValidationError
from .economy import InvestmentProject, agriculture_demand, investment_demand, sector_demand
from .housing import DEMAND_COLUMNS, housing_demand
from .norms import DemandNorms
from .population import SCENARIOS, PopulationProjection
from .social import social_demand

__all__ = ["DEMAND_COLUMNS", "DemandTable", "land_demand"]


@dataclass(frozen=True)
class DemandTable:
    """Land demand as a tidy long frame, with the norms and projection it came from.

    Attributes
    ----------
    frame
        Columns :data:`DEMAND_COLUMNS`: ``settlement, year, scenario, use, driver,
        hectares, quantity, unit``. ``hectares`` is cumulative: the additional land
        needed from the base year up to ``year``. ``quantity`` is what drives it in
        ``unit`` (dwellings, places, jobs, …).
    base_year
        Last actual year of the population series.
    norms
        The norms used (their sources belong in the report).
    """

    frame: pd.DataFrame
    base_year: int
    norms: DemandNorms

    def total(self, by: Sequence[str] = ("scenario", "year")) -> pd.DataFrame:
        """Hectares summed over everything not in ``by`` (e.g. per use: add ``"use"``)."""
        out = self.frame.groupby(list(by), sort=False)["hectares"].sum().reset_index()
        return _sorted(out, list(by))

    def by_use(self, *, scenario: str = "medium") -> pd.DataFrame:
        """Year × use hectares for one scenario, all settlements together."""
        sub = self.frame.loc[self.frame["scenario"] == scenario]
        return sub.pivot_table(index="year", columns="use", values="hectares",
                               aggfunc="sum", fill_value=0.0)

    def annual(self) -> pd.DataFrame:
        """The frame with ``hectares`` and ``quantity`` as yearly increments, not totals."""
        keys = ["settlement", "scenario", "use", "driver", "unit"]
        frame = self.frame.sort_values([*keys, "year"], kind="stable")
        diffs = frame.groupby(keys, sort=False)[["hectares", "quantity"]].diff()
        first = diffs["hectares"].isna()
        out = frame.copy()
        out["hectares"] = diffs["hectares"].where(~first, frame["hectares"])
        out["quantity"] = diffs["quantity"].where(~first, frame["quantity"])
        return out.sort_index()


def _sorted(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    if "scenario" in by:
        order = frame["scenario"].map({s: i for i, s in enumerate(SCENARIOS)})
        frame = frame.assign(_o=order)
        by = ["_o" if c == "scenario" else c for c in by]
    return frame.sort_values(by, kind="stable").drop(columns="_o", errors="ignore").reset_index(
        drop=True
    )


def land_demand(
    projection: PopulationProjection,
    *,
    norms: DemandNorms | None = None,
    settlements: pd.DataFrame | None = None,
    housing_backlog: pd.DataFrame | None = None,
    backlog_years: int | None = None,
    facilities: pd.DataFrame | None = None,
    observed_deficit: pd.DataFrame | None = None,
    sector_jobs: pd.DataFrame | None = None,
    production_targets: pd.DataFrame | None = None,
    projects: Sequence[InvestmentProject] = (),
    uses: Iterable[str] | None = None,
) -> DemandTable:
    """Forecast land demand by settlement, year, scenario, use and driver.

    Parameters
    ----------
    projection
        Population projection (:func:`~spatial.demand.population.project_population`).
    norms
        Norms from the rulebook (:meth:`DemandNorms.from_mapping`); the defaults when
        omitted — placeholders to be set locally.
    settlements, housing_backlog, backlog_years
        Housing inputs (:func:`~spatial.demand.housing.housing_demand`).
    facilities, observed_deficit
        Social inputs (:func:`~spatial.demand.social.social_demand`).
    sector_jobs, production_targets, projects
        Economic inputs (:mod:`spatial.demand.economy`).
    uses
        The rulebook's land-use codes; when given, every use in the result must be one.

    Raises
    ------
    ValidationError
        Every problem of every input, at once.
    """
    norms = norms or DemandNorms.default()
    scenarios = projection.scenarios
    known = projection.settlements
    common = {"base_year": projection.base_year, "horizon": projection.horizon,
              "scenarios": scenarios, "known_settlements": known}
    problems: list[Problem] = []
    parts: list[pd.DataFrame] = []

    def run(func: Callable[..., pd.DataFrame], *args: object, **kwargs: object) -> None:
        try:
            parts.append(func(*args, **kwargs))
        except ValidationError as exc:
            problems.extend(p for p in exc.problems if p not in problems)

    run(housing_demand, projection, norms=norms, settlements=settlements,
        backlog=housing_backlog, backlog_years=backlog_years)
    run(social_demand, projection, facilities=facilities, norms=norms,
        observed_deficit=observed_deficit)
    if sector_jobs is not None:
        run(sector_demand, sector_jobs, norms=norms, **common)
    if production_targets is not None:
        run(agriculture_demand, production_targets, **common)
    if projects:
        run(investment_demand, list(projects), norms=norms, uses=uses, **common)
    if problems:
        raise ValidationError(problems)

    frame = pd.concat([p for p in parts if not p.empty], ignore_index=True) if parts else None
    if frame is None or frame.empty:
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in DEMAND_COLUMNS})
    frame = frame[list(DEMAND_COLUMNS)]
    frame["year"] = frame["year"].astype(np.int64)
    frame["hectares"] = frame["hectares"].astype(float)
    frame["quantity"] = frame["quantity"].astype(float)
    if uses is not None:
        allowed = set(uses)
        for use in sorted(set(frame["use"]) - allowed):
            problems.append(
                Problem(code="unknown_use",
                        message=f"land use {use!r} is not a use of the rulebook "
                        f"({', '.join(sorted(allowed))})",
                        layer="land_demand", column="use")
            )
        if problems:
            raise ValidationError(problems)
    order = frame["scenario"].map({s: i for i, s in enumerate(SCENARIOS)})
    frame = (frame.assign(_o=order)
             .sort_values(["settlement", "year", "_o", "use", "driver"], kind="stable")
             .drop(columns="_o").reset_index(drop=True))
    return DemandTable(frame=frame, base_year=projection.base_year, norms=norms)
