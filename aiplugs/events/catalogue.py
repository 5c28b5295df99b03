"""Every event the running system publishes: its name and the fields its data always carries. One place.

Publishers pass these constants to ``EventBus.publish`` (which refuses a name or a field set not listed here);
the CLI's progress, the notebook's dashboard and ``/api/events`` readers compare against the same constants.
An ``EventType`` is a ``str`` (its name), so ``event.type == MODEL_READY`` works on events read back as JSON.

=====================  ==============================================  ============================================
name                   data fields                                     when
=====================  ==============================================  ============================================
apply.planned          summary, changes                                a pass planned changes (plan lines)
apply.action_started   unit                                            converge began one action
apply.action_finished  unit, ok, error                                 ... and finished it (error: None when ok)
apply.finished         ok, failures, seconds                           a converge ended with every action done
apply.failed           ok, failures, seconds                           a converge ended with failed units
model.downloading      filename, url, total                            a model download started (url redacted)
model.progress         filename, bytes, total                          bytes written so far (throttled)
model.ready            filename, path, sha256, size, downloaded        a model file is verified in place
model.failed           filename, url, error, bytes, total              a download or verification failed
package.fetching       plugin_id, source                               a plugin package is being fetched
package.progress       plugin_id, bytes, total                         bytes of it so far (throttled)
package.installed      plugin_id, version, sha256, size                it is verified, unpacked and in place
package.removed        plugin_id                                       a plugin's packages were taken away
install.state          job_id, state, plugin_id, bytes, total, error   an install job moved (queued ... succeeded)
install.progress       job_id, plugin_id, bytes, total                 its package's bytes so far (throttled)
worker.starting        plugin_id, index                                a worker process is being started
worker.started         plugin_id, index, pid, ms, restarts             ... it answered its health check
worker.failed          plugin_id, index, error, stderr_tail            ... it did not (import error, timeout)
worker.exited          plugin_id, index, pid, code, signal             a running worker exited by itself
worker.stopped         plugin_id, index, pid                           a worker was stopped on purpose
plugin.state           plugin_id, state, reason                        a plugin's state changed (ready, failed...)
plugin.event           topic, source, data                             a plugin (or page) published an event
plugin.event_dropped   subscriber, topic, dropped                      a subscriber's queue was full: not queued
route.changed          plugin_id, route                                the router now serves it (local|cloud|none)
proxy.started          host, port                                      the proxy listens
proxy.rules_swapped    plugins                                         new rules took effect in the live proxy
proxy.stopped          (none)                                          the proxy closed
proxy.inject_failed    url, error                                      a matched page was passed on untouched
router.started         host, port                                      the API listens
daemon.stopping        pid                                             the daemon is shutting down
=====================  ==============================================  ============================================
"""

from __future__ import annotations

__all__ = [
    "APPLY_ACTION_FINISHED", "APPLY_ACTION_STARTED", "APPLY_FAILED", "APPLY_FINISHED", "APPLY_PLANNED", "CATALOGUE",
    "DAEMON_STOPPING", "EventType", "INSTALL_PROGRESS", "INSTALL_STATE", "MODEL_DOWNLOADING", "MODEL_FAILED",
    "MODEL_PROGRESS", "MODEL_READY", "PACKAGE_FETCHING", "PACKAGE_INSTALLED", "PACKAGE_PROGRESS", "PACKAGE_REMOVED",
    "PLUGIN_EVENT", "PLUGIN_EVENT_DROPPED", "PLUGIN_STATE", "PROXY_INJECT_FAILED", "PROXY_RULES_SWAPPED",
    "PROXY_STARTED", "PROXY_STOPPED", "ROUTER_STARTED", "ROUTE_CHANGED", "WORKER_EXITED", "WORKER_FAILED",
    "WORKER_STARTED", "WORKER_STARTING", "WORKER_STOPPED", "event_type",
]


class EventType(str):
    """An event name that knows its data fields."""

    fields: tuple[str, ...]

    def __new__(cls, name: str, fields: tuple[str, ...]) -> EventType:
        self = super().__new__(cls, name)
        self.fields = fields
        return self

    @property
    def topic(self) -> str:
        """``model`` for ``model.ready``: what readers filter on."""
        return self.partition(".")[0]

    def check(self, data: dict) -> None:
        """Raises ValueError unless ``data`` carries exactly this event's fields."""
        missing, extra = set(self.fields) - set(data), set(data) - set(self.fields)
        if missing or extra:
            raise ValueError(f"event {self}: missing {sorted(missing)}, unexpected {sorted(extra)} "
                             "(aiplugs/events/catalogue.py lists each event's fields)")


CATALOGUE: dict[str, EventType] = {}


def _event(name: str, *fields: str) -> EventType:
    kind = CATALOGUE[name] = EventType(name, fields)
    return kind


APPLY_PLANNED = _event("apply.planned", "summary", "changes")
APPLY_ACTION_STARTED = _event("apply.action_started", "unit")
APPLY_ACTION_FINISHED = _event("apply.action_finished", "unit", "ok", "error")
APPLY_FINISHED = _event("apply.finished", "ok", "failures", "seconds")
APPLY_FAILED = _event("apply.failed", "ok", "failures", "seconds")
MODEL_DOWNLOADING = _event("model.downloading", "filename", "url", "total")
MODEL_PROGRESS = _event("model.progress", "filename", "bytes", "total")
MODEL_READY = _event("model.ready", "filename", "path", "sha256", "size", "downloaded")
MODEL_FAILED = _event("model.failed", "filename", "url", "error", "bytes", "total")
PACKAGE_FETCHING = _event("package.fetching", "plugin_id", "source")
PACKAGE_PROGRESS = _event("package.progress", "plugin_id", "bytes", "total")
PACKAGE_INSTALLED = _event("package.installed", "plugin_id", "version", "sha256", "size")
PACKAGE_REMOVED = _event("package.removed", "plugin_id")
INSTALL_STATE = _event("install.state", "job_id", "state", "plugin_id", "bytes", "total", "error")
INSTALL_PROGRESS = _event("install.progress", "job_id", "plugin_id", "bytes", "total")
WORKER_STARTING = _event("worker.starting", "plugin_id", "index")
WORKER_STARTED = _event("worker.started", "plugin_id", "index", "pid", "ms", "restarts")
WORKER_FAILED = _event("worker.failed", "plugin_id", "index", "error", "stderr_tail")
WORKER_EXITED = _event("worker.exited", "plugin_id", "index", "pid", "code", "signal")
WORKER_STOPPED = _event("worker.stopped", "plugin_id", "index", "pid")
PLUGIN_STATE = _event("plugin.state", "plugin_id", "state", "reason")
PLUGIN_EVENT = _event("plugin.event", "topic", "source", "data")
PLUGIN_EVENT_DROPPED = _event("plugin.event_dropped", "subscriber", "topic", "dropped")
ROUTE_CHANGED = _event("route.changed", "plugin_id", "route")
PROXY_STARTED = _event("proxy.started", "host", "port")
PROXY_RULES_SWAPPED = _event("proxy.rules_swapped", "plugins")
PROXY_STOPPED = _event("proxy.stopped")
PROXY_INJECT_FAILED = _event("proxy.inject_failed", "url", "error")
ROUTER_STARTED = _event("router.started", "host", "port")
DAEMON_STOPPING = _event("daemon.stopping", "pid")


def event_type(name: str) -> EventType:
    """The catalogue entry for ``name``; ValueError for a name nobody may publish."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ValueError(f"unknown event type {name!r}; aiplugs/events/catalogue.py lists them") from None
