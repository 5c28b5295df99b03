import subprocess
import sys

import aiplugs.adapters.router as router


def test_public_names_are_sorted_and_exist() -> None:
    assert router.__all__ == sorted(router.__all__)
    for name in router.__all__:
        assert hasattr(router, name), name
    assert {"RouterContext", "RouterServer", "Controller", "create_app"} <= set(router.__all__)


def test_importing_aiplugs_does_not_import_the_router_stack() -> None:
    code = "import sys, aiplugs, aiplugs.plan, aiplugs.plan; " \
           "print([m for m in ('uvicorn', 'starlette', 'aiohttp', 'aiplugs.adapters.router', 'aiplugs.adapters.workers') " \
           "if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
