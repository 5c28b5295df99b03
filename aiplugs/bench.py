"""Benchmarks from Python and notebooks: the suites of the checkout's ``benchmarks/`` folder, with results as
objects (tables in Jupyter, ``.plot()`` with matplotlib, ``.to_dict()``).

``injection_latency(...)`` runs the injection benchmark (the same pages fetched directly, through a bare
``mitmdump`` and through aiplugs, in one run) and ``run_suites(...)`` is ``aiplugs bench`` / ``python -m
benchmarks``. The suites are not part of the installed package: they are found beside it in a source checkout.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Mapping, Sequence

from .errors import AiplugsError

__all__ = ["InjectionLatency", "benchmarks_dir", "injection_latency", "percentile", "run_suites", "suite"]


def benchmarks_dir() -> Path:
    """The checkout's ``benchmarks/`` folder (beside the ``aiplugs`` package of an editable install)."""
    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    if not (folder / "_common.py").is_file():
        raise AiplugsError(f"no benchmark suites at {folder}: they live in the aiplugs source checkout's "
                           "benchmarks/ folder (pip install -e the checkout to use them)")
    return folder


def suite(name: str) -> ModuleType:
    """The module ``benchmarks.bench_<name>`` of this checkout."""
    _importable()
    try:
        return importlib.import_module(f"benchmarks.bench_{name}")
    except ModuleNotFoundError as e:
        if e.name == f"benchmarks.bench_{name}":
            raise AiplugsError(f"no benchmark suite {name!r} ({benchmarks_dir() / f'bench_{name}.py'} is missing)")
        raise


def run_suites(names: Sequence[str] = (), *, quick: bool = False, json_out: str | Path | None = None,
               echo: bool = True) -> dict[str, Any]:
    """Runs suites like ``aiplugs bench``; returns the JSON it wrote (documented in ``benchmarks/__main__.py``)."""
    _importable()
    runner = importlib.import_module("benchmarks.__main__")
    return runner.run_suites(list(names), quick=quick, json_out=json_out, echo=echo)


def _importable() -> None:
    folder = benchmarks_dir()
    loaded = sys.modules.get("benchmarks")
    if loaded is not None:
        if Path(getattr(loaded, "__file__", "") or "").resolve().parent == folder:
            return
        raise AiplugsError(f"another module named 'benchmarks' is imported ({loaded!r}); run from the checkout")
    root = str(folder.parent)
    if root not in sys.path:
        sys.path.insert(0, root)


# ---- injection latency ---------------------------------------------------------------------------------------


class InjectionLatency:
    """p50/p99 per path (direct, mitmdump, aiplugs with N plugins) per page, and the ratios against mitmdump.

    ``rows`` are plain dicts: ``path``, ``size``, ``encoding``, ``p50_ms``, ``p99_ms``, ``n``; ``ratios`` maps
    ``"<path> / mitmdump @ <size> <encoding>"`` to the p50 ratio. ``raw`` is what the suite returned."""

    def __init__(self, rows: Iterable[Mapping[str, Any]], raw: Mapping[str, Any] | None = None) -> None:
        self.rows = [dict(r) for r in rows]
        self.raw = dict(raw or {})

    @property
    def paths(self) -> list[str]:
        return list(dict.fromkeys(r["path"] for r in self.rows))

    @property
    def pages(self) -> list[tuple[Any, str]]:
        return list(dict.fromkeys((r["size"], r.get("encoding") or "identity") for r in self.rows))

    def p50(self, path: str, size: Any = None, encoding: str | None = None) -> float:
        return self._pick(path, size, encoding)["p50_ms"]

    def p99(self, path: str, size: Any = None, encoding: str | None = None) -> float:
        return self._pick(path, size, encoding)["p99_ms"]

    def _pick(self, path: str, size: Any, encoding: str | None) -> dict[str, Any]:
        for row in self.rows:
            if row["path"] == path and (size is None or row["size"] == size) and (
                    encoding is None or (row.get("encoding") or "identity") == encoding):
                return row
        raise KeyError((path, size, encoding))

    @property
    def ratios(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for size, encoding in self.pages:
            try:
                base = self.p50("mitmdump", size, encoding)
            except KeyError:
                continue
            for path in self.paths:
                if path in ("mitmdump", "direct") or not base:
                    continue
                try:
                    out[f"{path} / mitmdump @ {size} {encoding}"] = self.p50(path, size, encoding) / base
                except KeyError:
                    continue
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "ratios": self.ratios, "raw": self.raw}

    def to_pandas(self):
        from .notebook._html import records_frame

        return records_frame(self.rows)

    def plot(self, ax: Any = None):
        """Grouped bars of p50 (with p99 whiskers) per page and path; returns the matplotlib Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 4))
        pages, paths = self.pages, self.paths
        width = 0.8 / max(len(paths), 1)
        for i, path in enumerate(paths):
            xs, p50s, errs = [], [], []
            for j, (size, encoding) in enumerate(pages):
                try:
                    row = self._pick(path, size, encoding)
                except KeyError:
                    continue
                xs.append(j + i * width)
                p50s.append(row["p50_ms"])
                errs.append(max(0.0, row["p99_ms"] - row["p50_ms"]))
            ax.bar(xs, p50s, width, yerr=[[0] * len(errs), errs], label=path, capsize=2)
        ax.set_xticks([j + width * (len(paths) - 1) / 2 for j in range(len(pages))])
        ax.set_xticklabels([f"{_size(s)}\n{e}" for s, e in pages])
        ax.set_ylabel("latency ms (bar p50, whisker p99)")
        ax.set_title("page fetch latency: direct vs mitmdump vs aiplugs")
        ax.legend()
        return ax

    def __repr__(self) -> str:
        lines = [f"{'path':<18} {'page':<16} {'p50 ms':>8} {'p99 ms':>8}"]
        for r in self.rows:
            page = f"{_size(r['size'])} {r.get('encoding') or 'identity'}"
            lines.append(f"{r['path']:<18} {page:<16} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}")
        lines += [f"{k}: {v:.2f}x" for k, v in self.ratios.items()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .notebook._html import table

        rows = [(r["path"], f"{_size(r['size'])} {r.get('encoding') or 'identity'}", f"{r['p50_ms']:.2f}",
                 f"{r['p99_ms']:.2f}", r.get("n")) for r in self.rows]
        ratios = table(["ratio (p50)", "value"], [(k, f"{v:.2f}x") for k, v in self.ratios.items()])
        return table(["path", "page", "p50 ms", "p99 ms", "n"], rows, caption="injection latency") + ratios


def _size(value: Any) -> str:
    if isinstance(value, (int, float)):
        for unit, scale in (("MB", 1_000_000), ("KB", 1_000)):
            if value >= scale:
                return f"{value / scale:g} {unit}"
        return f"{value} B"
    return str(value)


def injection_latency(sizes: Sequence[int] = (10_000, 100_000, 1_000_000), plugins: Sequence[int] = (1, 100),
                      n: int = 50, *, encodings: Sequence[str] = ("identity", "gzip")) -> InjectionLatency:
    """The same HTML pages (``sizes`` in bytes, each ``encodings``) fetched ``n`` times directly, through a bare
    ``mitmdump`` and through aiplugs with each count of matching ``plugins``, interleaved in one run.

    This runs ``benchmarks/bench_injection.py``'s ``measure`` (the same measurement as ``aiplugs bench
    injection``), so it needs the aiplugs checkout, as every suite does."""
    measure = suite("injection").measure
    raw = measure(sizes=list(sizes), plugins=list(plugins), n=n, encodings=list(encodings))
    return InjectionLatency(raw["rows"], raw)


def percentile(values: Iterable[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..1); NaN for no values. The benchmark suites use it too."""
    data = sorted(values)
    if not data:
        return float("nan")
    k = (len(data) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)
