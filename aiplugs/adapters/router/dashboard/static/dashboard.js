// aiplugs dashboard: live updates on top of pages that are complete without this script.
//
// One EventSource on /api/events per page. An event the page cares about (its <main data-live> prefixes) makes it
// fetch itself once and swap its live regions (debounced: a burst of events is one fetch); download progress is
// written straight into the <progress> it belongs to. The Logs page follows its own stream. Nothing polls.
(() => {
  "use strict";
  const main = document.getElementById("main");
  const status = document.getElementById("live-status");

  // The one-time message id (?done=) leaves the address bar, so a reload does not look for it again.
  const here = new URL(location.href);
  if (here.searchParams.has("done")) {
    here.searchParams.delete("done");
    history.replaceState(null, "", here.pathname + here.search + here.hash);
  }

  // A form being sent says so, and cannot be sent twice.
  document.addEventListener("submit", (event) => {
    const button = event.submitter;
    if (event.target.method === "post" && button) {
      button.setAttribute("aria-busy", "true");
      setTimeout(() => { button.disabled = true; }, 0);
    }
  });
  window.addEventListener("pageshow", () => {
    document.querySelectorAll("button[aria-busy]").forEach((b) => { b.disabled = false; b.removeAttribute("aria-busy"); });
  });

  const say = (text) => { if (status) { status.hidden = false; status.textContent = text; } };

  function setProgress(selector, textSelector, done, total) {
    document.querySelectorAll(selector).forEach((bar) => {
      if (total) bar.max = total;
      bar.value = done;
    });
    document.querySelectorAll(textSelector).forEach((span) => {
      span.textContent = total ? `${Math.round((100 * done) / total)} % (${done} of ${total} bytes)` : `${done} bytes`;
    });
  }

  let pending = null;
  let running = false;
  async function refresh() {
    pending = null;
    if (running) { pending = setTimeout(refresh, 300); return; }
    running = true;
    try {
      // a page that answered a POST (an inspected package) names the page its live regions come from
      const source = (main && main.dataset.refresh) || location.pathname + location.search;
      const answer = await fetch(source, { headers: { Accept: "text/html" } });
      if (!answer.ok) { say(`Live update failed (HTTP ${answer.status}); reload the page.`); return; }
      const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
      const focused = document.activeElement && document.activeElement.id;
      document.querySelectorAll(".live-region[id]").forEach((region) => {
        const next = fresh.getElementById(region.id);
        if (next) region.replaceWith(document.importNode(next, true));
      });
      if (focused && document.activeElement === document.body) {
        const again = document.getElementById(focused);
        if (again) again.focus();
      }
      say(`Updated ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      say("Live update failed; reload the page.");
    } finally {
      running = false;
    }
  }

  const prefixes = (main && main.dataset.live || "").split(/\s+/).filter(Boolean);
  const names = (main && main.dataset.events || "").split(/\s+/).filter(Boolean);
  if (window.EventSource && names.length && (prefixes.length || document.querySelector("progress"))) {
    const events = new EventSource("/api/events");
    const onEvent = (message) => {
      let event;
      try { event = JSON.parse(message.data); } catch (error) { return; }
      const data = event.data || {};
      if (event.type === "model.progress") {
        setProgress(`progress[data-model="${CSS.escape(data.filename)}"]`,
          `[data-model-text="${CSS.escape(data.filename)}"]`, data.bytes, data.total);
      } else if (event.type === "install.progress") {
        setProgress(`progress[data-job="${CSS.escape(data.job_id)}"]`,
          `[data-job-text="${CSS.escape(data.job_id)}"]`, data.bytes, data.total);
      }
      if (prefixes.some((p) => event.type === p || event.type.startsWith(p)) && !pending) {
        pending = setTimeout(refresh, 250);
      }
    };
    names.forEach((name) => events.addEventListener(name, onEvent));
    events.onopen = () => say("Live");
    events.onerror = () => say("Live updates interrupted; reconnecting…");
  }

  // ---- Logs: follow, pause, filter -------------------------------------------------------------------------
  const log = document.getElementById("log");
  if (log && window.EventSource) {
    const follow = document.getElementById("follow");
    const pause = document.getElementById("pause");
    const filter = document.getElementById("q");
    const controls = document.querySelector(".live-controls");
    if (controls) controls.hidden = false;
    const limit = 2000;
    let paused = false;
    let held = [];
    let files = new Set();

    const matches = (text) => !filter || !filter.value || text.toLowerCase().includes(filter.value.toLowerCase());
    const show = (lines) => {
      lines.forEach((line) => files.add(line.file));
      const many = files.size > 1;
      lines.forEach((line) => {
        const item = document.createElement("li");
        item.dataset.file = line.file;
        item.textContent = many ? `[${line.file}] ${line.text}` : line.text;
        item.hidden = !matches(item.textContent);
        log.append(item);
      });
      while (log.children.length > limit) log.firstElementChild.remove();
      if (follow && follow.checked) log.scrollTop = log.scrollHeight;
    };

    const stream = new EventSource(`/ui/logs/stream?source=${encodeURIComponent(log.dataset.source)}`);
    stream.addEventListener("reset", (message) => {
      log.textContent = "";
      files = new Set();
      show(JSON.parse(message.data));
    });
    stream.addEventListener("lines", (message) => {
      const lines = JSON.parse(message.data);
      if (paused) held = held.concat(lines).slice(-limit); else show(lines);
    });
    stream.onopen = () => say("Following");
    stream.onerror = () => say("Log stream interrupted; reconnecting…");

    if (pause) {
      pause.addEventListener("click", () => {
        paused = !paused;
        pause.setAttribute("aria-pressed", String(paused));
        pause.textContent = paused ? "Resume" : "Pause";
        say(paused ? `Paused` : "Following");
        if (!paused) { show(held); held = []; }
      });
    }
    if (filter) {
      filter.addEventListener("input", () => {
        log.querySelectorAll("li").forEach((item) => { item.hidden = !matches(item.textContent); });
      });
    }
    if (follow) follow.addEventListener("change", () => { if (follow.checked) log.scrollTop = log.scrollHeight; });
  }
})();
