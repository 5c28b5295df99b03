"""Driving aiplugs from Python and Jupyter: :class:`Session`, its rich results, the live dashboard, and
:class:`InjectionLatency` for the injection benchmark's JSON.

ipywidgets loads only when ``Session.dashboard()`` is called; pandas only on ``to_pandas()``.
"""

from __future__ import annotations

from ..client.feed import Feed
from ._installs import InstallJobView
from .bench import InjectionLatency
from .results import (ApplyView, ConfigView, MetricsView, ModelsView, PlanView, PluginsView, StatusView, TableView,
                      VerifyView)
from ._suggestions import SuggestionsView
from .session import Session

__all__ = sorted(["ApplyView", "ConfigView", "Feed", "InjectionLatency", "InstallJobView", "MetricsView", "ModelsView",
                  "PlanView", "PluginsView", "Session", "StatusView", "SuggestionsView", "TableView", "VerifyView"])
