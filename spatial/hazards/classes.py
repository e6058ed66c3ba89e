"""Hazard classes: rulebook thresholds, classification of a raster, polygons per class.

Which slope makes a hillside "high" landslide susceptibility, or which flood depth makes
a street "high" hazard, is a norm, not code: it comes from the rulebook's
``hazard_thresholds`` section, each set with a ``source``. The shape of that section
(documented in ``docs/hazards.md``) is::

    hazard_thresholds:
      slope_landslide:
        hazard_type: landslide
        unit: degrees
        source: "default, to be set locally (screening practice: >30° steep)"
        classes:
          - {class: low, min: 0, max: 15}
          - {class: medium, min: 15, max: 30}
          - {class: high, min: 30, max: null}    # null = no upper limit

Intervals are half-open, ``min <= value < max``; cells in no interval (gaps, NaN) stay
unclassified. :func:`parse_hazard_thresholds` validates that mapping without depending
on the rulebook loader, so the hazard functions take the thresholds as plain arguments.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
from affine import Affine
from pyproj import CRS

from ..crs import choose_projected_crs
from ..errors import Problem, RulebookError, ValidationError, raise_if_problems
from ..schema import codes, layer_schema

__all__ = [
    "UNCLASSIFIED",
    "Threshold",
    "ThresholdSet",
    "classify",
    "parse_hazard_thresholds",
    "polygonize_classes",
]

#: Class value of cells that fall in no threshold interval (or are nodata).
UNCLASSIFIED = ""

#: ``(class, min, max)``: ``min <= value < max``.
Threshold = tuple[str, float, float]

_SET_KEYS = {"hazard_type", "unit", "source", "classes", "description"}
_CLASS_KEYS = {"class", "min", "max"}


@dataclass(frozen=True, slots=True)
class ThresholdSet:
    """One validated entry of the rulebook's ``hazard_thresholds`` section.

    Parameters
    ----------
    name
        Key of the set, e.g. ``"slope_landslide"`` or ``"flood_depth"``.
    hazard_type
        The ``hazard_type`` code the classes describe.
    unit
        Unit of the classified quantity (``degrees``, ``m``), shown beside the classes.
    source
        Where the thresholds come from; written into the ``source`` of derived zones.
    classes
        ``(class, min, max)`` intervals, ``min <= value < max`` (``max`` may be ``inf``).
    description
        Optional free text.
    """

    name: str
    hazard_type: str
    unit: str
    source: str
    classes: tuple[Threshold, ...]
    description: str | None = None


def _as_bound(value: Any, default: float) -> float | None:
    if value is None:
        return default
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _interval_problems(
    classes: Sequence[Threshold], *, where: str, layer: str | None
) -> list[Problem]:
    """Problems of a list of intervals: empty, inverted, NaN or overlapping."""
    problems: list[Problem] = []
    if not classes:
        problems.append(
            Problem(
                "no_classes", "a threshold set needs at least one class", layer=layer, feature=where
            )
        )
        return problems
    for index, (cls, low, high) in enumerate(classes):
        if not isinstance(cls, str) or cls == UNCLASSIFIED:
            problems.append(
                Problem(
                    "invalid_class",
                    f"class name must be a non-empty string, got {cls!r}",
                    layer=layer,
                    feature=f"{where}[{index}]",
                    column="class",
                )
            )
        if math.isnan(low) or math.isnan(high) or not low < high:
            problems.append(
                Problem(
                    "invalid_interval",
                    f"class {cls!r} needs min < max, got min={low}, max={high}",
                    layer=layer,
                    feature=f"{where}[{index}]",
                    column="max",
                    details={"min": low, "max": high},
                )
            )
    ordered = sorted(
        (t for t in enumerate(classes) if t[1][1] < t[1][2]), key=lambda item: item[1][1]
    )
    for (i, (cls_a, _, high_a)), (j, (cls_b, low_b, _)) in itertools.pairwise(ordered):
        if low_b < high_a:
            problems.append(
                Problem(
                    "overlapping_classes",
                    f"class {cls_b!r} (from {low_b}) overlaps class {cls_a!r} (up to {high_a}); "
                    "a value must fall in one class only",
                    layer=layer,
                    feature=f"{where}[{j}]",
                    column="min",
                    details={"other": f"{where}[{i}]"},
                )
            )
    names = [c[0] for c in classes]
    for cls in sorted({n for n in names if names.count(n) > 1}):
        problems.append(
            Problem(
                "duplicate_class",
                f"class {cls!r} appears {names.count(cls)} times; give each class one interval",
                layer=layer,
                feature=where,
                column="class",
            )
        )
    return problems


def parse_hazard_thresholds(section: Mapping[str, Any]) -> dict[str, ThresholdSet]:
    """Validate the rulebook's ``hazard_thresholds`` mapping into :class:`ThresholdSet` objects.

    Every problem (unknown key, unknown hazard type or class code, missing ``source``,
    inverted or overlapping interval) is collected and raised once as a
    :class:`~spatial.errors.RulebookError`, located as ``hazard_thresholds.<set>…``.
    """
    problems: list[Problem] = []
    sets: dict[str, ThresholdSet] = {}
    layer = "rulebook"
    if not isinstance(section, Mapping):
        raise RulebookError(
            [
                Problem(
                    "invalid_section",
                    "hazard_thresholds must be a mapping of named sets",
                    layer=layer,
                )
            ]
        )
    hazard_types = set(codes("hazard_type"))
    hazard_classes = set(codes("hazard_class"))
    for name, spec in section.items():
        where = f"hazard_thresholds.{name}"
        if not isinstance(spec, Mapping):
            problems.append(
                Problem(
                    "invalid_set", "a threshold set must be a mapping", layer=layer, feature=where
                )
            )
            continue
        for key in sorted(set(spec) - _SET_KEYS):
            problems.append(
                Problem(
                    "unknown_key",
                    f"unknown key {key!r}; allowed: {', '.join(sorted(_SET_KEYS))}",
                    layer=layer,
                    feature=where,
                    column=str(key),
                )
            )
        for key in ("hazard_type", "unit", "source"):
            value = spec.get(key)
            if not isinstance(value, str) or not value.strip():
                problems.append(
                    Problem(
                        "missing_value",
                        f"{key} is required and must be text",
                        layer=layer,
                        feature=where,
                        column=key,
                    )
                )
        hazard_type = spec.get("hazard_type")
        if isinstance(hazard_type, str) and hazard_type.strip() and hazard_type not in hazard_types:
            problems.append(
                Problem(
                    "unknown_code",
                    f"unknown hazard_type {hazard_type!r}; "
                    f"known: {', '.join(codes('hazard_type'))}",
                    layer=layer,
                    feature=where,
                    column="hazard_type",
                )
            )
        raw_classes = spec.get("classes")
        if not isinstance(raw_classes, Sequence) or isinstance(raw_classes, str):
            problems.append(
                Problem(
                    "missing_value",
                    "classes must be a list of {class, min, max}",
                    layer=layer,
                    feature=where,
                    column="classes",
                )
            )
            continue
        parsed: list[Threshold] = []
        set_ok = True
        for index, item in enumerate(raw_classes):
            item_where = f"{where}.classes[{index}]"
            if not isinstance(item, Mapping):
                problems.append(
                    Problem(
                        "invalid_class",
                        "a class must be a mapping {class, min, max}",
                        layer=layer,
                        feature=item_where,
                    )
                )
                set_ok = False
                continue
            for key in sorted(set(item) - _CLASS_KEYS):
                problems.append(
                    Problem(
                        "unknown_key",
                        f"unknown key {key!r}; allowed: class, min, max",
                        layer=layer,
                        feature=item_where,
                        column=str(key),
                    )
                )
            cls = item.get("class")
            if cls not in hazard_classes:
                problems.append(
                    Problem(
                        "unknown_code",
                        f"unknown hazard class {cls!r}; known: {', '.join(codes('hazard_class'))}",
                        layer=layer,
                        feature=item_where,
                        column="class",
                    )
                )
                set_ok = False
            low = _as_bound(item.get("min"), -math.inf)
            high = _as_bound(item.get("max"), math.inf)
            for key, bound in (("min", low), ("max", high)):
                if bound is None:
                    problems.append(
                        Problem(
                            "invalid_number",
                            f"{key} must be a number or null, got {item.get(key)!r}",
                            layer=layer,
                            feature=item_where,
                            column=key,
                        )
                    )
                    set_ok = False
            if low is not None and high is not None and isinstance(cls, str):
                parsed.append((cls, low, high))
        interval_problems = _interval_problems(parsed, where=f"{where}.classes", layer=layer)
        problems.extend(p for p in interval_problems if p.code != "invalid_class")
        if (
            set_ok
            and not interval_problems
            and isinstance(hazard_type, str)
            and hazard_type in hazard_types
        ):
            sets[str(name)] = ThresholdSet(
                name=str(name),
                hazard_type=hazard_type,
                unit=str(spec.get("unit")),
                source=str(spec.get("source")),
                classes=tuple(parsed),
                description=spec.get("description"),
            )
    raise_if_problems(problems, error=RulebookError)
    return sets


def _threshold_tuples(thresholds: Sequence[Threshold] | ThresholdSet) -> tuple[Threshold, ...]:
    if isinstance(thresholds, ThresholdSet):
        return thresholds.classes
    return tuple((str(c), float(lo), float(hi)) for c, lo, hi in thresholds)


def classify(array: np.ndarray, thresholds: Sequence[Threshold] | ThresholdSet) -> np.ndarray:
    """Class name of every cell by ``(class, min, max)`` intervals, ``min <= value < max``.

    Parameters
    ----------
    array
        Values to classify (slope in degrees, flood depth in metres, …); NaN is nodata.
    thresholds
        Intervals from the rulebook (a :class:`ThresholdSet` or plain tuples); ``max``
        may be ``inf``. Overlapping intervals are refused: a cell must have one class.

    Returns
    -------
    numpy.ndarray
        Unicode array of class names, :data:`UNCLASSIFIED` (``""``) where a value is in
        no interval or is NaN. A string array keeps the class codes readable all the way
        to the ``hazard_class`` column (about 24 bytes a cell for ``"medium"``).
    """
    intervals = _threshold_tuples(thresholds)
    raise_if_problems(_interval_problems(intervals, where="thresholds", layer=None))
    values = np.asarray(array, dtype=np.float64)
    width = max(len(c) for c, _, _ in intervals)
    out = np.full(values.shape, UNCLASSIFIED, dtype=f"<U{width}")
    with np.errstate(invalid="ignore"):
        for cls, low, high in intervals:  # one pass per class, a handful at most
            out[(values >= low) & (values < high)] = cls
    return out


def _area_m2(frame: gpd.GeoDataFrame) -> np.ndarray:
    """Areas in square metres; geographic frames are measured in their local UTM zone."""
    crs = CRS.from_user_input(frame.crs)
    if crs.is_projected:
        factor = float(crs.axis_info[0].unit_conversion_factor) if crs.axis_info else 1.0
        return np.asarray(frame.geometry.area, dtype=np.float64) * factor**2
    if frame.empty:
        return np.zeros(0)
    return np.asarray(frame.to_crs(choose_projected_crs(frame)).geometry.area, dtype=np.float64)


def _class_order(names: Sequence[str]) -> list[str]:
    rank = {c: i for i, c in enumerate(codes("hazard_class"))}
    return sorted(names, key=lambda c: (rank.get(c, len(rank)), c))


def polygonize_classes(
    class_array: np.ndarray,
    transform: Affine,
    crs: Any,
    *,
    hazard_type: str,
    min_area_m2: float = 0.0,
    name: str | None = None,
    source: str | None = None,
    id_prefix: str | None = None,
) -> gpd.GeoDataFrame:
    """Hazard-zone polygons from a class array, one (multi)polygon per class.

    Parameters
    ----------
    class_array
        Class names per cell, as from :func:`classify`; ``""`` cells are left out.
    transform, crs
        Georeferencing of the array.
    hazard_type
        ``hazard_type`` code of every output row.
    min_area_m2
        Connected patches (4-neighbour) of a class smaller than this are dropped
        before dissolving: single-cell speckles make an unreadable map. Dropped cells
        are left unclassified, not merged into a neighbouring class.
    name, source
        Written to every row; ``source`` should say which data and thresholds.
    id_prefix
        Prefix of the generated ``hazard_id`` (``"<prefix>-<class>"``); defaults to
        ``hazard_type``.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns of the ``hazard_zones`` layer, in ``crs``, ordered high → low.
    """
    problems: list[Problem] = []
    if hazard_type not in codes("hazard_type"):
        problems.append(
            Problem(
                "unknown_code",
                f"unknown hazard_type {hazard_type!r}; known: {', '.join(codes('hazard_type'))}",
                layer="hazard_zones",
                column="hazard_type",
            )
        )
    classes = np.asarray(class_array)
    if classes.ndim != 2:
        problems.append(
            Problem("invalid_array", f"class array must be 2-D, got shape {classes.shape}")
        )
        raise ValidationError(problems)
    names, inverse = np.unique(classes, return_inverse=True)
    known = set(codes("hazard_class"))
    for bad in sorted(str(n) for n in names if n != UNCLASSIFIED and n not in known):
        problems.append(
            Problem(
                "unknown_code",
                f"class {bad!r} is not a hazard_class code ({', '.join(codes('hazard_class'))})",
                layer="hazard_zones",
                column="hazard_class",
            )
        )
    raise_if_problems(problems)
    columns = list(layer_schema("hazard_zones").all_columns)
    crs_obj = CRS.from_user_input(crs)
    valid = classes != UNCLASSIFIED
    if not valid.any():
        return gpd.GeoDataFrame(
            {c: pd.Series(dtype="object") for c in columns}, geometry=[], crs=crs_obj
        )
    codes_array = inverse.reshape(classes.shape).astype(np.int32)
    features = (
        {"type": "Feature", "geometry": geom, "properties": {"code": int(value)}}
        for geom, value in rasterio.features.shapes(
            codes_array, mask=valid, transform=transform, connectivity=4
        )
    )
    patches = gpd.GeoDataFrame.from_features(features, crs=crs_obj)
    if min_area_m2 > 0:
        patches = patches[_area_m2(patches) >= float(min_area_m2)]
    if patches.empty:
        return gpd.GeoDataFrame(
            {c: pd.Series(dtype="object") for c in columns}, geometry=[], crs=crs_obj
        )
    dissolved = patches.dissolve(by="code", as_index=False)
    dissolved["hazard_class"] = names[dissolved["code"].to_numpy()].astype(str)
    order = _class_order(list(dissolved["hazard_class"]))
    dissolved = dissolved.set_index("hazard_class").loc[order].reset_index()
    prefix = id_prefix or hazard_type
    result = gpd.GeoDataFrame(
        {
            "hazard_id": (f"{prefix}-" + dissolved["hazard_class"]).to_numpy(),
            "hazard_type": hazard_type,
            "hazard_class": dissolved["hazard_class"].to_numpy(),
            "name": name,
            "source": source,
        },
        geometry=shapely.make_valid(dissolved.geometry.to_numpy()),
        crs=crs_obj,
    )
    return result[[*columns, "geometry"]]
