"""Check every parcel at once, against one proposal or against its own current use.

The working group needs, for the Space section, every parcel whose current use breaks
zoning or lies in a prohibition zone, and planners want to know where a proposal (say,
individual housing) would be possible across the whole municipality. :func:`check_parcels`
runs the engine of :func:`~spatial.zoning.check.check_transformation` on all parcels in
one pass — one bulk index query per layer and array operations on the pairs — so the
batch row of a parcel and its single check are the same computation.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ..errors import CRSError, Problem, ValidationError
from .check import (
    Proposal,
    Reason,
    build_subjects,
    geometry_problems,
    resolve_tolerance,
)
from .engine import PROHIBITED, VERDICTS, Evaluation, Measured, evaluate, materialise, remainders
from .layers import ConstraintLayers
from .rulebook import REGIMES, Rulebook

__all__ = ["BatchResult", "check_parcels"]

_MAX_KEYS_IN_MESSAGE = 5
_REASON_COLUMNS = (
    "parcel", "row", "kind", "rule_id", "regime", "note", "layer", "feature_id", "feature_name",
    "overlap_m2", "overlap_share", "blocks_category", "value", "limit", "authority",
    "source", "message_ky", "message_ru", "message_en",
)


@dataclass(frozen=True)
class BatchResult:
    """Results of :func:`check_parcels`.

    Attributes
    ----------
    table
        One row per parcel, indexed like the input: ``verdict``, ``worst_regime``,
        ``n_reasons``, ``n_notes``, ``rule_ids`` (the rules that fired, ``;``-joined),
        ``prohibiting_rules``, ``area_m2``, ``max_prohibited_m2`` and
        ``max_prohibited_share`` (largest single prohibiting overlap) and, when asked
        for, ``remainder_m2`` (area free of every prohibition).
    reasons
        One row per reason or note (``note`` column), in report order; ``parcel`` is
        the input's index label and ``row`` its 0-based position.
    parcels
        The parcels checked, for :meth:`to_geodataframe`.
    evaluation
        The engine's arrays behind the tables (subject positions as in ``row``), for
        callers that go on computing with them (capacity cuts the prohibiting features).
    """

    table: pd.DataFrame
    reasons: pd.DataFrame
    parcels: gpd.GeoDataFrame
    proposal: Proposal | None
    evaluation: Evaluation | None = field(default=None, repr=False, compare=False)

    def reasons_for(self, label: Hashable, *, notes: bool = False) -> list[Reason]:
        """Reasons (or notes) of one parcel, as :class:`Reason` objects."""
        rows = self.reasons[self.reasons["parcel"] == label]
        rows = rows[rows["note"] == notes]
        cols = {c: rows[c].to_numpy(dtype=object) for c in rows.columns}
        return [Reason.from_columns(cols, i) for i in range(len(rows))]

    def to_geodataframe(self, lang: str = "en") -> gpd.GeoDataFrame:
        """Parcels with their verdicts and the messages of their reasons, for a GeoPackage."""
        key = "cadastral_no" if "cadastral_no" in self.parcels else None
        out = self.table.copy()
        if key and key not in out:
            out.insert(0, key, self.parcels[key])
        live = self.reasons[~self.reasons["note"].to_numpy(dtype=bool)]
        messages = _join_per_parcel(
            live["row"].to_numpy(dtype=np.int64), live[f"message_{lang}"].to_numpy(dtype=object),
            len(self.table), sep=" | ",
        )
        out["messages"] = messages
        return gpd.GeoDataFrame(out, geometry=self.parcels.geometry, crs=self.parcels.crs)


def _join_per_parcel(pos: np.ndarray, values: np.ndarray, n: int, *, sep: str) -> np.ndarray:
    """``sep``-joined distinct values per parcel position (sorted), ``""`` where none."""
    out = np.full(n, "", dtype=object)
    if not len(pos):
        return out
    codes, uniques = pd.factorize(values)
    _, first = np.unique(pos.astype(np.int64) * (len(uniques) + 1) + codes, return_index=True)
    keep = np.sort(first)
    p, v = pos[keep], values[keep]
    starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
    head = np.zeros(len(p), dtype=bool)
    head[starts] = True
    pieces = np.where(head, v, sep + v)
    out[p[starts]] = np.add.reduceat(pieces, starts)
    return out


def _code_problems(
    values: np.ndarray, known: tuple[str, ...], *, column: str, keys: np.ndarray
) -> list[Problem]:
    present = pd.notna(values)
    bad = np.flatnonzero(present & ~np.isin(values, np.array(known, dtype=object)))
    problems = []
    for value in pd.unique(values[bad]):
        hit = bad[values[bad] == value]
        shown = ", ".join(str(k) for k in keys[hit[:_MAX_KEYS_IN_MESSAGE]])
        extra = hit.size - _MAX_KEYS_IN_MESSAGE
        more = f" and {extra} more" if extra > 0 else ""
        problems.append(Problem(
            "unknown_code",
            f"{column} {value!r} is not a code of the rulebook (known: {', '.join(known)}); "
            f"{hit.size} parcel(s): {shown}{more}",
            layer="parcels", row=int(hit[0]), feature=str(keys[hit[0]]), column=column,
            details={"value": str(value), "rows": hit.tolist()},
        ))
    return problems


def check_parcels(
    parcels: gpd.GeoDataFrame,
    proposal: Proposal | None,
    layers: ConstraintLayers,
    rulebook: Rulebook,
    *,
    n_jobs: int = 1,
    tolerance_m2: float | None = None,
    tolerance_share: float | None = None,
    with_remainder: bool = False,
    measured: Measured | None = None,
) -> BatchResult:
    """Check every parcel against one proposal, or (``None``) its current use and category.

    Parameters
    ----------
    parcels
        Parcels (or a selection) in the layers' CRS, with ``land_category`` and
        ``designated_use`` where known.
    proposal
        The same proposal for every parcel; ``None`` is a compliance check: each
        parcel's current use against zoning and restrictions, its category unchanged.
    layers, rulebook
        As for :func:`~spatial.zoning.check.check_transformation`.
    n_jobs
        Threads for the geometry work (shapely releases the GIL); 2 uses both cores of
        a municipal laptop.
    tolerance_m2, tolerance_share
        As for the single check.
    with_remainder
        Also measure each parcel's area free of every prohibition (costs a difference
        per prohibiting feature).
    measured
        :func:`~spatial.zoning.engine.measure` of these parcels' geometries, when already
        made: the overlaps do not depend on the proposal, so checking the same parcels
        against several proposals needs them once.

    Raises
    ------
    CRSError
        If the parcels are not in the layers' CRS.
    ValidationError
        Unknown codes in the proposal or in ``land_category``/``designated_use``
        (one problem per code, naming the parcels), bad geometries.
    """
    proposal = proposal if proposal is not None else Proposal()
    layers.check_rulebook(rulebook)
    if parcels.crs is None or CRS.from_user_input(parcels.crs) != layers.crs:
        got = "no CRS" if parcels.crs is None else CRS.from_user_input(parcels.crs).to_string()
        raise CRSError(
            f"parcels are in {got}, the constraint layers in {layers.crs.to_string()}; "
            f"reproject the parcels first (spatial.crs.to_crs)"
        )
    n = len(parcels)
    keys = (
        parcels["cadastral_no"].astype(str).to_numpy(dtype=object) if "cadastral_no" in parcels
        else np.array([str(i) for i in parcels.index], dtype=object)
    )
    land_category = (
        parcels["land_category"].to_numpy(dtype=object) if "land_category" in parcels
        else np.full(n, None, dtype=object)
    )
    designated_use = (
        parcels["designated_use"].to_numpy(dtype=object) if "designated_use" in parcels
        else np.full(n, None, dtype=object)
    )
    geoms = parcels.geometry.to_numpy()
    problems = proposal.problems(rulebook)
    if proposal.current_category is None:
        problems += _code_problems(land_category, rulebook.categories, column="land_category",
                                   keys=keys)
    if proposal.target_use is None and proposal.current_use is None:
        problems += _code_problems(designated_use, tuple(rulebook.uses),
                                   column="designated_use", keys=keys)
    problems += geometry_problems(geoms, layer="parcels", keys=keys, n_jobs=n_jobs)
    if problems:
        raise ValidationError(problems)

    tolerance = resolve_tolerance(rulebook, tolerance_m2, tolerance_share)
    subjects = build_subjects(geoms, land_category, designated_use, proposal, rulebook)
    ev = evaluate(subjects, layers, rulebook, tolerance=tolerance, n_jobs=n_jobs,
                  measured=measured)
    cols = materialise(ev, layers, rulebook)

    labels = parcels.index.to_numpy(dtype=object)
    reasons = pd.DataFrame({"parcel": labels[cols["pos"]], "row": cols["pos"], **{
        c: cols[c] for c in _REASON_COLUMNS if c not in ("parcel", "row")
    }})

    worst = ev.worst()
    note = cols["note"]
    pos = cols["pos"]
    live = ~note
    prohibited = live & (ev.cols["regime"] == PROHIBITED)
    prohibiting = prohibited & ~np.isnan(cols["overlap_m2"])
    max_m2 = np.zeros(n)
    np.maximum.at(max_m2, pos[prohibiting], cols["overlap_m2"][prohibiting])
    table = pd.DataFrame(
        {
            "verdict": np.array(VERDICTS, dtype=object)[np.maximum(worst, 0)],
            "worst_regime": np.array([*REGIMES, None], dtype=object)[worst],
            "n_reasons": np.bincount(pos[live], minlength=n),
            "n_notes": np.bincount(pos[note], minlength=n),
            "rule_ids": _join_per_parcel(pos[live], cols["rule_id"][live], n, sep=";"),
            "prohibiting_rules": _join_per_parcel(pos[prohibited], cols["rule_id"][prohibited],
                                                  n, sep=";"),
            "area_m2": ev.area,
            "max_prohibited_m2": max_m2,
            "max_prohibited_share": np.where(ev.area > 0, max_m2 / ev.area * 100.0, 0.0),
        },
        index=parcels.index,
    )
    if "cadastral_no" in parcels:
        table.insert(0, "cadastral_no", parcels["cadastral_no"].to_numpy())
    if with_remainder:
        table["remainder_m2"] = shapely.area(remainders(geoms, ev, layers))
    return BatchResult(table=table, reasons=reasons, parcels=parcels,
                       proposal=None if proposal == Proposal() else proposal, evaluation=ev)
