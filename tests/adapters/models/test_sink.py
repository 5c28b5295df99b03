"""Write errors abort with a clear message and leave no partial target (a real EFBIG via RLIMIT_FSIZE)."""

from __future__ import annotations

import subprocess
import sys

from .conftest import blob

CHILD = """
import asyncio, hashlib, resource, signal, sys
from pathlib import Path
from aiplugs.adapters.models import ModelError, ModelStore
from aiplugs.plan import ModelSpec
models, state, src = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
data = Path(src).read_bytes()
models.mkdir(parents=True); state.mkdir(parents=True)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit then fail with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))
model = ModelSpec("big.bin", src, hashlib.sha256(data).hexdigest(), len(data), models / "big.bin", ("M",), ("p",), False)
try:
    asyncio.run(ModelStore(models, state).download(model))
except ModelError as e:
    print(e)
    sys.exit(3)
"""


def test_write_error_is_clear_and_leaves_nothing(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(blob(3_000_000))
    models = tmp_path / "models"
    out = subprocess.run([sys.executable, "-c", CHILD, str(models), str(tmp_path / "state"), str(src)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 3, out.stderr
    assert "cannot write big.bin" in out.stdout and "File too large" in out.stdout
    assert "nothing was published" in out.stdout
    assert [p.name for p in models.iterdir()] == []
