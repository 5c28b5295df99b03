"""The injection proxy: an embedded mitmproxy that splices the aiplugs page loader into matched pages.

``ProxyServer`` is what the daemon runs; the pure parts (``html``, ``csp``, ``classify``, ``encoding``, ``hosts``,
``loader``) are importable on their own. Importing this package does not import mitmproxy.
"""

from __future__ import annotations

from .certs import ca_dir, ensure_ca, fingerprint, trust_instructions
from .server import ProxyServer

__all__ = sorted(["ProxyServer", "ca_dir", "ensure_ca", "fingerprint", "trust_instructions"])
