"""The shipped demo workspace is what the generator builds (so `make demo` can copy it)."""

from __future__ import annotations

import numpy as np
import pyogrio
import pytest
import shapely

from jer_data import DEMO_WORKSPACE
from jer_data.demo.generate import build_isfana

pytestmark = pytest.mark.skipif(not DEMO_WORKSPACE.exists(), reason="demo file not shipped")


@pytest.fixture(scope="module")
def built():
    return build_isfana()


@pytest.mark.parametrize("layer", ["municipality", "settlements", "parcels", "zones",
                                   "hazard_zones", "facilities"])
def test_shipped_layer_equals_the_generator(built, layer):
    shipped = pyogrio.read_dataframe(DEMO_WORKSPACE, layer=layer)
    fresh = built[layer]
    assert len(shipped) == len(fresh)
    assert shipped.crs == fresh.crs == "EPSG:32642"
    key = {"municipality": "name_en", "settlements": "name", "parcels": "cadastral_no",
           "zones": "zone_id", "hazard_zones": "hazard_id", "facilities": "facility_id"}[layer]
    shipped = shipped.sort_values(key).reset_index(drop=True)
    fresh = fresh.sort_values(key).reset_index(drop=True)
    assert shipped[key].tolist() == fresh[key].tolist()
    a = shapely.normalize(shapely.get_parts(shipped.geometry.to_numpy()))
    b = shapely.normalize(shapely.get_parts(fresh.geometry.to_numpy()))
    assert len(a) == len(b)
    assert np.all(shapely.equals_exact(a, b, tolerance=1e-6))


def test_shipped_workspace_layers_and_metadata():
    names = {name for name, _ in pyogrio.list_layers(DEMO_WORKSPACE)}
    assert {"municipality", "settlements", "parcels"} <= names
    info = pyogrio.read_info(DEMO_WORKSPACE, layer="parcels")
    assert info["crs"] == "EPSG:32642" and info["features"] >= 5000
