"""The SEDP "Space" section (Мейкиндик) assembled from one workspace in one pass.

The national calendar gives the working group five days for the Space and Environment
sections, so the section has to come out of the tool whole: land balance, used/unused
land, legal zoning, restrictions, hazard exposure and relocation, land demand against
capacity, the allocation of that demand to parcels and the transformations it implies.
:func:`space_section` runs every one of those computations on the same layers and keeps
the results in one :class:`SpaceSection`, so the HTML, the XLSX, the CLI and the API show
numbers from the same computation — a report whose tables disagree with the screen would
be the first thing challenged at the public hearing.

The function is pure: it takes frames (read with ``include_personal=False``), a rulebook
and a population series, and returns frames keyed by codes. Labels and layout belong to
``web.reports``. Personal columns are dropped again here, defensively, from every frame
that reaches the section, so a caller passing the full parcels layer cannot leak right
holders' names into a public report.

The capacity and allocation steps (:mod:`spatial.demand.capacity`,
:mod:`spatial.demand.allocation`) are optional: when their modules are not installed the
section records them in :attr:`SpaceSection.not_computed` instead of failing, and the
report says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .balance import LandBalance, land_balance
from .errors import InputError, Problem, ValidationError
from .schema import Lang, layer_schema

__all__ = [
    "ALLOCATION_COLUMNS",
    "RESTRICTION_GROUPS",
    "LandPlan",
    "SpaceSection",
    "plan_land",
    "public_frame",
    "space_section",
]

#: Restriction groups in report order.
RESTRICTION_GROUPS: tuple[str, ...] = (
    "protected", "water", "forest_fund", "hazard", "other",
)

#: Code list (schema) of the ``type`` and ``class`` columns of each restriction group;
#: ``None`` where the codes are the report's own (water zone kinds, forest fund).
RESTRICTION_CODELISTS: dict[str, tuple[str | None, str | None]] = {
    "protected": ("protected_area_type", "protected_subzone"),
    "water": (None, None),
    "forest_fund": (None, None),
    "hazard": ("hazard_type", "hazard_class"),
    "other": ("restriction_type", None),
}

#: Columns of the allocation list, in order (the scoring components stay in the API).
ALLOCATION_COLUMNS: tuple[str, ...] = (
    "settlement", "use", "rank", "cadastral_no", "developable_ha", "score", "verdict",
    "hazard_class", "current_category", "target_category", "needs_category_change",
    "current_use",
)

FrameT = TypeVar("FrameT", bound=pd.DataFrame)

# Layers whose personal columns must never reach a section.
_PERSONAL_LAYERS = ("parcels",)

GEBCO_MARKERS = ("gebco",)


def public_frame(frame: FrameT, layer: str = "parcels") -> FrameT:
    """``frame`` without the personal columns of ``layer`` (right holders).

    Called on every frame derived from parcels, because a caller may hand the section a
    layer read with personal columns and a public report must not depend on that caller.
    """
    personal = set(layer_schema(layer).personal_columns)
    drop = [c for c in frame.columns if c in personal]
    return frame.drop(columns=drop) if drop else frame  # type: ignore[return-value]


@dataclass(frozen=True)
class SpaceSection:
    """Every table and map layer of the Space section, keyed by codes.

    Attributes
    ----------
    municipality
        ``name_ky``, ``name_ru``, ``name_en``, ``kind``, ``oblast``, ``district`` of the
        municipality (whatever the layer has).
    official_area_ha
        The official area all shares are taken of (28 950 ha for the Isfana demo).
    balance
        The land balance (:func:`spatial.balance.land_balance`); its ``settlements``
        table carries households and population.
    used_unused
        ``code`` (land category or ``total``), ``used_ha``, ``unused_ha``, ``total_ha``,
        ``used_pct`` and ``ratio`` (used / unused, NaN where nothing is unused).
    zoning
        ``zone_type, zones, area_ha, share_pct, kind`` (``zone_type`` / ``unzoned`` /
        ``total``): area by legal zone type, clipped to the municipality.
    restrictions
        ``group, type, class, area_ha, share_pct, kind`` (``item``, ``group_total``,
        ``total``); group totals and the total are unions, so overlaps count once.
    compliance
        Current use against zoning and restrictions: ``verdict, parcels, area_ha``.
    exposure
        :class:`~spatial.hazards.ExposureSummary` (people, households, parcels by hazard
        type and class), or ``None`` without hazard zones.
    relocation
        ``settlement, hazard_class, parcels, area_ha, households_exposed,
        population_exposed`` — counts only, no parcel list, no names.
    relocation_parcels
        Total number of housing parcels in the relocation classes.
    demand
        ``settlement, use, year, hectares`` for :attr:`scenario` (cumulative additional
        land from the base year), or ``None`` without a population series.
    demand_total
        ``use, year, hectares``: the same summed over settlements.
    capacity, demand_balance, allocation, unmet, draft_requests
        Frames from :mod:`spatial.demand.capacity` and :mod:`spatial.demand.allocation`
        (``None`` when not computed; see :attr:`not_computed`).
    maps
        GeoDataFrames for the maps (``categories``, ``zoning``, ``restrictions``,
        ``hazards``, ``allocation``), in the workspace CRS, without personal columns.
    not_computed
        Section key → reason, for each part that could not be computed.
    illustrative
        The workspace's "illustrative data" statement, or ``None`` for real data.
    sources
        ``key, text`` rows: rulebook, layer sources, GEBCO credit where it applies.
    """

    municipality: Mapping[str, Any]
    official_area_ha: float
    balance: LandBalance
    used_unused: pd.DataFrame
    zoning: pd.DataFrame
    restrictions: pd.DataFrame
    compliance: pd.DataFrame
    exposure: Any
    relocation: pd.DataFrame
    relocation_parcels: int
    demand: pd.DataFrame | None
    demand_total: pd.DataFrame | None
    capacity: pd.DataFrame | None
    demand_balance: pd.DataFrame | None
    allocation: pd.DataFrame | None
    unmet: pd.DataFrame | None
    draft_requests: pd.DataFrame | None
    maps: Mapping[str, gpd.GeoDataFrame]
    not_computed: Mapping[str, str]
    illustrative: str | None
    sources: pd.DataFrame
    horizon: int
    scenario: str
    base_year: int | None
    lang: Lang
    rulebook: Any = field(repr=False, default=None)

    @property
    def population(self) -> int:
        """Population in the land balance's settlement table (the municipal total)."""
        table = self.balance.settlements
        total = table.loc[table["kind"] == "inventory_total", "population"]
        return int(total.iloc[0]) if len(total) and pd.notna(total.iloc[0]) else 0

    @property
    def households(self) -> int:
        """Households in the land balance's settlement table."""
        table = self.balance.settlements
        total = table.loc[table["kind"] == "inventory_total", "households"]
        return int(total.iloc[0]) if len(total) and pd.notna(total.iloc[0]) else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every table (codes, not labels; no geometry)."""
        out: dict[str, Any] = {
            "municipality": dict(self.municipality),
            "official_area_ha": self.official_area_ha,
            "population": self.population,
            "households": self.households,
            "horizon": self.horizon,
            "scenario": self.scenario,
            "base_year": self.base_year,
            "illustrative": self.illustrative,
            "not_computed": dict(self.not_computed),
            "relocation_parcels": self.relocation_parcels,
        }
        for key in ("used_unused", "zoning", "restrictions", "compliance", "relocation",
                    "demand", "demand_total", "capacity", "demand_balance", "allocation",
                    "unmet", "draft_requests", "sources"):
            frame = getattr(self, key)
            out[key] = None if frame is None else records(frame)
        out["exposure"] = None if self.exposure is None else self.exposure.to_dict()
        return out


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with NaN/NA as ``None`` and numpy scalars as Python numbers."""
    plain = pd.DataFrame(frame).drop(columns="geometry", errors="ignore")
    rows: list[dict[str, Any]] = json.loads(
        plain.to_json(orient="records", date_format="iso", force_ascii=False))
    return rows


# --------------------------------------------------------------------------- helpers


def _layer(layers: Mapping[str, gpd.GeoDataFrame], name: str) -> gpd.GeoDataFrame | None:
    frame = layers.get(name)
    if frame is None or len(frame) == 0:
        return None
    return frame


def _clipped_area_ha(geoms: np.ndarray, boundary: Any) -> np.ndarray:
    if boundary is None:
        return np.asarray(shapely.area(geoms), dtype=float) / 10_000.0
    return np.asarray(shapely.area(shapely.intersection(geoms, boundary)), dtype=float) / 10_000.0


def _dissolved(frame: gpd.GeoDataFrame, by: list[str]) -> gpd.GeoDataFrame:
    """One (multi)polygon per group: overlaps inside a group count once."""
    keyed = frame[[*by, "geometry"]].copy()
    for column in by:
        keyed[column] = keyed[column].astype(object).where(keyed[column].notna(), "")
    return keyed.dissolve(by=by, as_index=False)


def _used_unused(balance: LandBalance) -> pd.DataFrame:
    use = balance.use
    rows = use[use["kind"].isin(["category", "inventory_total"])]
    out = pd.DataFrame({
        "code": np.where(rows["kind"] == "inventory_total", "total", rows["code"]),
        "used_ha": rows["used_ha"].to_numpy(dtype=float),
        "unused_ha": rows["unused_ha"].to_numpy(dtype=float),
    })
    out["total_ha"] = out["used_ha"] + out["unused_ha"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["used_pct"] = np.where(out["total_ha"] > 0, out["used_ha"] / out["total_ha"] * 100,
                                   np.nan)
        out["ratio"] = np.where(out["unused_ha"] > 0, out["used_ha"] / out["unused_ha"], np.nan)
    return out.reset_index(drop=True)


def _zoning(zones: gpd.GeoDataFrame | None, boundary: Any, official: float,
            order: tuple[str, ...]) -> pd.DataFrame:
    columns = ["zone_type", "zones", "area_ha", "share_pct", "kind"]
    if zones is None:
        return pd.DataFrame(columns=columns)
    counts = zones.groupby("zone_type").size()
    dissolved = _dissolved(zones, ["zone_type"])
    area = pd.Series(_clipped_area_ha(dissolved.geometry.to_numpy(), boundary),
                     index=dissolved["zone_type"].to_numpy())
    present = [c for c in order if c in area.index] + sorted(set(area.index) - set(order))
    out = pd.DataFrame({
        "zone_type": present,
        "zones": counts.reindex(present).fillna(0).astype(int).to_numpy(),
        "area_ha": area.reindex(present).to_numpy(dtype=float),
        "kind": "zone_type",
    })
    zoned = float(_clipped_area_ha(np.array([shapely.union_all(dissolved.geometry.to_numpy())]),
                                   boundary)[0])
    unzoned = max(official - zoned, 0.0)
    tail = pd.DataFrame({
        "zone_type": ["unzoned", "total"],
        "zones": [0, int(counts.sum())],
        "area_ha": [unzoned, zoned + unzoned],
        "kind": ["unzoned", "total"],
    })
    out = pd.concat([out, tail], ignore_index=True)
    out["share_pct"] = out["area_ha"] / official * 100.0 if official > 0 else np.nan
    return out[columns]


def _restriction_parts(layers: Mapping[str, gpd.GeoDataFrame],
                       water_zones: gpd.GeoDataFrame | None) -> list[gpd.GeoDataFrame]:
    """Each restriction layer renamed to ``group, type, class, geometry``."""
    specs: list[tuple[str, gpd.GeoDataFrame | None, str | None, str | None]] = [
        ("protected", _layer(layers, "protected_areas"), "pa_type", "subzone"),
        ("water", water_zones, "zone_kind", None),
        ("forest_fund", _layer(layers, "forest_fund"), None, None),
        ("hazard", _layer(layers, "hazard_zones"), "hazard_type", "hazard_class"),
        ("other", _layer(layers, "restrictions"), "restriction_type", None),
    ]
    parts = []
    for group, frame, type_col, class_col in specs:
        if frame is None or len(frame) == 0:
            continue
        n = len(frame)
        parts.append(gpd.GeoDataFrame({
            "group": np.full(n, group, dtype=object),
            "type": (frame[type_col].astype(object).to_numpy() if type_col and type_col in frame
                     else np.full(n, group, dtype=object)),
            "class": (frame[class_col].astype(object).to_numpy()
                      if class_col and class_col in frame else np.full(n, "", dtype=object)),
        }, geometry=frame.geometry.to_numpy(), crs=frame.crs))
    return parts


def _restrictions(parts: list[gpd.GeoDataFrame], boundary: Any,
                  official: float) -> tuple[pd.DataFrame, gpd.GeoDataFrame | None]:
    columns = ["group", "type", "class", "area_ha", "share_pct", "kind"]
    if not parts:
        return pd.DataFrame(columns=columns), None
    allparts = pd.concat(parts, ignore_index=True)
    allparts = gpd.GeoDataFrame(allparts, geometry="geometry", crs=parts[0].crs)
    items = _dissolved(allparts, ["group", "type", "class"])
    items["area_ha"] = _clipped_area_ha(items.geometry.to_numpy(), boundary)
    items["kind"] = "item"
    groups = _dissolved(allparts, ["group"])
    groups["type"] = ""
    groups["class"] = ""
    groups["area_ha"] = _clipped_area_ha(groups.geometry.to_numpy(), boundary)
    groups["kind"] = "group_total"
    total_geom = shapely.union_all(groups.geometry.to_numpy())
    total = pd.DataFrame({
        "group": ["total"], "type": [""], "class": [""],
        "area_ha": _clipped_area_ha(np.array([total_geom]), boundary), "kind": ["total"],
    })
    rank = {g: i for i, g in enumerate(RESTRICTION_GROUPS)}
    body = pd.concat([pd.DataFrame(items.drop(columns="geometry")),
                      pd.DataFrame(groups.drop(columns="geometry"))], ignore_index=True)
    body["_g"] = body["group"].map(rank)
    body["_k"] = (body["kind"] == "group_total").astype(int)
    body = body.sort_values(["_g", "_k", "type", "class"], kind="stable")
    out = pd.concat([body.drop(columns=["_g", "_k"]), total], ignore_index=True)
    out["share_pct"] = out["area_ha"] / official * 100.0 if official > 0 else np.nan
    return out[columns].reset_index(drop=True), items


def _compliance(parcels: gpd.GeoDataFrame, lay: Any, rulebook: Any, n_jobs: int
                ) -> tuple[pd.DataFrame, Any]:
    """The compliance table, and the overlaps it measured (capacity reuses them)."""
    from .zoning import check_parcels

    result = check_parcels(parcels, None, lay, rulebook, n_jobs=n_jobs)
    measured = result.evaluation.measured() if result.evaluation is not None else None
    table = result.table
    area = table["area_m2"].astype(float) / 10_000.0
    grouped = pd.DataFrame({"verdict": table["verdict"], "area_ha": area}).groupby(
        "verdict", sort=False)
    out = pd.DataFrame({"parcels": grouped.size(), "area_ha": grouped["area_ha"].sum()})
    order = ["allowed", "conditional", "prohibited"]
    present = [v for v in order if v in out.index] + sorted(set(out.index) - set(order))
    out = out.reindex(present).reset_index().rename(columns={"index": "verdict"})
    total = pd.DataFrame({"verdict": ["total"], "parcels": [int(out["parcels"].sum())],
                          "area_ha": [float(out["area_ha"].sum())]})
    return pd.concat([out, total], ignore_index=True), measured


def _relocation(relocation: Any) -> tuple[pd.DataFrame, int]:
    columns = ["settlement", "hazard_class", "parcels", "area_ha", "households_exposed",
               "population_exposed"]
    parcels = pd.DataFrame(relocation.parcels.drop(columns="geometry"))
    settlements = pd.DataFrame(relocation.settlements.drop(columns="geometry"))
    if len(parcels):
        by = parcels.assign(settlement=parcels["settlement"].fillna("")).groupby(
            ["settlement", "worst_class"], sort=True)
        counts = pd.DataFrame({"parcels": by.size(), "area_ha": by["area_ha"].sum()}).reset_index()
        counts = counts.rename(columns={"worst_class": "hazard_class"})
    else:
        counts = pd.DataFrame(columns=["settlement", "hazard_class", "parcels", "area_ha"])
    if len(settlements):
        people = settlements[["settlement", "worst_class", "households_exposed",
                              "population_exposed"]].rename(columns={"worst_class": "hazard_class"})
        out = counts.merge(people, on=["settlement", "hazard_class"], how="outer")
    else:
        out = counts.assign(households_exposed=np.nan, population_exposed=np.nan)
    out["parcels"] = out["parcels"].fillna(0).astype(int)
    out["area_ha"] = out["area_ha"].astype(float).fillna(0.0)
    return out[columns].reset_index(drop=True), len(parcels)


def _as_frame(value: Any) -> pd.DataFrame:
    """A result of the capacity/allocation modules as a plain frame (no geometry)."""
    if isinstance(value, pd.DataFrame):
        frame = value
    elif isinstance(value, Mapping):
        frame = pd.DataFrame(value)
    else:
        items = list(value)
        frame = pd.DataFrame([i.to_dict() if hasattr(i, "to_dict") else i for i in items])
    return public_frame(pd.DataFrame(frame).drop(columns="geometry", errors="ignore"))


def _simplified(frame: gpd.GeoDataFrame, tolerance: float) -> gpd.GeoDataFrame:
    out = frame.copy()
    out["geometry"] = shapely.simplify(out.geometry.to_numpy(), tolerance, preserve_topology=True)
    return out[~out.geometry.is_empty]


def _sources(rulebook: Any, layer_metadata: Mapping[str, Mapping[str, str]],
             hazard_zones: gpd.GeoDataFrame | None) -> pd.DataFrame:
    rows: list[tuple[str, str]] = []
    version = getattr(rulebook, "version", "")
    muni = getattr(rulebook, "municipality", "")
    path = getattr(rulebook, "path", None)
    rows.append(("rulebook", f"{muni} {version}".strip() + (f" ({path.name})" if path else "")))
    for layer, meta in layer_metadata.items():
        if meta.get("source"):
            rows.append((f"layer:{layer}", str(meta["source"])))
    texts = [str(m.get("source", "")) for m in layer_metadata.values()]
    if hazard_zones is not None and "source" in hazard_zones:
        texts += [str(s) for s in hazard_zones["source"].dropna().unique()]
    if any(marker in t.lower() for t in texts for marker in GEBCO_MARKERS):
        from .hazards import GEBCO_CREDIT

        rows.append(("gebco", GEBCO_CREDIT))
    return pd.DataFrame(rows, columns=["key", "text"])


def _illustrative(metadata: Mapping[str, str],
                  layer_metadata: Mapping[str, Mapping[str, str]]) -> str | None:
    statement = metadata.get("illustrative")
    if statement and str(statement).lower() not in ("false", "0", "no"):
        return str(statement)
    flagged = sorted(name for name, meta in layer_metadata.items()
                     if str(meta.get("illustrative", "")).lower() == "true")
    return ", ".join(flagged) if flagged else None


# --------------------------------------------------------------------------- assembly


@dataclass(frozen=True)
class LandPlan:
    """Demand, capacity, their balance and the allocation, for one scenario.

    The ``jer demand balance`` and ``jer allocate`` commands and the Space section all
    get these frames from :func:`plan_land`, so they cannot disagree.

    Attributes
    ----------
    projection, demand_table
        The population projection and the full demand table (every scenario), or
        ``None`` without a population series.
    demand, demand_total
        ``settlement, use, year, hectares`` and ``use, year, hectares`` for the scenario.
    capacity_result, capacity
        :class:`~spatial.demand.capacity.CapacityResult` and its tidy table.
    demand_balance
        :func:`~spatial.demand.capacity.demand_balance` for the scenario.
    allocation_result, allocation, unmet, draft_requests, chosen
        :func:`~spatial.demand.allocation.allocate`: the list (:data:`ALLOCATION_COLUMNS`),
        unmet demand, draft transformation requests and the chosen parcels with geometry.
    not_computed
        Part → reason for each step that could not run.
    """

    projection: Any = None
    demand_table: Any = None
    demand: pd.DataFrame | None = None
    demand_total: pd.DataFrame | None = None
    capacity_result: Any = None
    capacity: pd.DataFrame | None = None
    demand_balance: pd.DataFrame | None = None
    allocation_result: Any = None
    allocation: pd.DataFrame | None = None
    unmet: pd.DataFrame | None = None
    draft_requests: pd.DataFrame | None = None
    chosen: gpd.GeoDataFrame | None = None
    base_year: int | None = None
    not_computed: Mapping[str, str] = field(default_factory=dict)


def plan_land(
    parcels: gpd.GeoDataFrame,
    layers: Any,
    *,
    rulebook: Any,
    population: pd.DataFrame | None,
    settlements: gpd.GeoDataFrame | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    hazard_zones: gpd.GeoDataFrame | None = None,
    horizon: int = 5,
    scenario: str = "medium",
    method: str = "official",
    n_jobs: int = 1,
    steps: tuple[str, ...] = ("capacity", "allocation"),
    measured: Any = None,
) -> LandPlan:
    """Project population, forecast demand, measure capacity and allocate, in one chain.

    ``layers`` is the workspace's :class:`~spatial.zoning.ConstraintLayers`.
    ``settlements`` give household sizes and ``facilities`` the existing school,
    kindergarten and clinic places: without them every place would count as lacking
    and the social land demand would be overstated several times. The
    capacity and allocation steps run when their modules are installed and they are in
    ``steps``; otherwise they are listed in :attr:`LandPlan.not_computed`.
    ``measured`` is :func:`spatial.zoning.engine.measure` of ``parcels`` when the caller
    already made it (the overlaps capacity needs are then not measured again).
    """
    not_computed: dict[str, str] = {}
    if population is None:
        for key in ("demand", "capacity", "allocation"):
            not_computed[key] = "no population series"
        return LandPlan(not_computed=not_computed)
    from .demand import DemandNorms, land_demand, project_population

    parcels = public_frame(parcels)
    projection = project_population(population, method=method, horizon=horizon)
    table = land_demand(projection, norms=DemandNorms.from_mapping(rulebook.norms),
                        uses=tuple(rulebook.uses), settlements=settlements,
                        facilities=facilities)
    frame = table.frame[table.frame["scenario"] == scenario]
    demand = (frame.groupby(["settlement", "use", "year"], sort=True)["hectares"].sum()
              .reset_index())
    demand_total = demand.groupby(["use", "year"], sort=True)["hectares"].sum().reset_index()
    out: dict[str, Any] = {
        "projection": projection, "demand_table": table, "demand": demand,
        "demand_total": demand_total, "base_year": int(projection.base_year),
    }
    if "capacity" not in steps:
        return LandPlan(**out, not_computed=not_computed)
    try:
        from .demand.capacity import demand_balance, land_capacity
    except ImportError as exc:
        not_computed["capacity"] = f"spatial.demand.capacity is not available ({exc})"
        not_computed["allocation"] = "needs the capacity step"
        return LandPlan(**out, not_computed=not_computed)
    uses = tuple(sorted(set(table.frame["use"])))
    cap = land_capacity(parcels, layers, rulebook, uses=uses, n_jobs=n_jobs,
                        settlements=settlements, measured=measured)
    out.update(capacity_result=cap, capacity=_as_frame(cap.table),
               demand_balance=_as_frame(demand_balance(table, cap, scenario=scenario)))
    if "allocation" not in steps:
        return LandPlan(**out, not_computed=not_computed)
    try:
        from .demand.allocation import allocate
    except ImportError as exc:
        not_computed["allocation"] = f"spatial.demand.allocation is not available ({exc})"
        return LandPlan(**out, not_computed=not_computed)
    result = allocate(table, cap, parcels, scenario=scenario, settlements=settlements,
                      hazard_zones=hazard_zones)
    chosen = public_frame(result.chosen)
    out.update(
        allocation_result=result, chosen=chosen,
        allocation=_as_frame(chosen)[[c for c in ALLOCATION_COLUMNS if c in chosen.columns]],
        unmet=_as_frame(result.unmet), draft_requests=_as_frame(result.draft_requests()),
    )
    return LandPlan(**out, not_computed=not_computed)



def space_section(
    workspace_layers: Mapping[str, gpd.GeoDataFrame],
    *,
    rulebook: Any,
    population: pd.DataFrame | None,
    horizon: int = 5,
    scenario: str = "medium",
    lang: Lang = "ky",
    method: str = "official",
    metadata: Mapping[str, str] | None = None,
    layer_metadata: Mapping[str, Mapping[str, str]] | None = None,
    n_jobs: int = 1,
    map_tolerance_m: float = 15.0,
    map_max_features: int = 1500,
) -> SpaceSection:
    """Compute every table of the Space section from one workspace's layers.

    Parameters
    ----------
    workspace_layers
        Layer name → GeoDataFrame in the workspace CRS: ``municipality``,
        ``settlements``, ``parcels`` (read without personal columns), ``zones``,
        ``protected_areas``, ``water_bodies``, ``forest_fund``, ``hazard_zones``,
        ``restrictions``, ``facilities``. Missing optional layers give empty tables.
    rulebook
        The municipality's :class:`~spatial.zoning.Rulebook`: zoning, restriction
        regimes, water widths and the demand norms.
    population
        Population by settlement and year (:func:`spatial.demand.read_population_csv`);
        ``None`` leaves demand, capacity and allocation "not computed".
    horizon, scenario, method
        Forecast horizon in years, the scenario the report shows (``low``, ``medium``,
        ``high``) and the population method (``official`` or ``compound``).
    lang
        Default language of the report rendered from this section.
    metadata, layer_metadata
        Workspace and per-layer metadata: the "illustrative data" notice and sources.
    n_jobs
        Threads for the parcel checks.
    map_tolerance_m, map_max_features
        Map layers are simplified with this tolerance and capped at this many features
        so the report page stays light on a slow connection.

    Raises
    ------
    ValidationError
        Missing required layers (municipality, parcels), with every one named.
    """
    problems = [
        Problem("missing_layer", f"the Space section needs the {name!r} layer", layer=name)
        for name in ("municipality", "parcels") if _layer(workspace_layers, name) is None
    ]
    if problems:
        raise ValidationError(problems)
    if scenario not in ("low", "medium", "high"):
        raise InputError(f"unknown scenario {scenario!r}; choose low, medium or high")
    metadata = metadata or {}
    layer_metadata = layer_metadata or {}
    municipality = workspace_layers["municipality"]
    parcels = public_frame(workspace_layers["parcels"])
    settlements = _layer(workspace_layers, "settlements")
    facilities = _layer(workspace_layers, "facilities")
    hazard_zones = _layer(workspace_layers, "hazard_zones")
    boundary = shapely.union_all(municipality.geometry.to_numpy())
    official = float(pd.to_numeric(municipality["official_area_ha"], errors="coerce").sum())
    if not official > 0:
        official = float(shapely.area(boundary)) / 10_000.0
    not_computed: dict[str, str] = {}

    balance = land_balance(parcels, official_area_ha=official, settlements=settlements)

    from .zoning import ConstraintLayers

    constraint_frames = {
        name: workspace_layers[name]
        for name in ("zones", "protected_areas", "water_bodies", "forest_fund",
                     "hazard_zones", "restrictions")
        if _layer(workspace_layers, name) is not None
    }
    lay = ConstraintLayers.from_frames(rulebook=rulebook, crs=parcels.crs, **constraint_frames)
    water_zones = lay.water_zones if len(lay.water_zones) else None

    zone_order = tuple(rulebook.zone_types)
    zoning = _zoning(_layer(workspace_layers, "zones"), boundary, official, zone_order)
    restrictions, restriction_items = _restrictions(
        _restriction_parts(workspace_layers, water_zones), boundary, official)
    # The compliance check measures every parcel's overlaps with every constraint layer;
    # capacity looks up each use's rules on the same overlaps instead of measuring again.
    compliance, measured = _compliance(parcels, lay, rulebook, n_jobs)

    exposure = None
    relocation = pd.DataFrame(columns=["settlement", "hazard_class", "parcels", "area_ha",
                                       "households_exposed", "population_exposed"])
    relocation_parcels = 0
    if hazard_zones is not None:
        from .hazards import hazard_exposure, relocation_candidates

        exposure = hazard_exposure(hazard_zones, parcels=parcels, settlements=settlements,
                                   facilities=facilities)
        relocation, relocation_parcels = _relocation(
            relocation_candidates(hazard_zones, parcels=parcels, settlements=settlements))
    else:
        not_computed["exposure"] = "no hazard_zones layer"

    plan = plan_land(parcels, lay, rulebook=rulebook, population=population,
                     settlements=settlements, facilities=facilities,
                     hazard_zones=hazard_zones, horizon=horizon,
                     scenario=scenario, method=method, n_jobs=n_jobs, measured=measured)
    not_computed.update(plan.not_computed)
    chosen = plan.chosen

    maps: dict[str, gpd.GeoDataFrame] = {}
    categories = parcels[["land_category", "geometry"]].dissolve(by="land_category",
                                                                  as_index=False)
    maps["categories"] = _simplified(categories, map_tolerance_m)
    if "zones" in constraint_frames:
        maps["zoning"] = _simplified(
            _dissolved(constraint_frames["zones"], ["zone_type"]), map_tolerance_m)
    if restriction_items is not None:
        non_hazard = restriction_items[restriction_items["group"] != "hazard"]
        maps["restrictions"] = _simplified(
            gpd.GeoDataFrame(non_hazard.drop(columns=["area_ha", "kind"]), geometry="geometry",
                             crs=parcels.crs), map_tolerance_m)
        hazards = restriction_items[restriction_items["group"] == "hazard"]
        if len(hazards):
            maps["hazards"] = _simplified(
                gpd.GeoDataFrame(hazards.drop(columns=["area_ha", "kind"]), geometry="geometry",
                                 crs=parcels.crs), map_tolerance_m)
    if chosen is not None and len(chosen):
        # one feature per settlement and use: the list carries the parcels
        maps["allocation"] = _simplified(
            _dissolved(chosen.set_geometry(chosen.geometry.name), ["settlement", "use"]),
            map_tolerance_m)
    maps = {k: v.iloc[:map_max_features] for k, v in maps.items()}

    names = {c: municipality[c].iloc[0] for c in
             ("name_ky", "name_ru", "name_en", "kind", "oblast", "district")
             if c in municipality}
    return SpaceSection(
        municipality=names,
        official_area_ha=official,
        balance=balance,
        used_unused=_used_unused(balance),
        zoning=zoning,
        restrictions=restrictions,
        compliance=compliance,
        exposure=exposure,
        relocation=relocation,
        relocation_parcels=relocation_parcels,
        demand=plan.demand,
        demand_total=plan.demand_total,
        capacity=plan.capacity,
        demand_balance=plan.demand_balance,
        allocation=plan.allocation,
        unmet=plan.unmet,
        draft_requests=plan.draft_requests,
        maps=maps,
        not_computed=not_computed,
        illustrative=_illustrative(metadata, layer_metadata),
        sources=_sources(rulebook, layer_metadata, hazard_zones),
        horizon=horizon,
        scenario=scenario,
        base_year=plan.base_year,
        lang=lang,
        rulebook=rulebook,
    )
