"""Paging every parcel through OGC API - Features ``/ogc/collections/parcels/items``.

Goal: at least 20 000 features/s for a 100 000-parcel workspace.

``python -m bench.bench_ogc [--n 100000] [--workspace PATH] [--limit 10000]
[--crs CRS84|native] [--postgis-url URL]`` builds the synthetic 100 000-parcel fabric of
:mod:`bench.bench_import` in a fresh GeoPackage (or uses ``--workspace``), then reads
all parcels as a client does: the first page with the largest ``limit`` the OpenAPI
document allows, then every ``next`` link to the end. Requests go through the whole
app (ASGI, auth, store, encoding) with FastAPI's TestClient; decoding the pages with
Python's json is timed and reported apart. With ``--postgis-url`` (or
``JER_TEST_POSTGIS_URL``) the same fabric is also paged from a PostGIS workspace. The
last line is the JSON result ``bench.run_all`` collects.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bench.bench_import import _drop_schema, _with_schema, synthetic_fabric
from spatial.store import create_workspace, open_workspace
from web.app import create_app
from web.settings import Settings

GOAL_PER_S = 20_000.0
CRS_URIS = {"CRS84": None, "native": "http://www.opengis.net/def/crs/EPSG/0/32642"}


def build_workspace(url: str, n: int) -> None:
    """A workspace at ``url`` holding the synthetic fabric of ``n`` parcels."""
    municipality, parcels = synthetic_fabric(n)
    started = time.perf_counter()
    with create_workspace(url, municipality, overwrite=True) as ws:
        ws.import_layer("parcels", parcels, user="bench")
    print(f"built {n:,} parcels in {time.perf_counter() - started:.1f} s")


def _head(body: bytes) -> dict[str, Any]:
    """The members before ``features`` (counts and links), without parsing the features.

    The service writes ``numberMatched``, ``numberReturned`` and ``links`` ahead of the
    features, so a client can follow ``next`` while it decodes the page elsewhere.
    """
    cut = body.index(b',"features":[')
    head: dict[str, Any] = json.loads(body[:cut] + b"}")
    return head


def page_through(url: str, *, limit: int | None, crs: str | None) -> dict[str, Any]:
    """Read every parcel by following ``next`` links, then check the pages in full.

    The timed loop is what the service delivers: each request until its last byte has
    arrived, the next link read from the page head. Decoding the pages with Python's
    ``json`` is timed apart (a property of this client, not of the service) and checks
    that every parcel came once, in ``fid`` order.
    """
    client = TestClient(create_app(Settings(workspace=url)))
    openapi = client.get("/ogc/api").json()
    maximum = int(openapi["components"]["parameters"]["limit"]["schema"]["maximum"])
    size = limit or maximum
    params = {"limit": str(size)} | ({"crs": crs} if crs else {})
    with open_workspace(url) as ws:
        expected = ws.count("parcels")
    client.get("/ogc/collections/parcels/items", params={"limit": "10"})  # warm-up
    bodies: list[bytes] = []
    returned = 0
    started = time.perf_counter()
    next_url: str | None = None
    while True:
        response = (client.get("/ogc/collections/parcels/items", params=params)
                    if next_url is None else client.get(next_url))
        response.raise_for_status()
        bodies.append(response.content)
        head = _head(response.content)
        returned += head["numberReturned"]
        next_url = next((link["href"] for link in head["links"] if link["rel"] == "next"),
                        None)
        if next_url is None:
            break
    total_s = time.perf_counter() - started
    started = time.perf_counter()
    ids = [f["id"] for body in bodies for f in json.loads(body)["features"]]
    parse_s = time.perf_counter() - started
    assert returned == len(ids) == expected, (returned, len(ids), expected)
    assert ids == sorted(set(ids)), "pages are not in fid order, or a parcel came twice"
    return {
        "features": len(ids),
        "pages": len(bodies),
        "limit": size,
        "megabytes": round(sum(map(len, bodies)) / 1e6, 1),
        "seconds": round(total_s, 3),
        "features_per_s": round(len(ids) / total_s),
        "client_json_parse_s": round(parse_s, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000, help="parcels in the fabric")
    parser.add_argument("--workspace", help="page through this workspace instead of building one")
    parser.add_argument("--limit", type=int, help="page size (default: the OpenAPI maximum)")
    parser.add_argument("--crs", choices=sorted(CRS_URIS), default="CRS84",
                        help="CRS of the pages: CRS84 (the default of the API) or native")
    parser.add_argument("--postgis-url", default=os.environ.get("JER_TEST_POSTGIS_URL"),
                        help="also page from a PostGIS workspace (default: "
                             "JER_TEST_POSTGIS_URL; skipped when unset)")
    args = parser.parse_args(argv)
    crs = CRS_URIS[args.crs]
    result: dict[str, Any] = {"benchmark": "ogc_items", "crs": args.crs,
                              "goal_features_per_s": GOAL_PER_S}
    with tempfile.TemporaryDirectory(prefix="jer-bench-") as tmp:
        url = args.workspace
        if url is None:
            url = str(Path(tmp) / "bench.gpkg")
            build_workspace(url, args.n)
        gpkg = page_through(url, limit=args.limit, crs=crs)
    result["gpkg"] = gpkg
    print(f"GeoPackage: {gpkg['features']:,} parcels in {gpkg['pages']} pages of "
          f"{gpkg['limit']:,} ({args.crs}, {gpkg['megabytes']} MB): {gpkg['seconds']:.2f} s = "
          f"{gpkg['features_per_s']:,} features/s (goal >= {GOAL_PER_S:,.0f}); decoding "
          f"them with Python's json took another {gpkg['client_json_parse_s']:.2f} s")
    result["postgis"] = None
    if args.postgis_url and args.workspace is None:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        pg_url = _with_schema(args.postgis_url, schema)
        try:
            build_workspace(pg_url, args.n)
            pg = page_through(pg_url, limit=args.limit, crs=crs)
        finally:
            _drop_schema(args.postgis_url, schema)
        result["postgis"] = pg
        print(f"PostGIS: {pg['features']:,} parcels in {pg['pages']} pages: "
              f"{pg['seconds']:.2f} s = {pg['features_per_s']:,} features/s; decoding "
              f"{pg['client_json_parse_s']:.2f} s")
    else:
        print("PostGIS: skipped (no --postgis-url and JER_TEST_POSTGIS_URL unset)")
    result["ok"] = gpkg["features_per_s"] >= GOAL_PER_S
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
