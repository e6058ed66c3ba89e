"""Tile indexes in process: build, update after edits, and cutting tiles from them.

``python -m bench.bench_tiles [--parcels 100000 | --workspace PATH] [--per-zoom 50]
[--edits 1 100]``

A server cuts parcel tiles from a per-process :class:`web.tiles.TileIndex` of each layer
(see ``docs/web-api.md``). This measures, on the tiled Isfana municipality of
:mod:`bench.bench_web` (built once and cached) or on ``--workspace``, without HTTP:

1. **Build** — :func:`web.tiles.build_tile_index` of ``parcels`` and ``exposed_parcels``
   (the whole layer read, reprojected, generalised, factorised), seconds and memory.
2. **Cut** — :func:`web.tiles.layer_tile` from the parcels index for a seeded sample of
   ``--per-zoom`` tiles holding parcels at each zoom 10–17, p50/p95/max per zoom.
3. **Update** — on a copy of the workspace, ``N`` parcels of ``--edits`` are edited
   (land category changed, through the store with history), then
   :meth:`web.tiles.TileCache.index` brings the index up to date from the history;
   measured side by side with a full build of the same state, with their ratio.

The last line is the JSON result ``bench.run_all`` collects. Goal: an update after one
edit under 0.5 s (a map redrawn after a save must not wait for a full build).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from spatial.schema import codes
from spatial.store import open_workspace
from web.tiles import TileCache, build_tile_index, layer_tile, tile_fingerprint

HERE = Path(__file__).resolve().parent
GOAL_UPDATE_S = 0.5
ZOOMS = tuple(range(10, 18))


def _percentiles(seconds: list[float]) -> dict[str, float]:
    p50, p95, worst = np.percentile(seconds, [50, 95, 100])
    return {"p50_ms": round(float(p50) * 1000, 2), "p95_ms": round(float(p95) * 1000, 2),
            "max_ms": round(float(worst) * 1000, 2)}


def measure_cut(path: Path, index: Any, per_zoom: int) -> dict[int, dict[str, float]]:
    from bench.bench_web import municipality_tiles

    by_zoom = municipality_tiles(path, ZOOMS)
    rng = np.random.default_rng(5)
    out = {}
    for z, tiles in by_zoom.items():
        picked = rng.choice(len(tiles), size=min(per_zoom, len(tiles)), replace=False)
        seconds, sizes = [], []
        for i in picked:
            t = tiles[i]
            started = time.perf_counter()
            data = layer_tile(None, "parcels", t.z, t.x, t.y, index=index)
            seconds.append(time.perf_counter() - started)
            sizes.append(len(data))
        out[z] = {**_percentiles(seconds), "tiles": len(picked),
                  "median_kib": round(float(np.median(sizes)) / 1024, 1)}
    return out


def measure_update(path: Path, edits: int) -> dict[str, Any]:
    """Edit ``edits`` parcels of a copy of ``path``; update vs full build, side by side."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        shutil.copyfile(path, copy)
        workspace = open_workspace(copy)
        try:
            cache = TileCache()
            names = ("parcels", "exposed_parcels")
            for name in names:
                cache.index(workspace, name, tile_fingerprint(workspace, name))
            parcels = workspace.read_layer("parcels", columns=["land_category", "row_version"],
                                           limit=edits)
            started = time.perf_counter()
            for row in parcels.itertuples():
                other = next(c for c in codes("land_category") if c != row.land_category)
                workspace.update_parcel(int(row.fid), {"land_category": other},
                                        expected_version=int(row.row_version), user="bench")
            edit_s = time.perf_counter() - started
            out: dict[str, Any] = {"edits": edits, "edit_s": round(edit_s, 3)}
            for name in names:
                started = time.perf_counter()
                cache.index(workspace, name, tile_fingerprint(workspace, name))
                update_s = time.perf_counter() - started
                started = time.perf_counter()
                build_tile_index(workspace, name)
                build_s = time.perf_counter() - started
                out[name] = {"update_s": round(update_s, 3), "build_s": round(build_s, 3),
                             "build_over_update": round(build_s / update_s, 1)}
            assert cache.indexes_updated == len(names), "the index was rebuilt, not updated"
            return out
        finally:
            workspace.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parcels", type=int, default=100_000)
    parser.add_argument("--workspace", type=Path, help="a workspace instead of the tiled one")
    parser.add_argument("--per-zoom", type=int, default=50)
    parser.add_argument("--edits", type=int, nargs="*", default=[1, 100])
    parser.add_argument("--cache-dir", type=Path, default=HERE / "results" / "cache")
    args = parser.parse_args(argv)

    if args.workspace is not None:
        path = args.workspace
    else:
        from bench.bench_web import build_workspace

        path, _ = build_workspace(args.parcels, args.cache_dir)
    workspace = open_workspace(path)
    try:
        n = workspace.count("parcels")
        build: dict[str, Any] = {}
        indexes = {}
        cache = TileCache()  # as a server builds them (heap settled after each)
        for name in ("parcels", "exposed_parcels"):
            started = time.perf_counter()
            indexes[name] = cache.index(workspace, name, tile_fingerprint(workspace, name))
            build[name] = {"seconds": round(time.perf_counter() - started, 3),
                           "features": len(indexes[name]),
                           "mb": round(indexes[name].nbytes / 1e6, 1)}
    finally:
        workspace.close()
    cut = measure_cut(path, indexes["parcels"], args.per_zoom)
    updates = [measure_update(path, k) for k in args.edits]

    print(f"workspace {path}: {n:,} parcels")
    for name, b in build.items():
        print(f"build {name}: {b['seconds']:.2f} s, {b['features']:,} features, "
              f"~{b['mb']} MB of coordinates and values")
    print("cut from the parcels index, p50/p95/max ms: " + ", ".join(
        f"z{z} {v['p50_ms']:.1f}/{v['p95_ms']:.1f}/{v['max_ms']:.1f}" for z, v in cut.items()))
    for u in updates:
        print(f"after {u['edits']} edit(s): " + "; ".join(
            f"{name} update {u[name]['update_s']:.3f} s vs build {u[name]['build_s']:.2f} s "
            f"(x{u[name]['build_over_update']})" for name in ("parcels", "exposed_parcels")))
    one = next((u for u in updates if u["edits"] == 1), None)
    ok = None if one is None else one["parcels"]["update_s"] < GOAL_UPDATE_S
    result = {"benchmark": "tile_index", "workspace": str(path), "parcels": n,
              "build": build, "cut": cut, "updates": updates,
              "goal_update_s": GOAL_UPDATE_S, "ok": ok}
    print(json.dumps(result))
    return 0 if ok is not False else 1


if __name__ == "__main__":
    raise SystemExit(main())
