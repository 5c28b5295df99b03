"""RayInstance's connect to a cluster is bounded: nothing listening fails at once with the address, a listener that
never answers like Ray fails after the timeout, and the thread left inside ray.init does not hold up the exit."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time

import pytest

from aiplugs.adapters.ray.instance import RayInstance, probe

from ...support import free_port


def test_probe_names_what_does_not_answer() -> None:
    port = free_port()
    with pytest.raises(ConnectionError, match=f"nothing answers at 127.0.0.1:{port}"):
        probe(f"ray://127.0.0.1:{port}")
    with pytest.raises(ConnectionError, match=f"nothing answers at 127.0.0.1:{port}"):
        probe(f"127.0.0.1:{port}")
    for bad in ("ray://head", "head:port", "ray://:10001"):
        with pytest.raises(ConnectionError, match="is no host:port"):
            probe(bad)
    probe("auto")  # left to ray.init: the cluster this machine's Ray reports


def test_probe_passes_a_listener() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        probe(f"ray://127.0.0.1:{server.getsockname()[1]}")


def test_joining_a_cluster_nobody_runs_fails_at_once_without_importing_ray() -> None:
    code = textwrap.dedent(f"""
        import sys, time
        from aiplugs.adapters.ray.instance import RayInstance
        t = time.monotonic()
        try:
            RayInstance("ray://127.0.0.1:{free_port()}").start_sync()
        except ConnectionError as e:
            print("refused", round(time.monotonic() - t, 1), "ray" in sys.modules, e)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    words = out.stdout.split()
    assert words[:1] == ["refused"] and float(words[1]) < 5 and words[2] == "False", out.stdout + out.stderr


def test_a_listener_that_is_not_ray_times_out_and_the_process_still_exits() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (the kernel does), never answers
        code = textwrap.dedent(f"""
            import time
            from aiplugs.adapters.ray.instance import RayInstance
            instance = RayInstance("127.0.0.1:{silent.getsockname()[1]}")
            t = time.monotonic()
            try:
                instance.start_sync(timeout_s=4)
            except TimeoutError as e:
                print("timeout", round(time.monotonic() - t, 1), instance.started, e, flush=True)
        """)
        started = time.monotonic()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
        took = time.monotonic() - started
    assert out.stdout.startswith("timeout "), out.stdout + out.stderr[-2000:]
    words = out.stdout.split()
    assert 4 <= float(words[1]) < 10 and words[2] == "False" and "within 4 s" in out.stdout
    assert out.returncode == 0 and took < 120, (out.returncode, took)


def test_a_new_instance_is_not_started() -> None:
    instance = RayInstance("ray://127.0.0.1:1")
    assert not instance.started and instance.where == "ray: ray://127.0.0.1:1" and not instance.owned
