"""No public response of any kind carries a right holder's name (issue 5, "Done when").

The app is built on a copy of the Isfana demo, and a visitor who is not signed in (the
``public`` role) calls every route of it: JSON API and HTML pages, OGC API – Features,
vector tiles of every served layer over the municipality at several zooms (decoded), the
click and search queries of the maps, exports in every format (opened: zipped
shapefiles, XLSX, GeoPackages down to every table), every page of the parcels list,
details and histories of many parcels, transformation requests with their pages,
dossier and documents, the report and the OpenAPI documents. Routes the public may not
use must refuse (401/403/404) and leak nothing in the refusal either.

Every body, decoded (HTML entities, ``\\uXXXX`` escapes and URL escapes undone), is
searched case-insensitively for every distinct holder name of the demo, for the holders
a specialist wrote into the history, and for the applicant, contact and commenter
names of a request a planner filed.

The tables :data:`GET_PROBES` and :data:`WRITE_PROBES` say how each route is called;
a route of the app that neither table nor :data:`NOT_DATA` names fails the test, so a
new route cannot ship without being checked here.
"""

from __future__ import annotations

import html
import io
import json
import re
import shutil
import sqlite3
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import geopandas as gpd
import mapbox_vector_tile
import morecantile
import numpy as np
import openpyxl
import pyogrio
import pytest
from fastapi.testclient import TestClient
from httpx import Response

from spatial.schema import load_schema
from spatial.store import open_workspace
from tests.web.test_parcels_api import bearer
from tests.web.test_requests_api import (
    APPLICANT,
    COMMENTER,
    CONDITIONAL,
    CONTACT,
    PDF,
    ROLES,
    create,
    to_council,
)
from web.app import create_app
from web.auth import add_user, create_token
from web.maps import MAP_KINDS
from web.settings import Settings
from web.tiles import TILE_LAYERS

LANGS = ("ky", "ru", "en")
#: Holder names a specialist writes over demo holders, so that the history holds them.
NEW_HOLDERS = ("Сыдыкова Жылдыз Тестовна", "Осмонов Марат Историевич")
#: A second applicant: a draft request (never published) filed for this person.
DRAFT_APPLICANT = "Draftova Nazik Kubanychbekovna"
#: Routes that serve no workspace data: the map libraries, the icon, the OAuth helper.
NOT_DATA = frozenset({
    ("GET", "/assets/{name}"), ("GET", "/assets/pages/{name}"), ("GET", "/favicon.svg"),
    ("GET", "/docs/oauth2-redirect"),
})
TMS = morecantile.tms.get("WebMercatorQuad")
#: Zooms at which tiles cover the whole municipality (mosaic and feature tiles).
FULL_ZOOMS = (8, 11, 13)
#: A deep zoom, at the tiles under the sample parcels only.
DEEP_ZOOM = 16
#: Parcels whose details, history, click and search answers are fetched.
SAMPLE = 120


# --------------------------------------------------------------------------- secrets


class Secrets:
    """Names that must not appear, found in a text by word index, then by substring."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted({n.strip() for n in names if n and n.strip()})
        self._by_word: dict[str, list[str]] = defaultdict(list)
        for name in self.names:
            folded = name.casefold()
            self._by_word[re.findall(r"\w+", folded)[0]].append(folded)

    def __len__(self) -> int:
        return len(self.names)

    def found_in(self, text: str) -> list[str]:
        folded = text.casefold()
        words = set(re.findall(r"\w+", folded))
        return [name for word in words & self._by_word.keys()
                for name in self._by_word[word] if name in folded]


_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _readable(text: str) -> str:
    """The text with its HTML entities, ``\\uXXXX`` and URL escapes undone, beside it."""
    variants = [text]
    if "\\u" in text:
        variants.append(_UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text))
    if "&" in text:
        variants += [html.unescape(v) for v in variants]
    if "%" in text:
        variants.append(unquote(text))
    return "\n".join(variants)


def _frame_text(frame: Any) -> str:
    values = [str(c) for c in frame.columns]
    for column in frame.columns:
        if column != getattr(frame, "_geometry_column_name", None):
            values += [str(v) for v in frame[column].to_numpy() if v is not None]
    return "\n".join(values)


def _sqlite_text(path: Path) -> str:
    """Every text value of every table of a SQLite file (a GeoPackage's history too)."""
    out: list[str] = []
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            out.append(table)
            for row in db.execute(f'SELECT * FROM "{table}"'):
                out += [v if isinstance(v, str) else v.decode("utf-8", "replace")
                        for v in row if isinstance(v, str | bytes)]
    return "\n".join(out)


def _bytes_text(data: bytes) -> str:
    return data.decode("utf-8", "replace") + "\n" + data.decode("cp1251", "replace")


def decoded_text(response: Response) -> str:
    """What a client can read from a response body, as text."""
    data = response.content
    kind = response.headers.get("content-type", "")
    url = str(response.request.url)
    if not data:
        return ""
    if "vnd.mapbox-vector-tile" in kind or (
            url.split("?")[0].endswith(".pbf") and "json" not in kind):
        tile = mapbox_vector_tile.decode(data)
        parts = list(tile)
        for layer in tile.values():
            for feature in layer["features"]:
                parts += [f"{k}={v}" for k, v in feature["properties"].items()]
        return "\n".join(parts)
    with tempfile.TemporaryDirectory(prefix="jer-privacy-") as folder:
        if data.startswith(b"PK"):
            archive = zipfile.ZipFile(io.BytesIO(data))
            if any(n.endswith(".xml") for n in archive.namelist()) and "spreadsheet" in kind:
                book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
                cells = [str(v) for sheet in book.worksheets
                         for row in sheet.iter_rows(values_only=True) for v in row
                         if v is not None]
                return "\n".join([*book.sheetnames, *cells])
            archive.extractall(folder)
            parts = [_bytes_text(archive.read(n)) for n in archive.namelist()]
            for shp in Path(folder).rglob("*.shp"):
                parts.append(_frame_text(pyogrio.read_dataframe(shp)))
            return "\n".join(parts)
        if data.startswith(b"SQLite format 3"):
            path = Path(folder) / "export.gpkg"
            path.write_bytes(data)
            parts = [_sqlite_text(path)]
            for name, _ in pyogrio.list_layers(path):
                parts.append(_frame_text(pyogrio.read_dataframe(path, layer=name)))
            return "\n".join(parts)
    if data.startswith(b"%PDF"):
        return _bytes_text(data)
    return response.text


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    """The public client, the data to call routes with, and what must not leak."""

    client: TestClient
    path: Path
    tokens: dict[str, str]
    secrets: Secrets
    sample: list[str]
    bounds_wgs84: tuple[float, float, float, float]
    points: list[tuple[float, float]]
    published: int
    draft: int
    comment: int
    documents: list[int]
    layers: list[str]
    checked: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    #: OGC feature ids of the parcels, by cadastral number, as the items pages give them.
    ogc_ids: dict[str, Any] = field(default_factory=dict)

    def call(self, method: str, url: str, expect: Iterable[int], *,
             route: tuple[str, str], **kwargs: Any) -> Response:
        """Call as the public, check the status, and search the body for every secret."""
        response = self.client.request(method, url, **kwargs)
        allowed = set(expect)
        assert response.status_code in allowed, (
            f"{method} {url}: {response.status_code} not in {sorted(allowed)}: "
            f"{response.text[:300]}")
        text = decoded_text(response) + "\n" + "\n".join(
            f"{k}: {v}" for k, v in response.headers.items())
        leaked = self.secrets.found_in(_readable(text))
        assert not leaked, f"{method} {url} ({response.status_code}) shows {leaked[:5]}"
        self.checked[route] += 1
        return response

    def get(self, route: str, url: str, expect: Iterable[int] = (200,), **kw: Any) -> Response:
        return self.call("GET", url, expect, route=("GET", route), **kw)


def _q(value: str) -> str:
    return quote(value, safe="")


@pytest.fixture(scope="module")
def world(demo_gpkg: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A demo copy with staff accounts, holders rewritten in the history, a published
    request (with a public comment and hearing minutes) and a draft request."""
    path = tmp_path_factory.mktemp("privacy") / "isfana.gpkg"
    shutil.copyfile(demo_gpkg, path)
    with open_workspace(path) as ws:
        tokens = {}
        for name, role in ROLES.items():
            add_user(ws, name, role=role, password=f"{name}-password")
            tokens[name] = create_token(ws, name)
        held = ws.read_layer("parcels", include_personal=True,
                             columns=["cadastral_no", "holder", "row_version"])
        held = held[held["holder"].notna()].reset_index(drop=True)
        # Two parcels change holder: the old and the new name are in the history.
        for (_, row), new in zip(held.iloc[[0, 1]].iterrows(), NEW_HOLDERS, strict=True):
            ws.update_parcel(int(row["fid"]), {"holder": new},
                             expected_version=int(row["row_version"]), user="gulnara")
        # A request's parcel gets a holder too, so its pages have one to leak.
        target = ws.find_parcel(CONDITIONAL[0])
        ws.update_parcel(int(target["fid"]), {"holder": NEW_HOLDERS[0], "ownership": "private"},
                         expected_version=int(target["row_version"]), user="gulnara")
        holders = set(ws.read_layer("parcels", include_personal=True)["holder"].dropna())
        boundary = ws.read_layer("municipality").to_crs(4326)
        picks = np.linspace(0, len(held) - 1, SAMPLE).astype(int)
        sample = [*held["cadastral_no"].iloc[picks], *CONDITIONAL]
        points_frame = ws.read_layer("parcels", where={"cadastral_no": sample[:40]},
                                     columns=["cadastral_no"])
    assert len(holders) > 1000, "the demo has right holders to leak"
    points = gpd.GeoSeries(points_frame.geometry.representative_point(),
                           crs=points_frame.crs).to_crs(4326)
    app = create_app(Settings(workspace=str(path), base_map="none"))
    staff = TestClient(app, raise_server_exceptions=False)
    requests_world = {"client": staff, "tokens": tokens, "path": path}
    published = to_council(requests_world, CONDITIONAL[:2])
    draft = create(requests_world, [CONDITIONAL[2]], applicant_name=DRAFT_APPLICANT)["id"]
    comment = staff.post(f"/api/requests/{published}/comments",
                         json={"body": "Please keep the road", "name": COMMENTER})
    assert comment.status_code == 201, comment.text
    cid = comment.json()["id"]
    moderated = staff.post(f"/api/requests/{published}/comments/{cid}/moderation",
                           json={"decision": "approved"}, headers=bearer(tokens["aizada"]))
    assert moderated.status_code == 200, moderated.text
    minutes = staff.post(f"/api/requests/{published}/documents", data={"kind": "hearing_minutes"},
                         files={"file": ("minutes.pdf", PDF, "application/pdf")},
                         headers=bearer(tokens["nurlan"]))
    assert minutes.status_code == 201, minutes.text
    detail = staff.get(f"/api/requests/{published}", headers=bearer(tokens["nurlan"])).json()
    assert detail["applicant_name"] == APPLICANT
    secrets = Secrets([*holders, *NEW_HOLDERS, APPLICANT, CONTACT, COMMENTER, DRAFT_APPLICANT,
                       *held["holder"].iloc[[0, 1]]])
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    yield World(
        client=client, path=path, tokens=tokens, secrets=secrets, sample=sample,
        bounds_wgs84=tuple(boundary.total_bounds),
        points=[(p.x, p.y) for p in points], published=published, draft=draft, comment=cid,
        documents=[int(d["id"]) for d in detail["documents"]],
        layers=list(load_schema().layers),
    )


# --------------------------------------------------------------------------- GET probes


def _pages(w: World, route: str) -> None:
    for lang in LANGS:
        w.get(route, f"{route}?lang={lang}")


def _balance(w: World) -> None:
    for fmt in ("json", "csv", "xlsx"):
        for lang in LANGS:
            w.get("/api/balance", f"/api/balance?format={fmt}&lang={lang}")


def _lang(w: World) -> None:
    for lang in LANGS:
        w.get("/lang/{code}", f"/lang/{lang}?next=/map/overview", expect=(303,))


def _maps(w: World) -> None:
    for kind in MAP_KINDS:
        for lang in LANGS:
            w.get("/map/{kind}", f"/map/{kind}?lang={lang}")


def _tiles(w: World) -> None:
    west, south, east, north = w.bounds_wgs84
    tiles = list(TMS.tiles(west, south, east, north, list(FULL_ZOOMS)))
    tiles += {TMS.tile(x, y, DEEP_ZOOM) for x, y in w.points}
    drawn = 0
    for layer in TILE_LAYERS:
        for t in tiles:
            response = w.get("/tiles/{layer}/{z}/{x}/{y}.pbf",
                             f"/tiles/{layer}/{t.z}/{t.x}/{t.y}.pbf", expect=(200, 204))
            drawn += len(response.content) > 0
    assert drawn > len(tiles), "tiles with features were decoded"
    w.get("/tiles/{layer}/{z}/{x}/{y}.pbf", "/tiles/users/12/0/0.pbf", expect=(404,))


def _map_at(w: World) -> None:
    layers = ",".join(TILE_LAYERS)
    for lon, lat in w.points:
        body = w.get("/api/map/at", f"/api/map/at?layers={layers}&lon={lon}&lat={lat}").json()
        assert body["parcels"], "the click finds the parcel"


def _map_parcels_at(w: World) -> None:
    for lon, lat in w.points:
        assert w.get("/api/map/parcels/at", f"/api/map/parcels/at?lon={lon}&lat={lat}").json()


def _map_find(w: World) -> None:
    for key in w.sample:
        w.get("/api/map/parcels/find", f"/api/map/parcels/find?cadastral_no={_q(key)}")


def _parcels(w: World) -> None:
    url: str | None = "/api/parcels?limit=4000"
    seen = 0
    while url:
        body = w.get("/api/parcels", url).json()
        seen += body["numberReturned"]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert seen >= 9000, "every parcel was paged through"
    lon, lat = w.points[0]
    w.get("/api/parcels", f"/api/parcels?bbox={lon - 0.01},{lat - 0.01},{lon + 0.01},"
                          f"{lat + 0.01}&limit=10000")
    w.get("/api/parcels", "/api/parcels?category=agricultural&limit=1000&offset=500")


def _parcel(w: World) -> None:
    for key in w.sample:
        assert "holder" not in w.get("/api/parcels/{cadastral_no}",
                                     f"/api/parcels/{_q(key)}").json()["properties"]


def _history(w: World) -> None:
    for key in w.sample:
        w.get("/api/parcels/{cadastral_no}/history", f"/api/parcels/{_q(key)}/history")


def _exports(w: World) -> None:
    for layer in [*w.layers, "users", "api_tokens", "parcel_history"]:
        for fmt in ("gpkg", "geojson", "shp", "csv", "xlsx"):
            w.get("/api/exports/{layer}", f"/api/exports/{layer}?format={fmt}",
                  expect=(200,) if layer == "parcels" else (200, 403, 404))
    # Codes written as labels (in Russian) take another path through the writer.
    for fmt in ("csv", "xlsx"):
        w.get("/api/exports/{layer}", f"/api/exports/parcels?format={fmt}&labels=true&lang=ru")


def _requests_list(w: World) -> None:
    body = w.get("/api/requests", "/api/requests").json()
    assert [r["id"] for r in body] == [w.published]
    w.get("/api/requests", "/api/requests?status=under_review")


def _request_api(w: World) -> None:
    w.get("/api/requests/{rid}", f"/api/requests/{w.published}")
    w.get("/api/requests/{rid}", f"/api/requests/{w.draft}", expect=(404,))


def _documents(w: World) -> None:
    served = 0
    for did in w.documents:
        served += w.get("/api/requests/{rid}/documents/{did}",
                        f"/api/requests/{w.published}/documents/{did}",
                        expect=(200, 404)).status_code == 200
    assert served >= 1, "the public downloads the hearing minutes"


def _request_page(w: World) -> None:
    for lang in LANGS:
        w.get("/requests/{rid}", f"/requests/{w.published}?lang={lang}")
    w.get("/requests/{rid}", f"/requests/{w.draft}", expect=(404,))


def _dossier(w: World) -> None:
    for lang in LANGS:
        w.get("/requests/{rid}/dossier", f"/requests/{w.published}/dossier?lang={lang}")
    w.get("/requests/{rid}/dossier", f"/requests/{w.draft}/dossier", expect=(404,))


def _refused(route: str, url: str | None = None) -> Callable[[World], None]:
    def probe(w: World) -> None:
        w.get(route, url or route, expect=(401, 403))
    return probe


def _ogc_collections(w: World) -> list[str]:
    body = w.get("/ogc/collections", "/ogc/collections").json()
    return [c["id"] for c in body["collections"]]


def _ogc_collection(w: World) -> None:
    for cid in _ogc_collections(w):
        w.get("/ogc/collections/{collection_id}", f"/ogc/collections/{cid}")
    w.get("/ogc/collections/{collection_id}", "/ogc/collections/users", expect=(404,))


def _ogc_queryables(w: World) -> None:
    for cid in _ogc_collections(w):
        w.get("/ogc/collections/{collection_id}/queryables",
              f"/ogc/collections/{cid}/queryables")


def _ogc_items(w: World) -> None:
    for cid in _ogc_collections(w):
        url: str | None = f"/ogc/collections/{cid}/items?limit=5000"
        while url:
            body = w.get("/ogc/collections/{collection_id}/items", url).json()
            if cid == "parcels":
                w.ogc_ids.update({f["properties"].get("cadastral_no"): f["id"]
                                  for f in body["features"]})
            url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    w.get("/ogc/collections/{collection_id}/items",
          "/ogc/collections/parcels/items?properties=holder,cadastral_no&limit=2000",
          expect=(200, 400))
    w.get("/ogc/collections/{collection_id}/items",
          "/ogc/collections/parcels/items?crs=http://www.opengis.net/def/crs/EPSG/0/32642"
          "&limit=2000&offset=3000")


def _ogc_item(w: World) -> None:
    if not w.ogc_ids:
        _ogc_items(w)
    ids = w.ogc_ids
    for key in w.sample:
        if key in ids:
            w.get("/ogc/collections/{collection_id}/items/{feature_id}",
                  f"/ogc/collections/parcels/items/{_q(str(ids[key]))}")
    assert w.checked[("GET", "/ogc/collections/{collection_id}/items/{feature_id}")] >= 50


def _simple(route: str, *urls: str, expect: Iterable[int] = (200,)) -> Callable[[World], None]:
    def probe(w: World) -> None:
        for url in urls or (route,):
            w.get(route, url, expect=expect)
    return probe


#: How the public calls each GET route of the app.
GET_PROBES: dict[str, Callable[[World], None]] = {
    "/openapi.json": _simple("/openapi.json"),
    "/docs": _simple("/docs"),
    "/redoc": _simple("/redoc"),
    "/api/health": _simple("/api/health"),
    "/api/me": _simple("/api/me"),
    "/api/balance": _balance,
    "/lang/{code}": _lang,
    "/": lambda w: _pages(w, "/"),
    "/login": _simple("/login", "/login", "/login?next=/report/space", "/login?lang=ru"),
    "/report/space": _refused("/report/space"),
    "/report/space.xlsx": _refused("/report/space.xlsx"),
    "/map/{kind}": _maps,
    "/tiles/{layer}/{z}/{x}/{y}.pbf": _tiles,
    "/api/map/at": _map_at,
    "/api/map/parcels/at": _map_parcels_at,
    "/api/map/parcels/find": _map_find,
    "/api/parcels": _parcels,
    "/api/parcels/{cadastral_no}": _parcel,
    "/api/parcels/{cadastral_no}/history": _history,
    "/api/exports/{layer}": _exports,
    "/api/hazards/exposure": _refused("/api/hazards/exposure"),
    "/check": _refused("/check"),
    "/plan": _refused("/plan"),
    "/api/requests": _requests_list,
    "/api/requests/{rid}": _request_api,
    "/api/requests/{rid}/documents/{did}": _documents,
    "/requests": lambda w: _pages(w, "/requests"),
    "/requests/map": lambda w: _pages(w, "/requests/map"),
    "/requests/new": _refused("/requests/new"),
    "/requests/{rid}": _request_page,
    "/requests/{rid}/dossier": _dossier,
    "/ogc": _simple("/ogc"),
    "/ogc/": _simple("/ogc/"),
    "/ogc/conformance": _simple("/ogc/conformance"),
    "/ogc/api": _simple("/ogc/api"),
    "/ogc/collections": _ogc_collections,
    "/ogc/collections/{collection_id}": _ogc_collection,
    "/ogc/collections/{collection_id}/queryables": _ogc_queryables,
    "/ogc/collections/{collection_id}/items": _ogc_items,
    "/ogc/collections/{collection_id}/items/{feature_id}": _ogc_item,
}


# --------------------------------------------------------------------------- writes


def _square(w: World) -> dict[str, Any]:
    """A GeoJSON polygon (EPSG:4326) on a sample parcel."""
    lon, lat = w.points[0]
    d = 0.0002
    return {"type": "Polygon", "coordinates": [[[lon - d, lat - d], [lon + d, lat - d],
                                                [lon + d, lat + d], [lon - d, lat + d],
                                                [lon - d, lat - d]]]}


def _feature(w: World, key: str) -> dict[str, Any]:
    return {"type": "Feature", "geometry": _square(w), "properties": {
        "cadastral_no": key, "land_category": "settlement", "ownership": "private",
        "in_use": True, "designated_use": "individual_housing", "holder": APPLICANT}}


REFUSED = (401, 403)


def _write(method: str, route: str, url: Callable[[World], str], expect: Iterable[int],
           **body: Callable[[World], Any]) -> Callable[[World], None]:
    def probe(w: World) -> None:
        kwargs = {name: make(w) for name, make in body.items()}
        w.call(method, url(w), expect, route=(method, route), **kwargs)
    return probe


def _public_comment(w: World) -> None:
    """The public may comment (shown after moderation); the answer names nobody."""
    route = ("POST", "/api/requests/{rid}/comments")
    made = w.call("POST", f"/api/requests/{w.published}/comments", (201,), route=route,
                  json={"body": "Where will the children's school be?", "name": APPLICANT})
    assert made.json()["id"]
    w.call("POST", f"/api/requests/{w.draft}/comments", (404,), route=route,
           json={"body": "a draft is not published", "name": COMMENTER})


def _public_comment_form(w: World) -> None:
    route = ("POST", "/requests/{rid}/comments")
    w.call("POST", f"/requests/{w.published}/comments", (200, 201, 303), route=route,
           data={"body": "Keep the canal open", "name": COMMENTER})
    w.call("POST", f"/requests/{w.draft}/comments", (404,), route=route,
           data={"body": "a draft is not published", "name": COMMENTER})


def _import_drafts_form(w: World) -> None:
    """The form goes back to the list page with the refusal as its error."""
    drafts = json.dumps([{"cadastral_no": CONDITIONAL[2], "settlement": "Isfana",
                          "current_category": "agricultural", "target_category": "settlement",
                          "target_use": "individual_housing"}]).encode()
    response = w.call("POST", "/requests/import-drafts", (303, *REFUSED),
                      route=("POST", "/requests/import-drafts"),
                      files={"file": ("drafts.json", drafts, "application/json")})
    if response.status_code == 303:
        assert "permission" in unquote(response.headers["location"])


def _login(w: World) -> None:
    route = ("POST", "/login")
    for username in ("gulnara", APPLICANT):
        w.call("POST", "/login", (200, 303, 400, 401, 403), route=route,
               data={"username": username, "password": "not the password", "next": "/"})


def _ogc_options(route: str, url: Callable[[World], str]) -> Callable[[World], None]:
    """OPTIONS answers the public, offering no edits."""
    def probe(w: World) -> None:
        response = w.call("OPTIONS", url(w), (200, 204), route=("OPTIONS", route))
        allow = {m.strip() for m in response.headers["allow"].split(",")}
        assert "GET" in allow and not allow & {"POST", "PUT", "DELETE", "PATCH"}
    return probe


def _cadastral(w: World) -> str:
    return f"/api/parcels/{_q(w.sample[0])}"


def _ogc_item_url(w: World) -> str:
    return f"/ogc/collections/parcels/items/{_q(w.sample[0])}"


def _rid(suffix: str = "") -> Callable[[World], str]:
    return lambda w: f"/api/requests/{w.published}{suffix}"


def _page_rid(suffix: str) -> Callable[[World], str]:
    return lambda w: f"/requests/{w.published}{suffix}"


_PROPOSAL = {"target_category": "settlement", "target_use": "individual_housing"}
_PLAN = {"scenario": "medium", "horizon": 5}
_IF_MATCH = {"If-Match": '"1"'}

#: How the public calls each route that is not a GET (refused unless public by design).
WRITE_PROBES: dict[tuple[str, str], Callable[[World], None]] = {
    ("POST", "/login"): _login,
    ("POST", "/logout"): _write("POST", "/logout", lambda w: "/logout", (200, 204, 303)),
    ("POST", "/api/parcels"): _write("POST", "/api/parcels", lambda w: "/api/parcels", REFUSED,
                                     json=lambda w: _feature(w, "4-08-09-9999-0001")),
    ("PUT", "/api/parcels/{cadastral_no}"): _write(
        "PUT", "/api/parcels/{cadastral_no}", _cadastral, REFUSED,
        json=lambda w: {"properties": {"holder": APPLICANT}}, headers=lambda w: _IF_MATCH),
    ("DELETE", "/api/parcels/{cadastral_no}"): _write(
        "DELETE", "/api/parcels/{cadastral_no}", _cadastral, REFUSED,
        headers=lambda w: _IF_MATCH),
    ("POST", "/api/parcels/{cadastral_no}/restore"): _write(
        "POST", "/api/parcels/{cadastral_no}/restore", lambda w: _cadastral(w) + "/restore",
        REFUSED, json=lambda w: {"version": 1}),
    ("POST", "/api/imports"): _write(
        "POST", "/api/imports", lambda w: "/api/imports?layer=parcels", REFUSED,
        files=lambda w: {"file": ("parcels.geojson", b'{"type": "FeatureCollection", '
                                  b'"features": []}', "application/geo+json")}),
    ("POST", "/api/checks"): _write(
        "POST", "/api/checks", lambda w: "/api/checks", REFUSED,
        json=lambda w: {"cadastral_no": w.sample[0], **_PROPOSAL}),
    ("POST", "/api/checks/batch"): _write(
        "POST", "/api/checks/batch", lambda w: "/api/checks/batch", REFUSED,
        json=lambda w: {"cadastral_nos": w.sample[:5], **_PROPOSAL}),
    ("POST", "/api/demand"): _write("POST", "/api/demand", lambda w: "/api/demand", REFUSED,
                                    json=lambda w: _PLAN),
    ("POST", "/api/capacity"): _write("POST", "/api/capacity", lambda w: "/api/capacity",
                                      REFUSED, json=lambda w: _PLAN),
    ("POST", "/api/allocation"): _write("POST", "/api/allocation", lambda w: "/api/allocation",
                                        REFUSED, json=lambda w: _PLAN),
    ("POST", "/api/requests"): _write(
        "POST", "/api/requests", lambda w: "/api/requests", REFUSED,
        json=lambda w: {"cadastral_nos": [w.sample[0]], **_PROPOSAL, "title": "t",
                        "justification": "j", "applicant_name": APPLICANT}),
    ("POST", "/api/requests/import-drafts"): _write(
        "POST", "/api/requests/import-drafts", lambda w: "/api/requests/import-drafts",
        REFUSED, json=lambda w: []),
    ("PATCH", "/api/requests/{rid}"): _write(
        "PATCH", "/api/requests/{rid}", _rid(), REFUSED, json=lambda w: {"title": "x"}),
    ("POST", "/api/requests/{rid}/actions/{action}"): _write(
        "POST", "/api/requests/{rid}/actions/{action}", _rid("/actions/council_approve"),
        REFUSED, json=lambda w: {"resolution_no": "1", "resolution_date": "2025-01-01"}),
    ("POST", "/api/requests/{rid}/recheck"): _write(
        "POST", "/api/requests/{rid}/recheck", _rid("/recheck"), REFUSED),
    ("POST", "/api/requests/{rid}/documents"): _write(
        "POST", "/api/requests/{rid}/documents", _rid("/documents"), REFUSED,
        data=lambda w: {"kind": "hearing_minutes"},
        files=lambda w: {"file": ("m.pdf", PDF, "application/pdf")}),
    ("POST", "/api/requests/{rid}/comments"): _public_comment,
    ("POST", "/api/requests/{rid}/comments/{cid}/moderation"): _write(
        "POST", "/api/requests/{rid}/comments/{cid}/moderation",
        lambda w: f"/api/requests/{w.published}/comments/{w.comment}/moderation", REFUSED,
        json=lambda w: {"decision": "rejected"}),
    ("POST", "/api/requests/{rid}/comments/{cid}/answer"): _write(
        "POST", "/api/requests/{rid}/comments/{cid}/answer",
        lambda w: f"/api/requests/{w.published}/comments/{w.comment}/answer", REFUSED,
        json=lambda w: {"answer": "no", "taken_up": False}),
    ("POST", "/requests/new"): _write(
        "POST", "/requests/new", lambda w: "/requests/new", REFUSED,
        data=lambda w: {"cadastral_nos": w.sample[0], "target_category": "settlement",
                        "target_use": "individual_housing", "applicant_name": APPLICANT}),
    ("POST", "/requests/import-drafts"): _import_drafts_form,
    ("POST", "/requests/{rid}/action"): _write(
        "POST", "/requests/{rid}/action", _page_rid("/action"), REFUSED,
        data=lambda w: {"action": "council_approve"}),
    # Only a draft can be edited (a published request answers 409 first): the draft's.
    ("POST", "/requests/{rid}/edit"): _write(
        "POST", "/requests/{rid}/edit", lambda w: f"/requests/{w.draft}/edit", (*REFUSED, 404),
        data=lambda w: {"title": "x", "applicant_name": APPLICANT}),
    ("POST", "/requests/{rid}/recheck"): _write(
        "POST", "/requests/{rid}/recheck", _page_rid("/recheck"), REFUSED),
    ("POST", "/requests/{rid}/documents"): _write(
        "POST", "/requests/{rid}/documents", _page_rid("/documents"), REFUSED,
        data=lambda w: {"kind": "hearing_minutes"},
        files=lambda w: {"file": ("m.pdf", PDF, "application/pdf")}),
    ("POST", "/requests/{rid}/comments"): _public_comment_form,
    ("POST", "/requests/{rid}/comments/{cid}/moderate"): _write(
        "POST", "/requests/{rid}/comments/{cid}/moderate",
        lambda w: f"/requests/{w.published}/comments/{w.comment}/moderate", REFUSED,
        data=lambda w: {"decision": "rejected"}),
    ("POST", "/requests/{rid}/comments/{cid}/answer"): _write(
        "POST", "/requests/{rid}/comments/{cid}/answer",
        lambda w: f"/requests/{w.published}/comments/{w.comment}/answer", REFUSED,
        data=lambda w: {"answer": "no"}),
    ("OPTIONS", "/ogc/collections/{collection_id}/items"): _ogc_options(
        "/ogc/collections/{collection_id}/items", lambda w: "/ogc/collections/parcels/items"),
    ("POST", "/ogc/collections/{collection_id}/items"): _write(
        "POST", "/ogc/collections/{collection_id}/items",
        lambda w: "/ogc/collections/parcels/items", REFUSED,
        json=lambda w: _feature(w, "4-08-09-9999-0002")),
    ("OPTIONS", "/ogc/collections/{collection_id}/items/{feature_id}"): _ogc_options(
        "/ogc/collections/{collection_id}/items/{feature_id}", _ogc_item_url),
    ("PUT", "/ogc/collections/{collection_id}/items/{feature_id}"): _write(
        "PUT", "/ogc/collections/{collection_id}/items/{feature_id}", _ogc_item_url, REFUSED,
        json=lambda w: _feature(w, w.sample[0]), headers=lambda w: _IF_MATCH),
    ("DELETE", "/ogc/collections/{collection_id}/items/{feature_id}"): _write(
        "DELETE", "/ogc/collections/{collection_id}/items/{feature_id}", _ogc_item_url,
        REFUSED, headers=lambda w: _IF_MATCH),
}


# --------------------------------------------------------------------------- tests


def app_routes(app: Any) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, through included routers too."""
    from fastapi import routing

    contexts = (routing.iter_route_contexts(app.routes)
                if hasattr(routing, "iter_route_contexts") else app.routes)
    found = set()
    for route in contexts:
        path = getattr(route, "path", None)
        for method in getattr(route, "methods", None) or ():
            if path is not None and method != "HEAD":
                found.add((method, path))
    return found


def test_the_tables_cover_every_route_of_the_app(world: World) -> None:
    routes = app_routes(world.client.app)
    assert ("GET", "/api/parcels/{cadastral_no}") in routes, "routes are read through routers"
    covered = {("GET", path) for path in GET_PROBES} | set(WRITE_PROBES) | NOT_DATA
    assert routes - covered == set(), "new routes: add how the public calls them"
    assert covered - routes == set(), "routes gone: drop them from the tables"


def test_no_public_get_response_contains_a_holder_or_applicant(world: World) -> None:
    assert len(world.secrets) > 1000
    for path, probe in GET_PROBES.items():
        probe(world)
        assert world.checked[("GET", path)] >= 1, f"{path} was not called"


def test_no_public_write_response_contains_a_holder_or_applicant(world: World) -> None:
    before = world.client.get(f"/api/parcels/{_q(world.sample[0])}").json()
    for route, probe in WRITE_PROBES.items():
        probe(world)
        assert world.checked[route] >= 1, f"{route} was not called"
    after = world.client.get(f"/api/parcels/{_q(world.sample[0])}").json()
    assert after == before, "the public changed nothing"


def test_the_search_finds_a_name_however_it_is_written() -> None:
    """The check itself: a holder name is found in escaped JSON, HTML, URLs and case."""
    secrets = Secrets(["Асанов Бакыт Жумабекович", "Бурул Асан кызы"])
    name = "Асанов Бакыт Жумабекович"
    encoded = [
        name.upper(), html.escape(name).encode("ascii", "xmlcharrefreplace").decode(),
        name.encode("unicode_escape").decode(), quote(name),
    ]
    for text in encoded:
        assert secrets.found_in(_readable(f"<p>{text}</p>")) == [name.casefold()], text
    assert secrets.found_in(_readable("Асанов Бакыт")) == []


def test_the_probe_catches_a_holder_where_one_is_shown(world: World) -> None:
    """A specialist's answer has the holder: the same probe must fail on it."""
    headers = bearer(world.tokens["gulnara"])
    with pytest.raises(AssertionError, match="shows"):
        world.call("GET", f"/api/parcels/{_q(world.sample[5])}", (200,),
                   route=("GET", "/probe-check"), headers=headers)
    with pytest.raises(AssertionError, match="shows"):
        world.call("GET", f"/api/requests/{world.published}", (200,),
                   route=("GET", "/probe-check"), headers=headers)
