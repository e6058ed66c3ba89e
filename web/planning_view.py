"""The numbers of the demand and allocation page: one cached land plan, labelled tables.

The page shows what ``jer demand project``, ``jer demand balance`` and ``jer allocate``
compute, from the same function (:func:`web.reports.space.compute_land_plan`), so the
page, the CLI, the API and the Space report cannot disagree. A plan takes seconds on a
municipality (tens of seconds at 100 000 parcels), so it is computed once per workspace
state and options and kept in the app's result cache (:func:`web.services.result_cache`)
under the API's own key: an edit of the parcels, a replaced layer or rulebook, or another
population file makes a new key.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from spatial.schema import Lang, label
from spatial.space import LandPlan
from spatial.store import Workspace
from spatial.zoning import Rulebook

from .reports.labels import text
from .reports.space import format_number
from .services import population_series, result_cache
from .settings import Settings

__all__ = [
    "FULL_PLAN",
    "METHODS",
    "SCENARIOS",
    "PageTable",
    "PlanOptions",
    "cached_plan",
    "plan_tables",
    "settlement_labels",
]

SCENARIOS: tuple[str, ...] = ("low", "medium", "high")
#: Population methods offered on the page (those of ``jer demand``).
METHODS: tuple[str, ...] = ("official", "compound")


@dataclass(frozen=True)
class PlanOptions:
    """What the planner chose on the page."""

    scenario: str = "medium"
    horizon: int = 5
    method: str = "official"


#: Every step of a land plan: demand, capacity and allocation.
FULL_PLAN: tuple[str, ...] = ("capacity", "allocation")


def cached_plan(state: Any, workspace: Workspace, settings: Settings, *,
                options: PlanOptions) -> tuple[LandPlan, float | None]:
    """The plan for ``options``, shared with the API through the app's result cache.

    The page asks :func:`web.api_planning._plan` — the function behind
    ``POST /api/allocation`` — so a plan computed for the page answers the API and the
    other way round. Returns the plan and the seconds it took when this call computed
    it (``None`` when it came from the cache). Without a population series nothing is
    computed and the plan lists what is missing.
    """
    from .api_planning import PlanRequest, _plan

    if population_series(workspace, settings.population) is None:
        return LandPlan(not_computed={key: "no population series"
                                      for key in ("demand", "capacity", "allocation")}), None
    cache = result_cache(state)
    before = cache.computed
    started = time.perf_counter()
    request = PlanRequest(scenario=cast(Any, options.scenario), horizon=options.horizon,
                          method=cast(Any, options.method))
    plan = _plan(workspace, settings, request, cache, scenario=options.scenario,
                 steps=FULL_PLAN)
    return plan, (time.perf_counter() - started if cache.computed > before else None)


# --------------------------------------------------------------------------- tables


@dataclass
class PageTable:
    """One table of the page: headings and rows of (text, is-number) cells."""

    key: str
    title: str
    headings: list[str]
    rows: list[list[tuple[str, bool]]]
    note: str | None = None
    missing: str | None = None


def settlement_labels(workspace: Workspace, lang: str) -> dict[str, str]:
    """Settlement name (the code other layers use) → its name in ``lang``."""
    if "settlements" not in workspace.layers():
        return {}
    frame = workspace.read_layer("settlements", include_personal=False)
    column = f"name_{lang}"
    if "name" not in frame or column not in frame:
        return {}
    names = frame[column].where(frame[column].notna(), frame["name"])
    return dict(zip(frame["name"].astype(str), names.astype(str), strict=True))


class _Labels:
    """Codes → labels in one language: settlements, uses, categories, statuses."""

    def __init__(self, rulebook: Rulebook, lang: Lang, settlements: Mapping[str, str]) -> None:
        self.lang = lang
        self.uses = {code: use.name.get(lang) or use.name.get("en") or code
                     for code, use in rulebook.uses.items()}
        self.settlements = settlements

    def __call__(self, column: str, value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            return ""
        code = str(value)
        if column == "settlement":
            return self.settlements.get(code, code)
        if column in ("use", "target_use", "current_use"):
            return self.uses.get(code, code)
        if column in ("current_category", "target_category"):
            return label("land_category", code, self.lang)
        if column in ("status", "verdict", "scenario"):
            found = text(f"{column}.{code}", self.lang)
            return code if found == f"{column}.{code}" else found
        if isinstance(value, (bool, np.bool_)):
            return text("row.yes" if value else "row.no", self.lang)
        return code

    def heading(self, column: str) -> str:
        found = text(f"col.{column}", self.lang)
        return column if found == f"col.{column}" else found


def _cells(frame: pd.DataFrame, labels: _Labels, *, decimals: Mapping[str, int] | None = None
           ) -> list[list[tuple[str, bool]]]:
    """Rows of a frame as cells: numbers formatted for the language, codes labelled."""
    decimals = decimals or {}
    columns: list[list[tuple[str, bool]]] = []
    for column in frame.columns:
        values = frame[column]
        name = str(column)
        numeric = (pd.api.types.is_numeric_dtype(values)
                   and not pd.api.types.is_bool_dtype(values))
        if numeric:
            digits = decimals.get(name, 2 if values.dtype.kind == "f" else 0)
            columns.append([(format_number(v, digits, labels.lang), True) for v in values])
        else:
            columns.append([(labels(name, v), False) for v in values])
    return [list(row) for row in zip(*columns, strict=True)] if columns else []


def _year_table(frame: pd.DataFrame, index: str, value: str, labels: _Labels, *,
                digits: int, total: bool) -> tuple[list[str], list[list[tuple[str, bool]]]]:
    """``index`` rows × year columns of ``value``, with a total row when asked."""
    wide = frame.pivot_table(index=index, columns="year", values=value, aggfunc="sum",
                             fill_value=0.0, sort=True)
    years = [int(y) for y in wide.columns]
    rows = [[(labels(index, key), False),
             *((format_number(v, digits, labels.lang), True) for v in wide.loc[key])]
            for key in wide.index]
    if total:
        rows.append([(text("row.total", labels.lang), False),
                     *((format_number(v, digits, labels.lang), True) for v in wide.sum())])
    return [labels.heading(index), *(str(y) for y in years)], rows


def plan_tables(plan: LandPlan, *, rulebook: Rulebook, lang: str, options: PlanOptions,
                settlements: Mapping[str, str], not_computed_hint: str = "") -> list[PageTable]:
    """The page's tables in ``lang``: population, demand, balance, allocation, requests.

    Each table the plan could not compute is kept with the reason
    (:attr:`LandPlan.not_computed`), so the page says what is missing instead of
    dropping it silently.
    """
    lang_ = cast(Lang, lang)
    labels = _Labels(rulebook, lang_, settlements)
    reasons = dict(plan.not_computed)

    def missing(key: str) -> str:
        reason = reasons.get(key, "")
        return f"{reason}{not_computed_hint}" if reason else not_computed_hint

    tables: list[PageTable] = []
    from .i18n import t

    if plan.projection is not None:
        frame = plan.projection.frame
        totals = frame.pivot_table(index="year", columns="scenario", values="population",
                                   aggfunc="sum", sort=True)
        scenarios = [s for s in SCENARIOS if s in totals.columns]
        rows = [[(str(int(year)), False),
                 *((format_number(totals.loc[year, s], 0, lang_), True) for s in scenarios)]
                for year in totals.index]
        tables.append(PageTable(
            "population", t("plan_population", lang), [labels.heading("year"),
            *(text(f"scenario.{s}", lang_) for s in scenarios)], rows,
            note=t("plan_population_note", lang, base=plan.base_year)))
        chosen = frame[frame["scenario"] == options.scenario]
        headings, rows = _year_table(chosen, "settlement", "population", labels, digits=0,
                                     total=True)
        tables.append(PageTable(
            "population_settlements",
            t("plan_population_settlements", lang,
              scenario=text(f"scenario.{options.scenario}", lang_)), headings, rows))
    else:
        tables.append(PageTable("population", t("plan_population", lang), [], [],
                                missing=missing("demand")))
    if plan.demand_total is not None:
        headings, rows = _year_table(plan.demand_total, "use", "hectares", labels, digits=2,
                                     total=True)
        tables.append(PageTable("demand", t("plan_demand", lang), headings, rows,
                                note=text("note.demand", lang_)))
    else:
        tables.append(PageTable("demand", t("plan_demand", lang), [], [],
                                missing=missing("demand")))
    balance = plan.demand_balance
    if balance is not None and len(balance):
        last = int(balance["year"].max())
        shown = balance[balance["year"] == last][
            ["settlement", "use", "demand_ha", "capacity_ha", "balance_ha", "status"]]
        tables.append(PageTable(
            "balance", t("plan_balance", lang, year=last),
            [labels.heading(str(c)) for c in shown.columns], _cells(shown, labels),
            note=text("note.capacity", lang_)))
    else:
        tables.append(PageTable("balance", t("plan_balance", lang, year=""), [], [],
                                missing=missing("capacity")))
    if plan.allocation is not None:
        summary = plan.allocation.groupby(["settlement", "use"], sort=True).agg(
            parcels=("cadastral_no", "size"),
            developable_ha=("developable_ha", "sum")).reset_index()
        tables.append(PageTable(
            "allocation", t("plan_allocation", lang),
            [labels.heading(str(c)) for c in summary.columns], _cells(summary, labels)))
        unmet = plan.unmet
        if unmet is not None and len(unmet):
            tables.append(PageTable(
                "unmet", text("section.unmet", lang_),
                [labels.heading(str(c)) for c in unmet.columns], _cells(unmet, labels)))
    else:
        tables.append(PageTable("allocation", t("plan_allocation", lang), [], [],
                                missing=missing("allocation")))
    drafts = plan.draft_requests
    if drafts is not None:
        keep = [c for c in ("cadastral_no", "settlement", "current_category", "target_category",
                            "current_use", "target_use", "area_ha") if c in drafts.columns]
        shown = drafts[keep].copy()
        justification = f"justification_{lang}"
        if justification in drafts:
            shown["justification"] = drafts[justification].astype(str)
        tables.append(PageTable(
            "draft_requests", text("section.draft_requests", lang_),
            [labels.heading(str(c)) for c in shown.columns], _cells(shown, labels),
            note=t("plan_drafts_note", lang)))
    else:
        tables.append(PageTable("draft_requests", text("section.draft_requests", lang_), [],
                                [], missing=missing("allocation")))
    return tables
