// Word count: shows a small badge with the page's word count and reading time.
(function () {
  "use strict";
  var BADGE_ID = "aiplugs-word-count";

  function show(result) {
    var badge = document.getElementById(BADGE_ID);
    if (!badge) {
      badge = document.createElement("div");
      badge.id = BADGE_ID;
      badge.className = "aiplugs-word-count";
      (document.body || document.documentElement).appendChild(badge);
    }
    badge.textContent = result.words + " words · " + result.reading_minutes + " min read";
    badge.title = "Top terms: " + result.top_terms.join(", ");
    badge.dataset.words = String(result.words);
  }

  function count() {
    var text = document.body ? document.body.innerText : "";
    return window.aiplugs.call("word-count", { text: text, top: 5 }).then(show, function (err) {
      console.warn("[aiplugs word-count]", err);
    });
  }

  count();
  window.addEventListener("aiplugs:navigate", count);
})();
