"""Benchmark suites. Each ``bench_<name>.py`` has ``run(quick: bool = False) -> dict`` and runs standalone."""
