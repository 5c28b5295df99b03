import aiplugs.adapters.workers as workers


def test_public_names_are_sorted_and_exist() -> None:
    assert workers.__all__ == sorted(workers.__all__)
    for name in workers.__all__:
        assert hasattr(workers, name), name
    assert {"WorkerManager", "Reply", "WorkerError", "HookFailed"} <= set(workers.__all__)
    assert issubclass(workers.WorkerError, __import__("aiplugs").AiplugsError)


SIBLINGS = ("entries", "lifeline", "outbox", "plugin_context", "protocol", "sync_executor")  # what harness.py imports of its folder


def test_harness_imports_only_the_standard_library() -> None:
    import subprocess
    import sys

    harness = workers.manager.__file__.replace("manager.py", "harness.py")
    code = (f"import runpy, sys; sys.argv = ['x', '--help']\n"
            f"try:\n    runpy.run_path({harness!r}, run_name='__main__')\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiplugs', 'pydantic', 'starlette')))\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {SIBLINGS!r} or m.startswith('_aiplugs')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    third_party, siblings = out.strip().splitlines()[-2:]
    assert third_party == "[]"
    # its siblings come in under a private package name, never under one a backend's own module may have
    assert siblings == str(sorted(["_aiplugs_worker", *(f"_aiplugs_worker.{m}" for m in SIBLINGS)]))
