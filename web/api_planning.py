"""Forecast, capacity, allocation and hazard exposure over the API.

Every answer is computed by the function the CLI and the Space report use
(:func:`web.reports.space.compute_land_plan`, :func:`web.services.compute_exposure`) and
shaped like the CLI's ``--format json`` output, so the numbers agree to the digit. A
plan takes seconds, so results are kept in the app's small LRU
(:func:`web.services.result_cache`) under the workspace fingerprint and the options: a
repeated request is answered from memory; an edited parcel, a replaced layer, another
rulebook or population series is a new key.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from spatial.errors import InputError
from spatial.space import LandPlan, records
from spatial.store import Workspace

from .api_geo import geojson, to_wgs84
from .reports.space import REPORT_LAYERS, compute_land_plan
from .services import (
    ResultCache,
    compute_exposure,
    population_series,
    population_stamp,
    resolve_rulebook,
    workspace_fingerprint,
)
from .settings import Settings

Scenario = Literal["low", "medium", "high"]
SCENARIOS: tuple[Scenario, ...] = ("low", "medium", "high")
Method = Literal["official", "compound"]
#: Threads for the parcel checks of capacity and allocation (as the CLI's default).
PLAN_JOBS = 2
#: Steps of a land plan, each including the ones before.
_STEPS: tuple[tuple[str, ...], ...] = ((), ("capacity",), ("capacity", "allocation"))
#: Layers hazard exposure reads.
EXPOSURE_LAYERS = ("hazard_zones", "parcels", "settlements", "facilities")


# --------------------------------------------------------------------------- models


class PopulationRow(BaseModel):
    """One settlement-year of the population series (as in the population CSV)."""

    settlement: str
    year: int
    population: float
    households: float | None = None


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Method = Field(default="official", description="Population method")
    horizon: int = Field(default=5, ge=1, le=30, description="Years after the base year")
    population: list[PopulationRow] | None = Field(
        default=None,
        description="Population series; default JER_POPULATION, else the demo's on the demo",
    )

    def population_records(self) -> list[dict[str, Any]] | None:
        if self.population is None:
            return None
        return [row.model_dump() for row in self.population]


class DemandRequest(_Options):
    """Options of ``jer demand project``, and the scenarios to return."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"method": "official", "horizon": 5, "scenarios": ["low", "medium", "high"]},
    ]})

    scenarios: list[Scenario] = Field(default_factory=lambda: list(SCENARIOS))


class PlanRequest(_Options):
    """Options of ``jer demand balance`` and ``jer allocate``."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"method": "official", "horizon": 5, "scenario": "medium"},
    ]})

    scenario: Scenario = "medium"


class DemandResponse(BaseModel):
    """Population projection (as ``jer demand project``) and the land demand it drives."""

    method: str
    base_year: int
    horizon: int
    scenarios: list[str]
    rates: list[dict[str, Any]]
    projection: list[dict[str, Any]]
    demand: list[dict[str, Any]] = Field(
        description="settlement, year, scenario, use, driver, hectares, quantity, unit"
    )
    demand_total: list[dict[str, Any]] = Field(description="scenario, use, year, hectares")


class CapacityResponse(BaseModel):
    """Demand against developable capacity (as ``jer demand balance --format json``)."""

    scenario: str
    base_year: int | None
    horizon: int
    demand: list[dict[str, Any]] | None
    capacity: list[dict[str, Any]] | None
    balance: list[dict[str, Any]] | None
    not_computed: dict[str, str]


class AllocationResponse(BaseModel):
    """The allocation (as ``jer allocate --format json``) with the parcels drawn."""

    scenario: str
    base_year: int | None
    horizon: int
    allocation: list[dict[str, Any]] | None
    unmet: list[dict[str, Any]] | None
    draft_requests: list[dict[str, Any]] | None
    not_computed: dict[str, str]
    summary: list[dict[str, Any]] = Field(
        description="Per settlement and use: parcels and developable hectares"
    )
    parcels: dict[str, Any] = Field(
        description="The allocated parcels as a GeoJSON FeatureCollection in EPSG:4326"
    )


class ExposureResponse(BaseModel):
    """Exposure and relocation candidates (as ``jer hazards exposure --format json``)."""

    exposure: dict[str, Any]
    relocation: dict[str, Any]


# --------------------------------------------------------------------------- plans


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]] | None:
    return None if frame is None else records(frame)


def land_plan(workspace: Workspace, settings: Settings, options: _Options, cache: ResultCache,
              *, scenario: str, steps: tuple[str, ...]) -> LandPlan:
    """The land plan for these options, from the cache when the inputs are unchanged.

    A plan with more steps answers for fewer (an allocation holds the capacity). The
    demand and allocation page asks this function too, so the page and the API share
    one computation.
    """
    rows = options.population_records()
    inputs = (options.method, options.horizon, scenario,
              workspace_fingerprint(workspace, REPORT_LAYERS),
              population_stamp(workspace, settings.population, rows))
    for more in _STEPS[_STEPS.index(steps) + 1:]:
        found = cache.peek(("plan", more, *inputs))
        if found is not None:
            plan: LandPlan = found
            return plan
    key: Hashable = ("plan", steps, *inputs)

    def compute() -> LandPlan:
        history = population_series(workspace, settings.population, rows)
        if history is None:
            raise InputError("no population series: send 'population' rows, or set "
                             "JER_POPULATION to a population CSV")
        return compute_land_plan(
            workspace, population=history, rulebook=resolve_rulebook(None, workspace),
            horizon=options.horizon, scenario=scenario, method=options.method,
            n_jobs=PLAN_JOBS, steps=steps,
        )

    computed: LandPlan = cache.get_or_compute(key, compute)
    return computed


#: The earlier name, kept for callers written against it.
_plan = land_plan


def demand(workspace: Workspace, settings: Settings, body: DemandRequest,
           cache: ResultCache) -> dict[str, Any]:
    """Population projection and land demand for the chosen scenarios."""
    plan = land_plan(workspace, settings, body, cache, scenario="medium", steps=())
    projection, table = plan.projection, plan.demand_table
    wanted = list(dict.fromkeys(body.scenarios))
    frame = projection.frame[projection.frame["scenario"].isin(wanted)]
    rates = projection.rates[projection.rates["scenario"].isin(wanted)]
    rows = table.frame[table.frame["scenario"].isin(wanted)]
    total = (rows.groupby(["scenario", "use", "year"], sort=True)["hectares"].sum()
             .reset_index())
    return {
        "method": projection.method, "base_year": int(projection.base_year),
        "horizon": int(projection.horizon), "scenarios": wanted,
        "rates": records(rates), "projection": records(frame),
        "demand": records(rows), "demand_total": records(total),
    }


def capacity(workspace: Workspace, settings: Settings, body: PlanRequest,
             cache: ResultCache) -> dict[str, Any]:
    """Demand against capacity, as ``jer demand balance --format json``."""
    plan = land_plan(workspace, settings, body, cache, scenario=body.scenario, steps=("capacity",))
    return {
        "scenario": body.scenario, "base_year": plan.base_year, "horizon": body.horizon,
        "demand": _records(plan.demand), "capacity": _records(plan.capacity),
        "balance": _records(plan.demand_balance), "not_computed": dict(plan.not_computed),
    }


def allocation(workspace: Workspace, settings: Settings, body: PlanRequest,
               cache: ResultCache) -> dict[str, Any]:
    """Allocation as ``jer allocate --format json``, the summary and the parcels drawn."""
    plan = land_plan(workspace, settings, body, cache, scenario=body.scenario,
                 steps=("capacity", "allocation"))
    summary: list[dict[str, Any]] = []
    features: list[dict[str, Any]] = []
    if plan.allocation is not None and len(plan.allocation):
        summary = records(plan.allocation.groupby(["settlement", "use"], sort=True).agg(
            parcels=("cadastral_no", "size"), developable_ha=("developable_ha", "sum"),
        ).reset_index())
    chosen = plan.chosen
    if chosen is not None and len(chosen) and plan.allocation is not None:
        shapes = geojson(to_wgs84(chosen.geometry.to_numpy(), chosen.crs))
        features = [
            {"type": "Feature", "id": row.get("cadastral_no"), "geometry": shape,
             "properties": row}
            for row, shape in zip(records(plan.allocation), shapes, strict=True)
        ]
    return {
        "scenario": body.scenario, "base_year": plan.base_year, "horizon": body.horizon,
        "allocation": _records(plan.allocation), "unmet": _records(plan.unmet),
        "draft_requests": _records(plan.draft_requests),
        "not_computed": dict(plan.not_computed), "summary": summary,
        "parcels": {"type": "FeatureCollection", "features": features},
    }


def exposure(workspace: Workspace, cache: ResultCache) -> dict[str, Any]:
    """Hazard exposure and relocation candidates, as ``jer hazards exposure``."""
    key = ("exposure", workspace_fingerprint(workspace, EXPOSURE_LAYERS))

    def compute() -> dict[str, Any]:
        summary, candidates = compute_exposure(workspace)
        return {"exposure": summary.to_dict(), "relocation": candidates.to_dict()}

    result: dict[str, Any] = cache.get_or_compute(key, compute)
    return result
