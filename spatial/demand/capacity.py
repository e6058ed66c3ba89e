"""Land supply and capacity: where the municipality could put the land it will need.

The Space section of the SEDP answers "do we have the land?" (BRIEF §7): demand from
:func:`~spatial.demand.table.land_demand` is set against the land the municipality can
actually dispose of. :func:`candidate_parcels` picks that land — unused parcels, the
reserve, the state agricultural fund and municipal land; never private land in use — and
:func:`land_capacity` asks the constraint engine, per intended use, how much of each
candidate survives zoning, protection zones, hazards and category rules. A parcel that is
prohibited for a use counts only with its remainder free of every prohibiting feature, so
capacity is never larger than what the rules leave.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import Problem, ValidationError
from ..zoning import ConstraintLayers, Proposal, Rulebook, check_parcels
from ..zoning.engine import Measured, measure, prohibiting_rows, remainder_areas
from .table import DemandTable

__all__ = [
    "BALANCE_COLUMNS",
    "CANDIDATE_REASONS",
    "CAPACITY_COLUMNS",
    "CapacityResult",
    "balance_totals",
    "candidate_parcels",
    "demand_balance",
    "land_capacity",
    "target_category",
]

#: Why a parcel is candidate land, in the order they are listed in ``candidate_reasons``.
CANDIDATE_REASONS: tuple[str, ...] = ("unused", "reserve", "state_ag_fund", "municipal")
#: Columns of :attr:`CapacityResult.table`.
CAPACITY_COLUMNS: tuple[str, ...] = (
    "settlement", "use", "candidate_ha", "developable_ha", "conditional_ha", "parcels",
)
#: Columns of :attr:`CapacityResult.parcels` besides the geometry, in order.
_PER_PARCEL_COLUMNS: tuple[str, ...] = (
    "parcel", "cadastral_no", "settlement", "use", "verdict", "candidate_ha",
    "developable_ha", "conditional", "needs_category_change", "current_category",
    "target_category", "prohibiting_rules", "whole_prohibited", "candidate_reasons",
)
_REQUIRED = ("cadastral_no", "land_category", "ownership", "in_use", "state_ag_fund")
#: Label of candidate land that lies in no settlement and could not be assigned to one.
NO_SETTLEMENT = ""


def _missing_columns(frame: pd.DataFrame, required: Sequence[str], layer: str) -> list[Problem]:
    return [
        Problem("missing_column", f"{layer} has no column {c!r}, needed to find candidate land",
                layer=layer, column=c)
        for c in required if c not in frame.columns
    ]


def _flag(values: pd.Series) -> np.ndarray:
    """True only where a boolean-ish column is truly true (unknown counts as false)."""
    return values.fillna(False).astype(bool).to_numpy()


def candidate_parcels(
    parcels: gpd.GeoDataFrame,
    *,
    settlements: gpd.GeoDataFrame | None = None,
    max_distance_m: float | None = None,
) -> gpd.GeoDataFrame:
    """Parcels the municipality could develop, each with the reasons it qualifies.

    Candidate land is land not tied up by a private holder's current activity: a parcel
    that is unused (``in_use`` false), in the ``reserve`` category, in the state
    agricultural fund (``state_ag_fund``) or municipally owned. A private parcel in use is
    never a candidate, whatever else is true of it — the plan cannot dispose of it.
    An unknown ``in_use`` counts as in use (the cautious reading).

    Parameters
    ----------
    parcels
        Workspace parcels (``data/schemas/layers.json``), in a projected CRS.
    settlements
        Settlement polygons (``name``). Candidate parcels outside every settlement
        (``settlement`` missing) are assigned to the nearest one, since demand is
        forecast per settlement and it grows at its edges.
    max_distance_m
        Assign only within this distance; farther parcels keep an empty settlement.

    Returns
    -------
    GeoDataFrame
        The candidate rows of ``parcels`` (index kept) with ``candidate_reasons``
        (``;``-joined codes of :data:`CANDIDATE_REASONS`), one boolean column
        ``candidate_<reason>`` per reason, ``settlement`` (filled as above) and
        ``settlement_assigned`` (true where it was filled by distance).

    Raises
    ------
    ValidationError
        Missing columns (all of them, at once).
    """
    problems = _missing_columns(parcels, _REQUIRED, "parcels")
    if settlements is not None:
        problems += _missing_columns(settlements, ("name",), "settlements")
    if problems:
        raise ValidationError(problems)
    in_use = _flag(parcels["in_use"])
    private = (parcels["ownership"] == "private").fillna(False).to_numpy(dtype=bool)
    flags = {
        "unused": ~parcels["in_use"].fillna(True).astype(bool).to_numpy(),
        "reserve": (parcels["land_category"] == "reserve").fillna(False).to_numpy(dtype=bool),
        "state_ag_fund": _flag(parcels["state_ag_fund"]),
        "municipal": (parcels["ownership"] == "municipal").fillna(False).to_numpy(dtype=bool),
    }
    any_reason = np.logical_or.reduce(list(flags.values()))
    keep = any_reason & ~(private & in_use)
    out = parcels.loc[keep].copy()
    joined = pd.Series("", index=out.index, dtype=object)
    for reason in CANDIDATE_REASONS:
        flag = flags[reason][keep]
        out[f"candidate_{reason}"] = flag
        joined = joined.where(~flag, joined + ";" + reason)
    out["candidate_reasons"] = joined.str.lstrip(";")
    settlement = (out["settlement"] if "settlement" in out
                  else pd.Series(None, index=out.index, dtype=object))
    missing = settlement.isna().to_numpy() | (settlement.astype(str) == NO_SETTLEMENT).to_numpy()
    settlement = settlement.astype(object).where(~missing, NO_SETTLEMENT)
    assigned = np.zeros(len(out), dtype=bool)
    if settlements is not None and missing.any() and len(settlements):
        lost = out.loc[missing, [out.geometry.name]]
        near = gpd.sjoin_nearest(
            lost, settlements[["name", settlements.geometry.name]].to_crs(out.crs),
            how="left", max_distance=max_distance_m,
        )
        near = near[~near.index.duplicated(keep="first")]  # ties: first settlement
        names = near["name"].reindex(lost.index)
        got = names.notna().to_numpy()
        settlement.loc[lost.index[got]] = names.to_numpy()[got]
        assigned[np.flatnonzero(missing)[got]] = True
    out["settlement"] = settlement.to_numpy(dtype=object)
    out["settlement_assigned"] = assigned
    return out


def target_category(use: str, current: object, rulebook: Rulebook) -> str:
    """The category a parcel needs for ``use``: its own if the use fits it, else the first.

    The rulebook lists, per use, the land categories it fits (``uses.<use>.categories``),
    the first being the usual one (``settlement`` for housing). A parcel already in a
    fitting category keeps it — no transformation; any other would have to be transferred
    to the first listed category.
    """
    fits = rulebook.uses[use].categories
    return str(current) if current in fits else fits[0]


@dataclass(frozen=True)
class CapacityResult:
    """What :func:`land_capacity` found.

    Attributes
    ----------
    table
        Tidy, one row per settlement and use (:data:`CAPACITY_COLUMNS`): ``candidate_ha``
        (all candidate land), ``developable_ha`` (what the rules leave for the use),
        ``conditional_ha`` (the part of it needing a permit or a hearing) and
        ``parcels`` (candidate parcels with developable land).
    parcels
        One row per candidate parcel and use: ``cadastral_no, settlement, use, verdict,
        candidate_ha, developable_ha, conditional, needs_category_change,
        current_category, target_category, prohibiting_rules, whole_prohibited,
        candidate_reasons`` and the parcel's geometry; ``parcel`` is its label in the
        input parcels.
    uses
        The uses asked for, in order.
    """

    table: pd.DataFrame
    parcels: gpd.GeoDataFrame
    uses: tuple[str, ...]

    def total(self, by: Sequence[str] = ("use",)) -> pd.DataFrame:
        """Hectares and parcels summed over everything not in ``by``."""
        cols = ["candidate_ha", "developable_ha", "conditional_ha", "parcels"]
        return self.table.groupby(list(by), sort=True)[cols].sum().reset_index()


def _whole_prohibited(reasons: pd.DataFrame, n: int) -> np.ndarray:
    """Parcels refused as a whole: a prohibition with no feature to cut away (category rules)."""
    live = ~reasons["note"].to_numpy(dtype=bool)
    prohibited = (reasons["regime"] == "prohibited").to_numpy(dtype=bool)
    spatial = reasons["kind"].isin(("zoning", "restriction")).to_numpy() & pd.notna(
        reasons["feature_id"]).to_numpy()
    rows = reasons["row"].to_numpy(dtype=np.int64)[live & prohibited & ~spatial]
    out = np.zeros(n, dtype=bool)
    out[rows] = True
    return out


@dataclass(frozen=True)
class _UseCheck:
    """What one use's checks found, before the remainders are cut."""

    frame: pd.DataFrame
    cuts: tuple[np.ndarray, np.ndarray, np.ndarray]


def _check_use(
    cand: gpd.GeoDataFrame, use: str, layers: ConstraintLayers, rulebook: Rulebook, *,
    measured: Measured, n_jobs: int, min_developable_m2: float,
) -> _UseCheck:
    """Check every candidate for ``use``; the cuts are the features to subtract per parcel.

    Parcels whose category fits the use keep it, the others are checked with the use's
    first category as the target, so the candidates are checked in two groups.

    Cutting costs a polygon difference per prohibiting feature, so parcels whose
    remainder is known to count as nothing get no cuts: those refused as a whole, and
    those that one prohibiting feature covers to within half of ``min_developable_m2``
    (what is left is then at most that half, far beyond any rounding, so it is dropped
    just as if it had been cut). In the Isfana demo most cut parcels are of the second
    kind: a zone or a strip that covers the whole parcel.
    """
    current = cand["land_category"].to_numpy(dtype=object)
    fits_list = rulebook.uses[use].categories
    fits = np.isin(current, np.array(fits_list, dtype=object))
    parts = []
    cut_pos, cut_layer, cut_feature = [], [], []
    for fit in (True, False):
        sel = np.flatnonzero(fits == fit)
        if not sel.size:
            continue
        sub = cand.iloc[sel]
        target = None if fit else fits_list[0]
        part = measured.take(sel)
        batch = check_parcels(
            sub, Proposal(target_use=use, target_category=target), layers, rulebook,
            n_jobs=n_jobs, measured=part,
        )
        assert batch.evaluation is not None  # check_parcels always keeps it
        t = batch.table
        whole = _whole_prohibited(batch.reasons, len(sub))
        cols = batch.evaluation.cols
        rows = prohibiting_rows(batch.evaluation)
        pos = cols["pos"][rows]
        largest = np.zeros(len(sub))
        np.maximum.at(largest, pos, cols["overlap"][rows])
        void = whole.copy()
        if min_developable_m2 > 0:
            void |= largest >= part.area - min_developable_m2 / 2
        keep = ~void[pos]
        cut_pos.append(sel[pos[keep]])
        cut_layer.append(cols["layer"][rows][keep])
        cut_feature.append(cols["feature"][rows][keep])
        verdict = t["verdict"].to_numpy(dtype=object)
        parts.append(pd.DataFrame({
            "parcel": sub.index.to_numpy(dtype=object),
            "cadastral_no": sub["cadastral_no"].to_numpy(dtype=object),
            "settlement": sub["settlement"].to_numpy(dtype=object),
            "use": use,
            "verdict": verdict,
            "candidate_ha": t["area_m2"].to_numpy(dtype=float) / 1e4,
            "conditional": verdict == "conditional",
            "needs_category_change": not fit,
            "current_category": current[sel],
            "target_category": current[sel] if fit else target,
            "prohibiting_rules": t["prohibiting_rules"].to_numpy(dtype=object),
            "whole_prohibited": whole,
            "candidate_reasons": sub["candidate_reasons"].to_numpy(dtype=object),
            "_pos": sel,
            "_void": void,
        }))
    frame = (pd.concat(parts, ignore_index=True).sort_values("_pos", kind="stable")
             if parts else pd.DataFrame())
    empty = np.empty(0, dtype=np.int64)
    cuts = tuple(np.concatenate([*c, empty]).astype(np.int64)
                 for c in (cut_pos, cut_layer, cut_feature))
    return _UseCheck(frame=frame, cuts=(cuts[0], cuts[1], cuts[2]))


def _developable(
    checks: Sequence[_UseCheck], cand: gpd.GeoDataFrame, layers: ConstraintLayers, *,
    area: np.ndarray, n_jobs: int, min_developable_m2: float,
) -> list[pd.DataFrame]:
    """Each use's frame with ``developable_ha``: the remainder free of its prohibitions.

    The remainders of all uses are cut in one pass (:func:`remainder_areas`), each
    distinct (parcel, prohibiting features) once; a parcel left nothing counts 0.
    """
    remainder = remainder_areas(cand.geometry.to_numpy(), [c.cuts for c in checks], layers,
                                n_jobs=n_jobs)
    frames = []
    for check, left in zip(checks, remainder, strict=True):
        frame = check.frame
        if not len(frame):
            continue
        pos = frame["_pos"].to_numpy(dtype=np.int64)
        developable = np.where(frame["_void"].to_numpy(dtype=bool), 0.0,
                               np.minimum(left[pos], area[pos]))
        developable = np.where(
            (developable > 0.0) & (developable >= min_developable_m2), developable, 0.0)
        frames.append(frame.assign(developable_ha=developable / 1e4))
    return frames


def land_capacity(
    parcels: gpd.GeoDataFrame,
    layers: ConstraintLayers,
    rulebook: Rulebook,
    *,
    uses: Sequence[str],
    n_jobs: int = 1,
    candidates: gpd.GeoDataFrame | None = None,
    settlements: gpd.GeoDataFrame | None = None,
    min_developable_m2: float = 1.0,
    measured: Measured | None = None,
) -> CapacityResult:
    """Developable candidate land per settlement and intended use.

    For each use the constraint engine checks every candidate parcel against
    ``Proposal(target_use=use)`` — with ``target_category`` set to the use's first
    rulebook category for parcels whose category does not fit the use — and measures the
    part of each parcel free of every prohibiting feature. Allowed and conditional
    parcels count that remainder (conditional ones are flagged, since a permit may still
    be refused); prohibited parcels count only that remainder, and nothing at all when the
    prohibition has no geometry to cut away (an impossible category change, a use that
    does not fit the category).

    Parameters
    ----------
    parcels
        Workspace parcels in the layers' CRS. Ignored when ``candidates`` is given.
    layers, rulebook
        As for :func:`~spatial.zoning.check_parcels`.
    uses
        Rulebook use codes to measure capacity for (typically the uses of the demand
        table).
    n_jobs
        Threads for the geometry work.
    candidates
        Already selected candidate land (:func:`candidate_parcels`), to reuse one
        selection across calls.
    settlements
        Passed to :func:`candidate_parcels` to assign outlying candidates.
    min_developable_m2
        Remainders smaller than this count as nothing. The default (1 m²) only drops
        the noise of geometric differences (a remainder of 10⁻¹¹ ha along a shared
        edge); raise it to drop slivers no one can build on.
    measured
        :func:`~spatial.zoning.engine.measure` of ``parcels``, when the caller has it (the
        Space section measures every parcel once for compliance); used when ``parcels``
        has a unique index holding every candidate, else the candidates are measured.

    Raises
    ------
    ValidationError
        Unknown use codes, missing columns, or whatever the constraint check refuses.
    """
    unknown = [u for u in uses if u not in rulebook.uses]
    if unknown:
        raise ValidationError([
            Problem("unknown_code", f"use {u!r} is not a use of the rulebook", layer="uses",
                    feature=str(u), column="use")
            for u in unknown
        ])
    uses = tuple(dict.fromkeys(uses))
    cand = candidates if candidates is not None else candidate_parcels(
        parcels, settlements=settlements)
    # The overlaps of every candidate with every feature do not depend on the use: they
    # are measured once here and each use's checks only look up its regimes.
    found = (parcels.index.get_indexer(cand.index)
             if measured is not None and len(measured) == len(parcels)
             and parcels.index.is_unique else None)
    if found is not None and (found >= 0).all():
        assert measured is not None
        measured = measured.take(found)
    else:
        measured = measure(cand.geometry.to_numpy(), layers, n_jobs=n_jobs)
    checks = [_check_use(cand, use, layers, rulebook, measured=measured, n_jobs=n_jobs,
                         min_developable_m2=min_developable_m2) for use in uses]
    frames = _developable(checks, cand, layers, area=measured.area, n_jobs=n_jobs,
                          min_developable_m2=min_developable_m2)
    geom_name = cand.geometry.name
    if frames:
        per = pd.concat(frames, ignore_index=True)[[*_PER_PARCEL_COLUMNS, "_pos"]]
        geometry = cand.geometry.to_numpy()[per["_pos"].to_numpy(dtype=np.int64)]
        per = per.drop(columns="_pos")
    else:
        per = pd.DataFrame({c: pd.Series(dtype=object) for c in _PER_PARCEL_COLUMNS})
        per[["candidate_ha", "developable_ha"]] = per[["candidate_ha", "developable_ha"]].astype(
            float)
        geometry = np.array([], dtype=object)
    per_gdf = gpd.GeoDataFrame(per, geometry=gpd.GeoSeries(geometry, crs=cand.crs).values,
                               crs=cand.crs)
    per_gdf = per_gdf.rename_geometry(geom_name) if geom_name != "geometry" else per_gdf
    table = _summarise(per)
    return CapacityResult(table=table, parcels=per_gdf, uses=uses)


def _summarise(per: pd.DataFrame) -> pd.DataFrame:
    if not len(per):
        return pd.DataFrame({
            "settlement": pd.Series(dtype=object), "use": pd.Series(dtype=object),
            "candidate_ha": pd.Series(dtype=float), "developable_ha": pd.Series(dtype=float),
            "conditional_ha": pd.Series(dtype=float), "parcels": pd.Series(dtype=np.int64),
        })
    work = pd.DataFrame({
        "settlement": per["settlement"], "use": per["use"],
        "candidate_ha": per["candidate_ha"].astype(float),
        "developable_ha": per["developable_ha"].astype(float),
        "conditional_ha": np.where(per["conditional"].to_numpy(dtype=bool),
                                   per["developable_ha"].to_numpy(dtype=float), 0.0),
        "parcels": (per["developable_ha"].to_numpy(dtype=float) > 0).astype(np.int64),
    })
    out = work.groupby(["settlement", "use"], sort=True).sum().reset_index()
    return out[list(CAPACITY_COLUMNS)]


#: Columns of :func:`demand_balance`.
BALANCE_COLUMNS: tuple[str, ...] = (
    "settlement", "year", "scenario", "use", "demand_ha", "capacity_ha", "balance_ha",
    "deficit_ha", "surplus_ha", "status", "capacity_measured",
)


def _demand_frame(demand: DemandTable | pd.DataFrame) -> pd.DataFrame:
    frame = demand.frame if isinstance(demand, DemandTable) else demand
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError([Problem("bad_type", "demand must be a DemandTable or a DataFrame",
                                       layer="demand")])
    problems = _missing_columns(frame, ("settlement", "year", "scenario", "use", "hectares"),
                                "demand")
    if problems:
        raise ValidationError(problems)
    return frame


def demand_balance(
    demand: DemandTable | pd.DataFrame,
    capacity: CapacityResult,
    *,
    scenario: str | None = None,
) -> pd.DataFrame:
    """Deficit or surplus of land per settlement, year, scenario and use.

    Demand (cumulative from the base year, summed over its drivers) is set against the
    developable capacity of the same use in the same settlement; the codes are the
    rulebook's on both sides. A use whose capacity was not measured gets capacity 0 and
    ``capacity_measured`` false, so the report can say "not assessed" rather than
    "no land".

    Capacity of different uses is not additive: one candidate parcel may be developable
    for housing and for a school. Sums of ``deficit_ha`` and ``demand_ha`` across uses
    and settlements are meaningful (see :func:`balance_totals`); a sum of
    ``capacity_ha`` across uses is an upper bound.

    Parameters
    ----------
    demand
        A :class:`~spatial.demand.table.DemandTable` or its ``frame``.
    capacity
        From :func:`land_capacity`.
    scenario
        Keep only this scenario; all by default.

    Returns
    -------
    DataFrame
        :data:`BALANCE_COLUMNS`; ``balance_ha = capacity_ha − demand_ha``,
        ``deficit_ha``/``surplus_ha`` its negative/positive part, ``status`` one of
        ``deficit``, ``surplus``, ``balanced``.
    """
    frame = _demand_frame(demand)
    if scenario is not None:
        frame = frame.loc[frame["scenario"] == scenario]
    keys = ["settlement", "year", "scenario", "use"]
    need = frame.groupby(keys, sort=True)["hectares"].sum().rename("demand_ha").reset_index()
    cap = capacity.table[["settlement", "use", "developable_ha"]].rename(
        columns={"developable_ha": "capacity_ha"})
    out = need.merge(cap, on=["settlement", "use"], how="left")
    out["capacity_ha"] = out["capacity_ha"].fillna(0.0).astype(float)
    out["balance_ha"] = out["capacity_ha"] - out["demand_ha"]
    out["deficit_ha"] = np.maximum(-out["balance_ha"].to_numpy(dtype=float), 0.0)
    out["surplus_ha"] = np.maximum(out["balance_ha"].to_numpy(dtype=float), 0.0)
    bal = out["balance_ha"].to_numpy(dtype=float)
    out["status"] = np.select([bal < 0, bal > 0], ["deficit", "surplus"], "balanced")
    out["capacity_measured"] = out["use"].isin(capacity.uses).to_numpy()
    return out[list(BALANCE_COLUMNS)].reset_index(drop=True)


def balance_totals(
    balance: pd.DataFrame, *, by: Sequence[str] = ("scenario", "year")
) -> pd.DataFrame:
    """Sums of a :func:`demand_balance` frame over everything not in ``by``.

    ``demand_ha``, ``deficit_ha`` and ``surplus_ha`` add up; ``net_ha`` is surplus minus
    deficit. Capacity is not summed here (it is not additive across uses).
    """
    cols = ["demand_ha", "deficit_ha", "surplus_ha"]
    out = balance.groupby(list(by), sort=True)[cols].sum().reset_index()
    out["net_ha"] = out["surplus_ha"] - out["deficit_ha"]
    return out
