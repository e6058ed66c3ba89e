"""check_many answers each item exactly as check_transformation does alone."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from spatial.errors import CRSError, InputError, ValidationError
from spatial.zoning import Proposal, check_transformation
from spatial.zoning.many import check_many

from .conftest import CRS, TWO_ZONES, box, hazard, layers, restriction
from .test_properties import CATEGORIES, USES, parcel_geometries

RULEBOOK_LAYERS = dict(
    zones=TWO_ZONES,
    hazard_zones=[hazard("H1", "mudflow", "high", box(50, 0, 150, 40))],
    restrictions=[restriction("R1", "road_corridor", box(0, 90, 200, 100))],
)


@pytest.fixture(scope="module")
def many_layers(rulebook):
    return layers(rulebook, **RULEBOOK_LAYERS)


def same(answer, alone) -> None:
    assert answer.to_dict() == alone.to_dict()
    assert answer.remainder.equals(alone.remainder) or (
        answer.remainder.is_empty and alone.remainder.is_empty)


def parcel_row(key: str, geometry, category: str | None, use: str | None) -> pd.Series:
    return pd.Series({"cadastral_no": key, "land_category": category,
                      "designated_use": use, "geometry": geometry})


def test_mixed_items_each_get_their_own_answer_or_error(many_layers, rulebook):
    one_row = gpd.GeoDataFrame({"cadastral_no": ["P-3"], "land_category": ["agricultural"],
                                "designated_use": ["agriculture"]},
                               geometry=[box(120, 10, 180, 60)], crs=CRS)
    items = [
        (box(40, 20, 160, 120), Proposal(target_use="individual_housing",
                                         current_category="settlement")),
        (parcel_row("P-1", box(10, 10, 30, 30), "settlement", "individual_housing"),
         Proposal()),
        (parcel_row("P-2", box(60, 10, 90, 95), "agricultural", "agriculture"),
         Proposal(target_category="settlement", target_use="commerce", floors=3)),
        (box(0, 0, 10, 10), Proposal(target_use="housing")),  # unknown use
        (one_row, Proposal(target_use="school", height_m=30.0, site_coverage=55.0)),
        (shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)]), Proposal()),  # bow-tie
        ("not a geometry", Proposal()),
        (one_row.to_crs(4326), Proposal()),  # another CRS
    ]
    answers = check_many(items, many_layers, rulebook)
    assert len(answers) == len(items)
    for (subject, proposal), answer in zip(items, answers, strict=True):
        try:
            alone = check_transformation(subject, proposal, many_layers, rulebook)
        except (ValidationError, InputError, CRSError) as exc:
            assert type(answer) is type(exc)
            assert str(answer) == str(exc)
            if isinstance(exc, ValidationError):
                assert answer.problems == exc.problems
            continue
        same(answer, alone)


def test_no_items(many_layers, rulebook):
    assert check_many([], many_layers, rulebook) == []


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(parcel_geometries(), st.sampled_from([None, *USES]),
                          st.sampled_from([None, *CATEGORIES]),
                          st.sampled_from(CATEGORIES)), min_size=1, max_size=6))
def test_many_equals_one_by_one(rulebook, drawn):
    constraint = layers(rulebook, **RULEBOOK_LAYERS)
    items = [(geom, Proposal(target_use=use, target_category=target, current_category=current))
             for geom, use, target, current in drawn]
    for (subject, proposal), answer in zip(items, check_many(items, constraint, rulebook),
                                           strict=True):
        same(answer, check_transformation(subject, proposal, constraint, rulebook))
