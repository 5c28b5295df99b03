// Page topic: classifies the page's main text and shows the topic and confidence in a small badge.
(function () {
  "use strict";
  var BADGE_ID = "aiplugs-page-topic";
  var MAX_CHARS = 20000;

  // The main text: an <article> or <main> when the page has one, else the body; without navigation and chrome.
  function mainText() {
    var root = document.querySelector("article, main, [role=main]") || document.body;
    if (!root) return "";
    var parts = Array.prototype.slice.call(root.querySelectorAll("h1, h2, h3, p, li, td, pre, blockquote"))
      .filter(function (el) { return !el.closest("nav, header, footer, aside, #" + BADGE_ID); })
      .map(function (el) { return el.textContent; });
    var text = parts.length ? parts.join("\n") : root.innerText || "";
    return text.slice(0, MAX_CHARS);
  }

  function show(result) {
    var badge = document.getElementById(BADGE_ID);
    if (!result.topic) {
      if (badge) badge.remove();
      delete document.documentElement.dataset.aiplugsPageTopic;
      return;
    }
    if (!badge) {
      badge = document.createElement("div");
      badge.id = BADGE_ID;
      badge.className = "aiplugs-page-topic";
      (document.body || document.documentElement).appendChild(badge);
    }
    var percent = Math.round(result.confidence * 100);
    badge.textContent = "Topic: " + result.topic + " · " + percent + "%";
    badge.title = Object.keys(result.scores).map(function (k) {
      return k + " " + Math.round(result.scores[k] * 100) + "%";
    }).join(", ");
    badge.dataset.topic = result.topic;
    badge.dataset.confidence = String(result.confidence);
    document.documentElement.dataset.aiplugsPageTopic = result.topic;
  }

  function classify() {
    return window.aiplugs.call("page-topic", { text: mainText() }).then(show, function (err) {
      console.warn("[aiplugs page-topic]", err);
    });
  }

  classify();
  window.addEventListener("aiplugs:navigate", classify);
})();
