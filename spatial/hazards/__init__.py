"""Natural hazards: rasters, slope, classes, hazard zones, exposure and relocation lists.

Rasters are opened in one place (:mod:`spatial.hazards.raster`); everything else works on
in-memory :class:`~spatial.hazards.raster.RasterGrid` objects and GeoDataFrames, so the
CLI and the web app pass explicit data and thresholds (from the rulebook's
``hazard_thresholds`` section). See ``docs/hazards.md``.
"""

from .classes import (
    UNCLASSIFIED,
    Threshold,
    ThresholdSet,
    classify,
    parse_hazard_thresholds,
    polygonize_classes,
)
from .derive import (
    derive_from_workspace,
    derive_hazard_zones_from_dem,
    derive_hazard_zones_from_raster,
)
from .exposure import (
    ExposureSummary,
    RelocationCandidates,
    disjoint_hazard_zones,
    hazard_exposure,
    relocation_candidates,
)
from .gebco import GEBCO_CREDIT, GEBCO_DOI, ISFANA_BBOX_LONLAT, demo_terrain, gebco_dem_path
from .raster import BBox, RasterGrid, open_raster
from .terrain import cell_sizes_m, slope_degrees
from .zonal import ZONAL_STATS, zonal_stats

__all__ = [
    "GEBCO_CREDIT",
    "GEBCO_DOI",
    "ISFANA_BBOX_LONLAT",
    "UNCLASSIFIED",
    "ZONAL_STATS",
    "BBox",
    "ExposureSummary",
    "RasterGrid",
    "RelocationCandidates",
    "Threshold",
    "ThresholdSet",
    "cell_sizes_m",
    "classify",
    "demo_terrain",
    "derive_from_workspace",
    "derive_hazard_zones_from_dem",
    "derive_hazard_zones_from_raster",
    "disjoint_hazard_zones",
    "gebco_dem_path",
    "hazard_exposure",
    "open_raster",
    "parse_hazard_thresholds",
    "polygonize_classes",
    "relocation_candidates",
    "slope_degrees",
    "zonal_stats",
]
