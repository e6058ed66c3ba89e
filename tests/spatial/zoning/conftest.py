"""Tiny synthetic layers in EPSG:32642 with integer-coordinate squares, so areas are exact."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pytest
import shapely

from spatial.zoning import ConstraintLayers, Rulebook, load_rulebook

CRS = 32642


def frame(rows: list[dict[str, Any]], crs: int = CRS) -> gpd.GeoDataFrame:
    """A GeoDataFrame from dicts with a ``geometry`` key."""
    geoms = [r["geometry"] for r in rows]
    data = [{k: v for k, v in r.items() if k != "geometry"} for r in rows]
    return gpd.GeoDataFrame(data, geometry=geoms, crs=crs)


def box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return shapely.box(x0, y0, x1, y1)


def zone(zone_id: str, zone_type: str, geometry: Any, name: str | None = None) -> dict:
    return {"zone_id": zone_id, "zone_type": zone_type, "name": name or zone_id,
            "geometry": geometry}


def hazard(hazard_id: str, hazard_type: str, hazard_class: str, geometry: Any) -> dict:
    return {"hazard_id": hazard_id, "hazard_type": hazard_type, "hazard_class": hazard_class,
            "name": f"{hazard_type} {hazard_class}", "geometry": geometry}


def restriction(restriction_id: str, restriction_type: str, geometry: Any) -> dict:
    return {"restriction_id": restriction_id, "restriction_type": restriction_type,
            "name": restriction_id, "geometry": geometry}


def protected(area_id: str, pa_type: str, subzone: str, geometry: Any) -> dict:
    return {"area_id": area_id, "name": f"PA {area_id}", "pa_type": pa_type,
            "subzone": subzone, "geometry": geometry}


def layers(rulebook: Rulebook, **layer_rows: list[dict]) -> ConstraintLayers:
    """ConstraintLayers from row lists per layer name (``zones=[zone(...)]`` …)."""
    return ConstraintLayers.from_frames(
        rulebook=rulebook, crs=CRS, **{k: frame(v) for k, v in layer_rows.items() if v}
    )


#: Two adjacent zones: Z1 individual housing (0..100), Z2 agricultural (100..200).
TWO_ZONES = [
    zone("Z1", "residential_individual", box(0, 0, 100, 100), "Kyzyl-Kyshtak"),
    zone("Z2", "agricultural", box(100, 0, 200, 100), "Fields"),
]


@pytest.fixture(scope="session")
def rulebook() -> Rulebook:
    return load_rulebook()


@pytest.fixture(scope="session")
def two_zones(rulebook: Rulebook) -> ConstraintLayers:
    return layers(rulebook, zones=TWO_ZONES)
