"""Content-Security-Policy: parse a policy, and amend it so the aiplugs loader and plugin assets are allowed.

Pure functions over strings. What ``amend_policy`` changes in one policy, and why:

- scripts (``script-src-elem`` > ``script-src`` > ``default-src``, the list the browser applies to a ``<script>``
  element): add ``'nonce-N'`` for the loader; the loader stamps the same nonce on the plugin scripts it adds, which
  also satisfies ``'strict-dynamic'``. A list that allows inline script through ``'unsafe-inline'`` (no nonce, hash
  or ``'strict-dynamic'`` in it) already allows the loader, and adding any nonce *or hash* would switch
  ``'unsafe-inline'`` off and break the site's own inline scripts and handlers - so such a list only gets the
  same-origin asset path ``<origin>/__aiplugs__/`` for the plugin files.
- ``connect-src`` / styles: the same-origin API path unless ``'self'`` or ``*`` already covers it. Chromium does
  not let an ``https://`` host-source match a ``wss://`` URL, so ``connect-src`` gets the ``wss://`` (``ws://``)
  form of the path too, for the WebSocket route.
- Trusted Types: ``trusted-types`` gets the ``aiplugs`` policy name; ``require-trusted-types-for`` tells the loader
  to create that policy before it assigns script URLs.

When the governing list is ``default-src`` a specific directive is added (a copy of ``default-src`` plus our
source) instead of changing ``default-src``, so other resource types keep exactly the page's rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["AmendResult", "Directive", "Policy", "TT_POLICY", "amend_header", "amend_policy", "parse_policy"]

TT_POLICY = "aiplugs"
_HASH_PREFIXES = ("'sha256-", "'sha384-", "'sha512-")


class Directive(NamedTuple):
    name: str  # lower case
    sources: tuple[str, ...]  # as written (keywords keep their quotes)


@dataclass(frozen=True)
class Policy:
    directives: tuple[Directive, ...]

    def get(self, name: str) -> Directive | None:
        # A repeated directive is ignored by browsers after its first occurrence.
        return next((d for d in self.directives if d.name == name), None)

    def effective(self, *names: str) -> Directive | None:
        """The first directive of ``names`` that is present: the fallback chain of CSP3."""
        for name in names:
            directive = self.get(name)
            if directive is not None:
                return directive
        return None

    def __str__(self) -> str:
        return "; ".join(" ".join((d.name, *d.sources)) for d in self.directives)


class AmendResult(NamedTuple):
    text: str
    changed: bool
    trusted_types: bool  # the policy enforces Trusted Types for scripts: the loader must use its TT policy


def parse_policy(text: str) -> Policy:
    directives = []
    for part in text.split(";"):
        tokens = part.split()
        if tokens:
            directives.append(Directive(tokens[0].lower(), tuple(tokens[1:])))
    return Policy(tuple(directives))


def split_policies(header_value: str) -> list[str]:
    """One header value may carry several policies separated by commas (each enforced on its own)."""
    return [p.strip() for p in header_value.split(",") if p.strip()]


def _lower(sources: tuple[str, ...]) -> set[str]:
    return {s.lower() for s in sources}


def _allows_inline(sources: tuple[str, ...]) -> bool:
    lowered = _lower(sources)
    if "'unsafe-inline'" not in lowered or "'strict-dynamic'" in lowered:
        return False
    return not any(s.startswith("'nonce-") or s.startswith(_HASH_PREFIXES) for s in lowered)


def _covers_same_origin(sources: tuple[str, ...]) -> bool:
    lowered = _lower(sources)
    return "'self'" in lowered or "*" in lowered


def _with(sources: tuple[str, ...], extra: str) -> tuple[str, ...]:
    kept = tuple(s for s in sources if s.lower() != "'none'")
    return kept if extra in kept else (*kept, extra)


def amend_policy(policy: Policy, *, nonce: str, origin: str, api_base: str = "/__aiplugs__/") -> tuple[Policy, bool]:
    """The policy with the loader, plugin assets and the API path allowed; returns (policy, trusted_types)."""
    asset_source = origin.rstrip("/") + api_base
    directives = list(policy.directives)
    changed: dict[str, tuple[str, ...]] = {}
    added: list[Directive] = []

    socket_source = ("wss://" if origin.startswith("https://") else "ws://") + asset_source.split("://", 1)[1]

    def put(chain: tuple[str, ...], *extras: str, unless_same_origin: bool) -> None:
        governing = policy.effective(*chain)
        if governing is None:
            return
        if unless_same_origin and _covers_same_origin(governing.sources):
            return
        new = governing.sources
        for extra in extras:
            new = _with(new, extra)
        if new == governing.sources:
            return
        if governing.name == "default-src":
            added.append(Directive(chain[-2], new))
        else:
            changed[governing.name] = new

    scripts = policy.effective("script-src-elem", "script-src", "default-src")
    if scripts is not None:
        if _allows_inline(scripts.sources):
            put(("script-src-elem", "script-src", "default-src"), asset_source, unless_same_origin=True)
        else:
            put(("script-src-elem", "script-src", "default-src"), f"'nonce-{nonce}'", unless_same_origin=False)
    put(("connect-src", "default-src"), asset_source, socket_source, unless_same_origin=True)
    put(("style-src-elem", "style-src", "default-src"), asset_source, unless_same_origin=True)

    trusted_types = policy.get("require-trusted-types-for") is not None
    tt = policy.get("trusted-types")
    if tt is not None:
        lowered = _lower(tt.sources)
        if "'none'" in lowered or not tt.sources:
            changed["trusted-types"] = (*(s for s in tt.sources if s.lower() != "'none'"), TT_POLICY)
        elif "*" not in lowered and TT_POLICY not in tt.sources:
            changed["trusted-types"] = (*tt.sources, TT_POLICY)

    if not changed and not added:
        return policy, trusted_types
    seen: set[str] = set()
    out = []
    for d in directives:
        if d.name in changed and d.name not in seen:
            out.append(Directive(d.name, changed[d.name]))
        else:
            out.append(d)
        seen.add(d.name)
    out.extend(added)
    return Policy(tuple(out)), trusted_types


def amend_header(value: str, *, nonce: str, origin: str) -> AmendResult:
    """Amends every policy in one header value (or one meta tag's content)."""
    texts, changed, trusted_types = [], False, False
    for text in split_policies(value):
        policy = parse_policy(text)
        amended, tt = amend_policy(policy, nonce=nonce, origin=origin)
        trusted_types = trusted_types or tt
        if amended is policy:
            texts.append(text)
        else:
            texts.append(str(amended))
            changed = True
    if not changed:
        return AmendResult(value, False, trusted_types)
    return AmendResult(", ".join(texts), True, trusted_types)
