"""Benchmark results in a notebook: :class:`InjectionLatency` shows what the injection suite measured.

The suites are not part of the package; they live in the source checkout's ``benchmarks/`` folder and write JSON
(``aiplugs bench injection --quick --json OUT``, the same as ``python -m benchmarks ...`` there). This view reads
that JSON: a table in Jupyter, the ratios against bare mitmdump, ``.plot()`` with matplotlib, ``.to_dict()``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import AiplugsError
from ._html import records_frame, table

__all__ = ["InjectionLatency"]


class InjectionLatency:
    """p50/p99 per path (direct, mitmdump, aiplugs with N plugins) per page, and the ratios against mitmdump.

    ``rows`` are plain dicts: ``path``, ``size``, ``encoding``, ``p50_ms``, ``p99_ms``, ``n``; ``ratios`` maps
    ``"<path> / mitmdump @ <size> <encoding>"`` to the p50 ratio. ``raw`` is what the suite returned."""

    def __init__(self, rows: Iterable[Mapping[str, Any]], raw: Mapping[str, Any] | None = None) -> None:
        self.rows = [dict(r) for r in rows]
        self.raw = dict(raw or {})

    @classmethod
    def from_json(cls, source: str | os.PathLike[str] | Mapping[str, Any]) -> InjectionLatency:
        """From the JSON the benchmarks write (a path, or the parsed dict): the combined file of ``python -m
        benchmarks [injection ...]`` / ``aiplugs bench``, or the injection suite's own ``injection.json``."""
        data = source if isinstance(source, Mapping) else json.loads(Path(source).read_text(encoding="utf-8"))
        if data.get("suite") == "all":
            entry = (data.get("suites") or {}).get("injection")
            if entry is None:
                raise AiplugsError("these benchmark results have no injection suite (run it with "
                                   "`aiplugs bench injection`)")
            if not entry.get("ok"):
                raise AiplugsError(f"the injection benchmark failed: {entry.get('error')}")
            data = entry["result"]
        if not isinstance(data.get("rows"), list):
            raise AiplugsError("not injection benchmark results: no 'rows' list")
        return cls(data["rows"], data)

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
