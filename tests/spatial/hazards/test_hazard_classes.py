"""Threshold sets from the rulebook, classification, and polygons per class."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import shapely
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pyproj import CRS

from spatial.errors import RulebookError, ValidationError
from spatial.hazards import (
    UNCLASSIFIED,
    ThresholdSet,
    classify,
    parse_hazard_thresholds,
    polygonize_classes,
)
from spatial.schema import layer_schema

SLOPE = [("low", 0.0, 15.0), ("medium", 15.0, 30.0), ("high", 30.0, math.inf)]

SECTION: dict[str, Any] = {
    "slope_landslide": {
        "hazard_type": "landslide",
        "unit": "degrees",
        "source": "default, to be set locally",
        "classes": [
            {"class": "low", "min": 0, "max": 15},
            {"class": "medium", "min": 15, "max": 30},
            {"class": "high", "min": 30, "max": None},
        ],
    },
    "flood_depth": {
        "hazard_type": "flood",
        "unit": "m",
        "source": "default, to be set locally",
        "description": "depth of a modelled 1-in-100-year flood",
        "classes": [
            {"class": "low", "min": 0.05, "max": 0.5},
            {"class": "medium", "min": 0.5, "max": 1.5},
            {"class": "high", "min": 1.5, "max": None},
        ],
    },
}


# ----------------------------------------------------------------------------- thresholds


def test_parse_valid_section() -> None:
    sets = parse_hazard_thresholds(SECTION)
    slope = sets["slope_landslide"]
    assert isinstance(slope, ThresholdSet)
    assert slope.hazard_type == "landslide" and slope.unit == "degrees"
    assert slope.classes == (("low", 0.0, 15.0), ("medium", 15.0, 30.0), ("high", 30.0, math.inf))
    assert sets["flood_depth"].description == "depth of a modelled 1-in-100-year flood"


def test_parse_collects_every_problem_at_once() -> None:
    bad: dict[str, Any] = {
        "slope_landslide": {
            "hazard_type": "landslides",  # unknown code
            "unit": "degrees",
            "colour": "red",  # unknown key
            "classes": [
                {"class": "low", "min": 0, "max": 20},
                {"class": "medium", "min": 15, "max": 30},  # overlaps low
                {"class": "severe", "min": 30, "max": None},  # unknown class
                {"class": "high", "min": 50, "max": 40},  # inverted
                {"class": "high", "min": "steep", "max": 90},  # not a number
            ],
        },
        "flood_depth": "deep",
    }
    with pytest.raises(RulebookError) as info:
        parse_hazard_thresholds(bad)
    found = {(p.code, p.feature, p.column) for p in info.value.problems}
    assert ("unknown_code", "hazard_thresholds.slope_landslide", "hazard_type") in found
    assert ("unknown_key", "hazard_thresholds.slope_landslide", "colour") in found
    assert ("missing_value", "hazard_thresholds.slope_landslide", "source") in found
    assert ("overlapping_classes", "hazard_thresholds.slope_landslide.classes[1]", "min") in found
    assert ("unknown_code", "hazard_thresholds.slope_landslide.classes[2]", "class") in found
    assert ("invalid_interval", "hazard_thresholds.slope_landslide.classes[3]", "max") in found
    assert ("invalid_number", "hazard_thresholds.slope_landslide.classes[4]", "min") in found
    assert ("invalid_set", "hazard_thresholds.flood_depth", None) in found
    assert all(p.layer == "rulebook" for p in info.value.problems)


def test_parse_rejects_duplicate_class() -> None:
    section = {
        "s": {
            "hazard_type": "rockfall",
            "unit": "degrees",
            "source": "x",
            "classes": [
                {"class": "high", "min": 30, "max": 40},
                {"class": "high", "min": 40, "max": None},
            ],
        }
    }
    with pytest.raises(RulebookError, match="appears 2 times"):
        parse_hazard_thresholds(section)


# ----------------------------------------------------------------------------- classify


def test_classify_half_open_intervals_nan_and_gaps() -> None:
    values = np.array([[0.0, 14.999, 15.0, 29.9], [30.0, 89.0, np.nan, -1.0]])
    classes = classify(values, SLOPE)
    assert classes.tolist() == [["low", "low", "medium", "medium"], ["high", "high", "", ""]]
    gapped = classify(np.array([0.2, 0.7, 2.0]), [("low", 0.0, 0.5), ("high", 1.0, math.inf)])
    assert gapped.tolist() == ["low", UNCLASSIFIED, "high"]


def test_classify_accepts_a_threshold_set() -> None:
    flood = parse_hazard_thresholds(SECTION)["flood_depth"]
    depth = np.array([0.0, 0.1, 0.5, 2.0])
    assert classify(depth, flood).tolist() == ["", "low", "medium", "high"]


def test_classify_refuses_overlapping_or_inverted_thresholds() -> None:
    with pytest.raises(ValidationError) as info:
        classify(np.zeros(3), [("low", 0, 20), ("medium", 15, 30), ("high", 40, 35)])
    assert {p.code for p in info.value.problems} == {"overlapping_classes", "invalid_interval"}
    with pytest.raises(ValidationError):
        classify(np.zeros(3), [])


# ----------------------------------------------------------------------------- polygons

UTM = CRS.from_epsg(32642)
TRANSFORM = Affine(10.0, 0, 600_000.0, 0, -20.0, 4_410_000.0)  # 10 m × 20 m cells
CELL_AREA = 200.0


def test_polygon_area_per_class_equals_cell_count_times_cell_area() -> None:
    classes = np.array(
        [
            ["high", "high", "low", "low", ""],
            ["high", "medium", "low", "", "high"],
            ["", "medium", "medium", "low", "high"],
        ]
    )
    zones = polygonize_classes(classes, TRANSFORM, UTM, hazard_type="landslide", source="test")
    assert list(zones.columns) == [*layer_schema("hazard_zones").all_columns, "geometry"]
    assert zones["hazard_class"].tolist() == ["high", "medium", "low"]
    assert zones["hazard_id"].tolist() == ["landslide-high", "landslide-medium", "landslide-low"]
    assert (zones["hazard_type"] == "landslide").all() and (zones["source"] == "test").all()
    assert zones.crs == UTM
    assert zones.geometry.is_valid.all()
    for cls, area in zip(zones["hazard_class"], zones.geometry.area, strict=True):
        assert area == pytest.approx(np.count_nonzero(classes == cls) * CELL_AREA, rel=1e-12)
    # Dissolved: one row per class, the two separate high patches in one MultiPolygon.
    high = zones.geometry.iloc[0]
    assert high.geom_type == "MultiPolygon" and len(high.geoms) == 2
    assert shapely.union_all(zones.geometry.to_numpy()).area == pytest.approx(12 * CELL_AREA)


@settings(max_examples=40, deadline=None)
@given(arrays(np.int8, st.tuples(st.integers(1, 8), st.integers(1, 8)), elements=st.integers(0, 3)))
def test_polygon_areas_match_cell_counts_for_any_class_array(codes: np.ndarray) -> None:
    names = np.array(["", "low", "medium", "high"])
    classes = names[codes]
    zones = polygonize_classes(classes, TRANSFORM, UTM, hazard_type="flood")
    assert zones.geometry.is_valid.all()
    got = dict(zip(zones["hazard_class"], zones.geometry.area, strict=True))
    for cls in ("low", "medium", "high"):
        count = int(np.count_nonzero(classes == cls))
        assert got.get(cls, 0.0) == pytest.approx(count * CELL_AREA, rel=1e-12)


def test_min_area_drops_small_patches() -> None:
    classes = np.array(
        [
            ["high", "", "low", "low"],
            ["", "", "low", "low"],
            ["high", "high", "", ""],
        ]
    )
    zones = polygonize_classes(classes, TRANSFORM, UTM, hazard_type="landslide", min_area_m2=400.0)
    got = dict(zip(zones["hazard_class"], zones.geometry.area, strict=True))
    # The single high cell (200 m²) goes; the 2-cell high patch (400 m²) and the 4-cell low stay.
    assert got == {"high": pytest.approx(400.0), "low": pytest.approx(800.0)}


def test_min_area_on_a_geographic_grid_is_in_square_metres() -> None:
    step = 1 / 240  # 15 arc-seconds, ~356 m × 463 m at 39.8° N
    transform = Affine(step, 0, 69.5, 0, -step, 39.9)
    classes = np.array([["high", "", "low", "low"]])
    zones = polygonize_classes(
        classes, transform, CRS.from_epsg(4326), hazard_type="landslide", min_area_m2=200_000.0
    )
    assert zones["hazard_class"].tolist() == ["low"]  # one cell ~165 000 m², two ~330 000 m²


def test_empty_and_invalid_class_arrays() -> None:
    empty = polygonize_classes(np.full((2, 2), ""), TRANSFORM, UTM, hazard_type="flood")
    assert empty.empty and list(empty.columns) == [
        *layer_schema("hazard_zones").all_columns,
        "geometry",
    ]
    with pytest.raises(ValidationError) as info:
        polygonize_classes(np.array([["extreme"]]), TRANSFORM, UTM, hazard_type="tsunami")
    assert {p.column for p in info.value.problems} == {"hazard_type", "hazard_class"}
