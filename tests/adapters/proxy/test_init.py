"""The package's public face: a sorted __all__, and importing it does not import mitmproxy."""

from __future__ import annotations

import subprocess
import sys

import aiplugs.adapters.proxy


def test_public_names_are_sorted_and_importable() -> None:
    assert aiplugs.adapters.proxy.__all__ == sorted(aiplugs.adapters.proxy.__all__)
    for name in aiplugs.adapters.proxy.__all__:
        assert getattr(aiplugs.adapters.proxy, name) is not None


def test_importing_the_package_stays_light() -> None:
    code = ("import sys, aiplugs.adapters.proxy, aiplugs.adapters.proxy.inject, aiplugs.adapters.proxy.csp, aiplugs.adapters.proxy.html; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mitmproxy', 'aiohttp', 'uvicorn')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
