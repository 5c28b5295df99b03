"""ActualState: what runs, as plain frozen values — observed live by the daemon, or read from state.json by a CLI
that only plans. ``diff`` compares it with the DesiredState; nothing here looks at the world itself."""

from __future__ import annotations

from dataclasses import dataclass, field

from .states import ModelState

__all__ = ["ActualState", "ObservedEndpoint", "ObservedEnv", "ObservedHooks", "ObservedModel", "ObservedPackage",
           "ObservedPlugin", "ObservedRoute", "ObservedWorker", "UnusedEnv"]


@dataclass(frozen=True)
class ObservedEndpoint:
    host: str
    port: int


@dataclass(frozen=True)
class ObservedModel:
    filename: str
    state: ModelState
    sha256: str | None = None  # the hash recorded when it was last verified


@dataclass(frozen=True)
class ObservedWorker:
    plugin_id: str
    index: int
    pid: int | None
    alive: bool  # answering (a live process that passed its health check)
    config_hash: str
    exit_code: int | None = None  # how the last process of this slot ended, when it did
    exit_signal: str | None = None  # "SIGKILL"...


@dataclass(frozen=True)
class ObservedPlugin:
    """What the runtime remembers about one plugin besides its processes: its recent failures (for the backoff
    and the crash-loop rule), restarts so far, and what a person or a page asked for."""

    plugin_id: str
    failures: tuple[float, ...] = ()  # times of failed starts and unexpected exits, oldest first
    restarts: int = 0
    last_error: str | None = None
    stderr_tail: tuple[str, ...] = ()
    failed_hook: str | None = None  # the last failure was this hook's ("init"): the plugin is failed meanwhile
    demanded: bool = False  # a call arrived for a lazy plugin: start it
    restart_requested: bool = False  # `aiplugs restart`: replace its workers


@dataclass(frozen=True)
class ObservedPackage:
    """One installed version of a plugin package."""

    plugin_id: str
    version: str
    sha256: str


@dataclass(frozen=True)
class ObservedEnv:
    """A plugin Python environment: complete (its marker written last), or what its last build failed with."""

    id: str
    ready: bool
    error: str | None = None  # the last build's failure, kept until an apply asks to try again
    error_tail: tuple[str, ...] = ()  # the installer's last output lines


@dataclass(frozen=True)
class UnusedEnv:
    """A Python environment on disk that no plugin of the desired state runs in (its requirements changed, or its
    plugin went): ``used_by`` is a live process still running from it (None: none)."""

    id: str
    used_by: int | None = None


@dataclass(frozen=True)
class ObservedHooks:
    """A plugin's lifecycle hooks as recorded in state: the version whose install hook ran, whether an uninstall
    hook waits to run when the plugin is removed (and its files are still there to run it), and the last hook
    failure, kept until an apply or a restart asks to try again."""

    plugin_id: str
    installed: str | None = None
    uninstall: bool = False
    files_present: bool = True
    failed_hook: str | None = None  # "install" | "uninstall"
    error: str | None = None
    tail: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObservedRoute:
    plugin_id: str
    config_hash: str


@dataclass(frozen=True)
class ActualState:
    """Empty means nothing runs. ``now`` is the time of the observation (backoff arithmetic uses it)."""

    daemon_pid: int | None = None
    api: ObservedEndpoint | None = None
    api_hash: str | None = None
    proxy: ObservedEndpoint | None = None
    rules_hash: str | None = None
    models: tuple[ObservedModel, ...] = ()
    workers: tuple[ObservedWorker, ...] = ()
    plugins: tuple[ObservedPlugin, ...] = ()
    routes: tuple[ObservedRoute, ...] = ()
    packages: tuple[ObservedPackage, ...] = ()
    envs: tuple[ObservedEnv, ...] = ()
    unused_envs: tuple[UnusedEnv, ...] = ()  # environment folders the desired state does not name
    hooks: tuple[ObservedHooks, ...] = ()
    now: float = 0.0
    pulls: frozenset[str] = field(default_factory=frozenset)  # model files someone asked to pull now

    def plugin(self, plugin_id: str) -> ObservedPlugin:
        return next((p for p in self.plugins if p.plugin_id == plugin_id), ObservedPlugin(plugin_id))

    def hooks_of(self, plugin_id: str) -> ObservedHooks:
        return next((h for h in self.hooks if h.plugin_id == plugin_id), ObservedHooks(plugin_id))

    def env(self, env_id: str | None) -> ObservedEnv | None:
        return next((e for e in self.envs if e.id == env_id), None)
