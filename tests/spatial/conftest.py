"""Workspace-store fixtures for spatial tests.

``store_url`` yields the URL of a workspace that does not exist yet, once per backend:
a ``.gpkg`` path in ``tmp_path``, and a fresh PostGIS schema (dropped afterwards) when
``JER_TEST_POSTGIS_URL`` is set — skipped otherwise, failed if ``JER_REQUIRE_SERVICES=1``.
``ws`` is a created workspace on each backend. ``municipality`` and ``parcel_grid``
build tiny synthetic frames in EPSG:32642 (import them from ``tests.spatial.conftest``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import geopandas as gpd
import numpy as np
import pytest
import shapely

from spatial.store import Workspace, create_workspace

CRS = 32642
X0, Y0 = 500_000.0, 4_400_000.0
POSTGIS_URL = os.environ.get("JER_TEST_POSTGIS_URL")
REQUIRE_SERVICES = os.environ.get("JER_REQUIRE_SERVICES") == "1"


# ---------------------------------------------------------------------------- fixtures
def municipality(size: float = 2_000.0) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name_ky": ["Исфана"], "name_ru": ["Исфана"], "name_en": ["Isfana"], "kind": ["city"],
         "oblast": ["Batken"], "district": ["Leilek"], "official_area_ha": [size * size / 1e4]},
        geometry=[shapely.box(X0, Y0, X0 + size, Y0 + size)], crs=CRS,
    )


def parcel_grid(nx: int, ny: int, *, size: float = 10.0, prefix: str = "P",
                origin: tuple[float, float] = (X0, Y0)) -> gpd.GeoDataFrame:
    """A fabric of ``nx * ny`` square parcels that touch but do not overlap."""
    i = np.arange(nx * ny)
    x = origin[0] + (i % nx) * size
    y = origin[1] + (i // nx) * size
    n = len(i)
    return gpd.GeoDataFrame(
        {
            "cadastral_no": [f"{prefix}-{k:06d}" for k in range(n)],
            "land_category": np.where(i % 3 == 0, "settlement", "agricultural"),
            "ownership": np.where(i % 2 == 0, "private", "state"),
            "holder": [f"Holder {k}" for k in range(n)],
            "in_use": i % 4 != 0,
            "lease_until": [date(2030, 1, 2) if k % 5 == 0 else None for k in range(n)],
        },
        geometry=shapely.box(x, y, x + size, y + size), crs=CRS,
    )


def _with_schema(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"] + [("schema", schema)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _drop_schema(url: str, schema: str) -> None:
    import psycopg

    base = urlunsplit(urlsplit(url)._replace(query=""))
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a workspace that does not exist yet, on each backend."""
    if request.param == "gpkg":
        yield str(tmp_path / "workspace.gpkg")
        return
    if not POSTGIS_URL:
        if REQUIRE_SERVICES:
            pytest.fail("JER_REQUIRE_SERVICES=1 but JER_TEST_POSTGIS_URL is not set")
        pytest.skip("JER_TEST_POSTGIS_URL is not set")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    yield _with_schema(POSTGIS_URL, schema)
    _drop_schema(POSTGIS_URL, schema)


@pytest.fixture
def ws(store_url: str) -> Iterator[Workspace]:
    workspace = create_workspace(store_url, municipality(), user="creator")
    yield workspace
    workspace.close()


