"""Single checks through the live API: 20 concurrent clients, 100 000 parcels; goal p95 < 100 ms.

``python -m bench.bench_api_check [--parcels 100000] [--clients 20] [--seconds 30]
[--workspace PATH] [--keep PATH]`` builds a 100 000-parcel GeoPackage workspace by tiling
the Isfana demo (:func:`bench.bench_space.tiled_municipality`: every layer copied and
shifted, so zoning, restrictions and hazards are realistic, just repeated), adds a
planner account, starts ``uvicorn web.app:create_app --factory`` (one worker) on it in
another process, and lets ``--clients`` threads (one ``httpx.Client`` each, keep-alive)
post ``POST /api/checks`` back to back for ``--seconds``: a random parcel by cadastral
number (two thirds of the calls) or a drawn polygon around a random parcel (a third),
with a random target use. The first call builds the server's constraint cache and is
not counted. Latencies are measured by the clients, end to end. For scale, the same
clients then call ``GET /api/me`` (token checked, workspace opened, no work): the floor
every API call of this server stands on. ``--workspace`` reuses a
workspace built before (``--keep`` saves the one built). The last line is the JSON
result ``bench.run_all`` collects.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import numpy as np
import shapely

from spatial.store import create_workspace, open_workspace

GOAL_P95_S = 0.1
USES = ("individual_housing", "commerce", "school", "industry", "agriculture", "recreation",
        "health", "landfill")
LAYER_ORDER = ("settlements", "zones", "protected_areas", "water_bodies", "forest_fund",
               "hazard_zones", "restrictions", "facilities", "parcels")


def build_workspace(path: Path, n_parcels: int) -> None:
    """The tiled demo written to a GeoPackage workspace, every layer validated on import."""
    from bench.bench_space import tiled_municipality

    layers, _ = tiled_municipality(n_parcels)
    municipality = layers.pop("municipality")
    with create_workspace(path, municipality, crs=municipality.crs, overwrite=True,
                          user="bench") as ws:
        for name in LAYER_ORDER:
            report = ws.import_layer(name, layers[name], user="bench")
            assert report.skipped == 0, (name, report.problems[:3])
        ws.set_metadata({"bench": "api_check"})


def planner_token(path: Path) -> str:
    from web.auth import add_user, create_token, list_users

    with open_workspace(path) as ws:
        if not any(u["username"] == "bench" for u in list_users(ws)):
            add_user(ws, "bench", role="planner", password="bench-password")
        return create_token(ws, "bench")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "JER_WORKSPACE": str(path), "JER_SECRET_KEY": "bench"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "web.app:create_app", "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "warning",
         "--no-access-log"],
        env=env, cwd=Path(__file__).resolve().parent.parent,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("uvicorn exited")
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1.0)
            return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("uvicorn did not start")


def requests_pool(path: Path, size: int, seed: int) -> list[dict[str, Any]]:
    """Request bodies: two thirds by cadastral number, a third drawn around a parcel."""
    with open_workspace(path) as ws:
        parcels = ws.read_layer("parcels", columns=["cadastral_no"], include_personal=False)
    rng = np.random.default_rng(seed)
    picked = parcels.iloc[rng.choice(len(parcels), size=size, replace=False)]
    drawn = rng.random(size) < 1 / 3
    centres = shapely.centroid(picked.geometry.to_numpy())
    squares = shapely.buffer(centres, rng.uniform(10, 40, size), cap_style="square")
    wgs = gpd.GeoSeries(squares, crs=parcels.crs).to_crs(4326).to_numpy()
    uses = rng.choice(USES, size=size)
    bodies = []
    for key, is_drawn, shape, use in zip(picked["cadastral_no"], drawn, wgs, uses,
                                         strict=True):
        body: dict[str, Any] = {"target_use": str(use)}
        if is_drawn:
            body["geometry"] = json.loads(shapely.to_geojson(shape))
            body["current_category"] = "agricultural"
        else:
            body["cadastral_no"] = str(key)
        bodies.append(body)
    return bodies


def run_clients(url: str, token: str, bodies: list[dict[str, Any]] | None, *, clients: int,
                seconds: float) -> tuple[np.ndarray, dict[int, int], int]:
    """Latencies of every answered check, status counts, drawn-polygon calls.

    Without ``bodies`` the clients call ``GET /api/me`` instead: a signed-in request
    doing no work (workspace opened, token checked), the floor under any API call.
    """
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    drawn = 0
    lock = threading.Lock()
    start = threading.Barrier(clients)
    deadline = [0.0]

    def client(k: int) -> None:
        nonlocal drawn
        mine: list[float] = []
        codes: dict[int, int] = {}
        n_drawn = 0
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                          timeout=30.0) as http:
            start.wait()
            i = k
            while time.perf_counter() < deadline[0]:
                began = time.perf_counter()
                if bodies is None:
                    response = http.get("/api/me")
                else:
                    body = bodies[i % len(bodies)]
                    i += clients
                    response = http.post("/api/checks", json=body)
                    n_drawn += "geometry" in body
                mine.append(time.perf_counter() - began)
                codes[response.status_code] = codes.get(response.status_code, 0) + 1
        with lock:
            latencies.extend(mine)
            for code, n in codes.items():
                statuses[code] = statuses.get(code, 0) + n
            drawn += n_drawn

    deadline[0] = time.perf_counter() + seconds + 1.0
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return np.array(latencies), statuses, drawn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parcels", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workspace", type=Path, help="Reuse a workspace built before")
    parser.add_argument("--keep", type=Path, help="Save the built workspace here")
    parser.add_argument("--baseline-seconds", type=float, default=10.0,
                        help="Also time GET /api/me (no work) this long; 0 skips it")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="jer-bench-api-"))
    server = None
    try:
        if args.workspace:
            path = folder / "bench.gpkg"
            shutil.copyfile(args.workspace, path)
            build_s = 0.0
        else:
            path = folder / "bench.gpkg"
            began = time.perf_counter()
            build_workspace(path, args.parcels)
            build_s = time.perf_counter() - began
            if args.keep:
                shutil.copyfile(path, args.keep)
        with open_workspace(path) as ws:
            n_parcels = ws.count("parcels")
            counts = {name: ws.count(name) for name in ("zones", "hazard_zones",
                                                        "restrictions", "protected_areas")}
        token = planner_token(path)
        bodies = requests_pool(path, 5000, seed=7)
        port = free_port()
        server = start_server(path, port)
        url = f"http://127.0.0.1:{port}"
        began = time.perf_counter()
        first = httpx.post(f"{url}/api/checks", json=bodies[0], timeout=120.0,
                           headers={"Authorization": f"Bearer {token}"})
        first_s = time.perf_counter() - began
        assert first.status_code == 200, first.text
        latencies, statuses, drawn = run_clients(url, token, bodies, clients=args.clients,
                                                 seconds=args.seconds)
        floor = None
        if args.baseline_seconds > 0:
            floor, _, _ = run_clients(url, token, None, clients=args.clients,
                                      seconds=args.baseline_seconds)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)

    p50, p95, p99 = (float(v) for v in np.percentile(latencies, [50, 95, 99]))
    total = len(latencies)
    ok = statuses.get(200, 0)
    throughput = total / (args.seconds + 1.0)
    print(f"workspace: {n_parcels:,} parcels, " + ", ".join(f"{v} {k}" for k, v in
                                                           counts.items())
          + (f" (built in {build_s:.0f} s)" if build_s else ""))
    print(f"first check (builds the constraint cache): {first_s * 1000:.0f} ms")
    print(f"{args.clients} clients × {args.seconds:.0f} s: {total:,} checks ({drawn:,} drawn "
          f"polygons), {ok:,} answered 200, statuses {statuses}; {throughput:.0f} checks/s")
    print(f"latency p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
          f"(goal p95 < {GOAL_P95_S * 1000:.0f} ms)")
    if floor is not None:
        f50, f95 = (float(v) for v in np.percentile(floor, [50, 95]))
        print(f"floor (GET /api/me: token checked, workspace opened, no work), same clients: "
              f"{len(floor) / (args.baseline_seconds + 1.0):.0f} requests/s, p50 "
              f"{f50 * 1000:.1f} ms, p95 {f95 * 1000:.1f} ms")
    result = {
        "benchmark": "api_check", "parcels": n_parcels, "clients": args.clients,
        "seconds": args.seconds, "checks": total, "ok": ok, "drawn": drawn,
        "statuses": {str(k): v for k, v in statuses.items()},
        "throughput_per_s": round(throughput, 1), "first_check_s": round(first_s, 3),
        "p50_s": round(p50, 4), "p95_s": round(p95, 4), "p99_s": round(p99, 4),
        "goal_p95_s": GOAL_P95_S, "goal_met": p95 < GOAL_P95_S and ok == total,
    }
    if floor is not None:
        result["floor_per_s"] = round(len(floor) / (args.baseline_seconds + 1.0), 1)
        result["floor_p95_s"] = round(float(np.percentile(floor, 95)), 4)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
