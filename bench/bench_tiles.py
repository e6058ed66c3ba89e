"""Parcel vector tile latency on a workspace; goal: p95 under 0.3 s per tile.

``python -m bench.bench_tiles [--workspace PATH] [--tiles 200]`` samples tiles at zooms
12–15 over the municipality (seeded, so runs are comparable), cuts each with
:func:`web.tiles.parcel_tile` (workspace bbox query, clip, quantise, simplify, encode)
and reports p50/p95 latency and tile sizes. The last line is the JSON result
``bench.run_all`` collects.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from spatial.store import open_workspace
from web.tiles import TMS, parcel_tile

GOAL_P95_SECONDS = 0.3


def main(argv: list[str] | None = None) -> int:
    from jer_data import DEMO_WORKSPACE

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", default=str(DEMO_WORKSPACE))
    parser.add_argument("--tiles", type=int, default=200)
    parser.add_argument("--zooms", type=int, nargs="*", default=[12, 13, 14, 15])
    args = parser.parse_args(argv)

    workspace = open_workspace(args.workspace)
    try:
        bounds = workspace.read_layer("municipality").to_crs(4326).total_bounds
        candidates = list(TMS.tiles(*bounds, zooms=args.zooms))
        rng = np.random.default_rng(5)
        picked = rng.choice(len(candidates), size=min(args.tiles, len(candidates)),
                            replace=False)
        tiles = [candidates[i] for i in picked]
        parcel_tile(workspace, tiles[0].z, tiles[0].x, tiles[0].y)  # warm-up
        timings, sizes = [], []
        for tile in tiles:
            started = time.perf_counter()
            data = parcel_tile(workspace, tile.z, tile.x, tile.y)
            timings.append(time.perf_counter() - started)
            sizes.append(len(data))
    finally:
        workspace.close()

    seconds = np.array(timings)
    p50, p95, worst = (float(v) for v in np.percentile(seconds, [50, 95, 100]))
    non_empty = int(np.count_nonzero(sizes))
    print(
        f"{len(tiles)} parcel tiles at z {min(args.zooms)}-{max(args.zooms)} "
        f"({non_empty} with parcels, of {len(candidates)} over the municipality): "
        f"p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, max {worst * 1000:.1f} ms "
        f"(goal p95 < {GOAL_P95_SECONDS * 1000:.0f} ms); "
        f"median size {np.median(sizes) / 1024:.1f} KiB, max {max(sizes) / 1024:.1f} KiB"
    )
    result = {
        "benchmark": "parcel_tiles",
        "workspace": args.workspace,
        "tiles": len(tiles),
        "non_empty": non_empty,
        "p50_s": round(p50, 4),
        "p95_s": round(p95, 4),
        "max_s": round(worst, 4),
        "max_bytes": int(max(sizes)),
        "goal_p95_s": GOAL_P95_SECONDS,
        "ok": p95 < GOAL_P95_SECONDS,
    }
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
