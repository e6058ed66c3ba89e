"""The workspace store: one municipality's layers, metadata and parcel history.

Open or create a workspace by URL: a ``.gpkg`` path for the embedded GeoPackage (the
default; one file QGIS opens as it is), or ``postgresql://user:pw@host:port/db?schema=name``
for a PostGIS server shared by several users (schema ``jer`` by default). Both backends
implement :class:`Workspace` identically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

import geopandas as gpd
from pyproj import CRS

from ..crs import choose_projected_crs
from ..errors import InputError, Problem, ValidationError
from ..schema import load_schema
from ..validation import validate_layer
from .base import FORMAT_VERSION, HistoryEntry, ImportReport, Workspace, check_crs, iso_utc, utc_now
from .gpkg import GeoPackageWorkspace

__all__ = [
    "GeoPackageWorkspace",
    "HistoryEntry",
    "ImportReport",
    "PostGISWorkspace",
    "Workspace",
    "create_workspace",
    "is_postgis_url",
    "open_workspace",
]


def is_postgis_url(url: str | os.PathLike[str]) -> bool:
    """Whether ``url`` names a PostGIS workspace rather than a GeoPackage file."""
    return isinstance(url, str) and url.startswith(("postgresql://", "postgres://"))


def open_workspace(url: str | os.PathLike[str]) -> Workspace:
    """Open an existing workspace.

    Raises
    ------
    NotFoundError
        If the file or schema does not exist or is not a Jer workspace.
    StoreError
        If the store cannot be reached (server down, unreadable file).
    """
    if is_postgis_url(url):
        from .postgis import PostGISWorkspace

        return PostGISWorkspace.open(str(url))
    return GeoPackageWorkspace.open(url)


def create_workspace(
    url: str | os.PathLike[str],
    municipality: gpd.GeoDataFrame,
    *,
    crs: CRS | None = None,
    crs_system: Literal["utm", "kyrg06"] = "utm",
    overwrite: bool = False,
    user: str = "system",
    metadata: Mapping[str, str] | None = None,
) -> Workspace:
    """Create a workspace for one municipality, with every schema layer empty.

    The municipality (one row) is validated first; the projected CRS is chosen from its
    centre (``crs_system`` "utm" or "kyrg06") unless given, and recorded by EPSG code.
    Creation is atomic: a failure leaves no workspace behind.

    Raises
    ------
    ValidationError
        If the municipality layer is not one valid boundary.
    ConflictError
        If the workspace exists and ``overwrite`` is false.
    """
    if not isinstance(municipality, gpd.GeoDataFrame):
        raise InputError("the municipality must be a GeoDataFrame with one boundary")
    chosen = CRS.from_user_input(crs) if crs is not None else choose_projected_crs(
        municipality, system=crs_system
    )
    epsg = check_crs(chosen)
    report = validate_layer(municipality, "municipality", crs=chosen)
    problems = list(report.problems)
    if len(municipality) != 1:
        problems.insert(0, Problem(
            code="municipality_rows",
            message=f"the municipality layer must hold exactly one boundary, not "
                    f"{len(municipality)}",
            layer="municipality",
        ))
    if len(municipality) != 1 or not report.ok:
        raise ValidationError(problems)
    values = {
        **{str(k): str(v) for k, v in (metadata or {}).items()},
        "jer_format": FORMAT_VERSION,
        "schema_version": str(load_schema().version),
        "crs": f"EPSG:{epsg}",
        "crs_epsg": str(epsg),
        "crs_name": chosen.name,
        "created_at": iso_utc(utc_now()),
        "created_by": user,
    }

    def init(ws: Workspace) -> None:
        with ws.transaction():
            ws.set_metadata(values)
            ws.import_layer("municipality", municipality, user=user, mode="replace")

    if is_postgis_url(url):
        from .postgis import PostGISWorkspace

        return PostGISWorkspace.create(str(url), chosen, overwrite=overwrite, init=init)
    return GeoPackageWorkspace.create(url, chosen, overwrite=overwrite, init=init)


def __getattr__(name: str) -> object:
    # PostGISWorkspace imports psycopg; load it only when asked for.
    if name == "PostGISWorkspace":
        from .postgis import PostGISWorkspace

        return PostGISWorkspace
    raise AttributeError(name)
