"""What every suite shares: percentiles, machine info, the results table and the JSON file; fair rounds."""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

T = TypeVar("T")

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def summary(values: Iterable[float]) -> dict[str, float]:
    """``n``, ``p50``, ``p99`` and ``mean``; NaN for no values. Percentiles interpolate linearly between the
    closest ranks (``statistics.quantiles(method="inclusive")``, numpy's default)."""
    data = list(values)
    if len(data) < 2:  # quantiles() needs two points; one value is every percentile of itself
        p50 = p99 = float(data[0]) if data else float("nan")
    else:
        cuts = statistics.quantiles(data, n=100, method="inclusive")  # cuts[k - 1] is the k-th percentile
        p50, p99 = cuts[49], cuts[98]
    return {"n": len(data), "p50": p50, "p99": p99, "mean": statistics.fmean(data) if data else float("nan")}


def machine_info() -> dict[str, Any]:
    return {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def write_json(suite: str, result: dict[str, Any], path: str | os.PathLike[str] | None = None) -> Path:
    """Writes ``{"suite", "machine", ...result}`` to ``path`` or ``benchmarks/results/<suite>.json``."""
    target = Path(path) if path else RESULTS_DIR / f"{suite}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"suite": suite, "machine": machine_info(), **result}, indent=2) + "\n")
    return target


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    """One aligned table; floats to 3 significant decimals."""
    if not rows:
        return
    cols = list(rows[0])
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print(f"\n== {title}")
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
    return "" if value is None else str(value)


def self_signed(folder: Path, names: tuple[str, ...] = ("localhost",)) -> None:
    """``cert.pem`` and ``key.pem`` in ``folder``: a self-signed certificate for ``names``, valid for a week."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))


def free_ports(n: int) -> list[int]:
    """``n`` distinct loopback ports free right now (all bound at once, then released)."""
    import socket

    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def rss_mb(pid: int) -> float:
    """``VmRSS`` of ``pid`` from ``/proc/<pid>/status``, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def client_env() -> dict[str, str]:
    """This environment for an ``aiplugs`` command a benchmark runs: no AIPLUGS_* overrides and no cloud secrets
    from the caller's shell, no colour."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AIPLUGS_") and k not in ("SYSTEM_API_KEY", "CLOUD_BASE_URL")}
    env["NO_COLOR"] = "1"
    return env


REPO = Path(__file__).resolve().parents[1]


def example_project(root: Path, proxy_hosts: dict[str, str] | None = None) -> Path:
    """A copy of the shipped example (``aiplugs.toml``, ``plugins/``, ``examples/``) on free ports in ``root``;
    ``proxy_hosts`` goes to ``[proxy] hosts``. Returns its ``aiplugs.toml``."""
    import shutil

    import tomlkit

    root.mkdir(parents=True)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "plugins", root / "plugins", ignore=skip)
    if (REPO / "examples").is_dir():
        shutil.copytree(REPO / "examples", root / "examples", ignore=skip)
    doc = tomlkit.parse((REPO / "aiplugs.toml").read_text())
    doc["api"]["port"], doc["proxy"]["port"] = free_ports(2)  # type: ignore[index]
    if proxy_hosts:
        doc["proxy"]["hosts"] = proxy_hosts  # type: ignore[index]
    (root / "aiplugs.toml").write_text(tomlkit.dumps(doc))
    return root / "aiplugs.toml"


def balanced_orders(k: int) -> list[list[int]]:
    """Orders of ``0..k-1`` (a Williams design): over the list, each item takes each place equally often and
    directly follows each other item equally often (k orders for an even k, 2k for an odd one). Suites that time
    several setups in rounds take round ``i``'s order from ``rounds(setups)``, so no setup always comes first (or
    always right after the same other one)."""
    first, low, high = [0], 1, k - 1
    while len(first) < k:
        first.append(low)
        low += 1
        if len(first) < k:
            first.append(high)
            high -= 1
    orders = [[(x + shift) % k for x in first] for shift in range(k)]
    return orders if k % 2 == 0 else orders + [order[::-1] for order in orders]


def rounds(setups: Sequence[T]) -> Callable[[int], list[T]]:
    """Round ``i``'s order of ``setups`` (``balanced_orders``)."""
    orders = [[setups[k] for k in order] for order in balanced_orders(len(setups))]
    return lambda i: orders[i % len(orders)]


@contextmanager
def collector_between_rounds() -> Iterator[Callable[[], None]]:
    """This process's garbage collector off for the block; call what it gives between rounds (untimed), so a
    collection - the client's pause, not a setup's - never falls inside a timed request. It collects the two
    young generations (a response's reference cycles die young); everything once the block ends."""
    def between() -> None:
        gc.collect(1)

    enabled = gc.isenabled()
    gc.disable()
    try:
        yield between
    finally:
        gc.collect()
        if enabled:
            gc.enable()
