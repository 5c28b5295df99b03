"""Install jobs: the decisions on plain values, the jobs file, and the queue of a real daemon run in-process (real
router, workers and package store; plugin folders and a trickling HTTP server as package sources)."""

from __future__ import annotations

import asyncio
import json
import shutil
import stat
import time
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest

from aiplugs.errors import AiplugsError
from aiplugs.plan import DesiredState, Plan, load_desired_state
from aiplugs.declaration.plugins import Current
from aiplugs.declaration.config import load_config
from aiplugs.plan.packages import current_declaration
from aiplugs.runtime._install_decide import judge, readiness_problem
from aiplugs.runtime._install_steps import InstallFailed, identify
from aiplugs.runtime.converge import ConvergeResult, Failure
from aiplugs.runtime.jobs import JobConflict, JobNotFound, parse_request
from aiplugs.store.installjobs import (INTERRUPTED, InstallJob, JobState, interrupted, jobs_path, load_jobs,
                                       write_jobs)

from ..support import free_port, trickle_url, wait_for_async

REPO = Path(__file__).resolve().parents[2]
SHA_A, SHA_B = "a" * 64, "b" * 64


# ---- deciding ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("current, sha, version, force, expected, said", [
    (None, SHA_A, "1.0.0", False, "install", None),  # nothing of that id is declared
    (Current("package", "1.0.0", SHA_A), SHA_A, "1.0.0", False, "already", "already installed"),
    (Current("package", "1.0.0", SHA_A), SHA_B, "1.0.0", False, "refuse", "pass force"),  # other content
    (Current("package", "1.0.0", SHA_A), SHA_B, "1.0", True, "install", "(force)"),
    (Current("package", "1.0.0", SHA_A), SHA_B, "1.1.0", False, "install", "replaces p 1.0.0"),  # an upgrade
    (Current("package", None, None), SHA_B, "1.0.0", False, "install", "replaces p (version unknown)"),
    (Current("folder", "1.0.0", None), SHA_A, "2.0.0", False, "refuse", "plugin folder p"),
    (Current("folder", "1.0.0", None), SHA_A, "2.0.0", True, "install", "plugin folder p (force)"),
])
def test_judge_follows_the_verdict_of_plugins_install(current, sha, version, force, expected, said) -> None:
    decision, why = judge(current, "p", version, sha, force)
    assert decision == expected
    assert (why is None) if said is None else (said in why)
    if decision == "refuse":
        assert "Nothing was changed" in why
        if current.kind == "package":
            assert SHA_A in why and SHA_B in why  # both contents, in full


def test_current_declaration_reads_what_plugins_install_reads(project: Path, clean_env: dict[str, str]) -> None:
    config = project / "aiplugs.toml"

    def current(plugin_id: str):
        return current_declaration(load_config(config, env=clean_env), plugin_id)

    assert current("word-count") == (Current("folder", "1.0.0", None), True)
    assert current("nothing-here") == (None, False)
    config.write_text(config.read_text() + f'\n[plugins.packed]\nsource = "https://x/p.zip"\nsha256 = "{SHA_A}"\n')
    assert current("packed") == (Current("package", None, SHA_A), False)  # not installed


def test_identify_refuses_an_invalid_manifest_and_another_id(tmp_path: Path) -> None:
    import zipfile

    from aiplugs.adapters.packages import pack

    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"manifest_version": 3, "id": "broken", "version": "1"}))
    with pytest.raises(InstallFailed, match="manifest is not valid: .*name"):
        identify(broken, "https://x/broken.zip", SHA_A, None)
    packed = pack(REPO / "plugins" / "word-count", tmp_path)
    assert identify(packed.path, "u", packed.sha256, "word-count").version == "1.0.0"
    with pytest.raises(InstallFailed, match="holds plugin 'word-count', not 'other'"):
        identify(packed.path, "u", packed.sha256, "other")


def _row(state: str, **extra) -> dict:
    return {"plugins": [{"id": "word-count", "state": state, "last_error": None, "stderr_tail": [], **extra}]}


def test_readiness_problem(desired: DesiredState) -> None:
    ok, empty = ConvergeResult(Plan(())), Plan(())
    assert readiness_problem("word-count", desired, ok, _row("ready"), routed=True) is None
    assert readiness_problem("word-count", desired, ok, _row("idle"), routed=True) is None  # lazy: first call starts
    failed = ConvergeResult(empty, (Failure("worker word-count#0", "ImportError: x"), Failure("worker other#0", "y")))
    assert readiness_problem("word-count", desired, failed, _row("ready"), routed=True) == \
        "worker word-count#0: ImportError: x"
    model = ConvergeResult(empty, (Failure("model sentiment-lexicon-v1.tsv", "404"),))
    assert readiness_problem("word-count", desired, model, _row("ready"), routed=True) is None  # not its model
    assert "404" in readiness_problem("sentiment", desired, model, {"plugins": []}, routed=True)
    assert "failed after the apply: crash" in readiness_problem(
        "word-count", desired, ok, _row("failed", last_error="crash"), routed=True)
    assert "disabled" in readiness_problem("word-count", desired, ok, _row("disabled"), routed=True)
    assert "no route" in readiness_problem("word-count", desired, ok, _row("ready"), routed=False)
    assert "not in the applied declaration" in readiness_problem("x", desired, ok, _row("ready"), routed=True)


@pytest.mark.parametrize("body, named", [
    ({}, '"uri"'), ({"uri": " "}, '"uri"'), ({"uri": "x", "id": "Bad Id"}, "'Bad Id'"),
    ({"uri": "x", "sha256": "abc"}, "'abc'"), ({"uri": "x", "force": "yes"}, "'yes'"),
    ({"uri": "x", "version": "1"}, "'version'"),
])
def test_a_bad_request_names_the_bad_value(body, named) -> None:
    with pytest.raises(AiplugsError, match=named):
        parse_request(body)


def test_a_request_becomes_the_fields_of_a_job() -> None:
    assert parse_request({"uri": " https://x/p.zip ", "id": "p", "sha256": "A" * 64, "force": True}) == {
        "uri": "https://x/p.zip", "requested_id": "p", "expected_sha256": "a" * 64, "force": True}


# ---- the jobs file ----------------------------------------------------------------------------------------------

def _job(job_id: str, state: JobState = JobState.QUEUED, at: float = 1.0) -> InstallJob:
    return InstallJob(job_id=job_id, uri="https://user:pw@example.com/p.zip", created_at=at, updated_at=at,
                      state=state)


def test_the_jobs_file_round_trips_atomically_and_privately(tmp_path: Path) -> None:
    jobs = [_job("a", JobState.SUCCEEDED), _job("b", JobState.FETCHING, at=2.0)]
    write_jobs(tmp_path, jobs)
    assert load_jobs(tmp_path) == jobs
    assert stat.S_IMODE(jobs_path(tmp_path).stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["installs.json"]  # no temp file left beside it
    assert "pw" not in json.dumps(jobs[0].view()) and jobs[0].view()["request"]["uri"].startswith("https://")


def test_a_damaged_jobs_file_is_set_aside(tmp_path: Path) -> None:
    jobs_path(tmp_path).write_text('{"jobs": [{"job_id": 1')
    assert load_jobs(tmp_path) == []
    assert (tmp_path / "installs.json.broken").read_text() == '{"jobs": [{"job_id": 1'
    assert load_jobs(tmp_path / "nowhere") == []


def test_old_finished_jobs_go_but_unfinished_ones_stay(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("aiplugs.store.installjobs.KEEP", 2)
    jobs = [_job("q", JobState.QUEUED, 0.5)] + [_job(f"f{i}", JobState.FAILED, float(i)) for i in range(4)]
    write_jobs(tmp_path, jobs)
    assert [j.job_id for j in load_jobs(tmp_path)] == ["q", "f2", "f3"]


def test_unfinished_jobs_are_interrupted_and_moves_keep_time() -> None:
    before = time.time()
    fixed = interrupted([_job("a", JobState.SUCCEEDED), _job("b", JobState.ACTIVATING), _job("c")])
    assert [(j.state, j.error) for j in fixed] == [(JobState.SUCCEEDED, None), (JobState.FAILED, INTERRUPTED),
                                                   (JobState.FAILED, INTERRUPTED)]
    assert fixed[0].finished_at is None and fixed[1].finished_at >= before
    moved = _job("d").moved(JobState.FETCHING, bytes=5)
    assert moved.started_at >= before and moved.finished_at is None and moved.bytes == 5


# ---- a real daemon's queue --------------------------------------------------------------------------------------

@pytest.fixture
def slow_url() -> Iterator[str]:
    with trickle_url() as url:
        yield url


def plugin_folder(root: Path, plugin_id: str) -> str:
    folder = root / "sources" / plugin_id
    shutil.copytree(REPO / "plugins" / "word-count", folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(id=plugin_id, name=plugin_id)
    manifest["content_scripts"][0]["matches"] = [f"*://{plugin_id}.example/*"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return str(folder)


@pytest.fixture
async def daemon(project: Path, clean_env: dict[str, str]) -> AsyncIterator:
    from aiplugs.runtime.daemon import Daemon

    config = project / "aiplugs.toml"
    text = config.read_text().replace("[api]\n", f"[api]\nport = {free_port()}\n", 1)
    config.write_text(text.replace("[proxy]\n", f"[proxy]\nport = {free_port()}\n", 1))
    _, desired = load_desired_state(config, env=clean_env)
    running = Daemon(desired, env=clean_env, reconcile_interval=60)
    ready = asyncio.Event()
    task = asyncio.create_task(running.run(on_ready=lambda d: ready.set()))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    assert ready.is_set(), task.exception() if task.done() else "the daemon did not start within 60 s"
    running.task = task
    try:
        yield running
    finally:
        running.stop()
        await asyncio.wait_for(task, 60)


async def finished(daemon, job_id: str) -> dict:
    return await wait_for_async(lambda: (j := daemon.installs.get(job_id))["state"] in
                                ("succeeded", "failed", "cancelled") and j, timeout=90)


def states(daemon, job_id: str) -> list[tuple[int, str]]:
    return [(e.seq, e.data["state"]) for e in daemon.events.history()
            if e.type == "install.state" and e.data["job_id"] == job_id]


async def test_jobs_run_one_at_a_time(daemon, tmp_path: Path) -> None:
    first = await daemon.start_install({"uri": plugin_folder(tmp_path, "tally-one")})
    second = await daemon.start_install({"uri": plugin_folder(tmp_path, "tally-two")})
    one, two = await finished(daemon, first["job_id"]), await finished(daemon, second["job_id"])
    assert (one["state"], two["state"]) == ("succeeded", "succeeded"), (one, two)
    first_done = states(daemon, first["job_id"])[-1][0]
    second_moves = [seq for seq, state in states(daemon, second["job_id"]) if state != "queued"]
    assert second_moves and min(second_moves) > first_done, "the second job waited for the first to end"
    declared = load_desired_state(daemon.desired.config_path, env=daemon.env)[0].settings.plugins
    assert declared["tally-one"].sha256 == one["sha256"] and declared["tally-two"].sha256 == two["sha256"]
    assert (await daemon.system.workers.call("tally-two", {"text": "a b"}))["words"] == 2
    assert not list((daemon.state_dir / "packages" / ".downloads").glob("_install*"))  # the scratch copy went
    assert [j["job_id"] for j in (await daemon.install_jobs())["jobs"]] == [second["job_id"], first["job_id"]]


async def test_cancel_retry_and_their_refusals(daemon, tmp_path: Path, slow_url: str) -> None:
    slow = await daemon.start_install({"uri": slow_url})
    queued = await daemon.start_install({"uri": plugin_folder(tmp_path, "tally-three")})
    await wait_for_async(lambda: daemon.installs.get(slow["job_id"])["bytes"] > 0)
    with pytest.raises(JobConflict, match="only a failed or cancelled job"):
        await daemon.retry_install(slow["job_id"])
    assert (await daemon.cancel_install(queued["job_id"]))["state"] == "cancelled"
    assert [s for _, s in states(daemon, queued["job_id"])] == ["queued", "cancelled"]  # it never started
    assert (await daemon.cancel_install(slow["job_id"]))["state"] == "cancelled"
    with pytest.raises(JobConflict, match="too late to cancel"):
        await daemon.cancel_install(slow["job_id"])
    with pytest.raises(JobNotFound):
        await daemon.install_job("nope")
    retried = await daemon.retry_install(queued["job_id"])
    assert retried["job"]["retry_of"] == queued["job_id"]
    assert (await finished(daemon, retried["job_id"]))["state"] == "succeeded"


async def test_a_stopping_daemon_fails_its_running_job_as_interrupted(daemon, slow_url: str) -> None:
    job = await daemon.start_install({"uri": slow_url})
    await wait_for_async(lambda: daemon.installs.get(job["job_id"])["state"] == "fetching")
    daemon.stop()
    await asyncio.wait_for(daemon.task, 60)
    recorded = {j.job_id: j for j in load_jobs(daemon.state_dir)}[job["job_id"]]
    assert (recorded.state, recorded.error) == (JobState.FAILED, INTERRUPTED)
    assert not list((daemon.state_dir / "packages").rglob("*.part"))
