// Sentiment: tints paragraphs by tone and marks the page with its overall label.
(function () {
  "use strict";
  var COLORS = { positive: "rgba(34,197,94,.15)", negative: "rgba(239,68,68,.15)" };

  function paragraphs() {
    return Array.prototype.slice.call(document.querySelectorAll("p, li, .commtext")).filter(function (el) {
      return el.textContent.trim().length > 20 && !el.dataset.aiplugsSentiment;
    }).slice(0, 200);
  }

  function tint() {
    var els = paragraphs();
    if (!els.length) return Promise.resolve();
    var texts = els.map(function (el) { return el.textContent; });
    return window.aiplugs.call("sentiment", { texts: texts }).then(function (reply) {
      var total = 0;
      reply.results.forEach(function (r, i) {
        els[i].dataset.aiplugsSentiment = r.label;
        total += r.score;
        if (COLORS[r.label]) els[i].style.backgroundColor = COLORS[r.label];
      });
      var mean = total / reply.results.length;
      document.documentElement.dataset.aiplugsSentiment = mean > 0.15 ? "positive" : mean < -0.15 ? "negative" : "neutral";
    }, function (err) { console.warn("[aiplugs sentiment]", err); });
  }

  tint();
  window.addEventListener("aiplugs:navigate", tint);
})();
