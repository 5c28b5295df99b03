"""apply and down as library calls: the CLI and the notebook Session both use these.

``apply`` = plan against the recorded state → (caller confirms) → hand the desired state to the daemon (starting it
detached if none runs) → wait until converged. ``down`` stops the daemon of a state dir and leaves no process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import AiplugsError
from ..plan import DesiredState, Plan
from .planning import plan_for

__all__ = ["ApplyOutcome", "apply", "ask_to_apply", "down", "plan_for"]


@dataclass(frozen=True)
class ApplyOutcome:
    plan: Plan
    result: dict[str, Any] | None  # the daemon's converge result; None when there was nothing to do
    status: dict[str, Any]

    @property
    def ok(self) -> bool:
        return (self.result is None or bool(self.result.get("ok"))) and bool(self.status.get("healthy"))

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": "1", "ok": self.ok, "plan": self.plan.to_dict(), "result": self.result,
                "status": self.status}


def ask_to_apply() -> bool:
    """The confirmation a person gives before apply changes anything (terraform's: only "yes")."""
    try:
        answer = input("\nApply these changes? Only 'yes' is accepted: ")
    except EOFError:
        return False
    return answer.strip().lower() in ("yes", "y")


def apply(
    desired: DesiredState,
    *,
    env: Mapping[str, str] | None = None,
    wait_timeout: float = 600.0,
    lock_timeout: float = 30.0,
    confirm: Callable[[Plan], bool] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    on_start: Callable[[], None] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> ApplyOutcome | None:
    """Converges the running system to ``desired`` (built from its config with ``env``, default this process's
    environment, which the daemon reads the declaration with again); None when ``confirm`` declined."""
    from ..store.locks import ApplyLock
    from .daemon import DaemonClient
    from .errors import DaemonTimeout
    from .feed import watch
    from .spawn import spawn_daemon

    env = dict(os.environ if env is None else env)
    with ApplyLock(desired.state_dir, timeout=lock_timeout):
        client = DaemonClient.find(desired.state_dir)
        plan = plan_for(desired)
        if on_plan is not None:
            on_plan(plan)
        if not plan.changes_present and client is not None:
            return ApplyOutcome(plan, None, client.status())
        if plan.changes_present and confirm is not None and not confirm(plan):
            return None
        if client is None:
            if on_start is not None:
                on_start()
            client = spawn_daemon(desired.config_path, desired.state_dir)
        # the event stream is connected before apply is sent, so no event of this apply is missed
        with watch(client, on_event) if on_event is not None else contextlib.nullcontext():
            try:
                result = client.apply(desired.config_path, env, desired.digest, timeout=wait_timeout)
            except DaemonTimeout:
                raise AiplugsError(f"not converged within {wait_timeout:g}s (--wait-timeout); the daemon goes on "
                                   "converging: `aiplugs status` shows where it stands") from None
        return ApplyOutcome(plan, result, result.get("status") or client.status())


def down(state_dir: Path, *, timeout: float = 30.0) -> int | None:
    """Stops the daemon of ``state_dir`` gracefully (SIGKILL to its group after ``timeout``) and whatever its
    workers left behind; returns its pid (None when no daemon ran)."""
    from ..runtime.orphans import sweep_orphans, worker_groups
    from ..util.procs import pid_alive
    from .daemon import DaemonClient
    from .errors import DaemonError

    client = DaemonClient.find(state_dir)
    if client is None:
        return None
    groups = worker_groups(state_dir)
    pid = client.pid
    try:
        client.down()
    except DaemonError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    sweep_orphans(state_dir, groups)
    return pid
