"""The web app with 100 000 parcels: first render in Chromium, page weight, tile latency.

Goals (issue 5): the overview's first render in headless Chromium under 3 s, its initial
page weight under 2 MB, parcel tile latency p95 under 50 ms.

``python -m bench.bench_web [--parcels 100000] [--runs 5] [--per-zoom 100] [--clients 4]
[--workers 1] [--no-pages]``

1. **Workspace.** The tiled Isfana municipality of :mod:`bench.bench_space` (the demo
   repeated on a grid: parcels, settlements, zones, protected areas, water, forest,
   hazards, restrictions, facilities), written to a GeoPackage with the store. It is
   kept in ``--cache-dir`` (default ``bench/results/cache``) under a name holding the
   parcel count and a hash of the generator and of this builder, so later runs reuse it
   (``--rebuild`` forces a new one).
2. **Server.** ``uvicorn`` serves ``web.app:create_app`` on a free loopback port, without
   a base map (``JER_BASE_MAP=none``: there is no internet here, and OpenStreetMap tiles
   are not the app's weight), with ``--workers`` uvicorn worker processes. It runs in a
   child process, so the benchmark's own clients do not share the server's interpreter
   lock and inflate its latency. The tiles are measured on a second, fresh server, so no
   tile the pages loaded is in its tile cache.
3. **Pages.** For each of ``/map/overview``, ``/map/zoning``, ``/map/restrictions``,
   ``/map/hazards`` and ``/``, ``--runs`` times, a fresh browser context (empty cache)
   in Debian's Chromium opens the page. An init script polls every animation frame and
   records, relative to navigation start (``performance.now()``): the first parcel tile
   drawn (a Leaflet.VectorGrid tile marked loaded, i.e. its canvas painted) and *ready*
   — the load event has fired and every parcel tile of the first view is drawn (pages
   that show no parcels: the load event and the next frame, when the thematic GeoJSON
   is painted). Page weight is the sum of CDP ``Network.loadingFinished``
   ``encodedDataLength`` (bytes on the wire, headers included) of every response
   finished by then. Medians over the runs are reported; first render = *ready*.
4. **Tiles.** Every WebMercatorQuad tile at zooms 10–17 (10: where the maps open, on
   the whole municipality) that holds a parcel is listed;
   up to ``--per-zoom`` of each zoom are drawn (seeded) and shuffled together, then
   ``--clients`` threads with keep-alive connections fetch them from the fresh server,
   twice: pass 1 *cold* (no tile cut yet: each is cut from the layer's tile index,
   which the server builds from the workspace in the background at start-up, and which
   the benchmark waits for, reporting how long it took; the server also pre-cuts the
   tiles up to zoom 11 then, so those come from its cache: the headline, and the goal
   is judged on it), pass 2 *warm* (the same tiles reshuffled, now mostly from the
   server's tile cache, :class:`web.tiles.TileCache`), then once more with one client
   (from the cache too). Latency is per tile, request sent to body read, at the client.
   ``--no-pages`` skips Chromium and measures the tiles only.

The last line is the JSON result ``bench.run_all`` collects; ``--out`` also writes it to
a file. Needs ``playwright`` and Chromium (``--chromium``, default ``JER_TEST_CHROMIUM``
or ``/usr/bin/chromium``).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import inspect
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import shapely

HERE = Path(__file__).resolve().parent
GOAL_FIRST_RENDER_S = 3.0
GOAL_PAGE_BYTES = 2_000_000
GOAL_TILE_P95_S = 0.050
PAGES = ("/map/overview", "/map/zoning", "/map/restrictions", "/map/hazards", "/")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--no-first-run"]
TILE_ZOOMS = tuple(range(10, 18))
PAGE_TIMEOUT_MS = 180_000

#: Runs in every page before its scripts: marks the first parcel tile drawn and the moment
#: the first view is complete, polled once per animation frame.
READY_SCRIPT = """
(() => {
  const marks = {};
  window.__jerBench = marks;
  function grids() {
    if (typeof L === 'undefined' || !L.Map) { return null; }
    const maps = Object.values(window).filter(v => v instanceof L.Map);
    if (!maps.length) { return null; }
    const out = [];
    maps.forEach(m => m.eachLayer(l => {
      if (L.VectorGrid && l instanceof L.VectorGrid) { out.push(l); }
    }));
    return {maps: maps.length, grids: out};
  }
  function tick() {
    const now = performance.now();
    const found = grids();
    if (found) {
      marks.maps = found.maps;
      marks.grids = found.grids.length;
      let tiles = 0, loaded = 0;
      found.grids.forEach(g => Object.values(g._tiles || {}).forEach(t => {
        if (!t.current) { return; }
        tiles += 1;
        if (t.loaded) { loaded += 1; }
      }));
      if (loaded > 0 && marks.first_tile_ms === undefined) { marks.first_tile_ms = now; }
      marks.tiles = tiles;
      if (document.readyState === 'complete'
          && (found.grids.length === 0 || (tiles > 0 && loaded === tiles))) {
        marks.ready_ms = now;
        return;
      }
    } else if (document.readyState === 'complete' && typeof L === 'undefined') {
      marks.maps = 0;
      marks.ready_ms = now;  // a page without a map: ready once loaded and painted
      return;
    }
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
})();
"""


# --- workspace ---------------------------------------------------------------------------


def _builder_key() -> str:
    """Hash of the code that shapes the workspace, so a stale cache is never reused."""
    from jer_data.demo import generate

    digest = hashlib.sha256()
    for path in (Path(generate.__file__), HERE / "bench_space.py"):
        digest.update(path.read_bytes())
    digest.update(inspect.getsource(build_workspace).encode())
    return digest.hexdigest()[:12]


def build_workspace(n_parcels: int, cache_dir: Path, *, rebuild: bool = False
                    ) -> tuple[Path, float | None]:
    """The tiled municipality of ``n_parcels`` parcels as a GeoPackage, from the cache.

    Returns the path and the build time in seconds (``None`` when it came from the cache).
    The file is written under a temporary name and moved into place when complete.
    """
    from bench.bench_space import tiled_municipality
    from spatial.store import create_workspace

    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"web-{n_parcels}-{_builder_key()}.gpkg"
    if path.exists() and not rebuild:
        return path, None
    started = time.perf_counter()
    layers, _ = tiled_municipality(n_parcels)
    building = path.with_name(path.stem + ".building.gpkg")
    for leftover in cache_dir.glob(building.name + "*"):
        leftover.unlink()
    workspace = create_workspace(building, layers["municipality"], crs=layers["parcels"].crs,
                                 overwrite=True, user="bench",
                                 metadata={"bench": f"tiled Isfana, {n_parcels} parcels"})
    try:
        with workspace.transaction():
            for name, frame in layers.items():
                if name != "municipality":
                    workspace.import_layer(name, frame, user="bench", mode="replace")
    finally:
        workspace.close()
    os.replace(building, path)
    return path, time.perf_counter() - started


# --- server ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def serve(workspace: Path, *, workers: int = 1, timeout_s: float = 120.0,
          started: dict[str, Any] | None = None) -> Iterator[str]:
    """Serve the app for ``workspace`` with uvicorn in a child process; yields its base URL.

    With several ``workers`` they share one session key, as ``jer serve --workers`` does.
    The URL is yielded once the server answers and has built its tile indexes (each
    worker builds its own, in the background from start-up): ``/api/health`` says
    ``ready`` on as many consecutive connections as a few times the workers, since the
    kernel hands each connection to any worker. ``started`` receives the seconds to the
    first answer and to ready, and the per-layer index times a worker reported.
    """
    port = _free_port()
    env = {**os.environ, "JER_WORKSPACE": str(workspace), "JER_BASE_MAP": "none"}
    env.setdefault("JER_SECRET_KEY", os.urandom(32).hex())
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "web.app:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--workers", str(workers)],
        cwd=HERE.parent, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    begun = time.monotonic()
    info = started if started is not None else {}
    try:
        deadline = begun + timeout_s
        streak = 0
        while streak < 4 * workers:
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{url}/api/health", timeout=2) as reply:
                    health = json.loads(reply.read())
                info.setdefault("answer_s", round(time.monotonic() - begun, 2))
                if health.get("tiles") in ("ready", "failed", "on demand"):
                    streak += 1
                    info["tiles"] = health.get("tiles")
                    info["tile_index_s"] = health.get("tile_index_s")
                    info["tiles_precut"] = health.get("tiles_precut")
                    continue
                streak = 0
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start, or its tile indexes did not build")
            time.sleep(0.1)
        info["ready_s"] = round(time.monotonic() - begun, 2)
        info["rss_mb"] = _rss_mb(proc.pid, workers)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _rss_mb(pid: int, workers: int) -> float | None:
    """Resident memory (MB) of the server: its process, or its worker processes."""
    def rss(p: int) -> int:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    try:
        pids = [pid]
        if workers > 1:
            pids = [int(c) for c in
                    Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        return round(sum(rss(p) for p in pids) / 1e6, 1)
    except OSError:
        return None


# --- pages in Chromium -------------------------------------------------------------------


def _kind(url: str, mime: str) -> str:
    if url.endswith(".pbf"):
        return "tiles"
    if "/assets/" in url:
        return "assets"
    if mime.startswith("text/html"):
        return "html"
    return "other"


def measure_page(browser: Any, url: str) -> dict[str, Any]:
    """One load of ``url`` in a fresh context: render marks, bytes and requests."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.add_init_script(READY_SCRIPT)
        cdp = context.new_cdp_session(page)
        requests: dict[str, dict[str, Any]] = {}

        def sent(e: dict[str, Any]) -> None:
            requests.setdefault(e["requestId"], {})["url"] = e["request"]["url"]
            requests[e["requestId"]]["start"] = e["timestamp"]

        def received(e: dict[str, Any]) -> None:
            requests.setdefault(e["requestId"], {})["mime"] = e["response"].get("mimeType", "")
            requests[e["requestId"]]["status"] = e["response"].get("status")

        def finished(e: dict[str, Any]) -> None:
            entry = requests.setdefault(e["requestId"], {})
            entry["bytes"] = e["encodedDataLength"]
            entry["end"] = e["timestamp"]

        def failed(e: dict[str, Any]) -> None:
            requests.setdefault(e["requestId"], {})["failed"] = e.get("errorText", "failed")

        cdp.on("Network.requestWillBeSent", sent)
        cdp.on("Network.responseReceived", received)
        cdp.on("Network.loadingFinished", finished)
        cdp.on("Network.loadingFailed", failed)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url, wait_until="commit", timeout=PAGE_TIMEOUT_MS)
        page.wait_for_function("window.__jerBench && window.__jerBench.ready_ms !== undefined",
                               timeout=PAGE_TIMEOUT_MS, polling=100)
        marks = page.evaluate("window.__jerBench")
        nav = page.evaluate("""() => {
            const n = performance.getEntriesByType('navigation')[0];
            return {ttfb_ms: n.responseStart, html_done_ms: n.responseEnd,
                    dom_ms: n.domContentLoadedEventEnd, load_ms: n.loadEventEnd};
        }""")
        done = [r for r in requests.values() if "bytes" in r]
        by_kind: dict[str, int] = {}
        for r in done:
            kind = _kind(r.get("url", ""), r.get("mime", ""))
            by_kind[kind] = by_kind.get(kind, 0) + int(r["bytes"])
        tiles = [r for r in done if r.get("url", "").endswith(".pbf")]
        tile_ms = [(r["end"] - r["start"]) * 1000 for r in tiles if "start" in r]
        # /tiles/<layer>/<z>/<x>/<y>.pbf: the maps draw several tile layers, not only parcels
        zooms = sorted({int(r["url"].split("/tiles/")[1].split("/")[1]) for r in tiles})
        return {
            **{k: round(float(v), 1) for k, v in nav.items()},
            "first_tile_ms": (round(marks["first_tile_ms"], 1)
                              if "first_tile_ms" in marks else None),
            "ready_ms": round(marks["ready_ms"], 1),
            "bytes": int(sum(r["bytes"] for r in done)),
            "bytes_by_kind": by_kind,
            "requests": len(done),
            "failed": sum(1 for r in requests.values() if "failed" in r),
            "tiles": len(tiles),
            "tile_zooms": zooms,
            "slowest_tile_ms": round(max(tile_ms), 1) if tile_ms else None,
            "errors": errors,
        }
    finally:
        context.close()


def measure_pages(base: str, chromium: str, *, runs: int, paths: tuple[str, ...]
                  ) -> dict[str, Any]:
    """``runs`` fresh loads of each page; the runs and their medians."""
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            measure_page(browser, f"{base}/map/zoning")  # warm-up: imports, first requests
            for path in paths:
                samples = []
                for _ in range(runs):
                    samples.append(measure_page(browser, base + path))
                    print(f"  {path:<18} ready {samples[-1]['ready_ms'] / 1000:6.2f} s, "
                          f"{samples[-1]['bytes'] / 1e6:6.2f} MB", flush=True)
                out[path] = {"runs": samples, **_medians(samples)}
        finally:
            browser.close()
    return out


def _medians(samples: list[dict[str, Any]]) -> dict[str, Any]:
    def med(key: str) -> float | None:
        values = [s[key] for s in samples if s.get(key) is not None]
        return round(statistics.median(values), 1) if values else None

    return {
        "median_ready_ms": med("ready_ms"),
        "median_first_tile_ms": med("first_tile_ms"),
        "median_ttfb_ms": med("ttfb_ms"),
        "median_load_ms": med("load_ms"),
        "median_bytes": int(statistics.median(s["bytes"] for s in samples)),
        "max_ready_ms": round(max(s["ready_ms"] for s in samples), 1),
    }


# --- tile latency ------------------------------------------------------------------------


def municipality_tiles(workspace: Path, zooms: tuple[int, ...]) -> dict[int, list[Any]]:
    """Every tile per zoom that holds at least one parcel of the municipality.

    Tiles over the municipality's bounding box but with no parcel in them (an empty
    corner, the gaps between the tiled copies) would only add cheap empty answers.
    """
    from spatial.store import open_workspace
    from web.tiles import TMS

    ws = open_workspace(workspace)
    try:
        parcels = ws.read_layer("parcels", columns=["cadastral_no"]).to_crs(4326)
    finally:
        ws.close()
    tree = shapely.STRtree(parcels.geometry.to_numpy())
    out: dict[int, list[Any]] = {}
    for z in zooms:
        west, south, east, north = (float(v) for v in parcels.total_bounds)
        tiles = list(TMS.tiles(west, south, east, north, zooms=[z]))
        bounds = np.array([tuple(TMS.bounds(t)) for t in tiles])
        boxes = shapely.box(bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3])
        hit = np.unique(tree.query(boxes, predicate="intersects")[0])
        out[z] = [tiles[i] for i in hit]
    return out


def fetch_tiles(base: str, paths: list[str], *, clients: int) -> tuple[np.ndarray, list[int],
                                                                           float]:
    """Fetch ``paths`` with ``clients`` keep-alive threads; (seconds per tile, sizes, wall)."""
    host, port = base.removeprefix("http://").split(":")
    work: queue.Queue[int] = queue.Queue()
    for i in range(len(paths)):
        work.put(i)
    seconds = np.full(len(paths), np.nan)
    sizes = [0] * len(paths)
    failures: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            while True:
                try:
                    i = work.get_nowait()
                except queue.Empty:
                    return
                started = time.perf_counter()
                conn.request("GET", paths[i])
                reply = conn.getresponse()
                body = reply.read()
                seconds[i] = time.perf_counter() - started
                sizes[i] = len(body)
                if reply.status != 200:
                    failures.append(f"{paths[i]}: {reply.status}")
        finally:
            conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} tiles failed, e.g. {failures[:3]}")
    return seconds, sizes, wall


def _percentiles(seconds: np.ndarray) -> dict[str, float]:
    p50, p95, p99, worst = np.percentile(seconds, [50, 95, 99, 100])
    return {"p50_ms": round(float(p50) * 1000, 1), "p95_ms": round(float(p95) * 1000, 1),
            "p99_ms": round(float(p99) * 1000, 1), "max_ms": round(float(worst) * 1000, 1)}


def measure_tiles(base: str, workspace: Path, *, per_zoom: int, clients: int, seed: int = 5
                  ) -> dict[str, Any]:
    """Latency of a seeded, shuffled sample of the municipality's tiles at zooms 10–17."""
    by_zoom = municipality_tiles(workspace, TILE_ZOOMS)
    rng = np.random.default_rng(seed)
    picked = []
    for tiles in by_zoom.values():
        take = rng.choice(len(tiles), size=min(per_zoom, len(tiles)), replace=False)
        picked += [tiles[i] for i in take]
    order = rng.permutation(len(picked))
    picked = [picked[i] for i in order]
    paths = [f"/tiles/parcels/{t.z}/{t.x}/{t.y}.pbf" for t in picked]
    zooms = np.array([t.z for t in picked])
    passes = {}
    for name, n_clients in (("cold", clients), ("warm", clients), ("serial_warm", 1)):
        if name != "cold":
            again = rng.permutation(len(paths))
            paths, zooms = [paths[i] for i in again], zooms[again]
        seconds, sizes, wall = fetch_tiles(base, paths, clients=n_clients)
        passes[name] = {
            **_percentiles(seconds),
            "clients": n_clients,
            "tiles_per_s": round(len(paths) / wall, 1),
            "by_zoom": {int(z): _percentiles(seconds[zooms == z]) for z in sorted(set(zooms))},
            "median_kib": round(float(np.median(sizes)) / 1024, 1),
            "max_kib": round(max(sizes) / 1024, 1),
            "empty": int(sum(1 for s in sizes if s == 0)),
        }
    return {"tiles": len(paths), "clients": clients,
            "available": {int(z): len(t) for z, t in by_zoom.items()}, **passes}


# --- main --------------------------------------------------------------------------------


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parcels", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5, help="fresh loads per page")
    parser.add_argument("--pages", nargs="*", default=list(PAGES))
    parser.add_argument("--per-zoom", type=int, default=100,
                        help="tiles drawn per zoom 10-17 for the latency test")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1,
                        help="uvicorn worker processes of the server (jer serve --workers)")
    parser.add_argument("--no-pages", action="store_true",
                        help="measure the tiles only (no Chromium)")
    parser.add_argument("--cache-dir", type=Path, default=HERE / "results" / "cache")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached workspace")
    parser.add_argument("--chromium", default=os.environ.get("JER_TEST_CHROMIUM")
                        or "/usr/bin/chromium")
    parser.add_argument("--out", type=Path, help="also write the JSON result here")
    args = parser.parse_args(argv)

    if not args.no_pages and not Path(args.chromium).exists():
        print(f"Chromium not found at {args.chromium}; pass --chromium or set JER_TEST_CHROMIUM")
        print(json.dumps({"benchmark": "web", "skipped": "no chromium", "ok": None}))
        return 0
    load_before = _load()
    workspace, build_s = build_workspace(args.parcels, args.cache_dir, rebuild=args.rebuild)
    print(f"workspace {workspace} ({args.parcels:,} parcels; "
          + (f"built in {build_s:.1f} s" if build_s is not None else "from the cache") + ")")
    print(f"load before: {load_before}", flush=True)
    pages: dict[str, Any] = {}
    if not args.no_pages:
        with serve(workspace, workers=args.workers) as base:
            pages = measure_pages(base, args.chromium, runs=args.runs, paths=tuple(args.pages))
    load_mid = _load()
    started: dict[str, Any] = {}
    with serve(workspace, workers=args.workers, started=started) as base:  # fresh: no tiles
        tiles = measure_tiles(base, workspace, per_zoom=args.per_zoom, clients=args.clients)
    tiles["server_start"] = started
    load_after = _load()

    print(f"\n{'page':<18} {'ready s':>8} {'1st tile s':>10} {'TTFB s':>7} {'load s':>7} "
          f"{'MB':>6} {'req':>4} {'tiles':>5}  (medians of {args.runs} fresh loads)")
    for path, p in pages.items():
        first = p["runs"][0]
        tile = p["median_first_tile_ms"]
        print(f"{path:<18} {p['median_ready_ms'] / 1000:8.2f} "
              f"{(tile / 1000 if tile is not None else float('nan')):10.2f} "
              f"{p['median_ttfb_ms'] / 1000:7.2f} {p['median_load_ms'] / 1000:7.2f} "
              f"{p['median_bytes'] / 1e6:6.2f} {first['requests']:4d} {first['tiles']:5d}")
    for name in ("cold", "warm", "serial_warm"):
        t = tiles[name]
        print(f"tiles {name}: {tiles['tiles']} tiles z{TILE_ZOOMS[0]}-{TILE_ZOOMS[-1]}, "
              f"{t['clients']} client(s): p50 {t['p50_ms']:.1f} ms, p95 {t['p95_ms']:.1f} ms, "
              f"p99 {t['p99_ms']:.1f} ms, max {t['max_ms']:.1f} ms; {t['tiles_per_s']} tiles/s; "
              f"median {t['median_kib']} KiB, max {t['max_kib']} KiB, {t['empty']} empty")
        print("   by zoom p50/p95/p99 ms: " + ", ".join(
            f"z{z} {v['p50_ms']:.0f}/{v['p95_ms']:.0f}/{v['p99_ms']:.0f}"
            for z, v in t["by_zoom"].items()))
    index_s = started.get("tile_index_s") or {}
    print(f"tile server: answered {started.get('answer_s')} s after start, tile indexes "
          f"{started.get('tiles')} and {started.get('tiles_precut')} low-zoom tiles cut at "
          f"{started.get('ready_s')} s, resident memory {started.get('rss_mb')} MB ("
          + ", ".join(f"{k} {v:.2f} s" for k, v in index_s.items()) + ")")
    print(f"load: before {load_before}; after pages {load_mid}; after tiles {load_after}")

    overview = pages.get("/map/overview")
    ok: dict[str, bool | None] = {
        "first_render": None if overview is None
        else overview["median_ready_ms"] / 1000 < GOAL_FIRST_RENDER_S,
        "page_weight": None if overview is None else overview["median_bytes"] < GOAL_PAGE_BYTES,
        "tile_p95": tiles["cold"]["p95_ms"] / 1000 < GOAL_TILE_P95_S,
    }
    said = {True: "met", False: "NOT met", None: "not measured"}
    print("goals: " + ", ".join(f"{k} {said[v]}" for k, v in ok.items()))
    result = {
        "benchmark": "web",
        "parcels": args.parcels,
        "workspace": str(workspace),
        "chromium": args.chromium,
        "runs": args.runs,
        "weight_measure": "CDP Network.loadingFinished encodedDataLength (wire bytes, "
                          "headers included) of responses finished at ready",
        "pages": {path: {k: v for k, v in p.items() if k != "runs"} | {
            "runs": p["runs"]} for path, p in pages.items()},
        "tile_latency": tiles,
        "workers": args.workers,
        "load": {"before": load_before, "after_pages": load_mid, "after_tiles": load_after},
        "goals": {"first_render_s": GOAL_FIRST_RENDER_S, "page_bytes": GOAL_PAGE_BYTES,
                  "tile_p95_s": GOAL_TILE_P95_S},
        "ok": ok,
    }
    line = json.dumps(result, ensure_ascii=False)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
