"""Land for the economy: sector jobs, agricultural production targets, investment chains.

The SEDP's economic section plans sector growth and investment projects; the Space
section must say where they go and how much land they take (Q76, Q82). Three inputs:

- **sector jobs** — new jobs by sector, settlement and year → hectares by the norm
  ``jobs_per_ha`` of the sector's land use (or a per-row ``jobs_per_ha``);
- **production targets** — agriculture: ``production / yield`` is the area needed; the
  demand is what exceeds the area in use now, interpolated linearly from the base year
  to each target year and held after the last;
- **investment projects** — a chain of cause-and-effect steps (investment → irrigated
  hectares → jobs → income → houses), each step a coefficient and a lag, some steps
  needing land of a use. The methodology's example (Q76): 20 million som in irrigation →
  350 ha irrigated, ~40 jobs (30 farming, 10 processing), ~7 million som of income a
  year, and at least 20 new houses after 6–10 years.

All hectares are cumulative from the base year, one row per projected year.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import Problem, ValidationError
from ._frames import check_columns, check_unknown_settlements, numeric_column, text_column
from .housing import DEMAND_COLUMNS
from .norms import DemandNorms

__all__ = [
    "ROOT_QUANTITY",
    "ChainStep",
    "InvestmentProject",
    "agriculture_demand",
    "investment_demand",
    "sector_demand",
]

#: Name of the chain's root quantity: the amount invested.
ROOT_QUANTITY = "investment"


# ---------------------------------------------------------------------- helpers
def _scenario_column(
    frame: pd.DataFrame, scenarios: Sequence[str], *, layer: str, problems: list[Problem]
) -> pd.Series | None:
    if "scenario" not in frame.columns:
        return None
    text = frame["scenario"].astype("string").str.strip().str.lower()
    blank = (text.isna() | (text == "")).to_numpy()
    bad = ~blank & ~text.isin(list(scenarios)).fillna(False).to_numpy(dtype=bool)
    for pos in np.flatnonzero(bad):
        problems.append(
            Problem(code="unknown_code",
                    message=f"scenario {frame['scenario'].iloc[pos]!r} is not one of "
                    f"{', '.join(scenarios)}",
                    layer=layer, row=int(pos), column="scenario")
        )
    return text.astype(object).where(~blank, None)


def _broadcast(frame: pd.DataFrame, scenario: pd.Series | None,
               scenarios: Sequence[str]) -> pd.DataFrame:
    """Repeat rows without a scenario for every scenario; keep the others as they are."""
    if scenario is None:
        scenario = pd.Series(None, index=frame.index, dtype=object)
    frame = frame.assign(scenario=scenario)
    fixed = frame.loc[frame["scenario"].notna()]
    free = frame.loc[frame["scenario"].isna()]
    spread = free.drop(columns="scenario").merge(
        pd.DataFrame({"scenario": list(scenarios)}), how="cross"
    )
    return pd.concat([fixed, spread], ignore_index=True)


def _years_problem(
    years: pd.Series, base_year: int, *, layer: str, problems: list[Problem]
) -> None:
    for pos in np.flatnonzero((years <= base_year).to_numpy()):
        problems.append(
            Problem(code="year_not_projected",
                    message=f"year {int(years.iloc[pos])} is not after the base year "
                    f"{base_year}; what exists in the base year is already on the land",
                    layer=layer, row=int(pos), column="year")
        )


def _grid(keys: pd.DataFrame, years: np.ndarray) -> pd.DataFrame:
    return keys.drop_duplicates().merge(pd.DataFrame({"year": years}), how="cross")


# ---------------------------------------------------------------------- sector jobs
def sector_demand(
    jobs: pd.DataFrame,
    *,
    base_year: int,
    horizon: int,
    scenarios: Sequence[str],
    known_settlements: Iterable[str],
    norms: DemandNorms | None = None,
) -> pd.DataFrame:
    """Hectares for new jobs by sector.

    Parameters
    ----------
    jobs
        ``settlement, use, year, jobs[, jobs_per_ha][, scenario]``: jobs created in that
        year in the sector whose land-use code is ``use`` (``industry``, ``commerce``,
        ``tourism``, …). ``jobs_per_ha`` overrides the norm for the row; a blank
        ``scenario`` applies to every scenario. Years after the horizon are left out.

    Returns
    -------
    pandas.DataFrame
        Tidy rows, driver ``sector_growth``, quantity = cumulative jobs.
    """
    norms = norms or DemandNorms.default()
    layer = "sector_jobs"
    known = list(known_settlements)
    frame = pd.DataFrame(jobs).reset_index(drop=True)
    problems: list[Problem] = []
    if not check_columns(frame, ("settlement", "use", "year", "jobs"), layer=layer,
                         problems=problems):
        raise ValidationError(problems)
    names = text_column(frame, "settlement", layer=layer, problems=problems)
    use = text_column(frame, "use", layer=layer, problems=problems)
    keyed = frame.assign(settlement=names)
    year = numeric_column(keyed, "year", layer=layer, problems=problems, key="settlement",
                          integer=True)
    count = numeric_column(keyed, "jobs", layer=layer, problems=problems, key="settlement",
                           minimum=0, code_below="negative_count")
    override = pd.Series(np.nan, index=frame.index, dtype=float)
    if "jobs_per_ha" in frame.columns:
        override = numeric_column(keyed, "jobs_per_ha", layer=layer, problems=problems,
                                  key="settlement", allow_blank=True, minimum=0)
        override = override.where(override > 0)
    norm = use.map({u: n.value for u, n in norms.jobs_per_ha.items()}).astype(float)
    density = override.fillna(norm)
    for pos in np.flatnonzero((use.notna() & density.isna()).to_numpy()):
        problems.append(
            Problem(code="no_norm",
                    message=f"no jobs_per_ha norm for use {use.iloc[pos]!r} (norms have "
                    f"{', '.join(norms.jobs_per_ha)}); add it or give jobs_per_ha in the row",
                    layer=layer, row=int(pos), feature=names.iloc[pos], column="use")
        )
    check_unknown_settlements(names, known, layer=layer, problems=problems)
    _years_problem(year, base_year, layer=layer, problems=problems)
    scenario = _scenario_column(frame, scenarios, layer=layer, problems=problems)
    if problems:
        raise ValidationError(problems)

    rows = pd.DataFrame({"settlement": names, "use": use, "year": year.astype(np.int64),
                         "jobs": count, "ha": count / density})
    rows = rows.loc[rows["year"] <= base_year + horizon]
    rows = _broadcast(rows, None if scenario is None else scenario.loc[rows.index], scenarios)
    return _cumulate(rows, ("settlement", "use", "scenario"), base_year, horizon,
                     driver="sector_growth", quantity="jobs", unit="jobs")


def _cumulate(
    rows: pd.DataFrame,
    keys: Sequence[str],
    base_year: int,
    horizon: int,
    *,
    driver: str,
    quantity: str,
    unit: str,
) -> pd.DataFrame:
    """Yearly increments (``ha`` and ``quantity``) → cumulative levels on every year."""
    years = np.arange(base_year + 1, base_year + horizon + 1)
    if rows.empty:
        return pd.DataFrame(columns=list(DEMAND_COLUMNS))
    summed = rows.groupby([*keys, "year"], as_index=False)[["ha", quantity]].sum()
    grid = _grid(summed[list(keys)], years)
    full = grid.merge(summed, on=[*keys, "year"], how="left").fillna({"ha": 0.0, quantity: 0.0})
    full = full.sort_values([*keys, "year"], kind="stable")
    cum = full.groupby(list(keys), sort=False)[["ha", quantity]].cumsum()
    return pd.DataFrame({
        "settlement": full["settlement"], "year": full["year"].astype(np.int64),
        "scenario": full["scenario"], "use": full["use"], "driver": driver,
        "hectares": cum["ha"], "quantity": cum[quantity], "unit": unit,
    }).reset_index(drop=True)[list(DEMAND_COLUMNS)]


# ---------------------------------------------------------------------- agriculture
def agriculture_demand(
    targets: pd.DataFrame,
    *,
    base_year: int,
    horizon: int,
    scenarios: Sequence[str],
    known_settlements: Iterable[str],
) -> pd.DataFrame:
    """Hectares for agricultural production targets: target ÷ yield − area in use.

    Parameters
    ----------
    targets
        ``settlement, product, year, production, yield, current_area_ha[, scenario]
        [, use]``: the production planned for ``year`` (e.g. tonnes), the yield expected
        then (same unit per hectare) and the area now growing the product. ``use``
        defaults to ``agriculture``. Example (Q76): raspberries 2 200 t at 4 t/ha on
        550 ha; +74 % by 2027 at +5 % yield → 3 828 t / 4.2 t/ha = 911.4 ha, so 361.4 ha
        more.

    Returns
    -------
    pandas.DataFrame
        Tidy rows, driver ``production_target``; ``quantity`` is the production target,
        interpolated from the base year (where the extra area is 0) to each target year
        and held after the last one.
    """
    layer = "production_targets"
    known = list(known_settlements)
    frame = pd.DataFrame(targets).reset_index(drop=True)
    problems: list[Problem] = []
    if not check_columns(frame, ("settlement", "product", "year", "production", "yield",
                                 "current_area_ha"), layer=layer, problems=problems):
        raise ValidationError(problems)
    names = text_column(frame, "settlement", layer=layer, problems=problems)
    product = text_column(frame, "product", layer=layer, problems=problems)
    keyed = frame.assign(settlement=names)
    year = numeric_column(keyed, "year", layer=layer, problems=problems, key="settlement",
                          integer=True)
    production = numeric_column(keyed, "production", layer=layer, problems=problems,
                                key="settlement", minimum=0, code_below="negative_count")
    yield_ = numeric_column(keyed, "yield", layer=layer, problems=problems, key="settlement",
                            minimum=0)
    for pos in np.flatnonzero((yield_ == 0).to_numpy()):
        problems.append(
            Problem(code="below_min", message="yield 0: production needs a positive yield",
                    layer=layer, row=int(pos), feature=names.iloc[pos], column="yield")
        )
    current = numeric_column(keyed, "current_area_ha", layer=layer, problems=problems,
                             key="settlement", minimum=0)
    use = (text_column(frame, "use", layer=layer, problems=problems)
           if "use" in frame.columns else pd.Series("agriculture", index=frame.index))
    check_unknown_settlements(names, known, layer=layer, problems=problems)
    _years_problem(year, base_year, layer=layer, problems=problems)
    scenario = _scenario_column(frame, scenarios, layer=layer, problems=problems)
    if problems:
        raise ValidationError(problems)

    rows = pd.DataFrame({
        "settlement": names, "product": product, "use": use, "year": year.astype(np.int64),
        "production": production,
        "ha": np.maximum(production / yield_ - current, 0.0),
    })
    rows = _broadcast(rows, scenario, scenarios)
    keys = ["settlement", "product", "use", "scenario"]
    dup = rows.duplicated([*keys, "year"])
    if dup.any():
        first = rows.loc[dup].iloc[0]
        raise ValidationError([
            Problem(code="duplicate_year",
                    message=f"{first['settlement']} {first['product']} has two targets for "
                    f"{int(first['year'])}",
                    layer=layer, feature=str(first["settlement"]), column="year")
        ])
    last = base_year + horizon
    # Wide: one row per product line, one column per year; the base year has 0 extra land.
    wide_ha = rows.pivot(index=keys, columns="year", values="ha")
    wide_q = rows.pivot(index=keys, columns="year", values="production")
    all_years = pd.Index(
        np.union1d(np.arange(base_year, last + 1), wide_ha.columns.to_numpy(dtype=np.int64)),
        name="year",
    )
    wide_ha = wide_ha.reindex(columns=all_years)
    wide_q = wide_q.reindex(columns=all_years)
    wide_ha[base_year] = 0.0
    ha = wide_ha.T.interpolate(method="index", limit_direction="forward").T
    q = wide_q.T.interpolate(method="index", limit_direction="both").T
    keep = [int(y) for y in all_years if base_year < y <= last]
    ha, q = ha[keep], q[keep]
    ha.columns.name = q.columns.name = "year"
    out = pd.DataFrame({"hectares": ha.stack(), "quantity": q.stack()}).reset_index()
    out["driver"] = "production_target"
    out["unit"] = "production"
    out["year"] = out["year"].astype(np.int64)
    out = out.groupby(["settlement", "year", "scenario", "use", "driver", "unit"],
                      as_index=False)[["hectares", "quantity"]].sum()
    return out[list(DEMAND_COLUMNS)]


# ---------------------------------------------------------------------- investment chains
@dataclass(frozen=True, slots=True)
class ChainStep:
    """One cause-and-effect link of an investment project.

    ``target`` grows by ``per_unit`` for each unit of ``source``, the effect spread evenly
    over ``lag`` = (first, last) years after the source grows. A step with a ``use``
    needs land: ``ha_per_unit`` hectares per unit of its target, or, when not given, the
    norm of the use (``1 / jobs_per_ha`` for a sector, ``individual_plot_ha`` or
    ``1 / multi_storey_dwellings_per_ha`` grossed up for streets for housing).

    Several steps may feed one target; their contributions add up.
    """

    source: str
    target: str
    per_unit: float
    lag: tuple[int, int] = (0, 0)
    use: str | None = None
    ha_per_unit: float | None = None
    unit: str = ""


@dataclass(frozen=True)
class InvestmentProject:
    """An investment project and the chain of effects it sets off.

    Attributes
    ----------
    name
        Shown in the ``driver`` column as ``investment:<name>``.
    settlement
        Where the land is needed.
    start_year
        Year the money is spent; lag 0 effects appear that year.
    amount
        The investment (the chain's root quantity ``investment``, e.g. som).
    steps
        The chain; sources must be ``investment`` or a target of another step.
    scenarios
        Scenarios the project belongs to (``None`` = all), e.g. only ``high``.
    """

    name: str
    settlement: str
    start_year: int
    amount: float
    steps: tuple[ChainStep, ...] = field(default_factory=tuple)
    scenarios: tuple[str, ...] | None = None

    def chain(self, *, until_year: int, norms: DemandNorms | None = None) -> pd.DataFrame:
        """The level of every quantity and the land it needs, year by year.

        Returns
        -------
        pandas.DataFrame
            ``step, quantity, year, level, unit, use, hectares``: one row per step
            contribution and year from ``start_year`` to ``until_year`` (the root
            ``investment`` is step ``-1``); levels are cumulative.
        """
        norms = norms or DemandNorms.default()
        problems = _check_project(self, norms=norms)
        if problems:
            raise ValidationError(problems)
        return _evaluate_chain(self, until_year=until_year, norms=norms)


def _ha_per_unit(step: ChainStep, norms: DemandNorms) -> float | None:
    if step.ha_per_unit is not None:
        return step.ha_per_unit
    gross = 1.0 / (1.0 - norms.streets_share.value)
    if step.use is not None and step.use in norms.jobs_per_ha:
        return 1.0 / norms.jobs_per_ha[step.use].value
    if step.use == "individual_housing":
        return norms.individual_plot_ha.value * gross
    if step.use == "multi_storey_housing":
        return gross / norms.multi_storey_dwellings_per_ha.value
    return None


def _order_steps(steps: Sequence[ChainStep]) -> list[int] | None:
    """Indices of steps so each runs after every step feeding its source; None on a cycle."""
    pending = list(range(len(steps)))
    order: list[int] = []
    while pending:
        feeding = {steps[i].target for i in pending}
        ready = [i for i in pending if steps[i].source not in feeding]
        if not ready:
            return None
        order.extend(ready)
        pending = [i for i in pending if i not in ready]
    return order


def _check_project(
    project: InvestmentProject,
    *,
    norms: DemandNorms,
    known_settlements: Iterable[str] | None = None,
    scenarios: Sequence[str] | None = None,
    uses: Iterable[str] | None = None,
) -> list[Problem]:
    layer = "investment_projects"
    name = project.name
    problems: list[Problem] = []

    def bad(code: str, message: str, column: str | None = None) -> None:
        problems.append(Problem(code=code, message=f"project {name!r}: {message}", layer=layer,
                                feature=name, column=column))

    if not isinstance(name, str) or not name.strip():
        bad("missing_value", "the project needs a name", "name")
    if known_settlements is not None and project.settlement not in set(known_settlements):
        bad("unknown_settlement", f"unknown settlement {project.settlement!r}", "settlement")
    if isinstance(project.start_year, bool) or not isinstance(project.start_year,
                                                              int | np.integer):
        bad("bad_type", f"start_year {project.start_year!r} is not a year", "start_year")
    if not np.isfinite(project.amount) or project.amount < 0:
        bad("below_min", f"amount {project.amount!r} must be a number ≥ 0", "amount")
    if project.scenarios is not None and scenarios is not None:
        for s in project.scenarios:
            if s not in scenarios:
                bad("unknown_code", f"scenario {s!r} is not one of {', '.join(scenarios)}",
                    "scenarios")
    targets = {s.target for s in project.steps}
    allowed_uses = None if uses is None else set(uses)
    for i, step in enumerate(project.steps):
        where = f"step {i} ({step.source} → {step.target})"
        if step.source != ROOT_QUANTITY and step.source not in targets:
            bad("unknown_quantity", f"{where}: source {step.source!r} is neither "
                f"{ROOT_QUANTITY!r} nor the target of another step", "steps")
        if step.target == ROOT_QUANTITY:
            bad("bad_step", f"{where}: nothing may feed {ROOT_QUANTITY!r}", "steps")
        if not np.isfinite(step.per_unit) or step.per_unit < 0:
            bad("below_min", f"{where}: per_unit {step.per_unit!r} must be ≥ 0", "steps")
        first, last = step.lag
        if first < 0 or last < first:
            bad("bad_step", f"{where}: lag {step.lag!r} must be (first, last) with "
                "0 ≤ first ≤ last", "steps")
        if step.ha_per_unit is not None and (not np.isfinite(step.ha_per_unit)
                                             or step.ha_per_unit < 0):
            bad("below_min", f"{where}: ha_per_unit {step.ha_per_unit!r} must be ≥ 0", "steps")
        if step.use is not None:
            if allowed_uses is not None and step.use not in allowed_uses:
                bad("unknown_use", f"{where}: land use {step.use!r} is not a use of the "
                    "rulebook", "steps")
            if _ha_per_unit(step, norms) is None:
                bad("no_norm", f"{where}: no land norm for use {step.use!r}; give "
                    "ha_per_unit", "steps")
    if not problems and _order_steps(project.steps) is None:
        bad("cycle", "the steps feed each other in a cycle", "steps")
    return problems


def _evaluate_chain(
    project: InvestmentProject, *, until_year: int, norms: DemandNorms
) -> pd.DataFrame:
    n_years = max(until_year - int(project.start_year) + 1, 0)
    years = np.arange(int(project.start_year), int(project.start_year) + n_years)
    increments: dict[str, np.ndarray] = {ROOT_QUANTITY: np.zeros(n_years)}
    if n_years:
        increments[ROOT_QUANTITY][0] = project.amount
    contributions: list[tuple[int, ChainStep, np.ndarray]] = []
    for i in _order_steps(project.steps) or []:
        step = project.steps[i]
        first, last = step.lag
        kernel = np.zeros(last + 1)
        kernel[first:] = 1.0 / (last - first + 1)
        effect = np.convolve(increments[step.source], kernel)[:n_years] * step.per_unit
        increments[step.target] = increments.get(step.target, np.zeros(n_years)) + effect
        contributions.append((i, step, effect))
    frames = [pd.DataFrame({
        "step": -1, "quantity": ROOT_QUANTITY, "year": years,
        "level": np.cumsum(increments[ROOT_QUANTITY]), "unit": "", "use": None,
        "hectares": 0.0,
    })]
    for i, step, effect in contributions:
        level = np.cumsum(effect)
        per_ha = _ha_per_unit(step, norms) if step.use is not None else None
        frames.append(pd.DataFrame({
            "step": i, "quantity": step.target, "year": years, "level": level,
            "unit": step.unit, "use": step.use,
            "hectares": level * per_ha if per_ha is not None else 0.0,
        }))
    return pd.concat(frames, ignore_index=True)


def investment_demand(
    projects: Sequence[InvestmentProject],
    *,
    base_year: int,
    horizon: int,
    scenarios: Sequence[str],
    known_settlements: Iterable[str],
    norms: DemandNorms | None = None,
    uses: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Hectares by use that investment projects need, from their cause-and-effect chains.

    Land is counted from the base year: what a project had already taken by then is in
    the base inventory. Returns tidy rows, driver ``investment:<name>``, quantity = the
    level of the step's target (ha, jobs, houses).
    """
    norms = norms or DemandNorms.default()
    known = list(known_settlements)
    problems: list[Problem] = []
    names = [p.name for p in projects]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(Problem(code="duplicate_key", message=f"two projects named {name!r}",
                                layer="investment_projects", feature=name))
    for project in projects:
        problems.extend(_check_project(project, norms=norms, known_settlements=known,
                                       scenarios=scenarios, uses=uses))
    if problems:
        raise ValidationError(problems)
    last = base_year + horizon
    frames = []
    for project in projects:
        chain = _evaluate_chain(project, until_year=last, norms=norms)
        land = chain.loc[chain["use"].notna()]
        if land.empty:
            continue
        wide_ha = land.pivot(index="step", columns="year", values="hectares")
        wide_q = land.pivot(index="step", columns="year", values="level")
        cols = np.arange(base_year, last + 1)
        wide_ha = wide_ha.reindex(columns=cols).ffill(axis=1).fillna(0.0)
        wide_q = wide_q.reindex(columns=cols).ffill(axis=1).fillna(0.0)
        # Demand since the base year.
        ha = wide_ha.sub(wide_ha[base_year], axis=0).drop(columns=base_year)
        q = wide_q.sub(wide_q[base_year], axis=0).drop(columns=base_year)
        meta = land.drop_duplicates("step").set_index("step")[["use", "unit"]]
        ha.columns.name = q.columns.name = "year"
        long = pd.DataFrame({"hectares": ha.stack(), "quantity": q.stack()}).reset_index()
        long = long.join(meta, on="step")
        chosen = project.scenarios if project.scenarios is not None else tuple(scenarios)
        long = long.merge(pd.DataFrame({"scenario": [s for s in scenarios if s in chosen]}),
                          how="cross")
        long["settlement"] = project.settlement
        long["driver"] = f"investment:{project.name}"
        frames.append(long)
    if not frames:
        return pd.DataFrame(columns=list(DEMAND_COLUMNS))
    out = pd.concat(frames, ignore_index=True)
    out["year"] = out["year"].astype(np.int64)
    out = out.groupby(["settlement", "year", "scenario", "use", "driver", "unit"],
                      as_index=False, sort=False)[["hectares", "quantity"]].sum()
    return out[list(DEMAND_COLUMNS)]

