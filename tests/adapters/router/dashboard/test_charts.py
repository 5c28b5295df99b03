"""SVG line charts from plain series: gaps break lines, labels are escaped, an empty range says so."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from aiplugs.adapters.router.dashboard.charts import Series, fmt, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def test_a_gap_breaks_the_line_and_a_lone_point_is_a_dot() -> None:
    points = ((0.0, 1.0), (60.0, 2.0), (120.0, None), (180.0, 4.0), (240.0, 3.0), (300.0, None), (360.0, 1.0))
    root = parse(line_chart("c", "Latency", "ms", [Series("p50", points)]))
    assert len(root.findall(f"{SVG}polyline")) == 2 and len(root.findall(f"{SVG}circle")) == 1
    assert root.find(f"{SVG}title").text == "Latency"
    assert "latest 1.0 ms, highest 4.0 ms" in root.find(f"{SVG}desc").text


def test_two_series_share_the_axes_and_take_their_css_classes() -> None:
    a = Series("p50", ((0.0, 10.0), (60.0, 20.0)))
    b = Series("p95", ((0.0, 30.0), (60.0, 80.0)))
    root = parse(line_chart("c", "Latency", "ms", [a, b]))
    lines = root.findall(f"{SVG}polyline")
    assert [line.get("class") for line in lines] == ["series-0", "series-1"]
    top_label = max((t for t in root.findall(f"{SVG}text")), key=lambda t: -float(t.get("y")))
    assert top_label.text == "100 ms"  # 80 rounds up to a nice 100


def test_text_is_escaped_and_no_data_is_said_plainly() -> None:
    svg = line_chart("c", "<b>x</b> & y", "", [Series("s", ())])
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "no data in this range" in svg
    parse(svg)


def test_values_read_as_people_say_them() -> None:
    assert fmt(None, "ms") == "-" and fmt(1536, "bytes") == "1.5 KiB" and fmt(12.345, "%") == "12.3 %"
    assert fmt(0.5, "/s") == "0.5/s" and fmt(250.0, "ms") == "250 ms" and fmt(3, "") == "3"
    assert fmt(0.25, "%") == "0.25 %" and fmt(0.0, "%") == "0.0 %"  # small values keep two digits


def test_a_chart_spans_the_range_asked_for() -> None:
    root = parse(line_chart("c", "x", "", [Series("s", ((900.0, 1.0),))], span=(0.0, 1000.0)))
    (dot,) = root.findall(f"{SVG}circle")
    assert 500 < float(dot.get("cx")) < 640  # near the right end, where its time is
    assert len([t for t in root.findall(f"{SVG}text") if ":" in (t.text or "")]) == 2  # start and end times
