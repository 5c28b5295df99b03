"""Benchmark suites. Each ``bench_<name>.py`` has ``run(quick: bool = False) -> dict`` and runs standalone.

The suites import aiplugs; aiplugs never imports them (``aiplugs bench`` runs ``python -m benchmarks`` in
the checkout as a subprocess).
"""
