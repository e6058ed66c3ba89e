"""Offline map assets: extracted from the installed folium-offline, served by the app."""

from __future__ import annotations

import folium
import pytest
from fastapi.testclient import TestClient
from folium import plugins

from spatial.errors import NotFoundError
from web.app import create_app
from web.assets import ASSET_PREFIX, OFFLINE_ELEMENTS, asset, asset_name, localise, offline_assets
from web.settings import Settings


def test_every_folium_asset_of_the_map_pages_is_bundled():
    assets = offline_assets()
    for cls in OFFLINE_ELEMENTS:
        for _, url in [*cls.default_js, *cls.default_css]:
            found = assets[asset_name(url)]
            assert found.source_url == url and len(found.text) > 100
    assert "L.version" in assets["leaflet.js"].text or "Leaflet" in assets["leaflet.js"].text
    assert assets["leaflet.css"].media_type == "text/css"
    assert "vectorGrid" in assets["Leaflet.VectorGrid.bundled.js"].text


def test_localise_points_an_instance_at_local_urls_and_leaves_the_class_alone():
    class_urls = list(folium.Map.default_js)
    fmap = localise(folium.Map(tiles=None))
    assert all(url.startswith(ASSET_PREFIX) for _, url in [*fmap.default_js, *fmap.default_css])
    assert folium.Map.default_js == class_urls
    assert all(url.startswith("https://") for _, url in folium.Map.default_js)
    grid = localise(plugins.VectorGridProtobuf("/t/{z}/{x}/{y}.pbf", "p"))
    assert grid.default_js == [("vectorGrid", "/assets/Leaflet.VectorGrid.bundled.js")]


def test_localise_refuses_an_asset_it_does_not_serve():
    element = plugins.Fullscreen()
    element.default_js = [("x", "https://example.org/unknown-plugin.js")]
    with pytest.raises(NotFoundError, match=r"unknown-plugin\.js"):
        localise(element)
    with pytest.raises(NotFoundError):
        asset("nope.js")


def test_assets_are_served_with_their_media_type(demo_gpkg):
    client = TestClient(create_app(Settings(workspace=str(demo_gpkg))),
                        raise_server_exceptions=False)
    js = client.get("/assets/leaflet.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert js.text == offline_assets()["leaflet.js"].text
    css = client.get("/assets/leaflet-measure.min.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/assets/missing.js").status_code == 404
