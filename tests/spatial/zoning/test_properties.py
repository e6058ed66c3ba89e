"""Invariants of the constraint check, over random parcels and layers (hypothesis)."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spatial.zoning import Proposal, check_parcels, check_transformation, load_rulebook

from .conftest import box, hazard, layers, restriction, zone

RULEBOOK = load_rulebook()
VERDICT_RANK = {"allowed": 0, "conditional": 1, "prohibited": 2}
ZONE_TYPES = sorted(RULEBOOK.zone_types)
USES = sorted(RULEBOOK.uses)
CATEGORIES = list(RULEBOOK.categories)
HAZARDS = [(t, c) for t in ("mudflow", "flood", "landslide", "seismic")
           for c in ("high", "medium", "low")]
RESTRICTIONS = ["border_zone", "sanitary_zone", "road_corridor", "power_line_corridor"]

settings.register_profile(
    "zoning", max_examples=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@st.composite
def squares(draw, lo: int = 0, hi: int = 200, max_size: int = 120) -> shapely.Polygon:
    x = draw(st.integers(lo, hi - 1))
    y = draw(st.integers(lo, hi - 1))
    w = draw(st.integers(1, max_size))
    h = draw(st.integers(1, max_size))
    return box(x, y, x + w, y + h)


@st.composite
def parcel_geometries(draw) -> shapely.Geometry:
    parts = draw(st.lists(squares(max_size=60), min_size=1, max_size=3))
    geom = shapely.union_all(parts)
    return geom


@st.composite
def constraint_rows(draw):
    zones = [
        zone(f"Z{i}", draw(st.sampled_from(ZONE_TYPES)), g)
        for i, g in enumerate(draw(st.lists(squares(), max_size=4)))
    ]
    hazards = [
        hazard(f"H{i}", kind, cls, g)
        for i, ((kind, cls), g) in enumerate(draw(st.lists(
            st.tuples(st.sampled_from(HAZARDS), squares()), max_size=3)))
    ]
    restrictions = [
        restriction(f"R{i}", draw(st.sampled_from(RESTRICTIONS)), g)
        for i, g in enumerate(draw(st.lists(squares(), max_size=3)))
    ]
    return {"zones": zones, "hazard_zones": hazards, "restrictions": restrictions}


proposals = st.builds(
    Proposal,
    target_category=st.none() | st.sampled_from(CATEGORIES),
    target_use=st.none() | st.sampled_from(USES),
    current_category=st.sampled_from(CATEGORIES),
    floors=st.none() | st.integers(1, 12),
)


@settings(settings.get_profile("zoning"))
@given(parcel=parcel_geometries(), rows=constraint_rows(), proposal=proposals)
def test_overlap_never_exceeds_the_parcel(parcel, rows, proposal):
    lay = layers(RULEBOOK, **rows)
    result = check_transformation(parcel, proposal, lay, RULEBOOK)
    for reason in result.reasons + result.notes:
        if reason.overlap_m2 is not None and reason.overlap_share is not None:
            assert 0 < reason.overlap_m2 <= result.area_m2 * (1 + 1e-9)
            assert 0 < reason.overlap_share <= 100 + 1e-9
    assert 0 <= result.remainder_m2 <= result.area_m2 * (1 + 1e-9)


@settings(settings.get_profile("zoning"))
@given(parcel=parcel_geometries(), rows=constraint_rows(), extra=squares(),
       proposal=proposals, kind=st.sampled_from(["mudflow", "power_line_corridor"]))
def test_a_prohibiting_layer_never_makes_a_verdict_more_permissive(
    parcel, rows, extra, proposal, kind
):
    before = check_transformation(parcel, proposal, layers(RULEBOOK, **rows), RULEBOOK)
    more = dict(rows)
    if kind == "mudflow":
        more["hazard_zones"] = [*rows["hazard_zones"], hazard("X", "mudflow", "high", extra)]
    else:
        more["restrictions"] = [*rows["restrictions"], restriction("X", kind, extra)]
    after = check_transformation(parcel, proposal, layers(RULEBOOK, **more), RULEBOOK)
    assert VERDICT_RANK[after.verdict] >= VERDICT_RANK[before.verdict]
    assert after.remainder_m2 <= before.remainder_m2 + 1e-6


@settings(settings.get_profile("zoning"))
@given(geoms=st.lists(parcel_geometries(), min_size=1, max_size=6), rows=constraint_rows(),
       proposal=st.none() | proposals,
       uses=st.lists(st.none() | st.sampled_from(USES), min_size=6, max_size=6),
       cats=st.lists(st.sampled_from(CATEGORIES), min_size=6, max_size=6))
def test_single_check_equals_batch(geoms, rows, proposal, uses, cats):
    lay = layers(RULEBOOK, **rows)
    n = len(geoms)
    parcels = gpd.GeoDataFrame(
        {"cadastral_no": [f"P{i}" for i in range(n)], "land_category": cats[:n],
         "designated_use": pd.Series(uses[:n], dtype=object)},
        geometry=geoms, crs=32642,
    )
    batch = check_parcels(parcels, proposal, lay, RULEBOOK, with_remainder=True)
    for i in range(n):
        single = check_transformation(parcels.iloc[i], proposal or Proposal(), lay, RULEBOOK)
        assert single.verdict == batch.table["verdict"].iloc[i]
        assert list(single.reasons) == batch.reasons_for(parcels.index[i])
        assert list(single.notes) == batch.reasons_for(parcels.index[i], notes=True)
        assert abs(single.remainder_m2 - batch.table["remainder_m2"].iloc[i]) < 1e-6
