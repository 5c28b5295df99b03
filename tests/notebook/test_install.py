"""``Session.install`` / ``ainstall``: a job view that waits with a tqdm bar, cancels, retries and shows itself as
HTML — against the real daemon of the notebook fixtures, with packages built by ``pack``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aiplugs.adapters.packages import Packed, pack
from aiplugs.errors import AiplugsError

from ..support import trickle_url
from .conftest import REPO, wait_for


def build(root: Path, plugin_id: str) -> Packed:
    folder = root / "src" / plugin_id
    shutil.copytree(REPO / "plugins" / "word-count", folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(id=plugin_id, name=plugin_id)
    manifest["content_scripts"][0]["matches"] = [f"*://{plugin_id}.example/*"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return pack(folder, root)


@pytest.fixture(scope="module")
def slow_url():
    with trickle_url() as url:
        yield url


def test_install_returns_a_job_that_waits_with_a_bar(session, tmp_path, capsys):
    packed = build(tmp_path, "nb-tally")
    job = session.install(str(packed.path))
    assert job.state == "queued" and not job.done and job.job_id
    assert job.wait(timeout=90) is job
    assert job.ok and job.done and job.error is None, job
    assert (job.plugin_id, job.job["sha256"], job.job["version"]) == ("nb-tally", packed.sha256, "1.0.0")
    bar = capsys.readouterr().err
    assert "install" in bar and "nb-tally: succeeded" in bar, bar
    assert session.call("nb-tally", {"text": "one two"})["words"] == 2
    html = job._repr_html_()
    assert "succeeded" in html and "#1a7f37" in html and packed.sha256 in html and "nb-tally" in html
    assert repr(job).startswith(f"InstallJob {job.job_id} nb-tally succeeded")


def test_a_failed_job_shows_its_error_and_can_be_retried(session, tmp_path):
    packed = build(tmp_path, "nb-wrong")
    job = session.install(str(packed.path), sha256="f" * 64).wait(progress=False, timeout=60)
    assert job.state == "failed" and "f" * 64 in job.error and packed.sha256 in job.error
    html = job._repr_html_()
    assert "#cf222e" in html and "sha256 mismatch" in html
    again = job.retry()
    assert again.job_id != job.job_id and again.job["retry_of"] == job.job_id
    assert again.wait(progress=False, timeout=60).state == "failed"


def test_a_slow_job_times_out_waiting_and_cancels(session, slow_url):
    job = session.install(slow_url)
    with pytest.raises(AiplugsError, match="still"):
        job.wait(timeout=0.5, progress=False)
    wait_for(lambda: job.refresh().job["bytes"] > 0)
    assert job.cancel().state == "cancelled" and job.done and not job.ok
    assert "#6e7781" in job._repr_html_()


async def test_ainstall_and_await_the_job(session, tmp_path):
    packed = build(tmp_path, "nb-async")
    job = await session.ainstall(str(packed.path), plugin_id="nb-async")
    assert job.job["request"]["id"] == "nb-async"
    assert (await job) is job and job.ok, job
    assert (await session.acall("nb-async", {"text": "x y z"}))["words"] == 3
