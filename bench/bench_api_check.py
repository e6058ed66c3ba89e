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
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
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


def start_server(path: Path, port: int, *, workers: int = 1, source: Path | None = None,
                 extra: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    """``uvicorn web.app:create_app --factory`` with ``workers`` processes, settings from env.

    ``source`` runs the server from another checkout (``git archive <commit>``) to
    compare with an earlier version on the same machine, in the same run; ``extra``
    are more uvicorn options (``--http h11 --loop asyncio``: its pure-Python parts).
    """
    env = {**os.environ, "JER_WORKSPACE": str(path), "JER_SECRET_KEY": "bench"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "web.app:create_app", "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level",
         "warning", "--no-access-log", *extra],
        env=env, cwd=source or Path(__file__).resolve().parent.parent,
    )
    deadline = time.monotonic() + 120
    streak = 0
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("uvicorn exited")
        try:
            health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1.0).json()
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        # Steady state: each worker has built its tile indexes (a background job at
        # start-up that would share the cores with the first seconds of checks).
        streak = streak + 1 if health.get("tiles", "ready") != "building" else 0
        if streak >= 4 * workers:
            return server
        time.sleep(0.1)
    server.kill()
    raise RuntimeError("uvicorn did not start, or its tile indexes did not build")


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
    """Latencies of every answered call, status counts, drawn-polygon calls.

    ``clients`` asyncio tasks in this process, one keep-alive connection each, call back
    to back for ``seconds`` (asyncio rather than threads: 20 Python threads fighting for
    the GIL would eat the cores the server needs and inflate every latency). Without
    ``bodies`` they call ``GET /api/me`` instead: a signed-in request doing no work
    (workspace taken, token checked), the floor under any API call.
    """
    return asyncio.run(_run_clients(url, token, bodies, clients=clients, seconds=seconds))


async def _run_clients(url: str, token: str, bodies: list[dict[str, Any]] | None, *,
                       clients: int, seconds: float) -> tuple[np.ndarray, dict[int, int], int]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    drawn = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"},
                                 timeout=30.0, limits=limits) as http:
        deadline = time.perf_counter() + seconds

        async def client(k: int) -> None:
            nonlocal drawn
            i = k
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                if bodies is None:
                    response = await http.get("/api/me")
                else:
                    body = bodies[i % len(bodies)]
                    i += clients
                    response = await http.post("/api/checks", json=body)
                    drawn += "geometry" in body
                latencies.append(time.perf_counter() - began)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        await asyncio.gather(*(client(k) for k in range(clients)))
    return np.array(latencies), statuses, drawn


WRK_SCRIPT = r"""
local bodies = {}
local token = os.getenv("JER_BENCH_TOKEN")
local path = os.getenv("JER_BENCH_BODIES")
if path then
  for line in io.lines(path) do bodies[#bodies + 1] = line end
end
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("offset", counter)
end
function init(args)
  i = offset or 1
end
function request()
  local headers = {["Authorization"] = "Bearer " .. token}
  if #bodies == 0 then
    return wrk.format("GET", "/api/me", headers)
  end
  headers["Content-Type"] = "application/json"
  i = i + 7
  return wrk.format("POST", "/api/checks", headers, bodies[(i % #bodies) + 1])
end
function done(summary, latency, requests)
  io.write(string.format(
    "WRK {\"requests\": %d, \"non2xx\": %d, \"socket_errors\": %d, \"duration_us\": %d, "
    .. "\"p50_us\": %d, \"p95_us\": %d, \"p99_us\": %d}\n",
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def run_wrk(url: str, token: str, bodies: list[dict[str, Any]] | None, *, clients: int,
            seconds: float, folder: Path) -> dict[str, Any]:
    """``wrk`` (one thread, ``clients`` connections) posting the same bodies.

    wrk is written in C and spends a fraction of the CPU a Python client needs, so on a
    small machine it leaves the cores to the server. Latencies are wrk's own percentiles.
    """
    script = folder / "checks.lua"
    script.write_text(WRK_SCRIPT)
    env = {**os.environ, "JER_BENCH_TOKEN": token}
    if bodies is not None:
        lines = folder / "bodies.jsonl"
        lines.write_text("".join(json.dumps(b, separators=(",", ":")) + "\n" for b in bodies))
        env["JER_BENCH_BODIES"] = str(lines)
    done = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
         "-s", str(script), url],
        env=env, capture_output=True, text=True, check=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("WRK "))
    out: dict[str, Any] = json.loads(line[4:])
    return out


def _stats(latencies: np.ndarray, total: int, ok: int, seconds: float) -> dict[str, Any]:
    p50, p95, p99 = (float(v) for v in np.percentile(latencies, [50, 95, 99]))
    return {"requests": total, "ok": ok, "per_s": round(total / seconds, 1),
            "p50_s": round(p50, 4), "p95_s": round(p95, 4), "p99_s": round(p99, 4)}


def _wrk_stats(out: dict[str, Any]) -> dict[str, Any]:
    total = int(out["requests"])
    return {"requests": total, "ok": total - int(out["non2xx"]) - int(out["socket_errors"]),
            "per_s": round(total / (out["duration_us"] / 1e6), 1),
            "p50_s": round(out["p50_us"] / 1e6, 4), "p95_s": round(out["p95_us"] / 1e6, 4),
            "p99_s": round(out["p99_us"] / 1e6, 4)}


def measure(url: str, token: str, bodies: list[dict[str, Any]], *, client: str, clients: int,
            seconds: float, floor_seconds: float, folder: Path) -> dict[str, Any]:
    """Checks (and the GET /api/me floor) by one client kind against a running server."""
    result: dict[str, Any] = {"client": client}
    if client == "wrk":
        result["checks"] = _wrk_stats(run_wrk(url, token, bodies, clients=clients,
                                              seconds=seconds, folder=folder))
        if floor_seconds > 0:
            result["floor"] = _wrk_stats(run_wrk(url, token, None, clients=clients,
                                                 seconds=floor_seconds, folder=folder))
        return result
    latencies, statuses, drawn = run_clients(url, token, bodies, clients=clients,
                                             seconds=seconds)
    result["checks"] = {**_stats(latencies, len(latencies), statuses.get(200, 0), seconds),
                        "drawn": drawn, "statuses": {str(k): v for k, v in statuses.items()}}
    if floor_seconds > 0:
        floor, codes, _ = run_clients(url, token, None, clients=clients, seconds=floor_seconds)
        result["floor"] = _stats(floor, len(floor), codes.get(200, 0), floor_seconds)
    return result


def warm_up(url: str, token: str, bodies: list[dict[str, Any]], *, clients: int,
            seconds: float) -> float:
    """Time of the first check (it builds the constraint cache), then ``seconds`` of
    uncounted load so that every worker process has built its own cache."""
    began = time.perf_counter()
    first = httpx.post(f"{url}/api/checks", json=bodies[0], timeout=300.0,
                       headers={"Authorization": f"Bearer {token}"})
    first_s = time.perf_counter() - began
    assert first.status_code == 200, first.text
    run_clients(url, token, bodies, clients=clients, seconds=max(seconds, 2 * first_s))
    return first_s


def _line(name: str, s: dict[str, Any]) -> str:
    return (f"  {name}: {s['requests']:,} requests ({s['ok']:,} ok), {s['per_s']:.0f}/s, "
            f"p50 {s['p50_s'] * 1000:.1f} ms, p95 {s['p95_s'] * 1000:.1f} ms, "
            f"p99 {s['p99_s'] * 1000:.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parcels", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workspace", type=Path, help="Reuse a workspace built before")
    parser.add_argument("--keep", type=Path, help="Save the built workspace here")
    parser.add_argument("--baseline-seconds", type=float, default=10.0,
                        help="Also time GET /api/me (no work) this long; 0 skips it")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="uvicorn worker processes; one server run per value")
    parser.add_argument("--client", choices=("auto", "wrk", "python", "both"), default="auto",
                        help="load generator: wrk (if installed; auto falls back to the "
                             "asyncio Python client), the Python client, or both")
    parser.add_argument("--warmup-seconds", type=float, default=3.0)
    parser.add_argument("--source", type=Path,
                        help="Run the server from this source tree (an earlier commit)")
    parser.add_argument("--compare-h11", action="store_true",
                        help="Also run each server with uvicorn's pure-Python HTTP parser "
                             "and event loop (--http h11 --loop asyncio), side by side")
    args = parser.parse_args(argv)

    has_wrk = shutil.which("wrk") is not None
    kinds = {"auto": ["wrk" if has_wrk else "python"], "wrk": ["wrk"], "python": ["python"],
             "both": ["wrk", "python"]}[args.client]
    if "wrk" in kinds and not has_wrk:
        print("wrk is not installed (Debian: apt-get install wrk); using the Python client")
        kinds = [k for k in kinds if k != "wrk"] or ["python"]

    folder = Path(tempfile.mkdtemp(prefix="jer-bench-api-"))
    runs: list[dict[str, Any]] = []
    try:
        path = folder / "bench.gpkg"
        if args.workspace:
            shutil.copyfile(args.workspace, path)
            build_s = 0.0
        else:
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
        print(f"workspace: {n_parcels:,} parcels, " + ", ".join(f"{v} {k}" for k, v in
                                                               counts.items())
              + (f" (built in {build_s:.0f} s)" if build_s else ""))
        stacks: list[tuple[str, tuple[str, ...]]] = [("default", ())]
        if args.compare_h11:
            stacks.append(("h11+asyncio", ("--http", "h11", "--loop", "asyncio")))
        for workers, (stack, extra) in ((w, x) for w in args.workers for x in stacks):
            port = free_port()
            server = start_server(path, port, workers=workers, source=args.source, extra=extra)
            try:
                url = f"http://127.0.0.1:{port}"
                first_s = warm_up(url, token, bodies, clients=args.clients,
                                  seconds=args.warmup_seconds)
                for kind in kinds:
                    run = measure(url, token, bodies, client=kind, clients=args.clients,
                                  seconds=args.seconds, floor_seconds=args.baseline_seconds,
                                  folder=folder)
                    run.update(workers=workers, first_check_s=round(first_s, 3), http=stack,
                               load_average=[round(x, 2) for x in os.getloadavg()])
                    runs.append(run)
                    print(f"{workers} worker(s), {stack} HTTP, {kind} client, "
                          f"{args.clients} connections × "
                          f"{args.seconds:.0f} s (first check {first_s * 1000:.0f} ms, load "
                          f"average {run['load_average'][0]:.2f}):")
                    print(_line("POST /api/checks", run["checks"]))
                    if "floor" in run:
                        print(_line("GET /api/me (floor)", run["floor"]))
            finally:
                server.terminate()
                server.wait(timeout=30)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    head = runs[0]["checks"]
    result = {
        "benchmark": "api_check", "parcels": n_parcels, "clients": args.clients,
        "seconds": args.seconds, "workers": runs[0]["workers"], "client": runs[0]["client"],
        "checks": head["requests"], "ok": head["ok"], "throughput_per_s": head["per_s"],
        "first_check_s": runs[0]["first_check_s"], "p50_s": head["p50_s"],
        "p95_s": head["p95_s"], "p99_s": head["p99_s"], "goal_p95_s": GOAL_P95_S,
        "goal_met": head["p95_s"] < GOAL_P95_S and head["ok"] == head["requests"],
        "runs": runs,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
