"""Suggestions and autoscaling, decided from plain values: samples of the metrics history in, suggestions (each
with its evidence and the change to ``aiplugs.toml`` it proposes) and worker counts out. No I/O: the runtime
reads the history and the logs, applies what a person accepts, and feeds the autoscaler's counts into the
desired state (``with_counts``) so ``diff`` stays the only decider.
"""

from .engine import Memory, autoscale, plugin_settings, plugin_views, suggest
from .rules import PluginView
from .samples import Sample, Stats, fit_line, stats, window
from .scaling import ScaleDecision, decide_count
from .signatures import error_signatures
from .sizing import with_counts
from .suggestion import RULES, Change, Evidence, RuleId, Suggestion, Threshold, suggestion_id
from .verdict import Verdict, verdict

__all__ = [
    "Change",
    "Evidence",
    "Memory",
    "PluginView",
    "RULES",
    "RuleId",
    "Sample",
    "ScaleDecision",
    "Stats",
    "Suggestion",
    "Threshold",
    "Verdict",
    "autoscale",
    "decide_count",
    "error_signatures",
    "fit_line",
    "plugin_settings",
    "plugin_views",
    "stats",
    "suggest",
    "suggestion_id",
    "verdict",
    "window",
]
