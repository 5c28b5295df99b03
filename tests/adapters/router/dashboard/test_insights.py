"""The Metrics page over the real history endpoint, the Suggestions page over the real suggestion endpoints (with
an autotuner answering from canned data), and the state that says a daemon has neither."""

from __future__ import annotations

import time
from typing import Any

from aiplugs.adapters.router.dashboard.metrics_page import charts, summaries
from aiplugs.adapters.router.dashboard.suggestions import diff_lines, suggestion_view
from aiplugs.store.metrics_history import MetricsHistory, history_path
from aiplugs.store.rollup import Rollup

from .conftest import OWN, Dash

SUGGESTION = {
    "id": "scale-up:echo:3f2a1c", "rule": "scale-up", "plugin": "echo", "title": "scale echo up: 1 → 2 workers",
    "evidence": {"window_s": 300.0, "samples": 60, "since": 0, "until": 300,
                 "thresholds": [{"metric": "wait_p95_ms", "op": ">=", "limit": 50.0, "value": 180.5, "over": 57}],
                 "numbers": {"rps": 12.5, "utilization": 0.97}},
    "change": {"plugin": "echo", "setting": "workers", "old": 1, "new": 2},
    "expected": "waits for a free worker drop", "confidence": "high",
    "diff": "--- aiplugs.toml\n+++ aiplugs.toml\n@@ -7 +7 @@\n-workers = 1  # one is plenty\n+workers = 2  # one is plenty\n",
}


def test_metrics_points_become_charts_with_gaps_for_missing_values() -> None:
    points = summaries({"points": [{"time": 120, "rps": None}, {"time": 60, "rps": 2.0, "p50_ms": 5.0}]})
    assert [p["time"] for p in points] == [60, 120]
    drawn = {c["id"]: c for c in charts(points)}
    assert set(drawn) == {"rps", "latency", "errors", "cpu", "rss"}
    assert drawn["latency"]["labels"] == ["p50", "p95"] and "<svg" in drawn["rps"]["svg"]


async def test_the_metrics_page_draws_the_recorded_history(dash: Dash) -> None:
    minute = int(time.time()) // 60 * 60
    rollups = [Rollup("echo", minute - 60 * i, samples=12, span_s=60.0, workers_sum=12.0, workers_max=1,
                      cpu_pct_sum=120.0 + i, rss_sum=12 * 50e6, rss_max=int(50e6), calls=30 * (i + 1))
               for i in range(5)]
    MetricsHistory(history_path(dash.ctx.workers.state_dir)).write(rollups)
    await dash.sign_in()
    page = (await dash.client.get("/ui/metrics", params={"plugin": "echo", "range": "15m"})).text
    assert page.count("<svg") == 5 and page.count("<polyline") >= 4  # errors, cpu, rss, rps (no latency buckets)
    assert "Requests per second" in page and 'id="not-available"' not in page
    assert '<option value="echo" selected>' in page and '<option value="15m" selected>' in page


def test_a_history_entry_reads_like_a_suggestion_with_its_verdict() -> None:
    entry = {"id": 7, "suggestion": SUGGESTION, "applied_at": 1000.0, "diff": SUGGESTION["diff"],
             "verdict": "improved", "verdict_reason": "wait p95 180 → 4 ms", "reverted_at": None, "revertible": True}
    view = suggestion_view(entry)
    assert view["entry_id"] == 7 and view["id"] == SUGGESTION["id"] and view["state"] == "applied"
    assert view["revertible"] and view["verdict"] == "improved" and view["when"] == 1000.0
    assert ("threshold crossed", "wait_p95_ms 180.5 >= 50 (in 57 samples)") in view["evidence"]
    assert view["change"] == "plugins.echo.workers: 1 → 2"
    reverted = suggestion_view({**entry, "reverted_at": 2000.0, "revertible": False})
    assert reverted["state"] == "reverted" and not reverted["revertible"]
    assert [line["kind"] for line in diff_lines(SUGGESTION["diff"])] == ["head", "head", "hunk", "del", "add"]


class Tuner:
    """The daemon's autotuner as ``suggestions_api`` calls it (``ctx.control.autotune``), from canned data."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, Any]] = []
        self.applied: list[dict[str, Any]] = []

    def listing(self) -> dict[str, Any]:
        return {"evaluated_at": time.time(), "config_sha256": "c0ffee",
                "suggestions": [] if self.applied else [SUGGESTION], "autoscaling": {}}

    def history_listing(self) -> dict[str, Any]:
        return {"history": self.applied}

    async def apply(self, ref: str, expect: str | None = None) -> dict[str, Any]:
        self.asked.append(("apply", ref, expect))
        self.applied.append({"id": 1, "suggestion": SUGGESTION, "applied_at": time.time(),
                             "diff": SUGGESTION["diff"], "verdict": None, "reverted_at": None, "revertible": True})
        return {"entry": self.applied[-1], "apply": {"ok": True}}

    async def reject(self, ref: str) -> dict[str, Any]:
        self.asked.append(("reject", ref))
        return {"rejected": ref}

    async def revert(self, ref: str) -> dict[str, Any]:
        self.asked.append(("revert", ref))
        self.applied[-1] = {**self.applied[-1], "reverted_at": time.time(), "revertible": False}
        return {"reverted": 1}


async def test_a_suggestion_shows_its_evidence_and_diff_applying_it_lands_in_the_history(dash: Dash) -> None:
    tuner = dash.daemon.autotune = Tuner()  # type: ignore[attr-defined]
    await dash.sign_in()
    page = (await dash.client.get("/ui/suggestions")).text
    assert "scale echo up: 1 → 2 workers" in page and "wait_p95_ms 180.5 &gt;= 50" in page
    assert '<span class="diff-add">+workers = 2  # one is plenty</span>' in page
    assert f'id="apply-{SUGGESTION["id"]}"' in page and "Nothing applied or rejected yet." in page
    answer = await dash.client.post(f"/ui/suggestions/{SUGGESTION['id']}/apply", headers=OWN,
                                    data={"config_sha256": "c0ffee"})
    assert answer.status_code == 303 and tuner.asked == [("apply", SUGGESTION["id"], "c0ffee")]
    after = (await dash.client.get(answer.headers["location"])).text
    assert f"Applied suggestion {SUGGESTION['id']}." in after and "No open suggestions" in after
    assert 'id="revert-1"' in after and '<span class="badge applied">applied</span>' in after
    await dash.client.post("/ui/suggestions/1/revert", headers=OWN)
    assert tuner.asked[-1] == ("revert", "1")
    assert '<span class="badge reverted">reverted</span>' in (await dash.client.get("/ui/suggestions")).text


async def test_a_failed_action_says_why(dash: Dash) -> None:
    await dash.sign_in()  # the stand-in daemon has no autotuner: the API answers 503
    answer = await dash.client.post("/ui/suggestions/x/reject", headers=OWN)
    assert "Could not reject x: no autotuner" in (await dash.client.get(answer.headers["location"])).text


async def test_without_the_endpoints_the_pages_say_so(dash: Dash) -> None:
    dash.app.router.routes[:] = [r for r in dash.app.router.routes
                                 if not getattr(r, "path", "").startswith(("/api/suggestions", "/api/metrics"))]
    await dash.sign_in()
    assert 'id="not-available"' in (await dash.client.get("/ui/suggestions")).text
    assert 'id="not-available"' in (await dash.client.get("/ui/metrics")).text
    answer = await dash.client.post("/ui/suggestions/x/apply", headers=OWN)
    assert "cannot apply suggestions" in (await dash.client.get(answer.headers["location"])).text
