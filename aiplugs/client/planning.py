"""The plan a command shows without asking the daemon: the declaration against what state.json records.

Apart from ``lifecycle`` (apply, down, with its dataclasses), so ``aiplugs plan`` loads only this."""

from __future__ import annotations

from ..plan import DesiredState, Plan

__all__ = ["plan_for"]


def plan_for(desired: DesiredState) -> Plan:
    """The plan against what state.json records (and cheap checks); a damaged state.json plans from nothing."""
    from ..plan import diff
    from ..store.observe import observe
    from ..store.state import StateDamaged, StateFile, read_state

    try:
        state = read_state(desired.state_dir)
    except StateDamaged:
        state = StateFile()
    if any(w.count_range for w in desired.workers):  # plugins the daemon scales: plan with its counts, as it does
        from ..plan.autotune import with_counts
        from ..store.suggestions import SuggestionStore, suggestions_path

        path = suggestions_path(desired.state_dir)
        if path.exists():
            desired = with_counts(desired, {p: c for p, (c, _, _) in SuggestionStore(path).scaling().items()})
    return diff(desired, observe(state, desired))
