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
    subject: BaseGeometry, reasons: Sequence[Reason], layers: ConstraintLayers
) -> np.ndarray:
    """The part of ``subject`` each reason applies to, aligned with ``reasons``.

    Parameters
    ----------
    subject
        The checked parcel or drawn polygon, in the layers' CRS.
    reasons
        Reasons and notes of a check of ``subject`` against ``layers``.
    layers
        The constraint layers the check used; reasons name their features by id.

    Returns
    -------
    numpy.ndarray
        One geometry per reason (object array): the intersection of ``subject`` with the
        reason's feature; for the note on the part outside every zone, ``subject`` minus
        the zones; ``None`` for reasons without a layer (category change and fit) and
        for features no longer in ``layers``.
    """
    n = len(reasons)
    out = np.full(n, None, dtype=object)
    if n == 0:
        return out
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
        out[hit] = shapely.intersection(subject, features[hit])
    outside = np.flatnonzero((layer == "zones") & pd.isna(feature_id))
    if outside.size:
        zones = layers.layer("zones")
        _, candidates = zones.query(np.array([subject], dtype=object))
        zoned = shapely.union_all(zones.geoms[candidates]) if candidates.size else None
        out[outside] = subject if zoned is None else shapely.difference(subject, zoned)
    return out
