"""Land balance of 100 000 parcels; goal: under 1 s.

``python -m bench.bench_balance`` builds a synthetic parcel table in the shape the store
returns (codes, booleans, ``area_ha`` already computed), then times :func:`land_balance`
and the rendering of its tables. The last line is the JSON result ``bench.run_all``
collects.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from spatial.balance import land_balance
from spatial.schema import codes

GOAL_SECONDS = 1.0


def synthetic_parcels(n: int, *, seed: int = 7) -> pd.DataFrame:
    """``n`` parcels with realistic code frequencies (settlement plots dominate counts)."""
    rng = np.random.default_rng(seed)
    category = rng.choice(
        codes("land_category"), size=n, p=[0.25, 0.6, 0.03, 0.01, 0.03, 0.03, 0.05]
    )
    subtype = np.where(
        category == "agricultural",
        rng.choice(["arable_irrigated", "arable_rainfed", "perennial", "hayfield", "pasture"], n),
        "empty",
    )
    settlements = np.array([f"settlement-{i}" for i in range(40)] + [""] * 10, dtype=object)
    area = np.where(category == "settlement", rng.uniform(0.06, 0.12, n), rng.gamma(2.0, 3.0, n))
    return pd.DataFrame(
        {
            "cadastral_no": [f"4-08-01-{i // 10_000:04d}-{i % 10_000:04d}" for i in range(n)],
            "land_category": category,
            "ag_subtype": subtype,
            "ownership": rng.choice(codes("ownership"), n),
            "in_use": rng.random(n) < 0.8,
            "state_ag_fund": (category == "agricultural") & (rng.random(n) < 0.2),
            "settlement": settlements[rng.integers(0, len(settlements), n)],
            "area_ha": area,
            "official_area_ha": area * rng.normal(1.0, 0.01, n),
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parcels", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    parcels = synthetic_parcels(args.parcels)
    people = pd.DataFrame(
        {
            "name": [f"settlement-{i}" for i in range(40)],
            "households": np.arange(40) * 10,
            "population": np.arange(40) * 45,
        }
    )
    official = float(parcels["area_ha"].sum()) * 1.02
    land_balance(parcels, official_area_ha=official, settlements=people)  # warm-up

    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        balance = land_balance(parcels, official_area_ha=official, settlements=people)
        timings.append(time.perf_counter() - started)
    started = time.perf_counter()
    balance.to_dict("ky")
    balance.to_frames("ru")
    render = time.perf_counter() - started

    best, median = min(timings), float(np.median(timings))
    print(
        f"land_balance of {args.parcels:,} parcels: best {best:.3f} s, median {median:.3f} s "
        f"(goal < {GOAL_SECONDS:.0f} s); rendering all tables {render * 1000:.0f} ms"
    )
    result = {
        "benchmark": "land_balance",
        "parcels": args.parcels,
        "best_s": round(best, 4),
        "median_s": round(median, 4),
        "render_s": round(render, 4),
        "goal_s": GOAL_SECONDS,
        "ok": median < GOAL_SECONDS,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
