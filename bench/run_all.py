"""Run every benchmark script under ``bench/`` and collect its JSON result line.

``python -m bench.run_all [--only NAME ...]`` runs ``bench/bench_*.py`` one after the
other (never in parallel: the figures must not disturb each other), prints each script's
output and writes all JSON results to ``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="benchmark names, e.g. bench_import")
    args = parser.parse_args(argv)
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem in set(args.only)]
    results: dict[str, object] = {}
    failed = 0
    for script in scripts:
        print(f"== {script.stem}", flush=True)
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", f"bench.{script.stem}"],
            cwd=HERE.parent, capture_output=True, text=True, check=False,
        )
        print(proc.stdout, end="")
        if proc.returncode:
            failed += 1
            print(proc.stderr, file=sys.stderr)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        results[script.stem] = {
            "returncode": proc.returncode,
            "seconds": round(time.perf_counter() - started, 1),
            "result": json.loads(lines[-1]) if lines else None,
        }
    out = HERE / "results" / "latest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"results in {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
