"""`aiplugs bench` (a launcher for the checkout's suites) and `python -m benchmarks`: the documented JSON shape,
errors, finding the checkout, and the notebook's InjectionLatency view on plain values and on the suite's JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aiplugs.cli._bench import find_checkout
from aiplugs.errors import AiplugsError
from aiplugs.notebook.bench import InjectionLatency

from .conftest import clean_env

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from aiplugs.cli import main; raise SystemExit(main())"]


def test_aiplugs_bench_quick_writes_the_documented_json(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run([*CLI, "bench", "apply", "--quick", "--json", str(out)], capture_output=True, text=True,
                            timeout=300, env=clean_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "benchmark ratios" in result.stdout and "noop_ratio_max" in result.stdout
    data = json.loads(out.read_text())
    assert data["suite"] == "all" and data["quick"] is True and data["ok"] is True
    assert {"python", "platform", "cpus", "time"} <= set(data["machine"])
    assert set(data["suites"]) == {"apply"}
    apply = data["suites"]["apply"]
    assert apply["ok"] is True and apply["seconds"] > 0
    assert apply["result"]["goal"] == 2.0 and set(apply["result"]["noop_reapply"]) == {"1", "10"}
    assert apply["result"]["cold_apply_to_healthy_s"] > 0
    ratio = next(r for r in data["ratios"] if r["metric"] == "noop_ratio_max")
    assert ratio["suite"] == "apply" and ratio["value"] > 0 and ratio["goal"] == 2.0
    assert isinstance(ratio["goal_met"], bool)
    assert isinstance(data["missing"], list)


def test_unknown_suite_is_a_clear_error(tmp_path):
    """The launcher passes the runner's exit status through (2: bad arguments), from anywhere in the checkout too."""
    for cwd in (tmp_path, REPO / "notebooks"):
        result = subprocess.run([*CLI, "bench", "nope"], capture_output=True, text=True, timeout=60,
                                env=clean_env(), cwd=cwd)
        assert result.returncode == 2, result.stderr
        assert "unknown benchmark suite(s): nope" in result.stderr and "apply" in result.stderr
    module = subprocess.run([sys.executable, "-m", "benchmarks", "nope"], capture_output=True, text=True,
                            timeout=60, env=clean_env(), cwd=REPO)
    assert module.returncode == 2 and "unknown benchmark suite(s): nope" in module.stderr


def test_ratio_rows_pick_headline_ratios():
    from benchmarks.__main__ import ratio_rows

    rows = ratio_rows("plan", {"ratio_at_100": 1.2, "goal": 1.5, "goal_met": True, "rows": [{"ratio": 9}],
                               "ratios": {"gzip": 0.9}, "flag_ratio": True})
    assert rows == [
        {"suite": "plan", "metric": "ratio_at_100", "value": 1.2, "goal": 1.5, "goal_met": True},
        {"suite": "plan", "metric": "ratios.gzip", "value": 0.9, "goal": None, "goal_met": None},
    ]
    rows = ratio_rows("injection", {"duration_s": 2.0, "tunnel_ratio": 0.8, "rps_ratio": 0.7, "goal_met": False,
                                    "goal": {"tunnel_ratio": 0.6}})
    assert [(r["metric"], r["goal"], r["goal_met"]) for r in rows] == [("tunnel_ratio", 0.6, False),
                                                                     ("rps_ratio", None, False)]
    assert ratio_rows("models", {"ratio_vs_raw": 0.95, "goals": {"ratio_vs_raw": 0.9}})[0]["goal"] == 0.9
    assert ratio_rows("broken", ["not", "a", "dict"]) == []


ROWS = [
    {"path": "direct", "size": 10_000, "encoding": "identity", "p50_ms": 1.0, "p99_ms": 2.0, "n": 20},
    {"path": "mitmdump", "size": 10_000, "encoding": "identity", "p50_ms": 4.0, "p99_ms": 6.0, "n": 20},
    {"path": "aiplugs-1", "size": 10_000, "encoding": "identity", "p50_ms": 4.2, "p99_ms": 7.0, "n": 20},
    {"path": "mitmdump", "size": 100_000, "encoding": "gzip", "p50_ms": 8.0, "p99_ms": 9.0, "n": 20},
    {"path": "aiplugs-1", "size": 100_000, "encoding": "gzip", "p50_ms": 8.8, "p99_ms": 12.0, "n": 20},
]


def test_injection_latency_result_ratios_tables_and_plot():
    result = InjectionLatency(ROWS)
    assert result.paths == ["direct", "mitmdump", "aiplugs-1"]
    assert result.p50("aiplugs-1", 10_000) == 4.2 and result.p99("mitmdump", 100_000, "gzip") == 9.0
    assert result.ratios == pytest.approx({"aiplugs-1 / mitmdump @ 10000 identity": 1.05,
                                           "aiplugs-1 / mitmdump @ 100000 gzip": 1.1})
    html = result._repr_html_()
    assert "aiplugs-1" in html and "10 KB identity" in html and "1.05x" in html
    assert "100 KB gzip" in repr(result)
    assert result.to_dict()["rows"] == ROWS
    import matplotlib

    matplotlib.use("Agg")
    ax = result.plot()
    assert len(ax.patches) == 5 and ax.get_legend() is not None


def test_injection_latency_measures_injection_only_through_aiplugs():
    from benchmarks.bench_injection import measure

    result = InjectionLatency(measure(sizes=[4000], plugins=[2], n=3, encodings=["identity", "gzip"])["rows"])
    rows = {(r["path"], r["encoding"]): r for r in result.rows}
    paths = ("direct", "mitmdump", "aiplugs (2 plugins)")
    assert set(rows) == {(p, e) for p in paths for e in ("identity", "gzip")}
    assert all(r["n"] == 3 and 0 < r["p50_ms"] <= r["p99_ms"] for r in rows.values())
    assert rows[("aiplugs (2 plugins)", "identity")]["injected"] and rows[("aiplugs (2 plugins)", "gzip")]["injected"]
    assert not rows[("direct", "gzip")]["injected"] and not rows[("mitmdump", "identity")]["injected"]
    assert len(result.ratios) == 2 and all("aiplugs (2 plugins)" in key for key in result.ratios)


def test_injection_latency_reads_the_suites_json(tmp_path):
    raw = {"suite": "injection", "quick": True, "rows": ROWS, "ratio_1_plugin": 1.05}
    combined = {"suite": "all", "ok": True, "suites": {"injection": {"ok": True, "seconds": 1.0, "result": raw}}}
    (tmp_path / "all.json").write_text(json.dumps(combined))
    for source in (tmp_path / "all.json", str(tmp_path / "all.json"), combined, raw):
        result = InjectionLatency.from_json(source)
        assert result.rows == ROWS and result.raw["ratio_1_plugin"] == 1.05
    failed = {"suite": "all", "suites": {"injection": {"ok": False, "error": "RuntimeError: mitmdump missing"}}}
    with pytest.raises(AiplugsError, match="injection benchmark failed: RuntimeError: mitmdump missing"):
        InjectionLatency.from_json(failed)
    with pytest.raises(AiplugsError, match="no injection suite"):
        InjectionLatency.from_json({"suite": "all", "suites": {"plan": {"ok": True, "result": {}}}})
    with pytest.raises(AiplugsError, match="no 'rows'"):
        InjectionLatency.from_json({"suite": "plan"})


def _checkout(root: Path, name: str = "aiplugs") -> Path:
    (root / "benchmarks").mkdir(parents=True)
    (root / "benchmarks" / "__main__.py").write_text("")
    (root / "pyproject.toml").write_text(f'[project]\nname = "{name}"\n')
    return root


def test_find_checkout_walks_up_then_tries_beside_the_package(tmp_path):
    nowhere = tmp_path / "site-packages"
    nowhere.mkdir()
    checkout = _checkout(tmp_path / "src")
    deep = checkout / "notebooks" / "deeper"
    deep.mkdir(parents=True)
    assert find_checkout(deep, package_parent=nowhere) == checkout.resolve()
    assert find_checkout(checkout, package_parent=nowhere) == checkout.resolve()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert find_checkout(outside, package_parent=checkout) == checkout.resolve()  # an editable install
    assert find_checkout(outside, package_parent=nowhere) is None
    other = _checkout(tmp_path / "other", name="not-aiplugs")  # benchmarks/ of some other project
    assert find_checkout(other, package_parent=nowhere) is None
    assert find_checkout(REPO / "aiplugs", package_parent=nowhere) == REPO


def test_outside_a_checkout_bench_says_where_the_suites_live(tmp_path, monkeypatch, capsys):
    from aiplugs.cli import _bench, main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_bench, "PACKAGE_PARENT", tmp_path / "site-packages")
    assert main(["bench", "plan", "--quick"]) == 1
    err = capsys.readouterr().err
    assert "no aiplugs source checkout" in err and "live in the source checkout's benchmarks/ folder" in err


def test_launcher_forwards_arguments_with_json_relative_to_here(tmp_path, monkeypatch):
    from aiplugs.cli import _bench, main

    calls = []

    def fake_run(argv, cwd):
        calls.append((argv, cwd))
        return subprocess.CompletedProcess(argv, 3)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_bench, "PACKAGE_PARENT", REPO)
    monkeypatch.setattr(_bench.subprocess, "run", fake_run)
    assert main(["bench", "plan", "apply", "--quick", "--json", "out.json"]) == 3
    assert calls == [([sys.executable, "-m", "benchmarks", "plan", "apply", "--quick", "--json",
                       str(tmp_path / "out.json")], REPO)]


def test_soak_suite_runs_calm_then_faulty_and_reports_for_the_runner():
    """Behaviour only, on a short schedule (the numbers themselves live in benchmarks/): both runs load pages and
    call a plugin, the faulty one kills workers and applies, nothing is left running, the runner finds the ratios."""
    from benchmarks.__main__ import _jsonable, ratio_rows
    from benchmarks.bench_soak import GOALS, Schedule, run

    result = run(schedule=Schedule(duration_s=6, kill_every_s=2, apply_every_s=4, warmup_s=1))  # kills 2, 4; applies 1, 5
    calm, faults = result["calm"], result["faults"]
    for one in (calm, faults):
        assert one["pages"] > 0 and one["calls"] > 0 and one["requests"] == one["pages"] + one["calls"]
        assert one["rss_start_mb"] > 0 and one["p50_ms"] <= one["p99_ms"]
        assert one["leftovers_after_down"] == 0 and not one["daemon_pid_changed"]
    assert calm["kills"] == 0 and calm["applies"] == [] and calm["errors_during_recovery"] == 0
    assert faults["kills"] == 2 and [a["workers"] for a in faults["applies"]] == [2, 1]
    assert all(a["rc"] == 0 for a in faults["applies"])
    rows = {r["metric"]: r for r in ratio_rows("soak", result)}
    assert {m: rows[m]["goal"] for m in GOALS} == GOALS and rows["rps_ratio"]["goal"] is None
    assert all(isinstance(r["goal_met"], bool) for r in rows.values())
    json.dumps(_jsonable(result))
