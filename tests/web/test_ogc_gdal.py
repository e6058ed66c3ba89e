"""GDAL's OAPIF driver (through pyogrio) reads every collection of a live /ogc service.

The server runs in this process (``serve``); GDAL runs in a child process, because
pyogrio holds the interpreter lock while GDAL waits for the HTTP answer, which would
stall a server thread of the same process. The child writes what GDAL read to a
GeoPackage, which is compared here with the workspace: counts, ids and geometries, in
CRS84 and in the workspace CRS.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from spatial.store import open_workspace
from tests.web.conftest import serve
from tests.web.test_parcels_api import make_users
from web.app import create_app
from web.settings import Settings

READER = textwrap.dedent("""
    import json, sys
    import pyogrio
    url, out, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    read = {}
    names = options["layers"] or [n for n, _ in pyogrio.list_layers(f"OAPIF:{url}")]
    for name in names:
        for key, crs in options["crs"].items():
            frame = pyogrio.read_dataframe(f"OAPIF:{url}", layer=name, fid_as_index=True,
                                           CRS=crs, **options["open"])
            frame["ogc_id"] = frame.index.astype("int64")
            pyogrio.write_dataframe(frame, out, layer=f"{name}__{key}", promote_to_multi=False)
            read[f"{name}__{key}"] = {"crs": frame.crs.to_string(), "columns": list(frame.columns)}
    print(json.dumps(read))
""")


def gdal_read(url: str, out: Path, *, crs: dict[str, str], layers: list[str] | None = None,
              **open_options: str) -> dict[str, Any]:
    """What GDAL's OAPIF driver reads from ``url`` (every layer unless ``layers``), layer by
    layer, written to ``out``."""
    done = subprocess.run(
        [sys.executable, "-c", READER, url, str(out),
         json.dumps({"crs": crs, "open": open_options, "layers": layers})],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def same_geometries(read: gpd.GeoSeries, stored: gpd.GeoSeries, tolerance: float) -> bool:
    a = shapely.normalize(read.to_numpy())
    b = shapely.normalize(stored.to_numpy())
    return bool(np.all(shapely.equals_exact(a, b, tolerance=tolerance)))


@pytest.fixture(scope="module")
def served(demo_gpkg: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("ogc-gdal") / "isfana.gpkg"
    shutil.copyfile(demo_gpkg, path)
    make_users(path, ["land_specialist"])
    with serve(create_app(Settings(workspace=str(path)))) as url:
        yield path, f"{url}/ogc"


def test_gdal_reads_every_collection_in_crs84_and_the_workspace_crs(
    served: Any, tmp_path: Path,
) -> None:
    path, url = served
    out = tmp_path / "read.gpkg"
    read = gdal_read(url, out, crs={"crs84": "OGC:CRS84", "native": "EPSG:32642"})
    with open_workspace(path) as ws:
        layers = ws.layers()
        stored = {layer: ws.read_layer(layer) for layer in layers}
    assert sorted({name.split("__")[0] for name in read}) == sorted(layers)
    for layer, frame in stored.items():
        native = pyogrio.read_dataframe(out, layer=f"{layer}__native").set_index("ogc_id")
        crs84 = pyogrio.read_dataframe(out, layer=f"{layer}__crs84").set_index("ogc_id")
        assert read[f"{layer}__native"]["crs"] == "EPSG:32642"
        assert "CRS84" in read[f"{layer}__crs84"]["crs"]
        assert len(native) == len(crs84) == len(frame) > 0, layer
        expected = frame.set_index("fid")
        assert native.index.tolist() == crs84.index.tolist() == expected.index.tolist()
        assert same_geometries(native.geometry, expected.geometry, 1e-6), layer
        lon_lat = expected.geometry.to_crs("OGC:CRS84")
        assert same_geometries(crs84.geometry, lon_lat, 1e-9), layer
    parcels = pyogrio.read_dataframe(out, layer="parcels__native").set_index("ogc_id")
    assert "holder" not in parcels.columns  # anonymous: published, without personal columns
    expected = stored["parcels"].set_index("fid")
    assert parcels["cadastral_no"].tolist() == expected["cadastral_no"].tolist()
    assert np.allclose(parcels["area_ha"], expected["area_ha"])


def test_gdal_with_basic_credentials_sees_holders(served: Any, tmp_path: Path) -> None:
    path, url = served
    out = tmp_path / "editor.gpkg"
    gdal_read(url, out, crs={"native": "EPSG:32642"}, layers=["parcels"],
              USERPWD="land_specialist:land_specialist-password")
    parcels = pyogrio.read_dataframe(out, layer="parcels__native")
    with open_workspace(path) as ws:
        holders = ws.read_layer("parcels", columns=["holder"])["holder"]
    assert parcels["holder"].fillna("").tolist() == holders.fillna("").tolist()
