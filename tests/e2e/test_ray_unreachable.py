"""A plugin declared on a Ray cluster nobody runs: the apply says so at once (the address and that nothing answers),
the plugin shows that error in status while the daemon retries with backoff and is failed once that gives up (a
crash loop, like a worker that never starts), the plugin on worker processes beside it is ready throughout, and the
next apply tries again."""

from __future__ import annotations

import time

import pytest

from ..support import free_port, wait_for
from .test_ray import System

pytestmark = pytest.mark.e2e


@pytest.fixture
def system(tmp_path):
    made = System(tmp_path)
    port = free_port()
    text = made.config.read_text().replace("[ray]\nnum_cpus = 2\n", f'[ray]\naddress = "ray://127.0.0.1:{port}"\n')
    made.config.write_text(text)
    made.port = port
    yield made
    made.cli("down", timeout=120)


def test_an_unreachable_cluster_fails_its_plugin_fast_and_clearly(system) -> None:
    started = time.monotonic()
    applied = system.cli("apply", "--auto-approve", "--wait-timeout", "60")
    took = time.monotonic() - started
    assert f"ray: ray://127.0.0.1:{system.port}" in applied.stdout  # the plan says where it runs
    assert applied.returncode != 0 and took < 60, (applied.returncode, took, applied.stdout[-2000:])
    on_ray, on_procs = system.plugin("on-ray"), system.plugin("on-procs")
    assert on_procs["state"] == "ready"
    assert on_ray["state"] == "starting" and on_ray["runs_on"] == f"ray: ray://127.0.0.1:{system.port}", on_ray
    assert f"nothing answers at 127.0.0.1:{system.port}" in (on_ray["last_error"] or ""), on_ray
    wait_for(lambda: system.plugin("on-ray")["state"] == "failed", timeout=60, interval=1)  # backoff gave up
    assert system.plugin("on-procs")["state"] == "ready"
    again = system.cli("apply", "--auto-approve", "--wait-timeout", "60")
    assert again.returncode != 0 and f"nothing answers at 127.0.0.1:{system.port}" in again.stdout + again.stderr
