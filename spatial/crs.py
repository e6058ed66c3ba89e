"""Choice of the workspace's projected CRS.

Areas in hectares are only meaningful in an equal-scale projected system near the
municipality, so every workspace records one: the WGS 84 / UTM zone of its centre
(the default, what satellite and GPS data come in) or the national Kyrg-06 zone
(EPSG:7692–7696) that the State Registration Service uses.
"""

from __future__ import annotations

from typing import Literal

import geopandas as gpd
from pyproj import CRS
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_crs_info
from pyproj.enums import PJType

from .errors import CRSError

__all__ = ["KYRG06_ZONES", "choose_projected_crs", "to_crs"]

#: Kyrg-06 projected zones: EPSG code -> (west, east) longitude limits of the zone.
KYRG06_ZONES: dict[int, tuple[float, float]] = {
    7692: (68.5, 70.0167),
    7693: (70.0167, 73.0167),
    7694: (73.0167, 76.0167),
    7695: (76.0167, 79.0167),
    7696: (79.0167, 81.0),
}


def choose_projected_crs(
    frame: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    system: Literal["utm", "kyrg06"] = "utm",
) -> CRS:
    """Projected CRS for the centre of ``frame``.

    Parameters
    ----------
    frame
        Geometries with a CRS (typically the municipality boundary).
    system
        ``"utm"`` for WGS 84 / UTM (EPSG:326xx), ``"kyrg06"`` for the national zones.
    """
    if frame.crs is None:
        raise CRSError("cannot choose a projected CRS: the input has no CRS")
    lon_min, lat_min, lon_max, lat_max = frame.to_crs(4326).total_bounds
    lon, lat = (lon_min + lon_max) / 2, (lat_min + lat_max) / 2
    if system == "kyrg06":
        for code, (west, east) in KYRG06_ZONES.items():
            if west <= lon < east and 39.0 <= lat <= 43.5:
                return CRS.from_epsg(code)
        raise CRSError(f"centre {lon:.4f}E {lat:.4f}N lies outside every Kyrg-06 zone")
    if system != "utm":
        raise CRSError(f"unknown CRS system {system!r}; use 'utm' or 'kyrg06'")
    infos = query_crs_info(
        auth_name="EPSG",
        pj_types=PJType.PROJECTED_CRS,
        area_of_interest=AreaOfInterest(lon, lat, lon, lat),
    )
    zone = int((lon + 180) // 6) + 1
    code = (32600 if lat >= 0 else 32700) + zone
    if not any(i.code == str(code) for i in infos):  # pragma: no cover - pyproj db always has UTM
        raise CRSError(f"no UTM zone found for {lon:.4f}E {lat:.4f}N")
    return CRS.from_epsg(code)


def to_crs(
    frame: gpd.GeoDataFrame, crs: CRS | str | int, *, what: str = "input"
) -> gpd.GeoDataFrame:
    """Reproject ``frame`` to ``crs``, refusing frames without a CRS."""
    if frame.crs is None:
        raise CRSError(f"{what} has no CRS; give the file a .prj or name its CRS explicitly")
    target = CRS.from_user_input(crs)
    if CRS.from_user_input(frame.crs) == target:
        return frame
    return frame.to_crs(target)
