"""Check a parcel or a drawn polygon against zoning and every restriction.

A planner asks: may this parcel change to this category, or take this use — outright,
only with conditions, or not at all — and why? :func:`check_transformation` answers
with a verdict and one reason per rule that fired, each naming the zone, protected area,
water protection zone, hazard zone or restriction, how much of the parcel it covers, the
regime, a message in Kyrgyz, Russian and English and the rule's source; it also says
which part of the parcel no prohibition touches and which uses would be allowed there.

Verdict logic (all rules are rulebook data):

* a reason's regime is ``permitted``, ``conditional`` or ``prohibited``; the verdict is
  the worst regime among reasons — ``allowed``, ``conditional`` or ``prohibited``;
* zoning: each zone the parcel overlaps fires with its overlap; a use that a zone type
  lists neither as permitted nor as conditional is prohibited there; outside every zone
  no zoning rule applies (reported as a note);
* restrictions: each overlapping feature fires with its regime for the use; it also
  prohibits a change to a category it blocks;
* overlaps under the tolerance (in m² *and* in % of the parcel, every threshold given)
  are notes: reported, not counted;
* a change of category takes the transition matrix (possible: conditional on the
  deciding authority; impossible: prohibited); a use that does not fit the category it
  would be on is prohibited; building parameters beyond a zone's limits take the
  limit's regime.

The batch (:func:`spatial.zoning.batch.check_parcels`) runs the same engine.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from ..errors import CRSError, InputError, Problem, ValidationError
from .engine import (
    PERMITTED,
    VERDICTS,
    Evaluation,
    Subjects,
    Tolerance,
    evaluate,
    materialise,
    remainders,
    uses_on,
)
from .layers import ConstraintLayers
from .rulebook import REGIMES, Rulebook

__all__ = [
    "CheckResult",
    "Proposal",
    "Reason",
    "check_transformation",
    "resolve_tolerance",
]

_POLYGONAL = (3, 6)  # shapely type ids of Polygon and MultiPolygon


@dataclass(frozen=True, slots=True)
class Proposal:
    """What is proposed for a parcel; every field optional.

    Parameters
    ----------
    target_category
        Land category the parcel would change to (a transformation), or ``None``.
    target_use
        Use to test; ``None`` tests the current use (a compliance check).
    current_category, current_use
        Override the parcel's recorded ``land_category`` / ``designated_use``; needed
        for a drawn polygon, which has neither.
    floors, height_m
        Proposed building, checked against the zone types' limits.
    site_coverage
        Share of the plot to be built on, in percent (0–100).
    """

    target_category: str | None = None
    target_use: str | None = None
    current_category: str | None = None
    floors: int | None = None
    height_m: float | None = None
    site_coverage: float | None = None
    current_use: str | None = None

    def problems(self, rulebook: Rulebook) -> list[Problem]:
        """Every unknown code and impossible number, each named."""
        found = []
        for name in ("target_use", "current_use"):
            found += _code_problem(getattr(self, name), tuple(rulebook.uses), "use", name)
        for name in ("target_category", "current_category"):
            found += _code_problem(getattr(self, name), rulebook.categories, "land category",
                                   name)
        if self.floors is not None and (
            isinstance(self.floors, bool) or not float(self.floors).is_integer()
            or self.floors < 1
        ):
            found.append(Problem("bad_value", f"floors must be a whole number ≥ 1, got "
                                 f"{self.floors!r}", layer="proposal", column="floors"))
        for name, lo, hi in (("height_m", 0.0, math.inf), ("site_coverage", 0.0, 100.0)):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
                or not (lo <= value <= hi) or math.isnan(value)
            ):
                found.append(Problem(
                    "bad_value", f"{name} must be a number from {lo:g} to {hi:g}, got {value!r}",
                    layer="proposal", column=name,
                ))
        return found


def _code_problem(
    value: Any, known: tuple[str, ...], what: str, column: str, *, layer: str = "proposal",
    row: int | None = None, feature: str | None = None,
) -> list[Problem]:
    if value is None or value in known:
        return []
    close = difflib.get_close_matches(str(value), list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return [Problem(
        f"unknown_{what.replace(' ', '_')}",
        f"unknown {what} code {value!r}{hint}; known: {', '.join(known)}",
        layer=layer, row=row, feature=feature, column=column, details={"value": str(value)},
    )]


def _none(value: Any) -> Any:
    """NaN and pandas NA as None, for reasons and JSON."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True, slots=True)
class Reason:
    """One rule that fired for a parcel.

    ``overlap_m2`` and ``overlap_share`` (percent of the parcel) are ``None`` for rules
    that are not about space (category change, category fit). ``value``/``limit`` are
    set for building limits, ``authority`` for a possible change of category,
    ``blocks_category`` when the feature refuses the target category.
    """

    kind: str
    rule_id: str
    regime: str
    message: Mapping[str, str]
    source: str
    layer: str | None = None
    feature_id: str | None = None
    feature_name: str | None = None
    overlap_m2: float | None = None
    overlap_share: float | None = None
    note: bool = False
    blocks_category: bool = False
    value: float | None = None
    limit: float | None = None
    authority: str | None = None

    @classmethod
    def from_columns(cls, cols: Mapping[str, Any], i: int) -> Reason:
        """The reason in row ``i`` of materialised columns (engine or batch table)."""
        return cls(
            kind=str(cols["kind"][i]),
            rule_id=str(cols["rule_id"][i]),
            regime=str(cols["regime"][i]),
            message={lang: str(cols[f"message_{lang}"][i]) for lang in ("ky", "ru", "en")},
            source=str(cols["source"][i]),
            layer=_none(cols["layer"][i]),
            feature_id=_none(cols["feature_id"][i]),
            feature_name=_none(cols["feature_name"][i]),
            overlap_m2=_none(cols["overlap_m2"][i]),
            overlap_share=_none(cols["overlap_share"][i]),
            note=bool(cols["note"][i]),
            blocks_category=bool(cols["blocks_category"][i]),
            value=_none(cols["value"][i]),
            limit=_none(cols["limit"][i]),
            authority=_none(cols["authority"][i]),
        )

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        out = asdict(self)
        out["message"] = self.message[lang] if lang else dict(self.message)
        return out


@dataclass(frozen=True)
class CheckResult:
    """The answer for one parcel or polygon; :meth:`to_dict` is ready for JSON."""

    verdict: str
    reasons: tuple[Reason, ...]
    notes: tuple[Reason, ...]
    area_m2: float
    remainder: BaseGeometry
    remainder_m2: float
    remainder_allowed_uses: tuple[str, ...]
    remainder_conditional_uses: tuple[str, ...]
    proposal: Proposal
    use: str | None
    category: str | None
    crs: CRS
    parcel: str | None = None
    rulebook: Mapping[str, str] = field(default_factory=dict)

    @property
    def worst_regime(self) -> str | None:
        if not self.reasons:
            return None
        return REGIMES[max(REGIMES.index(r.regime) for r in self.reasons)]

    def to_dict(self, lang: str | None = None, *, wgs84: bool = False) -> dict[str, Any]:
        """JSON-ready result; messages in ``lang`` or all three, geometry as GeoJSON.

        The remainder is in the layers' CRS; ``wgs84=True`` adds it in EPSG:4326 for
        web maps.
        """
        remainder: dict[str, Any] = {
            "area_m2": self.remainder_m2,
            "geometry": json.loads(shapely.to_geojson(self.remainder)),
            "allowed_uses": list(self.remainder_allowed_uses),
            "conditional_uses": list(self.remainder_conditional_uses),
        }
        if wgs84:
            to_wgs = Transformer.from_crs(self.crs, 4326, always_xy=True)
            geom = shapely.transform(
                self.remainder, lambda xy: np.column_stack(to_wgs.transform(xy[:, 0], xy[:, 1]))
            )
            remainder["geometry_wgs84"] = json.loads(shapely.to_geojson(geom))
        return {
            "verdict": self.verdict,
            "worst_regime": self.worst_regime,
            "parcel": self.parcel,
            "area_m2": self.area_m2,
            "proposal": asdict(self.proposal),
            "use": self.use,
            "category": self.category,
            "reasons": [r.to_dict(lang) for r in self.reasons],
            "notes": [r.to_dict(lang) for r in self.notes],
            "remainder": remainder,
            "crs": self.crs.to_string(),
            "rulebook": dict(self.rulebook),
        }


def resolve_tolerance(
    rulebook: Rulebook, tolerance_m2: float | None, tolerance_share: float | None
) -> Tolerance:
    """Call arguments over rulebook defaults; ``math.inf`` switches one criterion off."""
    rb = rulebook.tolerance
    m2 = tolerance_m2 if tolerance_m2 is not None else (rb.area_m2.value if rb.area_m2 else None)
    share = (
        tolerance_share if tolerance_share is not None
        else (rb.share_pct.value if rb.share_pct else None)
    )
    for name, value in (("tolerance_m2", m2), ("tolerance_share", share)):
        if value is not None and (not isinstance(value, int | float) or value < 0
                                  or math.isnan(value)):
            raise InputError(f"{name} must be a number ≥ 0, got {value!r}")
    return Tolerance(
        area_m2=None if m2 is None or math.isinf(m2) else float(m2),
        share_pct=None if share is None or math.isinf(share) else float(share),
    )


def code_positions(values: np.ndarray, known: tuple[str, ...]) -> np.ndarray:
    """Position of each code in ``known``; ``-1`` for missing values (unknown ones too)."""
    return pd.Index(known).get_indexer(pd.Index(values, dtype=object)).astype(np.int64)


def build_subjects(
    geoms: np.ndarray,
    land_category: np.ndarray,
    designated_use: np.ndarray,
    proposal: Proposal,
    rulebook: Rulebook,
) -> Subjects:
    """Per-parcel engine input: the proposal over each parcel's recorded category and use.

    Shared by the single check and the batch so both read a parcel the same way.
    """
    t = rulebook.tables
    n = len(geoms)

    def fill(value: Any, recorded: np.ndarray) -> np.ndarray:
        return np.full(n, value, dtype=object) if value is not None else recorded

    current_use = fill(proposal.current_use, designated_use)
    use = fill(proposal.target_use, current_use)
    current = fill(proposal.current_category, land_category)
    target = np.full(n, proposal.target_category, dtype=object)

    def number(value: float | None) -> np.ndarray:
        return np.full(n, np.nan if value is None else float(value))

    return Subjects(
        geoms=geoms,
        use=code_positions(use, t.uses),
        current=code_positions(current, t.categories),
        target=code_positions(target, t.categories),
        floors=number(proposal.floors),
        height_m=number(proposal.height_m),
        site_coverage=number(proposal.site_coverage),
    )


def geometry_problems(
    geoms: np.ndarray, *, layer: str, keys: np.ndarray | None = None, n_jobs: int = 1
) -> list[Problem]:
    """Missing, empty, non-polygonal and invalid geometries, one problem each."""
    missing = shapely.is_missing(geoms)
    empty = missing | shapely.is_empty(geoms)
    wrong = ~empty & ~np.isin(shapely.get_type_id(geoms), _POLYGONAL)
    invalid = np.zeros(len(geoms), dtype=bool)
    ok = np.flatnonzero(~empty & ~wrong)
    if n_jobs > 1 and len(ok) > 10_000:
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            parts = np.array_split(ok, n_jobs)
            for part, valid in zip(parts, pool.map(lambda i: shapely.is_valid(geoms[i]), parts),
                                   strict=True):
                invalid[part] = ~valid
    else:
        invalid[ok] = ~shapely.is_valid(geoms[ok])
    problems = []
    for rows, code, text in (
        (np.flatnonzero(empty), "empty_geometry", "geometry is empty or missing"),
        (np.flatnonzero(wrong), "wrong_geometry_type", "geometry must be a polygon or "
         "multipolygon"),
    ):
        problems += [
            Problem(code, text, layer=layer, row=int(r),
                    feature=None if keys is None else str(keys[r]))
            for r in rows
        ]
    bad = np.flatnonzero(invalid)
    reasons = shapely.is_valid_reason(geoms[bad]) if bad.size else []
    problems += [
        Problem("invalid_geometry", f"invalid geometry: {why} (repair it, e.g. make_valid)",
                layer=layer, row=int(r), feature=None if keys is None else str(keys[r]))
        for r, why in zip(bad, reasons, strict=True)
    ]
    return problems


def _subject(
    geometry_or_parcel: Any, layers: ConstraintLayers
) -> tuple[BaseGeometry, Any, Any, str | None]:
    """Geometry, recorded category and use, and cadastral number of the input."""
    if isinstance(geometry_or_parcel, gpd.GeoDataFrame):
        if len(geometry_or_parcel) != 1:
            raise InputError(
                f"check_transformation takes one parcel; got {len(geometry_or_parcel)} rows "
                f"(use check_parcels for many)"
            )
        frame_crs = geometry_or_parcel.crs
        if frame_crs is not None and CRS.from_user_input(frame_crs) != layers.crs:
            raise CRSError(
                f"the parcel is in {CRS.from_user_input(frame_crs).to_string()}, the layers "
                f"in {layers.crs.to_string()}; reproject it first"
            )
        geometry_or_parcel = geometry_or_parcel.iloc[0]
    if isinstance(geometry_or_parcel, BaseGeometry):
        return geometry_or_parcel, None, None, None
    if isinstance(geometry_or_parcel, pd.Series):
        row = geometry_or_parcel
        geom = row.get("geometry")
        if not isinstance(geom, BaseGeometry):
            geoms = [v for v in row.to_numpy() if isinstance(v, BaseGeometry)]
            geom = geoms[0] if geoms else None
        if geom is None:
            raise InputError("the parcel row has no geometry")
        key = _none(row.get("cadastral_no"))
        return geom, _none(row.get("land_category")), _none(row.get("designated_use")), (
            None if key is None else str(key)
        )
    raise InputError(
        f"check_transformation takes a shapely polygon, a parcel row or a one-row "
        f"GeoDataFrame, not {type(geometry_or_parcel).__name__}"
    )


def check_transformation(
    geometry_or_parcel: BaseGeometry | pd.Series | gpd.GeoDataFrame,
    proposal: Proposal,
    layers: ConstraintLayers,
    rulebook: Rulebook,
    *,
    tolerance_m2: float | None = None,
    tolerance_share: float | None = None,
) -> CheckResult:
    """Whether a proposal is allowed on a parcel, and why.

    Parameters
    ----------
    geometry_or_parcel
        A drawn (multi)polygon in the layers' CRS, a parcel row (with ``geometry``,
        ``land_category``, ``designated_use``, ``cadastral_no``), or a one-row frame.
    proposal
        Target category and/or use and building parameters; an empty proposal checks
        the parcel's current use and category (compliance).
    layers
        The workspace's constraint layers (:meth:`ConstraintLayers.from_frames`).
    rulebook
        The municipality's rulebook.
    tolerance_m2, tolerance_share
        Overlaps under both (m², and percent of the parcel) are notes; ``None`` takes
        the rulebook's tolerance, ``math.inf`` ignores that criterion.

    Returns
    -------
    CheckResult

    Raises
    ------
    ValidationError
        Unknown use or category codes (each named, with the closest known code), bad
        building numbers, or a geometry that is empty, not a polygon or invalid.
    CRSError
        A parcel frame in another CRS than the layers.
    """
    layers.check_rulebook(rulebook)
    geom, land_category, designated_use, key = _subject(geometry_or_parcel, layers)
    problems = proposal.problems(rulebook)
    problems += _code_problem(land_category, rulebook.categories, "land category",
                              "land_category", layer="parcels", feature=key)
    problems += _code_problem(designated_use, tuple(rulebook.uses), "use", "designated_use",
                              layer="parcels", feature=key)
    geoms = np.array([geom], dtype=object)
    problems += geometry_problems(geoms, layer="parcels" if key else "geometry",
                                  keys=None if key is None else np.array([key]))
    if problems:
        raise ValidationError(problems)

    tolerance = resolve_tolerance(rulebook, tolerance_m2, tolerance_share)
    subjects = build_subjects(
        geoms, np.array([land_category], dtype=object),
        np.array([designated_use], dtype=object), proposal, rulebook,
    )
    ev = evaluate(subjects, layers, rulebook, tolerance=tolerance)
    return result_from(ev, 0, subjects, layers, rulebook, tolerance=tolerance,
                       proposal=proposal, parcel=key)


def result_from(
    ev: Evaluation, i: int, subjects: Subjects, layers: ConstraintLayers, rulebook: Rulebook,
    *, tolerance: Tolerance, proposal: Proposal, parcel: str | None,
    cols: Mapping[str, np.ndarray] | None = None, remainder: BaseGeometry | None = None,
) -> CheckResult:
    """The :class:`CheckResult` of subject ``i`` of an evaluation."""
    t = rulebook.tables
    cols = cols if cols is not None else materialise(ev, layers, rulebook)
    rows = np.flatnonzero(cols["pos"] == i)
    reasons = [Reason.from_columns(cols, int(r)) for r in rows]
    worst = ev.worst()[i]
    if remainder is None:
        remainder = remainders(subjects.geoms[i : i + 1], _only(ev, i), layers)[0]
    area = float(ev.area[i])
    regimes = uses_on(remainder, i, ev, layers, rulebook, tolerance=tolerance, parcel_area=area)
    uses = np.array(t.uses, dtype=object)
    use = int(subjects.use[i])
    category = int(subjects.target[i]) if subjects.target[i] >= 0 else int(subjects.current[i])
    return CheckResult(
        verdict=VERDICTS[max(int(worst), PERMITTED)],
        reasons=tuple(r for r in reasons if not r.note),
        notes=tuple(r for r in reasons if r.note),
        area_m2=area,
        remainder=remainder,
        remainder_m2=float(shapely.area(remainder)),
        remainder_allowed_uses=tuple(uses[regimes == 0]),
        remainder_conditional_uses=tuple(uses[regimes == 1]),
        proposal=proposal,
        use=t.uses[use] if use >= 0 else None,
        category=t.categories[category] if category >= 0 else None,
        crs=layers.crs,
        parcel=parcel,
        rulebook={"municipality": rulebook.municipality, "version": rulebook.version},
    )


def _only(ev: Evaluation, i: int) -> Evaluation:
    """The rows of subject ``i``, renumbered as subject 0."""
    sel = ev.cols["pos"] == i
    cols = {k: v[sel] for k, v in ev.cols.items()}
    cols["pos"] = np.zeros(int(sel.sum()), dtype=np.int64)
    return Evaluation(area=ev.area[i : i + 1], cols=cols)
