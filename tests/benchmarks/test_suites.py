"""Every benchmark suite runs in its quick setting and compares itself to its baseline: at least one ratio with a
numeric goal, and a yes/no ``goal_met`` (``python -m benchmarks --check``). Timings themselves are never asserted.

CI runs the suites once (``.ci/run``) and points ``BENCHMARKS_REPORT`` at their JSON; without it this test runs
them (several minutes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import available, problems, ratio_rows

from ..conftest import clean_environ

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
REPORT_ENV = "BENCHMARKS_REPORT"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    given = os.environ.get(REPORT_ENV)
    if given:
        return json.loads(Path(given).read_text())
    out = tmp_path_factory.mktemp("benchmarks") / "all.json"
    subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)], cwd=REPO,
                   env=clean_environ(), timeout=1700, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads(out.read_text())


@pytest.mark.timeout(1800)
def test_every_suite_runs_and_reports_a_ratio_with_a_goal(report: dict) -> None:
    assert report["quick"] is True
    assert sorted(report["suites"]) == sorted(available())
    assert problems(report) == []
    for name, suite in report["suites"].items():
        rows = [r for r in report["ratios"] if r["suite"] == name]
        assert rows, name
        if not str(suite["result"].get("goal", "")).startswith("none:"):
            assert any(r["goal"] is not None and isinstance(r["goal_met"], bool) for r in rows), name


def _report(**suites: dict) -> dict:
    ratios = [row for name, suite in suites.items() if suite.get("ok")
              for row in ratio_rows(name, suite.get("result"))]
    return {"suites": suites, "ratios": ratios}


def test_check_names_what_makes_a_report_unusable() -> None:
    good = {"ok": True, "result": {"rps_ratio": 0.7, "goal": 0.6, "goal_met": True}}
    assert problems(_report(router=good)) == []
    assert problems(_report(router={"ok": False, "error": "RuntimeError: boom"})) == ["router: failed: RuntimeError: boom"]
    no_goal = {"ok": True, "result": {"rps_ratio": 0.7, "goal_met": True}}
    assert problems(_report(router=no_goal)) == ["router: reports no ratio with a goal"]
    no_verdict = {"ok": True, "result": {"rps_ratio": 0.7, "goal": 0.6}}
    assert problems(_report(router=no_verdict)) == ["router: reports no goal_met"]
    no_ratio = {"ok": True, "result": {"seconds": 3.0, "goal": 1.0, "goal_met": False}}
    assert problems(_report(plan=no_ratio, router=good)) == ["plan: reports no ratio with a goal"]
    stated = {"ok": True, "result": {"p50_ratio": 14.0, "goal": "none: measures what scale-out costs"}}
    assert problems(_report(ray=stated)) == []
    assert problems(_report(ray={"ok": True, "result": {"goal": "none: nothing measured"}})) == ["ray: reports no ratio"]
    empty_reason = {"ok": True, "result": {"p50_ratio": 14.0, "goal": "none:"}}
    assert problems(_report(ray=empty_reason)) == ["ray: reports no ratio with a goal", "ray: reports no goal_met"]
