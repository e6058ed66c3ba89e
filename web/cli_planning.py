"""Planning commands of the ``jer`` CLI: demand forecast, allocation and the Space report.

Registers on the typer ``app`` of :mod:`web.cli` (importing this module is enough):

* ``jer demand project`` — population projection (official or compound method);
* ``jer demand balance`` — land demand against developable capacity;
* ``jer allocate`` — demand placed on parcels, unmet demand, draft transformations;
* ``jer report space`` — the SEDP Space section as ``space-<lang>.html`` and ``.xlsx``.

Every number comes from :func:`spatial.space.plan_land` /
:func:`spatial.space.space_section`, the computation the report itself uses.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
import typer
from rich.table import Table

from web.cli import (
    FormatOpt,
    WorkspaceOpt,
    _errors,
    _fail,
    _open,
    _print_json,
    app,
    console,
)

demand_app = typer.Typer(help="Population and land-demand forecast.", no_args_is_help=True)
report_app = typer.Typer(help="Finished SEDP reports.", no_args_is_help=True)
app.add_typer(demand_app, name="demand")
app.add_typer(report_app, name="report")

PopulationOpt = Annotated[
    Path | None,
    typer.Option(
        "--population", envvar="JER_POPULATION",
        help="Population CSV (settlement,year,population[,households]); the demo's by default "
             "on the demo workspace",
    ),
]
RulebookOpt = Annotated[
    Path | None, typer.Option("--rulebook", help="Rulebook YAML (the default rulebook if omitted)")
]
MethodOpt = Annotated[
    Literal["official", "compound"], typer.Option("--method", help="Population method")
]
HorizonOpt = Annotated[int, typer.Option("--horizon", min=1, max=30, help="Years ahead")]
ScenarioOpt = Annotated[
    Literal["low", "medium", "high"], typer.Option("--scenario", help="Forecast scenario")
]
JobsOpt = Annotated[
    int, typer.Option("--jobs", min=1, max=8, help="Threads for the parcel checks")
]
OptionalWorkspaceOpt = Annotated[
    str | None,
    typer.Option(
        "--workspace", "-w", envvar="JER_WORKSPACE",
        help="Workspace (.gpkg or postgresql:// URL); gives the settlements and the demo default",
    ),
]


def _population(path: Path | None, workspace: Any | None) -> pd.DataFrame | None:
    """The population series: the given CSV, or the demo's on the demo workspace."""
    from .services import population_series

    return population_series(workspace, path)


def _rulebook(path: Path | None, workspace: Any = None) -> Any:
    """The rulebook given, else the workspace's (``jer rulebook set``), else the default."""
    from .services import resolve_rulebook

    return resolve_rulebook(path, workspace)


def _land_plan(workspace: str, population: Path | None, rulebook: Path | None, *,
               method: str, horizon: int, scenario: str, jobs: int, as_json: bool,
               steps: tuple[str, ...] | None = None) -> Any:
    """Demand → capacity (→ allocation) for a workspace, as the report computes it."""
    from web.reports.space import compute_land_plan

    options: dict[str, Any] = {} if steps is None else {"steps": steps}
    with _errors(as_json), _open(workspace) as ws:
        history = _population(population, ws)
        if history is None:
            _fail("no population series: pass --population CSV", as_json=as_json)
        return compute_land_plan(
            ws, population=history, rulebook=_rulebook(rulebook, ws), horizon=horizon,
            scenario=scenario, method=method, n_jobs=jobs, **options,
        )


def _print_frame(frame: pd.DataFrame, title: str) -> None:
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.astype(object).where(pd.notna(frame), "").itertuples(index=False):
        table.add_row(*(f"{v:,.2f}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]] | None:
    from spatial.space import records

    return None if frame is None else records(frame)


# --------------------------------------------------------------------------- demand


@demand_app.command("project")
def demand_project(
    population: PopulationOpt = None,
    workspace: OptionalWorkspaceOpt = None,
    method: MethodOpt = "official",
    horizon: HorizonOpt = 5,
    format: FormatOpt = "table",
) -> None:
    """Project population by settlement, year and scenario (low, medium, high)."""
    from spatial.demand import project_population

    as_json = format == "json"
    with _errors(as_json):
        ws = _open(workspace) if workspace else None
        try:
            history = _population(population, ws)
        finally:
            if ws is not None:
                ws.close()
        if history is None:
            _fail("no population series: pass --population CSV", as_json=as_json)
        projection = project_population(history, method=method, horizon=horizon)
    frame = projection.frame
    if as_json:
        _print_json({
            "method": projection.method, "base_year": projection.base_year,
            "horizon": projection.horizon, "rates": _records(projection.rates),
            "projection": _records(frame),
        })
        return
    totals = frame.pivot_table(index="year", columns="scenario", values="population",
                               aggfunc="sum", sort=True)
    totals = totals[[c for c in ("low", "medium", "high") if c in totals.columns]]
    _print_frame(totals.reset_index(),
                 f"Population ({projection.method}, base year {projection.base_year})")


@demand_app.command("balance")
def demand_balance_cmd(
    workspace: WorkspaceOpt,
    population: PopulationOpt = None,
    rulebook: RulebookOpt = None,
    method: MethodOpt = "official",
    horizon: HorizonOpt = 5,
    scenario: ScenarioOpt = "medium",
    jobs: JobsOpt = 2,
    format: FormatOpt = "table",
) -> None:
    """Land demand against developable capacity per settlement, use and year."""
    as_json = format == "json"
    plan = _land_plan(workspace, population, rulebook, method=method, horizon=horizon,
                      scenario=scenario, jobs=jobs, as_json=as_json, steps=("capacity",))
    if as_json:
        _print_json({
            "scenario": scenario, "base_year": plan.base_year, "horizon": horizon,
            "demand": _records(plan.demand), "capacity": _records(plan.capacity),
            "balance": _records(plan.demand_balance), "not_computed": dict(plan.not_computed),
        })
        return
    if plan.demand_balance is None:
        _print_frame(plan.demand_total if plan.demand_total is not None else pd.DataFrame(),
                     "Land demand, ha")
        for key, reason in plan.not_computed.items():
            console.print(f"not computed: {key}: {reason}", highlight=False)
        return
    last = plan.demand_balance["year"].max()
    _print_frame(plan.demand_balance[plan.demand_balance["year"] == last].drop(
        columns=["scenario"]), f"Demand against capacity, {scenario} scenario, {last}")


# --------------------------------------------------------------------------- allocation


@app.command("allocate")
def allocate_cmd(
    workspace: WorkspaceOpt,
    population: PopulationOpt = None,
    rulebook: RulebookOpt = None,
    method: MethodOpt = "official",
    horizon: HorizonOpt = 5,
    scenario: ScenarioOpt = "medium",
    jobs: JobsOpt = 2,
    format: FormatOpt = "table",
) -> None:
    """Place the forecast demand on the most suitable parcels; list draft transformations."""
    as_json = format == "json"
    plan = _land_plan(workspace, population, rulebook, method=method, horizon=horizon,
                      scenario=scenario, jobs=jobs, as_json=as_json)
    if as_json:
        _print_json({
            "scenario": scenario, "base_year": plan.base_year, "horizon": horizon,
            "allocation": _records(plan.allocation), "unmet": _records(plan.unmet),
            "draft_requests": _records(plan.draft_requests),
            "not_computed": dict(plan.not_computed),
        })
        return
    if plan.allocation is None:
        for key, reason in plan.not_computed.items():
            console.print(f"not computed: {key}: {reason}", highlight=False)
        return
    summary = plan.allocation.groupby(["settlement", "use"], sort=True).agg(
        parcels=("cadastral_no", "size"), developable_ha=("developable_ha", "sum")).reset_index()
    _print_frame(summary, f"Allocation, {scenario} scenario")
    if plan.unmet is not None and len(plan.unmet):
        _print_frame(plan.unmet, "Unmet demand")
    if plan.draft_requests is not None and len(plan.draft_requests):
        _print_frame(plan.draft_requests.drop(
            columns=[c for c in plan.draft_requests.columns if c.startswith("justification")]),
            "Draft transformation requests")


# --------------------------------------------------------------------------- report


@report_app.command("space")
def report_space(
    workspace: WorkspaceOpt,
    lang: Annotated[
        Literal["ky", "ru", "en", "all"],
        typer.Option("--lang", help="Language of the report; 'all' writes all three"),
    ] = "ky",
    out: Annotated[Path, typer.Option("--out", help="Directory for the HTML and XLSX")] = Path(
        "."),
    population: PopulationOpt = None,
    rulebook: RulebookOpt = None,
    method: MethodOpt = "official",
    horizon: HorizonOpt = 5,
    scenario: ScenarioOpt = "medium",
    jobs: JobsOpt = 2,
    format: FormatOpt = "table",
) -> None:
    """Write the SEDP Space section (Мейкиндик) as space-<lang>.html and space-<lang>.xlsx.

    The section is computed once; ``--lang all`` renders the same numbers in Kyrgyz,
    Russian and English.
    """
    from web.reports.space import compute_space_section, write_space_report

    as_json = format == "json"
    langs: tuple[Any, ...] = ("ky", "ru", "en") if lang == "all" else (lang,)
    started = time.perf_counter()
    with _errors(as_json):
        with _open(workspace) as ws:
            history = _population(population, ws)
            section = compute_space_section(
                ws, rulebook=_rulebook(rulebook, ws), population=history, horizon=horizon,
                scenario=scenario, method=method, lang=langs[0], n_jobs=jobs,
            )
        written = [write_space_report(section, out, one) for one in langs]
    seconds = time.perf_counter() - started
    if as_json:
        files = [str(path) for pair in written for path in pair]
        _print_json({"html": str(written[0][0]), "xlsx": str(written[0][1]), "files": files,
                     "seconds": round(seconds, 2), "not_computed": dict(section.not_computed)})
        return
    for html_path, xlsx_path in written:
        console.print(f"Wrote {html_path} and {xlsx_path}", highlight=False)
    console.print(f"in {seconds:.1f} s", highlight=False)
    for key, reason in section.not_computed.items():
        console.print(f"not computed: {key}: {reason}", highlight=False)
