"""How aiplugs loads and runs the embedded mitmproxy more cheaply than mitmproxy's own tools, same behaviour.

``lean_addons()``: importing any ``mitmproxy.addons.<name>`` runs the package's ``__init__``, which imports all
~30 default addons of mitmdump and through them flask, werkzeug, ldap3, passlib, asgiref (~320 modules, ~16 MB
of the daemon's resident memory) for the six addons ``ProxyServer`` runs: registered without its ``__init__``
(``util.lean_import``; the first use of ``default_addons`` still works, it runs the ``__init__`` then).

``install()``: mitmproxy's ``Context.fork`` (once per HTTP request, for the request's stream layer) builds a
complete new ``connection.Server`` - a dataclass whose ``__init__`` draws a uuid4 and runs ~25 attribute
assignments through ``Server.__setattr__`` - and replaces it with the parent's server on the next line. On a 10 KB
page through the proxy that throw-away object was ~10 % of the proxy's CPU (py-spy,
``benchmarks/bench_injection.py``). The replacement builds the same forked context without it. mitmproxy is pinned (``>=11,<12``); a release whose
``fork`` reads differently is left alone.
"""

from __future__ import annotations

import inspect
import textwrap
from typing import Any

from ...util.lean_import import without_init

__all__ = ["install", "lean_addons"]

_EXPECTED = '''
def fork(self) -> "Context":
    ret = Context(self.client, self.options)
    ret.server = self.server
    ret.layers = self.layers.copy()
    return ret
'''


def install() -> bool:
    """Replaces ``Context.fork`` once; True when the lighter fork is in place."""
    from mitmproxy.proxy import context

    cls: Any = context.Context
    if getattr(cls.fork, "_aiplugs", False):
        return True
    try:
        source = textwrap.dedent(inspect.getsource(cls.fork))
    except (OSError, TypeError):
        return False
    if source.strip() != _EXPECTED.strip():
        return False

    def fork(self: Any) -> Any:
        ret = cls.__new__(cls)
        ret.client, ret.options, ret.server, ret.layers = self.client, self.options, self.server, self.layers.copy()
        return ret

    fork._aiplugs = True  # type: ignore[attr-defined]
    fork.__doc__ = cls.fork.__doc__
    cls.fork = fork
    return True


def lean_addons() -> bool:
    """Makes ``mitmproxy.addons`` importable without its ``__init__``; call before importing ``mitmproxy.master``.
    True when the package is (now) registered that way."""
    return without_init("mitmproxy.addons")
