"""What every suite shares: percentiles, machine info, the results table and the JSON file."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from aiplugs.bench import percentile  # one implementation for the package and the suites

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": percentile(values, 0.5), "p99": percentile(values, 0.99),
            "mean": statistics.fmean(values) if values else float("nan")}


def machine_info() -> dict[str, Any]:
    return {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def write_json(suite: str, result: dict[str, Any], path: str | os.PathLike[str] | None = None) -> Path:
    """Writes ``{"suite", "machine", ...result}`` to ``path`` or ``benchmarks/results/<suite>.json``."""
    target = Path(path) if path else RESULTS_DIR / f"{suite}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"suite": suite, "machine": machine_info(), **result}, indent=2) + "\n")
    return target


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    """One aligned table; floats to 3 significant decimals."""
    if not rows:
        return
    cols = list(rows[0])
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print(f"\n== {title}")
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
    return "" if value is None else str(value)
