"""Model provisioning: declared model files fetched once through fsspec into the central models folder, verified
by sha256 while streaming, published atomically, deduplicated in-process and across processes.

``ModelStore.download(model)`` and ``verify(model)`` carry out the plan's model actions, ``status(model)`` observes; workers receive each model's absolute path in
their environment (``DesiredState.model_env``), so a plugin never needs to know where ``models/`` is.
"""

from __future__ import annotations

from ._names import check_filename
from ._store import ModelStore
from ._types import ModelError, VerifyResult

__all__ = sorted(["ModelError", "ModelStore", "VerifyResult", "check_filename"])
