"""Session: drive and inspect one aiplugs declaration (and its daemon) from Python or Jupyter.

Every blocking method has an ``a``-prefixed twin for notebooks with a running event loop: ``s.apply()`` blocks the
caller, ``await s.aapply()`` runs the same call in a worker thread (``asyncio.to_thread``) so the loop stays free.
``s.events()`` and ``s.stream(...)`` return a :class:`~aiplugs.client.feed.Feed`, iterable with both ``for``
and ``async for``.
"""

from __future__ import annotations

import asyncio
import os
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from ..errors import AiplugsError
from ._events import to_event
from ._installs import InstallJobView
from ._models import model_store, offline_report, pull_here, pull_through, verify_rows
from ._suggestions import SuggestionsView
from .results import ApplyView, ConfigView, MetricsView, ModelsView, PlanView, PluginsView, StatusView, VerifyView

__all__ = ["Session"]


class Session:
    """``Session("aiplugs.toml")`` (default: ``$AIPLUGS_CONFIG`` or ``./aiplugs.toml``); nothing starts until
    :meth:`apply`. ``env`` replaces ``os.environ`` when reading the declaration (``AIPLUGS_*`` overrides)."""

    def __init__(self, config: str | os.PathLike[str] | None = None, *,
                 env: Mapping[str, str] | None = None) -> None:
        from ..declaration.config import resolve_config_path

        self.config_path = resolve_config_path(config, env)
        self.env = dict(env) if env is not None else None
        self._state_dir: Path | None = None

    @classmethod
    def connect(cls, state_dir_or_config: str | os.PathLike[str] | None = None) -> Session:
        """A session on a running daemon, found by its state dir (``.aiplugs``) or its declaration; raises
        AiplugsError when none runs."""
        from ..client import DaemonClient

        target = Path(state_dir_or_config) if state_dir_or_config is not None else None
        if target is not None and target.is_dir():
            client = DaemonClient.find(target.absolute())
            if client is None:
                raise AiplugsError(f"no aiplugs daemon runs for {target}; start one with Session(...).apply()")
            session = cls(client.status()["config"])
            session._state_dir = target.absolute()
            return session
        session = cls(target)
        if session.client() is None:
            raise AiplugsError(f"no aiplugs daemon runs for {session.config_path}; start one with .apply()")
        return session

    def __repr__(self) -> str:
        return f"Session({str(self.config_path)!r})"

    # ---- the declaration -------------------------------------------------------------------------------------

    def load(self):  # -> tuple[Config, DesiredState]
        """Reads the declaration and every manifest now (raises ConfigError listing every problem)."""
        from ..plan import load_desired_state

        return load_desired_state(self.config_path, env=self.env)

    @property
    def config(self) -> ConfigView:
        """The effective configuration with the origin of every value."""
        from ..declaration.config import load_config

        return ConfigView(load_config(self.config_path, env=self.env))

    @property
    def desired(self):  # -> DesiredState
        return self.load()[1]

    @property
    def state_dir(self) -> Path:
        if self._state_dir is None:
            from ..declaration.config import load_config

            self._state_dir = load_config(self.config_path, env=self.env, require_file=False).state_dir
        return self._state_dir

    def client(self):  # -> DaemonClient | None
        """The loopback client of the running daemon, or None."""
        from ..client import DaemonClient

        return DaemonClient.find(self.state_dir)

    def _require_client(self):
        client = self.client()
        if client is None:
            raise AiplugsError(f"no aiplugs daemon runs for {self.state_dir}; run .apply() first")
        return client

    # ---- plan / apply / status / down ------------------------------------------------------------------------

    def plan(self) -> PlanView:
        """What ``apply`` would change, against what ``state.json`` records (no daemon needed)."""
        from ..client.lifecycle import plan_for

        return PlanView(plan_for(self.desired))

    def apply(self, auto_approve: bool = True, *, wait_timeout: float = 600.0, progress: bool = True,
              confirm: Callable[[PlanView], bool] | None = None) -> ApplyView | None:
        """Converges the running system (starting the daemon if needed) and waits until healthy.

        With ``auto_approve=False`` the plan is shown and ``confirm(plan)`` (default: ask with ``input()``) must
        say yes; None is returned when it does not. ``progress`` shows model downloads as ``tqdm.auto`` bars."""
        from ..client import lifecycle
        from ..client.progress import ModelBars

        desired = self.desired
        ask = None
        if not auto_approve:
            ask = partial(_ask, confirm or _input_confirm)
        bars = ModelBars() if progress else None
        try:
            outcome = lifecycle.apply(desired, env=self.env, wait_timeout=wait_timeout, confirm=ask, on_event=bars)
        finally:
            if bars is not None:
                bars.close()
        self._state_dir = desired.state_dir
        return ApplyView(outcome) if outcome is not None else None

    def status(self) -> StatusView:
        """The status report of the running daemon (``.running`` is False when none runs)."""
        client = self.client()
        return StatusView(client.status() if client is not None else None, self.state_dir)

    @property
    def plugins(self) -> PluginsView:
        """A row per plugin: live from the daemon, or from the declaration (state ``stopped``) when none runs."""
        status = self.status()
        if status.running:
            return status.plugins
        rows = [row if row["state"] == "disabled" else {**row, "state": "stopped"}
                for row in offline_report(self.desired)["plugins"]]
        return PluginsView(rows)

    @property
    def models(self) -> ModelsView:
        """A row per declared model file with its state (ready, missing, unverified, corrupt, downloading)."""
        status = self.status()
        if status.running:
            return status.models
        return ModelsView(offline_report(self.desired)["models"])

    def down(self, timeout: float = 30.0) -> int | None:
        """Stops the daemon and every worker; returns the daemon's pid, or None when none ran."""
        from ..client.lifecycle import down

        return down(self.state_dir, timeout=timeout)

    def restart(self, plugin_id: str) -> dict[str, Any]:
        """Restarts a plugin's workers (one at a time, so calls keep being served)."""
        return self._require_client().restart(plugin_id)

    # ---- models ----------------------------------------------------------------------------------------------

    def pull_models(self, keys: Iterable[str] = (), *, progress: bool = True) -> ModelsView:
        """Downloads and verifies declared models (all, or those named by filename or key) with ``tqdm.auto``
        bars. Through the daemon when one runs, else in this process."""
        keys = list(keys)
        client = self.client()
        if client is None:
            pull_here(self.desired, keys, progress=progress)
        else:
            pull_through(client, keys, progress=progress)
        return self.models

    def verify_models(self) -> VerifyView:
        """Re-hashes every present model file now (state.json learns the result)."""
        return VerifyView(verify_rows(self.desired))

    def gc_models(self, dry_run: bool = True) -> list[Path]:
        """Files in models/ no enabled plugin declares, stale temp files, orphan locks: listed (``dry_run``,
        the default) or removed."""
        desired = self.desired
        return model_store(desired).gc(desired, dry_run=dry_run)

    # ---- plugin packages -------------------------------------------------------------------------------------

    def install(self, uri: str, *, plugin_id: str | None = None, sha256: str | None = None,
                force: bool = False) -> InstallJobView:
        """Has the running daemon install the plugin package at ``uri`` (URL or path) as a background job, as
        ``aiplugs plugins install --yes`` would: fetch, verify (against ``sha256`` when given), add it to
        aiplugs.toml, apply. Returns the job at once: ``.wait()`` shows its progress, ``.cancel()`` stops it."""
        client = self._require_client()
        return InstallJobView(client, client.install(uri, plugin_id=plugin_id, sha256=sha256, force=force)["job"])

    # ---- calls and events ------------------------------------------------------------------------------------

    def call(self, plugin_id: str, payload: Any = None, *, tool: str | None = None,
             timeout: float | None = 120.0) -> Any:
        """One call of a plugin's backend (as a content script would make it): ``tool`` (default ``run``) with
        ``payload``; returns its JSON answer."""
        return self._require_client().call(plugin_id, {} if payload is None else payload, tool=tool,
                                           timeout=timeout)

    def stream(self, plugin_id: str, payload: Any = None, *, tool: str | None = None,
               timeout: float | None = 120.0):
        """The items of a streaming plugin call: ``for item in s.stream(...)`` or ``async for``."""
        return self._require_client().stream(plugin_id, {} if payload is None else payload, tool=tool,
                                             timeout=timeout)

    def events(self, replay: bool = False):
        """Daemon events (:class:`aiplugs.events.Event`) from now on (``replay``: the recent history first), until
        ``.close()`` or the daemon stops: ``for e in s.events()`` or ``async for e in s.events()``; use it as a
        (sync or async) context manager to close it."""
        return self._require_client().events(replay=replay, convert=to_event)

    def metrics(self, plugin_id: str, since: str | float = "1h", *, until: str | float | None = None,
                step: str | float = "1m") -> MetricsView:
        """The plugin's metrics history — a row per ``step`` (whole minutes) from ``since`` (a duration back from
        now, "6h", or an ISO-8601 time) — with ``.plot()``; from the daemon, or from the state dir's
        ``metrics.sqlite`` when none runs."""
        client = self.client()
        if client is not None:
            return MetricsView(client.metrics(plugin_id, since=since, until=until, step=step))
        from ._metrics import offline_history

        return MetricsView(offline_history(self.state_dir, plugin_id, since, until, step))

    def suggestions(self, evaluate: bool = False) -> SuggestionsView:
        """The daemon's suggestions — evidence, expected effect, the diff of aiplugs.toml — each with Apply and
        Reject buttons, the autoscaled plugins, and the history of applied ones (verdicts, Revert);
        ``evaluate``: run the rules now instead of showing the last evaluation."""
        client = self._require_client()
        return SuggestionsView(client, client.suggestions(evaluate=evaluate))

    def dashboard(self, *, start: bool = True):
        """A live ipywidgets dashboard of this session (see :mod:`aiplugs.notebook.dashboard`)."""
        from .dashboard import Dashboard

        board = Dashboard(self)
        if start:
            board.start()
        return board

    # ---- async twins: the same calls in a worker thread ------------------------------------------------------

    async def aplan(self) -> PlanView:
        return await asyncio.to_thread(self.plan)

    async def aapply(self, auto_approve: bool = True, **kwargs: Any) -> ApplyView | None:
        return await asyncio.to_thread(self.apply, auto_approve, **kwargs)

    async def astatus(self) -> StatusView:
        return await asyncio.to_thread(self.status)

    async def adown(self, timeout: float = 30.0) -> int | None:
        return await asyncio.to_thread(self.down, timeout)

    async def arestart(self, plugin_id: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.restart, plugin_id)

    async def acall(self, plugin_id: str, payload: Any = None, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.call, plugin_id, payload, **kwargs)

    async def apull_models(self, keys: Iterable[str] = (), **kwargs: Any) -> ModelsView:
        return await asyncio.to_thread(self.pull_models, keys, **kwargs)

    async def ametrics(self, plugin_id: str, since: str | float = "1h", **kwargs: Any) -> MetricsView:
        return await asyncio.to_thread(self.metrics, plugin_id, since, **kwargs)

    async def asuggestions(self, evaluate: bool = False) -> SuggestionsView:
        return await asyncio.to_thread(self.suggestions, evaluate)

    async def ainstall(self, uri: str, **kwargs: Any) -> InstallJobView:
        """``install`` in a worker thread; ``await`` the job it returns to wait for it."""
        return await asyncio.to_thread(self.install, uri, **kwargs)


def _ask(confirm: Callable[[PlanView], bool], plan) -> bool:
    return bool(confirm(PlanView(plan)))


def _input_confirm(plan: PlanView) -> bool:
    from ..client.lifecycle import ask_to_apply

    print(plan.plan.to_text())
    return ask_to_apply()
