"""The notebooks in notebooks/ run top to bottom in a real python3 kernel (nbclient); any error fails the test.

The kernel gets this test's tmp_path as TMPDIR, so every project copy and daemon a notebook makes lives there and
is brought down afterwards even when a cell failed half-way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="session")
def kernel_name() -> str:
    from jupyter_client.kernelspec import find_kernel_specs

    if "python3" not in find_kernel_specs():
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user", "--name", "python3"], check=True,
                       capture_output=True)
    assert "python3" in find_kernel_specs()
    return "python3"


def test_the_three_notebooks_exist_without_outputs():
    names = [p.name for p in NOTEBOOKS]
    assert names == ["01-quickstart.ipynb", "02-injection-latency.ipynb", "03-models.ipynb"]
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name} has committed outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, kernel_name, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    for name in ("AIPLUGS_CONFIG", "SYSTEM_API_KEY", "CLOUD_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=240, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    finally:
        from aiplugs.client.lifecycle import down

        for config in tmp_path.glob("*/aiplugs.toml"):
            down(config.parent / ".aiplugs", timeout=10)
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("text/html" in o.get("data", {}) for o in outputs)  # rich results rendered
