"""overlap_geometries: the drawn piece of each reason has the area the engine measured."""

from __future__ import annotations

import math

import pytest
import shapely

from spatial.zoning import Proposal, check_transformation
from spatial.zoning.overlaps import overlap_geometries, spatial_reasons

from .conftest import TWO_ZONES, box, hazard, layers, restriction


@pytest.fixture(scope="module")
def zoned(rulebook):
    return layers(
        rulebook, zones=TWO_ZONES,
        hazard_zones=[hazard("H1", "mudflow", "high", box(50, 0, 150, 40))],
        restrictions=[restriction("R1", "road_corridor", box(0, 90, 200, 100))],
    )


def test_each_reason_gets_the_part_of_the_parcel_it_covers(zoned, rulebook):
    parcel = box(40, 20, 160, 120)  # partly in both zones, the hazard, the road, and outside
    result = check_transformation(
        parcel, Proposal(target_use="individual_housing", current_category="settlement"),
        zoned, rulebook,
    )
    reasons = spatial_reasons([*result.reasons, *result.notes])
    pieces = overlap_geometries(parcel, reasons, zoned)
    assert len(pieces) == len(reasons) >= 4
    by_feature = {(r.layer, r.feature_id): piece for r, piece in zip(reasons, pieces, strict=True)}
    assert by_feature[("zones", "Z1")].equals(box(40, 20, 100, 100))
    assert by_feature[("zones", "Z2")].equals(box(100, 20, 160, 100))
    assert by_feature[("hazard_zones", "H1")].equals(box(50, 20, 150, 40))
    assert by_feature[("restrictions", "R1")].equals(box(40, 90, 160, 100))
    # the part outside every zone is a note without a feature: the parcel minus the zones
    assert by_feature[("zones", None)].equals(box(40, 100, 160, 120))
    for reason, piece in zip(reasons, pieces, strict=True):
        assert math.isclose(shapely.area(piece), reason.overlap_m2, rel_tol=1e-9)
        assert shapely.covers(parcel, piece)


def test_reasons_without_a_place_have_no_geometry(zoned, rulebook):
    parcel = box(10, 10, 30, 30)
    result = check_transformation(
        parcel, Proposal(target_category="industry_transport", current_category="agricultural"),
        zoned, rulebook,
    )
    everything = [*result.reasons, *result.notes]
    assert any(r.layer is None for r in everything)  # the change of category
    pieces = overlap_geometries(parcel, everything, zoned)
    assert [p is None for p in pieces] == [r.layer is None for r in everything]
    assert spatial_reasons(everything) == [r for r in everything if r.layer is not None]


def test_no_reasons_no_geometries(zoned):
    assert overlap_geometries(box(0, 0, 1, 1), [], zoned).shape == (0,)
