"""Rich result objects: what ``Session`` methods return.

Each wraps plain data, shows itself as an HTML table in Jupyter (``_repr_html_``) and as text elsewhere, converts
back to plain data with ``to_dict()``, and to a DataFrame with ``to_pandas()`` when pandas is installed. The
declaration's views (config, plan, apply) live in ``_plan_views``, the running system's (status and its tables) in
``_status_views``.
"""

from __future__ import annotations

from ._metrics import MetricsView
from ._plan_views import ApplyView, ConfigView, PlanView
from ._status_views import ModelsView, PluginsView, StatusView, TableView, VerifyView

__all__ = ["ApplyView", "ConfigView", "MetricsView", "ModelsView", "PlanView", "PluginsView", "StatusView", "TableView", "VerifyView"]
