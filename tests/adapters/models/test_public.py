"""The curated public face, and lazy imports."""

from __future__ import annotations

import subprocess
import sys

import aiplugs.adapters.models


def test_all_is_sorted_and_importable():
    assert aiplugs.adapters.models.__all__ == sorted(aiplugs.adapters.models.__all__)
    for name in aiplugs.adapters.models.__all__:
        assert hasattr(aiplugs.adapters.models, name)


def test_cli_does_not_import_network_stacks():
    code = ("import sys, aiplugs.cli; bad = [m for m in ('aiohttp', 'mitmproxy', 'uvicorn') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_importing_models_does_not_import_aiohttp():
    out = subprocess.run([sys.executable, "-c", "import sys, aiplugs.adapters.models; print('aiohttp' in sys.modules)"],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
