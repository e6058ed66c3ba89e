"""Assembling domain inputs from a workspace, shared by the CLI and the web routers.

The domain functions take explicit GeoDataFrames and a rulebook; this module is the one
place that knows which workspace layers feed them, so the CLI, the API and the report
compute the same numbers from the same inputs.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from spatial.store import Workspace
from spatial.zoning import ConstraintLayers, Rulebook, load_rulebook

#: Workspace layers the constraint engine reads.
CONSTRAINT_LAYERS = (
    "zones", "protected_areas", "water_bodies", "forest_fund", "hazard_zones", "restrictions",
)
#: Columns the store adds that are not part of a layer's input data.
STORE_COLUMNS = ["fid", "area_ha", "row_version", "updated_at", "updated_by"]


def resolve_rulebook(path: str | Path | None, workspace: Workspace | None = None) -> Rulebook:
    """The rulebook given, else the one recorded in the workspace, else the shipped default."""
    if path is None and workspace is not None:
        path = workspace.metadata().get("rulebook") or None
    return load_rulebook(Path(path) if path else None)


def read_layers(
    workspace: Workspace, names: tuple[str, ...] | list[str]
) -> dict[str, gpd.GeoDataFrame]:
    """Layers present in the workspace, without personal columns or store bookkeeping."""
    present = set(workspace.layers())
    return {
        name: workspace.read_layer(name, include_personal=False).drop(
            columns=STORE_COLUMNS, errors="ignore"
        )
        for name in names
        if name in present
    }


def constraint_layers(workspace: Workspace, rulebook: Rulebook) -> ConstraintLayers:
    """Validated, indexed constraint layers of a workspace in its CRS."""
    frames = read_layers(workspace, CONSTRAINT_LAYERS)
    return ConstraintLayers.from_frames(rulebook=rulebook, crs=workspace.crs, **frames)


def read_parcels(workspace: Workspace, cadastral_nos: list[str] | None = None) -> gpd.GeoDataFrame:
    """Parcels (all, or the given cadastral numbers) without personal columns."""
    parcels = workspace.read_layer("parcels", include_personal=False)
    if cadastral_nos:
        parcels = parcels[parcels["cadastral_no"].isin(cadastral_nos)]
    return parcels.reset_index(drop=True)
