"""Where on the parcel each reason of a check applies: the overlap geometries.

A planner testing a request on the map needs to see *which part* of the parcel lies in
the water protection zone or the high mudflow zone, not only how many square metres.
:func:`overlap_geometries` gives, for every reason and note of a
:class:`~spatial.zoning.check.CheckResult`, the intersection of the checked geometry
with the feature that reason names, in one vectorised intersection. The engine measured
the same intersections (``overlap_m2``), so the drawn pieces and the numbers agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from .check import Reason
from .layers import LAYERS, ConstraintLayers

__all__ = ["overlap_geometries", "spatial_reasons"]


def spatial_reasons(reasons: Sequence[Reason]) -> list[Reason]:
    """The reasons tied to a place on the parcel (a layer), in their order.

    Changes of category and the fit of a use to a category are about the whole parcel
    and have no layer; every zoning, building-limit and restriction reason has one.
    """
    return [r for r in reasons if r.layer is not None]


def overlap_geometries(
    subject: BaseGeometry | np.ndarray, reasons: Sequence[Reason], layers: ConstraintLayers
) -> np.ndarray:
    """The part of the subject each reason applies to, aligned with ``reasons``.

    Parameters
    ----------
    subject
        The checked parcel or drawn polygon, in the layers' CRS; or one subject per
        reason (an array), to draw the reasons of several checks in one call.
    reasons
        Reasons and notes of checks of the subject(s) against ``layers``.
    layers
        The constraint layers the check used; reasons name their features by id.

    Returns
    -------
    numpy.ndarray
        One geometry per reason (object array): the intersection of its subject with the
        reason's feature; for the note on the part outside every zone, the subject minus
        the zones; ``None`` for reasons without a layer (category change and fit) and
        for features no longer in ``layers``.
    """
    n = len(reasons)
    out = np.full(n, None, dtype=object)
    if n == 0:
        return out
    if isinstance(subject, BaseGeometry):
        subjects = np.empty(n, dtype=object)
        subjects[:] = [subject] * n
    else:
        subjects = np.asarray(subject, dtype=object)
    layer = np.array([r.layer for r in reasons], dtype=object)
    feature_id = np.array([r.feature_id for r in reasons], dtype=object)
    features = np.full(n, None, dtype=object)
    for name in LAYERS:
        sel = np.flatnonzero((layer == name) & pd.notna(feature_id))
        if not sel.size:
            continue
        index = layers.layer(name)
        at = pd.Index(index.ids).get_indexer(pd.Index(feature_id[sel].astype(str)))
        found = at >= 0
        features[sel[found]] = index.geoms[at[found]]
    hit = np.flatnonzero(pd.notna(features))
    if hit.size:
        out[hit] = shapely.intersection(subjects[hit], features[hit])
    outside = np.flatnonzero((layer == "zones") & pd.isna(feature_id))
    if outside.size:
        out[outside] = _outside_zones(subjects[outside], layers)
    return out


def _outside_zones(subjects: np.ndarray, layers: ConstraintLayers) -> np.ndarray:
    """Each subject minus the zones it overlaps, cut in rounds: round *k* removes each
    subject's *k*-th zone from all subjects at once (a loop over zones per subject, never
    over subjects)."""
    zones = layers.layer("zones")
    pos, feat = zones.query(subjects)
    out = np.array(subjects, dtype=object, copy=True)
    if not len(pos):
        return out
    order = np.argsort(pos, kind="stable")
    pos, feat = pos[order], feat[order]
    starts = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
    rank = np.arange(len(pos)) - np.repeat(starts, np.diff(np.r_[starts, len(pos)]))
    for k in range(int(rank.max()) + 1):
        sel = rank == k
        out[pos[sel]] = shapely.difference(out[pos[sel]], zones.geoms[feat[sel]])
    return out
