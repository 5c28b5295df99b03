import aiplugs.adapters.workers as workers


def test_public_names_are_sorted_and_exist() -> None:
    assert workers.__all__ == sorted(workers.__all__)
    for name in workers.__all__:
        assert hasattr(workers, name), name
    assert {"WorkerManager", "Reply", "WorkerError"} <= set(workers.__all__)
    assert issubclass(workers.WorkerError, __import__("aiplugs").AiplugsError)


def test_harness_imports_only_the_standard_library() -> None:
    import subprocess
    import sys

    code = ("import runpy, sys; sys.argv = ['x', '--help']\n"
            "try:\n    runpy.run_path(%r, run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiplugs', 'pydantic', 'starlette')))"
            % workers.manager.__file__.replace("manager.py", "harness.py"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
