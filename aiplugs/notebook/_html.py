"""Small HTML and pandas helpers the result views share (escaped tables, coloured cells, optional pandas)."""

from __future__ import annotations

import html
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["badge", "esc", "require_pandas", "table"]

STATE_COLORS = {
    "ready": "#1a7f37", "healthy": "#1a7f37", "verified": "#1a7f37", "ok": "#1a7f37",
    "starting": "#9a6700", "downloading": "#9a6700", "unverified": "#9a6700", "degraded": "#9a6700",
    "failed": "#cf222e", "corrupt": "#cf222e", "missing": "#cf222e", "error": "#cf222e",
    "disabled": "#6e7781", "stopped": "#6e7781",
}


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def badge(state: Any) -> str:
    """A state word in its colour (green ready, amber in progress, red broken, grey off)."""
    color = STATE_COLORS.get(str(state), "#24292f")
    return f'<span style="color:{color};font-weight:600">{esc(state)}</span>'


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, raw: Iterable[int] = (),
          row_styles: Sequence[str] | None = None, caption: str | None = None) -> str:
    """An HTML table; cells are escaped unless their column index is in ``raw`` (already HTML)."""
    raw = set(raw)
    head = "".join(f'<th style="text-align:left;padding:2px 8px">{esc(c)}</th>' for c in columns)
    body = []
    for n, row in enumerate(rows):
        style = f' style="{row_styles[n]}"' if row_styles and row_styles[n] else ""
        cells = "".join(
            f'<td style="text-align:left;padding:2px 8px">{cell if i in raw else esc(cell)}</td>'
            for i, cell in enumerate(row))
        body.append(f"<tr{style}>{cells}</tr>")
    cap = f'<caption style="text-align:left;font-weight:600">{esc(caption)}</caption>' if caption else ""
    return f'<table class="aiplugs">{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def require_pandas():
    """pandas is optional: imported only when someone asks for a DataFrame."""
    try:
        import pandas
    except ImportError:
        raise ImportError("to_pandas() needs pandas: pip install pandas (or use to_dict())") from None
    return pandas


def records_frame(records: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None):
    pandas = require_pandas()
    return pandas.DataFrame(list(records), columns=list(columns) if columns else None)
