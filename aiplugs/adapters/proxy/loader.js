// aiplugs page loader: served by the proxy at /__aiplugs__/loader.<hash>.js (immutable, cached across pages) and
// started by the inline bootstrap (bootstrap.js), which hands over B = window.__aiplugs:
// B = {c: config, f: fetch, W: WebSocket, E: CustomEvent, t: Trusted Types policy or null, n: null}
// B.c = {v, token, port, base, nonce, tt, rx: [regex], scripts: [{id, m: [i], x?: [i], js, css?, run?, all?}]}
// Everything the bootstrap captured was taken before the page's own scripts ran. ASCII only.
(function (B) {
  "use strict";
  var w = window, d = document;
  if (!B || !B.c || (w.aiplugs && w.aiplugs.__loader)) { return; }
  delete w.__aiplugs;
  var C = B.c, fetchFn = B.f || null, WS = B.W, Ev = B.E, ttPolicy = B.t || null;
  var isTop = (function () { try { return w.top === w.self; } catch (e) { return false; } })();
  var loadedEntries = {}, loaded = [];
  // C.rx holds each distinct pattern once; an entry's m and x name them by index (x, css, all: absent = none)
  var regexes = C.rx.map(function (r) { return new RegExp(r); });
  function pick(k) { return regexes[k]; }
  var compiled = C.scripts.map(function (s, i) {
    s.css = s.css || [];
    s.run = s.run || "document_idle";
    return { i: i, s: s, m: s.m.map(pick), x: (s.x || []).map(pick) };
  });

  function urlKey() {
    var l = w.location;
    return l.protocol.slice(0, -1) + "://" + l.host.toLowerCase() + l.pathname + l.search;
  }
  function applies(e, url) {
    var i;
    for (i = 0; i < e.x.length; i++) { if (e.x[i].test(url)) { return false; } }
    for (i = 0; i < e.m.length; i++) { if (e.m[i].test(url)) { return true; } }
    return false;
  }
  function assetUrl(id, path) {
    return C.base + "/v1/plugins/" + encodeURIComponent(id) + "/assets/" +
      path.split("/").map(encodeURIComponent).join("/");
  }
  function parent() { return d.head || d.documentElement || d.body; }
  function addCss(id, path) {
    var link = d.createElement("link");
    link.rel = "stylesheet";
    if (C.nonce) { link.nonce = C.nonce; }
    link.href = assetUrl(id, path);
    link.setAttribute("data-aiplugs", id);
    parent().appendChild(link);
  }
  function addJs(id, path) {
    var s = d.createElement("script");
    if (C.nonce) { s.nonce = C.nonce; }
    s.async = false; // plugin scripts run in dependency order
    var url = assetUrl(id, path);
    s.src = ttPolicy ? ttPolicy.createScriptURL(url) : url;
    s.setAttribute("data-aiplugs", id);
    parent().appendChild(s);
  }
  function when(runAt, fn) {
    if (runAt === "document_start") { fn(); return; }
    var idle = runAt !== "document_end";
    function go() { if (idle) { setTimeout(fn, 0); } else { fn(); } }
    if (d.readyState === "loading") {
      d.addEventListener("DOMContentLoaded", go, { once: true });
    } else { go(); }
  }
  function load(e) {
    if (loadedEntries[e.i]) { return; }
    loadedEntries[e.i] = true;
    var s = e.s;
    if (loaded.indexOf(s.id) < 0) { loaded.push(s.id); }
    s.css.forEach(function (p) { addCss(s.id, p); });
    when(s.run, function () { s.js.forEach(function (p) { addJs(s.id, p); }); });
  }
  function match() {
    var url = urlKey();
    compiled.forEach(function (e) {
      if ((isTop || e.s.all) && !loadedEntries[e.i] && applies(e, url)) { load(e); }
    });
  }

  function failure(res, body) {
    var msg = null, err = null;
    try {
      var j = JSON.parse(body);
      err = j && (j.error !== undefined ? j.error : j.detail);
      msg = err && typeof err === "object" ? (err.message || JSON.stringify(err)) : (err || j.message || null);
    } catch (e) { msg = null; }
    var error = new Error(String(msg || body || ("HTTP " + res.status)));
    error.status = res.status;
    if (err && typeof err === "object" && err.errors) { error.errors = err.errors; } // 422: [{path, message}]
    return error;
  }
  function post(pluginId, payload, accept, opts) {
    if (!fetchFn) { return Promise.reject(new Error("aiplugs: fetch is not available")); }
    var tool = opts && opts.tool ? String(opts.tool) : "run";
    return fetchFn(C.base + "/v1/plugins/" + encodeURIComponent(pluginId) +
        (tool === "run" ? "/run" : "/tools/" + encodeURIComponent(tool)), {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json", "Accept": accept, "X-AIPlugs-Token": C.token },
      body: JSON.stringify(payload === undefined ? null : payload)
    }).then(function (res) {
      if (res.ok) { return res; }
      return res.text().then(function (body) { throw failure(res, body); });
    });
  }
  function call(pluginId, payload, opts) {
    return post(pluginId, payload, "application/json", opts).then(function (res) { return res.json(); });
  }
  function stream(pluginId, payload, onEvent, opts) {
    return post(pluginId, payload, "text/event-stream", opts).then(function (res) {
      // Resolves with the last event's data; an "event: error" (the router's mid-stream failure) rejects.
      var reader = res.body.getReader(), decoder = new TextDecoder(), buf = "", last, failed = null;
      function dispatch(block) {
        var ev = { event: "message", data: "", id: null }, lines = block.split(/\r?\n/), data = [];
        lines.forEach(function (line) {
          if (!line || line.charAt(0) === ":") { return; }
          var k = line.indexOf(":"), field = k < 0 ? line : line.slice(0, k);
          var value = k < 0 ? "" : line.slice(k + 1).replace(/^ /, "");
          if (field === "data") { data.push(value); } else if (field === "event") { ev.event = value; }
          else if (field === "id") { ev.id = value; }
        });
        if (!data.length) { return; }
        ev.data = data.join("\n");
        try { ev.data = JSON.parse(ev.data); } catch (e) { /* plain text event */ }
        if (onEvent) { onEvent(ev); }
        if (ev.event === "error") {
          var msg = ev.data && typeof ev.data === "object" ? (ev.data.message || JSON.stringify(ev.data)) : ev.data;
          failed = new Error(String(msg || "stream failed"));
        } else { last = ev.data; }
      }
      function pump() {
        return reader.read().then(function (r) {
          if (r.done) {
            buf += decoder.decode();
            if (buf.trim()) { dispatch(buf); }
            if (failed) { throw failed; }
            return last;
          }
          buf += decoder.decode(r.value, { stream: true });
          var parts = buf.split(/\r?\n\r?\n/);
          buf = parts.pop();
          parts.forEach(dispatch);
          if (failed) { reader.cancel(); throw failed; }
          return pump();
        });
      }
      return pump();
    });
  }
  function connect(pluginId, clientId) {
    var l = w.location;
    var url = (l.protocol === "https:" ? "wss://" : "ws://") + l.host + C.base + "/v1/plugins/" +
      encodeURIComponent(pluginId) + "/ws?client_id=" + encodeURIComponent(clientId || "") +
      "&token=" + encodeURIComponent(C.token);
    return new WS(url);
  }

  // Page events: one WebSocket, opened on first use; on reconnect it subscribes to every topic listened to.
  var listeners = Object.create(null), outbox = [], evWs = null, evOpen = false, retry = 500;
  function topicMatches(p, t) {
    if (p.slice(-2) === "/*") { return t.length > p.length - 1 && t.indexOf(p.slice(0, -1)) === 0; }
    return p === t;
  }
  function evSend(msg) { evWs.send(JSON.stringify(msg)); }
  function deliver(ev) {
    Object.keys(listeners).forEach(function (p) {
      if (!topicMatches(p, ev.type)) { return; }
      listeners[p].slice().forEach(function (fn) {
        try { fn(ev); } catch (e) { setTimeout(function () { throw e; }, 0); } // one failing listener stops none
      });
    });
  }
  function evConnect() {
    if (evWs) { return; }
    var l = w.location;
    evWs = new WS((l.protocol === "https:" ? "wss://" : "ws://") + l.host + C.base + "/v1/events/ws?token=" +
      encodeURIComponent(C.token));
    evWs.onopen = function () {
      evOpen = true;
      var topics = Object.keys(listeners);
      if (topics.length) { evSend({ op: "subscribe", topics: topics }); }
      outbox.splice(0).forEach(evSend);
    };
    evWs.onmessage = function (m) {
      var msg;
      try { msg = JSON.parse(m.data); } catch (e) { return; }
      retry = 500; // (not on open: a server that accepts and closes at once must not be hammered)
      if (msg.op === "event") { deliver(msg.event); }
      else if (msg.op === "error") { w.dispatchEvent(new Ev("aiplugs:error", { detail: msg })); }
    };
    evWs.onclose = function () {
      evWs = null;
      evOpen = false;
      if (Object.keys(listeners).length || outbox.length) {
        setTimeout(evConnect, retry);
        retry = Math.min(retry * 2, 30000);
      }
    };
  }
  function on(topic, fn) {
    if (typeof topic !== "string" || typeof fn !== "function") { throw new TypeError("aiplugs.on(topic, fn)"); }
    var fns = listeners[topic] || (listeners[topic] = []);
    fns.push(fn);
    if (fns.length === 1 && evOpen) { evSend({ op: "subscribe", topics: [topic] }); }
    evConnect(); // (opening: it subscribes to every topic once open)
    return function () {
      var i = fns.indexOf(fn);
      if (i < 0) { return; }
      fns.splice(i, 1);
      if (!fns.length && listeners[topic] === fns) {
        delete listeners[topic];
        if (evOpen) { evSend({ op: "unsubscribe", topics: [topic] }); }
      }
    };
  }
  function publish(topic, data) {
    var msg = { op: "publish", topic: String(topic), data: data === undefined ? null : data };
    if (evOpen) { evSend(msg); return; }
    if (outbox.length < 1000) { outbox.push(msg); }
    evConnect();
  }

  w.AIPLUGS_API_PORT = C.port;
  var api = {
    token: C.token, apiPort: C.port, base: C.base, version: C.v, loaded: loaded,
    call: call, stream: stream, connect: connect, on: on, publish: publish
  };
  Object.defineProperty(api, "__loader", { value: true });
  w.aiplugs = api;

  // SPA navigations: the bootstrap wrapped pushState/replaceState before page code could capture them and calls
  // B.n after each; events and the Navigation API are heard from here on (match() below covers the time between).
  var lastUrl = w.location.href;
  function changed() {
    var href = w.location.href;
    if (href === lastUrl) { return; }
    lastUrl = href;
    match();
    w.dispatchEvent(new Ev("aiplugs:navigate", { detail: { url: href } }));
  }
  B.n = changed;
  w.addEventListener("popstate", changed);
  w.addEventListener("hashchange", changed);
  if (w.navigation && w.navigation.addEventListener) {
    w.navigation.addEventListener("currententrychange", function () { setTimeout(changed, 0); });
  }
  match();
})(window.__aiplugs);
