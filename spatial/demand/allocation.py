"""Place forecast land demand on candidate parcels, by a transparent suitability score.

Once the balance says how much land each settlement needs for each use, the working
group has to say *where* (BRIEF §7, the Space section, and the land-transformation
requests that follow). :func:`allocate` ranks the developable candidate land of
:func:`~spatial.demand.capacity.land_capacity` by a published score — a weighted mean of
components in [0, 1], each a column of the result, so anyone can redo the ranking by
hand — and fills each settlement's demand greedily, best parcels first. The same scoring
serves every scenario, so the allocations of the low, medium and high forecasts can be
compared parcel by parcel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import Problem, ValidationError
from .capacity import CapacityResult, _demand_frame
from .table import DemandTable

__all__ = [
    "COMPONENTS",
    "DEFAULT_WEIGHTS",
    "AllocationResult",
    "SuitabilityWeights",
    "allocate",
]

#: Score components, in the order of the ``c_<name>`` columns.
COMPONENTS: tuple[str, ...] = (
    "slope", "settlement_distance", "road_distance", "hazard", "irrigated", "category_change",
)

#: Default weights of :class:`SuitabilityWeights` (relative; only their ratios matter).
DEFAULT_WEIGHTS: dict[str, float] = {
    "slope": 1.0,
    "settlement_distance": 2.0,
    "road_distance": 1.0,
    "hazard": 2.0,
    "irrigated": 2.0,
    "category_change": 1.0,
}

_HAZARD_RANK = {"low": 1, "medium": 2, "high": 3}

_DRIVER_LABELS: dict[str, dict[str, str]] = {
    "population": {"ky": "калктын өсүшү", "ru": "рост населения", "en": "population growth"},
    "backlog": {"ky": "турак жайга болгон топтолгон муктаждык",
                "ru": "накопленная потребность в жилье", "en": "housing backlog"},
    "existing_deficit": {"ky": "азыркы орун жетишсиздиги", "ru": "существующий дефицит мест",
                         "en": "existing shortage of places"},
    "sector_growth": {"ky": "тармактын өсүшү", "ru": "рост отрасли", "en": "sector growth"},
    "production_target": {"ky": "өндүрүш планы", "ru": "производственный план",
                          "en": "production target"},
    "investment": {"ky": "инвестициялык долбоор", "ru": "инвестиционный проект",
                   "en": "investment project"},
}
_UNIT_LABELS: dict[str, dict[str, str]] = {
    "dwellings": {"ky": "турак жай", "ru": "жилищ", "en": "dwellings"},
    "places": {"ky": "орун", "ru": "мест", "en": "places"},
    "jobs": {"ky": "жумуш орду", "ru": "рабочих мест", "en": "jobs"},
}
_BY = {"ky": "{year}-жылга чейин", "ru": "к {year} г.", "en": "by {year}"}
_DEMAND = {"ky": "жер муктаждыгы {ha} га ({scenario} сценарий)",
           "ru": "потребность в земле {ha} га (сценарий {scenario})",
           "en": "land demand {ha} ha ({scenario} scenario)"}
LANGS = ("ky", "ru", "en")


@dataclass(frozen=True)
class SuitabilityWeights:
    """Weights and scales of the suitability score — data, not code.

    Each component is a goodness in [0, 1]; the score is their weighted mean over the
    components that have data (a component without input — no roads layer, no slope —
    drops out for every parcel alike, so scores stay comparable).

    * ``slope``: ``1 − slope/max_slope_deg`` (flat is best; steeper than the maximum
      scores 0). A parcel with no slope value scores 0.5.
    * ``settlement_distance``: ``1 − d/max_settlement_distance_m``, ``d`` the distance
      from the parcel to its settlement's polygon (0 inside): compact growth costs less
      in roads and networks.
    * ``road_distance``: ``1 − d/max_road_distance_m`` to the nearest road.
    * ``hazard``: ``1 − hazard_penalty[class]`` of the worst hazard class the parcel
      overlaps; parcels overlapping a class in ``exclude_hazard`` are not allocated.
    * ``irrigated``: 0 for irrigated arable land (``ag_subtype = arable_irrigated``), 1
      otherwise — irrigated land is the scarcest farmland and is spared.
    * ``category_change``: 0 where a change of land category is needed (a
      transformation request, months of procedure), 1 otherwise.
    """

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    max_slope_deg: float = 15.0
    max_settlement_distance_m: float = 2000.0
    max_road_distance_m: float = 1000.0
    hazard_penalty: Mapping[str, float] = field(
        default_factory=lambda: {"high": 1.0, "medium": 0.5, "low": 0.2})
    exclude_hazard: tuple[str, ...] = ("high",)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> SuitabilityWeights:
        """Weights from plain data (a rulebook section or a JSON form), checked.

        Keys are the field names; ``weights`` may name only some components (the rest
        keep their defaults).

        Raises
        ------
        ValidationError
            Unknown keys, and every problem of :meth:`problems`.
        """
        known = {f for f in cls.__dataclass_fields__}
        problems = [Problem("unknown_key", f"{key!r} is not a setting of the suitability "
                            f"score (known: {', '.join(sorted(known))})", layer="weights",
                            column=str(key))
                    for key in data if key not in known]
        if problems:
            raise ValidationError(problems)
        kw: dict[str, Any] = dict(data)
        kw["weights"] = {**DEFAULT_WEIGHTS, **dict(kw.get("weights") or {})}
        if "exclude_hazard" in kw:
            kw["exclude_hazard"] = tuple(kw["exclude_hazard"])
        try:
            made = cls(**kw)
            found = made.problems()
        except (TypeError, ValueError) as exc:
            raise ValidationError([Problem("bad_value", f"suitability weights: {exc}",
                                           layer="weights")]) from exc
        if found:
            raise ValidationError(found)
        return made

    def problems(self) -> list[Problem]:
        found = []
        for name, value in self.weights.items():
            if name not in COMPONENTS:
                found.append(Problem("unknown_code", f"weight {name!r} is not a score "
                                     f"component ({', '.join(COMPONENTS)})",
                                     layer="weights", column=name))
            elif not np.isfinite(value) or value < 0:
                found.append(Problem("bad_value", f"weight {name!r} must be a number ≥ 0, "
                                     f"got {value!r}", layer="weights", column=name))
        for name in ("max_slope_deg", "max_settlement_distance_m", "max_road_distance_m"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                found.append(Problem("bad_value", f"{name} must be > 0, got {value!r}",
                                     layer="weights", column=name))
        for cls_name, value in self.hazard_penalty.items():
            if cls_name not in _HAZARD_RANK or not 0.0 <= value <= 1.0:
                found.append(Problem("bad_value", f"hazard_penalty[{cls_name!r}] must be a "
                                     f"number 0–1 for a hazard class (low, medium, high), got "
                                     f"{value!r}", layer="weights", column="hazard_penalty"))
        return found


@dataclass(frozen=True)
class AllocationResult:
    """What :func:`allocate` placed, and what it could not.

    Attributes
    ----------
    chosen
        One row per allocated parcel: ``cadastral_no, use, settlement, developable_ha,
        score``, one ``c_<component>`` column per :data:`COMPONENTS`, ``hazard_class``,
        ``needs_category_change, current_category, target_category, current_use,
        verdict, rank`` (order of choice within its use and settlement) and geometry.
    unmet
        ``use, settlement, demand_ha, allocated_ha, short_ha`` where capacity ran out.
    demand
        ``use, settlement, demand_ha, allocated_ha`` for every demand allocated.
    scenario, year
        The forecast allocated.
    weights
        The weights used (for the report).
    """

    chosen: gpd.GeoDataFrame
    unmet: pd.DataFrame
    demand: pd.DataFrame
    scenario: str
    year: int
    weights: SuitabilityWeights
    justification: pd.DataFrame

    def draft_requests(self) -> pd.DataFrame:
        """Draft land-transformation requests for chosen parcels that must change category.

        One row per parcel: ``cadastral_no, settlement, current_category,
        target_category, current_use, target_use, area_ha, justification_ky,
        justification_ru, justification_en`` — the justification names the demand
        drivers behind the allocation ("population growth: 420 dwellings by 2029").
        """
        sel = self.chosen.loc[self.chosen["needs_category_change"].to_numpy(dtype=bool)]
        out = pd.DataFrame({
            "cadastral_no": sel["cadastral_no"].to_numpy(dtype=object),
            "settlement": sel["settlement"].to_numpy(dtype=object),
            "current_category": sel["current_category"].to_numpy(dtype=object),
            "target_category": sel["target_category"].to_numpy(dtype=object),
            "current_use": sel["current_use"].to_numpy(dtype=object),
            "target_use": sel["use"].to_numpy(dtype=object),
            "area_ha": sel["developable_ha"].to_numpy(dtype=float),
        })
        out = out.merge(self.justification, left_on=["settlement", "target_use"],
                        right_on=["settlement", "use"], how="left").drop(columns="use")
        return out


def _lines_of(frame: pd.DataFrame, lang: str, year: int) -> pd.Series:
    """One justification phrase per demand row, in ``lang``."""
    driver = frame["driver"].astype(str) if "driver" in frame else pd.Series(
        "population", index=frame.index)
    parts = driver.str.partition(":")
    base, name = parts[0], parts[2]
    label = base.map({k: v[lang] for k, v in _DRIVER_LABELS.items()}).fillna(base)
    label = label.where(name == "", label + " " + name)
    unit = frame["unit"].astype(str) if "unit" in frame else pd.Series("", index=frame.index)
    unit = unit.map({k: v[lang] for k, v in _UNIT_LABELS.items()}).fillna(unit)
    qty = frame["quantity"] if "quantity" in frame else pd.Series(np.nan, index=frame.index)
    qty_text = qty.round(0).astype("Int64").astype(str)
    has_qty = qty.notna() & (qty > 0)
    by = _BY[lang].format(year=year)
    return label.where(~has_qty, label + ": " + qty_text + " " + unit) + " " + by


def _justifications(rows: pd.DataFrame, scenario: str, year: int) -> pd.DataFrame:
    """Per settlement and use, the drivers of the demand as text in every language."""
    rows = rows.loc[rows["hectares"] > 0]
    total = rows.groupby(["settlement", "use"], sort=True)["hectares"].sum()
    out = pd.DataFrame(index=total.index)
    for lang in LANGS:
        lines = _lines_of(rows, lang, year)
        joined = lines.groupby([rows["settlement"], rows["use"]], sort=True).agg("; ".join)
        head, tail = _DEMAND[lang].split("{ha}")
        tail = tail.replace("{scenario}", scenario)
        hectares = pd.Series(np.char.mod("%.2f", total.to_numpy(dtype=float)), index=total.index)
        out[f"justification_{lang}"] = joined + " — " + head + hectares + tail
    return out.reset_index()


def _distance_to_own(
    geoms: np.ndarray, names: np.ndarray, settlements: gpd.GeoDataFrame
) -> np.ndarray:
    """Distance of each parcel to its own settlement polygon (NaN where unknown)."""
    lookup = pd.Series(np.arange(len(settlements)), index=settlements["name"].to_numpy())
    lookup = lookup[~lookup.index.duplicated()]
    pos = lookup.reindex(names).to_numpy()
    known = ~np.isnan(pos)
    out = np.full(len(geoms), np.nan)
    targets = settlements.geometry.to_numpy()[pos[known].astype(np.int64)]
    out[known] = shapely.distance(geoms[known], targets)
    return out


def _nearest_distance(geoms: np.ndarray, layer: gpd.GeoDataFrame) -> np.ndarray:
    if not len(layer) or not len(geoms):
        return np.full(len(geoms), np.nan)
    tree = shapely.STRtree(layer.geometry.to_numpy())
    (left, _right), dist = tree.query_nearest(geoms, return_distance=True, all_matches=False)
    out = np.full(len(geoms), np.nan)
    out[left] = dist
    return out


def _worst_hazard(geoms: np.ndarray, hazards: gpd.GeoDataFrame) -> np.ndarray:
    """Rank (0 none … 3 high) of the worst hazard class each parcel overlaps by area."""
    out = np.zeros(len(geoms), dtype=np.int8)
    if not len(hazards) or not len(geoms):
        return out
    left, right = hazards.sindex.query(geoms, predicate="intersects")
    hz = hazards.geometry.to_numpy()
    overlap = shapely.area(shapely.intersection(geoms[left], hz[right])) > 0
    rank = hazards["hazard_class"].map(_HAZARD_RANK).fillna(0).to_numpy(dtype=np.int8)
    np.maximum.at(out, left[overlap], rank[right[overlap]])
    return out


def _check_frame_crs(frame: gpd.GeoDataFrame, crs: object, layer: str) -> list[Problem]:
    if frame.crs is None or frame.crs != crs:
        return [Problem("crs_mismatch", f"{layer} is in {frame.crs}, the parcels in {crs}; "
                        f"reproject it first", layer=layer)]
    return []


def _score(
    pool: gpd.GeoDataFrame, parcels: gpd.GeoDataFrame, w: SuitabilityWeights, *,
    settlements: gpd.GeoDataFrame | None, roads: gpd.GeoDataFrame | None,
    hazard_zones: gpd.GeoDataFrame | None, slope: pd.Series | pd.DataFrame | None,
) -> pd.DataFrame:
    """Components and score of every pool row (vectorised, one pass per layer).

    The geometric components belong to the parcel, not the use: they are measured once
    per distinct parcel and spread to its rows (a parcel is a candidate for every use).
    """
    codes = pd.factorize(pool["parcel"])[0]
    _, first = np.unique(codes, return_index=True)
    geoms = pool.geometry.to_numpy()[first]
    home = pool["settlement"].to_numpy(dtype=object)[first]
    labels = pool["parcel"].to_numpy(dtype=object)
    attrs = parcels.reindex(labels)
    comp: dict[str, np.ndarray | None] = dict.fromkeys(COMPONENTS)
    slope_values: np.ndarray | None = None
    if slope is not None:
        series = slope["mean"] if isinstance(slope, pd.DataFrame) else slope
        slope_values = series.reindex(labels).to_numpy(dtype=float)
    elif "slope_deg" in parcels:
        slope_values = attrs["slope_deg"].to_numpy(dtype=float)
    if slope_values is not None:
        c = 1.0 - np.clip(slope_values / w.max_slope_deg, 0.0, 1.0)
        comp["slope"] = np.where(np.isnan(c), 0.5, c)
    if settlements is not None:
        d = _distance_to_own(geoms, home, settlements)[codes]
        c = 1.0 - np.clip(d / w.max_settlement_distance_m, 0.0, 1.0)
        comp["settlement_distance"] = np.where(np.isnan(c), 0.0, c)
    if roads is not None:
        d = _nearest_distance(geoms, roads)[codes]
        c = 1.0 - np.clip(d / w.max_road_distance_m, 0.0, 1.0)
        comp["road_distance"] = np.where(np.isnan(c), 0.0, c)
    hazard_rank = np.zeros(len(pool), dtype=np.int8)
    if hazard_zones is not None:
        hazard_rank = _worst_hazard(geoms, hazard_zones)[codes]
        penalty = np.array([0.0] + [float(w.hazard_penalty.get(k, 0.0))
                                    for k in ("low", "medium", "high")])
        comp["hazard"] = 1.0 - penalty[hazard_rank]
    if "ag_subtype" in parcels:
        comp["irrigated"] = np.where(
            (attrs["ag_subtype"] == "arable_irrigated").fillna(False).to_numpy(dtype=bool),
            0.0, 1.0)
    comp["category_change"] = np.where(pool["needs_category_change"].to_numpy(dtype=bool),
                                       0.0, 1.0)
    out = pd.DataFrame(index=pool.index)
    total = np.zeros(len(pool))
    weight_sum = 0.0
    for name in COMPONENTS:
        values = comp[name]
        out[f"c_{name}"] = values if values is not None else np.nan
        weight = float(w.weights.get(name, 0.0))
        if values is not None and weight > 0:
            total += weight * values
            weight_sum += weight
    out["score"] = total / weight_sum if weight_sum > 0 else 0.0
    names = np.array([None, "low", "medium", "high"], dtype=object)
    out["hazard_class"] = names[hazard_rank]
    out["excluded"] = np.isin(out["hazard_class"].to_numpy(dtype=object),
                              np.array(w.exclude_hazard, dtype=object))
    out["current_use"] = (attrs["designated_use"].to_numpy(dtype=object)
                          if "designated_use" in parcels else None)
    return out


def _greedy(pool: pd.DataFrame, need: pd.Series) -> np.ndarray:
    """Rows of ``pool`` taken: best first per settlement until the demand is met.

    ``pool`` is sorted by settlement, then score descending, then cadastral number. A row
    is taken while the area taken *before* it is still short of the demand, so the last
    parcel may overshoot, and no more than one.
    """
    if not len(pool):
        return np.zeros(0, dtype=bool)
    settlement = pool["settlement"].to_numpy(dtype=object)
    area = pool["developable_ha"].to_numpy(dtype=float)
    starts = np.flatnonzero(np.r_[True, settlement[1:] != settlement[:-1]])
    cum = np.cumsum(area)
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(pool)]))
    before_group = np.where(group_start > 0, cum[group_start - 1], 0.0)
    before = cum - area - before_group  # area of this settlement's better parcels
    demand = need.reindex(settlement).fillna(0.0).to_numpy(dtype=float)
    return before < demand


def allocate(
    demand: DemandTable | pd.DataFrame,
    capacity: CapacityResult,
    parcels: gpd.GeoDataFrame,
    *,
    scenario: str = "medium",
    year: int | None = None,
    weights: SuitabilityWeights | Mapping[str, float] | None = None,
    settlements: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
    hazard_zones: gpd.GeoDataFrame | None = None,
    slope: pd.Series | pd.DataFrame | None = None,
    use_order: Sequence[str] | None = None,
) -> AllocationResult:
    """Place each use's demand, settlement by settlement, on the best candidate parcels.

    Candidates are the rows of ``capacity.parcels`` with developable land for the use
    in the demand's settlement — so land prohibited for a use is never allocated, only
    a parcel's remainder counts, and a parcel with no developable land is never chosen.
    They are ranked by :class:`SuitabilityWeights` (ties broken by cadastral number, so
    the result is deterministic) and taken in order until the cumulative developable
    area reaches the demand: the last parcel may overshoot, never more than one.

    Uses are served in ``use_order``; a parcel taken by one use is not offered to the
    next. Because scoring and order are the same for every scenario, the parcels of a
    larger forecast include those of a smaller one wherever capacity allows.

    Parameters
    ----------
    demand
        :class:`~spatial.demand.table.DemandTable` or its frame (cumulative hectares).
    capacity
        From :func:`~spatial.demand.capacity.land_capacity`.
    parcels
        The workspace parcels capacity was measured on (index labels as there): gives
        ``ag_subtype``, ``designated_use`` and an optional ``slope_deg`` column.
    scenario, year
        The forecast to allocate; ``year`` defaults to the last year (the horizon).
    weights
        :class:`SuitabilityWeights`, or a mapping of component weights.
    settlements, roads, hazard_zones
        Layers for the distance and hazard components (skipped when absent).
    slope
        Slope in degrees indexed like ``parcels``, or the frame
        :func:`~spatial.hazards.zonal.zonal_stats` returns for a slope grid (its
        ``mean`` is used), instead of a ``slope_deg`` column.
    use_order
        Which use is served first where they compete; default the order of
        ``capacity.uses``.

    Raises
    ------
    ValidationError
        Bad weights, a scenario or year absent from the demand, layers in another CRS.
    """
    w = (weights if isinstance(weights, SuitabilityWeights)
         else SuitabilityWeights(weights={**DEFAULT_WEIGHTS, **dict(weights)}) if weights
         else SuitabilityWeights())
    problems = w.problems()
    frame = _demand_frame(demand)
    rows = frame.loc[frame["scenario"] == scenario]
    if not len(rows):
        problems.append(Problem("unknown_scenario", f"scenario {scenario!r} is not in the demand "
                                f"(has {sorted(frame['scenario'].unique())})", layer="demand",
                                column="scenario"))
    elif year is None:
        year = int(rows["year"].max())
    elif year not in set(rows["year"].astype(int)):
        problems.append(Problem("unknown_year", f"year {year} is not in the demand for scenario "
                                f"{scenario!r}", layer="demand", column="year"))
    for name, layer in (("settlements", settlements), ("roads", roads),
                        ("hazard_zones", hazard_zones)):
        if layer is not None:
            problems += _check_frame_crs(layer, capacity.parcels.crs, name)
    if problems:
        raise ValidationError(problems)
    assert year is not None
    rows = rows.loc[rows["year"].astype(int) == year]
    need = rows.groupby(["use", "settlement"], sort=True)["hectares"].sum()
    need = need[need > 0]

    pool = capacity.parcels
    pool = pool.loc[(pool["developable_ha"].to_numpy(dtype=float) > 0)
                    & pool["use"].isin(need.index.get_level_values("use")).to_numpy()]
    scored = _score(pool, parcels, w, settlements=settlements, roads=roads,
                    hazard_zones=hazard_zones, slope=slope)
    pool = pd.concat([pool, scored], axis=1)
    pool = pool.loc[~pool["excluded"].to_numpy(dtype=bool)]
    order = list(use_order) if use_order is not None else list(capacity.uses)
    order += [u for u in need.index.get_level_values("use").unique() if u not in order]

    taken: set[object] = set()
    chosen_parts = []
    for use in order:
        if use not in need.index.get_level_values("use"):
            continue
        sub = pool.loc[(pool["use"] == use).to_numpy()
                       & ~pool["parcel"].isin(list(taken)).to_numpy()]
        sub = sub.sort_values(["settlement", "score", "cadastral_no"],
                              ascending=[True, False, True], kind="stable")
        take = _greedy(sub, need.xs(use, level="use"))
        got = sub.loc[take].copy()
        got["rank"] = got.groupby("settlement", sort=False).cumcount() + 1
        chosen_parts.append(got)
        taken.update(got["parcel"].tolist())
    cols = ["parcel", "cadastral_no", "use", "settlement", "developable_ha", "score",
            *[f"c_{c}" for c in COMPONENTS], "hazard_class", "needs_category_change",
            "current_category", "target_category", "current_use", "verdict", "rank"]
    geom = pool.geometry.name
    if chosen_parts:
        chosen = pd.concat(chosen_parts)[[*cols, geom]]
    else:
        chosen = pool.iloc[:0].assign(rank=pd.Series(dtype=np.int64))[[*cols, geom]]
    chosen = gpd.GeoDataFrame(chosen.reset_index(drop=True), geometry=geom,
                              crs=capacity.parcels.crs)

    allocated = chosen.groupby(["use", "settlement"], sort=True)["developable_ha"].sum()
    balance = need.rename("demand_ha").to_frame()
    balance["allocated_ha"] = allocated.reindex(balance.index).fillna(0.0)
    balance = balance.reset_index()
    short = balance["demand_ha"] - balance["allocated_ha"]
    unmet = balance.loc[short > 1e-9].assign(short_ha=short[short > 1e-9]).reset_index(drop=True)
    return AllocationResult(
        chosen=chosen, unmet=unmet, demand=balance, scenario=scenario, year=year, weights=w,
        justification=_justifications(rows, scenario, year),
    )
